"""Tests of vocabulary remapping (`VocabInfo`, action 'vocab_remap').

Graph A is saved with an old vocabulary; graph B, with a new (grown,
reordered) vocabulary, is warm-started. Where TF's
`tf.compat.v1.train.warm_start` works, both run on the same graph B with the
same `VocabInfo` and must agree bit for bit; the values are also checked
against a plain numpy remapping. Where TF fails (1-D variables, float16 and
float64, initializers that need a static shape), the test pins TF's failure
and checks warmstart's values.
"""

from __future__ import annotations

import os
import re

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _plan
from warmstart._restore import _apply
from warmstart._restore import _vocab_remap
from warmstart import _settings
from warmstart import _variables
from warmstart import _vocab_info
from warmstart import _warm_start

VocabInfo = _vocab_info.VocabInfo
WarmStartSettings = _settings.WarmStartSettings

_OLD = ['a', 'b', 'c', 'd']
_NEW = ['c', 'x', 'a', 'y', 'd', 'z']  # Grown and reordered.
_OLD_CLASSES = ['cat', 'dog', 'eel']
_NEW_CLASSES = ['eel', 'cat', 'fox', 'dog']


def _build_a():
  tf.compat.v1.get_variable('emb', [4, 3])
  tf.compat.v1.get_variable('emb64', [4, 3], tf.float64)
  tf.compat.v1.get_variable('emb16', [4, 3], tf.float16)
  tf.compat.v1.get_variable('bias', [4])
  tf.compat.v1.get_variable('out', [4, 3])  # [hidden, classes]
  tf.compat.v1.get_variable('small', [3, 3])
  tf.compat.v1.get_variable('ids', [4, 3], tf.int32,
                            tf.compat.v1.zeros_initializer())


def _remap_rows(old, old_vocab, new_vocab, num_oov, fill):
  """Numpy reference: row i of the result is old's row of new token i."""
  index = {token: i for i, token in enumerate(old_vocab)}
  rows = [old[index[t]] if t in index else fill for t in new_vocab]
  rows += [fill] * num_oov
  return np.stack([np.broadcast_to(r, old.shape[1:]) for r in rows])


class VocabTestCase(tf.test.TestCase, parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.dir = os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__)
    os.makedirs(cls.dir, exist_ok=True)
    cls.prefix, cls.ckpt = test_util.save_checkpoint(cls.dir, _build_a)
    for name, tokens in (('old', _OLD), ('new', _NEW),
                         ('old_classes', _OLD_CLASSES),
                         ('new_classes', _NEW_CLASSES)):
      with open(cls.vocab(name), 'w') as f:
        f.write(''.join(t + '\n' for t in tokens))

  @classmethod
  def vocab(cls, name):
    return os.path.join(cls.dir, name + '.txt')

  def info(self, new_size=6, oov=1, old_size=-1, init=None, axis=0,
           classes=False):
    if classes:
      return VocabInfo(self.vocab('new_classes'), new_size, oov,
                       self.vocab('old_classes'), old_size, init, axis)
    return VocabInfo(self.vocab('new'), new_size, oov, self.vocab('old'),
                     old_size, init, axis)

  def run_b(self, build, warm=None, seed=2, *, settings=None):
    """`test_util.run_graph`: `settings` are also compared under the scope."""
    return test_util.run_graph(build, warm, seed, settings=settings)

  def differential(self, build, *args):
    """Runs TF's warm_start and our settings on graph B: the same values.

    Ours are also compared under `warm_start_scope` (`run_b`).
    """
    expected, _ = self.run_b(
        build, lambda: tf.compat.v1.train.warm_start(self.prefix, *args))
    got, plan = self.run_b(
        build, settings=WarmStartSettings(self.prefix, *args))
    self.assertCountEqual(expected, got)
    for name in expected:
      np.testing.assert_array_equal(expected[name], got[name], err_msg=name)
    return got, plan


class VocabInfoTest(VocabTestCase):

  @test_util.requires_estimator
  def test_same_fields_and_defaults_as_tf(self):
    ours = VocabInfo('n.txt', 3, 1, 'o.txt')
    theirs = tf.compat.v1.train.VocabInfo('n.txt', 3, 1, 'o.txt')
    self.assertIsInstance(ours, tf.compat.v1.train.VocabInfo)
    self.assertEqual(theirs._fields, ours._fields)  # pylint: disable=protected-access
    self.assertEqual(tuple(theirs), tuple(ours))
    self.assertIs(tf.estimator.VocabInfo, tf.compat.v1.train.VocabInfo)

  @parameterized.named_parameters(
      ('new_vocab_empty', dict(new_vocab=''), 'new_vocab',
       r'a non-empty vocabulary file path .*got \'\''),
      ('new_vocab_int', dict(new_vocab=3), 'new_vocab', '.*got 3'),
      ('new_vocab_size_zero', dict(new_vocab_size=0), 'new_vocab_size',
       'a positive int, got 0'),
      ('new_vocab_size_float', dict(new_vocab_size=2.5), 'new_vocab_size',
       'a positive int, got 2.5'),
      ('new_vocab_size_bool', dict(new_vocab_size=True), 'new_vocab_size',
       'a positive int, got True'),
      ('num_oov_buckets', dict(num_oov_buckets=-1), 'num_oov_buckets',
       'an int >= 0, got -1'),
      ('old_vocab', dict(old_vocab=None), 'old_vocab', '.*got None'),
      ('old_vocab_size_zero', dict(old_vocab_size=0), 'old_vocab_size',
       r'-1 \(the whole old vocabulary\) or a positive int, got 0'),
      ('old_vocab_size_negative', dict(old_vocab_size=-2), 'old_vocab_size',
       '.*got -2'),
      ('backup_initializer', dict(backup_initializer='zeros'),
       'backup_initializer', r"None \(zeros\) or an initializer .*got 'zeros'"),
      ('axis', dict(axis=2), 'axis', r'0 \(vocabulary along rows\) or 1 '
       r'\(along columns\), got 2'),
      ('axis_bool', dict(axis=True), 'axis', '.*got True'))
  def test_validation(self, overrides, field, message):
    fields = dict(new_vocab='n.txt', new_vocab_size=3, num_oov_buckets=1,
                  old_vocab='o.txt')
    fields.update(overrides)
    with self.assertRaisesRegex(warmstart.SettingsError,
                                r'VocabInfo\.%s must be %s' % (field, message)):
      VocabInfo(**fields)

  def test_tf_validates_only_the_axis(self):
    tf.compat.v1.train.VocabInfo('', 0, -1, None)  # TF accepts these.
    with self.assertRaisesRegex(
        ValueError, 'The only supported values for the axis argument are 0 '
        'and 1.  Provided axis: 2'):
      tf.compat.v1.train.VocabInfo('n', 3, 1, 'o', axis=2)

  def test_as_vocab_info(self):
    theirs = tf.compat.v1.train.VocabInfo('n.txt', 3, 1, 'o.txt', axis=1)
    ours = _vocab_info.as_vocab_info(theirs, 'where')
    self.assertIsInstance(ours, VocabInfo)
    self.assertEqual(tuple(theirs), tuple(ours))
    self.assertIs(ours, _vocab_info.as_vocab_info(ours, 'where'))
    with self.assertRaisesRegex(warmstart.SettingsError,
                                "here: VocabInfo.old_vocab must be"):
      _vocab_info.as_vocab_info(
          tf.compat.v1.train.VocabInfo('n.txt', 3, 1, ''), 'here')

  @test_util.requires_graph_keras
  def test_describe_initializer(self):
    self.assertIsNone(_vocab_info.describe_initializer(None))
    self.assertEqual(
        "Constant(value=0.5)",
        _vocab_info.describe_initializer(tf.keras.initializers.Constant(0.5)))
    self.assertIn('Zeros(dtype=',
                  _vocab_info.describe_initializer(tf.compat.v1.zeros_initializer()))

    def my_init(shape, dtype=None, partition_info=None):
      del dtype, partition_info
      return tf.zeros(shape)

    self.assertEqual('my_init', _vocab_info.describe_initializer(my_init))

  def test_builder_is_registered(self):
    builders = _apply._ACTION_BUILDERS  # pylint: disable=protected-access
    self.assertIs(_vocab_remap.build, builders[_vocab_remap.ACTION])


class DifferentialTest(VocabTestCase):
  """Same VocabInfo, same graph B: TF's values exactly."""

  def test_axis_0_grown_vocabulary_with_oov(self):
    build = lambda: tf.compat.v1.get_variable('emb', [7, 3])
    got, plan = self.differential(build, '.*', {'emb': self.info(6, 1)})
    expected = _remap_rows(self.ckpt['emb'], _OLD, _NEW, 1, 0.0)
    np.testing.assert_array_equal(expected, got['emb'])
    entry = plan.entry('emb')
    self.assertEqual(_vocab_remap.ACTION, entry.action)
    self.assertEqual(
        {'new_vocab': self.vocab('new'), 'new_vocab_size': 6,
         'num_oov_buckets': 1, 'old_vocab': self.vocab('old'),
         'old_vocab_size': -1, 'backup_initializer': None, 'axis': 0,
         'checkpoint_shape': [4, 3]}, dict(entry.action_params))

  def test_old_vocab_size(self):
    build = lambda: tf.compat.v1.get_variable('emb', [8, 3])
    got, _ = self.differential(build, '.*',
                               {'emb': self.info(6, 2, old_size=2)})
    # Only 'a' and 'b' of the old vocabulary count: 'c' and 'd' are new.
    expected = _remap_rows(self.ckpt['emb'][:2], _OLD[:2], _NEW, 2, 0.0)
    np.testing.assert_array_equal(expected, got['emb'])

  def test_new_vocab_size_below_file_length(self):
    build = lambda: tf.compat.v1.get_variable('emb', [4, 3])
    got, _ = self.differential(build, '.*', {'emb': self.info(3, 1)})
    expected = _remap_rows(self.ckpt['emb'], _OLD, _NEW[:3], 1, 0.0)
    np.testing.assert_array_equal(expected, got['emb'])

  def test_seeded_random_backup_initializer(self):
    init = tf.compat.v1.truncated_normal_initializer(stddev=0.1, seed=7)
    build = lambda: tf.compat.v1.get_variable('emb', [7, 3])
    got, plan = self.differential(build, '.*', {'emb': self.info(6, 1, init=init)})
    for i, token in enumerate(_NEW):
      if token in _OLD:
        np.testing.assert_array_equal(self.ckpt['emb'][_OLD.index(token)],
                                      got['emb'][i])
      else:
        self.assertLess(np.max(np.abs(got['emb'][i])), 0.21)
        self.assertGreater(np.max(np.abs(got['emb'][i])), 0)
    self.assertIn('TruncatedNormal(',
                  plan.entry('emb').action_params['backup_initializer'])

  def test_axis_1_output_layer(self):
    build = lambda: tf.compat.v1.get_variable('out', [4, 5])
    got, _ = self.differential(
        build, '.*', {'out': self.info(4, 1, axis=1, classes=True)})
    expected = _remap_rows(self.ckpt['out'].T, _OLD_CLASSES, _NEW_CLASSES, 1,
                           0.0).T
    np.testing.assert_array_equal(expected, got['out'])

  def test_partitioned_with_oov_only_partition(self):
    # 8 rows in 4 parts: offsets 0, 2, 4, 6; rows 5..7 are OOV buckets, so
    # the last part holds OOV rows only.
    def build():
      tf.compat.v1.get_variable(
          'emb', [8, 3], partitioner=tf.compat.v1.fixed_size_partitioner(4))
    init = tf.compat.v1.random_uniform_initializer(1.0, 2.0, seed=3)
    got, plan = self.differential(build, '.*',
                                  {'emb': self.info(5, 3, init=init)})
    self.assertLen(plan.entry('emb').slices, 4)
    for i, token in enumerate(_NEW[:5]):
      if token in _OLD:
        np.testing.assert_array_equal(self.ckpt['emb'][_OLD.index(token)],
                                      got['emb'][i])
    self.assertTrue(np.all(got['emb'][5:] >= 1.0))

  def test_resource_variable(self):
    def build():
      tf.compat.v1.get_variable(
          'emb', [7, 3], use_resource=True,
          partitioner=tf.compat.v1.fixed_size_partitioner(2))
    got, _ = self.differential(build, '.*', {'emb': self.info(6, 1)})
    np.testing.assert_array_equal(
        _remap_rows(self.ckpt['emb'], _OLD, _NEW, 1, 0.0), got['emb'])

  def test_partitioned_axis_1(self):
    def build():
      tf.compat.v1.get_variable(
          'out', [4, 4], partitioner=tf.compat.v1.fixed_size_partitioner(2))
    got, _ = self.differential(
        build, '.*', {'out': self.info(4, 0, axis=1, classes=True)})
    expected = _remap_rows(self.ckpt['out'].T, _OLD_CLASSES, _NEW_CLASSES, 0,
                           0.0).T
    np.testing.assert_array_equal(expected, got['out'])

  def test_renamed_and_other_variables(self):
    def build():
      tf.compat.v1.get_variable('new_emb', [7, 3])
      tf.compat.v1.get_variable('out', [4, 3])
      tf.compat.v1.get_variable('fresh', [2], trainable=False)
    got, plan = self.differential(
        build, '.*', {'new_emb': self.info(6, 1)}, {'new_emb': 'emb'})
    self.assertEqual(['new_emb', 'out'], [e.variable for e in plan])
    self.assertEqual('emb', plan.entry('new_emb').tensor)
    np.testing.assert_array_equal(self.ckpt['out'], got['out'])

  def test_none_selects_only_vocabulary_variables(self):
    def build():
      tf.compat.v1.get_variable('emb', [7, 3])
      tf.compat.v1.get_variable('out', [4, 3])
    got, plan = self.differential(build, None, {'emb': self.info(6, 1)})
    self.assertEqual(['emb'], [e.variable for e in plan])
    self.assertEqual("var_name_to_vocab_info['emb']", plan.entry('emb').rule)
    fresh, _ = self.run_b(build)
    np.testing.assert_array_equal(fresh['out'], got['out'])


class BeyondTfTest(VocabTestCase):
  """What TF's warm_start cannot remap."""

  def test_1d_bias(self):
    def build():
      tf.compat.v1.get_variable(
          'bias', [8], partitioner=tf.compat.v1.fixed_size_partitioner(3))
    with self.assertRaises(IndexError):  # TF indexes v_shape[1].
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(
          self.prefix, '.*', {'bias': self.info(6, 2)}))
    got, _ = self.run_b(build, settings=WarmStartSettings(
        self.prefix, '.*', {'bias': self.info(6, 2)}))
    expected = _remap_rows(self.ckpt['bias'], _OLD, _NEW, 2, 0.0)
    np.testing.assert_array_equal(expected, got['bias'])

  def test_1d_with_nothing_missing(self):
    got, _ = self.run_b(
        lambda: tf.compat.v1.get_variable('bias', [1]),
        settings=WarmStartSettings(self.prefix, '.*',
                                   {'bias': self.info(1, 0)}))
    # New token 0 is 'c', old row 2.
    np.testing.assert_array_equal(self.ckpt['bias'][2:3], got['bias'])

  def test_1d_matches_tf_on_a_column(self):
    # The same remap TF does on a [n, 1] matrix, with a seeded initializer.
    init = tf.compat.v1.random_normal_initializer(seed=4)
    # A checkpoint holding `bias` as a column.
    with tf.Graph().as_default():
      v = tf.compat.v1.get_variable(
          'bias', initializer=self.ckpt['bias'].reshape([4, 1]))
      with tf.compat.v1.Session() as sess:
        sess.run(v.initializer)
        column = tf.compat.v1.train.Saver([v]).save(
            sess, os.path.join(self.dir, 'column'))
    expected, _ = self.run_b(
        lambda: tf.compat.v1.get_variable('bias', [7, 1]),
        lambda: tf.compat.v1.train.warm_start(
            column, '.*', {'bias': self.info(6, 1, init=init)}))
    got, _ = self.run_b(
        lambda: tf.compat.v1.get_variable('bias', [7]),
        settings=WarmStartSettings(
            self.prefix, '.*', {'bias': self.info(6, 1, init=init)}))
    np.testing.assert_array_equal(expected['bias'][:, 0], got['bias'])

  @parameterized.parameters(('emb64', tf.float64), ('emb16', tf.float16))
  def test_other_float_dtypes(self, name, dtype):
    def build():
      tf.compat.v1.get_variable(
          name, [8, 3], dtype,
          partitioner=tf.compat.v1.fixed_size_partitioner(2))
    with self.assertRaisesRegex(
        ValueError, 'Tensor conversion requested dtype %s for Tensor with '
        'dtype float32' % dtype.name):
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(
          self.prefix, '.*', {name: self.info(6, 2)}))
    init = tf.compat.v1.constant_initializer(0.25)
    got, plan = self.run_b(build, settings=WarmStartSettings(
        self.prefix, '.*', {name: self.info(6, 2, init=init)}))
    self.assertEqual(dtype.name, plan.entry(name).dtype)
    self.assertEqual(dtype.as_numpy_dtype, got[name].dtype)
    expected = _remap_rows(self.ckpt[name], _OLD, _NEW, 2, 0.25)
    np.testing.assert_array_equal(expected.astype(dtype.as_numpy_dtype),
                                  got[name])

  @parameterized.named_parameters(
      ('v1_constant', tf.compat.v1.constant_initializer(0.5),
       NotImplementedError, 'Cannot convert a symbolic tf.Tensor'),
      ('v2_constant', tf.constant_initializer(0.5), NotImplementedError,
       'Cannot convert a symbolic tf.Tensor'),
      ('keras_constant', tf.keras.initializers.Constant(0.5),
       NotImplementedError, 'Cannot convert a symbolic tf.Tensor'))
  @test_util.requires_graph_keras
  def test_constant_initializers(self, init, tf_error, tf_message):
    build = lambda: tf.compat.v1.get_variable('out', [4, 5])
    info = self.info(4, 1, init=init, axis=1, classes=True)
    with self.assertRaisesRegex(tf_error, tf_message):
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(
          self.prefix, '.*', {'out': info}))
    got, _ = self.run_b(build, settings=WarmStartSettings(
        self.prefix, '.*', {'out': info}))
    expected = _remap_rows(self.ckpt['out'].T, _OLD_CLASSES, _NEW_CLASSES, 1,
                           0.5).T
    np.testing.assert_array_equal(expected, got['out'])

  @parameterized.named_parameters(
      ('keras_glorot', lambda: tf.keras.initializers.GlorotUniform(seed=3)),
      ('v1_glorot', lambda: tf.compat.v1.glorot_uniform_initializer(seed=3)))
  @test_util.requires_graph_keras
  def test_fan_based_initializer_by_position(self, make_init):
    build = lambda: tf.compat.v1.get_variable('emb', [8, 3])
    with self.assertRaisesRegex(TypeError, 'int.. argument must be'):
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(
          self.prefix, '.*', {'emb': self.info(6, 2, init=make_init())}))
    got, _ = self.run_b(build, settings=WarmStartSettings(
        self.prefix, '.*', {'emb': self.info(6, 2, init=make_init())}))
    # Each new row holds the initializer's value for that position of the
    # variable (seeded: the same as a fresh call gives).
    with tf.Graph().as_default():
      tf.compat.v1.set_random_seed(2)  # As in run_b: op seeds depend on it.
      with tf.compat.v1.Session() as sess:
        full = sess.run(make_init()([8, 3]))
    for i, token in enumerate(_NEW + ['oov1', 'oov2']):
      if token in _OLD:
        np.testing.assert_array_equal(self.ckpt['emb'][_OLD.index(token)],
                                      got['emb'][i])
      else:
        np.testing.assert_array_equal(full[i], got['emb'][i])


class SlotsTest(VocabTestCase):

  def test_slots_follow_the_vocabulary(self):
    def model(rows):
      emb = tf.compat.v1.get_variable('emb', [rows, 3])
      tf.compat.v1.get_variable('out', [4, 3])
      step = tf.compat.v1.train.get_or_create_global_step()
      return tf.compat.v1.train.AdagradOptimizer(
          0.1, initial_accumulator_value=0.25).minimize(
              tf.reduce_sum(tf.square(emb)), global_step=step)

    directory = self.create_tempdir().full_path
    with tf.Graph().as_default():
      train_op = model(4)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train_op)
        prefix = tf.compat.v1.train.Saver().save(
            sess, os.path.join(directory, 'adagrad'))
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    info = self.info(6, 1, init=tf.compat.v1.ones_initializer())
    got, plan = self.run_b(lambda: model(7), settings=WarmStartSettings(
        prefix, 'emb', {'emb': info}, include_slots=True))
    self.assertEqual(['emb', 'emb/Adagrad'], [e.variable for e in plan])
    self.assertEqual('own_initial_value',
                     plan.entry('emb/Adagrad').action_params['backup_initializer'])
    np.testing.assert_array_equal(
        _remap_rows(reader.get_tensor('emb'), _OLD, _NEW, 1, 1.0),
        got['emb'])
    # New rows of the accumulator keep Adagrad's own initial value.
    accumulator = reader.get_tensor('emb/Adagrad')
    self.assertFalse(np.allclose(accumulator, 0.25))
    np.testing.assert_array_equal(
        _remap_rows(accumulator, _OLD, _NEW, 1, 0.25), got['emb/Adagrad'])


class PlanTest(VocabTestCase):
  """Problems found when the plan is built, before any session."""

  def plan(self, build, vocab, vars_to_warm_start='.*', renames=None, **kw):
    with tf.Graph().as_default():
      build()
      return _warm_start.make_settings_plan(WarmStartSettings(
          self.prefix, vars_to_warm_start, vocab, renames, **kw))

  def emb(self, rows=7, dtype=tf.float32, cols=3):
    return lambda: tf.compat.v1.get_variable('emb', [rows, cols], dtype)

  def test_missing_vocabulary_file(self):
    info = VocabInfo(self.vocab('new'), 6, 1, self.vocab('nope'))
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"Variable 'emb' .*: VocabInfo.old_vocab file '.*nope.txt' does not "
        'exist'):
      self.plan(self.emb(), {'emb': info})

  def test_vocabulary_sizes_beyond_files(self):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"VocabInfo.new_vocab_size is 9 but new_vocab '.*new.txt' has only 6 "
        'lines'):
      self.plan(self.emb(10), {'emb': self.info(9, 1)})
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"VocabInfo.old_vocab_size is 5 but old_vocab '.*old.txt' has only 4 "
        'lines'):
      self.plan(self.emb(), {'emb': self.info(6, 1, old_size=5)})

  def test_variable_size_must_be_vocabulary_plus_oov(self):
    with self.assertRaisesRegex(
        warmstart.MismatchError,
        r"Variable 'emb' .*has 8 entries along axis 0, but VocabInfo has "
        r'new_vocab_size 6 \+ num_oov_buckets 1 = 7'):
      self.plan(self.emb(8), {'emb': self.info(6, 1)})

  def test_checkpoint_mismatches(self):
    with self.assertRaisesRegex(
        warmstart.MismatchError,
        r"tensor 'emb' has 3 entries along axis 1 in the checkpoint, 5 in the "
        'graph'):
      self.plan(self.emb(cols=5), {'emb': self.info(6, 1)})
    with self.assertRaisesRegex(
        warmstart.MismatchError,
        r"tensor 'emb' has dtype float32 in the checkpoint, float64 in the "
        'graph'):
      self.plan(self.emb(dtype=tf.float64), {'emb': self.info(6, 1)})
    plan = self.plan(self.emb(cols=5), {'emb': self.info(6, 1)},
                     skip_mismatched=True)
    self.assertEqual(['emb'], [e.variable for e in plan.skipped])

  def test_checkpoint_smaller_than_old_vocabulary(self):
    # 'small' has 3 rows; the old vocabulary has 4 entries.
    build = lambda: tf.compat.v1.get_variable('small', [7, 3])
    with self.assertRaisesRegex(
        warmstart.MismatchError,
        r"tensor 'small' has 3 entries along axis 0 in the checkpoint, fewer "
        r'than the 4 old vocabulary entries used \(set '
        r'VocabInfo.old_vocab_size'):
      self.plan(build, {'small': self.info(6, 1)})
    plan = self.plan(build, {'small': self.info(6, 1, old_size=3)})
    self.assertEqual(['small'], [e.variable for e in plan.restored])

  def test_missing_tensor(self):
    build = lambda: tf.compat.v1.get_variable('embs', [7, 3])
    with self.assertRaisesRegex(
        warmstart.TensorNotFoundError,
        r"Variable 'embs' .*tensor 'embs' is not in checkpoint .*"
        r"Did you mean: 'emb'"):
      self.plan(build, {'embs': self.info(6, 1)})
    plan = self.plan(build, {'embs': self.info(6, 1)}, skip_missing=True)
    self.assertEqual(['embs'], [e.variable for e in plan.skipped])

  @parameterized.named_parameters(
      ('int', lambda: tf.compat.v1.get_variable('ids', [7, 3], tf.int32),
       'ids', 0, 'needs a floating-point variable, it is int32'),
      ('rank_3', lambda: tf.compat.v1.get_variable('emb', [7, 3, 1]), 'emb',
       0, r'needs a 1-D or 2-D variable .*shape \(7, 3, 1\)'),
      ('axis_1_of_1d', lambda: tf.compat.v1.get_variable('bias', [4]), 'bias',
       1, 'needs a 1-D or 2-D variable with the vocabulary along axis 1'),
      ('split_columns', lambda: tf.compat.v1.get_variable(
          'emb', [7, 4], partitioner=lambda shape, dtype: [1, 2]), 'emb', 0,
       'needs a variable partitioned along axis 0; it is partitioned along '
       'axis 1'))
  def test_unsupported_variables(self, build, name, axis, message):
    info = (self.info(6, 1) if axis == 0 else
            self.info(4, 0, axis=1, classes=True))
    with self.assertRaisesRegex(warmstart.SettingsError,
                                "Variable '%s' .*%s" % (name, message)):
      self.plan(build, {name: info})

  def test_unused_vocabulary_key(self):
    def build():
      tf.compat.v1.get_variable('emb', [7, 3])
      tf.compat.v1.get_variable('out', [4, 3])
    vocab = {'emb': self.info(6, 1)}
    with self.assertRaisesRegex(
        ValueError, re.escape(
            "You provided the following variables in var_name_to_vocab_info "
            "that were not used: {'emb'}.  Perhaps you misspelled them?")):
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(
          self.prefix, 'out', vocab))
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"var_name_to_vocab_info key 'emb' names variable 'emb', which "
        r"vars_to_warm_start='out' does not select"):
      self.plan(build, vocab, 'out')
    with self.assertRaisesRegex(
        warmstart.VariableNotFoundError,
        r"var_name_to_vocab_info key 'emv' names no variable of the graph\. "
        r"Did you mean: 'emb'"):
      self.plan(build, {'emv': self.info(6, 1)}, None)

  def test_rename_of_unselected_variable_with_none(self):
    def build():
      tf.compat.v1.get_variable('emb', [7, 3])
      tf.compat.v1.get_variable('new_out', [4, 3])
    vocab = {'emb': self.info(6, 1)}
    renames = {'new_out': 'out'}
    fresh, _ = self.run_b(build)
    # TF accepts a rename of a variable it then does not warm-start.
    got, _ = self.run_b(build, lambda: tf.compat.v1.train.warm_start(
        self.prefix, None, vocab, renames))
    np.testing.assert_array_equal(fresh['new_out'], got['new_out'])
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"var_name_to_prev_var_name key 'new_out' names variable 'new_out', "
        'which vars_to_warm_start=None does not select'):
      self.plan(build, vocab, None, renames)

  def test_with_assignment_map(self):
    def build():
      tf.compat.v1.get_variable('new/emb', [7, 3])
      tf.compat.v1.get_variable('new/out', [4, 3])
    settings = WarmStartSettings(
        self.prefix, var_name_to_vocab_info={'new/emb': self.info(6, 1)},
        assignment_map={'/': 'new/'})
    got, plan = self.run_b(build, settings=settings)
    self.assertEqual(_vocab_remap.ACTION, plan.entry('new/emb').action)
    self.assertEqual('emb', plan.entry('new/emb').tensor)
    np.testing.assert_array_equal(
        _remap_rows(self.ckpt['emb'], _OLD, _NEW, 1, 0.0), got['new/emb'])
    np.testing.assert_array_equal(self.ckpt['out'], got['new/out'])
    settings = WarmStartSettings(
        self.prefix, var_name_to_vocab_info={'new/emb': self.info(6, 1)},
        assignment_map={'out': 'new/out'})
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        "var_name_to_vocab_info key 'new/emb' names no variable that the "
        'assignment map selects'):
      self.run_b(build, lambda: _warm_start.make_settings_plan(settings))

  def test_plan_json_and_foreign_entries(self):
    plan = self.plan(self.emb(), {'emb': self.info(6, 1)})
    entry = _plan.Plan.from_json(plan.to_json()).entry('emb')
    self.assertEqual(_vocab_remap.ACTION, entry.action)
    self.assertEqual(plan.entry('emb').action_params, entry.action_params)
    # An entry that planning did not make cannot be built.
    with tf.Graph().as_default():
      target = _variables.target_of(tf.compat.v1.get_variable('emb', [7, 3]))
      foreign = _plan.Entry('emb', (7, 3), 'float32', self.prefix, 'emb',
                            action=_vocab_remap.ACTION,
                            action_params=entry.action_params, target=target)
      with self.assertRaisesRegex(
          warmstart.SettingsError,
          "Plan entry 'emb' .*was not built by warmstart.VocabInfo planning"):
        warmstart.apply_plan(_plan.Plan((foreign,)))


class VocabFilesTest(VocabTestCase):
  """Vocabulary files TF's remap kernels cannot take are refused at plan time.

  TF's `warm_start` accepts them and fails at the first `session.run`;
  here the plan names the file, the line and the token. What TF's kernels
  do take (a repeat past the lines used, a repeated new token the old
  vocabulary lacks) is remapped exactly as TF does.
  """

  def write(self, name, tokens):
    path = os.path.join(self.create_tempdir().full_path, name + '.txt')
    with open(path, 'w') as f:
      f.write(''.join(t + '\n' for t in tokens))
    return path

  def infos(self, new, old, new_size=6, old_size=-1):
    return {'emb': VocabInfo(self.write('new', new), new_size, 1,
                             self.write('old', old), old_size)}

  @parameterized.named_parameters(
      ('new_repeats_an_old_token', ['c', 'x', 'a', 'c', 'd', 'z'], _OLD,
       -1, r"new_vocab '.*new\.txt' holds the token 'c' twice \(lines 1 and "
       r"4\), and old_vocab '.*old\.txt' has it"),
      ('old_repeats', _NEW, ['a', 'b', 'a', 'd'], -1,
       r"old_vocab '.*old\.txt' holds the token 'a' twice among the 4 lines "
       r'used \(lines 1 and 3\)'),
      ('empty_line_in_new', ['c', '', 'a', 'y', 'd', 'z'], _OLD, -1,
       r"new_vocab '.*new\.txt' has an empty line \(line 2\)"),
      ('empty_line_past_new_size', _NEW + [''], _OLD, -1,
       r"new_vocab '.*new\.txt' has an empty line \(line 7\)"),
      ('empty_line_in_old', _NEW, ['a', 'b', '', 'd'], -1,
       r"old_vocab '.*old\.txt' has an empty line \(line 3\) among the 4 "
       'lines used'),
  )
  def test_refused_at_plan_time_where_tf_fails_at_run_time(
      self, new, old, old_size, message):
    infos = self.infos(new, old, old_size=old_size)
    with self.assertRaises(tf.errors.OpError):
      self.run_b(self.build, lambda: tf.compat.v1.train.warm_start(
          self.prefix, 'emb', infos))
    with tf.Graph().as_default() as graph:
      self.build()
      with self.assertRaisesRegex(
          warmstart.SettingsError, r"Variable 'emb' .*: VocabInfo\." + message):
        warmstart.warm_start(self.prefix, 'emb', infos)
      self.assertEqual([], [op for op in graph.get_operations()
                            if op.type == 'GenerateVocabRemapping'])

  @parameterized.named_parameters(
      ('new_repeat_past_new_size', _NEW + ['c'], _OLD, -1),
      ('new_repeats_a_token_old_lacks', ['c', 'x', 'a', 'x', 'd', 'z'], _OLD,
       -1),
      ('old_repeat_past_old_size', _NEW, _OLD + ['a'], 4),
      ('empty_line_past_old_size', _NEW, _OLD + [''], 4),
  )
  def test_what_tf_takes_is_remapped_as_tf_does(self, new, old, old_size):
    self.differential(self.build, 'emb', self.infos(new, old,
                                                    old_size=old_size))

  def build(self):
    tf.compat.v1.get_variable('emb', [7, 3])


class CastTest(VocabTestCase):
  """`cast=True` with a vocabulary remap: remapped, then cast (TF: neither)."""

  @parameterized.parameters(tf.float64, tf.float16, tf.bfloat16)
  def test_float32_checkpoint_into_other_floats(self, dtype):
    def build():
      tf.compat.v1.get_variable(
          'emb', [7, 3], dtype,
          partitioner=tf.compat.v1.fixed_size_partitioner(2))

    vocab = {'emb': self.info(6, 1, init=tf.compat.v1.constant_initializer(
        0.25))}
    with self.assertRaisesRegex(
        warmstart.MismatchError,
        r"dtype float32 in the checkpoint, %s in the graph \(cast=True casts "
        r"float dtypes\)" % dtype.name):
      self.run_b(build, settings=WarmStartSettings(self.prefix, '.*', vocab))
    got, plan = self.run_b(build, settings=WarmStartSettings(
        self.prefix, '.*', vocab, cast=True))
    entry = plan.entry('emb')
    self.assertEqual('vocab_remap', entry.action)
    self.assertIn('cast float32 -> %s' % dtype.name, entry.reason)
    expected = _remap_rows(self.ckpt['emb'], _OLD, _NEW, 1, 0.25)
    np.testing.assert_array_equal(
        tf.cast(expected, dtype).numpy(), got['emb'])

  def test_float64_checkpoint_into_float32_matches_tf_on_the_cast_tensor(self):
    def build():
      tf.compat.v1.get_variable('emb64', [7, 3])

    got, _ = self.run_b(build, settings=WarmStartSettings(
        self.prefix, '.*', {'emb64': self.info(6, 1)}, cast=True))
    expected = _remap_rows(self.ckpt['emb64'].astype(np.float32), _OLD, _NEW,
                           1, got['emb64'][-1])
    np.testing.assert_array_equal(expected[:6], got['emb64'][:6])


if __name__ == '__main__':
  tf.test.main()
