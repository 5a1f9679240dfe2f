"""Bytes read and peak RSS of one measured section of a worker process.

Used by the workers of the embedding scenarios (`_emb_worker.py`, and
`_estimator_worker.py` for E-emb), Linux only (/proc):

* The baseline is the RSS after `import tensorflow` and an empty
  `tf.compat.v1.Session()` that runs nothing (`baseline_rss_mb`), taken in
  the worker before the model is built.
* `Section.start()` resets the kernel's peak RSS (VmHWM) by writing 5 to
  /proc/self/clear_refs, so the peak read at `stop()` is that of the section
  alone. Where the reset is refused, the peak is the process's since its
  start (`ru_maxrss`) and the result says so (`peak_of`).
* Bytes read are the deltas of /proc/self/io over the section: `rchar`
  (every byte passed to read()/pread() by all of the process's threads, page
  cache hits included, which is what a warm start asks of the file system)
  and `read_bytes` (what had to come from the storage device; 0 when the
  files are cached). mmap'ed reads are in neither.
"""

from __future__ import annotations

import resource
from typing import Any, Optional

MIB = float(2**20)


def _status_kib(field: str) -> Optional[int]:
  """A `kB` field of /proc/self/status (e.g. 'VmRSS'), or None."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith(field + ':'):
          return int(line.split()[1])
  except OSError:
    pass
  return None


def rss_mb() -> float:
  kib = _status_kib('VmRSS')
  return float('nan') if kib is None else kib / 1024.0


def _io() -> dict[str, int]:
  """The counters of /proc/self/io (empty when the kernel has none)."""
  counters = {}
  try:
    with open('/proc/self/io') as f:
      for line in f:
        name, _, value = line.partition(':')
        counters[name.strip()] = int(value)
  except OSError:
    pass
  return counters


def _reset_peak() -> bool:
  """Resets VmHWM to the current RSS; False if the kernel refuses."""
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
  except OSError:
    return False
  return True


def baseline_rss_mb() -> float:
  """RSS after `import tensorflow` and an empty Session that runs nothing."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    tf.compat.v1.Session().close()
  return rss_mb()


class Section:
  """Bytes read and peak RSS between `start()` and `stop()`."""

  def __init__(self, baseline_mb: float):
    self._baseline_mb = baseline_mb
    self._io_start: dict[str, int] = {}
    self._reset = False

  def start(self) -> None:
    self._reset = _reset_peak()
    self._io_start = _io()

  def peak_now_mb(self) -> Optional[float]:
    """The section's peak RSS so far over the baseline (None where VmHWM
    could not be reset: it would be the process's)."""
    hwm = _status_kib('VmHWM')
    if not self._reset or hwm is None:
      return None
    return hwm / 1024.0 - self._baseline_mb

  def stop(self) -> dict[str, Any]:
    """The section's result fields (sizes in bytes and MiB)."""
    io = _io()
    hwm = _status_kib('VmHWM')
    if self._reset and hwm is not None:
      peak_mb, peak_of = hwm / 1024.0, 'section'
    else:
      peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
      peak_of = 'process'
    def delta(name):
      if name not in io or name not in self._io_start:
        return None
      return io[name] - self._io_start[name]
    return {'rchar': delta('rchar'), 'read_bytes': delta('read_bytes'),
            'rss_baseline_mb': self._baseline_mb, 'peak_rss_mb': peak_mb,
            'peak_over_baseline_mb': peak_mb - self._baseline_mb,
            'peak_of': peak_of}
