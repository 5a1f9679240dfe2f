"""Resolves a source path to one pinned checkpoint and reads its index once.

A source is a checkpoint prefix, a directory (its latest checkpoint, resolved
now, so a trainer that keeps writing checkpoints cannot change what is loaded
later), or a SavedModel directory (its `variables/variables` prefix).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Mapping
from typing import Union

import tensorflow as tf

from warmstart import _errors

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
    size = 1
    for dim in self.shapes[tensor_name]:
      size *= dim
    dtype = self.dtypes[tensor_name]
    return size * (64 if dtype == tf.string else dtype.size)


_cache: dict[tuple[str, float, int], Checkpoint] = {}
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


def resolve_prefix(path: PathLike) -> str:
  """Returns the checkpoint prefix `path` stands for.

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
  if tf.io.gfile.isdir(path):
    if _is_saved_model_dir(path):
      prefix = os.path.join(path, 'variables', 'variables')
      if not tf.io.gfile.exists(prefix + '.index'):
        raise _errors.CheckpointNotFoundError(
            'SavedModel directory %r has no variables (%s.index is missing).' %
            (path, prefix))
      return prefix
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      raise _errors.CheckpointNotFoundError(
          'Directory %r holds no checkpoint (no "checkpoint" state file naming '
          'an existing checkpoint) and no SavedModel. Pass a checkpoint prefix '
          'such as %r instead.' % (path, os.path.join(path, 'model.ckpt-1000')))
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


def load(path: PathLike) -> Checkpoint:
  """Resolves `path` and reads the checkpoint's index (once per process).

  Args:
    path: See `resolve_prefix`.

  Returns:
    A `Checkpoint`.

  Raises:
    CheckpointNotFoundError: `path` holds no readable checkpoint.
  """
  origin = os.fspath(path) if isinstance(path, os.PathLike) else path
  prefix = resolve_prefix(path)
  index = prefix + '.index'
  try:
    stat = tf.io.gfile.stat(index if tf.io.gfile.exists(index) else prefix)
    key = (prefix, stat.mtime_nsec, stat.length)
  except tf.errors.OpError:
    key = None
  with _cache_lock:
    cached = _cache.get(key) if key else None
  if cached is not None:
    return dataclasses.replace(cached, origin=origin)
  try:
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
  except (tf.errors.OpError, ValueError) as e:
    raise _errors.CheckpointNotFoundError(
        'Cannot read checkpoint %r (from %r): %s' % (prefix, origin, e)) from e
  shapes = {
      name: tuple(shape)
      for name, shape in reader.get_variable_to_shape_map().items()
  }
  dtypes = dict(reader.get_variable_to_dtype_map())
  checkpoint = Checkpoint(
      prefix=prefix, origin=origin, shapes=shapes, dtypes=dtypes)
  if key:
    with _cache_lock:
      _cache[key] = checkpoint
  return checkpoint
