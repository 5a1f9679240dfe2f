"""Resolves a source path to one pinned checkpoint and reads its index once.

A source is a checkpoint prefix, a directory (its latest checkpoint, resolved
now, so a trainer that keeps writing checkpoints cannot change what is loaded
later), or a SavedModel directory (its `variables/variables` prefix).

A source is checked whole at the call: every data file its index records must
exist and hold every byte the index places in it (one stat per data file, on
every `load`: a copy may be cut short after its index was first read), so a
missing or truncated file is named now rather than at session creation.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Optional, Union

import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart._sources import _index

PathLike = Union[str, os.PathLike]

_SUFFIXES = ('.index', '.meta')
_DATA_MARKER = '.data-'


@dataclasses.dataclass(frozen=True)
class Checkpoint:
  """One readable checkpoint: its prefix and what its index holds.

  Attributes:
    prefix: The pinned checkpoint prefix that restore ops read.
    origin: What the caller passed (a directory, SavedModel or prefix).
    shapes: Tensor name -> shape (tuple of ints), as in the index.
    dtypes: Tensor name -> `tf.DType`.
  """

  prefix: str
  origin: str
  shapes: Mapping[str, tuple[int, ...]] = dataclasses.field(repr=False)
  dtypes: Mapping[str, tf.DType] = dataclasses.field(repr=False)

  def __contains__(self, tensor_name: str) -> bool:
    return tensor_name in self.shapes

  def num_bytes(self, tensor_name: str) -> int:
    """Returns the size of a tensor in bytes (strings count 64 per element)."""
    return tensor_bytes(self.shapes[tensor_name], self.dtypes[tensor_name])


def tensor_bytes(dims: Sequence[Optional[int]], dtype: tf.DType) -> int:
  """The bytes of a tensor of shape `dims` (None counts 1; a string 64)."""
  size = 1
  for dim in dims:
    size *= dim or 1
  return size * (64 if dtype == tf.string else dtype.size)


def full_extent_spec(dims: Sequence[Optional[int]]) -> str:
  """The RestoreV2 slice spec of a whole tensor of shape `dims`.

  With it, RestoreV2 checks that the checkpoint still holds that shape (a
  prefix rewritten with other shapes since the plan fails at the read,
  naming the tensor) and reads the tensor as the empty spec does. '' (no
  check) for a scalar or a shape the plan does not know.
  """
  if not dims or any(d is None for d in dims):
    return ''
  return '%s %s' % (' '.join(str(d) for d in dims), ':'.join('-' * len(dims)))


# (prefix, index mtime, index size) -> the checkpoint and its data layout
# (None where the index has no layout this reader knows: a V1 checkpoint).
_cache: dict[tuple[str, int, int],
             tuple[Checkpoint, Optional[_index.Layout]]] = {}
_cache_lock = threading.Lock()


def _strip_file_suffix(path: str) -> str:
  for suffix in _SUFFIXES:
    if path.endswith(suffix):
      return path[:-len(suffix)]
  if _DATA_MARKER in os.path.basename(path):
    return path[:path.rindex(_DATA_MARKER)]
  return path


def _is_saved_model_dir(path: str) -> bool:
  return (tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')) or
          tf.io.gfile.exists(os.path.join(path, 'saved_model.pbtxt')))


def _natural_key(name: str) -> list[Union[int, str]]:
  """Sorts 'model.ckpt-9' before 'model.ckpt-10'."""
  return [int(part) if part.isdigit() else part
          for part in re.split(r'(\d+)', name)]


def _prefixes_newest_first(directory: str) -> list[str]:
  """Returns the checkpoint prefixes in `directory` (names), newest first."""
  try:
    names = tf.io.gfile.listdir(directory)
  except tf.errors.OpError:
    return []
  found = []
  for name in names:
    if name.endswith('.index'):
      prefix = name[:-len('.index')]
      try:
        mtime = tf.io.gfile.stat(os.path.join(directory, name)).mtime_nsec
      except tf.errors.OpError:
        continue
      found.append((mtime, _natural_key(prefix), prefix))
  return [prefix for _, _, prefix in sorted(found, reverse=True)]


def _listing(names: list[str], limit: int = 10) -> str:
  """Like `_errors.preview`, keeping the order of `names`."""
  shown = ', '.join(repr(n) for n in names[:limit])
  if len(names) > limit:
    shown += ', ... (%d more)' % (len(names) - limit)
  return shown


def _no_checkpoint_error(directory: str) -> _errors.CheckpointNotFoundError:
  """Explains why a directory resolves to no checkpoint, and what is there."""
  state_file = os.path.join(directory, 'checkpoint')
  try:
    state = tf.train.get_checkpoint_state(directory)
    invalid = None
  except ValueError as e:  # A state file naming no checkpoint at all.
    state, invalid = None, e
  if state is not None:
    named = state.model_checkpoint_path
    shown = named
    if named.startswith(directory):
      shown = named[len(directory):].lstrip('/') or named
    why = ('its state file %r names %r (%s.index), which does not exist: it '
           'was deleted or not copied' % (state_file, shown, named))
  elif invalid is not None:
    why = 'its state file %r names no checkpoint (%s)' % (state_file, invalid)
  elif tf.io.gfile.exists(state_file):
    why = ('its state file %r cannot be parsed as a CheckpointState (TF '
           'logged why)' % state_file)
  else:
    why = 'it has no "checkpoint" state file'
  found = _prefixes_newest_first(directory)
  if found:
    instead = (' Checkpoints in it, newest first: %s. Pass one explicitly, '
               'e.g. %r.' % (_listing(found), os.path.join(directory,
                                                           found[0])))
  else:
    instead = (' It holds no checkpoint files (no *.index) and no SavedModel. '
               'Pass a checkpoint prefix such as %r instead.' %
               os.path.join(directory, 'model.ckpt-1000'))
  return _errors.CheckpointNotFoundError(
      'Directory %r holds no checkpoint to load: %s.%s' %
      (directory, why, instead))


def resolve_prefix(path: PathLike) -> str:
  """Returns the checkpoint prefix `path` stands for.

  A path whose `.index` file exists is a prefix, even where the filesystem
  also calls it a directory (`ram://` does, for any prefix of a file name).

  Args:
    path: A checkpoint prefix, one of its files, a checkpoint directory or a
      SavedModel directory.

  Returns:
    The prefix, pinned at the time of the call.

  Raises:
    CheckpointNotFoundError: `path` holds no checkpoint.
  """
  if not isinstance(path, (str, os.PathLike)):
    raise TypeError('A checkpoint source must be a path (str or os.PathLike), '
                    'got %r of type %s.' % (path, type(path).__name__))
  path = os.fspath(path)
  if not path:
    raise _errors.CheckpointNotFoundError(
        'The checkpoint path is empty: pass a checkpoint prefix, a directory '
        'holding checkpoints, or a SavedModel directory.')
  if tf.io.gfile.exists(path + '.index'):
    return path
  if tf.io.gfile.isdir(path):
    if _is_saved_model_dir(path):
      prefix = os.path.join(path, 'variables', 'variables')
      if not tf.io.gfile.exists(prefix + '.index'):
        raise _errors.CheckpointNotFoundError(
            'SavedModel directory %r has no variables (%s.index is missing).' %
            (path, prefix))
      return prefix
    try:
      latest = tf.train.latest_checkpoint(path)
    except ValueError:  # An invalid state file: explained below.
      latest = None
    if latest is None:
      raise _no_checkpoint_error(path)
    return latest
  prefix = _strip_file_suffix(path)
  if tf.io.gfile.exists(prefix + '.index') or tf.io.gfile.exists(prefix):
    return prefix
  parent = os.path.dirname(prefix) or '.'
  hint = ''
  if tf.io.gfile.isdir(parent):
    prefixes = sorted({
        _strip_file_suffix(f) for f in tf.io.gfile.listdir(parent)
        if f.endswith('.index')
    })
    hint = _errors.did_you_mean(
        os.path.basename(prefix), prefixes) or (
            ' Checkpoints in %r: %s.' % (parent, _errors.preview(prefixes))
            if prefixes else '')
  raise _errors.CheckpointNotFoundError(
      'No checkpoint at %r: expected %s.index (a checkpoint prefix), a '
      'checkpoint directory or a SavedModel directory.%s' %
      (path, prefix, hint))


def _read_layout(prefix: str) -> Optional[_index.Layout]:
  """Returns the data layout `prefix.index` records, or None.

  None for a V1 checkpoint (no `.index`) and, with a warning, for an index TF
  reads but `_index` does not (a compressed one, which TF's `BundleWriter`
  does not write): its data files then go unchecked.
  """
  index = prefix + '.index'
  if not tf.io.gfile.exists(index):
    return None
  try:
    return _index.layout(_index.read_index(index))
  except (_index.FormatError, tf.errors.OpError) as e:
    logging.warning('Cannot check the data files of %s against its index: '
                    '%s', prefix, e)
    return None


def _cut_off(prefix: str, shard: int, size: int) -> list[str]:
  """Names the tensors of `shard` that end past byte `size` (-1: all)."""
  try:
    entries = list(_index.bundle_entries(_index.read_index(prefix + '.index')))
  except (_index.FormatError, tf.errors.OpError):
    return []
  return sorted({
      _index.tensor_name(key) for key, entry in entries
      if not entry.slices and entry.shard_id == shard and
      entry.offset + entry.size > size
  })


def _check_data_files(prefix: str, origin: str, layout: _index.Layout) -> None:
  """Raises unless every data file holds all the bytes the index places in it.

  One stat per data file. Every data file the index counts must exist, even
  one holding only empty tensors (TF's reader opens it to read them).

  Raises:
    CheckpointNotFoundError: naming each missing or short data file, its
      size, the size the index needs and the tensors it cuts off.
  """
  problems = []
  missing = False
  for shard, needed in enumerate(layout.needed):
    path = _index.data_file(prefix, shard, layout.num_shards)
    try:
      size = tf.io.gfile.stat(path).length
    except tf.errors.NotFoundError:
      size = None
    except tf.errors.OpError as e:  # E.g. permission denied.
      problems.append('data file %r cannot be read: %s' % (path, e.message))
      continue
    if size is not None and size >= needed:
      continue
    lost = _listing(_cut_off(prefix, shard, -1 if size is None else size),
                    limit=5)
    if size is None:
      missing = True
      problems.append('data file %r is missing (the index places %d bytes '
                      'in it%s)' % (path, needed, ': ' + lost if lost else ''))
    else:
      problems.append(
          'data file %r is %d bytes, expected at least %d (the end of its '
          'last tensor, per the index)%s' % (path, size, needed,
                                            '; cut off: ' + lost if lost
                                            else ''))
  if not problems:
    return
  present = ''
  if missing:
    present = ' Its index %r records %d data file%s; present: %s.' % (
        prefix + '.index', layout.num_shards,
        '' if layout.num_shards == 1 else 's',
        _listing(_data_files_present(prefix)) or '(none)')
  source = '' if origin == prefix else ' (from %r)' % origin
  raise _errors.CheckpointNotFoundError(
      'Checkpoint %r%s is incomplete: %s.%s Copy the checkpoint again (its '
      '.index and every .data-* file) or pass another one.' %
      (prefix, source, '; '.join(problems), present))


def _data_files_present(prefix: str) -> list[str]:
  """Names the data files of `prefix` that exist (no glob: names are data)."""
  directory = os.path.dirname(prefix) or '.'
  start = os.path.basename(prefix) + _DATA_MARKER
  try:
    return sorted(f for f in tf.io.gfile.listdir(directory)
                  if f.startswith(start))
  except tf.errors.OpError:
    return []


def load(path: PathLike) -> Checkpoint:
  """Resolves `path`, reads the checkpoint's index once, checks its data files.

  The index is read once per (prefix, index mtime, index size); the data
  files are checked on every call (one stat each).

  Args:
    path: See `resolve_prefix`.

  Returns:
    A `Checkpoint`.

  Raises:
    CheckpointNotFoundError: `path` holds no readable checkpoint, or one of
      its data files is missing or shorter than its index says.
  """
  origin = os.fspath(path) if isinstance(path, os.PathLike) else path
  prefix = resolve_prefix(path)
  index = prefix + '.index'
  try:
    stat = tf.io.gfile.stat(index if tf.io.gfile.exists(index) else prefix)
    # A filesystem that records no mtime (ram://) cannot tell a rewrite.
    key = (prefix, stat.mtime_nsec, stat.length) if stat.mtime_nsec else None
  except tf.errors.OpError:
    key = None
  with _cache_lock:
    cached = _cache.get(key) if key else None
  if cached is not None:
    checkpoint, layout = cached
  else:
    try:
      reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    except (tf.errors.OpError, ValueError) as e:
      raise _errors.CheckpointNotFoundError(
          'Cannot read checkpoint %r (from %r): %s' % (prefix, origin, e)
      ) from e
    shapes = {
        name: tuple(shape)
        for name, shape in reader.get_variable_to_shape_map().items()
    }
    dtypes = dict(reader.get_variable_to_dtype_map())
    checkpoint = Checkpoint(
        prefix=prefix, origin=origin, shapes=shapes, dtypes=dtypes)
    layout = _read_layout(prefix)
    if key:
      with _cache_lock:
        _cache[key] = (checkpoint, layout)
  if layout is not None:
    _check_data_files(prefix, origin, layout)
  if checkpoint.origin != origin:
    checkpoint = dataclasses.replace(checkpoint, origin=origin)
  return checkpoint
