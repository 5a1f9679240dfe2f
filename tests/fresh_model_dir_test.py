"""Every Estimator method on a fresh model_dir, as `warm_start_from` does.

`Estimator(warm_start_from=X)` warm-starts `train`, `evaluate`, `predict`
and `export_saved_model` when `model_dir` holds no checkpoint yet
(`model_to_estimator` relies on it). Each test runs TF's Estimator and
warmstart's (`wrap_model_fn` with its default modes, `wrap_estimator`) on
the same source and compares the results; exports, which Estimator reaches
without calling any model_fn, are covered by `wrap_estimator`.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util

test_util.skip_module_without_estimator()

ModeKeys = tf.estimator.ModeKeys

_X = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)
_Y = np.array([[1.0], [-1.0], [0.5], [2.0]], np.float32)


def _model_fn(features, labels, mode, params):
  """y = x w + b, its weights named after `params['scope']`."""
  with tf.compat.v1.variable_scope(params['scope']):
    w = tf.compat.v1.get_variable(
        'w', [3, 1], initializer=tf.compat.v1.constant_initializer(0.5))
    b = tf.compat.v1.get_variable(
        'b', [1], initializer=tf.compat.v1.constant_initializer(0.5))
  predictions = tf.matmul(features['x'], w) + b
  if mode == ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions,
        export_outputs={'y': tf.estimator.export.PredictOutput(
            {'y': predictions})})
  loss = tf.compat.v1.losses.mean_squared_error(labels, predictions)
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                    predictions=predictions)


def _input_fn():
  return tf.data.Dataset.from_tensors(({'x': _X}, _Y))


def _predict_input_fn():
  return tf.data.Dataset.from_tensors({'x': _X})


def _serving_input_fn():
  return tf.estimator.export.build_raw_serving_input_receiver_fn(
      {'x': tf.compat.v1.placeholder(tf.float32, [None, 3], name='x')})()


def _exported(export_dir):
  path = os.path.join(os.fsdecode(export_dir), 'variables', 'variables')
  return {name: tf.train.load_variable(path, name)
          for name, _ in tf.train.list_variables(path)
          if name != 'global_step'}


class FreshModelDirTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.source = os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__,
                              'source')
    tf.estimator.Estimator(_model_fn, cls.source,
                           params={'scope': 'linear'}).train(_input_fn,
                                                             steps=3)

  def estimators(self, settings=None, scope='linear'):
    """TF's, ours by wrap_model_fn and ours by wrap_estimator, each in a
    fresh model_dir."""
    settings = settings or self.source
    params = {'scope': scope}
    fresh = lambda: self.create_tempdir().full_path
    tf_estimator = tf.estimator.Estimator(
        _model_fn, fresh(), params=params,
        warm_start_from=None if isinstance(
            settings, warmstart.WarmStartSettings) else settings)
    by_model_fn = tf.estimator.Estimator(
        warmstart.wrap_model_fn(_model_fn, settings), fresh(), params=params)
    by_estimator = warmstart.wrap_estimator(
        tf.estimator.Estimator(_model_fn, fresh(), params=params), settings)
    return tf_estimator, by_model_fn, by_estimator

  def assertNoCheckpoint(self, *estimators):
    for estimator in estimators:
      self.assertIsNone(tf.train.latest_checkpoint(estimator.model_dir))

  def test_evaluate(self):
    tf_estimator, *ours = self.estimators()
    expected = tf_estimator.evaluate(_input_fn)
    cold = tf.estimator.Estimator(
        _model_fn, self.create_tempdir().full_path,
        params={'scope': 'linear'}).evaluate(_input_fn)
    self.assertNotAllClose(cold['loss'], expected['loss'])
    for estimator in ours:
      got = estimator.evaluate(_input_fn)
      self.assertAllClose(expected['loss'], got['loss'], rtol=1e-6)
      self.assertEqual(0, got['global_step'])
    self.assertNoCheckpoint(tf_estimator, *ours)

  def test_predict(self):
    tf_estimator, *ours = self.estimators()
    expected = next(tf_estimator.predict(_predict_input_fn,
                                         yield_single_examples=False))
    source = {n: tf.train.load_variable(self.source, n)
              for n in ('linear/w', 'linear/b')}
    self.assertAllClose(_X @ source['linear/w'] + source['linear/b'],
                        expected)
    for estimator in ours:
      got = next(estimator.predict(_predict_input_fn,
                                   yield_single_examples=False))
      self.assertAllClose(expected, got)
    self.assertNoCheckpoint(tf_estimator, *ours)

  def test_predict_only_in_the_modes_asked_for(self):
    estimator = tf.estimator.Estimator(
        warmstart.wrap_model_fn(_model_fn, self.source,
                                modes=(ModeKeys.TRAIN,)),
        self.create_tempdir().full_path, params={'scope': 'linear'})
    got = next(estimator.predict(_predict_input_fn,
                                 yield_single_examples=False))
    self.assertAllClose(_X @ np.full([3, 1], 0.5) + 0.5, got)

  def test_export_saved_model(self):
    tf_estimator, by_model_fn, by_estimator = self.estimators()
    expected = _exported(tf_estimator.export_saved_model(
        self.create_tempdir().full_path, _serving_input_fn))
    self.assertAllClose(tf.train.load_variable(self.source, 'linear/w'),
                        expected['linear/w'])
    got = _exported(by_estimator.export_saved_model(
        self.create_tempdir().full_path, _serving_input_fn))
    self.assertCountEqual(expected, got)
    for name in expected:
      self.assertAllEqual(expected[name], got[name], msg=name)
    self.assertNoCheckpoint(by_estimator)
    self.assertEqual([], os.listdir(by_estimator.model_dir))
    # A model_fn is not called before Estimator looks for a checkpoint.
    with self.assertRaisesRegex(ValueError, "Couldn't find trained model"):
      by_model_fn.export_saved_model(self.create_tempdir().full_path,
                                     _serving_input_fn)

  def test_export_from_a_v1_estimator(self):
    # A tf.compat.v1 Estimator stays one (Estimator refuses subclasses that
    # override its members in their own body), and exports the warm start
    # by either of its export methods.
    expected = tf.train.load_variable(self.source, 'linear/w')
    for method in ('export_saved_model', 'export_savedmodel'):
      estimator = warmstart.wrap_estimator(
          tf.compat.v1.estimator.Estimator(
              _model_fn, self.create_tempdir().full_path,
              params={'scope': 'linear'}), self.source)
      self.assertNotIsInstance(estimator, tf.estimator.Estimator)
      got = _exported(getattr(estimator, method)(
          self.create_tempdir().full_path, _serving_input_fn))
      self.assertAllEqual(expected, got['linear/w'], msg=method)
      self.assertNoCheckpoint(estimator)

  def test_export_of_a_renamed_warm_start(self):
    # TF exports by restoring the source as is: a rename fails there.
    settings = warmstart.WarmStartSettings(
        self.source, var_name_to_prev_var_name={'new/w': 'linear/w',
                                                'new/b': 'linear/b'})
    estimator = warmstart.wrap_estimator(
        tf.estimator.Estimator(_model_fn, self.create_tempdir().full_path,
                               params={'scope': 'new'}), settings)
    got = _exported(estimator.experimental_export_all_saved_models(
        self.create_tempdir().full_path,
        {ModeKeys.PREDICT: _serving_input_fn}))
    for name in ('w', 'b'):
      self.assertAllEqual(
          tf.train.load_variable(self.source, 'linear/' + name),
          got['new/' + name])

  def test_export_after_training_reads_the_run_not_the_source(self):
    _, _, by_estimator = self.estimators()
    by_estimator.train(_input_fn, steps=2)
    trained = tf.train.latest_checkpoint(by_estimator.model_dir)
    got = _exported(by_estimator.export_saved_model(
        self.create_tempdir().full_path, _serving_input_fn))
    self.assertAllEqual(tf.train.load_variable(trained, 'linear/w'),
                        got['linear/w'])
    self.assertNotAllClose(tf.train.load_variable(self.source, 'linear/w'),
                           got['linear/w'])


if __name__ == '__main__':
  tf.test.main()
