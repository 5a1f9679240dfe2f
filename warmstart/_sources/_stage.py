"""Stages a foreign weights file as a TF checkpoint in a cache, once.

A `.safetensors`, `.npz` or Keras HDF5 file is never put into the graph: it
is converted, tensor by tensor, into a name-based TF checkpoint under the
cache directory, and the restore is the ordinary batched read of that
checkpoint. The cache:

* **Where**: `cache_dir` (the `cache_dir` option), else the environment
  variable `WARMSTART_CACHE_DIR`, else `$XDG_CACHE_HOME/warmstart`, else
  `~/.cache/warmstart`; entries live in its `staged/` folder. Never beside
  the source file, which may sit on a read-only or shared store.
* **Key**: one entry per version of a file: its real path, device, inode,
  size, nanosecond mtime and ctime, and the converter's version. A file
  changed in place or replaced gets a new key (converted again); an
  unchanged one is reused without reading it.
* **Layout**: `staged/<key>/weights.index` and its data files (the staged
  checkpoint's prefix is `staged/<key>/weights`), plus `source.json` (the
  original path, format, identity, tensors, bytes, warmstart's version).
* **Crash-safe**: an entry is written in `staged/.tmp-<key>-<pid>-<random>/`
  and renamed to `staged/<key>` only once complete (files and folder
  fsync'd first): a killed conversion leaves a `.tmp-` folder, never an
  entry that looks complete. The next conversion of that key removes such
  leftovers.
* **Concurrent processes**: a conversion holds an exclusive `flock` on
  `staged/<key>.lock`; another process that wants the same file waits for
  it, then reuses the entry. The kernel drops the lock of a killed process.
* **Memory**: tensors are read one at a time (each its bytes only) and
  written in batches of at most `max_chunk_bytes` (a larger tensor alone):
  the peak is about `max_chunk_bytes` plus the largest tensor.

Nothing is ever evicted: remove the cache folder (or an entry) when no run
reads from it. In a cluster, the staged copy is read by the process that
made the plan and runs the initializers (the chief: `_restore` places the
reads of a staged source on its own CPU, never on a ps task, which may not
see this machine's cache); a graph built in one process and initialized by
another needs a `cache_dir` both see.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from typing import Optional

from absl import logging

from warmstart import _errors
from warmstart._sources import _foreign
from warmstart._sources import _writer

#: The environment variable naming the cache directory.
CACHE_DIR_ENV = 'WARMSTART_CACHE_DIR'

#: Bump when the staged checkpoint of the same file would differ: every
#: earlier entry is then ignored (converted again).
_VERSION = 1

#: The staged checkpoint's prefix inside its entry.
PREFIX_NAME = 'weights'
#: The entry's description of what it was staged from.
MANIFEST_NAME = 'source.json'
_TMP = '.tmp-'


def default_cache_dir() -> str:
  """`$WARMSTART_CACHE_DIR`, else `$XDG_CACHE_HOME/warmstart`, else
  `~/.cache/warmstart`."""
  configured = os.environ.get(CACHE_DIR_ENV)
  if configured:
    return configured
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'warmstart')


def _identity(path: str) -> dict[str, object]:
  stat = os.stat(path)
  return {'path': os.path.realpath(path), 'device': stat.st_dev,
          'inode': stat.st_ino, 'size': stat.st_size,
          'mtime_ns': stat.st_mtime_ns, 'ctime_ns': stat.st_ctime_ns}


def _key(identity: dict[str, object], fmt: str) -> str:
  text = json.dumps({'identity': identity, 'format': fmt,
                     'version': _VERSION}, sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:32]


def _fsync(path: str, directory: bool = False) -> None:
  fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
  """Holds an exclusive `flock` on `path` (created if needed)."""
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)  # Releases the lock.


def _batches(tensors: Sequence[_foreign.TensorInfo],
             max_bytes: int) -> list[list[_foreign.TensorInfo]]:
  """Consecutive tensors, at most `max_bytes` a batch (a bigger one alone)."""
  batches: list[list[_foreign.TensorInfo]] = []
  size = 0
  for info in tensors:
    if not batches or size + info.nbytes > max_bytes:
      batches.append([])
      size = 0
    batches[-1].append(info)
    size += info.nbytes
  return batches


def _check_names(path: str, tensors: Sequence[_foreign.TensorInfo]) -> None:
  """Refuses names a TF checkpoint cannot hold as plain tensors."""
  for info in tensors:
    if not info.name:
      raise _errors.SourceFormatError(
          '%s holds a tensor with an empty name: a TF checkpoint reserves '
          'the empty key for its header.' % path)
    if info.name.startswith('_CHECKPOINTABLE_OBJECT_GRAPH'):
      raise _errors.SourceFormatError(
          '%s holds a tensor named %r, the key of a TF2 checkpoint\'s object '
          'graph: rename it in the file.' % (path, info.name))


def _convert(path: str, fmt: str, entry_dir: str, identity: dict[str, object],
             max_chunk_bytes: int) -> None:
  """Writes the entry for `path` into the (new, empty) folder `entry_dir`."""
  started = time.monotonic()
  with _foreign.open_reader(path, fmt) as reader:
    tensors = reader.tensors()
    _check_names(path, tensors)
    shards = []
    for batch in _batches(tensors, max_chunk_bytes):
      values = [reader.read(info.name) for info in batch]
      shard = os.path.join(entry_dir, 'shard-%05d' % len(shards))
      _writer.save_batch(shard, [info.name for info in batch],
                         [''] * len(batch), values,
                         [info.dtype for info in batch],
                         [info.shape for info in batch])
      del values
      shards.append(shard)
  prefix = os.path.join(entry_dir, PREFIX_NAME)
  if shards:
    _writer.join_shards(shards, prefix)
  else:
    _writer.save_batch(prefix, [], [], [])
  total = sum(info.nbytes for info in tensors)
  manifest = {
      'source': path, 'format': fmt, 'identity': identity,
      'tensors': len(tensors), 'bytes': total, 'version': _VERSION,
      'created': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
  }
  with open(os.path.join(entry_dir, MANIFEST_NAME), 'w') as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
  for name in os.listdir(entry_dir):
    _fsync(os.path.join(entry_dir, name))
  _fsync(entry_dir, directory=True)
  logging.info('Staged %s (%s, %d tensors, %d bytes) as %s in %.1f s.', path,
               fmt, len(tensors), total, prefix, time.monotonic() - started)


def _remove_leftovers(staged: str, key: str) -> None:
  """Removes the `.tmp-` folders of earlier, killed conversions of `key`.

  Called with the key's lock held: no live process writes them.
  """
  for name in os.listdir(staged):
    if name.startswith(_TMP + key + '-'):
      shutil.rmtree(os.path.join(staged, name), ignore_errors=True)


def _complete(entry: str) -> bool:
  return (os.path.isfile(os.path.join(entry, MANIFEST_NAME)) and
          os.path.isfile(os.path.join(entry, PREFIX_NAME + '.index')))


def _make_dirs(staged: str, cache_dir: str, lock: str) -> None:
  """Creates the cache's `staged/` folder and the key's `lock` file."""
  try:
    os.makedirs(staged, exist_ok=True)
  except OSError as e:
    raise _errors.SettingsError(
        'Cannot create the staging cache %r (%s): set the cache_dir option '
        'or $%s to a writable directory.' % (cache_dir, e.strerror,
                                             CACHE_DIR_ENV)) from e
  try:  # A cache another user made, or on a read-only store: named here.
    os.close(os.open(lock, os.O_RDWR | os.O_CREAT, 0o644))
  except OSError as e:
    raise _errors.SettingsError(
        'Cannot write to the staging cache %r (%s: %s): set the cache_dir '
        'option or $%s to a writable directory.' % (
            cache_dir, e.strerror, lock, CACHE_DIR_ENV)) from e


def stage(path: str, fmt: str, cache_dir: Optional[str] = None,
          max_chunk_bytes: int = 64 << 20) -> str:
  """Returns the prefix of the staged checkpoint of `path`, converting once.

  Args:
    path: A local foreign weights file (`_foreign.sniff` gave `fmt`).
    fmt: Its format (`_foreign.SAFETENSORS`, `NPZ`, `HDF5`).
    cache_dir: The cache directory; None: `default_cache_dir()`.
    max_chunk_bytes: Bound on the bytes one write batch holds.

  Returns:
    The staged checkpoint's prefix (`<cache>/staged/<key>/weights`).

  Raises:
    SourceFormatError: the file is malformed (naming the file and fault).
    SettingsError: the cache directory cannot be created or written.
  """
  cache_dir = os.path.abspath(os.path.expanduser(
      cache_dir or default_cache_dir()))
  staged = os.path.join(cache_dir, 'staged')
  identity = _identity(path)
  key = _key(identity, fmt)
  entry = os.path.join(staged, key)
  prefix = os.path.join(entry, PREFIX_NAME)
  if _complete(entry):
    logging.info('Reusing %s, staged from %s.', prefix, path)
    return prefix
  lock = os.path.join(staged, key + '.lock')
  _make_dirs(staged, cache_dir, lock)
  with _locked(lock):
    if _complete(entry):  # Another process converted it while we waited.
      return prefix
    _remove_leftovers(staged, key)
    if os.path.exists(entry):  # Incomplete (damaged by hand): ours to redo.
      shutil.rmtree(entry)
    work = os.path.join(
        staged, '%s%s-%d-%s' % (_TMP, key, os.getpid(), secrets.token_hex(4)))
    os.mkdir(work)
    try:
      _convert(path, fmt, work, identity, max_chunk_bytes)
      if _identity(path) != identity:
        raise _errors.SourceFormatError(
            '%s changed while it was being staged: run again once it is '
            'written.' % path)
      os.rename(work, entry)  # The commit point.
      _fsync(staged, directory=True)
    except OSError as e:
      shutil.rmtree(work, ignore_errors=True)
      if e.errno in (errno.ENOSPC, errno.EDQUOT):
        raise _errors.SettingsError(
            'No space left staging %s in %s (%s): free space or set the '
            'cache_dir option (or $%s) elsewhere.' %
            (path, staged, e.strerror, CACHE_DIR_ENV)) from e
      raise
    except BaseException:
      shutil.rmtree(work, ignore_errors=True)
      raise
  return prefix


def discard(prefix: str) -> None:
  """Removes the cache entry of staged prefix `prefix` (ours, damaged)."""
  if os.path.basename(prefix) != PREFIX_NAME:
    raise ValueError('%r is no staged checkpoint.' % prefix)
  entry = os.path.dirname(prefix)
  staged = os.path.dirname(entry)
  key = os.path.basename(entry)
  with _locked(os.path.join(staged, key + '.lock')):
    # Renamed first: a reader never sees a half-removed entry as complete.
    trash = os.path.join(staged, '%s%s-%d-%s' % (
        _TMP, key, os.getpid(), secrets.token_hex(4)))
    os.rename(entry, trash)
    shutil.rmtree(trash, ignore_errors=True)


def manifest(prefix: str) -> Optional[dict[str, object]]:
  """The `source.json` of a staged prefix, or None for any other prefix."""
  if os.path.basename(prefix) != PREFIX_NAME:
    return None
  try:
    with open(os.path.join(os.path.dirname(prefix), MANIFEST_NAME)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None

