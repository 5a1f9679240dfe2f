"""Reads a `.safetensors` file: its header checked whole, one tensor at a time.

The format (https://github.com/huggingface/safetensors), parsed here with
numpy alone:

  [u64 little-endian N][N bytes: a UTF-8 JSON object][data area]

The header maps each tensor's name to `{"dtype": "F32", "shape": [2, 3],
"data_offsets": [begin, end]}` (offsets into the data area, the byte after
the header) and may hold `"__metadata__"`, an object of strings. Tensors are
little-endian, row-major.

The header is checked before any tensor is listed, in bounded time and
memory: the length against the file and the 100 MB cap of the reference
implementation (read no further otherwise); strict UTF-8; the nesting depth
(counted over the raw bytes before parsing: a valid header nests 3 levels,
so a "JSON bomb" of brackets is refused without building it); a JSON object
without duplicate names; each entry's fields and types; the dtype; the
offsets inside the data area, `begin <= end`, and `end - begin` equal to the
shape's bytes; no two tensors overlapping. Unknown fields of an entry are
ignored, as the reference implementation does.

The specification also asks the data area to have no holes (bytes no tensor
covers). This reader accepts a hole and reads nothing from it: a tensor is
read from its own offsets only, so a hole cannot change a value.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np
import tensorflow as tf

from warmstart._sources import _tensor_file

#: The reference implementation's bound on the header (100 MB).
MAX_HEADER_BYTES = 100_000_000
#: A valid header nests three levels: the object, an entry, its shape.
_MAX_DEPTH = 3
#: Bytes of the header scanned at a time for its depth.
_SCAN_CHUNK = 1 << 20
_WHAT = 'safetensors'
_METADATA = '__metadata__'

#: The file's dtypes that TF has, as little-endian numpy dtypes.
DTYPES: dict[str, np.dtype] = {
    'BOOL': np.dtype(np.bool_),
    'U8': np.dtype('u1'),
    'I8': np.dtype('i1'),
    'U16': np.dtype('<u2'),
    'I16': np.dtype('<i2'),
    'U32': np.dtype('<u4'),
    'I32': np.dtype('<i4'),
    'U64': np.dtype('<u8'),
    'I64': np.dtype('<i8'),
    'F16': np.dtype('<f2'),
    'BF16': np.dtype(tf.bfloat16.as_numpy_dtype),
    'F32': np.dtype('<f4'),
    'F64': np.dtype('<f8'),
    'C64': np.dtype('<c8'),
}

#: A JSON string: its quotes, and any escaped character in it.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = np.frombuffer(b'[{', np.uint8)
_CLOSE = np.frombuffer(b']}', np.uint8)


def _depth(header: bytes) -> int:
  """How deep `header`'s brackets nest outside strings (stops past the limit).

  Counted with numpy a chunk at a time, in time linear in the header and
  memory bounded by the chunk, before anything is parsed.
  """
  bare = _STRING.sub(b'""', header)
  depth = deepest = 0
  for start in range(0, len(bare), _SCAN_CHUNK):
    chunk = np.frombuffer(bare, np.uint8, min(_SCAN_CHUNK, len(bare) - start),
                          start)
    steps = (np.isin(chunk, _OPEN).astype(np.int32) -
             np.isin(chunk, _CLOSE).astype(np.int32))
    if not steps.any():
      continue
    levels = depth + np.cumsum(steps)
    deepest = max(deepest, int(levels.max()))
    if deepest > _MAX_DEPTH:
      return deepest
    depth = int(levels[-1])
  return deepest


class _Duplicate(Exception):
  """A name the header's JSON holds twice."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
  """`json.loads`' object hook: a dict, or `_Duplicate` for a name twice."""
  seen = {}
  for key, value in pairs:
    if key in seen:
      raise _Duplicate(key)
    seen[key] = value
  return seen


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


class SafetensorsReader(_tensor_file.Reader):
  """A `.safetensors` file. Tensor names are the header's keys, as written.

  `read` reads that tensor's bytes only (`pread` into an array of its own),
  so the process holds no more than the tensors it keeps.
  """

  format = 'safetensors'

  def __init__(self, path: str) -> None:
    """Opens `path` and checks its header whole.

    Args:
      path: A local file.

    Raises:
      SourceFormatError: the header is malformed (the message names the
        file and the fault) or a dtype is one TF has not.
    """
    super().__init__(path)
    self._fd = None
    self._offsets: dict[str, tuple[int, np.dtype]] = {}
    self.metadata: dict[str, str] = {}
    with open(self.path, 'rb') as f:
      size = os.fstat(f.fileno()).st_size
      header_size = self._header_size(f.read(8), size)
      header = f.read(header_size)
      if len(header) != header_size:
        raise self._error('the file ended inside its header.')
      self._data_start = 8 + header_size
      self._parse(header, size - self._data_start)
    # Tensors are read with pread into arrays of their own, not through a
    # memory map: a map's pages would stay in the process' resident set
    # (a 1 GB file staged: 1 GB of RSS), reads do not.
    self._fd = os.open(self.path, os.O_RDONLY)

  def _error(self, fault: str) -> Exception:
    return _tensor_file.format_error(self.path, _WHAT, fault)

  def _header_size(self, head: bytes, size: int) -> int:
    if len(head) < 8:
      raise self._error(
          'the file has %d bytes, fewer than the 8 of its header length.' %
          len(head))
    header_size = int.from_bytes(head, 'little')
    if header_size > MAX_HEADER_BYTES:
      raise self._error(
          'its header length is %d bytes, past the limit of %d (the '
          'reference implementation\'s).' % (header_size, MAX_HEADER_BYTES))
    if header_size > size - 8:
      raise self._error(
          'its header length is %d bytes, but the file holds only %d bytes '
          'after the length (truncated, or not a safetensors file).' %
          (header_size, size - 8))
    return header_size

  def _load_json(self, header: bytes) -> dict[str, Any]:
    try:
      text = header.decode('utf-8')
    except UnicodeDecodeError as e:
      raise self._error('its header is not UTF-8 (byte %d: %s).' %
                        (e.start, e.reason)) from None
    depth = _depth(header)
    if depth > _MAX_DEPTH:
      raise self._error(
          'its header nests more than %d levels deep (a valid header nests '
          '%d: the object, an entry, its shape); not parsed.' %
          (_MAX_DEPTH, _MAX_DEPTH))
    try:
      parsed = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as e:
      raise self._error('its header names %r twice.' % e.args[0]) from None
    except (ValueError, RecursionError) as e:
      raise self._error('its header is not valid JSON (%s).' % e) from None
    if not isinstance(parsed, dict):
      raise self._error('its header is a JSON %s, not an object.' %
                        type(parsed).__name__)
    return parsed

  def _parse(self, header: bytes, data_size: int) -> None:
    """Checks every entry of `header`; fills the tensors and their spans."""
    parsed = self._load_json(header)
    metadata = parsed.pop(_METADATA, {})
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str) for v in metadata.values()):
      raise self._error('its "%s" is not an object of strings.' % _METADATA)
    self.metadata = metadata
    spans = []
    for name, entry in parsed.items():
      begin, end, dtype, shape = self._entry(name, entry, data_size)
      info = _tensor_file.info(name, shape, _tensor_file.tf_dtype(dtype))
      if end - begin != info.nbytes:
        raise self._error(
            'tensor %r: its data_offsets [%d, %d] span %d bytes, but its '
            'shape %s of %s needs %d.' % (name, begin, end, end - begin,
                                          list(shape), entry['dtype'],
                                          info.nbytes))
      self._infos[name] = info
      self._offsets[name] = (begin, dtype)
      if end > begin:
        spans.append((begin, end, name))
    spans.sort()
    for (_, end_a, a), (begin_b, _, b) in zip(spans, spans[1:]):
      if begin_b < end_a:
        raise self._error('tensors %r and %r overlap (bytes %d to %d of the '
                          'data area).' % (a, b, begin_b, end_a))

  def _entry(self, name: str, entry: Any,
             data_size: int) -> tuple[int, int, np.dtype, list[int]]:
    """Checks one entry: (begin, end, numpy dtype, shape)."""
    if not isinstance(entry, dict):
      raise self._error('tensor %r: its entry is a JSON %s, not an object.' %
                        (name, type(entry).__name__))
    missing = [k for k in ('dtype', 'shape', 'data_offsets') if k not in entry]
    if missing:
      raise self._error('tensor %r: its entry has no %s.' %
                        (name, ', '.join(repr(k) for k in missing)))
    dtype_name, shape, offsets = (entry['dtype'], entry['shape'],
                                  entry['data_offsets'])
    if not isinstance(dtype_name, str):
      raise self._error('tensor %r: its dtype %r is not a string.' %
                        (name, dtype_name))
    if dtype_name not in DTYPES:
      raise self._error(
          'tensor %r has dtype %r, which warmstart does not read (supported: '
          '%s). Cast the tensor to one of them (e.g. F16 or BF16) before '
          'saving.' % (name, dtype_name, ', '.join(DTYPES)))
    if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
      raise self._error('tensor %r: its shape %r is not a list of integers.' %
                        (name, shape))
    if any(d < 0 for d in shape):
      raise self._error('tensor %r: its shape %r has a negative dimension.' %
                        (name, shape))
    if (not isinstance(offsets, list) or len(offsets) != 2 or
        not all(_is_int(o) for o in offsets)):
      raise self._error('tensor %r: its data_offsets %r are not two '
                        'integers [begin, end].' % (name, offsets))
    begin, end = offsets
    if begin < 0 or begin > end:
      raise self._error('tensor %r: its data_offsets [%d, %d] begin after '
                        'they end (or before 0).' % (name, begin, end))
    if end > data_size:
      raise self._error(
          'tensor %r: its data_offsets [%d, %d] end past the data area (%d '
          'bytes after the header): the file is truncated or the header '
          'wrong.' % (name, begin, end, data_size))
    return begin, end, DTYPES[dtype_name], shape

  def _read(self, name: str) -> np.ndarray:
    begin, dtype = self._offsets[name]
    info = self._infos[name]
    if not info.nbytes:
      return np.zeros(info.shape, dtype)
    out = np.empty(info.nbytes // dtype.itemsize, dtype)
    buffer = memoryview(out.view(np.uint8))
    start, got = self._data_start + begin, 0
    while got < info.nbytes:
      n = os.preadv(self._fd, [buffer[got:]], start + got)
      if n <= 0:
        raise self._error('tensor %r: the file ended after %d of its %d '
                          'bytes (truncated since it was opened?).' %
                          (name, got, info.nbytes))
      got += n
    return out.reshape(info.shape)

  def _close(self) -> None:
    if self._fd is not None:
      os.close(self._fd)
    self._fd = None
