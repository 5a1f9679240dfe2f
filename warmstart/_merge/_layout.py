"""How a merge lays its tensors out in data files (shards).

Tensors go, in order, into batches of at most `max_batch_bytes` (a larger
tensor is a batch of its own); each batch is one `SaveV2`, one data file.

The shard count must also differ from every count in use at the output
prefix (`forbidden`): then no new data file shares a name with an old one,
and the old checkpoint stays whole until the new index replaces the old (see
`_commit`). When the natural count is forbidden, the layout gains one
shard at a time: the largest batch of several tensors is cut in two, or else
the largest tensor of a `SLICEABLE_DTYPES` dtype is saved as two slices
(TF's readers join them back). Each step lowers the memory a write holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence, Set
from typing import Optional

import numpy as np

from warmstart import _errors
from warmstart._merge import _result

Shard = list['Piece']

#: The dtypes whose slices TF's readers (`RestoreV2`, `NewCheckpointReader`)
#: join back into one tensor; not strings, float16 or uint16/32/64.
#: `merge_test` writes and reads each.
SLICEABLE_DTYPES = frozenset({
    'bfloat16', 'bool', 'complex64', 'complex128', 'float32', 'float64',
    'int8', 'int16', 'int32', 'int64', 'uint8'})


@dataclasses.dataclass(frozen=True)
class Piece:
  """A tensor, or a slice of it along one dimension, written by one SaveV2.

  Attributes:
    tensor: The output tensor.
    dim: The sliced dimension; None for the whole tensor.
    start: The first index along `dim`.
    length: The number of indices along `dim`.
  """

  tensor: _result.MergedTensor
  dim: Optional[int] = None
  start: int = 0
  length: int = 0

  @property
  def num_bytes(self) -> int:
    if self.dim is None:
      return self.tensor.num_bytes
    return self.tensor.num_bytes * self.length // self.tensor.shape[self.dim]

  @property
  def shape(self) -> tuple[int, ...]:
    """The shape of the values this piece writes."""
    if self.dim is None:
      return self.tensor.shape
    shape = list(self.tensor.shape)
    shape[self.dim] = self.length
    return tuple(shape)

  @property
  def is_last(self) -> bool:
    """Whether this piece ends its tensor (for progress counts)."""
    return (self.dim is None or
            self.start + self.length == self.tensor.shape[self.dim])

  def slice_spec(self) -> str:
    """The `shape_and_slices` entry of SaveV2 ('' for a whole tensor)."""
    if self.dim is None:
      return ''
    extents = ['%d,%d' % (self.start, self.length) if i == self.dim else '-'
               for i in range(len(self.tensor.shape))]
    return '%s %s' % (' '.join(str(d) for d in self.tensor.shape),
                      ':'.join(extents))

  def cut(self, value: np.ndarray) -> np.ndarray:
    """This piece's part of the whole tensor's `value`."""
    if self.dim is None:
      return value
    index = [slice(None)] * value.ndim
    index[self.dim] = slice(self.start, self.start + self.length)
    return value[tuple(index)]

  def halves(self) -> Optional[tuple[Piece, Piece]]:
    """This piece as two slices, or None when it cannot be sliced."""
    if self.tensor.dtype not in SLICEABLE_DTYPES or 0 in self.tensor.shape:
      return None
    if self.dim is not None:
      dim, start, length = self.dim, self.start, self.length
    else:
      dims = [i for i, d in enumerate(self.tensor.shape) if d >= 2]
      if not dims:
        return None
      dim, start, length = dims[0], 0, self.tensor.shape[dims[0]]
    if length < 2:
      return None
    first = length // 2
    return (Piece(self.tensor, dim, start, first),
            Piece(self.tensor, dim, start + first, length - first))


def _bytes(shard: Sequence[Piece]) -> int:
  return sum(p.num_bytes for p in shard)


def _batches(tensors: Sequence[_result.MergedTensor],
             max_batch_bytes: int) -> list[Shard]:
  shards: list[Shard] = [[]]
  size = 0
  for tensor in tensors:
    if shards[-1] and size + tensor.num_bytes > max_batch_bytes:
      shards.append([])
      size = 0
    shards[-1].append(Piece(tensor))
    size += tensor.num_bytes
  return shards


def _cut_a_batch(shards: list[Shard]) -> bool:
  """Cuts the largest batch of several pieces in two, near its middle."""
  candidates = [i for i, s in enumerate(shards) if len(s) >= 2]
  if not candidates:
    return False
  i = max(candidates, key=lambda i: _bytes(shards[i]))
  shard, half, size, cut = shards[i], _bytes(shards[i]) / 2, 0, 1
  for cut in range(1, len(shard)):
    size += shard[cut - 1].num_bytes
    if size >= half:
      break
  shards[i:i + 1] = [shard[:cut], shard[cut:]]
  return True


def _slice_a_tensor(shards: list[Shard]) -> bool:
  """Saves the largest sliceable piece of a one-piece shard as two slices."""
  best = None
  for i, shard in enumerate(shards):
    if len(shard) == 1 and shard[0].halves() is not None and (
        best is None or shard[0].num_bytes > shards[best][0].num_bytes):
      best = i
  if best is None:
    return False
  first, second = shards[best][0].halves()
  shards[best:best + 1] = [[first], [second]]
  return True


def layout(tensors: Sequence[_result.MergedTensor],
           max_batch_bytes: int,
           forbidden: Set[int] = frozenset(),
           output: str = 'the output') -> list[Shard]:
  """Splits `tensors` into shards; their count is not in `forbidden`.

  Args:
    tensors: The output tensors, in write order.
    max_batch_bytes: The most bytes a shard holds, unless one tensor is larger.
    forbidden: Shard counts already in use at the output prefix.
    output: The output prefix, for messages.

  Returns:
    The shards, each a non-empty list of pieces.

  Raises:
    SettingsError: no layout avoids the forbidden counts (the new checkpoint
      is one tensor of strings or of one element, and so is the old one).
  """
  shards = _batches(tensors, max_batch_bytes)
  while len(shards) in forbidden:
    if not (_cut_a_batch(shards) or _slice_a_tensor(shards)):
      raise _errors.SettingsError(
          'Cannot replace %s safely: the new checkpoint cannot be written in '
          'other than %d data file%s (it would take splitting a tensor of '
          'strings or of one element), and %s already has checkpoint files '
          'of %s shard%s, so there would be a moment when it holds neither the '
          'old nor the new checkpoint whole. Delete the old output first, or '
          'write to a new prefix.' %
          (output, len(shards), '' if len(shards) == 1 else 's', output,
           ', '.join(str(c) for c in sorted(forbidden)),
           '' if sorted(forbidden) == [1] else 's'))
  return shards
