"""Tests of warmstart._sources._index against checkpoints TensorFlow wrote.

Each test writes a checkpoint with TF (Saver, SaveV2, MergeV2Checkpoints,
tf.train.Checkpoint), reads its index with `_index` and compares with what
TF's reader says and with the data files on disk: TF writes the tensors of a
shard back to back, so the bytes a shard needs are exactly its data file's
size.
"""

from __future__ import annotations

import collections
import os
import struct

import numpy as np
import tensorflow as tf

from warmstart._sources import _index
from warmstart import _tf_compat
from tests import test_util


def _save_v2(prefix: str, tensors: dict[str, np.ndarray]) -> None:
  """Writes `tensors` with one eager SaveV2 (fast for thousands)."""
  names = sorted(tensors)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                    shape_and_slices=[''] * len(names),
                    tensors=[tf.constant(tensors[n]) for n in names])


def _index_data(prefix: str) -> bytes:
  return _index.read_index(prefix + '.index')


def _file_sizes(prefix: str, num_shards: int) -> tuple[int, ...]:
  return tuple(
      os.path.getsize(_index.data_file(prefix, shard, num_shards))
      for shard in range(num_shards))


def save_two_shards(directory: str) -> str:
  """Merges two bundles into one of two data files, as a sharded Saver does.

  The second shard holds only an empty tensor.
  """
  first, second = (os.path.join(directory, p) for p in ('part0', 'part1'))
  _save_v2(first, {'a': np.arange(10.), 'b': np.array([b'xyz'])})
  _save_v2(second, {'empty': np.zeros([0, 3], np.float32)})
  prefix = os.path.join(directory, 'merged')
  tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=[first, second],
                                destination_prefix=prefix)
  return prefix


class LayoutTest(tf.test.TestCase):

  def test_one_shard(self):
    prefix, _ = test_util.save_checkpoint(
        self.get_temp_dir(), lambda: tf.compat.v1.get_variable('w', [4, 5]))
    layout = _index.layout(_index_data(prefix))
    self.assertEqual(1, layout.num_shards)
    self.assertEqual(_file_sizes(prefix, 1), layout.needed)
    self.assertEqual(4 * 5 * 4, layout.needed[0])

  def test_merged_bundles(self):
    prefix = save_two_shards(self.get_temp_dir())
    layout = _index.layout(_index_data(prefix))
    self.assertEqual(2, layout.num_shards)
    self.assertEqual(_file_sizes(prefix, 2), layout.needed)
    self.assertEqual(0, layout.needed[1])
    shards = {k: e.shard_id for k, e in _index.bundle_entries(
        _index_data(prefix))}
    self.assertEqual({b'a': 0, b'b': 0, b'empty': 1}, shards)

  def test_many_tensors_span_several_blocks(self):
    # 12000 entries, some with names and values past 127 bytes (two-byte
    # varints): the table has several data blocks (256 KiB each).
    tensors = {'layer_%05d/kernel' % i: np.full([2, 3], i, np.float32)
               for i in range(12000)}
    tensors['x' * 300] = np.arange(7, dtype=np.int64)
    tensors['deep'] = np.zeros([1] * 32, np.float32)  # A 128-byte shape.
    prefix = os.path.join(self.get_temp_dir(), 'many')
    _save_v2(prefix, tensors)
    data = _index_data(prefix)
    self.assertGreater(len(list(_index._data_blocks(data))), 1)
    entries = dict(_index.bundle_entries(data))
    self.assertEqual(set(tensors), {k.decode() for k in entries})
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    self.assertEqual(set(reader.get_variable_to_shape_map()),
                     {k.decode() for k in entries})
    # Back to back, in key order, each of its own size.
    end = 0
    for key, entry in sorted(entries.items(), key=lambda e: e[1].offset):
      self.assertEqual(end, entry.offset, key)
      self.assertEqual(tensors[key.decode()].nbytes, entry.size, key)
      end = entry.offset + entry.size
    layout = _index.layout(data)
    self.assertEqual((end,), layout.needed)
    self.assertEqual(_file_sizes(prefix, 1), layout.needed)

  def test_string_tensors(self):
    words = np.array([b'', b'a', b'\x00\xff' * 100, 'é'.encode()] * 50)
    prefix = os.path.join(self.get_temp_dir(), 'strings')
    _save_v2(prefix, {'words': words, 'n': np.arange(3)})
    layout = _index.layout(_index_data(prefix))
    self.assertEqual(_file_sizes(prefix, 1), layout.needed)
    # Each string costs its bytes plus a length varint, plus a checksum.
    self.assertGreater(layout.needed[0], sum(len(w) for w in words))

  def test_tf2_checkpoint(self):
    directory = self.get_temp_dir()
    checkpoint = tf.train.Checkpoint(
        v=tf.Variable(tf.ones([3, 2])), s=tf.Variable('text'))
    prefix = checkpoint.write(os.path.join(directory, 'tf2'))
    data = _index_data(prefix)
    names = {_index.tensor_name(k) for k, _ in _index.bundle_entries(data)}
    self.assertIn('v/.ATTRIBUTES/VARIABLE_VALUE', names)
    self.assertIn('_CHECKPOINTABLE_OBJECT_GRAPH', names)
    layout = _index.layout(data)
    self.assertEqual(_file_sizes(prefix, layout.num_shards), layout.needed)


class SliceTest(tf.test.TestCase):

  def test_partitioned_variable(self):
    def build():
      tf.compat.v1.get_variable(
          'scope/emb', [10, 4],
          partitioner=tf.compat.v1.fixed_size_partitioner(3))
      tf.compat.v1.get_variable('w', [2])

    prefix, _ = test_util.save_checkpoint(self.get_temp_dir(), build)
    data = _index_data(prefix)
    by_name = collections.defaultdict(list)
    for key, entry in _index.bundle_entries(data):
      by_name[_index.tensor_name(key)].append((key, entry))
    self.assertEqual({'scope/emb', 'w'}, set(by_name))
    emb = by_name['scope/emb']
    # The whole tensor's entry lists the slices and holds no bytes; each
    # slice has its own (encoded) key and bytes.
    whole = [e for k, e in emb if k == b'scope/emb']
    self.assertLen(whole, 1)
    self.assertLen(whole[0].slices, 3)
    self.assertEqual(0, whole[0].size)
    slices = [e for k, e in emb if k != b'scope/emb']
    self.assertLen(slices, 3)
    self.assertEqual(10 * 4 * 4, sum(e.size for e in slices))
    self.assertEqual(_file_sizes(prefix, 1), _index.layout(data).needed)

  def test_locations_of_row_slices(self):
    def build():
      tf.compat.v1.get_variable(
          'scope/emb', [10, 4],
          partitioner=tf.compat.v1.fixed_size_partitioner(3))
      tf.compat.v1.get_variable(
          'cols', [4, 10],
          partitioner=tf.compat.v1.fixed_size_partitioner(2, axis=1))
      tf.compat.v1.get_variable('w', [2])

    prefix, values = test_util.save_checkpoint(self.get_temp_dir(), build)
    num_shards, found = _index.locations(_index_data(prefix))
    self.assertEqual(1, num_shards)
    self.assertEqual({'scope/emb', 'w'}, set(found))  # Not 'cols'.
    self.assertEqual([0, 4, 7], [p.first_row for p in found['scope/emb']])
    self.assertEqual([4 * 4 * 4, 3 * 4 * 4, 3 * 4 * 4],
                     [p.size for p in found['scope/emb']])
    # Each piece holds its rows' values.
    with open(prefix + '.data-00000-of-00001', 'rb') as f:
      data = f.read()
    for piece, stop in zip(found['scope/emb'], (4, 7, 10)):
      rows = np.frombuffer(data[piece.offset:piece.offset + piece.size],
                           np.float32).reshape([-1, 4])
      self.assertAllEqual(values['scope/emb'][piece.first_row:stop], rows)
    (whole,) = found['w']
    self.assertEqual((0, 8), (whole.first_row, whole.size))

  def test_tensor_name_unescapes(self):
    self.assertEqual('plain', _index.tensor_name(b'plain'))
    # OrderedCode: 0, then the name with 00 -> 00 ff and ff -> ff 00, 00 01.
    key = b'\x00' + b'a\x00\xffb\xff\x00c' + b'\x00\x01' + b'\x01\x02'
    self.assertEqual('a\x00b\ufffdc', _index.tensor_name(key))


class FormatErrorTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    prefix, _ = test_util.save_checkpoint(
        self.get_temp_dir(), lambda: tf.compat.v1.get_variable('w', [3]))
    self.data = _index_data(prefix)

  def test_not_a_table(self):
    with self.assertRaisesRegex(_index.FormatError, 'magic'):
      _index.layout(b'not a table' * 10)
    with self.assertRaisesRegex(_index.FormatError, 'shorter than'):
      _index.layout(b'short')

  def test_truncated_index(self):
    with self.assertRaisesRegex(_index.FormatError, 'magic'):
      _index.layout(self.data[:-1])

  def test_compressed_block(self):
    # The first data block's trailer follows its contents.
    index_pos = len(self.data) - 48
    _, pos = _index._block(self.data, self.data, index_pos)
    index, _ = _index._block(self.data, self.data, pos)
    _, handle = next(_index._block_entries(index))
    offset, pos = _index._varint(handle, 0)
    size, _ = _index._varint(handle, pos)
    damaged = bytearray(self.data)
    damaged[offset + size] = 1  # The trailer's type: kSnappyCompression.
    with self.assertRaisesRegex(_index.FormatError, 'compression type 1'):
      _index.layout(bytes(damaged))

  def test_entry_past_its_block(self):
    damaged = bytearray(self.data)
    # The header entry's value length (the third byte of the first entry).
    damaged[2] = 0x7f
    with self.assertRaisesRegex(_index.FormatError, 'corrupt block entry'):
      _index.layout(bytes(damaged))

  def test_shard_out_of_range(self):
    header_proto, entry_proto = _tf_compat.tensor_bundle_protos()
    entry = entry_proto(shard_id=3, offset=0, size=4)
    header = header_proto(num_shards=1)
    table = _table([(b'', header.SerializeToString()),
                    (b'w', entry.SerializeToString())])
    with self.assertRaisesRegex(_index.FormatError, 'shard 3.*1 shards'):
      _index.layout(table)

  def test_no_header(self):
    _, entry_proto = _tf_compat.tensor_bundle_protos()
    table = _table([(b'w', entry_proto(size=4).SerializeToString())])
    with self.assertRaisesRegex(_index.FormatError, 'no header'):
      _index.layout(table)


def _varint(value: int) -> bytes:
  out = bytearray()
  while value >= 0x80:
    out.append(value & 0x7f | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


def _table(entries: list[tuple[bytes, bytes]]) -> bytes:
  """A one-block table of `entries` (no prefix compression), as TF lays out."""
  block = b''.join(
      _varint(0) + _varint(len(k)) + _varint(len(v)) + k + v
      for k, v in entries) + struct.pack('<II', 0, 1)
  trailer = b'\x00\x00\x00\x00\x00'
  handle = _varint(0) + _varint(len(block))
  index = (_varint(0) + _varint(1) + _varint(len(handle)) + b'\xff' + handle +
           struct.pack('<II', 0, 1))
  meta = struct.pack('<II', 0, 1)
  meta_at = len(block) + 5
  index_at = meta_at + len(meta) + 5
  footer = (_varint(meta_at) + _varint(len(meta)) + _varint(index_at) +
            _varint(len(index)))
  footer += b'\x00' * (40 - len(footer)) + struct.pack('<Q', 0xdb4775248b80fb57)
  return block + trailer + meta + trailer + index + trailer + footer


class HandMadeTableTest(tf.test.TestCase):

  def test_reads_a_hand_made_table(self):
    # The test helper above writes the format the module docstring states.
    header_proto, entry_proto = _tf_compat.tensor_bundle_protos()
    table = _table([
        (b'', header_proto(num_shards=2).SerializeToString()),
        (b'a', entry_proto(shard_id=1, offset=10, size=5).SerializeToString()),
        (b'b', entry_proto(shard_id=1, offset=0, size=10).SerializeToString()),
    ])
    self.assertEqual(_index.Layout(num_shards=2, needed=(0, 15)),
                     _index.layout(table))


if __name__ == '__main__':
  tf.test.main()
