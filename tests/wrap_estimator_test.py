"""Tests of `wrap_estimator` with canned Estimators, v1 and v2.

A source Estimator trains a few steps; a new canned Estimator, wrapped,
trains one step from the source. A hook reads every variable right after
the session is created, that is right after the warm start, and before any
step; those values are compared with the source checkpoint's, and what
must not change (other variables, optimizer slots, the global step) with
the canned Estimator's own initial values.
"""

from __future__ import annotations

import os
import shutil
import types
from unittest import mock

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _report
from warmstart import _tf_compat

test_util.skip_module_without_estimator()

WarmStartSettings = warmstart.WarmStartSettings

_X = (np.arange(24, dtype=np.float32).reshape(8, 3) - 10.0) / 10.0
_CLASSES = np.array([[0], [1], [2], [1], [0], [2], [1], [0]], np.int32)


def _columns(*names):
  return [tf.feature_column.numeric_column(n, shape=[3]) for n in names]


def _regression_input_fn():
  features = {'a': _X, 'b': _X, 'c': _X}
  return tf.data.Dataset.from_tensors(
      (features, _CLASSES.astype(np.float32))).repeat()


def _classification_input_fn():
  features = {'a': _X, 'b': _X, 'c': _X}
  return tf.data.Dataset.from_tensors((features, _CLASSES)).repeat()


def _config(seed=1):
  return tf.estimator.RunConfig(tf_random_seed=seed, save_summary_steps=1000,
                                log_step_count_steps=1000)


class WrapEstimatorTest(tf.test.TestCase):

  def _source(self, make, input_fn, steps=3):
    """Trains `make(model_dir)`; returns its checkpoint and values."""
    model_dir = self.create_tempdir().full_path
    make(model_dir).train(input_fn, steps=steps)
    return (tf.train.latest_checkpoint(model_dir),
            test_util.checkpoint_values(model_dir))

  def _train(self, estimator, input_fn, steps=1):
    """Trains `steps`; returns the values right after the warm start."""
    reader = test_util.ReadVariablesHook()
    estimator.train(input_fn, steps=steps, hooks=[reader])
    return reader.values

  def assertFilled(self, value, got, msg=None):
    self.assertAllClose(np.full_like(got, value), got, msg=msg)

  def test_v1_linear_regressor_by_regex(self):
    prefix, source = self._source(
        lambda d: tf.compat.v1.estimator.LinearRegressor(
            _columns('a'), model_dir=d, config=_config()),
        _regression_input_fn)
    self.assertNotAllClose(np.zeros([1]),
                           source['linear/linear_model/bias_weights'])
    model_dir = self.create_tempdir().full_path
    config = _config(seed=7)
    canned = tf.compat.v1.estimator.LinearRegressor(
        _columns('a'), model_dir=model_dir, config=config)
    estimator = warmstart.wrap_estimator(
        canned, WarmStartSettings(prefix, 'linear/linear_model/a/.*'))
    # A v1 Estimator for a v1 one (the class also exports the warm start).
    self.assertIsInstance(estimator, tf.compat.v1.estimator.Estimator)
    self.assertNotIsInstance(estimator, tf.estimator.Estimator)
    self.assertEqual(model_dir, estimator.model_dir)
    self.assertEqual(7, estimator.config.tf_random_seed)
    self.assertEqual(canned.params, estimator.params)
    got = self._train(estimator, _regression_input_fn)
    # v1 canned linear models partition their variables (one part here).
    self.assertAllClose(source['linear/linear_model/a/weights'],
                        got['linear/linear_model/a/weights/part_0'])
    self.assertAllClose(np.zeros([1]),
                        got['linear/linear_model/bias_weights/part_0'])
    slots = [name for name in got if '/Ftrl' in name]
    self.assertLen(slots, 4)
    for name in slots:  # Ftrl's accumulators, then its linear terms.
      self.assertFilled(0.0 if name.endswith('_1') else 0.1, got[name],
                        msg=name)
    self.assertEqual(0, got['global_step'])
    self.assertEqual(1, test_util.checkpoint_values(model_dir)['global_step'])
    self.assertEqual(['linear/linear_model/a/weights'],
                     [e.variable
                      for e in _report.read_plan(model_dir).restored])

  def test_v2_linear_regressor_by_rename_restarts_without_the_source(self):
    prefix, source = self._source(
        lambda d: tf.estimator.LinearRegressor(
            _columns('a'), model_dir=d, config=_config()),
        _regression_input_fn)
    model_dir = self.create_tempdir().full_path
    # The feature column was renamed from 'a' to 'b'.
    settings = WarmStartSettings(
        prefix, 'linear/.*', var_name_to_prev_var_name={
            'linear/linear_model/b/weights': 'linear/linear_model/a/weights'})
    estimator = warmstart.wrap_estimator(
        tf.estimator.LinearRegressor(_columns('b'), model_dir=model_dir,
                                     config=_config()), settings)
    self.assertIsInstance(estimator, tf.estimator.Estimator)
    got = self._train(estimator, _regression_input_fn)
    self.assertAllClose(source['linear/linear_model/a/weights'],
                        got['linear/linear_model/b/weights'])
    self.assertAllClose(source['linear/linear_model/bias_weights'],
                        got['linear/linear_model/bias_weights'])
    for slot in ('b/weights', 'bias_weights'):
      name = 'training/Ftrl/linear/linear_model/%s/accumulator' % slot
      self.assertFilled(0.1, got[name], msg=name)
    self.assertEqual(0, got['global_step'])
    trained = test_util.checkpoint_values(model_dir)
    # The source is gone: a second train resumes from model_dir.
    shutil.rmtree(os.path.dirname(prefix))
    with self.assertLogs(level='INFO') as logs:
      resumed = self._train(estimator, _regression_input_fn)
    for name, value in trained.items():
      self.assertAllClose(value, resumed[name], msg=name)
    self.assertEqual(2, test_util.checkpoint_values(model_dir)['global_step'])
    self.assertTrue(any('already holds checkpoint' in line
                        for line in logs.output), logs.output)

  def test_a_start_step_past_max_steps_is_a_warning_naming_both(self):
    prefix, _ = self._source(
        lambda d: tf.estimator.LinearRegressor(
            _columns('a'), model_dir=d, config=_config()),
        _regression_input_fn, steps=3)

    def train(max_steps, **options):
      model_dir = self.create_tempdir().full_path
      estimator = warmstart.wrap_estimator(
          tf.estimator.LinearRegressor(_columns('a'), model_dir=model_dir,
                                       config=_config()),
          WarmStartSettings(prefix, 'linear/.*', **options))
      with self.assertLogs(level='INFO') as logs:
        estimator.train(_regression_input_fn, max_steps=max_steps)
      warnings = [line for line in logs.output
                  if line.startswith('WARNING') and 'max_steps' in line]
      step = test_util.checkpoint_values(model_dir)['global_step']
      return step, warnings, logs.output

    # The checkpoint's step (3) is train(max_steps=3)'s end: Estimator's
    # StopAtStepHook checks after a step, so one step runs, past max_steps.
    step, warnings, _ = train(3, global_step='keep')
    self.assertEqual(4, step)
    self.assertLen(warnings, 1)
    self.assertRegex(
        warnings[0],
        r'start at step 3 \(the step of .*model.ckpt-3 \(global_step\)\), '
        r'at or past '
        r'train\(max_steps=3\): Estimator then runs one step \(to step 4')
    step, warnings, _ = train(2, global_step=10)
    self.assertEqual(11, step)
    self.assertLen(warnings, 1)
    self.assertRegex(warnings[0], r'start at step 10 \(global_step=10\).*'
                     r'train\(max_steps=2\).*to step 11.*max_steps=10 \+')
    # A limit past the start runs the difference, and says so.
    step, warnings, output = train(5, global_step='keep')
    self.assertEqual(5, step)
    self.assertEqual([], warnings)
    self.assertTrue(any('the run starts at step 3' in line and
                        'train(max_steps=5) runs 2 steps' in line
                        for line in output), output)
    # The default starts at 0: nothing to say.
    step, warnings, output = train(1)
    self.assertEqual(1, step)
    self.assertEqual([], warnings)
    self.assertFalse(any('the run starts at step' in line
                         for line in output), output)

  def test_dnn_classifier_grown_with_options(self):
    prefix, source = self._source(
        lambda d: tf.estimator.DNNClassifier(
            [4], _columns('a'), model_dir=d, n_classes=3, config=_config()),
        _classification_input_fn)
    settings = WarmStartSettings(prefix, 'dnn/.*')

    def grown(model_dir):
      return tf.estimator.DNNClassifier(
          [4, 2], _columns('a'), model_dir=model_dir, n_classes=3,
          config=_config())

    # Strict by default: the new layer and the logits' new shape are named
    # when the graph is built, before anything is written.
    strict_dir = self.create_tempdir().full_path
    with self.assertRaisesRegex(warmstart.Error, 'dnn/hiddenlayer_1/kernel'):
      warmstart.wrap_estimator(grown(strict_dir), settings).train(
          _classification_input_fn, steps=1)
    self.assertIsNone(tf.train.latest_checkpoint(strict_dir))

    model_dir = self.create_tempdir().full_path
    got = self._train(
        warmstart.wrap_estimator(grown(model_dir), settings,
                                 skip_missing=True, skip_mismatched=True),
        _classification_input_fn)
    for name in ('dnn/hiddenlayer_0/kernel', 'dnn/hiddenlayer_0/bias',
                 'dnn/logits/bias'):
      self.assertAllClose(source[name], got[name], msg=name)
    self.assertEqual([2, 3], list(got['dnn/logits/kernel'].shape))
    for name in got:
      if name.endswith('/accumulator'):
        self.assertFilled(0.1, got[name], msg=name)
    self.assertEqual(0, got['global_step'])
    plan = _report.read_plan(model_dir)
    self.assertCountEqual(
        ['dnn/hiddenlayer_0/kernel', 'dnn/hiddenlayer_0/bias',
         'dnn/logits/bias'], [e.variable for e in plan.restored])

  def test_dnn_linear_combined_classifier_from_two_sources(self):
    dnn_prefix, dnn_source = self._source(
        lambda d: tf.estimator.DNNClassifier(
            [4], _columns('a'), model_dir=d, n_classes=3, config=_config()),
        _classification_input_fn)
    linear_prefix, linear_source = self._source(
        lambda d: tf.estimator.LinearClassifier(
            _columns('b'), model_dir=d, n_classes=3, config=_config()),
        _classification_input_fn)
    model_dir = self.create_tempdir().full_path
    estimator = warmstart.wrap_estimator(
        tf.estimator.DNNLinearCombinedClassifier(
            model_dir=model_dir, linear_feature_columns=_columns('c'),
            dnn_feature_columns=_columns('a'), dnn_hidden_units=[4],
            n_classes=3, config=_config(seed=5)),
        [WarmStartSettings(dnn_prefix, 'dnn/hiddenlayer_.*'),
         # The linear model's column was 'b', it is 'c' now: a scope rename.
         WarmStartSettings(linear_prefix, assignment_map={
             'linear/linear_model/b/': 'linear/linear_model/c/'})])
    got = self._train(estimator, _classification_input_fn)
    for name in ('dnn/hiddenlayer_0/kernel', 'dnn/hiddenlayer_0/bias'):
      self.assertAllClose(dnn_source[name], got[name], msg=name)
    self.assertAllClose(linear_source['linear/linear_model/b/weights'],
                        got['linear/linear_model/c/weights'])
    # Not selected: the head, the linear bias, every optimizer slot.
    self.assertNotAllClose(dnn_source['dnn/logits/kernel'],
                           got['dnn/logits/kernel'])
    self.assertAllClose(np.zeros([3]), got['linear/linear_model/bias_weights'])
    for name in got:
      if name.endswith('/accumulator'):
        self.assertFilled(0.1, got[name], msg=name)
      elif name.startswith('training/Ftrl/') and name.endswith('/linear'):
        self.assertFilled(0.0, got[name], msg=name)
    self.assertEqual(0, got['global_step'])

  def test_params_are_carried_over_and_reach_the_model_fn(self):
    seen = []

    def model_fn(features, labels, mode, params):
      seen.append(dict(params))
      w = tf.compat.v1.get_variable('w', [3, 1])
      loss = tf.reduce_mean(tf.square(tf.matmul(features['a'], w) - labels))
      train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
          loss, tf.compat.v1.train.get_global_step())
      return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    prefix, source = self._source(
        lambda d: tf.estimator.Estimator(model_fn, d, params={'units': 2}),
        _regression_input_fn, steps=1)
    model_dir = self.create_tempdir().full_path
    estimator = warmstart.wrap_estimator(
        tf.estimator.Estimator(model_fn, model_dir, config=_config(),
                               params={'units': 3}), prefix)
    self.assertEqual({'units': 3}, estimator.params)
    got = self._train(estimator, _regression_input_fn)
    self.assertAllClose(source['w'], got['w'])
    self.assertEqual({'units': 3}, seen[-1])

  def test_estimator_with_warm_start_from_is_refused(self):
    model_dir = self.create_tempdir().full_path
    for warm_start_from in ('/models/base', tf.estimator.WarmStartSettings(
        '/models/base', vars_to_warm_start='linear/.*')):
      canned = tf.estimator.LinearRegressor(
          _columns('a'), model_dir=model_dir, warm_start_from=warm_start_from)
      with self.assertRaisesRegex(
          warmstart.SettingsError,
          r"already warm-starts from '/models/base' \(warm_start_from=.*"
          r'Build the estimator without warm_start_from and pass its '
          r'settings to wrap_estimator as another source'):
        warmstart.wrap_estimator(canned, '/models/other')
    self.assertEmpty(os.listdir(model_dir))

  def test_bad_arguments_are_refused_before_anything_runs(self):

    def model_fn(features, labels, mode):
      del features, labels, mode

    for bad, regex in (
        (model_fn, r'got <function .*model_fn.* of type function\. For a '
                   r'model_fn, use wrap_model_fn'),
        ('/models/new', r"got '/models/new' of type str\.$")):
      with self.assertRaisesRegex(TypeError, regex):
        warmstart.wrap_estimator(bad, '/models/base')
    tpu = tf.compat.v1.estimator.tpu.TPUEstimator(
        model_fn=model_fn, use_tpu=False, train_batch_size=8,
        config=tf.compat.v1.estimator.tpu.RunConfig())
    with self.assertRaisesRegex(TypeError, r'cannot run a TPUEstimator.*'
                                r'warmstart\.wrap_model_fn\(model_fn'):
      warmstart.wrap_estimator(tpu, '/models/base')
    model_dir = self.create_tempdir().full_path
    canned = tf.estimator.LinearRegressor(_columns('a'), model_dir=model_dir)
    with self.assertRaisesRegex(warmstart.SettingsError, 'got 5 of type int'):
      warmstart.wrap_estimator(canned, 5)
    with self.assertRaisesRegex(warmstart.SettingsError,
                                "Did you mean: 'skip_missing'"):
      warmstart.wrap_estimator(canned, '/models/base', skip_mising=True)
    with self.assertRaisesRegex(warmstart.SettingsError, 'modes is empty'):
      warmstart.wrap_estimator(canned, '/models/base', modes=())
    self.assertEmpty(os.listdir(model_dir))

  def test_tensorflow_without_estimator_names_the_extra(self):
    canned = tf.estimator.LinearRegressor(_columns('a'))
    tf_2_21 = types.SimpleNamespace(__version__='2.21.0')  # No `estimator`.
    with mock.patch.object(_tf_compat, 'tf', tf_2_21):
      with self.assertRaisesRegex(
          ImportError, r'^wrap_estimator needs tf\.estimator.*'
          r'pip install "warmstart\[estimator\]"'):
        warmstart.wrap_estimator(canned, '/models/base')


class WrapEstimatorBuildingInitializersTest(test_util.BuildingInitializersMixin,
                                            WrapEstimatorTest):
  """Every test of WrapEstimatorTest on the path without stand-ins.

  `wrap_model_fn(..., at_creation=False)`: the model_fn builds every
  initializer, as before `warm_start_scope`; both paths must pass.
  """


if __name__ == '__main__':
  tf.test.main()
