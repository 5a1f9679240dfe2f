"""Fault tests of warmstart._sources._checkpoint: damaged sources, named.

Each test saves a checkpoint with TF, damages it as a user's copy can be
damaged (a data file deleted or cut short, the checkpoint a state file names
deleted, the state file rewritten), and asserts that `make_plan` and
`init_from_checkpoint` raise at the call, before any op or session, naming
the file and what would be valid. Undamaged checkpoints of each kind (several
shards, partitioned variables, strings, TF2, `ram://`) still warm-start with
the saved values.
"""

from __future__ import annotations

import os
import re
from unittest import mock

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from warmstart._sources import _checkpoint
from warmstart._sources import _index
from tests import test_util

_DATA = '.data-00000-of-00001'


# Each builder makes its variables and returns {checkpoint name: what to
# fetch for its value}.


def _build_small():
  return {
      'dense/kernel': tf.compat.v1.get_variable('dense/kernel', [20, 30]),
      'dense/bias': tf.compat.v1.get_variable('dense/bias', [30]),
  }


def _build_sharded():
  """Variables on two devices: `Saver(sharded=True)` writes a file for each."""
  with tf.device('/job:localhost/replica:0/task:0/device:CPU:0'):
    w = tf.compat.v1.get_variable('cpu0/w', [30, 7])
    words = tf.compat.v1.Variable(['a', 'bb', 'ccc' * 50], name='cpu0/words')
  with tf.device('/job:localhost/replica:0/task:0/device:CPU:1'):
    emb = tf.compat.v1.get_variable(
        'cpu1/emb', [11, 3],
        partitioner=tf.compat.v1.fixed_size_partitioner(3))
    b = tf.compat.v1.get_variable('cpu1/b', [5], dtype=tf.float64)
  return {'cpu0/w': w, 'cpu0/words': words, 'cpu1/emb': emb.as_tensor(),
          'cpu1/b': b}


def _session_config():
  return tf.compat.v1.ConfigProto(device_count={'CPU': 2})


def _save_sharded(directory: str) -> tuple[str, dict[str, np.ndarray]]:
  """Saves `_build_sharded` in two data files; returns prefix and values."""
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(1)
    _build_sharded()
    saver = tf.compat.v1.train.Saver(sharded=True)
    with tf.compat.v1.Session(config=_session_config()) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      prefix = saver.save(sess, os.path.join(directory, 'model.ckpt'))
  reader = tf.compat.v1.train.NewCheckpointReader(prefix)
  return prefix, {n: reader.get_tensor(n)
                  for n in reader.get_variable_to_shape_map()}


def _pattern(*parts: str) -> str:
  return '.*'.join(re.escape(p) for p in parts)


class _FaultTestCase(tf.test.TestCase):

  def assertFailsAtCall(self, source, build, *parts,
                        tf_class=tf.errors.OpError):
    """Both entry points raise naming `parts` and add no op to the graph.

    The error is a `CheckpointNotFoundError` and a `tf_class`, the error TF
    raises for the same fault.
    """
    for entry_point in (warmstart.make_plan, warmstart.init_from_checkpoint):
      with tf.Graph().as_default() as graph:
        build()
        num_ops = len(graph.get_operations())
        with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                    _pattern(*parts)) as cm:
          entry_point(source, {'/': '/'})
        self.assertIsInstance(cm.exception, tf_class)
        self.assertLen(graph.get_operations(), num_ops,
                       '%s added ops' % entry_point.__name__)

  def assertWarmStarts(self, source, build, values, assignment_map=None,
                       config=None):
    """`init_from_checkpoint` restores `values` (checkpoint name: value)."""
    with tf.Graph().as_default() as graph:
      fetches = build()
      warmstart.init_from_checkpoint(source, assignment_map or {'/': '/'})
      with tf.compat.v1.Session(graph=graph, config=config) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        got = sess.run({name: fetches[name] for name in values})
    self.assertNotEmpty(values)
    for name, expected in values.items():
      if expected.dtype == object:
        self.assertAllEqual(expected, got[name])
      else:
        self.assertAllClose(expected, got[name])


class DataFileTest(_FaultTestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.prefix, self.values = test_util.save_checkpoint(
        self.dir, _build_small, global_step=100)
    self.data = self.prefix + _DATA
    self.size = os.path.getsize(self.data)
    self.assertEqual((20 * 30 + 30) * 4, self.size)

  def test_undamaged_loads(self):
    self.assertWarmStarts(self.prefix, _build_small, self.values)
    self.assertWarmStarts(self.dir, _build_small, self.values)

  def test_missing_data_file(self):
    os.remove(self.data)
    for source in (self.prefix, self.dir, self.prefix + '.index'):
      self.assertFailsAtCall(
          source, _build_small, repr(self.prefix), 'is incomplete',
          'data file %r is missing' % self.data,
          'places %d bytes in it' % self.size, "'dense/bias', 'dense/kernel'",
          'records 1 data file; present: (none)', 'Copy the checkpoint again',
          tf_class=tf.errors.NotFoundError)

  def test_truncated_data_file(self):
    os.truncate(self.data, 1000)
    self.assertFailsAtCall(
        self.prefix, _build_small,
        'data file %r is 1000 bytes, expected at least %d' % (self.data,
                                                              self.size),
        "cut off: 'dense/kernel'", tf_class=tf.errors.OutOfRangeError)

  def test_short_by_one_byte(self):
    os.truncate(self.data, self.size - 1)
    self.assertFailsAtCall(
        self.prefix, _build_small,
        'is %d bytes, expected at least %d' % (self.size - 1, self.size),
        tf_class=tf.errors.OutOfRangeError)

  def test_empty_data_file(self):
    os.truncate(self.data, 0)
    self.assertFailsAtCall(self.prefix, _build_small, 'is 0 bytes',
                           "cut off: 'dense/bias', 'dense/kernel'")

  def test_longer_data_file_loads(self):
    with open(self.data, 'ab') as f:
      f.write(b'\0' * 10)
    self.assertWarmStarts(self.prefix, _build_small, self.values)

  def test_data_file_of_another_shard_count(self):
    renamed = self.prefix + '.data-00000-of-00002'
    os.rename(self.data, renamed)
    self.assertFailsAtCall(
        self.prefix, _build_small, 'data file %r is missing' % self.data,
        "present: 'model.ckpt-100.data-00000-of-00002'")

  def test_truncated_after_the_index_was_read(self):
    spy = mock.patch.object(tf.compat.v1.train, 'NewCheckpointReader',
                            wraps=tf.compat.v1.train.NewCheckpointReader)
    with spy as reader:
      self.assertEqual(self.prefix, _checkpoint.load(self.prefix).prefix)
      with open(self.data, 'rb') as f:
        original = f.read()
      os.truncate(self.data, 8)
      with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                  _pattern('is 8 bytes', str(self.size))):
        _checkpoint.load(self.prefix)
      with open(self.data, 'r+b') as f:  # Restore the file, in place.
        f.seek(8)
        f.write(original[8:])
      self.assertEqual(self.prefix, _checkpoint.load(self.prefix).prefix)
      # The index was read once: the data files are checked on each load.
      self.assertEqual(1, reader.call_count)
    self.assertWarmStarts(self.prefix, _build_small, self.values)

  def test_saved_model_variables(self):
    export_dir = os.path.join(self.create_tempdir().full_path, 'export')
    with tf.Graph().as_default():
      x = tf.compat.v1.placeholder(tf.float32, [None, 20], name='x')
      _build_small()
      kernel = tf.compat.v1.trainable_variables()[0]
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.saved_model.simple_save(
            sess, export_dir, inputs={'x': x},
            outputs={'y': tf.matmul(x, kernel)})
    data = os.path.join(export_dir, 'variables', 'variables' + _DATA)
    os.truncate(data, 16)
    self.assertFailsAtCall(export_dir, _build_small,
                           repr(export_dir), 'data file %r is 16 bytes' % data)


class ShardedTest(_FaultTestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.prefix, self.values = _save_sharded(self.dir)
    self.shards = [self.prefix + '.data-0000%d-of-00002' % i for i in (0, 1)]

  def test_undamaged_loads(self):
    self.assertEqual({'cpu0/w', 'cpu0/words', 'cpu1/emb', 'cpu1/b'},
                     set(self.values))  # TF's reader joins the slices.
    self.assertWarmStarts(self.prefix, _build_sharded, self.values,
                          config=_session_config())

  def test_missing_second_shard(self):
    os.remove(self.shards[1])
    self.assertFailsAtCall(
        self.prefix, _build_sharded, 'data file %r is missing' % self.shards[1],
        "'cpu1/b', 'cpu1/emb'", 'records 2 data files',
        "present: 'model.ckpt.data-00000-of-00002'")

  def test_both_shards_damaged(self):
    os.truncate(self.shards[0], 3)
    os.remove(self.shards[1])
    # The first file's fault decides, as TF's restore reads them in order.
    self.assertFailsAtCall(
        self.prefix, _build_sharded,
        'data file %r is 3 bytes' % self.shards[0], "'cpu0/w', 'cpu0/words'",
        'data file %r is missing' % self.shards[1],
        tf_class=tf.errors.OutOfRangeError)

  def test_truncated_partitioned_variable(self):
    # The slices of cpu1/emb come after cpu1/b in the second data file.
    size = os.path.getsize(self.shards[1])
    os.truncate(self.shards[1], size - 4)
    self.assertFailsAtCall(
        self.prefix, _build_sharded,
        'data file %r is %d bytes, expected at least %d' % (
            self.shards[1], size - 4, size), "cut off: 'cpu1/emb'")


class EmptyShardTest(_FaultTestCase):

  def test_missing_file_of_an_empty_tensor(self):
    # TF's reader opens a data file even to read an empty tensor from it.
    directory = self.create_tempdir().full_path
    parts = [os.path.join(directory, 'part%d' % i) for i in (0, 1)]
    tensors = ({'w': tf.ones([3])}, {'empty': tf.zeros([0, 2])})
    for part, saved in zip(parts, tensors):
      tf.raw_ops.SaveV2(prefix=part, tensor_names=list(saved),
                        shape_and_slices=[''], tensors=list(saved.values()))
    prefix = os.path.join(directory, 'merged')
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts,
                                  destination_prefix=prefix)

    def build():
      return {'w': tf.compat.v1.get_variable('w', [3]),
              'empty': tf.compat.v1.get_variable('empty', [0, 2])}

    self.assertWarmStarts(prefix, build, {'w': np.ones(3),
                                          'empty': np.zeros([0, 2])})
    second = prefix + '.data-00001-of-00002'
    self.assertEqual(0, os.path.getsize(second))
    os.remove(second)
    self.assertFailsAtCall(prefix, build, 'data file %r is missing' % second,
                           "places 0 bytes in it: 'empty'")


class StringsAndTf2Test(_FaultTestCase):

  def test_strings(self):
    def build():
      return {
          'words': tf.compat.v1.Variable(
              [b'', b'x' * 300, 'é'.encode()] * 20, name='words'),
          'w': tf.compat.v1.get_variable('w', [3]),
      }

    directory = self.create_tempdir().full_path
    prefix, values = test_util.save_checkpoint(directory, build)
    self.assertWarmStarts(prefix, build, values)
    data = prefix + _DATA
    os.truncate(data, os.path.getsize(data) - 1)
    self.assertFailsAtCall(prefix, build, 'cut off: ', "'words'")

  def test_tf2_checkpoint_written_eagerly(self):
    self.assertTrue(tf.executing_eagerly())
    saved = tf.train.Checkpoint(kernel=tf.Variable(np.arange(6.).reshape(2, 3)))
    prefix = saved.write(
        os.path.join(self.create_tempdir().full_path, 'tf2'))
    name = 'kernel/.ATTRIBUTES/VARIABLE_VALUE'

    def build():
      return {name: tf.compat.v1.get_variable('kernel', [2, 3],
                                              dtype=tf.float64)}

    self.assertWarmStarts(prefix, build, {name: np.arange(6.).reshape(2, 3)},
                          assignment_map={name: 'kernel'})
    os.remove(prefix + _DATA)
    self.assertFailsAtCall(prefix, build, 'data file %r is missing' % (
        prefix + _DATA), repr(name))

  def test_tf2_object_graph_damaged_in_place(self):
    # The data file keeps its size: only the checksum TF checks at the read
    # tells. TF's reader raises a bare OpError naming no file; ours names
    # the checkpoint, as a DataLossError (an OpError).
    prefix = tf.train.Checkpoint(v=tf.Variable([1., 2.])).write(
        os.path.join(self.create_tempdir().full_path, 'tf2'))
    index = _index.read_index(prefix + '.index')
    entry = dict(_index.bundle_entries(index))[b'_CHECKPOINTABLE_OBJECT_GRAPH']
    with open(prefix + _DATA, 'r+b') as f:
      f.seek(entry.offset + 3)
      byte = f.read(1)
      f.seek(entry.offset + 3)
      f.write(bytes([byte[0] ^ 0xff]))
    with self.assertRaises(tf.errors.OpError):
      tf.train.load_checkpoint(prefix).get_tensor(
          '_CHECKPOINTABLE_OBJECT_GRAPH')

    def build():
      return {'v': tf.compat.v1.get_variable('v', [2])}

    for entry_point in (warmstart.make_plan, warmstart.init_from_checkpoint):
      with tf.Graph().as_default():
        build()
        with self.assertRaisesRegex(
            tf.errors.DataLossError,
            _pattern("Cannot read the object graph (tensor "
                     "'_CHECKPOINTABLE_OBJECT_GRAPH') of checkpoint %r" %
                     prefix, 'checksum', 'copy the checkpoint again')) as cm:
          entry_point(prefix, {'v': 'v'})
      self.assertIsInstance(cm.exception, warmstart.CheckpointNotFoundError)


class StateFileTest(_FaultTestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.values = {}
    for step in (3, 5, 7):
      prefix, self.values[step] = test_util.save_checkpoint(
          self.dir, _build_small, global_step=step, seed=step)
      # Newest last, whatever the filesystem's timestamp resolution.
      os.utime(prefix + '.index', ns=(step * 10**9, step * 10**9))
    self.state = os.path.join(self.dir, 'checkpoint')
    self.assertEqual(os.path.join(self.dir, 'model.ckpt-7'),
                     tf.train.latest_checkpoint(self.dir))

  def _delete(self, name):
    for f in os.listdir(self.dir):
      if f.startswith(name + '.'):
        os.remove(os.path.join(self.dir, f))

  def test_state_file_names_a_deleted_checkpoint(self):
    self._delete('model.ckpt-7')
    self.assertFailsAtCall(
        self.dir, _build_small, repr(self.dir),
        'state file %r names %r' % (self.state, 'model.ckpt-7'),
        'does not exist',
        "newest first: 'model.ckpt-5', 'model.ckpt-3'",
        'Pass one explicitly, e.g. %r' % os.path.join(self.dir,
                                                      'model.ckpt-5'))

  def test_newest_by_time_not_by_name(self):
    self._delete('model.ckpt-7')
    os.utime(os.path.join(self.dir, 'model.ckpt-3.index'), ns=(10**10,) * 2)
    self.assertFailsAtCall(self.dir, _build_small,
                           "newest first: 'model.ckpt-3', 'model.ckpt-5'")

  def test_state_file_rewritten_to_an_older_checkpoint(self):
    with open(self.state, 'w') as f:
      f.write('model_checkpoint_path: "model.ckpt-3"\n')
    self.assertEqual(os.path.join(self.dir, 'model.ckpt-3'),
                     _checkpoint.load(self.dir).prefix)
    self.assertWarmStarts(self.dir, _build_small, self.values[3])

  def test_state_file_rewritten_with_garbage(self):
    with open(self.state, 'w') as f:
      f.write('this is { not a state file')
    self.assertFailsAtCall(
        self.dir, _build_small, 'state file %r cannot be parsed' % self.state,
        "newest first: 'model.ckpt-7', 'model.ckpt-5', 'model.ckpt-3'")

  def test_state_file_naming_nothing(self):
    with open(self.state, 'w') as f:
      f.write('all_model_checkpoint_paths: "model.ckpt-5"\n')
    self.assertFailsAtCall(self.dir, _build_small,
                           'state file %r names no checkpoint' % self.state,
                           "'model.ckpt-7'")

  def test_state_file_deleted(self):
    os.remove(self.state)
    self.assertFailsAtCall(self.dir, _build_small,
                           'no "checkpoint" state file',
                           "newest first: 'model.ckpt-7'")

  def test_every_checkpoint_deleted(self):
    for step in (3, 5, 7):
      self._delete('model.ckpt-%d' % step)
    self.assertFailsAtCall(self.dir, _build_small, "names 'model.ckpt-7'",
                           'holds no checkpoint files')


def _save_v1(directory: str, value: float) -> str:
  """Saves a V1 checkpoint of one variable `w` filled with `value`."""
  os.makedirs(directory, exist_ok=True)
  with tf.Graph().as_default():
    tf.compat.v1.get_variable(
        'w', [2], initializer=tf.compat.v1.constant_initializer(value))
    saver = tf.compat.v1.train.Saver(
        write_version=tf.compat.v1.train.SaverDef.V1)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      return saver.save(sess, os.path.join(directory, 'model.ckpt'))


class GlobCharacterTest(_FaultTestCase, parameterized.TestCase):
  """TF's readers look a prefix's files up with the prefix as a glob pattern.

  A glob character that makes the path match no file is refused at the call,
  naming the character, the checkpoint and what to do; one that still
  matches the file itself (`*`, `?`, a lone `[`) is read, as TF reads it.
  """

  def _save(self, *names):
    """Saves `_build_small` under `names`; returns directory, prefix, values.

    The values come from the session (TF's reader cannot open some of these
    paths: what the tests are about).
    """
    directory = os.path.join(self.create_tempdir().full_path, *names)
    os.makedirs(directory, exist_ok=True)
    with tf.Graph().as_default():
      tf.compat.v1.set_random_seed(1)
      fetches = _build_small()
      saver = tf.compat.v1.train.Saver()
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        values = sess.run(fetches)
        prefix = saver.save(sess, os.path.join(directory, 'model.ckpt'))
    return directory, prefix, values

  @parameterized.named_parameters(
      ('bracket_expression', 'run[1]', "character '['"),
      ('bracket_range', 'lr[0-9]', "character '['"),
      ('backslash', 'a\\b', "character '\\\\'"),
      ('two_characters', 'a*b[12]', "characters '*' and '['"))
  def test_refused_at_the_call(self, name, named):
    directory, prefix, _ = self._save(name)
    for source in (prefix, directory, prefix + '.index'):
      self.assertFailsAtCall(
          source, _build_small, 'Checkpoint %r' % prefix,
          'exists, but TensorFlow cannot read it',
          'holds the glob %s, and' % named, 'matches no file',
          'Rename the directory (or the files) without %s,' %
          named.split(' ', 1)[1],
          "copy the checkpoint (its .index and every .data-* file) to a path "
          "without any of '*', '?', '[' or '\\\\', and pass that path.",
          tf_class=tf.errors.NotFoundError)

  @parameterized.named_parameters(('bracket', 'export[1]'),
                                  ('backslash', 'export\\1'))
  def test_saved_model_refused_at_the_call(self, name):
    export_dir = os.path.join(self.create_tempdir().full_path, name)
    with tf.Graph().as_default():
      x = tf.compat.v1.placeholder(tf.float32, [None, 20], name='x')
      kernel = _build_small()['dense/kernel']
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.saved_model.simple_save(
            sess, export_dir, inputs={'x': x},
            outputs={'y': tf.matmul(x, kernel)})
    self.assertFailsAtCall(
        export_dir, _build_small,
        'Checkpoint %r (from %r)' % (
            os.path.join(export_dir, 'variables', 'variables'), export_dir),
        'holds the glob character', 'Rename the directory',
        tf_class=tf.errors.NotFoundError)

  @parameterized.named_parameters(('star', 'a*b'), ('question_mark', 'a?b'),
                                  ('lone_bracket', 'a[b'),
                                  ('closing_bracket', 'a]b'),
                                  ('dot_segment_then_star', '.', 'model*'))
  def test_read_where_the_pattern_matches_the_file(self, *names):
    directory, prefix, values = self._save(*names)
    self.assertWarmStarts(prefix, _build_small, values)
    self.assertWarmStarts(directory, _build_small, values)

  def test_bracket_also_matching_another_directory(self):
    # 'run[1]' as a pattern matches 'run1': TF finds something, then opens
    # the literal path, so it reads run[1]'s checkpoint, and so do we.
    directory, prefix, values = self._save('run[1]')
    test_util.save_checkpoint(os.path.join(os.path.dirname(directory), 'run1'),
                              _build_small, seed=7)
    self.assertTrue(tf.io.gfile.glob(prefix + '.index'))
    self.assertWarmStarts(prefix, _build_small, values)
    self.assertWarmStarts(directory, _build_small, values)

  def test_v1_checkpoint_under_a_bracket_directory(self):
    directory = os.path.join(self.create_tempdir().full_path, 'run[1]')
    prefix = _save_v1(directory, 1.0)

    def build():
      return {'w': tf.compat.v1.get_variable('w', [2])}

    for source in (prefix, directory):
      self.assertFailsAtCall(source, build, 'Checkpoint %r' % prefix,
                             "holds the glob character '['", 'matches no file',
                             tf_class=tf.errors.NotFoundError)

  def test_v1_checkpoint_matching_another_file(self):
    # TF's V1 reader reads every file the pattern matches (here two, and
    # fails: "Overlapping slices").
    base = self.create_tempdir().full_path
    prefix = _save_v1(os.path.join(base, 'a?b'), 1.0)
    other = _save_v1(os.path.join(base, 'axb'), 2.0)

    def build():
      return {'w': tf.compat.v1.get_variable('w', [2])}

    self.assertFailsAtCall(prefix, build, 'Checkpoint %r' % prefix,
                           "holds the glob character '?'",
                           'matches other files too', repr(other),
                           'Rename the directory')
    os.remove(other)
    self.assertWarmStarts(prefix, build, {'w': np.ones(2)})


class RamFilesystemTest(_FaultTestCase):
  """`ram://` calls every prefix of a file name a directory."""

  def setUp(self):
    super().setUp()
    local = self.create_tempdir().full_path
    self.local, self.values = test_util.save_checkpoint(local, _build_small)
    self.ram = 'ram://warmstart_%s' % self.id().rsplit('.', 1)[-1]
    tf.io.gfile.makedirs(self.ram)
    self.prefix = self.ram + '/model.ckpt'
    for suffix in ('.index', _DATA):
      tf.io.gfile.copy(self.local + suffix, self.prefix + suffix,
                       overwrite=True)
    self.assertTrue(tf.io.gfile.isdir(self.prefix))  # What the test is about.

  def tearDown(self):
    tf.io.gfile.rmtree(self.ram)
    super().tearDown()

  def test_prefix_is_not_taken_for_a_directory(self):
    self.assertEqual(self.prefix, _checkpoint.load(self.prefix).prefix)
    self.assertWarmStarts(self.prefix, _build_small, self.values)

  def test_checkpoint_written_there_by_a_saver(self):
    prefix = self.ram + '/saved/model.ckpt'
    tf.io.gfile.makedirs(self.ram + '/saved')
    with tf.Graph().as_default():
      fetches = _build_small()
      saver = tf.compat.v1.train.Saver()
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        saver.save(sess, prefix)
        values = sess.run(fetches)
    self.assertWarmStarts(prefix, _build_small, values)
    self.assertWarmStarts(self.ram + '/saved', _build_small, values)

  def test_truncated_copy(self):
    with tf.io.gfile.GFile(self.local + _DATA, 'rb') as f:
      head = f.read(100)
    # TF's ram:// appends when it opens an existing file for writing.
    tf.io.gfile.remove(self.prefix + _DATA)
    with tf.io.gfile.GFile(self.prefix + _DATA, 'wb') as f:
      f.write(head)
    self.assertFailsAtCall(self.prefix, _build_small,
                           'data file %r is 100 bytes' % (self.prefix + _DATA))


if __name__ == '__main__':
  tf.test.main()
