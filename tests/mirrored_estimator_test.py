"""`wrap_model_fn` and `WarmStartHook` under Estimator's MirroredStrategy.

Two logical CPUs; `RunConfig(train_distribute=MirroredStrategy(...))`. The
model_fn runs once per replica, in replica context; the warm start must be
built once (through `merge_call`) and fill every replica's copy of each
mirrored variable, exactly as Estimator's own `warm_start_from` does under
the same strategy.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tests import test_util
from warmstart._restore import _apply
from warmstart._session import _estimator
from warmstart._session import _hook
from warmstart import _settings

# Before anything initializes the TF runtime: two CPUs for MirroredStrategy.
test_util.skip_module_without_estimator()

_CPUS = test_util.configure_logical_cpus(2)

WarmStartSettings = _settings.WarmStartSettings

_X = (np.arange(16, dtype=np.float32).reshape(8, 2) - 5.0) / 10.0
_Y = np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(8, 1)
_INIT = 7.0


def _variables(init=_INIT, scope='linear'):
  const = {} if init is None else {
      'initializer': tf.compat.v1.constant_initializer(init)}
  with tf.compat.v1.variable_scope(scope):
    w = tf.compat.v1.get_variable('w', [2, 1], **const)
    b = tf.compat.v1.get_variable('b', [1], **const)
  other = tf.compat.v1.get_variable('other/v', [3], **const)
  return w, b, other


def _make_model_fn(graphs, scope='linear'):

  def model_fn(features, labels, mode):
    graphs.append(tf.compat.v1.get_default_graph())
    w, b, other = _variables(scope=scope)
    predictions = tf.matmul(features, w) + b + 0.0 * tf.reduce_sum(other)
    loss = tf.reduce_mean(tf.square(predictions - labels))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
        loss, tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  return model_fn


def _input_fn():
  return tf.data.Dataset.from_tensors((_X, _Y)).repeat()


class _ReplicaValues(tf.compat.v1.train.SessionRunHook):
  """Reads each replica's copy of every mirrored variable at session start."""

  def __init__(self):
    self.values = {}
    self.types = {}

  def after_create_session(self, session, coord):
    del coord
    for variable in tf.compat.v1.global_variables():
      name = variable.name.split(':')[0]
      self.types[name] = type(variable).__name__
      components = (variable.values if isinstance(
          variable, tf.distribute.DistributedValues) else (variable,))
      self.values[name] = [
          (c.device, session.run(c)) for c in components]


class MirroredEstimatorTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.assertLen(_CPUS, 2, 'This test needs two logical CPUs configured at '
                   'import: run it in its own process.')
    self.prefix, self.ckpt = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'source'),
        lambda: _variables(init=None))

  def _train(self, model_fn, hooks=(), **kwargs):
    strategy = tf.distribute.MirroredStrategy(
        _CPUS,
        # The default all-reduce of two CPU devices can hang on a 2-core
        # machine; reducing to one device is enough for these tests.
        cross_device_ops=tf.distribute.ReductionToOneDevice())
    reader = _ReplicaValues()
    estimator = tf.estimator.Estimator(
        model_fn, config=tf.estimator.RunConfig(
            model_dir=self.create_tempdir().full_path,
            train_distribute=strategy, save_summary_steps=1000,
            log_step_count_steps=1000), **kwargs)
    estimator.train(_input_fn, steps=1, hooks=list(hooks) + [reader])
    return reader, estimator

  def assertEveryReplica(self, expected, reader, name):
    self.assertEqual('MirroredVariable', reader.types[name])
    replicas = reader.values[name]
    self.assertLen(replicas, 2)
    self.assertNotEqual(replicas[0][0], replicas[1][0])  # Two devices.
    for device, value in replicas:
      self.assertAllClose(expected, value, msg='%s on %s' % (name, device))

  def test_wrap_model_fn_fills_every_replica(self):
    graphs = []
    settings = WarmStartSettings(self.prefix, 'linear/.*')
    reader, estimator = self._train(
        _estimator.wrap_model_fn(_make_model_fn(graphs), settings))
    self.assertEveryReplica(self.ckpt['linear/w'], reader, 'linear/w')
    self.assertEveryReplica(self.ckpt['linear/b'], reader, 'linear/b')
    self.assertEveryReplica(np.full([3], _INIT), reader, 'other/v')
    self.assertAllClose(self.ckpt['linear/w'],
                        estimator.get_variable_value('linear/w'))
    # Two replicas called the model_fn; the warm start was applied once.
    self.assertLen(graphs, 2)
    applied = graphs[0].get_collection(_apply.APPLIED_ENTRIES)
    self.assertEqual(['linear/w', 'linear/b'], [e.variable for e in applied])

  def test_same_as_estimator_warm_start_from(self):
    settings = tf.estimator.WarmStartSettings(
        self.prefix, 'new/.*',
        var_name_to_prev_var_name={'new/w': 'linear/w', 'new/b': 'linear/b'})
    ours, _ = self._train(
        _estimator.wrap_model_fn(_make_model_fn([], scope='new'), settings))
    tfs, _ = self._train(_make_model_fn([], scope='new'),
                         warm_start_from=settings)
    self.assertCountEqual(tfs.values, ours.values)
    for name, replicas in tfs.values.items():
      for (_, expected), (_, got) in zip(replicas, ours.values[name]):
        self.assertAllClose(expected, got, msg=name)
    self.assertEveryReplica(self.ckpt['linear/w'], ours, 'new/w')
    self.assertEveryReplica(np.full([3], _INIT), ours, 'other/v')

  def test_warm_start_hook_fills_every_replica(self):
    hook = _hook.WarmStartHook(WarmStartSettings(self.prefix, 'linear/w'))
    reader, _ = self._train(_make_model_fn([]), hooks=[hook])
    self.assertEveryReplica(self.ckpt['linear/w'], reader, 'linear/w')
    self.assertEveryReplica(np.full([1], _INIT), reader, 'linear/b')
    self.assertEqual(['linear/w'], [e.variable for e in hook.plan.restored])


class MirroredBuildingInitializersTest(test_util.BuildingInitializersMixin,
                                       MirroredEstimatorTest):
  """Every test of MirroredEstimatorTest on the path without stand-ins.

  `wrap_model_fn(..., at_creation=False)`: the model_fn builds every
  initializer, as before `warm_start_scope`; both paths must pass.
  """


if __name__ == '__main__':
  tf.test.main()
