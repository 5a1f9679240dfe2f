"""Tests of warmstart._scope._prediction and warmstart._scope._stand_ins.

`Predictor` is asked, for one variable at a time before it exists, whether
the settings and the checkpoint will restore it whole; its answers are
compared with the plan `make_settings_plan` makes once the variable exists.
`_seed_draws` counts the op seeds an initializer draws; `StandIns` gives
stand-ins and builds the real initial values, as without it, on `release()`.
"""

from __future__ import annotations

import functools
import inspect
import os
from unittest import mock

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _planning
from warmstart._scope import _prediction
from warmstart._scope import _stand_ins
from warmstart._scope import _tf_rebuild
from warmstart import _settings

WarmStartSettings = warmstart.WarmStartSettings


def _common(scope, partitions):
  """What A and B share: the step, dnn/, bn/, `scope`/w and `scope`/sub/v;
  returns emb (in `partitions` parts)."""
  tf.compat.v1.train.get_or_create_global_step()
  with tf.compat.v1.variable_scope('dnn'):
    tf.compat.v1.get_variable('kernel', [3, 2])
    tf.compat.v1.get_variable('bias', [2])
  tf.compat.v1.get_variable('bn/moving_mean', [2], trainable=False)
  tf.compat.v1.get_variable(scope + '/w', [3])
  tf.compat.v1.get_variable(scope + '/sub/v', [2])
  return tf.compat.v1.get_variable(
      'emb', [6, 2],
      partitioner=tf.compat.v1.fixed_size_partitioner(partitions))


def _build_a():
  emb = _common('old', 2)
  tf.compat.v1.get_variable('wide', [3], tf.float64)
  tf.compat.v1.get_variable('ids', [3], tf.int32,
                            tf.compat.v1.zeros_initializer())
  return _adam(emb)


def _adam(emb):
  """Adam's slots of dnn/kernel and emb (and its beta1_power, beta2_power)."""
  kernel = [v for v in tf.compat.v1.trainable_variables()
            if v.op.name == 'dnn/kernel'][0]
  loss = tf.reduce_sum(kernel) + tf.reduce_sum(tf.concat(list(emb), 0))
  return tf.compat.v1.train.AdamOptimizer(0.1).minimize(loss)


def _build_b():
  """Graph B: A's variables (emb in 3 parts), new/, renamed, Adam's slots."""
  emb = _common('new', 3)
  tf.compat.v1.get_variable('renamed', [2])
  tf.compat.v1.get_variable('wide', [3], tf.float32)
  _adam(emb)


_RELAXED = dict(allow_unmatched=True, skip_missing=True, skip_mismatched=True)


class PredictorTest(parameterized.TestCase, tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.prefix, cls.ckpt = test_util.save_checkpoint(
        os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__),
        _build_a)

  def predictor(self, *args, **kwargs):
    return _prediction.Predictor(_planning.settings_sources(
        [WarmStartSettings(self.prefix, *args, **kwargs)]))

  def assertPredicts(self, predictor, expected, name, shape,
                     dtype=tf.float32, trainable=True):
    self.assertEqual(
        expected, predictor.restores_whole(name, shape, dtype, trainable),
        '%s %s %s trainable=%s' % (name, shape, dtype.name, trainable))

  def test_regex_string_selects_trainable_variables_only(self):
    predictor = self.predictor('dnn/')
    self.assertPredicts(predictor, True, 'dnn/kernel', [3, 2])
    self.assertPredicts(predictor, True, 'dnn/bias', [2])
    self.assertPredicts(predictor, False, 'dnn/kernel', [3, 2],
                        trainable=False)
    self.assertPredicts(predictor, False, 'old/w', [3])  # Not matched.
    everything = self.predictor('.*')
    self.assertPredicts(everything, True, 'old/w', [3])
    self.assertPredicts(everything, False, 'bn/moving_mean', [2],
                        trainable=False)
    # re.match: a prefix; the whole (partitioned) variable by its full name.
    self.assertPredicts(self.predictor('e'), True, 'emb', [6, 2])

  def test_list_of_regexes_selects_global_variables(self):
    predictor = self.predictor(['bn/', 'dnn/k'])
    self.assertPredicts(predictor, True, 'bn/moving_mean', [2],
                        trainable=False)
    self.assertPredicts(predictor, True, 'dnn/kernel', [3, 2])
    self.assertPredicts(predictor, True, 'dnn/kernel', [3, 2],
                        trainable=False)
    self.assertPredicts(predictor, False, 'dnn/bias', [2])

  @parameterized.named_parameters(
      ('scope', {'old/': 'new/'}, [('new/w', [3], True),
                                   ('new/sub/v', [2], True),
                                   ('new/x', [3], False),
                                   ('other/w', [3], False)]),
      ('scope_without_slash', {'old/': 'new'}, [('new/w', [3], True)]),
      ('root_into_scope', {'/': 'copy/'}, [('copy/dnn/kernel', [3, 2], True),
                                           ('copy/old/w', [3], True),
                                           ('dnn/kernel', [3, 2], False)]),
      ('single_name', {'old/w': 'new/w'}, [('new/w', [3], True),
                                           ('new/sub/v', [2], False),
                                           ('old/w', [3], False)]),
      ('name_with_output', {'old/w': 'new/w:0'}, [('new/w', [3], True)]),
      ('list_of_pairs', [('old/sub/', 'deep/')], [('deep/v', [2], True),
                                                  ('deep/w', [3], False)]),
  )
  def test_assignment_maps(self, assignment_map, cases):
    predictor = self.predictor(assignment_map=assignment_map)
    for name, shape, expected in cases:
      self.assertPredicts(predictor, expected, name, shape)
      # A map takes non-trainable variables too.
      self.assertPredicts(predictor, expected, name, shape, trainable=False)

  def test_assignment_map_narrowed_by_vars_to_warm_start(self):
    predictor = self.predictor('new/w', assignment_map={'old/': 'new/'})
    self.assertPredicts(predictor, True, 'new/w', [3])
    self.assertPredicts(predictor, True, 'new/w', [3], trainable=False)
    self.assertPredicts(predictor, False, 'new/sub/v', [2])

  def test_assignment_map_value_that_is_a_variable_predicts_nothing(self):
    with tf.Graph().as_default():
      variable = tf.compat.v1.get_variable('new/w', [3])
      predictor = self.predictor(assignment_map={'old/w': variable})
    self.assertPredicts(predictor, False, 'new/w', [3])

  def test_var_name_to_prev_var_name(self):
    predictor = self.predictor(
        ['renamed.*'], var_name_to_prev_var_name={'renamed': 'dnn/bias',
                                                  'renamed_2': 'nowhere'})
    self.assertPredicts(predictor, True, 'renamed', [2])
    self.assertPredicts(predictor, False, 'renamed', [3])  # Its shape.
    self.assertPredicts(predictor, False, 'renamed_2', [2])  # Missing.
    self.assertPredicts(predictor, False, 'dnn/bias', [2])  # Not selected.

  def test_vocab_keys_are_never_predicted(self):
    info = warmstart.VocabInfo('new.txt', 3, 1, 'old.txt')
    predictor = self.predictor('dnn/',
                               var_name_to_vocab_info={'dnn/kernel': info})
    # A remap needs the variable's initializer (new rows).
    self.assertPredicts(predictor, False, 'dnn/kernel', [3, 2])
    self.assertPredicts(predictor, True, 'dnn/bias', [2])
    only_vocab = self.predictor(None,
                                var_name_to_vocab_info={'dnn/kernel': info})
    self.assertPredicts(only_vocab, False, 'dnn/kernel', [3, 2])
    self.assertPredicts(only_vocab, False, 'dnn/bias', [2])

  def test_shape_mismatch(self):
    self.assertPredicts(self.predictor('dnn/'), False, 'dnn/kernel', [3, 4])
    self.assertPredicts(self.predictor('dnn/'), False, 'dnn/kernel', [2, 3])
    # A resize needs the initializer (the cells outside the block).
    self.assertPredicts(self.predictor('dnn/', resize=True), False,
                        'dnn/kernel', [4, 2])
    self.assertPredicts(self.predictor('e'), False, 'emb', [4, 2])

  def test_dtype_mismatch_without_and_with_cast(self):
    strict = self.predictor(['wide', 'ids', 'dnn/'])
    self.assertPredicts(strict, True, 'wide', [3], tf.float64)
    self.assertPredicts(strict, False, 'wide', [3], tf.float32)
    self.assertPredicts(strict, False, 'dnn/bias', [2], tf.float16)
    self.assertPredicts(strict, True, 'ids', [3], tf.int32)
    self.assertPredicts(strict, False, 'ids', [3], tf.int64)
    cast = self.predictor(['wide', 'ids', 'dnn/'], cast=True)
    self.assertPredicts(cast, True, 'wide', [3], tf.float32)
    self.assertPredicts(cast, True, 'wide', [3], tf.bfloat16)
    self.assertPredicts(cast, True, 'dnn/bias', [2], tf.float16)
    # Only float to float is cast.
    self.assertPredicts(cast, False, 'ids', [3], tf.int64)
    self.assertPredicts(cast, False, 'ids', [3], tf.float32)
    self.assertPredicts(cast, False, 'wide', [3], tf.int32)

  def test_global_step(self):
    for predictor in (self.predictor(['.*']),
                      self.predictor(assignment_map={'/': '/'})):
      self.assertPredicts(predictor, False, 'global_step', [], tf.int64,
                          trainable=False)
    with_step = self.predictor(['.*'], include_global_step=True)
    self.assertPredicts(with_step, True, 'global_step', [], tf.int64,
                        trainable=False)
    self.assertPredicts(with_step, False, 'global_step', [], tf.int32,
                        trainable=False)

  @parameterized.named_parameters(
      ('regex', dict(vars_to_warm_start='.*')),
      ('list', dict(vars_to_warm_start=['dnn/', 'bn/', 'emb'])),
      ('scope_map', dict(assignment_map={'old/': 'new/'})),
      ('root_map', dict(assignment_map={'/': '/'})),
      ('name_map', dict(assignment_map={'old/w': 'new/w'})),
      ('rename', dict(vars_to_warm_start=['renamed'],
                      var_name_to_prev_var_name={'renamed': 'dnn/bias'})),
      ('cast', dict(vars_to_warm_start=['wide', 'dnn/'], cast=True)),
      ('global_step_included', dict(vars_to_warm_start=['.*'],
                                    include_global_step=True)),
      # Three rules the predictor once missed:
      ('global_step_named', dict(
          assignment_map={'global_step': 'global_step'})),
      ('slots', dict(vars_to_warm_start='dnn/', include_slots=True)),
      ('part_name', dict(vars_to_warm_start='emb/part_1')),
  )
  def test_predicts_every_variable_the_plan_restores_whole(self, fields):
    # warm_start_scope's contract: each variable that the checkpoint and the
    # settings will restore whole gets a stand-in. (A "yes" for a variable
    # the plan then leaves only costs its initializer, built later.)
    settings = WarmStartSettings(self.prefix, **fields, **_RELAXED)
    predictor = _prediction.Predictor(_planning.settings_sources([settings]))

    def predicted(entry):
      # A partitioned variable is asked about part by part (a regex may
      # match a part's name, which selects the whole variable): at least
      # the part the rule names is predicted.
      parts = [None] if len(entry.slices) == 1 else [
          '%s/part_%d' % (entry.variable, i) for i in range(len(entry.slices))]
      return any(predictor.restores_whole(
          entry.variable, entry.shape, tf.as_dtype(entry.dtype),
          entry.variable in trainable, part=p) for p in parts)

    # Asked in the graph being built, as the stand-ins ask (a slot's
    # primary is known there).
    with tf.Graph().as_default():
      _build_b()
      trainable = set()
      for v in tf.compat.v1.trainable_variables():
        info = v._save_slice_info  # pylint: disable=protected-access
        trainable.add(info.full_name if info else v.op.name)
      plan = warmstart.make_settings_plan(settings)
      # Adam's beta1_power and beta2_power have a value, not an initializer:
      # no stand-in is possible.
      whole = [e for e in plan.restored if e.action in ('restore', 'cast') and
               e.variable not in ('beta1_power', 'beta2_power')]
      self.assertNotEmpty(whole)
      self.assertEqual([], [e.variable for e in whole if not predicted(e)])

  def test_unreadable_checkpoint_predicts_nothing(self):
    missing = os.path.join(self.get_temp_dir(), 'nowhere', 'model.ckpt')
    corrupt = os.path.join(self.create_tempdir().full_path, 'model.ckpt')
    with open(corrupt + '.index', 'wb') as f:
      f.write(b'not an index' * 8)
    for path in (missing, corrupt):
      predictor = _prediction.Predictor(
          _planning.settings_sources([WarmStartSettings(path, '.*')]))
      self.assertPredicts(predictor, False, 'dnn/kernel', [3, 2])
    # The plan, made once the variables exist, raises the error.
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('dnn/kernel', [3, 2])
      with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                  'not an sstable'):
        warmstart.make_settings_plan(WarmStartSettings(corrupt, '.*'))

  def test_any_source(self):
    other_prefix, _ = test_util.save_checkpoint(
        self.create_tempdir().full_path,
        lambda: tf.compat.v1.get_variable('other/w', [4]))
    missing = os.path.join(self.get_temp_dir(), 'nowhere', 'model.ckpt')
    predictor = _prediction.Predictor(_planning.settings_sources([
        WarmStartSettings(missing, '.*'),
        WarmStartSettings(self.prefix, 'dnn/'),
        WarmStartSettings(other_prefix, 'other/')]))
    self.assertPredicts(predictor, True, 'dnn/kernel', [3, 2])
    self.assertPredicts(predictor, True, 'other/w', [4])
    self.assertPredicts(predictor, False, 'old/w', [3])

  def test_object_based_checkpoint_names(self):
    self.assertTrue(tf.executing_eagerly())
    module = tf.Module()
    module.kernel = tf.Variable(np.ones([2, 3], np.float32),
                                name='dense/kernel')
    path = tf.train.Checkpoint(model=module).write(
        os.path.join(self.create_tempdir().full_path, 'tf2'))
    predictor = _prediction.Predictor(
          _planning.settings_sources([WarmStartSettings(path, '.*')]))
    # Found by the name it had when saved, as the plan finds it.
    self.assertPredicts(predictor, True, 'dense/kernel', [2, 3])
    self.assertPredicts(predictor, False, 'dense/kernel', [3, 2])
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('dense/kernel', [2, 3])
      plan = warmstart.make_settings_plan(WarmStartSettings(path, '.*'))
    self.assertEqual(['dense/kernel'], [e.variable for e in plan.restored])


def _fn(initializer, shape, dtype=tf.float32):
  """The initial value callable `get_variable` makes of `initializer`."""
  if 'partition_info' in inspect.signature(initializer).parameters:
    return functools.partial(initializer, shape, dtype=dtype,
                             partition_info=None)
  return functools.partial(initializer, shape, dtype=dtype)


class SeedDrawsTest(parameterized.TestCase, tf.test.TestCase):

  def setUp(self):
    super().setUp()
    # Counted afresh in each test (the cache is the module's).
    patcher = mock.patch.dict(_stand_ins._DRAWS, clear=True)
    patcher.start()
    self.addCleanup(patcher.stop)

  def draws(self, initializer, shape, dtype=tf.float32):
    return _stand_ins._seed_draws(_fn(initializer, shape, dtype), dtype,
                                  tf.TensorShape(shape))

  def measured(self, initializer, shape, dtype=tf.float32):
    """The op seeds a build of the initializer draws in a seeded graph."""
    with tf.Graph().as_default() as graph:
      graph.seed = 3
      _fn(initializer, shape, dtype)()
      return _tf_rebuild.seed_draws(graph)

  @parameterized.named_parameters(
      ('glorot_uniform', tf.compat.v1.glorot_uniform_initializer, 1),
      ('glorot_normal', tf.compat.v1.glorot_normal_initializer, 1),
      ('zeros', tf.compat.v1.zeros_initializer, 0),
      ('ones', tf.compat.v1.ones_initializer, 0),
      ('truncated_normal', tf.compat.v1.truncated_normal_initializer, 1),
      ('random_uniform', tf.compat.v1.random_uniform_initializer, 1),
      ('orthogonal', tf.compat.v1.orthogonal_initializer, 1),
      ('v2_random_normal', tf.random_normal_initializer, 1),
  )
  def test_tensorflow_initializers(self, make, expected):
    for shape in ([3, 2], [5, 4]):
      self.assertEqual(expected, self.measured(make(), shape))
      self.assertEqual(expected, self.draws(make(), shape))

  def test_explicit_seed_draws_none_of_the_graphs(self):
    for make in (tf.compat.v1.glorot_uniform_initializer,
                 tf.compat.v1.truncated_normal_initializer):
      self.assertEqual(0, self.measured(make(seed=0), [3, 2]))
      self.assertEqual(0, self.draws(make(seed=0), [3, 2]))
      self.assertEqual(0, self.draws(make(seed=7), [3, 2]))
    self.assertEqual({}, _stand_ins._DRAWS)  # Known without a build.

  def test_initializer_not_of_tensorflow_is_not_known(self):

    def my_initializer(shape, dtype=None, partition_info=None):
      del partition_info
      return tf.random.uniform(shape, dtype=dtype)

    self.assertIsNone(self.draws(my_initializer, [3, 2]))
    self.assertIsNone(_stand_ins._seed_draws(
        lambda: tf.zeros([3]), tf.float32, tf.TensorShape([3])))

    class Subclass(tf.compat.v1.glorot_uniform_initializer):
      pass

    self.assertIsNone(self.draws(Subclass(), [3, 2]))

  def test_initializer_that_fails_to_build_is_not_known(self):
    # Orthogonal needs a rank of 2 or more.
    self.assertIsNone(self.draws(tf.compat.v1.orthogonal_initializer(), [3]))
    self.assertEqual(1, self.draws(tf.compat.v1.orthogonal_initializer(),
                                   [3, 3]))

  def test_counted_once_per_type_dtype_shape_and_distribution(self):
    self.assertEqual(1, self.draws(tf.compat.v1.glorot_uniform_initializer(),
                                   [3, 2]))
    self.assertEqual(1, self.draws(tf.compat.v1.glorot_normal_initializer(),
                                   [3, 2]))
    self.assertEqual(1, self.draws(tf.compat.v1.glorot_uniform_initializer(),
                                   [7, 7]))
    self.assertEqual(1, self.draws(tf.compat.v1.glorot_uniform_initializer(),
                                   [3, 2]))
    self.assertLen(_stand_ins._DRAWS, 3)

  def test_draws_that_depend_on_the_shape(self):
    # TF's ConvolutionOrthogonal2D draws 4 * k - 3 op seeds for a k x k
    # kernel: a count kept per rank is wrong for every other size.
    from tensorflow.python.ops import init_ops  # pylint: disable=g-import-not-at-top
    for k in (3, 5):
      shape = [k, k, 2, 2]
      self.assertEqual(4 * k - 3, self.measured(
          init_ops.ConvolutionOrthogonal2D(), shape))
    for k in (3, 5):
      shape = [k, k, 2, 2]
      self.assertEqual(4 * k - 3, self.draws(
          init_ops.ConvolutionOrthogonal2D(), shape), shape)


class StandInsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.prefix, cls.ckpt = test_util.save_checkpoint(
        os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__),
        _build_a)

  def _build(self):
    kernel = tf.compat.v1.get_variable('dnn/kernel', [3, 2])
    late = tf.compat.v1.get_variable('late', [3])
    return kernel, late

  def _cold(self):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(3)
      self._build()
      return test_util.initialize(graph), test_util.initial_values(graph)

  def test_release_builds_the_real_initial_values(self):
    settings = _settings.normalize(WarmStartSettings(self.prefix, 'dnn/'))
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(3)
      stand_ins = _stand_ins.StandIns(_planning.settings_sources(settings))
      self.assertEqual(0, stand_ins.count)
      with stand_ins:
        kernel, late = self._build()
      self.assertEqual(1, stand_ins.count)
      self.assertEqual(['dnn/kernel'], test_util.stand_ins(graph))
      self.assertEqual('Placeholder', kernel.initial_value.op.type)
      self.assertEqual('dnn/kernel/Initializer/stand_in',
                       kernel.initial_value.op.name)
      self.assertNotEqual('Placeholder', late.initial_value.op.type)
      stand_ins.release()
      self.assertEqual(0, stand_ins.count)
      self.assertEqual([], test_util.stand_in_readers(graph))
      self.assertNotEqual('Placeholder', kernel.initial_value.op.type)
      self.assertIn('dnn/kernel/Initializer/random_uniform',
                    [op.name for op in graph.get_operations()])
      values = test_util.initialize(graph)
      initial = test_util.initial_values(graph)
    stand_ins.release()  # Nothing left: a no-op.
    cold_values, cold_initial = self._cold()
    for name in ('dnn/kernel', 'late'):
      np.testing.assert_array_equal(cold_values[name], values[name])
      np.testing.assert_array_equal(cold_initial[name], initial[name])

  def test_exception_in_the_block_releases(self):
    settings = _settings.normalize(WarmStartSettings(self.prefix, 'dnn/'))
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(3)
      stand_ins = _stand_ins.StandIns(_planning.settings_sources(settings))
      with self.assertRaisesRegex(ValueError, 'in the block'):
        with stand_ins:
          self._build()
          raise ValueError('in the block')
      self.assertEqual(0, stand_ins.count)
      self.assertEqual([], test_util.stand_in_readers(graph))
      values = test_util.initialize(graph)
    cold_values, _ = self._cold()
    np.testing.assert_array_equal(cold_values['dnn/kernel'],
                                  values['dnn/kernel'])

  def test_release_builds_the_others_when_one_fails(self):
    settings = _settings.normalize(WarmStartSettings(self.prefix, '.*'))

    def failing(shape, dtype=None, partition_info=None):
      # Never called at creation (a stand-in), fails when built later.
      del shape, dtype, partition_info
      raise RuntimeError('initializer broke')

    with tf.Graph().as_default() as graph:
      stand_ins = _stand_ins.StandIns(_planning.settings_sources(settings))
      with stand_ins:
        tf.compat.v1.get_variable('dnn/kernel', [3, 2], initializer=failing)
        tf.compat.v1.get_variable('dnn/bias', [2])
      self.assertEqual(2, stand_ins.count)
      with self.assertRaisesRegex(RuntimeError, 'initializer broke'):
        stand_ins.release()
      # The one that could be built was; nothing is left pending.
      self.assertEqual(0, stand_ins.count)
      readers = test_util.stand_in_readers(graph)
      self.assertEqual([], [r for r in readers if 'dnn/bias' in r])
      self.assertNotEmpty([r for r in readers if 'dnn/kernel' in r])

  def test_applying_a_plan_reads_the_restored_values(self):
    settings = _settings.normalize(WarmStartSettings(self.prefix, 'dnn/'))
    with tf.Graph().as_default() as graph:
      stand_ins = _stand_ins.StandIns(_planning.settings_sources(settings))
      with stand_ins:
        kernel, _ = self._build()
        doubled = 2.0 * kernel.initial_value
      plan = warmstart.make_settings_plan(settings)
      with stand_ins.applying(plan):
        warmstart.apply_plan(plan)
      self.assertEqual(0, stand_ins.count)
      self.assertEqual([], test_util.stand_in_readers(graph))
      values = test_util.initialize(graph)
      with tf.compat.v1.Session() as sess:
        doubled = sess.run(doubled)
    self.assertAllClose(self.ckpt['dnn/kernel'], values['dnn/kernel'])
    self.assertAllClose(2.0 * self.ckpt['dnn/kernel'], doubled)

  def test_in_use_twice(self):
    stand_ins = _stand_ins.StandIns(_planning.settings_sources(
        _settings.normalize(WarmStartSettings(self.prefix, 'dnn/'))))
    with tf.Graph().as_default():
      with stand_ins:
        with self.assertRaisesRegex(RuntimeError, 'already in use'):
          stand_ins.__enter__()

  def test_variables_without_a_stand_in(self):
    settings = _settings.normalize(WarmStartSettings(self.prefix, ['.*']))
    with tf.Graph().as_default() as graph:
      with _stand_ins.StandIns(_planning.settings_sources(settings)) as stand_ins:
        # A value, not a callable; no shape; validate_shape=False.
        tf.compat.v1.get_variable('dnn/kernel', initializer=tf.ones([3, 2]))
        tf.compat.v1.Variable(lambda: tf.ones([2]), name='dnn/bias')
        tf.compat.v1.Variable(lambda: tf.ones([3]), name='old/w',
                              shape=[3], dtype=tf.float32,
                              validate_shape=False)
        tf.compat.v1.get_variable('old/sub/v', [2])
      self.assertEqual(['old/sub/v'], test_util.stand_ins(graph))
      self.assertEqual(1, stand_ins.count)
      stand_ins.release()


if __name__ == '__main__':
  tf.test.main()
