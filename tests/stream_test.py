"""Streams: a tensor stored whole is read once, in chunks, for every part.

Each test saves graph A, warm-starts graph B and compares values with numpy
or with TF's own `warm_start` on the same graph; the reads themselves are
counted by wrapping `_stream._reader` (the row ranges each chunk reads).
"""

from __future__ import annotations

import os
import tempfile
import unittest
from unittest import mock

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _sources
from warmstart._restore import _checksums
from warmstart._restore import _stream

_ROWS, _COLS = 96, 8


def _values_initializer(values):
  """An initializer giving each part its block of `values` (any axis)."""
  def initializer(shape, dtype=None, partition_info=None):
    del dtype
    offsets = (partition_info.var_offset if partition_info is not None
               else [0] * len(shape))
    block = values[tuple(slice(o, o + n) for o, n in zip(offsets, shape))]
    return tf.constant(block)
  return initializer


def _streamed_in_three_parts(prefix):
  """Graph B: 'emb' [_ROWS, _COLS] in 3 parts, warm-started from `prefix`
  (built, not run); returns the graph."""
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.get_variable(
        'emb', [_ROWS, _COLS],
        partitioner=tf.compat.v1.fixed_size_partitioner(3))
    warmstart.init_from_checkpoint(prefix, {'emb': 'emb'})
  return graph


def _reads(graph):
  return [op for op in test_util.checkpoint_reads(graph)
          if op.type != 'RestoreV2']


class _RowLog:
  """Wraps `_stream._reader`: the (first, count) of every chunk read."""

  def __init__(self):
    self.ranges = []
    self._real = _stream._reader

  def __call__(self, source, first, count, *args):
    read = self._real(source, first, count, *args)

    def logged(*takes):
      self.ranges.append((first, count))
      return read(*takes)

    return logged

  def rows_read(self):
    return sorted(row for first, count in self.ranges
                  for row in range(first, first + count))


class StreamTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.dir = tempfile.mkdtemp(prefix='stream_source')
    values = np.random.RandomState(0).randn(_ROWS, _COLS)

    def build():
      tf.compat.v1.get_variable('emb', initializer=values.astype(np.float32))
      tf.compat.v1.get_variable('half', initializer=values.astype(np.float16))
      tf.compat.v1.get_variable('bias', initializer=values[:, 0].astype(
          np.float32))

    cls.prefix, cls.ckpt = test_util.save_checkpoint(cls.dir, build)

  def _restore(self, name, shape, parts, dtype=tf.float32,
               max_chunk_bytes=None, **options):
    """Warm-starts `name` (in `parts`) from the same name; values, graph."""
    log = _RowLog()
    with tf.Graph().as_default() as graph:
      variable = tf.compat.v1.get_variable(
          name, shape, dtype=dtype,
          initializer=tf.compat.v1.constant_initializer(7.0),
          partitioner=tf.compat.v1.fixed_size_partitioner(parts))
      with mock.patch.object(_stream, '_reader', log):
        if max_chunk_bytes:
          options['max_chunk_bytes'] = max_chunk_bytes
        warmstart.init_from_checkpoint(self.prefix, {name: name}, **options)
      got = test_util.initialize(graph)
      del variable
    return got[name], graph, log

  def test_every_row_is_read_once_into_every_part(self):
    for parts in (2, 3, 5):
      got, graph, log = self._restore('emb', [_ROWS, _COLS], parts)
      self.assertAllEqual(self.ckpt['emb'], got)
      self.assertEqual(list(range(_ROWS)), log.rows_read(), parts)
      self.assertLen(_reads(graph), parts)  # One chunk per part here.
      self.assertEmpty([op for op in graph.get_operations()
                        if op.type == 'RestoreV2'])

  def test_chunks_are_bounded_and_each_waits_for_the_one_before_last(self):
    row_bytes = _COLS * 4
    got, graph, log = self._restore('emb', [_ROWS, _COLS], 2,
                                    max_chunk_bytes=10 * row_bytes)
    self.assertAllEqual(self.ckpt['emb'], got)
    self.assertEqual(list(range(_ROWS)), log.rows_read())
    self.assertTrue(all(count <= 10 for _, count in log.ranges), log.ranges)
    reads = sorted(_reads(graph), key=lambda op: op.name)
    self.assertLen(reads, 10)  # 48 rows a part: 10 + 10 + 10 + 10 + 8, twice.
    # The third read waits for what the first delivered (two chunks held).
    waits = [[c.name for c in op.control_inputs] for op in reads]
    self.assertEmpty(waits[0])
    self.assertEmpty(waits[1])
    self.assertNotEmpty(waits[2])

  def test_resize_grows_and_shrinks_each_part(self):
    for shape in ([_ROWS + 20, _COLS + 3], [_ROWS - 30, _COLS - 3],
                  [_ROWS + 20, _COLS - 3]):
      got, _, log = self._restore('emb', shape, 4, resize=True)
      expected = np.full(shape, 7.0, np.float32)
      rows, cols = min(shape[0], _ROWS), min(shape[1], _COLS)
      expected[:rows, :cols] = self.ckpt['emb'][:rows, :cols]
      self.assertAllEqual(expected, got, shape)
      self.assertEqual(list(range(rows)), log.rows_read(), shape)

  def test_cast_and_1d(self):
    got, _, _ = self._restore('half', [_ROWS, _COLS], 3, cast=True)
    self.assertAllEqual(self.ckpt['half'].astype(np.float32), got)
    got, _, log = self._restore('bias', [_ROWS], 4)
    self.assertAllEqual(self.ckpt['bias'], got)
    self.assertEqual(list(range(_ROWS)), log.rows_read())

  def test_ref_variables_are_read_as_before(self):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable(
          'emb', [_ROWS, _COLS], use_resource=False,
          partitioner=tf.compat.v1.fixed_size_partitioner(3))
      warmstart.init_from_checkpoint(self.prefix, {'emb': 'emb'})
      got = test_util.initialize(graph)
    self.assertAllEqual(self.ckpt['emb'], got['emb'])
    self.assertEmpty(_reads(graph))

  def _damaged(self, partitions):
    """A checkpoint whose 'emb' has one flipped byte (row 50), planned and
    built before the damage; returns the graph."""
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable(
            'emb', [_ROWS, _COLS], partitioner=(
                tf.compat.v1.fixed_size_partitioner(partitions)
                if partitions else None)))
    graph = _streamed_in_three_parts(prefix)
    self.assertNotEmpty(_reads(graph))
    [(path, offset, _, first, _)] = [
        p for p in _sources.data_pieces(prefix, 'emb')
        if p[3] <= 50 < p[3] + p[2] // (_COLS * 4)]
    with open(path, 'r+b') as f:
      f.seek(offset + (50 - first) * _COLS * 4 + 5)
      byte = f.read(1)
      f.seek(-1, os.SEEK_CUR)
      f.write(bytes([byte[0] ^ 0x10]))
    return graph

  @unittest.skipUnless(_checksums.crc32c(), 'google-crc32c is not installed')
  def test_a_damaged_data_file_fails_the_read_as_restore_does(self):
    for partitions in (None, 4):  # Stored whole; in slices.
      graph = self._damaged(partitions)
      with self.assertRaisesRegex(
          tf.errors.InvalidArgumentError,
          r"Checksum mismatch reading tensor 'emb' of checkpoint .*: bytes "
          r'\[\d+, \d+\) of .*data-00000-of-00001 have CRC32C'):
        with graph.as_default():
          test_util.initialize(graph)

  @unittest.skipUnless(_checksums.crc32c(), 'google-crc32c is not installed')
  def test_crc32c_combine(self):
    crc32c = _checksums.crc32c()
    rng = np.random.RandomState(0)
    data = rng.bytes(100_000)
    for cut in (0, 1, 7, 4096, 65_537, 100_000):
      a, b = data[:cut], data[cut:]
      self.assertEqual(
          crc32c.value(data),
          _checksums.crc32c_combine(crc32c.value(a), crc32c.value(b), len(b)),
          cut)

  def test_checksums_hold_on_every_run(self):
    got, graph, _ = self._restore('emb', [_ROWS, _COLS], 3)
    with graph.as_default(), tf.compat.v1.Session() as sess:
      for _ in range(2):
        sess.run(tf.compat.v1.global_variables_initializer())

  def test_a_data_file_cut_after_the_plan_fails_the_read_naming_it(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('emb', [_ROWS, _COLS]))
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable(
          'emb', [_ROWS, _COLS],
          partitioner=tf.compat.v1.fixed_size_partitioner(2))
      warmstart.init_from_checkpoint(prefix, {'emb': 'emb'})
      data = prefix + '.data-00000-of-00001'
      with open(data, 'r+b') as f:
        f.truncate(os.path.getsize(data) // 2)
      with self.assertRaisesRegex(
          Exception, 'Read \\d+ of \\d+ bytes at byte \\d+ of %s: the data '
          'file is shorter than its index says' % data):
        test_util.initialize(graph)


class SlicedStreamTest(tf.test.TestCase):
  """A checkpoint of a partitioned variable (stored in slices along axis 0)
  is streamed too: each stored slice read once, whatever the parts now."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.dir = tempfile.mkdtemp(prefix='stream_slices')
    values = np.random.RandomState(3).randn(_ROWS, _COLS).astype(np.float32)

    def build():
      tf.compat.v1.get_variable(
          'emb', [_ROWS, _COLS], initializer=_values_initializer(values),
          partitioner=tf.compat.v1.fixed_size_partitioner(4))
      tf.compat.v1.get_variable(
          'cols', [_ROWS, _COLS], initializer=_values_initializer(values),
          partitioner=tf.compat.v1.fixed_size_partitioner(2, axis=1))

    cls.prefix, _ = test_util.save_checkpoint(cls.dir, build)
    cls.values = values

  def _restore(self, module, name, shape, parts, **options):
    log = _RowLog()
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable(
          name, shape, initializer=tf.compat.v1.constant_initializer(7.0),
          partitioner=tf.compat.v1.fixed_size_partitioner(parts))
      with mock.patch.object(_stream, '_reader', log):
        module.init_from_checkpoint(self.prefix, {name: name}, **options)
      got = test_util.initialize(graph)
    return got[name], graph, log

  def test_the_index_gives_each_slice_in_row_order(self):
    pieces = _sources.data_pieces(self.prefix, 'emb')
    self.assertEqual([0, 24, 48, 72], [row for _, _, _, row, _ in pieces])
    self.assertEqual([24 * _COLS * 4] * 4,
                     [size for _, _, size, _, _ in pieces])
    self.assertIsNone(_sources.data_pieces(self.prefix, 'cols'))

  def test_repartitioned_like_tf_each_row_read_once(self):
    for parts in (3, 7, 8):
      expected, _, _ = self._restore(tf.compat.v1.train, 'emb',
                                     [_ROWS, _COLS], parts)
      got, graph, log = self._restore(warmstart, 'emb', [_ROWS, _COLS],
                                      parts)
      self.assertAllEqual(self.values, expected, parts)
      self.assertAllEqual(expected, got, parts)
      self.assertEqual(list(range(_ROWS)), log.rows_read(), parts)
      # A chunk never spans two stored slices (each chunk is one read).
      for first, count in log.ranges:
        self.assertEqual(first // 24, (first + count - 1) // 24, log.ranges)
      self.assertEmpty([op for op in graph.get_operations()
                        if op.type == 'RestoreV2'])

  def test_parts_sharing_no_slice_take_one_batched_read(self):
    for parts in (2, 4):  # Each stored slice within one part.
      got, graph, log = self._restore(warmstart, 'emb', [_ROWS, _COLS], parts)
      self.assertAllEqual(self.values, got, parts)
      self.assertEmpty(log.ranges, parts)
      self.assertLen([op for op in graph.get_operations()
                      if op.type == 'RestoreV2'], 1, parts)

  def test_a_checkpoint_rewritten_after_the_build_fails_the_read(self):
    directory = self.create_tempdir().full_path
    build = lambda rows: lambda: tf.compat.v1.get_variable(
        'emb', [rows, _COLS],
        partitioner=tf.compat.v1.fixed_size_partitioner(4))
    prefix, _ = test_util.save_checkpoint(directory, build(_ROWS))
    graph = _streamed_in_three_parts(prefix)
    self.assertNotEmpty(_reads(graph))
    # The same prefix now holds 'emb' in other slices: its bytes moved.
    again, _ = test_util.save_checkpoint(directory, build(_ROWS + 8))
    self.assertEqual(prefix, again)
    with graph.as_default(), self.assertRaisesRegex(
        tf.errors.InvalidArgumentError,
        r"Tensor 'emb' of checkpoint .* changed since the warm start was "
        r'built \(stored as 4 piece\(s\) of 3072 bytes then, 4 piece\(s\) '
        r'of 3328 bytes now\)'):
      test_util.initialize(graph)

  def test_a_checkpoint_gone_after_the_build_fails_the_read(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable(
            'emb', [_ROWS, _COLS],
            partitioner=tf.compat.v1.fixed_size_partitioner(4)))
    graph = _streamed_in_three_parts(prefix)
    self.assertNotEmpty(_reads(graph))
    os.remove(prefix + '.index')
    with graph.as_default(), self.assertRaisesRegex(
        tf.errors.InvalidArgumentError,
        r"Tensor 'emb' of checkpoint .* changed since the warm start was "
        r'built \(stored as 4 piece\(s\) of 3072 bytes then, not readable '
        r'in pieces now\)'):
      test_util.initialize(graph)

  def test_a_checkpoint_rewritten_in_place_loads_its_new_values(self):
    # The same layout, other values (and checksums): read as RestoreV2 would.
    directory = self.create_tempdir().full_path
    build = lambda: tf.compat.v1.get_variable(
        'emb', [_ROWS, _COLS],
        partitioner=tf.compat.v1.fixed_size_partitioner(4))
    prefix, _ = test_util.save_checkpoint(directory, build)
    graph = _streamed_in_three_parts(prefix)
    self.assertNotEmpty(_reads(graph))
    _, values = test_util.save_checkpoint(directory, build, seed=7)
    with graph.as_default():
      self.assertAllEqual(values['emb'], test_util.initialize(graph)['emb'])

  def test_resized_from_slices(self):
    got, _, log = self._restore(warmstart, 'emb', [_ROWS - 10, _COLS + 2], 3,
                                resize=True)
    expected = np.full([_ROWS - 10, _COLS + 2], 7.0, np.float32)
    expected[:, :_COLS] = self.values[:_ROWS - 10]
    self.assertAllEqual(expected, got)
    self.assertEqual(list(range(_ROWS - 10)), log.rows_read())

  def test_slices_along_another_axis_are_read_as_before(self):
    got, graph, _ = self._restore(warmstart, 'cols', [_ROWS, _COLS], 3)
    self.assertAllEqual(self.values, got)
    self.assertEmpty(_reads(graph))


class VocabStreamTest(tf.test.TestCase):
  """Vocabulary remaps streamed: bit-identical to TF's `warm_start`."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.dir = tempfile.mkdtemp(prefix='vocab_stream')
    os.makedirs(cls.dir, exist_ok=True)
    rows = 200
    old = ['tok%d' % i for i in range(rows)]
    rng = np.random.RandomState(1)
    new = list(rng.permutation(old)[:180]) + ['new%d' % i for i in range(20)]
    cls.old_vocab = os.path.join(cls.dir, 'old.txt')
    cls.new_vocab = os.path.join(cls.dir, 'new.txt')
    with open(cls.old_vocab, 'w') as f:
      f.write('\n'.join(old) + '\n')
    with open(cls.new_vocab, 'w') as f:
      f.write('\n'.join(new) + '\n')
    values = np.random.RandomState(2).randn(rows, 6).astype(np.float32)

    def build():
      tf.compat.v1.get_variable('emb', initializer=values)
      tf.compat.v1.get_variable('emb/Adagrad', initializer=values * 2,
                                trainable=False)
      tf.compat.v1.get_variable('out', initializer=values.T * 3)

    cls.prefix, cls.ckpt = test_util.save_checkpoint(cls.dir, build)

  def _run(self, module, parts, backup, old_vocab_size=-1, prefix=None):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(5)
      emb = tf.compat.v1.get_variable(
          'emb', [202, 6], initializer=tf.compat.v1.ones_initializer(),
          partitioner=(tf.compat.v1.fixed_size_partitioner(parts)
                       if parts > 1 else None))
      info = module.VocabInfo(self.new_vocab, 200, 2, self.old_vocab,
                              old_vocab_size=old_vocab_size,
                              backup_initializer=backup)
      module.warm_start(prefix or self.prefix, 'emb',
                        var_name_to_vocab_info={'emb': info})
      got = test_util.initialize(graph)
      del emb
    return got['emb'], graph

  def test_bit_identical_to_tf(self):
    for parts in (1, 3, 8):
      for backup in (tf.compat.v1.zeros_initializer(),
                     tf.compat.v1.random_normal_initializer(seed=3)):
        for old_vocab_size in (-1, 150):
          expected, _ = self._run(tf.compat.v1.train, parts, backup,
                                  old_vocab_size)
          got, graph = self._run(warmstart, parts, backup, old_vocab_size)
          case = (parts, type(backup).__name__, old_vocab_size)
          self.assertAllEqual(expected, got, case)
          self.assertNotEmpty(_reads(graph), case)
          self.assertEmpty([op for op in graph.get_operations()
                            if op.type == 'LoadAndRemapMatrix'], case)

  def _run_columns(self, module, parts, backup, oov=2, log=None):
    """An output layer [6, 200 + oov] remapped along axis 1, in `parts`."""
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(5)
      tf.compat.v1.get_variable(
          'out', [6, 200 + oov], initializer=tf.compat.v1.ones_initializer(),
          partitioner=tf.compat.v1.fixed_size_partitioner(parts))
      info = module.VocabInfo(self.new_vocab, 200, oov, self.old_vocab,
                              backup_initializer=backup, axis=1)
      with mock.patch.object(_stream, '_reader', log or _RowLog()):
        self.plan = module.warm_start(self.prefix, 'out',
                                      var_name_to_vocab_info={'out': info})
      return test_util.initialize(graph)['out'], graph

  def test_columns_bit_identical_to_tf_each_row_read_once(self):
    for parts in (2, 3):
      for oov in (0, 2):
        for backup in (tf.compat.v1.zeros_initializer(),
                       tf.compat.v1.random_normal_initializer(seed=3)):
          case = (parts, oov, type(backup).__name__)
          expected, _ = self._run_columns(tf.compat.v1.train, parts, backup,
                                          oov)
          log = _RowLog()
          got, graph = self._run_columns(warmstart, parts, backup, oov, log)
          self.assertAllEqual(expected, got, case)
          self.assertEqual(list(range(6)), log.rows_read(), case)
          # The plan says so: the tensor's bytes once (TF: once a part).
          self.assertEqual(6 * 200 * 4, self.plan.entry('out').read_bytes)
          self.assertEmpty([op for op in graph.get_operations()
                            if op.type in ('LoadAndRemapMatrix', 'RestoreV2')],
                           case)

  def test_columns_with_an_initializer_tf_cannot_call(self):
    # Glorot needs a static shape: each part takes TF's structure, by
    # position, as without a stream (`vocab_test` checks those values).
    got, _ = self._run_columns(warmstart, 3,
                               tf.compat.v1.glorot_uniform_initializer())
    old = {t: i for i, t in enumerate(open(self.old_vocab).read().split())}
    for i, token in enumerate(open(self.new_vocab).read().split()):
      if token in old:
        self.assertAllEqual(self.ckpt['out'][:, old[token]], got[:, i])

  def test_from_a_checkpoint_in_slices(self):
    directory = self.create_tempdir().full_path
    values = self.ckpt['emb']
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable(
            'emb', values.shape, initializer=_values_initializer(values),
            partitioner=tf.compat.v1.fixed_size_partitioner(4)))
    backup = tf.compat.v1.random_normal_initializer(seed=3)
    for parts in (3, 8):
      expected, _ = self._run(tf.compat.v1.train, parts, backup, prefix=prefix)
      got, graph = self._run(warmstart, parts, backup, prefix=prefix)
      self.assertAllEqual(expected, got, parts)
      self.assertNotEmpty(_reads(graph), parts)
      self.assertEmpty([op for op in graph.get_operations()
                        if op.type in ('LoadAndRemapMatrix', 'RestoreV2')])

  def test_one_remapping_for_a_variable_and_its_slot(self):
    with tf.Graph().as_default() as graph:
      emb = tf.compat.v1.get_variable(
          'emb', [202, 6], partitioner=tf.compat.v1.fixed_size_partitioner(3))
      loss = tf.reduce_sum(emb.as_tensor())
      tf.compat.v1.train.AdagradOptimizer(0.1).minimize(loss)
      info = warmstart.VocabInfo(self.new_vocab, 200, 2, self.old_vocab)
      warmstart.warm_start(self.prefix, 'emb', var_name_to_vocab_info={
          'emb': info}, optimizer_state='matching')
      got = test_util.initialize(graph)
    remaps = [op for op in graph.get_operations()
              if op.name.endswith('vocab_remapping')]
    self.assertLen(remaps, 1)
    self.assertEmpty([op for op in graph.get_operations()
                      if op.type == 'GenerateVocabRemapping'])
    old = {t: i for i, t in enumerate(
        open(self.old_vocab).read().split())}
    new = open(self.new_vocab).read().split()
    for i, token in enumerate(new):
      if token in old:
        self.assertAllEqual(self.ckpt['emb'][old[token]], got['emb'][i])
        self.assertAllEqual(self.ckpt['emb/Adagrad'][old[token]],
                            got['emb/Adagrad'][i])


if __name__ == '__main__':
  tf.test.main()
