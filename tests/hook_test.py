"""Tests of `WarmStartHook` with Estimator.train and MonitoredTrainingSession.

The source checkpoint is saved from graph A (random values); graph B's own
initializers are constants (7.0), so restored and initialized values differ.
"""

from __future__ import annotations

import os
import re
import shutil

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _report
from warmstart._session import _estimator
from warmstart._session import _hook
from warmstart import _settings

WarmStartSettings = _settings.WarmStartSettings

_X = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0) / 10.0
_Y = np.array([[1.0], [-1.0], [0.5], [2.0]], np.float32)
_INIT = 7.0


def _variables(init=_INIT):
  const = {} if init is None else {
      'initializer': tf.compat.v1.constant_initializer(init)}
  with tf.compat.v1.variable_scope('linear'):
    w = tf.compat.v1.get_variable('w', [3, 1], **const)
    b = tf.compat.v1.get_variable('b', [1], **const)
  other = tf.compat.v1.get_variable('other/v', [2], **const)
  return w, b, other


def _train_op(features, labels, lr):
  w, b, other = _variables()
  predictions = tf.matmul(features, w) + b + 0.0 * tf.reduce_sum(other)
  loss = tf.reduce_mean(tf.square(predictions - labels))
  train_op = tf.compat.v1.train.GradientDescentOptimizer(lr).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return loss, train_op


def _model_fn(features, labels, mode):
  loss, train_op = _train_op(features, labels, 0.0)
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _learning_model_fn(features, labels, mode):
  loss, train_op = _train_op(features, labels, 0.1)
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _input_fn():
  return tf.data.Dataset.from_tensors((_X, _Y)).repeat()


def _warm_start_restores(graph):
  return [op.name for op in graph.get_operations()
          if op.type == 'RestoreV2' and
          op.name.startswith('checkpoint_initializer')]


def _run_session(checkpoint_dir, hooks, lr=0.0, steps=1, build=None):
  """Trains `steps` in a MonitoredTrainingSession.

  Returns:
    (the values read right after the session was created, the graph).
  """
  reader = test_util.ReadVariablesHook()
  with tf.Graph().as_default() as graph:
    _, train_op = _train_op(tf.constant(_X), tf.constant(_Y), lr)
    if build is not None:
      build()
    with tf.compat.v1.train.MonitoredTrainingSession(
        checkpoint_dir=checkpoint_dir, hooks=list(hooks) + [reader],
        save_summaries_steps=None, save_summaries_secs=None,
        log_step_count_steps=None) as session:
      for _ in range(steps):
        session.run(train_op)
  return reader.values, graph


def _summary_lines(logs):
  return [line for line in logs.output if 'Warm-started ' in line]


class WarmStartHookTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.prefix, self.ckpt = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'source'),
        lambda: _variables(init=None), global_step=5)
    self.other_prefix, self.other = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'other'),
        lambda: _variables(init=None), seed=2)

  def _session(self, checkpoint_dir, hooks, lr=0.0, steps=1):
    """Trains `steps` in a MonitoredTrainingSession; returns read values."""
    return _run_session(checkpoint_dir, hooks, lr, steps)

  @test_util.requires_estimator
  def test_estimator_train(self):
    hook = _hook.WarmStartHook(WarmStartSettings(self.prefix, 'linear/.*'))
    model_dir = self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        _model_fn, config=tf.estimator.RunConfig(model_dir=model_dir))
    estimator.train(_input_fn, steps=2, hooks=[hook])
    got = test_util.checkpoint_values(model_dir)
    self.assertAllClose(self.ckpt['linear/w'], got['linear/w'])
    self.assertAllClose(self.ckpt['linear/b'], got['linear/b'])
    self.assertAllClose(np.full([2], _INIT), got['other/v'])
    self.assertEqual(2, got['global_step'])  # Not the source's 5.
    self.assertEqual(['linear/w', 'linear/b'],
                     [e.variable for e in hook.plan.restored])
    # No model_dir given: nothing written.
    self.assertFalse(os.path.exists(_report.plan_path(model_dir)))

  def test_monitored_training_session(self):
    hook = _hook.WarmStartHook(
        [WarmStartSettings(self.prefix, 'linear/w'),
         WarmStartSettings(self.other_prefix, 'other/.*')])
    values, _ = self._session(self.create_tempdir().full_path, [hook])
    self.assertAllClose(self.ckpt['linear/w'], values['linear/w'])
    self.assertAllClose(self.other['other/v'], values['other/v'])
    self.assertAllClose(np.full([1], _INIT), values['linear/b'])
    self.assertEqual(0, values['global_step'])

  def test_restart_without_model_dir_resumes_from_the_checkpoint(self):
    checkpoint_dir = self.create_tempdir().full_path
    settings = WarmStartSettings(self.prefix, 'linear/.*')
    first_hook = _hook.WarmStartHook(settings)
    with self.assertLogs(level='INFO') as logs:
      first, _ = self._session(checkpoint_dir, [first_hook], lr=0.1, steps=2)
    self.assertAllClose(self.ckpt['linear/w'], first['linear/w'])
    self.assertTrue(first_hook.warm_started)
    self.assertLen(_summary_lines(logs), 1)
    self.assertIn('Warm-started 2 of 4 variables from %s' % self.prefix,
                  _summary_lines(logs)[0])
    trained = test_util.checkpoint_values(checkpoint_dir)
    self.assertEqual(2, trained['global_step'])
    self.assertFalse(np.allclose(self.ckpt['linear/w'], trained['linear/w']))
    # The hook cannot know the run restarts: it builds its restores, but
    # MonitoredSession restores the checkpoint and runs no init op.
    hook = _hook.WarmStartHook(settings)
    with self.assertLogs(level='INFO') as logs:
      second, graph = self._session(checkpoint_dir, [hook])
    self.assertIsNotNone(hook.plan)
    self.assertNotEmpty(_warm_start_restores(graph))
    self.assertAllClose(trained['linear/w'], second['linear/w'])
    self.assertAllClose(trained['linear/b'], second['linear/b'])
    self.assertEqual(2, second['global_step'])
    # Nor does it claim a warm start that did not happen.
    self.assertFalse(hook.warm_started)
    self.assertEmpty(_summary_lines(logs), logs.output)
    self.assertTrue(any('WarmStartHook: the session did not run its init op'
                        in line for line in logs.output), logs.output)

  def test_restart_with_model_dir_builds_nothing(self):
    checkpoint_dir = self.create_tempdir().full_path
    settings = WarmStartSettings(self.prefix, 'linear/.*')
    first_hook = _hook.WarmStartHook(settings, model_dir=checkpoint_dir)
    self._session(checkpoint_dir, [first_hook], lr=0.1)
    self.assertIsNotNone(first_hook.plan)
    trained = test_util.checkpoint_values(checkpoint_dir)
    hook = _hook.WarmStartHook(settings, model_dir=checkpoint_dir)
    with self.assertLogs(level='INFO') as logs:
      second, graph = self._session(checkpoint_dir, [hook])
    self.assertIsNone(hook.plan)
    self.assertEmpty(_warm_start_restores(graph))
    self.assertAllClose(trained['linear/w'], second['linear/w'])
    self.assertTrue(
        any(re.search(r'WarmStartHook: not warm-starting, model_dir %s '
                      r'already holds checkpoint' % re.escape(checkpoint_dir),
                      line) for line in logs.output), logs.output)

  def test_writes_the_plan_with_model_dir_on_the_chief(self):
    settings = WarmStartSettings(self.prefix, 'linear/.*')
    chief_dir = self.create_tempdir().full_path
    hook = _hook.WarmStartHook(settings, model_dir=chief_dir)
    self._session(chief_dir, [hook])
    self.assertEqual(hook.plan, _report.read_plan(chief_dir))
    self.assertEqual((self.prefix,), _report.read_plan(chief_dir).sources)
    worker_dir = self.create_tempdir().full_path
    self._session(worker_dir, [_hook.WarmStartHook(
        settings, model_dir=worker_dir, is_chief=False)])
    self.assertFalse(os.path.exists(_report.plan_path(worker_dir)))

  def test_an_existing_init_op_raises(self):
    with tf.Graph().as_default():
      _variables()
      init_op = tf.compat.v1.global_variables_initializer()
      tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.INIT_OP, init_op)
      hook = _hook.WarmStartHook(self.prefix)
      with self.assertRaisesRegex(
          warmstart.SettingsError,
          r"already holds an init op \('%s'" % re.escape(init_op.name)):
        hook.begin()
      self.assertEmpty(
          _warm_start_restores(tf.compat.v1.get_default_graph()))

  @test_util.requires_estimator
  def test_conflict_with_wrap_model_fn(self):
    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(_model_fn,
                                 WarmStartSettings(self.prefix, 'linear/.*')),
        config=tf.estimator.RunConfig(
            model_dir=self.create_tempdir().full_path))
    hook = _hook.WarmStartHook(WarmStartSettings(self.other_prefix, 'linear/w'))
    with self.assertRaisesRegex(
        warmstart.ConflictError,
        r"'linear/w' is claimed twice: from %s.*by an earlier warm start.*%s" %
        (re.escape(self.prefix), re.escape(self.other_prefix))):
      estimator.train(_input_fn, steps=1, hooks=[hook])

  def test_bad_arguments_raise_at_construction(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                r'got 5 of type int'):
      _hook.WarmStartHook(5)
    with self.assertRaisesRegex(warmstart.SettingsError,
                                r"is_chief must be True or False, got 'yes'"):
      _hook.WarmStartHook(self.prefix, is_chief='yes')

  def test_problems_raise_in_begin_naming_them(self):
    with tf.Graph().as_default():
      _variables()
      hook = _hook.WarmStartHook(WarmStartSettings(self.prefix, 'linaer/.*'))
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError, 'linaer'):
        hook.begin()


def _delete(prefix):
  """Deletes the checkpoint directory of `prefix`."""
  shutil.rmtree(os.path.dirname(prefix))


def _corrupt_index(prefix):
  with open(prefix + '.index', 'wb') as f:
    f.write(b'not an index')


def _truncate_data(prefix):
  data = prefix + '.data-00000-of-00001'
  with open(data, 'r+b') as f:
    f.truncate(os.path.getsize(data) // 2)


_DAMAGE = (('deleted', _delete), ('corrupt_index', _corrupt_index),
           ('truncated_data', _truncate_data))


class RestartWithoutSourceTest(tf.test.TestCase, parameterized.TestCase):
  """A restart never needs the source: it may be gone, the run resumes.

  The first run warm-starts and saves into its checkpoint directory; then
  the source is damaged or deleted, and the same hook (no model_dir)
  restarts the run.
  """

  def setUp(self):
    super().setUp()
    self.prefix, self.ckpt = test_util.save_checkpoint(
        os.path.join(self.create_tempdir().full_path, 'source'),
        lambda: _variables(init=None), global_step=5)
    self.settings = WarmStartSettings(self.prefix, 'linear/.*')

  @parameterized.named_parameters(*_DAMAGE)
  def test_monitored_training_session_resumes(self, damage):
    checkpoint_dir = self.create_tempdir().full_path
    first, _ = _run_session(
        checkpoint_dir, [_hook.WarmStartHook(self.settings)], lr=0.1, steps=2)
    self.assertAllClose(self.ckpt['linear/w'], first['linear/w'])
    trained = test_util.checkpoint_values(checkpoint_dir)
    damage(self.prefix)
    hook = _hook.WarmStartHook(self.settings)
    with self.assertLogs(level='INFO') as logs:
      second, graph = _run_session(checkpoint_dir, [hook], lr=0.1)
    for name in ('linear/w', 'linear/b', 'other/v'):
      self.assertAllClose(trained[name], second[name], msg=name)
    self.assertEqual(2, second['global_step'])
    self.assertEqual(
        3, test_util.checkpoint_values(checkpoint_dir)['global_step'])
    self.assertIsNone(hook.plan)
    self.assertFalse(hook.warm_started)
    self.assertEmpty(_warm_start_restores(graph))
    self.assertEmpty(_summary_lines(logs), logs.output)
    self.assertTrue(
        any(re.search('cannot read the warm-start source.*%s' %
                      re.escape(self.prefix), line) for line in logs.output),
        logs.output)

  @parameterized.named_parameters(*_DAMAGE)
  def test_fresh_start_fails_before_any_step_naming_the_source(self, damage):
    damage(self.prefix)
    checkpoint_dir = self.create_tempdir().full_path
    reader = test_util.ReadVariablesHook()
    with self.assertRaisesRegex(
        tf.errors.InvalidArgumentError,
        r'WarmStartHook: this session starts fresh .* but its source cannot '
        r'be read: .*%s.* Nothing was trained or saved' %
        re.escape(self.prefix)):
      _run_session(checkpoint_dir, [_hook.WarmStartHook(self.settings), reader])
    self.assertIsNone(reader.values)
    self.assertIsNone(tf.train.latest_checkpoint(checkpoint_dir))

  def test_fresh_start_with_model_dir_fails_in_begin(self):
    _delete(self.prefix)
    model_dir = self.create_tempdir().full_path
    hook = _hook.WarmStartHook(self.settings, model_dir=model_dir)
    with tf.Graph().as_default():
      _variables()
      with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                  re.escape(self.prefix)):
        hook.begin()

  @test_util.requires_estimator
  def test_estimator_train_resumes(self):
    model_dir = self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        _learning_model_fn, config=tf.estimator.RunConfig(model_dir=model_dir))
    estimator.train(_input_fn, steps=2,
                    hooks=[_hook.WarmStartHook(self.settings)])
    trained = test_util.checkpoint_values(model_dir)
    self.assertFalse(np.allclose(self.ckpt['linear/w'], trained['linear/w']))
    _delete(self.prefix)
    reader = test_util.ReadVariablesHook()
    hook = _hook.WarmStartHook(self.settings)
    estimator.train(_input_fn, steps=1, hooks=[hook, reader])
    for name in ('linear/w', 'linear/b', 'other/v'):
      self.assertAllClose(trained[name], reader.values[name], msg=name)
    self.assertEqual(2, reader.values['global_step'])
    self.assertEqual(3, test_util.checkpoint_values(model_dir)['global_step'])
    self.assertFalse(hook.warm_started)

  @test_util.requires_estimator
  def test_estimator_fresh_start_fails_before_any_step(self):
    _delete(self.prefix)
    model_dir = self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        _model_fn, config=tf.estimator.RunConfig(model_dir=model_dir))
    reader = test_util.ReadVariablesHook()
    with self.assertRaisesRegex(
        tf.errors.InvalidArgumentError,
        r'this session starts fresh .*%s' % re.escape(self.prefix)):
      estimator.train(_input_fn, steps=1,
                      hooks=[_hook.WarmStartHook(self.settings), reader])
    self.assertIsNone(reader.values)
    self.assertIsNone(tf.train.latest_checkpoint(model_dir))

  @test_util.requires_estimator
  def test_fresh_start_next_to_wrap_model_fn_fails_on_the_hooks_source(self):
    # wrap_model_fn also restores the global step, and its PlanHook checks
    # that initializer later: the hook leaves it alone and fails on its own.
    def build():
      _variables(init=None)
      tf.compat.v1.train.get_or_create_global_step()

    other, _ = test_util.save_checkpoint(
        os.path.join(self.create_tempdir().full_path, 'other'), build)
    model_dir = self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(
            _model_fn, WarmStartSettings(other, 'linear/.*',
                                         include_global_step=True)),
        config=tf.estimator.RunConfig(model_dir=model_dir))
    _delete(self.prefix)
    with self.assertRaisesRegex(
        tf.errors.InvalidArgumentError,
        r'this session starts fresh .*%s' % re.escape(self.prefix)):
      estimator.train(_input_fn, steps=1, hooks=[
          _hook.WarmStartHook(WarmStartSettings(self.prefix, 'other/.*'))])
    self.assertIsNone(tf.train.latest_checkpoint(model_dir))

  def test_custom_restores_run_on_a_fresh_start_only(self):
    # SessionManager runs warmstart.CUSTOM_RESTORES before restoring a
    # checkpoint too: the hook's must not run then (they read the source).
    checkpoint_dir = self.create_tempdir().full_path
    settings = WarmStartSettings(
        self.prefix, ['linear/w', 'custom/w'],
        var_name_to_prev_var_name={'custom/w': 'linear/w'})
    customs = []

    def build():
      customs.append(test_util.PrivateVariable('custom/w', [3, 1]))
      warmstart.register_custom_variable(customs[-1])

    read = _ReadCustom(customs)
    _run_session(checkpoint_dir, [_hook.WarmStartHook(settings), read],
                 build=build)
    self.assertAllClose(self.ckpt['linear/w'], read.value)
    hook = _hook.WarmStartHook(settings)
    _run_session(checkpoint_dir, [hook, read], build=build)
    self.assertFalse(hook.warm_started)
    self.assertIsNone(read.value)  # Never restored: the source was not read.


class _ReadCustom(tf.compat.v1.train.SessionRunHook):
  """Reads the last custom variable of `customs` (None: not initialized)."""

  def __init__(self, customs):
    self._customs = customs
    self.value = None

  def begin(self):
    storage = self._customs[-1].storage
    self._ops = (tf.compat.v1.is_variable_initialized(storage),
                 self._customs[-1].read())

  def after_create_session(self, session, coord):
    del coord
    initialized = session.run(self._ops[0])
    self.value = session.run(self._ops[1]) if initialized else None


if __name__ == '__main__':
  tf.test.main()
