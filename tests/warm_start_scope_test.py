"""Tests of `warmstart.warm_start_scope`: warm starts of what a block creates.

Graph A is trained two steps (Adam: its slots are not zero) and saved. Each
test builds graph B twice with the same graph seed: once inside
`warm_start_scope(settings)`, once without it followed by
`warmstart.apply_settings(settings)`. Values are compared with the checkpoint
(what is restored) and with B's own initializers (what is not); the two
graphs must agree bit for bit (values, initial values, plan), no op may read
a stand-in, and the variables the checkpoint restores whole must not have
built their initializers.
"""

from __future__ import annotations

import collections
import functools
import os
import re
from unittest import mock

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart._restore import _apply
from warmstart import _settings

# Before anything initializes the TF runtime: two CPUs for MirroredStrategy.
_CPUS = test_util.configure_logical_cpus(2)

_SEED = 2
_OLD_VOCAB = ['a', 'b', 'c', 'd']
_NEW_VOCAB = ['c', 'x', 'a', 'y', 'd', 'z']

_TRAINABLE = ('dnn/kernel', 'dnn/bias', 'emb')


def _build_a():
  """The source model: returns its training op (Adam, two steps)."""
  step = tf.compat.v1.train.get_or_create_global_step()
  with tf.compat.v1.variable_scope('dnn'):
    kernel = tf.compat.v1.get_variable('kernel', [3, 2])
    bias = tf.compat.v1.get_variable('bias', [2])
  emb = tf.compat.v1.get_variable(
      'emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
  tf.compat.v1.get_variable('bn/moving_mean', [2], trainable=False)
  head = [tf.compat.v1.get_variable('head/kernel', [2, 1]),
          tf.compat.v1.get_variable('head/bias', [1])]
  keras = [tf.compat.v1.get_variable('keras_dense/kernel', [2, 3]),
           tf.compat.v1.get_variable('keras_dense/bias', [3])]
  tf.compat.v1.get_variable('wide/w', [3], tf.float64)
  tf.compat.v1.get_variable('grow/w', [4, 3])
  tf.compat.v1.get_variable('vocab/emb', [4, 3])
  tf.compat.v1.get_variable('conv/k3', [3, 3, 2, 2])
  tf.compat.v1.get_variable('conv/k5', [5, 5, 2, 2])
  trained = [kernel, bias] + list(emb) + head + keras
  loss = tf.add_n([tf.reduce_sum(tf.square(v)) for v in trained])
  return tf.compat.v1.train.AdamOptimizer(0.1).minimize(
      loss, global_step=step, var_list=trained)


def _build_other():
  """A second source: other/w, and a dnn/kernel of its own."""
  tf.compat.v1.get_variable('other/w', [3])
  tf.compat.v1.get_variable('dnn/kernel', [3, 2])


def _model(use_resource=None, cold=True, partitions=3):
  """Graph B: the dnn, a partitioned emb, statistics, a cold variable."""
  step = tf.compat.v1.train.get_or_create_global_step()
  with tf.compat.v1.variable_scope('dnn', use_resource=use_resource):
    kernel = tf.compat.v1.get_variable('kernel', [3, 2])
    bias = tf.compat.v1.get_variable('bias', [2])
  emb = tf.compat.v1.get_variable(
      'emb', [6, 2], use_resource=use_resource,
      partitioner=tf.compat.v1.fixed_size_partitioner(partitions))
  tf.compat.v1.get_variable('bn/moving_mean', [2], trainable=False,
                            use_resource=use_resource)
  if cold:
    tf.compat.v1.get_variable('new/w', [4], use_resource=use_resource)
  return {'step': step, 'kernel': kernel, 'bias': bias, 'emb': emb}


def _mirrored_model():
  """dnn/kernel, dnn/bias, an ON_READ bn/moving_mean and a cold new/w."""
  with tf.compat.v1.variable_scope('dnn'):
    kernel = tf.compat.v1.get_variable('kernel', [3, 2])
    bias = tf.compat.v1.get_variable('bias', [2])
  mean = tf.compat.v1.get_variable(
      'bn/moving_mean', [2], trainable=False,
      synchronization=tf.VariableSynchronization.ON_READ,
      aggregation=tf.VariableAggregation.MEAN)
  new = tf.compat.v1.get_variable('new/w', [4])
  return {'dnn/kernel': kernel, 'dnn/bias': bias, 'bn/moving_mean': mean,
          'new/w': new}


def _ops_under(graph, scope):
  """The names of the ops under name scope `scope` ('x/' for x's ops)."""
  return sorted(op.name for op in graph.get_operations()
                if op.name.startswith(scope))


class Built(collections.namedtuple(
    'Built', 'values initial plan graph num_ops fetched stand_ins')):
  """One build of graph B: {name: value}, {name: initial value}, the plan,
  the graph, its op count before initialization, the values of what `build`
  returned to fetch, and the variables given a stand-in."""


class ScopeTestCase(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    base = os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__)
    cls.prefix, cls.ckpt = test_util.save_checkpoint(
        os.path.join(base, 'a'), _build_a, steps=2)
    cls.prefix_2, cls.ckpt_2 = test_util.save_checkpoint(
        os.path.join(base, 'other'), _build_other, seed=5)
    cls.vocab_dir = os.path.join(base, 'vocab')
    os.makedirs(cls.vocab_dir, exist_ok=True)
    for name, tokens in (('old', _OLD_VOCAB), ('new', _NEW_VOCAB)):
      with open(os.path.join(cls.vocab_dir, name + '.txt'), 'w') as f:
        f.write(''.join(t + '\n' for t in tokens))

  def _run(self, graph, fetches):
    values = test_util.initialize(graph)
    initial = test_util.initial_values(graph)
    fetched = None
    if fetches:
      with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        sess.run([tf.compat.v1.global_variables_initializer(),
                  tf.compat.v1.local_variables_initializer()])
        fetched = sess.run(fetches)
    return values, initial, fetched

  def scoped(self, build, settings, seed=_SEED, **options):
    """Graph B built inside `warm_start_scope(settings, **options)`."""
    with tf.Graph().as_default() as graph:
      if seed is not None:
        tf.compat.v1.set_random_seed(seed)
      with warmstart.warm_start_scope(settings, **options) as scope:
        fetches = build()
      self.assertEqual([], test_util.stand_in_readers(graph))
      num_ops = len(graph.get_operations())
      values, initial, fetched = self._run(graph, _fetches(fetches))
    return Built(values, initial, scope.plan, graph, num_ops, fetched,
                 test_util.stand_ins(graph))

  def plain(self, build, settings=None, seed=_SEED, **options):
    """Graph B built without the scope, then `apply_settings` (if any)."""
    with tf.Graph().as_default() as graph:
      if seed is not None:
        tf.compat.v1.set_random_seed(seed)
      fetches = build()
      plan = None
      if settings is not None:
        plan = warmstart.apply_settings(
            _settings.normalize(settings, **options))
      num_ops = len(graph.get_operations())
      values, initial, fetched = self._run(graph, _fetches(fetches))
    return Built(values, initial, plan, graph, num_ops, fetched, [])

  def both(self, build, settings, seed=_SEED, **options):
    """Builds B with and without the scope; they must agree bit for bit."""
    plain = self.plain(build, settings, seed, **options)
    scoped = self.scoped(build, settings, seed, **options)
    self.assertSame(plain.values, scoped.values, 'value')
    self.assertSame(plain.initial, scoped.initial, 'initial value')
    if plain.fetched is not None:
      self.assertSame(plain.fetched, scoped.fetched, 'fetched')
    self.assertEqual(plain.plan.to_json(), scoped.plan.to_json())
    return plain, scoped

  def assertSame(self, expected, got, what):
    self.assertCountEqual(expected, got)
    for name in expected:
      np.testing.assert_array_equal(expected[name], got[name],
                                    err_msg='%s of %s' % (what, name))

  def assertRestored(self, got, names, ckpt=None):
    ckpt = self.ckpt if ckpt is None else ckpt
    for name in names:
      self.assertAllClose(ckpt[name], got[name], msg=name)

  def assertNoInitializerBuilt(self, graph, name):
    """`name`'s initializer ops were never built: only its stand-in."""
    self.assertEqual([name + '/Initializer/stand_in'],
                     _ops_under(graph, name + '/Initializer/'))


def _fetches(fetches):
  """What `build` returned that is to be fetched: a dict of tensors."""
  if isinstance(fetches, dict) and fetches.get('fetch'):
    return fetches['fetch']
  return None


class GetVariableTest(ScopeTestCase):

  def test_restored_variables_get_a_stand_in_cold_ones_their_initializer(self):
    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    cold = self.plain(_model)
    plain, scoped = self.both(_model, settings)
    self.assertCountEqual(['dnn/kernel', 'dnn/bias'], scoped.stand_ins)
    self.assertRestored(scoped.values, ['dnn/kernel', 'dnn/bias'])
    self.assertRestored(scoped.initial, ['dnn/kernel', 'dnn/bias'])
    # Not selected: their own initializers, built where they were created.
    for name in ('emb', 'bn/moving_mean', 'new/w', 'global_step'):
      np.testing.assert_array_equal(cold.values[name], scoped.values[name],
                                    err_msg=name)
    self.assertNotEmpty(_ops_under(scoped.graph, 'new/w/Initializer/'))
    self.assertNotIn('new/w/Initializer/stand_in',
                     _ops_under(scoped.graph, 'new/w/Initializer/'))
    self.assertEqual(plain.plan.to_json(), scoped.plan.to_json())
    self.assertEqual(['dnn/kernel', 'dnn/bias'],
                     [e.variable for e in scoped.plan.restored])

  def test_restored_variables_build_no_initializer_ops(self):
    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    plain, scoped = self.both(_model, settings)
    for name in ('dnn/kernel', 'dnn/bias'):
      self.assertNoInitializerBuilt(scoped.graph, name)
      # Without the scope, the Glorot initializer was built for nothing.
      self.assertIn(name + '/Initializer/random_uniform',
                    _ops_under(plain.graph, name + '/Initializer/'))
    # Seven ops per Glorot-initialized variable, zeros' one for the bias,
    # each replaced by one stand-in...
    self.assertLess(scoped.num_ops, plain.num_ops)
    restore_ops = {g: _ops_under(g, 'checkpoint_initializer/')
                   for g in (plain.graph, scoped.graph)}
    self.assertEqual(
        plain.num_ops - scoped.num_ops,
        len(_ops_under(plain.graph, 'dnn/kernel/Initializer/')) - 1 +
        len(_ops_under(plain.graph, 'dnn/bias/Initializer/')) - 1 +
        len(restore_ops[plain.graph]) - len(restore_ops[scoped.graph]))
    # ...and the restore builds no assign: each variable's own initializer
    # now assigns the value read through the batched handle op (without the
    # scope: one more AssignVariableOp per variable).
    self.assertEqual(
        sorted(set(restore_ops[plain.graph]) - set(restore_ops[scoped.graph])),
        ['checkpoint_initializer/AssignVariableOp',
         'checkpoint_initializer/AssignVariableOp_1'])
    for name in ('dnn/kernel', 'dnn/bias'):
      variable = scoped.graph.get_collection('variables', name)[0]
      self.assertEqual(name + '/Assign', variable.initializer.name)
      self.assertEqual('_VarHandlesOp',
                       variable.initializer.inputs[0].op.type)
      self.assertEqual('RestoreV2', variable.initializer.inputs[1].op.type)

  def test_partitioned_variable(self):
    settings = warmstart.WarmStartSettings(self.prefix, ['emb', 'dnn/'])
    _, scoped = self.both(_model, settings)
    parts = ['emb/part_0', 'emb/part_1', 'emb/part_2']
    self.assertCountEqual(['dnn/kernel', 'dnn/bias'] + parts,
                          scoped.stand_ins)
    for part in parts:
      self.assertNoInitializerBuilt(scoped.graph, part)
    # Saved in two parts, restored into three.
    self.assertRestored(scoped.values, ['emb', 'dnn/kernel'])
    self.assertAllClose(self.ckpt['emb'][:2], scoped.values['emb/part_0'])
    self.assertAllClose(self.ckpt['emb'][:2], scoped.initial['emb/part_0'])
    self.assertLen(scoped.plan.entry('emb').slices, 3)

  def test_ref_variables(self):
    build = functools.partial(_model, use_resource=False)
    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'emb'])
    _, scoped = self.both(build, settings)
    with scoped.graph.as_default():
      kernel = [v for v in tf.compat.v1.global_variables()
                if v.op.name == 'dnn/kernel'][0]
    self.assertEqual('VariableV2', kernel.op.type)
    self.assertIn('dnn/kernel', scoped.stand_ins)
    self.assertNoInitializerBuilt(scoped.graph, 'dnn/kernel')
    self.assertRestored(scoped.values, ['dnn/kernel', 'dnn/bias', 'emb'])

  def test_global_variables_initializer_built_inside_the_block_restores(self):
    for use_resource in (True, False):
      with tf.Graph().as_default() as graph:
        tf.compat.v1.set_random_seed(_SEED)
        with warmstart.warm_start_scope(
            warmstart.WarmStartSettings(self.prefix, ['dnn/', 'emb'])):
          variables = _model(use_resource=use_resource)
          init = tf.compat.v1.global_variables_initializer()
        self.assertEqual([], test_util.stand_in_readers(graph))
        with tf.compat.v1.Session() as sess:
          sess.run(init)
          kernel, bias, emb, step = sess.run(
              [variables['kernel'], variables['bias'],
               tf.concat(list(variables['emb']), 0), variables['step']])
      self.assertAllClose(self.ckpt['dnn/kernel'], kernel)
      self.assertAllClose(self.ckpt['dnn/bias'], bias)
      self.assertAllClose(self.ckpt['emb'], emb)
      self.assertEqual(0, step)  # Not the checkpoint's 2.

  def test_global_step_and_slots_are_left_alone(self):
    settings = warmstart.WarmStartSettings(self.prefix, ['.*'],
                                           skip_missing=True)

    def build():
      variables = _model()
      loss = tf.reduce_sum(variables['kernel'])
      tf.compat.v1.train.AdamOptimizer(0.1).minimize(
          loss, global_step=variables['step'])

    cold = self.plain(build)
    _, scoped = self.both(build, settings)
    self.assertEqual(0, scoped.values['global_step'])
    self.assertNotIn('global_step', scoped.stand_ins)
    restored = [e.variable for e in scoped.plan.restored]
    for name in ('dnn/kernel/Adam', 'dnn/kernel/Adam_1', 'beta1_power'):
      self.assertNotIn(name, restored)
      np.testing.assert_array_equal(cold.values[name], scoped.values[name])
    self.assertRestored(scoped.values, ['dnn/kernel', 'bn/moving_mean'])


class SeedTest(ScopeTestCase):

  def test_cold_variables_after_restored_ones_keep_their_seeds(self):

    def build():
      _model(cold=False)
      # Random, created after the restored ones: drawn op seeds after theirs.
      tf.compat.v1.get_variable('late/glorot', [5, 3])
      tf.compat.v1.get_variable(
          'late/normal', [4],
          initializer=tf.compat.v1.truncated_normal_initializer())

    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'emb'])
    cold = self.plain(build)
    _, scoped = self.both(build, settings)
    self.assertIn('dnn/kernel', scoped.stand_ins)
    for name in ('late/glorot', 'late/normal'):
      # As in a cold start of the same graph: the stand-ins reserved the
      # seeds their initializers would have drawn.
      np.testing.assert_array_equal(cold.values[name], scoped.values[name])
      np.testing.assert_array_equal(cold.initial[name], scoped.initial[name])
    self.assertRestored(scoped.values, ['dnn/kernel', 'emb'])

  def test_random_ops_after_the_variables(self):

    def build():
      variables = _model()
      dropout = tf.random.uniform([4, 3])
      noise = tf.compat.v1.random_normal([2])
      kept = tf.nn.dropout(tf.ones([8]), rate=0.5)
      return {'fetch': {'uniform': dropout, 'normal': noise, 'kept': kept,
                        'out': tf.matmul(tf.ones([1, 3]),
                                         variables['kernel'])}}

    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    cold = self.plain(build)
    _, scoped = self.both(build, settings)
    for name in ('uniform', 'normal', 'kept'):
      np.testing.assert_array_equal(cold.fetched[name], scoped.fetched[name])
    self.assertAllClose(np.ones([1, 3]).dot(self.ckpt['dnn/kernel']),
                        scoped.fetched['out'])

  def test_unseeded_graph_restores_the_same(self):
    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'emb'])
    scoped = self.scoped(_model, settings, seed=None)
    self.assertIn('dnn/kernel', scoped.stand_ins)
    self.assertRestored(scoped.values, ['dnn/kernel', 'dnn/bias', 'emb'])

  def test_initializer_not_of_tensorflow_in_a_seeded_graph(self):
    calls = []

    def my_initializer(shape, dtype=None, partition_info=None):
      del partition_info
      calls.append(shape)
      return tf.random.uniform(shape, dtype=dtype)

    def build():
      with tf.compat.v1.variable_scope('dnn', initializer=my_initializer):
        tf.compat.v1.get_variable('kernel', [3, 2])
      tf.compat.v1.get_variable('late', [3], initializer=my_initializer)

    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    # Its op-seed draws are unknown: a seeded graph builds it as usual...
    _, scoped = self.both(build, settings)
    self.assertEqual([], scoped.stand_ins)
    self.assertRestored(scoped.values, ['dnn/kernel'])
    # ...an unseeded one gives it a stand-in and never calls it.
    del calls[:]
    unseeded = self.scoped(build, settings, seed=None)
    self.assertEqual(['dnn/kernel'], unseeded.stand_ins)
    self.assertEqual([[3]], calls)
    self.assertRestored(unseeded.values, ['dnn/kernel'])

  def test_initializer_whose_seed_draws_depend_on_the_shape(self):
    # TF's ConvolutionOrthogonal2D draws 4 * k - 3 op seeds for a k x k
    # kernel: the stand-ins of two kernels of other sizes must reserve
    # different counts, or the cold variable after them gets another seed.
    from tensorflow.python.ops import init_ops  # pylint: disable=g-import-not-at-top

    def build():
      orthogonal = init_ops.ConvolutionOrthogonal2D()
      with tf.compat.v1.variable_scope('conv', initializer=orthogonal):
        tf.compat.v1.get_variable('k3', [3, 3, 2, 2])
        tf.compat.v1.get_variable('k5', [5, 5, 2, 2])
      tf.compat.v1.get_variable('late', [4])

    settings = warmstart.WarmStartSettings(self.prefix, 'conv/')
    cold = self.plain(build)
    scoped = self.scoped(build, settings)
    self.assertCountEqual(['conv/k3', 'conv/k5'], scoped.stand_ins)
    self.assertRestored(scoped.values, ['conv/k3', 'conv/k5'])
    np.testing.assert_array_equal(cold.values['late'], scoped.values['late'])


class LayersTest(ScopeTestCase):

  @test_util.requires_graph_keras
  def test_compat_v1_layers_dense(self):

    def build(default_kernel=False):
      # Keras' unseeded initializers draw their seeds from Python's random:
      # seeded here, or no two graphs are alike, scope or not.
      tf.keras.utils.set_random_seed(_SEED)
      x = tf.ones([4, 2])
      kernel_initializer = (
          None if default_kernel else tf.compat.v1.glorot_uniform_initializer())
      out = tf.compat.v1.layers.dense(
          x, 1, name='head', kernel_initializer=kernel_initializer)
      hidden = tf.compat.v1.layers.dense(x, 5, name='hidden')
      return {'fetch': {'out': out, 'hidden': hidden}}

    settings = warmstart.WarmStartSettings(self.prefix, 'head/')
    cold = self.plain(build)
    _, scoped = self.both(build, settings)
    self.assertCountEqual(['head/kernel', 'head/bias'], scoped.stand_ins)
    self.assertNoInitializerBuilt(scoped.graph, 'head/kernel')
    self.assertNoInitializerBuilt(scoped.graph, 'head/bias')
    # The layer's default kernel initializer is Keras' (its seed draws are
    # not known): in a seeded graph it is built as usual, the bias is not.
    _, default = self.both(functools.partial(build, default_kernel=True),
                           settings)
    self.assertEqual(['head/bias'], default.stand_ins)
    self.assertRestored(default.values, ['head/kernel', 'head/bias'])
    self.assertRestored(scoped.values, ['head/kernel', 'head/bias'])
    self.assertAllClose(
        np.ones([4, 2]).dot(self.ckpt['head/kernel']) + self.ckpt['head/bias'],
        scoped.fetched['out'])
    np.testing.assert_array_equal(cold.values['hidden/kernel'],
                                  scoped.values['hidden/kernel'])

  @test_util.requires_graph_keras
  def test_keras_layers(self):

    def build(seeded=True):
      if seeded:  # Keras' seeds come from Python's random, and the graph's.
        tf.keras.utils.set_random_seed(_SEED)
      layer = tf.keras.layers.Dense(3, name='keras_dense')
      out = layer(tf.ones([2, 2]))
      other = tf.keras.layers.Dense(2, name='keras_other')(out)
      return {'fetch': {'out': out, 'other': other}}

    settings = warmstart.WarmStartSettings(self.prefix, 'keras_dense/')
    # Keras' initializers are not TensorFlow's: in a seeded graph they are
    # built as usual, and both graphs agree bit for bit.
    _, seeded = self.both(build, settings)
    self.assertRestored(seeded.values, ['keras_dense/kernel',
                                        'keras_dense/bias'])
    # Unseeded: the restored layer's variables get stand-ins.
    self.assertEqual([], seeded.stand_ins)
    unseeded = self.scoped(functools.partial(build, seeded=False), settings,
                           seed=None)
    self.assertCountEqual(['keras_dense/kernel', 'keras_dense/bias'],
                          unseeded.stand_ins)
    self.assertNoInitializerBuilt(unseeded.graph, 'keras_dense/kernel')
    self.assertRestored(unseeded.values, ['keras_dense/kernel',
                                          'keras_dense/bias'])
    self.assertRestored(unseeded.initial, ['keras_dense/kernel',
                                           'keras_dense/bias'])
    self.assertAllClose(
        np.ones([2, 2]).dot(self.ckpt['keras_dense/kernel']) +
        self.ckpt['keras_dense/bias'], unseeded.fetched['out'])
    self.assertAllEqual(np.zeros([2]), unseeded.values['keras_other/bias'])


class CreatorsTest(ScopeTestCase):

  def _creator(self, seen):

    def creator(next_creator, **kwargs):
      seen.append(kwargs['name'])
      return next_creator(**kwargs)

    return creator

  def test_user_creator_inside_the_block(self):
    seen = []

    def build():
      with tf.variable_creator_scope(self._creator(seen)):
        _model()

    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'emb'])
    _, scoped = self.both(build, settings)
    self.assertIn('dnn/kernel', seen)
    self.assertIn('dnn/kernel', scoped.stand_ins)
    self.assertRestored(scoped.values, ['dnn/kernel', 'dnn/bias', 'emb'])

  def test_user_creator_outside_the_block(self):
    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'emb'])
    plain = self.plain(_model, settings)
    seen = []
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      with tf.variable_creator_scope(self._creator(seen)):
        with warmstart.warm_start_scope(settings) as scope:
          _model()
      self.assertEqual([], test_util.stand_in_readers(graph))
      self.assertIn('dnn/kernel', test_util.stand_ins(graph))
      values = test_util.initialize(graph)
      initial = test_util.initial_values(graph)
    self.assertIn('dnn/kernel', seen)
    self.assertSame(plain.values, values, 'value')
    self.assertSame(plain.initial, initial, 'initial value')
    self.assertEqual(plain.plan.to_json(), scope.plan.to_json())

  def test_creator_replacing_the_initial_value(self):
    # A creator that gives its own initial value: no stand-in is possible
    # for what it hides, and the plan restores the variable as usual.

    def ones(next_creator, **kwargs):
      if kwargs['name'] == 'dnn/bias':
        kwargs['initial_value'] = tf.ones(kwargs['shape'])
      return next_creator(**kwargs)

    def build():
      with tf.variable_creator_scope(ones):
        _model()

    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    _, scoped = self.both(build, settings)
    self.assertEqual(['dnn/kernel'], scoped.stand_ins)
    self.assertRestored(scoped.values, ['dnn/kernel', 'dnn/bias'])

  def test_custom_getter(self):
    got = []

    def getter(getter, name, *args, **kwargs):  # pylint: disable=redefined-outer-name
      got.append(name)
      return getter(name, *args, **kwargs)

    def build():
      with tf.compat.v1.variable_scope('', custom_getter=getter):
        _model()

    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'emb'])
    _, scoped = self.both(build, settings)
    self.assertIn('dnn/kernel', got)
    self.assertIn('dnn/kernel', scoped.stand_ins)
    self.assertNoInitializerBuilt(scoped.graph, 'dnn/kernel')
    self.assertRestored(scoped.values, ['dnn/kernel', 'dnn/bias', 'emb'])


class AuxiliaryVariablesTest(ScopeTestCase):

  def test_moving_average_of_a_restored_variable_starts_at_its_value(self):
    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')

    def build():
      variables = _model()
      tf.compat.v1.train.ExponentialMovingAverage(0.5).apply(
          [variables['kernel'], variables['bias']])

    # Without the scope, the shadows read whichever of the variables' old
    # initializer and restore runs first: only the rest is compared.
    plain = self.plain(build, settings)
    scoped = self.scoped(build, settings)
    for what in ('values', 'initial'):
      expected, got = getattr(plain, what), getattr(scoped, what)
      self.assertCountEqual(expected, got)
      for name in expected:
        if 'ExponentialMovingAverage' not in name:
          np.testing.assert_array_equal(expected[name], got[name],
                                        err_msg='%s of %s' % (what, name))
    self.assertEqual(plain.plan.to_json(), scoped.plan.to_json())
    for name in ('dnn/kernel', 'dnn/bias'):
      shadow = name + '/ExponentialMovingAverage'
      self.assertAllClose(self.ckpt[name], scoped.values[shadow])
      self.assertAllClose(self.ckpt[name], scoped.initial[shadow])
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      with warmstart.warm_start_scope(settings) as scope:
        variables = _model()
        ema = tf.compat.v1.train.ExponentialMovingAverage(0.5)
        update = ema.apply([variables['kernel'], variables['bias']])
      self.assertEqual([], test_util.stand_in_readers(graph))
      self.assertIn('dnn/kernel', test_util.stand_ins(graph))
      shadow = ema.average(variables['kernel'])
      self.assertEqual('dnn/kernel/ExponentialMovingAverage', shadow.op.name)
      init = tf.compat.v1.global_variables_initializer()
      # Without the scope, the shadow's cond reads the kernel's old
      # initializer when it runs first: not so here, in any session.
      for _ in range(3):
        with tf.compat.v1.Session() as sess:
          sess.run(init)
          self.assertAllClose(self.ckpt['dnn/kernel'], sess.run(shadow))
          self.assertAllClose(self.ckpt['dnn/kernel'],
                              sess.run(shadow.initial_value))
          sess.run(update)
          self.assertAllClose(self.ckpt['dnn/kernel'], sess.run(shadow))
    self.assertEqual(['dnn/kernel', 'dnn/bias'],
                     [e.variable for e in scope.plan.restored])

  def test_optimizer_slots_minimize_inside_the_block(self):

    def build():
      variables = _model()
      loss = tf.reduce_sum(variables['kernel']) + tf.reduce_sum(
          variables['bias'])
      tf.compat.v1.train.AdamOptimizer(0.1).minimize(
          loss, global_step=variables['step'])

    cold = self.plain(build)
    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    _, scoped = self.both(build, settings)
    self.assertCountEqual(['dnn/kernel', 'dnn/bias'], scoped.stand_ins)
    for name in ('dnn/kernel/Adam', 'dnn/kernel/Adam_1', 'beta1_power'):
      np.testing.assert_array_equal(cold.values[name], scoped.values[name])
    self.assertAllEqual(np.zeros([3, 2]), scoped.values['dnn/kernel/Adam'])
    # With the slots: they are restored too.
    _, with_slots = self.both(build, settings, include_slots=True)
    for name in ('dnn/kernel/Adam', 'dnn/kernel/Adam_1', 'beta1_power'):
      self.assertAllClose(self.ckpt[name], with_slots.values[name], msg=name)

  def test_slots_of_a_partitioned_variable(self):

    def build():
      variables = _model()
      loss = tf.reduce_sum(tf.square(tf.concat(list(variables['emb']), 0)))
      tf.compat.v1.train.AdamOptimizer(0.1).minimize(loss)

    settings = warmstart.WarmStartSettings(self.prefix, 'emb',
                                           include_slots=True)
    _, scoped = self.both(build, settings)
    self.assertCountEqual(
        ['emb', 'emb/Adam', 'emb/Adam_1', 'beta1_power', 'beta2_power'],
        [e.variable for e in scoped.plan.restored])
    self.assertRestored(scoped.values, ['emb', 'emb/Adam', 'emb/Adam_1'])
    self.assertIn('emb/part_2', scoped.stand_ins)

  def test_restored_slots_build_no_initializer(self):
    # warm_start_scope's contract: "each variable that the checkpoint and
    # settings will restore whole gets a stand-in initial value". With
    # include_slots=True the plan restores the slots whole.

    def build():
      variables = _model()
      tf.compat.v1.train.AdamOptimizer(0.1).minimize(
          tf.reduce_sum(variables['kernel']))

    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/kernel',
                                           include_slots=True)
    _, scoped = self.both(build, settings)
    self.assertEqual(
        'restore', scoped.plan.entry('dnn/kernel/Adam').action)
    self.assertAllClose(self.ckpt['dnn/kernel/Adam'],
                        scoped.values['dnn/kernel/Adam'])
    self.assertCountEqual(
        ['dnn/kernel', 'dnn/kernel/Adam', 'dnn/kernel/Adam_1'],
        scoped.stand_ins)
    self.assertNoInitializerBuilt(scoped.graph, 'dnn/kernel/Adam')

  def test_slots_the_plan_leaves_get_no_stand_in(self):
    # A list of regexes matches the slots by name, but the plan leaves them
    # (include_slots=False); the predictor asks the same rules, so they
    # build their own zeros at creation, exactly as without the scope.

    def build():
      variables = _model()
      tf.compat.v1.train.AdamOptimizer(0.1).minimize(
          tf.reduce_sum(variables['kernel']))

    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/kernel.*'])
    plain, scoped = self.both(build, settings)
    self.assertEqual(['dnn/kernel'], [e.variable for e in scoped.plan])
    self.assertEqual(['dnn/kernel'], scoped.stand_ins)
    self.assertAllEqual(np.zeros([3, 2]), scoped.values['dnn/kernel/Adam'])
    for name in ('dnn/kernel/Adam', 'dnn/kernel/Adam_1'):
      ops = _ops_under(plain.graph, name + '/Initializer/')
      self.assertNotEmpty(ops)
      self.assertCountEqual(ops, _ops_under(scoped.graph,
                                            name + '/Initializer/'))

  def test_variable_frozen_after_creation_builds_its_own_initializer(self):
    # Trainable when created (predicted restored), then frozen, a TF1
    # fine-tuning idiom (out of TRAINABLE_VARIABLES): a regex string selects
    # trainable variables only, so the plan leaves it. Its stand-in is
    # replaced by its own initializer, built in its own name scope, on its
    # own device and colocated as without the scope.

    def build():
      variables = _model()
      with tf.device('/cpu:0'), tf.compat.v1.colocate_with(
          variables['kernel']):
        tf.compat.v1.get_variable('dnn/scale', [3, 2])
      frozen = tf.compat.v1.get_collection_ref(
          tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)
      frozen[:] = [v for v in frozen if v.op.name != 'dnn/scale']

    scale_prefix, _ = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'scale'), _build_a_with_scale)
    settings = warmstart.WarmStartSettings(scale_prefix, 'dnn/',
                                           allow_unmatched=True)
    plain, scoped = self.both(build, settings)
    self.assertIn('dnn/scale', scoped.stand_ins)
    self.assertNotIn('dnn/scale', [e.variable for e in scoped.plan])
    ops = _ops_under(plain.graph, 'dnn/scale/Initializer/')
    self.assertNotEmpty(ops)
    self.assertCountEqual(ops + ['dnn/scale/Initializer/stand_in'],
                          _ops_under(scoped.graph, 'dnn/scale/Initializer/'))
    for op_name in ops:
      theirs = plain.graph.get_operation_by_name(op_name)
      ours = scoped.graph.get_operation_by_name(op_name)
      self.assertEqual(theirs.device, ours.device, op_name)
      self.assertEqual(theirs.colocation_groups(), ours.colocation_groups(),
                       op_name)


def _build_a_with_scale():
  """Graph A with a dnn/scale beside dnn/kernel."""
  tf.compat.v1.get_variable('dnn/scale', [3, 2])
  return _build_a()


class ChangedModelsTest(ScopeTestCase):

  def test_vocab_remap(self):
    info = warmstart.VocabInfo(
        os.path.join(self.vocab_dir, 'new.txt'), 6, 1,
        os.path.join(self.vocab_dir, 'old.txt'))

    def build():
      tf.compat.v1.get_variable('vocab/emb', [7, 3])
      _model()

    settings = warmstart.WarmStartSettings(
        self.prefix, ['vocab/', 'dnn/'],
        var_name_to_vocab_info={'vocab/emb': info})
    cold = self.plain(build)
    _, scoped = self.both(build, settings)
    # A remap needs the initializer (new rows): no stand-in.
    self.assertNotIn('vocab/emb', scoped.stand_ins)
    self.assertIn('dnn/kernel', scoped.stand_ins)
    self.assertEqual('vocab_remap', scoped.plan.entry('vocab/emb').action)
    old = self.ckpt['vocab/emb']
    got = scoped.values['vocab/emb']
    self.assertFalse(np.array_equal(cold.values['vocab/emb'], got))
    for row, token in enumerate(_NEW_VOCAB):
      if token in _OLD_VOCAB:
        self.assertAllClose(old[_OLD_VOCAB.index(token)], got[row])
      else:  # New tokens and the OOV bucket: zeros, as TF's (no backup).
        self.assertAllEqual(np.zeros([3]), got[row], msg=token)
    self.assertAllEqual(np.zeros([3]), got[6])

  def test_resize(self):

    def build():
      tf.compat.v1.get_variable(
          'grow/w', [6, 3],
          initializer=tf.compat.v1.random_uniform_initializer(5.0, 6.0))
      _model()

    settings = warmstart.WarmStartSettings(self.prefix, ['grow/', 'dnn/'],
                                           resize=True)
    cold = self.plain(build)
    _, scoped = self.both(build, settings)
    self.assertNotIn('grow/w', scoped.stand_ins)
    self.assertIn('dnn/kernel', scoped.stand_ins)
    self.assertEqual('resize', scoped.plan.entry('grow/w').action)
    expected = cold.values['grow/w'].copy()
    expected[:4] = self.ckpt['grow/w']
    self.assertAllClose(expected, scoped.values['grow/w'])
    np.testing.assert_array_equal(cold.values['grow/w'][4:],
                                  scoped.values['grow/w'][4:])

  def test_cast(self):

    def build():
      tf.compat.v1.get_variable('wide/w', [3], tf.float32)
      _model()

    settings = warmstart.WarmStartSettings(self.prefix, ['wide/', 'dnn/'],
                                           cast=True)
    _, scoped = self.both(build, settings)
    self.assertIn('wide/w', scoped.stand_ins)
    self.assertNoInitializerBuilt(scoped.graph, 'wide/w')
    self.assertEqual('cast', scoped.plan.entry('wide/w').action)
    self.assertAllClose(self.ckpt['wide/w'].astype(np.float32),
                        scoped.values['wide/w'])
    self.assertEqual(np.float32, scoped.values['wide/w'].dtype)

  def test_skip_missing(self):

    def build():
      _model()
      tf.compat.v1.get_variable('dnn/extra', [2])

    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/',
                                           skip_missing=True)
    cold = self.plain(build)
    with self.assertLogs(level='WARNING'):
      _, scoped = self.both(build, settings)
    self.assertNotIn('dnn/extra', scoped.stand_ins)
    self.assertTrue(scoped.plan.entry('dnn/extra').skipped)
    np.testing.assert_array_equal(cold.values['dnn/extra'],
                                  scoped.values['dnn/extra'])
    self.assertRestored(scoped.values, ['dnn/kernel', 'dnn/bias'])

  def test_skip_mismatched(self):

    def build():
      with tf.compat.v1.variable_scope('dnn'):
        tf.compat.v1.get_variable('kernel', [3, 4])
        tf.compat.v1.get_variable('bias', [2])
      tf.compat.v1.get_variable('wide/w', [3], tf.float32)

    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'wide/'],
                                           skip_mismatched=True)
    cold = self.plain(build)
    with self.assertLogs(level='WARNING'):
      _, scoped = self.both(build, settings)
    self.assertEqual(['dnn/bias'], scoped.stand_ins)
    for name in ('dnn/kernel', 'wide/w'):
      self.assertTrue(scoped.plan.entry(name).skipped, name)
      np.testing.assert_array_equal(cold.values[name], scoped.values[name])
    self.assertRestored(scoped.values, ['dnn/bias'])

  def test_options_of_the_scope_override_the_settings(self):

    def build():
      _model()
      tf.compat.v1.get_variable('dnn/extra', [2])

    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    with self.assertLogs(level='WARNING'):
      _, scoped = self.both(build, settings, skip_missing=True)
    self.assertTrue(scoped.plan.entry('dnn/extra').skipped)


class SourcesTest(ScopeTestCase):

  def test_two_sources(self):

    def build():
      _model()
      tf.compat.v1.get_variable('other/w', [3])

    settings = [warmstart.WarmStartSettings(self.prefix, 'dnn/'),
                warmstart.WarmStartSettings(self.prefix_2, 'other/')]
    _, scoped = self.both(build, settings)
    self.assertCountEqual(['dnn/kernel', 'dnn/bias', 'other/w'],
                          scoped.stand_ins)
    self.assertRestored(scoped.values, ['dnn/kernel', 'dnn/bias'])
    self.assertRestored(scoped.values, ['other/w'], self.ckpt_2)
    self.assertEqual(self.prefix_2, scoped.plan.entry('other/w').source)
    self.assertFalse(np.allclose(self.ckpt['dnn/kernel'],
                                 self.ckpt_2['dnn/kernel']))

  def test_two_sources_claiming_one_variable_is_a_conflict(self):
    settings = [warmstart.WarmStartSettings(self.prefix, 'dnn/kernel'),
                warmstart.WarmStartSettings(self.prefix_2, 'dnn/kernel')]
    cold = self.plain(_model)
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      with self.assertRaisesRegex(warmstart.ConflictError, 'dnn/kernel'):
        with warmstart.warm_start_scope(settings):
          _model()
      self.assertIn('dnn/kernel', test_util.stand_ins(graph))
      self.assertEqual([], test_util.stand_in_readers(graph))
      self.assertSame(cold.values, test_util.initialize(graph), 'value')

  @test_util.requires_estimator
  def test_tf_estimator_settings(self):
    settings = tf.estimator.WarmStartSettings(
        self.prefix, 'new/',
        var_name_to_prev_var_name={'new/w': 'dnn/bias'})

    def build():
      _model(cold=False)
      tf.compat.v1.get_variable('new/w', [2])

    _, scoped = self.both(build, settings)
    self.assertEqual(['new/w'], scoped.stand_ins)
    self.assertAllClose(self.ckpt['dnn/bias'], scoped.values['new/w'])
    self.assertEqual('dnn/bias', scoped.plan.entry('new/w').tensor)

  def test_checkpoint_path(self):
    # A path: every trainable variable, from the checkpoint directory.
    build = functools.partial(_model, cold=False)
    _, scoped = self.both(build, os.path.dirname(self.prefix))
    self.assertCountEqual(
        ['dnn/kernel', 'dnn/bias', 'emb/part_0', 'emb/part_1', 'emb/part_2'],
        scoped.stand_ins)
    self.assertRestored(scoped.values, _TRAINABLE)
    self.assertNotIn('bn/moving_mean', scoped.stand_ins)


class ErrorsTest(ScopeTestCase):

  def assertColdAndUsable(self, graph, build):
    """`graph` is as built without the scope and without a warm start."""
    self.assertEqual([], test_util.stand_in_readers(graph))
    cold = self.plain(build)
    self.assertSame(cold.values, test_util.initialize(graph), 'value')
    self.assertSame(cold.initial, test_util.initial_values(graph),
                    'initial value')
    self.assertEqual([], graph.get_collection(_apply.APPLIED_ENTRIES))

  def test_unmatched_regex_raises_at_exit(self):
    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'dnnn/'])
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      scope = warmstart.warm_start_scope(settings)
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError,
                                  re.escape("'dnnn/'")):
        with scope:
          _model()
          self.assertIn('dnn/kernel', test_util.stand_ins(graph))
          self.assertIsNone(scope.plan)
      self.assertIsNone(scope.plan)
      self.assertColdAndUsable(graph, _model)

  def test_missing_tensor_raises_at_exit(self):

    def build():
      _model()
      tf.compat.v1.get_variable('dnn/extra', [2])

    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      with self.assertRaisesRegex(warmstart.TensorNotFoundError,
                                  'dnn/extra'):
        with warmstart.warm_start_scope(settings):
          build()
      self.assertCountEqual(['dnn/kernel', 'dnn/bias'],
                            test_util.stand_ins(graph))
      self.assertColdAndUsable(graph, build)

  def test_exception_in_the_block_propagates_unchanged(self):
    error = KeyError('from the model')
    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')

    def build():
      _model()
      tf.compat.v1.get_variable('late', [3])

    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      scope = warmstart.warm_start_scope(settings)
      with self.assertRaises(KeyError) as raised:
        with scope:
          build()
          raise error
      self.assertIs(error, raised.exception)
      self.assertIsNone(scope.plan)
      self.assertIn('dnn/kernel', test_util.stand_ins(graph))
      self.assertColdAndUsable(graph, build)
      # The graph is usable: a warm start of its own still works.
      warmstart.apply_settings(settings)
      self.assertRestored(test_util.initialize(graph),
                          ['dnn/kernel', 'dnn/bias'])

  def test_exception_in_a_creator_after_the_variable_is_made(self):
    # A creator entered before the block is called after the scope's (it is
    # the scope's next creator): it raises once the variable exists, and is
    # in the graph's collections.

    def strict(next_creator, **kwargs):
      variable = next_creator(**kwargs)
      if kwargs['name'] == 'dnn/bias':
        raise ValueError('no bias allowed')
      return variable

    def build():
      with tf.variable_creator_scope(strict):
        with self.assertRaisesRegex(ValueError, 'no bias allowed'):
          _model()

    settings = warmstart.WarmStartSettings(self.prefix, 'dnn/')
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      with tf.variable_creator_scope(strict):
        with self.assertRaisesRegex(ValueError, 'no bias allowed'):
          with warmstart.warm_start_scope(settings):
            _model()
      self.assertCountEqual(['dnn/kernel', 'dnn/bias'],
                            test_util.stand_ins(graph))
      self.assertColdAndUsable(graph, build)

  def test_failure_while_building_the_restore_leaves_the_graph_cold(self):
    # The fault: the restore of the second chunk fails once the first chunk's
    # reads are built and its variables' own initializers rewired to them.
    built = []
    build_reads = _apply._build_reads

    def failing(prefix, device, reads, reuse):
      if built:
        raise tf.errors.ResourceExhaustedError(None, None, 'injected fault')
      build_reads(prefix, device, reads, reuse)
      built.extend(r.part for r in reads)

    # dnn/kernel and dnn/bias (24 + 8 bytes) in the first chunk: their
    # initializers were rewired to its reads and to a batched handle. (emb
    # in the checkpoint's 2 parts: batched reads, not a stream.)
    model = lambda: _model(partitions=2)
    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'emb'],
                                           max_chunk_bytes=32)
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      with mock.patch.object(_apply, '_build_reads', failing):
        with self.assertRaisesRegex(tf.errors.ResourceExhaustedError,
                                    'injected fault'):
          with warmstart.warm_start_scope(settings):
            model()
      self.assertEqual(['dnn/kernel', 'dnn/bias'], [v.op.name for v in built])
      for variable in built:
        self.assertIn(variable.op.name, test_util.stand_ins(graph))
        # Its own Assign again, of its handle and its real initial value.
        initializer = variable.initializer
        self.assertEqual(variable.op.name + '/Assign', initializer.name)
        self.assertIs(variable.handle, initializer.inputs[0])
        self.assertEqual(variable.initial_value.op.name,
                         initializer.inputs[1].op.name)
      self.assertColdAndUsable(graph, model)

  def test_entered_eagerly(self):
    self.assertTrue(tf.executing_eagerly())
    scope = warmstart.warm_start_scope(
        warmstart.WarmStartSettings(self.prefix, 'dnn/'))
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'graph-mode variables.*not eagerly'):
      with scope:
        self.fail('The block ran.')
    # Nothing was left behind: eager variables are made as usual.
    self.assertAllEqual([1.0, 2.0], tf.Variable([1.0, 2.0]).numpy())

  def test_entered_twice(self):
    with tf.Graph().as_default():
      scope = warmstart.warm_start_scope(
          warmstart.WarmStartSettings(self.prefix, 'dnn/'))
      with scope:
        _model()
      with self.assertRaisesRegex(warmstart.SettingsError,
                                  'entered already: make one per block'):
        with scope:
          self.fail('The block ran.')
    with tf.Graph().as_default() as graph:
      scope = warmstart.warm_start_scope(
          warmstart.WarmStartSettings(self.prefix, 'dnn/'))
      with scope:
        with self.assertRaisesRegex(warmstart.SettingsError,
                                    'entered already'):
          with scope:
            self.fail('The block ran.')
        _model()
      self.assertEqual([], test_util.stand_in_readers(graph))
      self.assertRestored(test_util.initialize(graph), ['dnn/kernel'])

  def test_missing_checkpoint_raises_at_exit(self):
    missing = os.path.join(self.get_temp_dir(), 'nowhere', 'model.ckpt')
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      scope = warmstart.warm_start_scope(
          warmstart.WarmStartSettings(missing, 'dnn/'))  # No error yet.
      with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                  re.escape(missing)):
        with scope:
          _model()
      self.assertEqual([], test_util.stand_ins(graph))
      self.assertColdAndUsable(graph, _model)

  def test_malformed_settings_raise_at_the_call(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'got 3 of type int'):
      warmstart.warm_start_scope(3)
    with self.assertRaisesRegex(warmstart.SettingsError, 'skip_mising'):
      warmstart.warm_start_scope(self.prefix, skip_mising=True)


class MirroredStrategyTest(ScopeTestCase):
  """Variables made under `strategy.scope()`, the block around or inside it."""

  def _strategy(self):
    return tf.distribute.MirroredStrategy(
        _CPUS[:2], cross_device_ops=tf.distribute.ReductionToOneDevice())

  def _settings(self):
    return warmstart.WarmStartSettings(self.prefix, ['dnn/', 'bn/'])

  def _fetches(self, variables):
    return {name: list(variables[name].values) for name in variables}

  def _build(self, scope_outside):
    """(graph, variables, scope, init op built inside the block)."""
    settings = self._settings()
    graph = tf.Graph()
    with graph.as_default():
      tf.compat.v1.set_random_seed(_SEED)
      strategy = self._strategy()
      if scope_outside:
        with warmstart.warm_start_scope(settings) as scope:
          with strategy.scope():
            variables = _mirrored_model()
          init = tf.compat.v1.global_variables_initializer()
      else:
        with strategy.scope():
          with warmstart.warm_start_scope(settings) as scope:
            variables = _mirrored_model()
            init = tf.compat.v1.global_variables_initializer()
    return graph, variables, scope, init

  def _values(self, graph, variables, init=None):
    with graph.as_default(), tf.compat.v1.Session() as sess:
      sess.run(init if init is not None else
               tf.compat.v1.global_variables_initializer())
      return sess.run(self._fetches(variables))

  def _plain(self):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.set_random_seed(_SEED)
      with self._strategy().scope():
        variables = _mirrored_model()
      plan = warmstart.apply_settings(self._settings())
    return self._values(graph, variables), plan

  def test_variables_under_strategy_scope_inside_the_block(self):
    expected, plan = self._plain()
    for scope_outside in (True, False):
      graph, variables, scope, _ = self._build(scope_outside)
      self.assertEqual([], test_util.stand_in_readers(graph))
      self.assertIn('dnn/kernel', test_util.stand_ins(graph))
      self.assertNotIn('new/w', test_util.stand_ins(graph))
      self.assertIsInstance(variables['dnn/kernel'],
                            tf.distribute.DistributedValues)
      self.assertEqual(plan.to_json(), scope.plan.to_json())
      values = self._values(graph, variables)
      for name in ('dnn/kernel', 'dnn/bias', 'bn/moving_mean'):
        self.assertLen(values[name], len(_CPUS[:2]))
        for component in values[name]:
          self.assertAllClose(self.ckpt[name], component, msg=name)
      for name, components in expected.items():
        for theirs, ours in zip(components, values[name]):
          np.testing.assert_array_equal(theirs, ours, err_msg=name)
      # Every replica of the cold variable has the first one's value.
      for component in values['new/w']:
        np.testing.assert_array_equal(values['new/w'][0], component)

  def test_restored_mirrored_variables_build_no_initializer(self):
    # The replicas' Identity of the primary's initial value reads the
    # restored value, and an init op built inside the block restores, for
    # either nesting of the block and the strategy's scope.
    for scope_outside in (False, True):
      with self.subTest(scope_outside=scope_outside):
        graph, variables, _, init = self._build(scope_outside)
        self.assertEqual(
            ['dnn/kernel/Initializer/stand_in'],
            _ops_under(graph, 'dnn/kernel/Initializer/'))
        identity = graph.get_operation_by_name(
            'dnn/kernel/replica_1/Initializer/Identity')
        self.assertEqual(['RestoreV2'],
                         [t.op.type for t in identity.inputs])
        values = self._values(graph, variables, init)
        for name in ('dnn/kernel', 'dnn/bias'):
          for component in values[name]:
            self.assertAllClose(self.ckpt[name], component, msg=name)

  def test_error_at_exit_leaves_the_mirrored_variables_cold(self):
    with tf.Graph().as_default() as cold:
      tf.compat.v1.set_random_seed(_SEED)
      with self._strategy().scope():
        expected = self._values(cold, _mirrored_model())
    settings = warmstart.WarmStartSettings(self.prefix, ['dnn/', 'nope/'])
    for scope_outside in (True, False):
      graph = tf.Graph()
      with graph.as_default():
        tf.compat.v1.set_random_seed(_SEED)
        strategy = self._strategy()
        with self.assertRaisesRegex(warmstart.UnmatchedRuleError, "'nope/'"):
          if scope_outside:
            with warmstart.warm_start_scope(settings):
              with strategy.scope():
                variables = _mirrored_model()
          else:
            with strategy.scope():
              with warmstart.warm_start_scope(settings):
                variables = _mirrored_model()
        self.assertIn('dnn/kernel', test_util.stand_ins(graph))
        self.assertEqual([], test_util.stand_in_readers(graph))
      values = self._values(graph, variables)
      for name, components in expected.items():
        for theirs, ours in zip(components, values[name]):
          np.testing.assert_array_equal(theirs, ours, err_msg=name)


if __name__ == '__main__':
  tf.test.main()
