"""Writes a merge's checkpoint into its staging folder, shard by shard.

Tensors are read one at a time with the checkpoint reader and written with
`SaveV2`, one shard (see `_layout`) per call, so memory stays bounded
by the largest shard plus the largest tensor. The shards are then joined
with `MergeV2Checkpoints` into `<staging>/merged`. That op moves its inputs'
data files and deletes their index even with `delete_old_dirs=False`, so it
only ever sees our own shards, never a user's checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from warmstart import _inspect
from warmstart import _transform
from warmstart._merge import _layout
from warmstart import _sources

#: A progress line is also logged each time this many more bytes were read.
LOG_EVERY_BYTES = 1 << 30

#: The name of the joined checkpoint inside the staging folder.
STAGED_NAME = 'merged'


def _save_batch(prefix: str, pieces: Sequence[_layout.Piece],
                values: Sequence[np.ndarray]) -> None:
  """Writes one shard (a step of its own for the fault-injection tests)."""
  _sources.save_batch(prefix, [p.tensor.name for p in pieces],
                      [p.slice_spec() for p in pieces], values,
                      [tf.as_dtype(p.tensor.dtype) for p in pieces],
                      [p.shape for p in pieces])


def _join_shards(shards: Sequence[str], destination: str) -> None:
  """Joins our temporary shards (a step of its own for the fault tests)."""
  _sources.join_shards(shards, destination)


def _reader(readers: dict[str, Any], source: str) -> Any:
  reader = readers.get(source)
  if reader is None:
    reader = readers[source] = tf.compat.v1.train.NewCheckpointReader(source)
  return reader


class _Transformed:
  """The values of the tensors transforms make, each transform computed
  once for all its parts (a split's targets) and pieces, and dropped once
  its last piece is written."""

  def __init__(self, readers: dict[str, Any]):
    self._readers = readers
    self._outputs: dict[Any, list[Any]] = {}
    self._pending: dict[Any, int] = {}

  def value(self, piece: _layout.Piece) -> np.ndarray:
    tensor = piece.tensor
    applied = tensor.transform
    key = (tensor.source, applied.tensors, applied.ops)
    if key not in self._outputs:
      reader = _reader(self._readers, tensor.source)
      self._outputs[key] = _transform.apply_numpy(
          [reader.get_tensor(name) for name in applied.tensors], applied.ops,
          applied.parts)
      self._pending[key] = applied.parts
    value = self._outputs[key][applied.part]
    if piece.is_last:
      self._pending[key] -= 1
      if not self._pending[key]:
        del self._outputs[key], self._pending[key]
    return value


def write(shards: Sequence[Sequence[_layout.Piece]], staging: str,
          log_every: int) -> str:
  """Writes `shards` as one checkpoint under `staging`.

  Args:
    shards: The layout (`_layout.layout`).
    staging: An empty directory of our own.
    log_every: Log progress every this many tensors (and every
      `LOG_EVERY_BYTES` read).

  Returns:
    The prefix of the written checkpoint (`<staging>/merged`).
  """
  readers: dict[str, Any] = {}
  transformed = _Transformed(readers)
  total = sum(p.is_last for shard in shards for p in shard)
  total_bytes = sum(p.num_bytes for shard in shards for p in shard)
  done = done_bytes = 0
  next_bytes = LOG_EVERY_BYTES
  prefixes = []
  for shard in shards:
    values = []
    for piece in shard:
      if piece.tensor.transform is not None:
        value = transformed.value(piece)
      else:
        value = _reader(readers, piece.tensor.source).get_tensor(
            piece.tensor.source_name)
      values.append(piece.cut(value))
      done_bytes += piece.num_bytes
      if not piece.is_last:
        continue
      done += 1
      if done % log_every == 0 or done == total or done_bytes >= next_bytes:
        next_bytes = (done_bytes // LOG_EVERY_BYTES + 1) * LOG_EVERY_BYTES
        logging.info('Merge: read %d of %d tensors (%s of %s).', done, total,
                     _inspect.format_bytes(done_bytes),
                     _inspect.format_bytes(total_bytes))
    prefix = os.path.join(staging, 'shard-%05d' % len(prefixes))
    _save_batch(prefix, shard, values)
    prefixes.append(prefix)
  joined = os.path.join(staging, STAGED_NAME)
  _join_shards(prefixes, joined)
  return joined
