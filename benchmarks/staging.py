"""Staging a large safetensors file: time, peak memory and bytes written.

Writes a float32 safetensors file of `--size_mb` MiB (`--tensors` tensors
of equal size, streamed to disk: never all in memory), then stages it with
`warmstart._sources._stage.stage` in a fresh Python process whose baseline
is taken after its imports (TensorFlow, warmstart) and an empty session.
Reported (JSON on stdout):

* `convert_s`: the first `stage` call (the conversion), wall time.
* `peak_rss_over_baseline_mb`: the kernel's peak RSS (VmHWM, reset before
  the call through /proc/self/clear_refs) minus the baseline RSS.
  `peak_anon_mb` / `peak_file_mb`: the peaks over the call of the
  process's anonymous memory (its arrays and TF's tensors) and of its
  file-backed pages (libraries, any file it maps), sampled every 5 ms;
  baseline included.
* `written_mb`: the staged entry's bytes on disk; `wchar_mb`: the bytes the
  process wrote (/proc/self/io, the same plus the shards joined into one).
* `reuse_s`: a second `stage` call of the same file in the same process
  (the entry reused, nothing read or written).

Linux only (/proc). Everything is written under `--work_dir` (default: a
new temporary folder, removed afterwards), never in the user's cache.

Run: .venv/bin/python benchmarks/staging.py --size_mb=1024
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MIB = float(2 ** 20)


def write_safetensors(path: str, size_mb: int, tensors: int) -> int:
  """Writes `tensors` float32 tensors of `size_mb` MiB in all; their bytes."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rows = max(1, size_mb * 2 ** 20 // tensors // (1024 * 4))
  nbytes = rows * 1024 * 4
  header = {'t%03d' % i: {'dtype': 'F32', 'shape': [rows, 1024],
                          'data_offsets': [i * nbytes, (i + 1) * nbytes]}
            for i in range(tensors)}
  text = json.dumps(header).encode()
  text += b' ' * (-len(text) % 8)  # Data aligned to 8 bytes, as HF does.
  rng = np.random.default_rng(0)
  with open(path, 'wb') as f:
    f.write(len(text).to_bytes(8, 'little') + text)
    for _ in range(tensors):
      for block in np.array_split(np.arange(rows), max(1, rows // 4096)):
        f.write(rng.standard_normal((len(block), 1024), np.float32).tobytes())
  return tensors * nbytes


def _status_mb(field: str) -> float:
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(field + ':'):
        return int(line.split()[1]) / 1024.0
  return float('nan')


def _wchar() -> int:
  with open('/proc/self/io') as f:
    return int(dict(line.split(': ') for line in f.read().splitlines())
               ['wchar'])


def _measure(path: str, cache: str) -> dict[str, Any]:
  """In a fresh process: stage `path` twice; what it cost."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, _ROOT)
  from warmstart._sources import _stage  # pylint: disable=g-import-not-at-top
  with tf.compat.v1.Session():
    pass
  baseline = _status_mb('VmRSS')
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')  # Resets VmHWM to the current RSS.
    reset = True
  except OSError:
    reset = False
  peaks = {'RssAnon': 0.0, 'RssFile': 0.0}
  done = threading.Event()

  def sample() -> None:
    while not done.is_set():
      for field in peaks:
        peaks[field] = max(peaks[field], _status_mb(field))
      time.sleep(0.005)

  sampler = threading.Thread(target=sample, daemon=True)
  sampler.start()
  wchar = _wchar()
  started = time.monotonic()
  prefix = _stage.stage(path, 'safetensors', cache)
  convert_s = time.monotonic() - started
  wchar = _wchar() - wchar
  done.set()
  sampler.join()
  peak = _status_mb('VmHWM')
  started = time.monotonic()
  again = _stage.stage(path, 'safetensors', cache)
  reuse_s = time.monotonic() - started
  assert again == prefix, (again, prefix)
  entry = os.path.dirname(prefix)
  written = sum(os.path.getsize(os.path.join(entry, n))
                for n in os.listdir(entry))
  return {
      'convert_s': round(convert_s, 2),
      'baseline_rss_mb': round(baseline, 1),
      'peak_rss_over_baseline_mb': round(peak - baseline, 1),
      'peak_is_of_the_call': reset,
      'peak_anon_mb': round(peaks['RssAnon'], 1),
      'peak_file_mb': round(peaks['RssFile'], 1),
      'written_mb': round(written / _MIB, 1),
      'wchar_mb': round(wchar / _MIB, 1),
      'reuse_s': round(reuse_s, 4),
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--size_mb', type=int, default=1024,
                      help='The file\'s size in MiB (default 1024).')
  parser.add_argument('--tensors', type=int, default=16,
                      help='How many tensors of equal size (default 16).')
  parser.add_argument('--work_dir', help='Where to write (default: a new '
                      'temporary folder, removed afterwards).')
  parser.add_argument('--measure', nargs=2, metavar=('FILE', 'CACHE'),
                      help=argparse.SUPPRESS)  # The fresh process' part.
  args = parser.parse_args()
  if args.measure:
    print(json.dumps(_measure(*args.measure)))
    return
  work = args.work_dir or tempfile.mkdtemp(prefix='staging_bench_')
  os.makedirs(work, exist_ok=True)
  try:
    path = os.path.join(work, 'model.safetensors')
    started = time.monotonic()
    nbytes = write_safetensors(path, args.size_mb, args.tensors)
    write_s = time.monotonic() - started
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--measure', path,
         os.path.join(work, 'cache')], capture_output=True, text=True,
        check=False, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    if done.returncode:
      sys.exit('The measuring process failed:\n' + done.stderr[-3000:])
    result = {'file_mb': round(os.path.getsize(path) / _MIB, 1),
              'tensor_mb': round(nbytes / args.tensors / _MIB, 1),
              'tensors': args.tensors, 'write_file_s': round(write_s, 2)}
    result.update(json.loads(done.stdout.strip().splitlines()[-1]))
    with open('/proc/loadavg') as f:
      result['loadavg_1min'] = float(f.read().split()[0])
    print(json.dumps(result, indent=1))
  finally:
    if not args.work_dir:
      shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
  main()
