"""Warm starts of mirrored variables under `tf.distribute.MirroredStrategy`.

Graph mode, two logical CPU devices, variables created under
`strategy.scope()`. `init_from_checkpoint` is called in cross-replica context
and in replica context (inside `call_for_each_replica`, where it goes through
`merge_call`, like TF's). Every replica's component must hold the checkpoint
value, exactly as after TF's `init_from_checkpoint` under the same strategy.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util

# Two logical CPUs; only possible before TF's runtime is initialized (under a
# shared pytest process another module may have done that already).
try:
  _CPU = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      _CPU, [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:
  pass

_DEVICES = ('/cpu:0', '/cpu:1')
_NAMES_MAP = {'model/w': 'model/w', 'model/b': 'model/b'}


def _const(value):
  return tf.compat.v1.constant_initializer(value)


def _build_source():
  with tf.compat.v1.variable_scope('model'):
    tf.compat.v1.get_variable('w', [3, 2])
    tf.compat.v1.get_variable('b', [2])


def _build_target():
  with tf.compat.v1.variable_scope('model'):
    w = tf.compat.v1.get_variable('w', [3, 2], initializer=_const(7.0))
    b = tf.compat.v1.get_variable('b', [2], initializer=_const(7.0))
    keep = tf.compat.v1.get_variable('keep', [4], initializer=_const(5.0))
  return {'model/w': w, 'model/b': b, 'model/keep': keep}


def _restore_ops(graph):
  return [op for op in graph.get_operations() if op.type == 'RestoreV2']


class MirroredStrategyTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.assertLen(
        tf.config.list_logical_devices('CPU'), 2,
        'This test needs the two logical CPUs configured at import: run it '
        'in its own process.')
    self.prefix, self.ckpt = test_util.save_checkpoint(
        self.create_tempdir().full_path, _build_source)

  def _warm_start(self, init_from_checkpoint, in_replica_context,
                  make_map=lambda v: _NAMES_MAP):
    """Returns ({name: [component values]}, plans returned, RestoreV2 count)."""
    with tf.Graph().as_default() as g:
      strategy = tf.distribute.MirroredStrategy(_DEVICES)
      with strategy.scope():
        variables = _build_target()
        for v in variables.values():
          self.assertIsInstance(v, tf.distribute.DistributedValues)
        assignment_map = make_map(variables)
        plans = []

        def fn():
          self.assertFalse(tf.distribute.in_cross_replica_context())
          plans.append(init_from_checkpoint(self.prefix, assignment_map))

        if in_replica_context:
          strategy.extended.call_for_each_replica(fn)
        else:
          self.assertTrue(tf.distribute.in_cross_replica_context())
          plans.append(init_from_checkpoint(self.prefix, assignment_map))
      for v in variables.values():
        self.assertEqual(['CPU:0', 'CPU:1'],
                         [c.device.split('/device:')[-1] for c in v.values])
      fetches = {n: list(v.values) for n, v in variables.items()}
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        values = sess.run(fetches)
    return values, plans, len(_restore_ops(g))

  def _check(self, values):
    for name in ('model/w', 'model/b'):
      self.assertLen(values[name], 2)
      for component in values[name]:
        self.assertAllClose(self.ckpt[name], component, msg=name)
    for component in values['model/keep']:
      self.assertAllClose(np.full([4], 5.0), component)

  def test_cross_replica_context(self):
    values, plans, num_restores = self._warm_start(
        warmstart.init_from_checkpoint, in_replica_context=False)
    self._check(values)
    [plan] = plans
    self.assertEqual(['model/w', 'model/b'],
                     [e.variable for e in plan.entries])
    self.assertEqual(1, num_restores)

  def test_replica_context_merge_call(self):
    values, plans, num_restores = self._warm_start(
        warmstart.init_from_checkpoint, in_replica_context=True)
    self._check(values)
    # merge_call builds the warm start once; every replica gets its plan.
    self.assertLen(plans, len(_DEVICES))
    for plan in plans:
      self.assertIsInstance(plan, warmstart.Plan)
      self.assertEqual(['model/w', 'model/b'],
                       [e.variable for e in plan.entries])
    self.assertEqual(1, num_restores)

  def test_variable_objects_in_the_map(self):
    make_map = lambda v: {'model/w': v['model/w'], 'model/b': v['model/b']}
    for in_replica_context in (False, True):
      values, _, _ = self._warm_start(
          warmstart.init_from_checkpoint, in_replica_context, make_map)
      self._check(values)

  def test_same_values_as_tf(self):
    for in_replica_context in (False, True):
      theirs, _, tf_restores = self._warm_start(
          tf.compat.v1.train.init_from_checkpoint, in_replica_context)
      ours, _, _ = self._warm_start(warmstart.init_from_checkpoint,
                                    in_replica_context)
      self._check(theirs)
      for name in theirs:
        for their_component, our_component in zip(theirs[name], ours[name]):
          np.testing.assert_array_equal(their_component, our_component)
      self.assertEqual(2, tf_restores)  # One per variable.

  def _sync_on_read(self, init_from_checkpoint, in_replica_context):
    """Warm-starts ON_READ variables; returns (components, reads) values."""
    with tf.Graph().as_default():
      strategy = tf.distribute.MirroredStrategy(_DEVICES)
      with strategy.scope():
        variables = {}
        for name, aggregation in (('model/w', tf.VariableAggregation.SUM),
                                  ('model/b', tf.VariableAggregation.MEAN)):
          variables[name] = tf.compat.v1.get_variable(
              name, self.ckpt[name].shape, initializer=_const(7.0),
              synchronization=tf.VariableSynchronization.ON_READ,
              aggregation=aggregation)
        fn = lambda: init_from_checkpoint(self.prefix, {'model/': 'model/'})
        if in_replica_context:
          strategy.extended.call_for_each_replica(fn)
        else:
          fn()
        reads = {n: v.read_value() for n, v in variables.items()}
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        return sess.run(({n: list(v.values) for n, v in variables.items()},
                         reads))

  def test_sync_on_read_variables_read_back_the_checkpoint_value(self):
    # A SUM variable reads as the sum of its components: each replica gets
    # its share of the checkpoint value, as with TF's own restore.
    for in_replica_context in (False, True):
      theirs, their_reads = self._sync_on_read(
          tf.compat.v1.train.init_from_checkpoint, in_replica_context)
      ours, our_reads = self._sync_on_read(warmstart.init_from_checkpoint,
                                           in_replica_context)
      for name in ('model/w', 'model/b'):
        self.assertAllClose(self.ckpt[name], our_reads[name])
        np.testing.assert_array_equal(their_reads[name], our_reads[name])
        for their_component, our_component in zip(theirs[name], ours[name]):
          np.testing.assert_array_equal(their_component, our_component)
      for component in ours['model/w']:
        self.assertAllClose(self.ckpt['model/w'] / len(_DEVICES), component)
      for component in ours['model/b']:
        self.assertAllClose(self.ckpt['model/b'], component)

  def _vocab_remap(self, module, prefix, new_vocab, old_vocab):
    """Warm-starts a mirrored [6, 2] emb (5 tokens + 1 OOV) by vocabulary;
    returns (its components' values, the graph)."""
    with tf.Graph().as_default() as g:
      strategy = tf.distribute.MirroredStrategy(_DEVICES)
      with strategy.scope():
        emb = tf.compat.v1.get_variable('emb', [6, 2],
                                        initializer=_const(7.0))
        info = module.VocabInfo(new_vocab, 5, 1, old_vocab)
        module.warm_start(prefix, 'emb',
                          var_name_to_vocab_info={'emb': info})
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        return sess.run(list(emb.values)), g

  def test_vocab_remap_on_every_replica(self):
    # The remapping and the read run once (on the CPU of the process, as the
    # init op does), their value goes to each replica's component.
    directory = self.create_tempdir().full_path
    prefix, ckpt = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('emb', [4, 2]))
    old_vocab = os.path.join(directory, 'old.txt')
    new_vocab = os.path.join(directory, 'new.txt')
    with open(old_vocab, 'w') as f:
      f.write('a\nb\nc\nd\n')
    with open(new_vocab, 'w') as f:
      f.write('c\nx\na\nd\ny\n')
    expected = np.stack([ckpt['emb'][2], np.zeros(2), ckpt['emb'][0],
                         ckpt['emb'][3], np.zeros(2), np.zeros(2)])
    ours, graph = self._vocab_remap(warmstart, prefix, new_vocab, old_vocab)
    self.assertLen(ours, 2)
    for component in ours:
      self.assertAllEqual(expected, component)
    self.assertLen([op for op in graph.get_operations()
                    if op.name.endswith('vocab_remapping')], 1)
    self.assertLen([op for op in graph.get_operations()
                    if op.type in ('LoadAndRemapMatrix', 'RestoreV2')], 1)
    theirs, _ = self._vocab_remap(tf.compat.v1.train, prefix, new_vocab,
                                  old_vocab)
    for their_component, our_component in zip(theirs, ours):
      np.testing.assert_array_equal(their_component, our_component)

  def test_error_in_replica_context_names_the_tensor(self):
    with self.assertRaisesRegex(warmstart.TensorNotFoundError,
                                r"'model/missing' is not in checkpoint"):
      self._warm_start(warmstart.init_from_checkpoint, True,
                       lambda v: {'model/missing': 'model/w'})


if __name__ == '__main__':
  tf.test.main()
