"""How many bytes of checkpoint data each planned restore reads.

The plan states it per entry (`Entry.read_bytes`, in `plan --json` and the
plan's table) so a warm start's I/O is known before it runs. It follows how
`_restore` reads:

* a tensor read whole (a variable in one part, a resize, a cast, a
  vocabulary remap of one part): its bytes;
* a tensor stored whole or in slices along axis 0 into several plain
  resource parts split along axis 0 (restore, cast, resize, a row remap, a
  column remap without a cast): streamed, its bytes once;
* otherwise, into several parts: each part's `RestoreV2` of a tensor stored
  whole, and TF's remap kernel of any, read the whole stored tensor, so its
  bytes once per part; `RestoreV2` of a tensor stored in slices counts its
  bytes once (each stored slice is read by the parts over it; exact when
  the partitionings agree);
* a transform: the bytes of each of its input tensors;
* a tensor several variables take the same way (one tensor into two
  variables): read once, counted on the first entry (`with_read_bytes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import tensorflow as tf

from warmstart import _plan
from warmstart import _sources
from warmstart import _variables


def _streamed(entry: _plan.Entry, parts: Sequence[Any]) -> bool:
  """Whether `_restore` streams the parts of `entry` (see `_restore/_stream`;
  a column remap is streamed without a cast only)."""
  if (entry.action == _plan.VOCAB_REMAP and entry.action_params.get('axis')
      and 'checkpoint_dtype' in entry.action_params):
    return False
  return (tf.as_dtype(entry.dtype) != tf.string and
          _variables.plain_row_parts(parts))


def read_bytes(entry: _plan.Entry, checkpoint: _sources.Checkpoint) -> int:
  """The bytes of `checkpoint` the restore of `entry` reads (module doc)."""
  if entry.skipped or entry.action == _plan.SET:
    return 0
  if entry.action == _plan.TRANSFORM:
    return sum(checkpoint.num_bytes(name)
               for name in entry.action_params.get('tensors', ())
               if name in checkpoint)
  if entry.tensor not in checkpoint:
    return 0
  stored = checkpoint.num_bytes(entry.tensor)
  parts = entry.target.parts if entry.target is not None else ()
  if len(parts) < 2:
    return stored
  pieces = _sources.data_pieces(checkpoint.prefix, entry.tensor)
  if pieces is not None and _streamed(entry, parts):
    return stored
  if entry.action == _plan.VOCAB_REMAP or (pieces is not None and
                                           len(pieces) == 1):
    return stored * len(parts)
  return stored


def _shared_read(entry: _plan.Entry,
                 checkpoint: _sources.Checkpoint) -> Optional[tuple[Any, ...]]:
  """What identifies the read of `entry` that others may share (`_restore`
  reads a tensor once for every variable taking it the same way: one
  stream of it, or one `RestoreV2` output per tensor slice), or None."""
  if entry.action not in _plan.BATCHED or entry.tensor not in checkpoint:
    return None
  parts = entry.target.parts if entry.target is not None else ()
  if (len(parts) > 1 and _streamed(entry, parts) and
      _sources.data_pieces(checkpoint.prefix, entry.tensor) is not None):
    return entry.source, entry.tensor, 'stream'
  shape = (tuple(entry.target.shape.as_list())
           if entry.target is not None and entry.action == _plan.RESIZE
           else None)
  return (entry.source, entry.tensor, 'read', tuple(entry.slices or ()),
          shape)


def with_read_bytes(entries: Iterable[_plan.Entry],
                    checkpoints: Iterable[_sources.Checkpoint]
                   ) -> list[_plan.Entry]:
  """`entries`, each with its `read_bytes` (a read several entries share
  counted on the first)."""
  by_prefix = {c.prefix: c for c in checkpoints}
  seen = set()
  result = []
  for entry in entries:
    checkpoint = by_prefix.get(entry.source)
    count = read_bytes(entry, checkpoint) if checkpoint is not None else 0
    shared = _shared_read(entry, checkpoint) if count else None
    if shared is not None:
      count = 0 if shared in seen else count
      seen.add(shared)
    result.append(dataclasses.replace(entry, read_bytes=count)
                  if count != entry.read_bytes else entry)
  return result
