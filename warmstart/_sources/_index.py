"""Reads where a checkpoint's tensors lie in its data files, from its index.

TF's `NewCheckpointReader` gives each tensor's dtype and shape but not its
shard, offset and size, and no public API does. They are needed to check, at
the call, that every data file is there and long enough. So this reads the
index file (`<prefix>.index`) itself. It is a LevelDB-style sorted table
(tsl/lib/io/format.cc, block_builder.cc, table_builder.cc):

  [data block][trailer] ... [metaindex block][trailer] [index block][trailer]
  [footer: 48 bytes]

* Footer: the metaindex and index block handles, zero padding to 40 bytes,
  then the magic number 0xdb4775248b80fb57 as a little-endian fixed64.
* Block handle: varint64 offset, varint64 size (the size excludes the
  trailer).
* Trailer: 1 byte compression type, 4 bytes masked CRC32C. TF writes bundle
  indexes uncompressed (type 0: `BundleWriter` sets kNoCompression); other
  types raise `FormatError`. The CRC is not checked here: callers read the
  index with TF's reader first, which checks it.
* Block: entries, then one fixed32 restart offset per restart point, then
  their count (fixed32). Entry: varint32 bytes shared with the previous key,
  varint32 unshared bytes, varint32 value length, the unshared key bytes, the
  value.
* The index block maps a key to the block handle of each data block.

A bundle's table maps the empty key to a `BundleHeaderProto` (`num_shards`)
and each tensor name to a `BundleEntryProto` (`shard_id`, `offset`, `size`).
A partitioned tensor has an entry under its name that lists its slices and
holds no bytes, plus one entry per slice under an encoded key (see
`tensor_name`).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from typing import Any, Optional

import numpy as np
import tensorflow as tf
from google.protobuf import message

from warmstart import _tf_compat

_MAGIC = 0xdb4775248b80fb57
_FOOTER_SIZE = 48
_TRAILER_SIZE = 5
_NO_COMPRESSION = 0


class FormatError(ValueError):
  """The index is not a table this reader understands."""


@dataclasses.dataclass(frozen=True)
class Layout:
  """How many data files a checkpoint has and how much of each it uses.

  Attributes:
    num_shards: The number of data files (`BundleHeaderProto.num_shards`).
    needed: Per shard, the bytes its data file must hold at least: the
      largest offset + size of its tensors (0 where it holds only empty
      tensors).
  """

  num_shards: int
  needed: tuple[int, ...]


def data_file(prefix: str, shard: int, num_shards: int) -> str:
  """Returns the name TF gives a data file (tensor_bundle/naming.cc)."""
  return '%s.data-%05d-of-%05d' % (prefix, shard, num_shards)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
  """Decodes a varint at `pos`; returns (value, position after it)."""
  result = 0
  shift = 0
  while True:
    if pos >= len(data):
      raise FormatError('truncated varint at byte %d' % pos)
    byte = data[pos]
    pos += 1
    result |= (byte & 0x7f) << shift
    if byte < 0x80:
      return result, pos
    shift += 7
    if shift > 63:
      raise FormatError('overlong varint at byte %d' % pos)


def _block(data: bytes, handle: bytes, pos: int = 0) -> tuple[bytes, int]:
  """Reads the block `handle[pos:]` points to; returns (contents, next pos)."""
  offset, pos = _varint(handle, pos)
  size, pos = _varint(handle, pos)
  end = offset + size
  if end + _TRAILER_SIZE > len(data):
    raise FormatError('block at bytes %d..%d lies past the end of the file '
                      '(%d bytes)' % (offset, end, len(data)))
  if data[end] != _NO_COMPRESSION:
    raise FormatError('block at byte %d has compression type %d; only '
                      'uncompressed (type 0) indexes are supported' %
                      (offset, data[end]))
  return data[offset:end], pos


def _block_entries(block: bytes,
                   keys: bool = True) -> Iterator[tuple[bytes, bytes]]:
  """Yields the (key, value) entries of one block, in order.

  With `keys=False` every key is yielded as b'' (twice as fast: the keys are
  not rebuilt).
  """
  if len(block) < 4:
    raise FormatError('block of %d bytes has no restart count' % len(block))
  (num_restarts,) = struct.unpack_from('<I', block, len(block) - 4)
  limit = len(block) - 4 - 4 * num_restarts
  if limit < 0:
    raise FormatError('block of %d bytes claims %d restart points' %
                      (len(block), num_restarts))
  key = b''
  pos = 0
  while pos < limit:
    # The three lengths are nearly always below 128: one byte each.
    if (pos + 3 <= limit and block[pos] < 0x80 and block[pos + 1] < 0x80 and
        block[pos + 2] < 0x80):
      shared, unshared, length = block[pos], block[pos + 1], block[pos + 2]
      pos += 3
    else:
      shared, pos = _varint(block, pos)
      unshared, pos = _varint(block, pos)
      length, pos = _varint(block, pos)
    if pos + unshared + length > limit or (keys and shared > len(key)):
      raise FormatError('corrupt block entry at byte %d' % pos)
    if keys:
      key = key[:shared] + block[pos:pos + unshared]
    pos += unshared
    yield key, block[pos:pos + length]
    pos += length


def _data_blocks(data: bytes) -> Iterator[bytes]:
  """Yields the contents of each data block of a table file, in order."""
  if len(data) < _FOOTER_SIZE:
    raise FormatError('file of %d bytes is shorter than a table footer' %
                      len(data))
  footer = len(data) - _FOOTER_SIZE
  (magic,) = struct.unpack_from('<Q', data, len(data) - 8)
  if magic != _MAGIC:
    raise FormatError('no table magic number at the end of the file')
  _, pos = _block(data, data, footer)  # The metaindex: unused.
  index, _ = _block(data, data, pos)
  for _, handle in _block_entries(index):
    yield _block(data, handle)[0]


def table_entries(data: bytes,
                  keys: bool = True) -> Iterator[tuple[bytes, bytes]]:
  """Yields the (key, value) entries of a whole table file, in key order.

  Args:
    data: The contents of the table file.
    keys: False to skip rebuilding the keys (each is then b'').

  Raises:
    FormatError: `data` is not an uncompressed table.
  """
  for block in _data_blocks(data):
    yield from _block_entries(block, keys)


def tensor_name(key: bytes) -> str:
  """Returns the tensor name of a bundle key.

  A slice's key is `EncodeTensorNameSlice(name, slice)`
  (saved_tensor_slice_util.cc): OrderedCode's encoding of the number 0 (one
  zero byte), then of the name (0x00 escaped as 00 ff, 0xff as ff 00, ended by
  00 01), then of the slice's extents. Other keys are the name itself.

  Args:
    key: A key of the bundle's table (not the header's empty key).
  """
  if not key.startswith(b'\x00'):
    return key.decode('utf-8', 'replace')
  name = bytearray()
  pos = 1
  while pos < len(key):
    byte = key[pos]
    if byte == 0x00 and key[pos + 1:pos + 2] == b'\x01':
      break
    name.append(byte)
    pos += 2 if byte in (0x00, 0xff) else 1  # Skip the escape's second byte.
  return name.decode('utf-8', 'replace')


def read_index(path: str) -> bytes:
  """Returns the contents of an index file (any `tf.io.gfile` filesystem)."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    return f.read()


def bundle_entries(data: bytes) -> Iterator[tuple[bytes, object]]:
  """Yields (key, `BundleEntryProto`) of each tensor or slice of an index.

  Args:
    data: The contents of the index file.

  Raises:
    FormatError: `data` is not a bundle index.
  """
  _, entry_proto = _tf_compat.tensor_bundle_protos()
  for key, value in table_entries(data):
    if key:
      yield key, _parse(entry_proto, value, key)


def _parse(proto_class: type, value: bytes, key: bytes) -> object:
  try:
    return proto_class.FromString(value)
  except message.DecodeError as e:
    raise FormatError('entry %r is not a %s: %s' %
                      (key, proto_class.__name__, e)) from e


@dataclasses.dataclass(frozen=True)
class Location:
  """Where the bytes of a tensor stored whole, or of rows of it, lie.

  Attributes:
    shard: Its data file's number.
    offset: Its first byte in that file.
    size: Its bytes (the raw little-endian values of a numeric tensor).
    first_row: The tensor's row these bytes start at (0 when whole).
    crc32c: The masked CRC32C of these bytes the index records.
  """

  shard: int
  offset: int
  size: int
  first_row: int = 0
  crc32c: int = 0


def _row_pieces(entry: Any, pieces: list[Any]) -> Optional[list[Location]]:
  """The `Location`s of a tensor stored in slices along axis 0 only, in row
  order, or None (slices along other axes, gaps, or entries that disagree
  with the slices recorded)."""
  full = [d.size for d in entry.shape.dim]
  if not full or len(pieces) != len(entry.slices):
    return None
  extents = []
  for proto in entry.slices:
    dims = list(proto.extent)
    if len(dims) != len(full):
      return None
    for axis in range(1, len(full)):
      extent = dims[axis]
      if extent.HasField('length') and (extent.start, extent.length) != (
          0, full[axis]):
        return None  # Split along another axis too.
    first = dims[0]
    rows = first.length if first.HasField('length') else full[0]
    extents.append((first.start, rows))
  extents.sort()
  found, row = [], 0
  item_size = tf.as_dtype(entry.dtype).size
  row_items = int(np.prod(full[1:], dtype=np.int64))
  for (start, rows), piece in zip(extents, pieces):
    shape = [d.size for d in piece.shape.dim]
    if (start != row or shape != [rows] + full[1:] or
        piece.size != rows * row_items * item_size):
      return None
    found.append(Location(piece.shard_id, piece.offset, piece.size, start,
                          piece.crc32c))
    row += rows
  return found if row == full[0] else None


def locations(data: bytes) -> tuple[int, dict[str, tuple[Location, ...]]]:
  """Where the bytes of every tensor an index stores in row order lie.

  A tensor stored whole has one `Location`; one stored in slices along axis
  0 only (a partitioned variable's save), one per slice, in row order.
  Tensors sliced along other axes are left out, and so is every tensor of
  an index whose header records big-endian values: only tensors whose bytes
  are the raw little-endian values can be read in pieces.

  Args:
    data: The contents of the index file.

  Returns:
    (the number of shards, {tensor name: its `Location`s}).

  Raises:
    FormatError: `data` is not a bundle index or has no header.
  """
  header_proto, entry_proto = _tf_compat.tensor_bundle_protos()
  entries = table_entries(data)
  first = next(entries, None)
  if first is None or first[0]:
    raise FormatError('the index has no header (the empty key comes first)')
  header = _parse(header_proto, first[1], b'')
  if header.endianness != header_proto.LITTLE:
    return header.num_shards, {}
  found: dict[str, tuple[Location, ...]] = {}
  # A tensor's slices, in key order: by first row (the keys order the
  # slices' extents, first the first axis' start). They come first (their
  # keys start with a zero byte).
  slices: dict[str, list[Any]] = {}
  for key, value in entries:
    entry = _parse(entry_proto, value, key)
    name = tensor_name(key)
    if key.startswith(b'\x00'):
      slices.setdefault(name, []).append(entry)
    elif not entry.slices:
      found[name] = (Location(entry.shard_id, entry.offset, entry.size, 0,
                              entry.crc32c),)
    else:
      pieces = _row_pieces(entry, slices.pop(name, []))
      if pieces is not None:
        found[name] = tuple(pieces)
  return header.num_shards, found


def layout(data: bytes) -> Layout:
  """Returns the `Layout` an index records.

  About 2 us per tensor. A partitioned tensor's own entry holds no bytes
  (offset and size 0), so only its slices count.

  Args:
    data: The contents of the index file.

  Raises:
    FormatError: `data` is not a bundle index, has no header, or an entry
      names a shard the header does not have.
  """
  header_proto, entry_proto = _tf_compat.tensor_bundle_protos()
  first = next(table_entries(data), None)
  if first is None or first[0]:
    raise FormatError('the index has no header (the empty key comes first)')
  values = table_entries(data, keys=False)
  num_shards = _parse(header_proto, next(values)[1], b'').num_shards
  needed = [0] * num_shards
  from_string = entry_proto.FromString
  try:
    for _, value in values:
      entry = from_string(value)
      shard = entry.shard_id
      end = entry.offset + entry.size
      if not 0 <= shard < num_shards:
        raise FormatError('an entry is in shard %d, but the header records '
                          '%d shards' % (shard, num_shards))
      if end > needed[shard]:
        needed[shard] = end
  except message.DecodeError as e:
    raise FormatError('an entry is not a BundleEntryProto: %s' % e) from e
  return Layout(num_shards=num_shards, needed=tuple(needed))
