"""Tests of `optimizer_state` and `global_step`: what comes along of the
optimizer and which step the run starts at (the first step of issue 22:
TF1 optimizers in graph mode).

Graph A trains a few steps with Adam and is saved; graph B (renamed, partly
resized) is warm-started under each policy; values are compared with the
checkpoint's (numpy for resized ones) and with each variable's own initial
value for what must start fresh.
"""

from __future__ import annotations

import os
import warnings

from absl import flags
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _options

_ZEROS = tf.compat.v1.zeros_initializer()


def _model(scope, optimizer, rows=4):
  """dense `scope`/w [rows, 3] and `scope`/b [3]; the optimizer's op."""
  step = tf.compat.v1.train.get_or_create_global_step()
  with tf.compat.v1.variable_scope(scope):
    w = tf.compat.v1.get_variable('w', [rows, 3])
    b = tf.compat.v1.get_variable('b', [3])
  loss = tf.reduce_sum(tf.square(tf.reduce_sum(w, 0) + b - 1.0))
  return optimizer().minimize(loss, global_step=step)


_ADAM = lambda: tf.compat.v1.train.AdamOptimizer(0.1)
_SGD = lambda: tf.compat.v1.train.GradientDescentOptimizer(0.1)


class OptimizerStateTest(parameterized.TestCase, tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    base = os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__)
    cls.adam, cls.adam_values = test_util.save_checkpoint(
        os.path.join(base, 'adam'), lambda: _model('old', _ADAM), steps=3)
    cls.sgd, _ = test_util.save_checkpoint(
        os.path.join(base, 'sgd'), lambda: _model('old', _SGD), steps=3)

  def run_b(self, warm, rows=4):
    return test_util.run_graph(lambda: _model('new', _ADAM, rows), warm)

  def test_auto_takes_the_slots_under_a_scope_map_as_tf_does(self):
    expected, _ = self.run_b(lambda: tf.compat.v1.train.init_from_checkpoint(
        self.adam, {'old/': 'new/'}))
    got, plan = self.run_b(lambda: warmstart.init_from_checkpoint(
        self.adam, {'old/': 'new/'}))
    for name in ('new/w', 'new/w/Adam', 'new/b/Adam_1'):
      self.assertAllEqual(expected[name], got[name], msg=name)
      self.assertIn(name, [e.variable for e in plan.restored])

  def test_none_leaves_every_optimizer_variable_fresh(self):
    cold, _ = self.run_b(None)
    got, plan = self.run_b(lambda: warmstart.init_from_checkpoint(
        self.adam, {'old/': 'new/'}, optimizer_state='none'))
    self.assertCountEqual(['new/w', 'new/b'],
                          [e.variable for e in plan.restored])
    for name in ('new/w/Adam', 'new/w/Adam_1', 'new/b/Adam', 'beta1_power'):
      self.assertAllEqual(cold[name], got[name], msg=name)
    self.assertAllEqual(self.adam_values['old/w'], got['new/w'])
    # An entry naming an optimizer tensor one by one is still honoured.
    got, _ = self.run_b(lambda: warmstart.init_from_checkpoint(
        self.adam, {'old/w/Adam': 'new/w/Adam'}, optimizer_state='none'))
    self.assertAllEqual(self.adam_values['old/w/Adam'], got['new/w/Adam'])

  def test_matching_takes_each_restored_variables_state(self):
    got, plan = self.run_b(lambda: warmstart.warm_start(
        self.adam, 'new/w', var_name_to_prev_var_name={'new/w': 'old/w'},
        optimizer_state='matching'))
    for name in ('w', 'w/Adam', 'w/Adam_1'):
      self.assertAllEqual(self.adam_values['old/' + name], got['new/' + name])
    # The optimizer's own variables come as a group with the slots.
    for name in ('beta1_power', 'beta2_power'):
      self.assertAllEqual(self.adam_values[name], got[name])
    # Not selected: dnn/b and its slots start fresh.
    self.assertNotIn('new/b/Adam', [e.variable for e in plan.restored])

  def test_matching_resizes_the_slots_as_their_variable(self):
    got, _ = self.run_b(lambda: warmstart.warm_start(
        self.adam, 'new/w', var_name_to_prev_var_name={'new/w': 'old/w'},
        optimizer_state='matching', resize=True), rows=6)
    for name in ('w', 'w/Adam', 'w/Adam_1'):
      self.assertAllEqual(self.adam_values['old/' + name],
                          got['new/' + name][:4], msg=name)
    self.assertAllEqual(np.zeros([2, 3]), got['new/w/Adam'][4:])

  def test_all_names_every_missing_optimizer_variable(self):
    # A checkpoint trained with SGD has no Adam state.
    with tf.Graph().as_default():
      _model('new', _ADAM)
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"(?s)'new/w/Adam' .*is not in checkpoint.*optimizer_state='all': "
          r"6 optimizer variable\(s\) of the graph are not restored: "
          r"'beta1_power', 'beta2_power', 'new/b/Adam', 'new/b/Adam_1', "
          r"'new/w/Adam', 'new/w/Adam_1'"):
        warmstart.make_plan(self.sgd, {'old/': 'new/'},
                            optimizer_state='all')
    # From the Adam checkpoint, everything is there.
    with tf.Graph().as_default():
      _model('new', _ADAM)
      plan = warmstart.make_plan(self.adam, {'old/': 'new/'},
                                 optimizer_state='all')
    self.assertCountEqual(
        ['new/w', 'new/b', 'new/w/Adam', 'new/w/Adam_1', 'new/b/Adam',
         'new/b/Adam_1', 'beta1_power', 'beta2_power'],
        [e.variable for e in plan.restored])

  def test_bad_values(self):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"optimizer_state must be one of 'auto', 'none', 'matching', 'all', "
        r"got 'matchin'\. Did you mean: 'matching'"):
      warmstart.Options(optimizer_state='matchin')
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"global_step must be 'reset'.*'keep'.*or a step number >= 0, got "
        r'-1'):
      warmstart.WarmStartSettings('/c', global_step=-1)
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"include_slots=True means optimizer_state='matching', but "
        r"optimizer_state='none' was given"):
      warmstart.Options(include_slots=True, optimizer_state='none')

  def test_deprecated_aliases_warn_once(self):
    _options._warned.clear()  # pylint: disable=protected-access
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter('always')
      first = warmstart.Options(include_slots=True)
      warmstart.Options(include_slots=True)
      step = warmstart.Options(include_global_step=True)
    self.assertEqual('matching', first.optimizer_state)
    self.assertEqual('keep', step.global_step)
    messages = [str(w.message) for w in caught
                if issubclass(w.category, DeprecationWarning)]
    self.assertEqual(
        ["include_slots is deprecated: write optimizer_state='matching'.",
         "include_global_step is deprecated: write global_step='keep'."],
        messages)


class GlobalStepTest(parameterized.TestCase, tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.prefix, cls.values = test_util.save_checkpoint(
        os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__),
        lambda: _model('m', _SGD), steps=3)

  @parameterized.named_parameters(
      ('reset', 'reset', 0), ('keep', 'keep', 3), ('number', 1000, 1000),
      ('zero', 0, 0))
  def test_the_run_starts_at(self, global_step, expected):
    self.assertEqual(3, self.values['global_step'])
    got, plan = test_util.run_graph(
        lambda: _model('m', _SGD), settings=warmstart.WarmStartSettings(
            self.prefix, 'm/', global_step=global_step))
    self.assertEqual(expected, got['global_step'])
    self.assertAllEqual(self.values['m/w'], got['m/w'])
    if not isinstance(global_step, str):
      entry = plan.entry('global_step')
      self.assertEqual('set', entry.action)
      self.assertEqual('the run starts at step %d' % global_step,
                       entry.reason)
    # The plan says where the run starts when it restores or sets the step.
    if global_step == 'reset':
      self.assertIsNone(plan.start_step)
      self.assertNotIn('starts at step', plan.summary())
    else:
      self.assertEqual(expected, plan.start_step)
      self.assertTrue(plan.summary().endswith(
          '; the run starts at step %d.' % expected), plan.summary())
      self.assertEqual(expected,
                       warmstart.Plan.from_json(plan.to_json()).start_step)

  def test_flag_and_command_line_spellings(self):
    flag_values = flags.FlagValues()
    warmstart.flags.define_flags(flag_values)
    flag_values(['prog', '--warm_start_from=' + self.prefix,
                 '--warm_start_global_step=7',
                 '--warm_start_optimizer_state=none'])
    (settings,) = warmstart.flags.settings_from_flags(flag_values)
    self.assertEqual(7, settings.global_step)
    self.assertEqual('none', settings.optimizer_state)
    flag_values = flags.FlagValues()
    warmstart.flags.define_flags(flag_values)
    with self.assertRaisesRegex(flags.IllegalFlagValueError,
                                'global_step must be'):
      flag_values(['prog', '--warm_start_from=' + self.prefix,
                   '--warm_start_global_step=later'])

  def test_a_graph_without_a_step(self):
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('m/w', [4, 3])
      with self.assertRaisesRegex(
          warmstart.VariableNotFoundError,
          'global_step=5, but the graph has no global step'):
        warmstart.warm_start(self.prefix, 'm/w', global_step=5)


if __name__ == '__main__':
  tf.test.main()
