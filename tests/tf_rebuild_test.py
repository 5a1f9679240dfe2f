"""Tests of `warmstart._scope._tf_rebuild`: the TF hooks behind `warm_start_scope`.

`NamingTest` and `InitialValueCallableTest`: how TF names a variable's
initializer scope and partitions, and what `get_variable` hands a variable
creator. `RebuildingTest`: where an op is being built (`build_context`) and building
it there later (`rebuilding`), the graph's count of random-op seeds
(`seed_draws`, `reserve_seed_draws`). `StandInOpsTest`: the stand-in tensor
(`placeholder`), moving an op's input (`update_input`, also a variable
initializer's handle), putting back what `set_initializer` changed
(`initializer_state`), TF's guard of an
initial value (`guard_initial_value`) and TF2's restore-on-create initial
values (`is_checkpoint_initial_value`). Each pins TF behaviour that has no
public API, so that a TensorFlow upgrade that changes it fails here.
"""

from __future__ import annotations

import functools
from unittest import mock

import numpy as np
import tensorflow as tf

from tests import test_util
from warmstart._scope import _tf_rebuild
from warmstart import _tf_compat


def _seed2(tensor):
  """The op seed of the random op behind `tensor`."""
  op = tensor.op
  while op.type not in ('RandomUniform', 'RandomStandardNormal'):
    op = op.inputs[0].op
  return op.get_attr('seed2')


def _runs(op):
  """The op's name, or for a group the names of the ops it groups."""
  if op.type == 'NoOp' and op.control_inputs:
    return sorted(o.name for o in op.control_inputs)
  return [op.name]


def _colocation_attr(op_name):
  from tensorflow.core.framework import attr_value_pb2  # pylint: disable=g-import-not-at-top
  return attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(
      s=[b'loc:@' + op_name.encode()]))



class _Recorder:
  """A variable creator that keeps what TF hands it and calls nothing new."""

  def __init__(self):
    self.calls = []

  def __call__(self, next_creator, **kwargs):
    self.calls.append(dict(kwargs))
    return next_creator(**kwargs)


class NamingTest(tf.test.TestCase):

  def test_initial_values_are_built_under_the_initializer_scope(self):
    scopes = {}

    def creator(next_creator, **kwargs):
      fn = kwargs['initial_value']
      if not callable(fn):
        return next_creator(**kwargs)

      def traced():
        scope = tf.compat.v1.get_default_graph().get_name_scope()
        scopes[scope] = _tf_rebuild.initializer_scope_owner(scope)
        return fn()

      kwargs['initial_value'] = traced
      return next_creator(**kwargs)

    with tf.Graph().as_default():
      with tf.variable_creator_scope(creator):
        with tf.compat.v1.variable_scope('outer'):
          tf.compat.v1.get_variable('w', [2])
          tf.compat.v1.get_variable(
              'emb', [4, 2],
              partitioner=tf.compat.v1.fixed_size_partitioner(2))
          tf.compat.v1.Variable(lambda: tf.zeros([3]), name='v')
    self.assertEqual({'outer/w/Initializer': 'outer/w',
                      'outer/emb/part_0/Initializer': 'outer/emb/part_0',
                      'outer/emb/part_1/Initializer': 'outer/emb/part_1',
                      'outer/v/Initializer': 'outer/v'},
                     {k: v for k, v in scopes.items() if 'Initializer' in k})
    self.assertIsNone(_tf_rebuild.initializer_scope_owner('outer/w'))
    self.assertIsNone(_tf_rebuild.initializer_scope_owner(''))

  def test_whole_variable_name(self):
    self.assertEqual('outer/emb', _tf_rebuild.whole_variable_name(
        'outer/emb/part_12'))
    self.assertIsNone(_tf_rebuild.whole_variable_name('outer/emb'))
    self.assertIsNone(_tf_rebuild.whole_variable_name('emb/part_x'))


class InitialValueCallableTest(tf.test.TestCase):

  def test_get_variable_hands_a_partial_of_its_initializer(self):
    recorder = _Recorder()
    initializer = tf.compat.v1.glorot_uniform_initializer(seed=7)
    with tf.Graph().as_default():
      with tf.variable_creator_scope(recorder):
        tf.compat.v1.get_variable('w', [3, 2], initializer=initializer)
        tf.compat.v1.get_variable(
            'emb', [4, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
    whole, part_0, part_1 = (c['initial_value'] for c in recorder.calls)
    self.assertIs(initializer, _tf_rebuild.initializer_object(whole))
    self.assertIsNone(_tf_rebuild.partition_info(whole))
    self.assertTrue(_tf_rebuild.is_tensorflow_initializer(
        _tf_rebuild.initializer_object(whole)))
    self.assertEqual((7, 'uniform'), _tf_rebuild.initializer_seed_key(
        _tf_rebuild.initializer_object(whole)))
    for i, fn in enumerate((part_0, part_1)):
      info = _tf_rebuild.partition_info(fn)
      self.assertEqual([4, 2], list(info.full_shape))
      self.assertEqual([2 * i, 0], list(info.var_offset))
      self.assertTrue(_tf_rebuild.is_tensorflow_initializer(
          _tf_rebuild.initializer_object(fn)))

  def test_other_callables_are_not_tensorflow_initializers(self):
    self.assertIsNone(_tf_rebuild.initializer_object(lambda: 1.0))
    self.assertIsNone(_tf_rebuild.partition_info(lambda: 1.0))
    self.assertFalse(_tf_rebuild.is_tensorflow_initializer(None))
    self.assertFalse(_tf_rebuild.is_tensorflow_initializer(
        tf.keras.initializers.GlorotUniform()))
    self.assertEqual((None, None), _tf_rebuild.initializer_seed_key(object()))

  def test_initial_value_tensor(self):
    with tf.Graph().as_default():
      for use_resource in (False, True):
        variable = tf.compat.v1.get_variable(
            'v%d' % use_resource, [2], use_resource=use_resource)
        self.assertIs(variable.initial_value,
                      _tf_rebuild.initial_value_tensor(variable))
    self.assertIsNone(_tf_rebuild.initial_value_tensor(object()))


class RebuildingTest(tf.test.TestCase):

  def test_context_of_the_graph(self):
    with tf.Graph().as_default() as graph:
      graph.seed = 5
      first = tf.random.uniform([2], name='first')
      tf.random.uniform([2])
      with tf.name_scope('a/b'), tf.device('/cpu:0'), \
          graph._attr_scope({'_class': _colocation_attr('first')}):  # pylint: disable=protected-access
        context = _tf_rebuild.build_context(graph)
        devices = len(list(graph._device_function_stack.peek_objs()))  # pylint: disable=protected-access
      with graph.colocate_with(first.op):
        colocated = _tf_rebuild.build_context(graph)
    self.assertIs(graph, context.graph)
    self.assertEqual('a/b', context.name_scope)
    self.assertEqual(['_class'], list(context.attrs))
    self.assertEqual(5, context.seed)
    self.assertEqual(2, context.seed_draws)
    # Copies: the graph's stacks were popped, the context's were not.
    self.assertEqual(1, devices)
    self.assertLen(list(context.devices.peek_objs()), devices)
    self.assertEmpty(list(context.colocation.peek_objs()))
    self.assertLen(list(colocated.colocation.peek_objs()), 1)
    self.assertEmpty(list(graph._device_function_stack.peek_objs()))  # pylint: disable=protected-access
    self.assertEmpty(list(graph._colocation_stack.peek_objs()))  # pylint: disable=protected-access
    self.assertEqual({}, graph._attr_scope_map)  # pylint: disable=protected-access

  def test_root_of_an_unseeded_graph(self):
    with tf.Graph().as_default() as graph:
      tf.random.uniform([2])
      context = _tf_rebuild.build_context(graph)
    self.assertEqual('', context.name_scope)
    self.assertIsNone(context.seed)
    self.assertEqual(0, context.seed_draws)  # Unseeded ops draw nothing.

  def test_none_under_control_dependencies(self):
    with tf.Graph().as_default() as graph:
      before = tf.constant(1.0)
      with graph.control_dependencies([before.op]):
        self.assertIsNone(_tf_rebuild.build_context(graph))
        with graph.control_dependencies(None):
          self.assertIsNotNone(_tf_rebuild.build_context(graph))
        with tf.init_scope():  # Where variables build their initial values.
          self.assertIsNotNone(_tf_rebuild.build_context(graph))

  def test_none_inside_a_while_loop_and_a_cond_of_control_flow_v1(self):
    contexts = {}
    was_v2 = tf.compat.v1.control_flow_v2_enabled()
    tf.compat.v1.disable_control_flow_v2()
    try:
      with tf.Graph().as_default() as graph:

        def body(i):
          contexts['while'] = _tf_rebuild.build_context(graph)
          with tf.init_scope():
            contexts['while, init_scope'] = _tf_rebuild.build_context(graph)
          return i + 1

        def branch():
          contexts['cond'] = _tf_rebuild.build_context(graph)
          return tf.constant(1)

        tf.compat.v1.while_loop(lambda i: i < 3, body, [tf.constant(0)])
        tf.compat.v1.cond(tf.constant(True), branch, lambda: tf.constant(2))
    finally:
      if was_v2:
        tf.compat.v1.enable_control_flow_v2()
    self.assertEqual(was_v2, tf.compat.v1.control_flow_v2_enabled())
    self.assertIsNone(contexts['while'])
    self.assertIsNone(contexts['cond'])
    self.assertIsNotNone(contexts['while, init_scope'])

  def test_control_flow_v2_bodies_build_initial_values_in_the_outer_graph(self):
    contexts = {}
    with tf.Graph().as_default() as graph:

      def body(i):
        inner = tf.compat.v1.get_default_graph()
        contexts['body'] = inner
        with tf.init_scope():
          contexts['init_scope'] = _tf_rebuild.build_context(
              tf.compat.v1.get_default_graph())
        return i + 1

      tf.while_loop(lambda i: i < 3, body, [tf.constant(0)])
    self.assertIsNot(graph, contexts['body'])
    self.assertIs(graph, contexts['init_scope'].graph)

  def test_rebuilding_builds_as_in_the_context(self):
    # Twin graph: what a random op built at the context's time gets.
    with tf.Graph().as_default() as twin:
      twin.seed = 5
      tf.random.uniform([2], name='first')
      with tf.name_scope('a/b'), tf.device('/cpu:0'):
        expected = tf.random.uniform([2], name='x')
      after_expected = tf.random.uniform([2], name='after')
    with tf.Graph().as_default() as graph:
      graph.seed = 5
      first = tf.random.uniform([2], name='first')
      with tf.name_scope('a/b'), tf.device('/cpu:0'), \
          graph._attr_scope({'_class': _colocation_attr('first')}):  # pylint: disable=protected-access
        context = _tf_rebuild.build_context(graph)
        _tf_rebuild.reserve_seed_draws(graph, 1)  # What x will draw.
      after = tf.random.uniform([2], name='after')
      control = tf.constant(0.0)
      with tf.name_scope('elsewhere'), tf.device('/cpu:1'), \
          graph.control_dependencies([control.op]):
        with _tf_rebuild.rebuilding(context) as drawn:
          x = tf.random.uniform([2], name='x')
          self.assertEqual('a/b', graph.get_name_scope())
        self.assertEqual([1], drawn)
        # Everything is put back.
        self.assertEqual('elsewhere', graph.get_name_scope())
        y = tf.constant(1.0, name='y')
      z = tf.random.uniform([2], name='z')
    self.assertStartsWith(x.op.name, 'a/b/x/')
    self.assertEqual('/device:CPU:0', tf.DeviceSpec.from_string(
        x.op.device).to_string())
    self.assertEqual([b'loc:@first'], x.op.colocation_groups())
    self.assertEqual([], x.op.control_inputs)
    self.assertEqual(_seed2(expected), _seed2(x))
    self.assertEqual(_seed2(after_expected), _seed2(after))
    # The counter after the block is the one before it.
    with tf.Graph().as_default() as three:
      three.seed = 5
      for _ in range(3):
        tf.random.uniform([2])
      fourth = tf.random.uniform([2])
    self.assertEqual(_seed2(fourth), _seed2(z))
    self.assertEqual('elsewhere/y', y.op.name)
    self.assertIn('CPU:1', y.op.device)
    self.assertEqual([control.op], y.op.control_inputs)
    self.assertEqual({}, graph._attr_scope_map)  # pylint: disable=protected-access
    self.assertEqual(5, graph.seed)

  def test_rebuilding_under_a_colocation(self):
    with tf.Graph().as_default() as graph:
      with tf.device('/cpu:0'):
        first = tf.constant(1.0, name='first')
      with tf.device('/cpu:1'), graph.colocate_with(first.op):
        context = _tf_rebuild.build_context(graph)
      with _tf_rebuild.rebuilding(context):
        x = tf.identity(first, name='x')
      y = tf.identity(first, name='y')
    self.assertEqual([b'loc:@first'], x.op.colocation_groups())
    self.assertEqual(first.op.device, x.op.device)
    self.assertEqual([b'loc:@y'], y.op.colocation_groups())

  def test_rebuilding_puts_everything_back_on_an_exception(self):
    with tf.Graph().as_default() as graph:
      graph.seed = 3
      with tf.name_scope('inner'), tf.device('/cpu:0'):
        context = _tf_rebuild.build_context(graph)
      tf.random.uniform([2])
      tf.random.uniform([2])
      with self.assertRaisesRegex(ValueError, 'inside'):
        with _tf_rebuild.rebuilding(context):
          tf.random.uniform([2])
          graph.seed = 11
          raise ValueError('inside')
      self.assertEqual('', graph.get_name_scope())
      self.assertEqual(3, graph.seed)
      self.assertEqual(2, _tf_rebuild.seed_draws(graph))
      self.assertEqual('', tf.constant(1.0).op.device)

  def test_rebuilding_in_a_graph_that_never_drew(self):
    with tf.Graph().as_default() as graph:
      graph.seed = 3
      context = _tf_rebuild.build_context(graph)
      with _tf_rebuild.rebuilding(context) as drawn:
        tf.random.uniform([2])
      self.assertEqual([1], drawn)
      # No count is left where there was none.
      self.assertEqual(0, _tf_rebuild.seed_draws(graph))
      self.assertNotIn(graph, _tf_rebuild._seed_counter())  # pylint: disable=protected-access

  def test_seed_draws(self):
    with tf.Graph().as_default() as graph:
      self.assertEqual(0, _tf_rebuild.seed_draws(graph))
      tf.random.uniform([2])  # Unseeded graph: no draw.
      self.assertEqual(0, _tf_rebuild.seed_draws(graph))
      graph.seed = 1
      tf.random.uniform([2])
      tf.random.normal([2])
      tf.random.uniform([2], seed=4)  # An op seed: no draw.
      self.assertEqual(2, _tf_rebuild.seed_draws(graph))

  def test_reserve_seed_draws_shifts_the_next_random_op_exactly(self):
    with tf.Graph().as_default() as plain:
      plain.seed = 1
      ops = [tf.random.uniform([2]) for _ in range(4)]
    for reserved in (0, 1, 2):
      with tf.Graph().as_default() as graph:
        graph.seed = 1
        first = tf.random.uniform([2])
        _tf_rebuild.reserve_seed_draws(graph, reserved)
        self.assertEqual(1 + reserved, _tf_rebuild.seed_draws(graph))
        nxt = tf.random.uniform([2])
      self.assertEqual(_seed2(ops[0]), _seed2(first))
      self.assertEqual(_seed2(ops[1 + reserved]), _seed2(nxt), reserved)
    with tf.Graph().as_default() as fresh:
      fresh.seed = 1
      _tf_rebuild.reserve_seed_draws(fresh, 3)
      self.assertEqual(_seed2(ops[3]), _seed2(tf.random.uniform([2])))
    with tf.Graph().as_default() as untouched:
      _tf_rebuild.reserve_seed_draws(untouched, 0)
      self.assertNotIn(untouched, _tf_rebuild._seed_counter())  # pylint: disable=protected-access


class StandInOpsTest(tf.test.TestCase):

  def test_placeholder(self):
    with tf.Graph().as_default() as graph:
      with tf.name_scope('v/Initializer'):
        tensor = _tf_rebuild.placeholder(tf.float16, tf.TensorShape([2, 3]),
                                        'stand_in')
        again = _tf_rebuild.placeholder(tf.int32, tf.TensorShape([]),
                                       'stand_in')
    self.assertIs(graph, tensor.graph)
    self.assertEqual('Placeholder', tensor.op.type)
    self.assertEqual('v/Initializer/stand_in', tensor.op.name)
    self.assertEqual('v/Initializer/stand_in_1', again.op.name)
    self.assertEqual(tf.float16, tensor.dtype)
    self.assertEqual([2, 3], tensor.shape.as_list())
    self.assertEqual([], again.shape.as_list())
    self.assertEqual([], list(tensor.op.inputs))
    self.assertEqual(tf.float16, tensor.op.get_attr('dtype'))
    self.assertEqual(tf.TensorShape([2, 3]),
                     tf.TensorShape(tensor.op.get_attr('shape')))

  def test_placeholder_is_tfs_placeholder(self):
    with tf.Graph().as_default():
      ours = _tf_rebuild.placeholder(tf.float32, tf.TensorShape([4]), 'p')
      theirs = tf.raw_ops.Placeholder(dtype=tf.float32, shape=[4], name='p')
      with mock.patch.object(_tf_rebuild, '_CREATE_OP', None):
        fallback = _tf_rebuild.placeholder(tf.float32, tf.TensorShape([4]),
                                          'p')
    for other in (theirs, fallback):
      self.assertEqual(other.op.type, ours.op.type)
      self.assertEqual(dict(other.op.node_def.attr),
                       dict(ours.op.node_def.attr))
      self.assertEqual(other.shape, ours.shape)

  def test_update_input_rewires(self):
    with tf.Graph().as_default():
      stand_in = _tf_rebuild.placeholder(tf.float32, tf.TensorShape([2]),
                                        'stand_in')
      other = tf.constant([3.0, 4.0])
      total = stand_in + other
      doubled = 2.0 * stand_in
      value = tf.constant([10.0, 20.0])
      _tf_compat.update_input(total.op, 0, value)
      _tf_compat.update_input(doubled.op, 1, value)
      self.assertEqual([], stand_in.consumers())
      self.assertCountEqual([total.op, doubled.op], value.consumers())
      self.assertEqual([value, other], list(total.op.inputs))
      with tf.compat.v1.Session() as sess:
        self.assertAllClose([13.0, 24.0], sess.run(total))
        self.assertAllClose([20.0, 40.0], sess.run(doubled))

  def test_update_input_refuses_another_shape_or_graph(self):
    with tf.Graph().as_default():
      stand_in = _tf_rebuild.placeholder(tf.float32, tf.TensorShape([2]),
                                        'stand_in')
      total = stand_in + 1.0
      with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                  'incompatible shapes'):
        _tf_compat.update_input(total.op, 0, tf.constant([1.0, 2.0, 3.0]))
      with tf.Graph().as_default():
        elsewhere = tf.constant([1.0, 2.0])
      with self.assertRaisesRegex(ValueError, 'same graph'):
        _tf_compat.update_input(total.op, 0, elsewhere)
      self.assertEqual([total.op], stand_in.consumers())

  def test_update_input_of_a_variable_initializer(self):
    # What a stand-in's readers are: a resource variable's initializer.
    with tf.Graph().as_default():
      stand_in = _tf_rebuild.placeholder(tf.float32, tf.TensorShape([3]),
                                        'stand_in')
      variable = tf.compat.v1.Variable(lambda: stand_in, shape=[3],
                                       dtype=tf.float32, use_resource=True)
      self.assertIn(variable.initializer, stand_in.consumers())
      value = tf.constant([1.0, 2.0, 3.0])
      for op in stand_in.consumers():
        index = [t.name for t in op.inputs].index(stand_in.name)
        _tf_compat.update_input(op, index, value)
      with tf.compat.v1.Session() as sess:
        sess.run(variable.initializer)
        self.assertAllClose([1.0, 2.0, 3.0], sess.run(variable))

  def test_update_input_of_an_initializers_handle(self):
    # The restore makes a variable's own initializer assign the value read
    # through a batched handle op.
    with tf.Graph().as_default():
      variables = [
          tf.compat.v1.Variable(tf.zeros([2]), name='v%d' % i,
                                use_resource=True) for i in range(2)
      ]
      handles = _tf_compat.batched_handles([v.handle for v in variables])
      self.assertIsNotNone(handles)
      for i, (variable, handle) in enumerate(zip(variables, handles)):
        _tf_compat.update_input(variable.initializer, 0, handle)
        _tf_compat.update_input(variable.initializer, 1,
                                tf.constant([i + 1.0, i + 2.0]))
        self.assertIs(handle, variable.initializer.inputs[0])
      with tf.compat.v1.Session() as sess:
        sess.run([v.initializer for v in variables])
        self.assertAllClose([[1.0, 2.0], [2.0, 3.0]], sess.run(variables))

  def test_initializer_state_round_trip(self):
    strategy = tf.distribute.MirroredStrategy(['/cpu:0'])
    with tf.Graph().as_default() as graph:
      plain = tf.compat.v1.Variable([1.0, 2.0], use_resource=True)
      with strategy.scope():
        mirrored = tf.compat.v1.Variable([3.0, 4.0])
      self.assertTrue(_tf_compat.is_distributed(mirrored))
      for variable in (plain, mirrored):
        before = variable.initializer, variable.initial_value
        num_ops = len(graph.get_operations())
        state = _tf_rebuild.initializer_state(variable)
        self.assertLen(graph.get_operations(), num_ops)  # Built nothing.
        value = tf.constant([5.0, 6.0])
        _tf_compat.set_initializer(variable, tf.no_op(), value)
        self.assertEqual('NoOp', variable.initializer.type)
        if variable is plain:  # A mirrored one's is its primary's.
          self.assertIs(value, variable.initial_value)
        _tf_rebuild.set_initializer_state(variable, state)
        # (A mirrored variable groups its components' initializers anew.)
        self.assertEqual(_runs(before[0]), _runs(variable.initializer))
        self.assertIs(before[1], variable.initial_value)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        self.assertAllClose([1.0, 2.0], sess.run(plain))
        self.assertAllClose([3.0, 4.0], sess.run(mirrored))

  def test_guard_initial_value(self):
    with tf.Graph().as_default():
      # TF guards reads of ref variables (it stops at a resource's reads).
      first = tf.compat.v1.get_variable(
          'first', [2], initializer=tf.compat.v1.constant_initializer(3.0),
          use_resource=False)
      value = 2.0 * first.read_value()
      guarded = _tf_rebuild.guard_initial_value('second/', value)
      self.assertIsNot(value, guarded)
      constant = tf.constant([1.0])
      self.assertIs(constant,
                    _tf_rebuild.guard_initial_value('third/', constant))
      # The read of first is replaced by first's initialized value.
      reads = {op.type for op in guarded.graph.get_operations()
               if first.op in [i.op for i in op.inputs]}
      self.assertIn('IsVariableInitialized', reads)
      with tf.compat.v1.Session() as sess:
        sess.run(first.initializer)
        self.assertAllClose([6.0, 6.0], sess.run(guarded))

  def test_is_checkpoint_initial_value(self):
    from tensorflow.python.trackable import base  # pylint: disable=g-import-not-at-top
    self.assertTrue(_tf_rebuild.is_checkpoint_initial_value(
        base.CheckpointInitialValueCallable(checkpoint_position=None)))
    for other in (lambda: tf.zeros([2]), tf.compat.v1.zeros_initializer(),
                  functools.partial(tf.compat.v1.zeros_initializer(), [2]),
                  None, 1.0):
      self.assertFalse(_tf_rebuild.is_checkpoint_initial_value(other))

  @test_util.requires_graph_keras
  def test_is_checkpoint_initial_value_of_a_deferred_restore(self):
    # Eagerly, a Keras layer built after `Checkpoint.restore` gets TF's
    # restore-on-create initializer.
    self.assertTrue(tf.executing_eagerly())
    layer = tf.keras.layers.Dense(2)
    layer(tf.ones([1, 3]))
    path = tf.train.Checkpoint(layer=layer).write(
        self.create_tempdir().full_path + '/ckpt')
    restored = tf.keras.layers.Dense(2)
    tf.train.Checkpoint(layer=restored).restore(path)
    seen = []

    def creator(next_creator, **kwargs):
      seen.append(kwargs['initial_value'])
      return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
      restored(tf.ones([1, 3]))
    self.assertLen(seen, 2)
    for initial_value in seen:
      # Keras wraps it: functools.partial(initializer, shape, dtype=dtype).
      self.assertIsInstance(initial_value, functools.partial)
      self.assertTrue(
          _tf_rebuild.is_checkpoint_initial_value(initial_value.func))
    self.assertAllClose(layer.kernel.numpy(), restored.kernel.numpy())
    np.testing.assert_array_equal(layer.bias.numpy(), restored.bias.numpy())


if __name__ == '__main__':
  tf.test.main()
