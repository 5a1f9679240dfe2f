"""Checksums of streamed checkpoint bytes, as `RestoreV2` checks them.

`RestoreV2` checks the CRC32C a bundle's index records for every tensor it
reads whole. A stream (`_stream`) reads a tensor in chunks, two at a time
perhaps: `Checksums` computes each chunk's CRC32C as it is read and joins
them in order (`crc32c_combine`), then compares each piece read whole with
its record. The CRC itself is google-crc32c's (a C extension; the extra
`warmstart[crc]`); without it nothing is checked and one INFO line says so.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging


@functools.lru_cache(maxsize=None)
def crc32c() -> Any:
  """The `google_crc32c` module (a C extension), or None if not installed."""
  try:
    import google_crc32c  # pylint: disable=g-import-not-at-top
  except ImportError:
    google_crc32c = None
  if google_crc32c is None or google_crc32c.implementation != 'c':
    logging.info(
        'warmstart streams checkpoint tensors without checking their CRC32C '
        '(RestoreV2 checks a tensor it reads whole): install google-crc32c '
        'with its C extension (the extra warmstart[crc]) to check them too.')
    return None
  return google_crc32c


def _mask(crc: int) -> int:
  """A CRC32C masked as TF's bundles record it (`crc32c::Mask`)."""
  return (((crc >> 15) | (crc << 17)) + 0xa282ead8) & 0xffffffff


#: CRC32C's polynomial, reflected.
_POLY = 0x82f63b78


def _gf2_times(matrix: Sequence[int], vector: int) -> int:
  total, row = 0, 0
  while vector:
    if vector & 1:
      total ^= matrix[row]
    vector >>= 1
    row += 1
  return total


def _gf2_square(matrix: Sequence[int]) -> list[int]:
  return [_gf2_times(matrix, matrix[n]) for n in range(32)]


@functools.lru_cache(maxsize=64)
def _shift(length: int) -> tuple[int, ...]:
  """The GF(2) operator that runs a CRC through `length` zero bytes."""
  one_bit = [_POLY] + [1 << n for n in range(31)]
  operator = _gf2_square(_gf2_square(_gf2_square(one_bit)))  # One byte.
  result = [1 << n for n in range(32)]  # The identity.
  while length:
    if length & 1:
      result = [_gf2_times(operator, column) for column in result]
    length >>= 1
    if length:
      operator = _gf2_square(operator)
  return tuple(result)


def crc32c_combine(crc1: int, crc2: int, length2: int) -> int:
  """The CRC32C of A + B from those of A and B (B of `length2` bytes), as
  zlib's `crc32_combine` for CRC32; the operator is cached per length (a
  stream's chunks mostly share one)."""
  return _gf2_times(_shift(length2), crc1) ^ crc2


class Checksums:
  """Checks each piece a stream reads whole against its recorded CRC32C.

  Each chunk's CRC is computed as it is read (two reads may run at once)
  and joined, in order, to the bytes of its piece read before it
  (`crc32c_combine`); a piece some of whose rows are not read (rows no
  destination needs) is not checked.
  """

  def __init__(self, tensor: str, prefix: str,
               pieces: Sequence[tuple[str, int, int, int, int]]):
    """Checks `tensor` of checkpoint `prefix`, stored in `pieces` ((data
    file, first byte, bytes, first row, masked CRC32C) each)."""
    self._tensor = tensor
    self._prefix = prefix
    self._pieces = list(pieces)
    self._crc = crc32c()
    self._lock = threading.Lock()
    self._done = [0] * len(pieces)  # Bytes checked, from the start.
    self._value = [0] * len(pieces)
    self._waiting: list[dict[int, tuple[int, int]]] = [{} for _ in pieces]

  def add(self, piece: int, start: int, data: np.ndarray,
          recorded: int) -> None:
    """Takes bytes [start, start + len) of a piece (start: from its first);
    `recorded`: the masked CRC32C its index records now."""
    if self._crc is None:
      return
    crc = self._crc.value(data)
    path, offset, size, _, _ = self._pieces[piece]
    with self._lock:
      if start == 0:  # A piece's first chunk (again, on another run).
        self._done[piece], self._value[piece] = 0, 0
      waiting = self._waiting[piece]
      waiting[start] = (crc, data.nbytes)
      while self._done[piece] in waiting:
        crc, length = waiting.pop(self._done[piece])
        self._value[piece] = crc32c_combine(self._value[piece], crc, length)
        self._done[piece] += length
      if self._done[piece] != size or _mask(self._value[piece]) == recorded:
        return
      # (TF runs a numpy_function's ValueError as InvalidArgumentError; it
      # has no way to raise RestoreV2's DataLossError.)
      raise ValueError(
          'Checksum mismatch reading tensor %r of checkpoint %s: bytes '
          '[%d, %d) of %s have CRC32C %08x (masked), the index records %08x: '
          'the data file is damaged.' %
          (self._tensor, self._prefix, offset, offset + size,
           path, _mask(self._value[piece]), recorded))
