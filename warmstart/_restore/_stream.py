"""Reads a checkpoint tensor once, in row chunks, for every part that needs it.

`RestoreV2` of a slice of a tensor stored whole reads the whole stored tensor
(TF's bundle reader reads the stored tensor, then copies the slice out), so
a variable in N partitions read from an unpartitioned tensor reads it N
times; from a tensor stored in slices (a partitioned variable's save) each
part reads every stored slice it overlaps, whole; and TF's
`LoadAndRemapMatrix` (vocabulary remaps) reads the whole tensor for each
partition. A stream reads each row of the stored tensor once instead, from
a tensor stored whole or in slices along axis 0 (`Stored`):

* The rows are read in chunks of at most `max_chunk_bytes` (at least one
  row, never across two stored slices), each exactly its bytes of the data
  file (`pread`), and delivered to every destination that needs those
  rows: a partition's rows, or the rows a vocabulary remap scatters (which
  the reader gathers out of the chunk in numpy).
* A chunk is read only once the chunk before the previous one was delivered:
  at most two chunks are held at a time, beside the variables themselves,
  with what their deliveries make of them (a cast, the gathered rows of a
  remap): chunks are read that many times smaller, so that all of it stays
  within 2 x `max_chunk_bytes`.
* Each part's initializer groups its own loads (and a base value assigned
  first where cells do not come from the checkpoint); running all
  initializers (Scaffold's init op) reads the stream once.

Where the reads run: a chunk is read by a `tf.numpy_function` on the CPU of
the process that runs the initializers (the chief in a ps cluster, the one
process of `MirroredStrategy`), from that process' view of the data file:
the one the plan read the index from. The values then travel to each
part's device as any assign's value does.

Checked as `RestoreV2` checks a tensor it reads whole: each piece read
whole has its CRC32C compared with the index's (`_checksums`, with
google-crc32c installed: a mismatch fails the read naming the tensor and
the file, an `InvalidArgumentError` where `RestoreV2` raises
`DataLossError`); the index's sizes are checked when the plan loads the
checkpoint (`_sources.load`), a short read fails the chunk's op naming the
file, and a checkpoint rewritten with another layout since the stream was
built fails it naming the tensor.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import functools
import mmap
import os
from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from warmstart import _sources
from warmstart import _tf_compat
from warmstart._restore import _checksums


@dataclasses.dataclass(frozen=True)
class Stored:
  """A tensor stored in row order: its pieces, its shape and dtype.

  Attributes:
    prefix: The checkpoint.
    tensor: The tensor's name in it.
    pieces: (data file, first byte, bytes, first row, masked CRC32C) of each
      piece, in row order (`_sources.data_pieces`): one for a tensor stored
      whole, one per slice of a tensor stored in slices along axis 0 (a
      partitioned variable's save).
    shape: The whole tensor's shape.
    dtype: Its dtype.
  """

  prefix: str
  tensor: str
  pieces: tuple[tuple[str, int, int, int, int], ...]
  shape: tuple[int, ...]
  dtype: tf.DType

  @property
  def row_shape(self) -> tuple[int, ...]:
    return self.shape[1:]

  @property
  def row_bytes(self) -> int:
    return int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.size

  @property
  def bounds(self) -> tuple[int, ...]:
    """The first row of each piece, then the number of rows."""
    return tuple(piece[3] for piece in self.pieces) + (self.shape[0],)

  def where(self, first: int, count: int) -> tuple[int, str, int]:
    """(piece, data file, first byte) of rows [first, first + count), which
    lie in one piece (chunks are cut at the pieces' bounds)."""
    for i, (piece, stop) in enumerate(zip(self.pieces, self.bounds[1:])):
      path, offset, _, row, _ = piece
      if row <= first and first + count <= stop:
        return i, path, offset + (first - row) * self.row_bytes
    raise ValueError('Rows [%d, %d) span pieces of the stored tensor.' %
                     (first, first + count))


def stored(prefix: str, tensor: str, shape: Sequence[int],
           dtype: tf.DType) -> Optional[Stored]:
  """The `Stored` of `tensor`, or None where it cannot be streamed.

  None for a tensor stored in slices along another axis than 0, a string
  tensor, a scalar, or pieces whose sizes disagree with `shape` and
  `dtype`.
  """
  shape = tuple(int(d) for d in shape)
  if not shape or dtype == tf.string or dtype.is_quantized:
    return None
  pieces = _sources.data_pieces(prefix, tensor)
  if pieces is None:
    return None
  row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.size
  stops = [piece[3] for piece in pieces[1:]] + [shape[0]]
  for (_, _, size, row, _), stop in zip(pieces, stops):
    if stop < row or size != (stop - row) * row_bytes:
      return None
  return Stored(prefix, tensor, tuple(pieces), shape, dtype)


def _check_unchanged(source: Stored) -> list[tuple[str, int, int, int, int]]:
  """The tensor's pieces as the checkpoint's index gives them now.

  Raises if the checkpoint no longer stores the tensor where it did when
  the stream was built (rewritten with another layout since): its bytes
  would be others'. Rewritten in place with other values (the same layout,
  other checksums), it is read as `RestoreV2` would read it.
  """
  now = _sources.data_pieces(source.prefix, source.tensor)
  if now is None or [p[:4] for p in now] != [p[:4] for p in source.pieces]:
    raise ValueError(
        'Tensor %r of checkpoint %s changed since the warm start was built '
        '(stored as %s then, %s now): build the warm start again.' %
        (source.tensor, source.prefix, _describe(source.pieces),
         'not readable in pieces' if now is None else _describe(now)))
  return now


def _describe(pieces: Sequence[tuple[str, int, int, int, int]]) -> str:
  return '%d piece(s) of %d bytes' % (len(pieces),
                                       sum(piece[2] for piece in pieces))


@functools.lru_cache(maxsize=None)
def _malloc_trim() -> Any:
  """glibc's `malloc_trim`, or None (another C library)."""
  try:
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    return libc.malloc_trim
  except (OSError, AttributeError):
    return None


def release_free_memory() -> None:
  """Returns the memory the C allocator holds freed to the system.

  The temporaries of a restore (a base value's indices, the rows gathered
  from a chunk) are freed into the allocator's arenas, which keep them: the
  next chunk would then add its pages on top. Trimming before each chunk
  keeps the process' peak at what is alive (measured: about 60 MiB less
  on a 488 MiB remap). glibc only; elsewhere a no-op.
  """
  trim = _malloc_trim()
  if trim is not None:
    trim(0)


def _own_pages(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
  """An uninitialized array in pages of its own: aligned, so that TF takes
  the buffer uncopied (numpy's large arrays start 16 bytes into their
  pages), and without numpy's transparent-huge-page advice, whose
  compaction on the first touch made reads of the same bytes vary 4x in
  time here. Unmapped when the last array or tensor using it goes."""
  nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
  if nbytes == 0:
    return np.empty(shape, dtype)
  return np.frombuffer(mmap.mmap(-1, nbytes), dtype).reshape(shape)


@dataclasses.dataclass(frozen=True)
class Taking:
  """What a destination makes of a chunk in the reader, in numpy.

  Attributes:
    inputs: Tensors the reader is given for it.
    make: (the chunk, *those inputs as arrays) -> its arrays.
    dtypes: The dtypes of those arrays.
  """

  inputs: list[tf.Tensor]
  make: Callable[..., list[np.ndarray]]
  dtypes: list[tf.DType]


def _reader(source: Stored, first: int, count: int, chunk: bool = True,
            checksums: Optional[_checksums.Checksums] = None,
            takings: Sequence[Taking] = ()):
  """A function reading rows [first, first + count) of `source`: it returns
  the chunk (if `chunk`), then what each of `takings` makes of it (given its
  inputs: the function's arguments, in order); the chunk itself, when not
  returned, is freed before the values leave. `checksums` takes its bytes."""
  counts = [len(t.inputs) for t in takings]
  np_dtype = source.dtype.as_numpy_dtype
  piece, path, start = source.where(first, count)
  piece_start = start - source.pieces[piece][1]
  nbytes = count * source.row_bytes
  shape = (count,) + source.row_shape
  local = _sources.local_path(path)

  def read(*inputs: np.ndarray) -> list[np.ndarray]:
    pieces = _check_unchanged(source)
    release_free_memory()
    # A chunk read whole is often a part's buffer: TF takes it uncopied.
    out = _own_pages(shape, np_dtype)
    buffer = memoryview(out.reshape(-1).view(np.uint8))
    got = 0
    if local is not None:
      with open(local, 'rb', buffering=0) as f:
        while got < nbytes:
          n = os.preadv(f.fileno(), [buffer[got:]], start + got)
          if n <= 0:
            break
          got += n
    else:
      with tf.io.gfile.GFile(path, 'rb') as f:
        f.seek(start)
        data = f.read(nbytes)
        got = len(data)
        buffer[:got] = data
    if got != nbytes:
      raise ValueError(
          'Read %d of %d bytes at byte %d of %s: the data file is shorter '
          'than its index says.' % (got, nbytes, start, path))
    if checksums is not None:
      checksums.add(piece, piece_start, out, pieces[piece][4])
    made, at = [out] if chunk else [], 0
    for taking, n in zip(takings, counts):
      made.extend(taking.make(out, *inputs[at:at + n]))
      at += n
    return made

  return read


def read_rows(source: Stored, first: int, count: int,
              takings: Sequence[Taking] = (),
              chunk: bool = True,
              checksums: Optional[_checksums.Checksums] = None
             ) -> list[tf.Tensor]:
  """The op reading rows [first, first + count) of `source` (on the CPU).

  Returns:
    [the chunk (if `chunk`)] + what each of `takings` makes of it, in the
    reader: no chunk-sized tensor of TF's beside.
  """
  values = tf.numpy_function(
      _reader(source, first, count, chunk, checksums, takings),
      [t for taking in takings for t in taking.inputs],
      [source.dtype] * int(chunk) +
      [d for taking in takings for d in taking.dtypes], stateful=True,
      name='read_rows')
  if chunk:
    values[0].set_shape((count,) + source.row_shape)
  return values


class Destination:
  """Something a stream delivers rows to (subclasses say how)."""

  #: The rows of the stored tensor it needs: [first, stop).
  first: int = 0
  stop: int = 0

  @property
  def bounds(self) -> tuple[int, ...]:
    """Rows where a chunk should start (its range, or none beyond it)."""
    return (self.first, self.stop)

  def copies(self, source: Stored) -> int:
    """How many chunk-sized tensors its delivery of a chunk makes (a cast,
    a gather): the stream reads chunks that much smaller, so that a chunk
    and what is made of it stay within `max_chunk_bytes`."""
    del source
    return 0

  def takes(self, first: int, stop: int) -> Optional[Taking]:
    """What the reader makes of chunk [first, stop) for it (numpy: a gather
    of the rows it needs, no chunk-sized tensor of TF's); None: the chunk."""
    del first, stop
    return None

  def deliver(self, chunk: Any, first: int,
              stop: int) -> list[tf.Operation]:
    """The ops loading rows [first, stop) where they belong.

    Args:
      chunk: The chunk; where `takes` gave a `Taking`, the list of the
        arrays it made instead.
      first: The chunk's first row.
      stop: The row after its last.
    """
    raise NotImplementedError


class PartRows(Destination):
  """Rows [first, stop) of the stored tensor into rows of a variable part.

  Row `first` lands at the part's first row; with `trailing`, only the
  leading `trailing[i]` entries of each other axis are taken (a resize);
  `base`, if given, is assigned to the part first (the cells the checkpoint
  does not give).
  """

  def __init__(self, part: Any, first: int, stop: int,
               trailing: Optional[Sequence[int]] = None,
               base: Optional[tf.Operation] = None):
    self.part = part
    self.first = first
    self.stop = stop
    self.trailing = list(trailing) if trailing is not None else None
    self.base = base
    self.ops: list[tf.Operation] = []

  def copies(self, source: Stored) -> int:
    # A resize slices a copy out of the chunk; a cast makes another.
    return (int(self.trailing is not None) +
            int(source.dtype != self.part.dtype.base_dtype))

  def _whole(self, lo: int, hi: int) -> bool:
    """Whether rows [lo, hi) are the whole part (one plain assign)."""
    return (self.base is None and self.trailing is None and
            (lo, hi) == (self.first, self.stop) and
            self.part.shape.as_list()[0] == hi - lo)

  def deliver(self, chunk: tf.Tensor, first: int,
              stop: int) -> list[tf.Operation]:
    lo, hi = max(first, self.first), min(stop, self.stop)
    if lo >= hi:
      return []
    rank = chunk.shape.rank
    trailing = self.trailing or chunk.shape.as_list()[1:]
    value = chunk
    if lo != first or hi != stop or self.trailing is not None:
      value = tf.strided_slice(chunk, [lo - first] + [0] * (rank - 1),
                               [hi - first] + trailing, [1] * rank)
    dtype = self.part.dtype.base_dtype
    if value.dtype != dtype:
      value = tf.cast(value, dtype)
    if self._whole(lo, hi):
      # The part in one chunk: its buffer becomes the variable's (no copy).
      with tf.device(self.part.handle.device):
        op = _tf_compat.assign_variable(self.part.handle, value)
      self.ops.append(op)
      return [op]
    if self.base is None:
      # A slice assign needs the variable's buffer: an unfilled one.
      with tf.device(self.part.handle.device):
        self.base = _tf_compat.assign_variable(
            self.part.handle, tf.raw_ops.Empty(
                shape=self.part.shape.as_list(), dtype=dtype, init=False))
      self.ops.append(self.base)
    row = lo - self.first
    with tf.device(self.part.handle.device), tf.control_dependencies(
        [self.base]):
      op = tf.raw_ops.ResourceStridedSliceAssign(
          ref=self.part.handle, begin=[row] + [0] * (rank - 1),
          end=[row + hi - lo] + trailing, strides=[1] * rank, value=value,
          name='assign_rows')
    self.ops.append(op)
    return [op]


def chunk_rows(source: Stored, max_chunk_bytes: int) -> int:
  """How many rows one chunk holds (at least one)."""
  return max(1, max_chunk_bytes // max(1, source.row_bytes))


def _chunks(destinations: Sequence[Destination], step: int,
            pieces: Sequence[int] = ()) -> list[tuple[int, int]]:
  """The chunks' row ranges: cut at every destination's own bounds (a
  partition is never split across chunks it does not need), at the stored
  `pieces`' bounds (a chunk is one read) and every `step` rows within."""
  cuts = sorted({row for d in destinations for row in d.bounds} |
                set(pieces))
  needed = [(d.first, d.stop) for d in destinations]
  ranges = []
  for lo, hi in zip(cuts, cuts[1:]):
    if not any(a < hi and lo < b for a, b in needed):
      continue  # Rows nobody needs are not read.
    ranges.extend((begin, min(hi, begin + step))
                  for begin in range(lo, hi, step))
  return ranges


def stream(source: Stored, destinations: Sequence[Destination],
           max_chunk_bytes: int, after: Sequence[tf.Operation] = ()) -> int:
  """Builds the chunk reads of `source` and their deliveries.

  Args:
    source: The stored tensor.
    destinations: Where its rows go; each collects its own ops.
    max_chunk_bytes: Bound on the bytes of one chunk and of what its
      deliveries make of it (a row is never split): two such at a time.
    after: Ops the first reads wait for: the parts' base values, so that
      what is made to compute them is freed before chunks are held.

  Returns:
    The number of chunks.
  """
  delivered: list[list[tf.Operation]] = [list(after), list(after)]
  chunks = 0
  copies = max(d.copies(source) for d in destinations)
  checksums = _checksums.Checksums(source.tensor, source.prefix,
                                   source.pieces)
  with tf.device('/cpu:0'):
    for begin, end in _chunks(destinations, chunk_rows(
        source, max_chunk_bytes // (1 + copies)), source.bounds):
      takings = [d.takes(begin, end) for d in destinations]
      chunk = any(t is None for t in takings)
      # Read after the chunk before the previous one was delivered.
      with tf.control_dependencies(delivered[0]):
        values = read_rows(source, begin, end - begin,
                           [t for t in takings if t is not None], chunk,
                           checksums)
      ops = []
      at = int(chunk)
      for destination, taking in zip(destinations, takings):
        if taking is None:
          ops.extend(destination.deliver(values[0], begin, end))
        else:
          made = values[at:at + len(taking.dtypes)]
          ops.extend(destination.deliver(made, begin, end))
          at += len(taking.dtypes)
      delivered = [delivered[1], ops]
      chunks += 1
  return chunks


def initialize(part: Any, ops: Sequence[tf.Operation]) -> tf.Operation:
  """Makes `ops` (all of one part's loads) the part's initializer."""
  with tf.device(part.handle.device):
    op = tf.group(*ops, name='streamed')
    with tf.control_dependencies([op]):
      value = tf.raw_ops.ReadVariableOp(resource=part.handle,
                                        dtype=part.dtype.base_dtype)
  _tf_compat.set_initializer(part, op, value)
  return op


