"""Tests of `warm_start`, `make_settings_plan` and `apply_settings`.

Graph A is trained a few steps and saved; graph B, in a fresh graph, is
warm-started; values are compared with the checkpoint (what is selected) and
with B's own initial values (what is not: the global step, optimizer slots,
other variables). Where TF's `tf.compat.v1.train.warm_start` is right, both
run on the same graph B and must agree bit for bit; where TF is silent or
fails, the test pins what TF does and what warmstart does instead.
"""

from __future__ import annotations

import os
import re

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart._planning import _slots
from warmstart import _settings
from warmstart import _warm_start

WarmStartSettings = _settings.WarmStartSettings

# Before anything initializes the TF runtime: two CPUs for MirroredStrategy.
_CPUS = test_util.configure_logical_cpus(2)

_TRAINABLE = ('dnn/kernel', 'dnn/bias', 'emb')
_ADAM_SLOTS = ('dnn/kernel/Adam', 'dnn/kernel/Adam_1', 'dnn/bias/Adam',
               'dnn/bias/Adam_1', 'emb/Adam', 'emb/Adam_1')


def _adam():
  return tf.compat.v1.train.AdamOptimizer(0.1)


def _momentum():
  return tf.compat.v1.train.MomentumOptimizer(0.1, 0.9)


def _model(optimizer=None, partitions=2, kernel_shape=(3, 2),
           kernel_dtype=tf.float32, extra=()):
  """dnn/kernel, dnn/bias, emb (partitioned), bn/moving_mean, global_step."""
  step = tf.compat.v1.train.get_or_create_global_step()
  with tf.compat.v1.variable_scope('dnn'):
    kernel = tf.compat.v1.get_variable('kernel', kernel_shape, kernel_dtype)
    bias = tf.compat.v1.get_variable('bias', [2])
  emb = tf.compat.v1.get_variable(
      'emb', [6, 2],
      partitioner=tf.compat.v1.fixed_size_partitioner(partitions))
  with tf.compat.v1.variable_scope('bn'):
    tf.compat.v1.get_variable('moving_mean', [2], trainable=False)
  for name in extra:
    tf.compat.v1.get_variable(name, [2])
  loss = (tf.reduce_sum(tf.cast(kernel, tf.float32)) + tf.reduce_sum(bias) +
          tf.reduce_sum(tf.square(tf.concat(list(emb), 0))))
  if optimizer is None:
    return None
  return optimizer().minimize(loss, global_step=step)


def _save(directory, build, steps=2, name='model.ckpt', seed=1):
  """Builds graph A, trains `steps` steps (slots become non-zero), saves."""
  os.makedirs(directory, exist_ok=True)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(seed)
    train_op = build()
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for _ in range(steps if train_op is not None else 0):
        sess.run(train_op)
      prefix = saver.save(sess, os.path.join(directory, name))
  reader = tf.compat.v1.train.NewCheckpointReader(prefix)
  return prefix, {n: reader.get_tensor(n)
                  for n in reader.get_variable_to_shape_map()}


def _var(name):
  """The variable (or the parts of the partitioned variable) named `name`."""
  found = [v for v in tf.compat.v1.global_variables() if v.op.name == name]
  if found:
    return found[0]
  parts = [v for v in tf.compat.v1.global_variables()
           if getattr(v, '_save_slice_info', None) is not None and
           v._save_slice_info.full_name == name]  # pylint: disable=protected-access
  if not parts:
    raise KeyError(name)
  return parts


class WarmStartTestCase(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    base = os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__)
    cls.prefix, cls.ckpt = _save(os.path.join(base, 'adam'),
                                 lambda: _model(_adam))
    cls.prefix_m, cls.ckpt_m = _save(os.path.join(base, 'momentum'),
                                     lambda: _model(_momentum))
    cls.prefix_2, cls.ckpt_2 = _save(os.path.join(base, 'other'),
                                     lambda: _model(_adam), seed=5)

  def run_b(self, build, warm=None, seed=2, *, settings=None,
            compare_under_scope=True):
    """`test_util.run_graph`: `settings` are also compared under the scope."""
    return test_util.run_graph(build, warm, seed, settings=settings,
                               compare_under_scope=compare_under_scope)

  def assertWarmStarted(self, got, fresh, ckpt, restored):
    """`restored` ({variable: tensor}) hold the checkpoint, all else `fresh`."""
    for variable, tensor in restored.items():
      self.assertAllClose(ckpt[tensor], got[variable], msg=variable)
    for variable, value in fresh.items():
      if variable in restored or variable.split('/part_')[0] in restored:
        continue
      self.assertAllClose(value, got[variable], msg=variable)

  def assertSameValues(self, expected, got):
    """Bit-for-bit equality of every variable (a differential test)."""
    self.assertCountEqual(expected, got)
    for name in expected:
      np.testing.assert_array_equal(expected[name], got[name], err_msg=name)

  def assertDiffer(self, a, b, names):
    """The test can fail: checkpoint and fresh values differ for `names`."""
    for name in names:
      self.assertFalse(np.array_equal(a[name], b[name]), name)


class SelectionTest(WarmStartTestCase):
  """The four TF fields, with TF's meaning."""

  def test_default_restores_trainable_variables_only(self):
    build = lambda: _model(_adam)
    fresh, _ = self.run_b(build)
    got, plan = self.run_b(build, settings=WarmStartSettings(self.prefix))
    self.assertDiffer(self.ckpt, fresh, _TRAINABLE + _ADAM_SLOTS +
                      ('global_step', 'beta1_power', 'bn/moving_mean'))
    self.assertCountEqual(_TRAINABLE, [e.variable for e in plan])
    self.assertWarmStarted(got, fresh, self.ckpt,
                           {n: n for n in _TRAINABLE})
    # Not selected: global step, slots, Adam's own variables, statistics.
    for name in _ADAM_SLOTS + ('global_step', 'beta1_power', 'beta2_power',
                               'bn/moving_mean'):
      self.assertAllClose(fresh[name], got[name], msg=name)

  def test_default_matches_tf(self):
    build = lambda: _model(_adam)
    expected, _ = self.run_b(
        build, lambda: tf.compat.v1.train.warm_start(self.prefix))
    got, _ = self.run_b(build, settings=WarmStartSettings(self.prefix))
    self.assertSameValues(expected, got)

  def test_regex_is_re_match_on_trainable_like_tf(self):
    build = lambda: _model(_adam)
    for regex in ('dnn/', 'dnn/k', '.*bias', 'e'):
      expected, _ = self.run_b(
          build, lambda: tf.compat.v1.train.warm_start(self.prefix, regex))
      got, plan = self.run_b(
          build, settings=WarmStartSettings(self.prefix, regex))
      self.assertSameValues(expected, got)
      self.assertNotEmpty(plan.entries, regex)
      for entry in plan:
        self.assertTrue(re.match(regex, entry.variable), entry.variable)

  def test_regexes_match_names_with_colon_zero_as_tf_does(self):
    # TF's own documented example: '[^/]' matches the ':' of 'v2:0', so
    # ['v1', 'v2[^/]'] selects v1 and v2, not v2/... Here: 'dnn/bias[^/]'.
    build = lambda: _model()
    for regexes in (['dnn/kernel', 'dnn/bias[^/]'], ['dnn/bias:0$'],
                    'dnn/.*:0$'):
      expected, _ = self.run_b(
          build, lambda: tf.compat.v1.train.warm_start(self.prefix, regexes))
      got, plan = self.run_b(
          build, settings=WarmStartSettings(self.prefix, regexes))
      self.assertSameValues(expected, got)
      self.assertNotEmpty(plan.entries, regexes)

  def test_a_regex_that_needs_the_colon_zero_says_so(self):
    # TF matches 'dnn/bias:0': 'dnn/bias$' selects nothing there, without a
    # word. Here it is an error naming the spelling that works.
    build = lambda: _model()
    fresh, _ = self.run_b(build)
    tf_got, _ = self.run_b(
        build, lambda: tf.compat.v1.train.warm_start(self.prefix, 'dnn/bias$'))
    self.assertSameValues(fresh, tf_got)
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"vars_to_warm_start='dnn/bias\$' matches no trainable variable of the "
        r"graph\. Regexes are matched as TF matches them, against the names "
        r"with ':0' \('dnn/bias:0'\), so it matches none; without the ':0' it "
        r"would match 'dnn/bias': write 'dnn/bias:0\$'"):
      self.run_b(build, settings=WarmStartSettings(self.prefix, 'dnn/bias$'))
    got, plan = self.run_b(
        build, settings=WarmStartSettings(self.prefix, 'dnn/bias:0$'))
    self.assertEqual(['dnn/bias'], [e.variable for e in plan])
    self.assertWarmStarted(got, fresh, self.ckpt, {'dnn/bias': 'dnn/bias'})

  def test_list_of_regexes_selects_global_variables_like_tf(self):
    build = lambda: _model()  # No optimizer: TF's global selection is right.
    regexes = ['dnn/k.*', 'bn/']
    expected, _ = self.run_b(
        build, lambda: tf.compat.v1.train.warm_start(self.prefix, regexes))
    got, plan = self.run_b(
        build, settings=WarmStartSettings(self.prefix, regexes))
    self.assertSameValues(expected, got)
    self.assertCountEqual(['dnn/kernel', 'bn/moving_mean'],
                          [e.variable for e in plan])
    self.assertEqual("vars_to_warm_start[1]='bn/'",
                     plan.entry('bn/moving_mean').rule)

  def test_list_of_regexes_leaves_slots_where_tf_fails(self):
    build = lambda: _model(_adam)
    # Graph A trained with Momentum: TF's ['dnn/kernel'] also grabs the Adam
    # slots of graph B, then fails on them.
    with self.assertRaisesRegex(
        ValueError, re.escape('Tensor dnn/kernel/Adam is not found in')):
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(
          self.prefix_m, ['dnn/kernel']))
    fresh, _ = self.run_b(build)
    got, plan = self.run_b(build, settings=WarmStartSettings(
        self.prefix_m, ['dnn/kernel']))
    self.assertEqual(['dnn/kernel'], [e.variable for e in plan])
    self.assertWarmStarted(got, fresh, self.ckpt_m,
                           {'dnn/kernel': 'dnn/kernel'})

  def test_list_of_regexes_never_selects_global_step(self):
    build = lambda: _model()
    # TF's ['.*'] restores the global step: a warm-started run resumes its
    # learning-rate schedule where the old run stopped.
    tf_got, _ = self.run_b(
        build, lambda: tf.compat.v1.train.warm_start(self.prefix, ['.*']))
    self.assertEqual(self.ckpt['global_step'], tf_got['global_step'])
    fresh, _ = self.run_b(build)
    got, plan = self.run_b(
        build, settings=WarmStartSettings(self.prefix, ['.*']))
    self.assertNotIn('global_step', [e.variable for e in plan])
    self.assertEqual(0, got['global_step'])
    self.assertWarmStarted(
        got, fresh, self.ckpt,
        {n: n for n in _TRAINABLE + ('bn/moving_mean',)})

  def test_include_global_step(self):
    got, plan = self.run_b(
        _model, settings=WarmStartSettings(
            self.prefix, 'dnn/', include_global_step=True))
    self.assertEqual('include_global_step', plan.entry('global_step').rule)
    self.assertEqual(self.ckpt['global_step'], got['global_step'])
    self.assertNotEqual(0, self.ckpt['global_step'])

  def test_include_global_step_without_one(self):
    def build():
      tf.compat.v1.get_variable('dnn/kernel', [3, 2])
    with self.assertRaisesRegex(warmstart.VariableNotFoundError,
                                'include_global_step=True, but the graph has '
                                'no global step'):
      self.run_b(build, settings=WarmStartSettings(
          self.prefix, include_global_step=True))

  def test_list_of_variables_like_tf(self):
    def variables():
      return [_var('dnn/kernel'), _var('bn/moving_mean'), _var('global_step')
             ] + _var('emb')
    build = lambda: _model(_adam)
    expected, _ = self.run_b(
        build, lambda: tf.compat.v1.train.warm_start(self.prefix, variables()))
    got, plan = self.run_b(
        build, lambda: _warm_start.warm_start(self.prefix, variables()))
    self.assertSameValues(expected, got)
    # Named explicitly: the global step is restored.
    self.assertCountEqual(['dnn/kernel', 'bn/moving_mean', 'global_step', 'emb'],
                          [e.variable for e in plan])
    self.assertEqual(self.ckpt['global_step'], got['global_step'])

  def test_list_with_one_partition(self):
    build = lambda: _model()
    # TF takes a lone partition for a whole variable, and fails.
    with self.assertRaisesRegex(
        ValueError, re.escape("Shape of variable emb/part_1:0 ((3, 2)) doesn't "
                              'match with shape of tensor emb ([6, 2])')):
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(
          self.prefix, [_var('emb')[1]]))
    got, plan = self.run_b(
        build, lambda: _warm_start.warm_start(self.prefix, [_var('emb')[1]]))
    self.assertEqual(1, len(plan.entry('emb').slices))
    fresh, _ = self.run_b(build)
    self.assertAllClose(fresh['emb/part_0'], got['emb/part_0'])
    self.assertAllClose(self.ckpt['emb'][3:], got['emb/part_1'])

  def test_partitioned_variable_object(self):
    def warm(fn):
      with tf.compat.v1.variable_scope('', reuse=True):
        emb = tf.compat.v1.get_variable(
            'emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      return fn(self.prefix, [emb])
    with self.assertRaisesRegex(ValueError, 'must be all `Variable` or all '
                                '`str`'):
      self.run_b(_model, lambda: warm(tf.compat.v1.train.warm_start))
    fresh, _ = self.run_b(_model)
    got, plan = self.run_b(_model, lambda: warm(_warm_start.warm_start))
    self.assertEqual(['emb'], [e.variable for e in plan])
    self.assertWarmStarted(got, fresh, self.ckpt, {'emb': 'emb'})

  def test_variable_of_another_graph(self):
    with tf.Graph().as_default():
      stranger = tf.compat.v1.get_variable('dnn/kernel', [3, 2])
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"vars_to_warm_start\[0\] is the variable 'dnn/kernel' of another "
        'graph'):
      self.run_b(_model,
                 lambda: _warm_start.warm_start(self.prefix, [stranger]))

  def test_keras_and_tf_variable_like_tf(self):
    def build():
      tf.Variable(tf.zeros([3, 2]), name='dnn/kernel')
      tf.Variable(tf.zeros([2]), name='dnn/bias', trainable=False)
    expected, _ = self.run_b(
        build, lambda: tf.compat.v1.train.warm_start(self.prefix))
    got, plan = self.run_b(build, settings=WarmStartSettings(self.prefix))
    self.assertSameValues(expected, got)
    self.assertEqual(['dnn/kernel'], [e.variable for e in plan])


class SlotsTest(WarmStartTestCase):
  """Optimizer slots are never pulled in by a regex unless asked for."""

  def test_include_slots(self):
    build = lambda: _model(_adam)
    fresh, _ = self.run_b(build)
    got, plan = self.run_b(build, settings=WarmStartSettings(
        self.prefix, ['dnn/kernel', 'emb'], include_slots=True))
    restored = ('dnn/kernel', 'dnn/kernel/Adam', 'dnn/kernel/Adam_1', 'emb',
                'emb/Adam', 'emb/Adam_1', 'beta1_power', 'beta2_power')
    self.assertCountEqual(restored, [e.variable for e in plan])
    self.assertDiffer(self.ckpt, fresh, restored)
    self.assertWarmStarted(got, fresh, self.ckpt, {n: n for n in restored})
    # The bias and its slots were not selected.
    for name in ('dnn/bias', 'dnn/bias/Adam', 'dnn/bias/Adam_1'):
      self.assertAllClose(fresh[name], got[name], msg=name)

  def test_slots_missing_from_the_checkpoint(self):
    # A Momentum checkpoint into an Adam graph. optimizer_state='all': every
    # optimizer variable must be restored, each missing one named.
    # 'matching' (and its deprecated alias include_slots=True): those
    # without a counterpart start fresh, listed in the plan.
    build = lambda: _model(_adam)
    with self.assertRaisesRegex(
        warmstart.TensorNotFoundError,
        r"(?s)Variable 'dnn/kernel/Adam' \(rule \"vars_to_warm_start="
        r"'dnn/kernel', include_slots\"\): tensor "
        r"'dnn/kernel/Adam' is not in checkpoint .*Did you mean: .*"
        r"'dnn/kernel/Momentum'.*optimizer_state='all': \d+ optimizer "
        r"variable\(s\) of the graph are not restored: .*'dnn/bias/Adam'"):
      self.run_b(build, lambda: _warm_start.make_settings_plan(
          WarmStartSettings(self.prefix_m, 'dnn/kernel',
                            optimizer_state='all')))
    fresh, _ = self.run_b(build)
    for fields in (dict(optimizer_state='matching'),
                   dict(include_slots=True)):
      run = self.run_b(build, settings=WarmStartSettings(
          self.prefix_m, 'dnn/kernel', **fields))
      got, plan = run
      self.assertEqual(['dnn/kernel'], [e.variable for e in plan.restored])
      self.assertCountEqual(
          ['dnn/kernel/Adam', 'dnn/kernel/Adam_1', 'beta1_power',
           'beta2_power'], [e.variable for e in plan.skipped])
      self.assertIn('no counterpart, it starts fresh',
                    plan.entry('dnn/kernel/Adam').reason)
      # Under warm_start_scope, the skipped slots built their initializers.
      self.assertEqual(('dnn/kernel',), run.stand_ins)
      self.assertWarmStarted(got, fresh, self.ckpt_m,
                             {'dnn/kernel': 'dnn/kernel'})

  def test_regex_matching_only_slots(self):
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"vars_to_warm_start\[0\]='dnn/kernel/Adam' matches no variable of "
        r"the graph\. It matches only .*'dnn/kernel/Adam' is an optimizer slot "
        r'.*\(pass include_slots=True\)'):
      self.run_b(lambda: _model(_adam), settings=WarmStartSettings(
          self.prefix, ['dnn/kernel/Adam']))
    got, plan = self.run_b(lambda: _model(_adam), settings=WarmStartSettings(
        self.prefix, ['dnn/kernel/Adam'], include_slots=True))
    self.assertCountEqual(['dnn/kernel/Adam', 'dnn/kernel/Adam_1'],
                          [e.variable for e in plan])
    self.assertAllClose(self.ckpt['dnn/kernel/Adam'], got['dnn/kernel/Adam'])

  def test_auxiliary_variables_are_found_structurally(self):
    with tf.Graph().as_default():
      _model(_adam)
      ema = tf.train.ExponentialMovingAverage(0.9)
      ema.apply([_var('dnn/bias')])
      tf.compat.v1.train.FtrlOptimizer(0.1).minimize(
          tf.reduce_sum(_var('dnn/kernel')))
      tf.compat.v1.get_variable('dnn/kernel_norm', [2], trainable=False)
      aux = _slots.auxiliary_variables(warmstart._variables.collect())
    self.assertEqual('dnn/kernel', aux['dnn/kernel/Adam_1'])
    self.assertEqual('dnn/kernel', aux['dnn/kernel/Ftrl_1'])
    self.assertEqual('emb', aux['emb/Adam'])
    self.assertEqual('dnn/bias', aux['dnn/bias/ExponentialMovingAverage'])
    self.assertEqual('', aux['beta2_power'])
    for name in ('dnn/kernel', 'global_step', 'bn/moving_mean',
                 'dnn/kernel_norm'):
      self.assertNotIn(name, aux)


class PartitionedTest(WarmStartTestCase):

  def test_repartitioned_like_tf(self):
    build = lambda: _model(partitions=3)
    expected, _ = self.run_b(
        build, lambda: tf.compat.v1.train.warm_start(self.prefix))
    got, plan = self.run_b(build, settings=WarmStartSettings(self.prefix))
    self.assertSameValues(expected, got)
    self.assertEqual(3, len(plan.entry('emb').slices))
    self.assertAllClose(self.ckpt['emb'], got['emb'])

  def test_regex_matches_a_partition_name_as_tf_does(self):
    fresh, _ = self.run_b(_model)
    for regex in ('emb/part_1', 'emb', r'emb(/part_\d+)?:0$'):
      got, plan = self.run_b(
          _model, settings=WarmStartSettings(self.prefix, regex))
      self.assertEqual(['emb'], [e.variable for e in plan], regex)
      # Selected as one: every partition is restored.
      self.assertEqual(2, len(plan.entry('emb').slices))
      self.assertWarmStarted(got, fresh, self.ckpt, {'emb': 'emb'})
    # TF matches the parts' names ('emb/part_0:0'), never 'emb' alone.
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"'emb/part_0:0'.*would match 'emb': write 'emb\(/part_\\d\+\)\?:0\$'"):
      self.run_b(_model, settings=WarmStartSettings(self.prefix, 'emb$'))


class RenameTest(WarmStartTestCase):

  @staticmethod
  def _renamed():
    with tf.compat.v1.variable_scope('new'):
      tf.compat.v1.get_variable('kernel', [3, 2])
      tf.compat.v1.get_variable('bias_a', [2])
      tf.compat.v1.get_variable('bias_b', [2])
    tf.compat.v1.get_variable(
        'new_emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(3))

  _RENAMES = {'new/kernel': 'dnn/kernel', 'new/bias_a': 'dnn/bias',
              'new/bias_b': 'dnn/bias', 'new_emb': 'emb'}

  def test_renames_like_tf(self):
    expected, _ = self.run_b(
        self._renamed, lambda: tf.compat.v1.train.warm_start(
            self.prefix, '.*', None, self._RENAMES))
    got, plan = self.run_b(
        self._renamed, settings=WarmStartSettings(
            self.prefix, '.*', None, self._RENAMES))
    self.assertSameValues(expected, got)
    fresh, _ = self.run_b(self._renamed)
    self.assertWarmStarted(got, fresh, self.ckpt, self._RENAMES)
    self.assertEqual(
        "vars_to_warm_start='.*', var_name_to_prev_var_name['new/bias_b']",
        plan.entry('new/bias_b').rule)

  def test_unused_rename(self):
    renames = {'dnn/kernl': 'dnn/kernel'}
    with self.assertRaisesRegex(
        ValueError,
        re.escape("You provided the following variables in "
                  "var_name_to_prev_var_name that were not used: "
                  "{'dnn/kernl'}.  Perhaps you misspelled them?")):
      self.run_b(_model, lambda: tf.compat.v1.train.warm_start(
          self.prefix, '.*', None, renames))
    with self.assertRaisesRegex(
        warmstart.VariableNotFoundError,
        r"var_name_to_prev_var_name key 'dnn/kernl' names no variable of the "
        r"graph\. Did you mean: 'dnn/kernel'"):
      self.run_b(_model, settings=WarmStartSettings(
          self.prefix, '.*', None, renames))

  def test_rename_of_unselected_variable(self):
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"var_name_to_prev_var_name key 'dnn/kernel' names variable "
        r"'dnn/kernel', which vars_to_warm_start='dnn/b' does not select"):
      self.run_b(_model, settings=WarmStartSettings(
          self.prefix, 'dnn/b', None, {'dnn/kernel': 'dnn/kernel'}))

  def test_rename_of_a_partition(self):
    with self.assertRaisesRegex(
        warmstart.VariableNotFoundError,
        r"key 'emb/part_0' names a partition of 'emb': use the full variable "
        r"name 'emb'"):
      self.run_b(_model, settings=WarmStartSettings(
          self.prefix, '.*', None, {'emb/part_0': 'emb'}))

  def test_allow_unmatched(self):
    fresh, _ = self.run_b(_model)
    settings = WarmStartSettings(
        self.prefix, ['nothing/.*', 'dnn/bias'], None, {'typo': 'x'},
        allow_unmatched=True)
    # The plain run's warnings, then (apart) those of the run under the scope.
    with self.assertLogs(level='WARNING') as logs:
      run = self.run_b(_model, settings=settings, compare_under_scope=False)
    got, plan = run
    self.assertEqual(['dnn/bias'], [e.variable for e in plan])
    self.assertWarmStarted(got, fresh, self.ckpt, {'dnn/bias': 'dnn/bias'})
    text = '\n'.join(logs.output)
    self.assertIn("vars_to_warm_start[0]='nothing/.*' matches no", text)
    self.assertIn("var_name_to_prev_var_name key 'typo'", text)
    with self.assertLogs(level='WARNING') as scope_logs:
      test_util.assert_same_under_scope(_model, settings, run)
    self.assertEqual(logs.output, scope_logs.output)


class ProblemsTest(WarmStartTestCase):

  def test_unmatched_regex(self):
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"vars_to_warm_start='dnn/kernal' matches no trainable variable of "
        r"the graph\. Did you mean: 'dnn/kernel'.*Viable names: 'dnn/bias', "
        r"'dnn/kernel', 'emb'"):
      self.run_b(_model,
                 settings=WarmStartSettings(self.prefix, 'dnn/kernal'))

  def test_regex_matching_only_non_trainable(self):
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"'bn/moving_mean' is not trainable \(a string regex selects trainable "
        r'variables only; use a list of regexes\)'):
      self.run_b(_model, settings=WarmStartSettings(self.prefix, 'bn/'))

  def test_missing_tensor(self):
    build = lambda: _model(extra=['dnn/new'])
    with self.assertRaisesRegex(ValueError,
                                re.escape('Tensor dnn/new is not found in')):
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(self.prefix))
    with self.assertRaisesRegex(
        warmstart.TensorNotFoundError,
        r"Variable 'dnn/new' \(rule \"vars_to_warm_start='.\*'\"\): tensor "
        r"'dnn/new' is not in checkpoint"):
      self.run_b(build, settings=WarmStartSettings(self.prefix))
    fresh, _ = self.run_b(build)
    got, plan = self.run_b(build, settings=WarmStartSettings(
        self.prefix, skip_missing=True))
    self.assertEqual(['dnn/new'], [e.variable for e in plan.skipped])
    self.assertWarmStarted(got, fresh, self.ckpt, {n: n for n in _TRAINABLE})

  def test_shape_and_dtype_mismatch(self):
    for build, what in (
        (lambda: _model(kernel_shape=(4, 2)),
         r'shape \(3, 2\) in the checkpoint, \(4, 2\) in the graph'),
        (lambda: _model(kernel_dtype=tf.float64),
         'dtype float32 in the checkpoint, float64 in the graph')):
      with self.assertRaisesRegex(warmstart.MismatchError,
                                  "Variable 'dnn/kernel'.*" + what):
        self.run_b(build, settings=WarmStartSettings(self.prefix))
      fresh, _ = self.run_b(build)
      got, plan = self.run_b(build, settings=WarmStartSettings(
          self.prefix, skip_mismatched=True))
      self.assertEqual(['dnn/kernel'], [e.variable for e in plan.skipped])
      self.assertWarmStarted(got, fresh, self.ckpt,
                             {'dnn/bias': 'dnn/bias', 'emb': 'emb'})

  def test_every_problem_at_once(self):
    build = lambda: _model(kernel_shape=(4, 2), extra=['dnn/new'])
    with self.assertRaisesRegex(
        warmstart.Error,
        r"(?s)3 problems.*key 'typo'.*'dnn/kernel'.*'dnn/new'"):
      self.run_b(build, settings=WarmStartSettings(
          self.prefix, '.*', None, {'typo': 'x'}))

  def test_unknown_option(self):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        "unknown option.*skip_mising.*Did you mean: 'skip_missing'"):
      _warm_start.warm_start(self.prefix, skip_mising=True)

  def test_missing_checkpoint(self):
    with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                re.escape(self.prefix + '-typo')):
      self.run_b(_model, settings=WarmStartSettings(self.prefix + '-typo'))


class ObjectBasedCheckpointTest(WarmStartTestCase):
  """TF2 checkpoints (`tf.train.Checkpoint`) store values by object path."""

  def setUp(self):
    super().setUp()
    self.assertTrue(tf.executing_eagerly())
    module = tf.Module()
    module.kernel = tf.Variable(
        np.arange(6, dtype=np.float32).reshape([3, 2]), name='dnn/kernel')
    module.bias = tf.Variable([1.0, 2.0], name='dnn/bias')
    self.object_prefix = tf.train.Checkpoint(model=module).write(
        os.path.join(self.create_tempdir().full_path, 'object'))
    self.values = {'dnn/kernel': module.kernel.numpy(),
                   'dnn/bias': module.bias.numpy()}

  def test_found_by_saved_name_like_tf(self):
    def build():
      tf.compat.v1.get_variable('dnn/kernel', [3, 2])
      tf.compat.v1.get_variable('dnn/bias', [2])
    expected, _ = self.run_b(build, lambda: tf.compat.v1.train.warm_start(
        self.object_prefix, 'dnn/'))
    got, plan = self.run_b(build, settings=WarmStartSettings(
        self.object_prefix, 'dnn/'))
    self.assertSameValues(expected, got)
    self.assertAllClose(self.values['dnn/kernel'], got['dnn/kernel'])
    self.assertEqual('model/kernel/.ATTRIBUTES/VARIABLE_VALUE',
                     plan.entry('dnn/kernel').tensor)
    self.assertEqual("vars_to_warm_start='dnn/', object-based checkpoint",
                     plan.entry('dnn/kernel').rule)

  def test_rename_to_a_saved_name(self):
    build = lambda: tf.compat.v1.get_variable('new/w', [3, 2])
    renames = {'new/w': 'dnn/kernel'}
    # TF maps names to object keys only when no rename is given.
    with self.assertRaisesRegex(ValueError,
                                'Tensor dnn/kernel is not found in'):
      self.run_b(build, lambda: tf.compat.v1.train.warm_start(
          self.object_prefix, '.*', None, renames))
    got, _ = self.run_b(build, settings=WarmStartSettings(
        self.object_prefix, '.*', None, renames))
    self.assertAllClose(self.values['dnn/kernel'], got['new/w'])


class SourcesTest(WarmStartTestCase):
  """Several sources, settings forms, conflicts, dry runs."""

  def test_two_sources(self):
    fresh, _ = self.run_b(_model)
    got, plan = self.run_b(_model, settings=[
        WarmStartSettings(self.prefix, 'dnn/'),
        WarmStartSettings(self.prefix_2, ['emb', 'bn/'])])
    self.assertEqual((self.prefix, self.prefix_2), plan.sources)
    self.assertDiffer(self.ckpt, self.ckpt_2, ('emb', 'dnn/kernel'))
    for name in ('dnn/kernel', 'dnn/bias'):
      self.assertAllClose(self.ckpt[name], got[name], msg=name)
    for name in ('emb', 'bn/moving_mean'):
      self.assertAllClose(self.ckpt_2[name], got[name], msg=name)
    self.assertEqual(fresh['global_step'], got['global_step'])

  def test_conflict_across_sources(self):
    with self.assertRaisesRegex(
        warmstart.ConflictError,
        "Variable 'dnn/kernel' is claimed twice: from %s tensor 'dnn/kernel' "
        r"\(rule \"vars_to_warm_start='dnn/'\"\), and from %s" %
        (re.escape(self.prefix), re.escape(self.prefix_2))):
      self.run_b(_model, settings=[
          WarmStartSettings(self.prefix, "dnn/"),
          WarmStartSettings(self.prefix_2, 'dnn/k')])

  def test_conflict_with_earlier_warm_start(self):
    def warm_twice():
      _warm_start.warm_start(self.prefix, 'dnn/')
      _warm_start.warm_start(self.prefix_2, 'dnn/bias')
    with self.assertRaisesRegex(
        warmstart.ConflictError,
        r"Variable 'dnn/bias' is claimed twice: .* by an earlier warm start"):
      self.run_b(_model, warm_twice)

  @test_util.requires_estimator
  def test_settings_forms(self):
    fresh, _ = self.run_b(_model)
    tf_settings = tf.estimator.WarmStartSettings(
        self.prefix, 'new/k', var_name_to_prev_var_name={
            'new/kernel': 'dnn/kernel'})
    build = lambda: (_model(), RenameTest._renamed())
    got, plan = self.run_b(build, settings=tf_settings)
    self.assertEqual(['new/kernel'], [e.variable for e in plan])
    self.assertAllClose(self.ckpt['dnn/kernel'], got['new/kernel'])
    # A path, or a directory (its latest checkpoint): every trainable variable.
    for source in (self.prefix, os.path.dirname(self.prefix)):
      got, plan = self.run_b(_model, settings=source)
      self.assertWarmStarted(got, fresh, self.ckpt, {n: n for n in _TRAINABLE})

  def test_warm_start_applies_its_settings(self):
    # The other tests give their settings to run_b, which applies them (and
    # compares them under warm_start_scope): warm_start is exactly that.
    build = lambda: _model(_adam)
    args = (self.prefix_m, ['dnn/kernel', 'emb'], None, {'emb': 'emb'})
    options = dict(include_slots=True, skip_missing=True)
    expected, expected_plan = self.run_b(
        build, settings=WarmStartSettings(*args, **options))
    got, plan = self.run_b(build,
                           lambda: _warm_start.warm_start(*args, **options))
    self.assertSameValues(expected, got)
    self.assertEqual(expected_plan.to_json(), plan.to_json())

  def test_assignment_map_source(self):
    build = lambda: _model(_adam)
    fresh, _ = self.run_b(build)
    settings = WarmStartSettings(
        self.prefix, assignment_map={'dnn/': 'dnn/', 'emb': 'emb'})
    got, plan = self.run_b(build, settings=settings)
    # The scope map leaves the slots under dnn/ alone.
    self.assertCountEqual(_TRAINABLE, [e.variable for e in plan])
    self.assertWarmStarted(got, fresh, self.ckpt, {n: n for n in _TRAINABLE})
    settings = WarmStartSettings(
        self.prefix, assignment_map={'/': '/'}, include_slots=True,
        include_global_step=True)
    got, plan = self.run_b(build, settings=settings)
    everything = _TRAINABLE + _ADAM_SLOTS + ('global_step', 'beta1_power',
                                             'beta2_power', 'bn/moving_mean')
    self.assertCountEqual(everything, [e.variable for e in plan])
    self.assertWarmStarted(got, fresh, self.ckpt, {n: n for n in everything})

  def test_assignment_map_scope_of_slots_only(self):
    settings = WarmStartSettings(
        self.prefix, assignment_map={'dnn/kernel/': 'dnn/kernel/'})
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        r"Assignment map entry 'dnn/kernel/: dnn/kernel/': every variable "
        r'under the scope is an optimizer slot .*include_slots=True'):
      self.run_b(lambda: _model(_adam),
                 lambda: _warm_start.make_settings_plan(settings))

  def test_make_settings_plan_is_a_dry_run(self):
    with tf.Graph().as_default() as g:
      _model(_adam)
      before = len(g.get_operations())
      plan = _warm_start.make_settings_plan(self.prefix)
      self.assertLen(g.get_operations(), before)
      self.assertCountEqual(_TRAINABLE, [e.variable for e in plan])
      self.assertEqual(13, plan.num_variables)
      # Nothing applied: a real warm start afterwards does not conflict.
      _warm_start.warm_start(self.prefix)
    self.assertEqual(
        list(_TRAINABLE),
        [e['variable'] for e in warmstart.Plan.from_json(plan.to_json()
                                                        ).to_dict()['entries']])

  def test_explicit_graph(self):
    other = tf.Graph()
    with other.as_default():
      _model()
    plan = _warm_start.apply_settings(self.prefix, graph=other)
    self.assertCountEqual(_TRAINABLE, [e.variable for e in plan])
    got = test_util.initialize(other)
    self.assertAllClose(self.ckpt['dnn/kernel'], got['dnn/kernel'])

  def test_mirrored_strategy_replica_context(self):
    with tf.Graph().as_default() as g:
      strategy = tf.distribute.MirroredStrategy(_CPUS)
      with strategy.scope():
        kernel = tf.compat.v1.get_variable(
            'dnn/kernel', [3, 2], initializer=tf.compat.v1.zeros_initializer())
        bias = tf.compat.v1.get_variable(
            'dnn/bias', [2], initializer=tf.compat.v1.zeros_initializer())
        plan = strategy.extended.call_for_each_replica(
            lambda: _warm_start.warm_start(self.prefix, 'dnn/k'))
      plan = strategy.experimental_local_results(plan)[0]
      self.assertEqual(['dnn/kernel'], [e.variable for e in plan])
      with tf.compat.v1.Session(graph=g) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for component in kernel.values:
          self.assertAllClose(self.ckpt['dnn/kernel'], sess.run(component))
        self.assertAllClose(np.zeros([2]), sess.run(bias.values[1]))


if __name__ == '__main__':
  tf.test.main()
