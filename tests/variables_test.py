"""Tests of warmstart._variables: finding, grouping and naming variables."""

from __future__ import annotations

import re

import numpy as np
import tensorflow as tf

import warmstart
from warmstart import _tf_compat
from warmstart import _variables
from tests import test_util

# Before anything initializes the TF runtime: two CPUs for MirroredStrategy.
_CPUS = test_util.configure_logical_cpus(2)


_Table = test_util.PrivateVariable


def _part_names(target):
  return [_variables.var_name(p) for p in target.parts]


class CollectTest(tf.test.TestCase):

  def test_get_variable(self):
    with tf.Graph().as_default() as g:
      w = tf.compat.v1.get_variable('scope/w', [2, 3], dtype=tf.float64)
      targets = _variables.collect(g)
    self.assertEqual(['scope/w'], list(targets))
    target = targets['scope/w']
    self.assertEqual('scope/w', target.name)
    self.assertEqual((w,), target.parts)
    self.assertEqual(('',), target.slices)
    self.assertEqual([2, 3], target.shape.as_list())
    self.assertEqual(tf.float64, target.dtype)
    self.assertTrue(target.trainable)
    self.assertFalse(target.is_partitioned)
    self.assertFalse(target.is_custom)

  def test_default_graph(self):
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('v', [1])
      self.assertEqual(['v'], list(_variables.collect()))

  def test_tf_variable_ref_and_resource(self):
    with tf.Graph().as_default() as g:
      ref = tf.compat.v1.Variable([1.0, 2.0], use_resource=False, name='ref')
      res = tf.compat.v1.Variable([[1]], use_resource=True, name='a/res',
                                  dtype=tf.int32)
      targets = _variables.collect(g)
    self.assertEqual('VariableV2', ref.op.type)
    self.assertEqual('VarHandleOp', res.op.type)
    self.assertEqual({'ref', 'a/res'}, set(targets))
    self.assertIs(ref, targets['ref'].parts[0])
    self.assertIs(res, targets['a/res'].parts[0])
    # A ref variable's dtype is float32_ref: the target has the base dtype.
    self.assertEqual(tf.float32, targets['ref'].dtype)
    self.assertEqual(tf.int32, targets['a/res'].dtype)
    self.assertEqual([1, 1], targets['a/res'].shape.as_list())

  @test_util.requires_graph_keras
  def test_keras_and_tf_layers(self):
    with tf.Graph().as_default() as g:
      x = tf.zeros([1, 2])
      tf.keras.layers.Dense(3, name='keras_dense')(x)
      tf.compat.v1.layers.Dense(4, name='v1_dense')(x)
      targets = _variables.collect(g)
    self.assertEqual(
        {'keras_dense/kernel', 'keras_dense/bias', 'v1_dense/kernel',
         'v1_dense/bias'}, set(targets))
    self.assertEqual([2, 3], targets['keras_dense/kernel'].shape.as_list())
    self.assertEqual([4], targets['v1_dense/bias'].shape.as_list())

  def test_local_and_model_variables(self):
    with tf.Graph().as_default() as g:
      local = tf.compat.v1.get_variable(
          'metrics/count', [], trainable=False,
          collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])
      model = tf.compat.v1.Variable(
          [0.0], name='ema/w', trainable=False,
          collections=[tf.compat.v1.GraphKeys.MODEL_VARIABLES])
      hidden = tf.compat.v1.Variable(0.0, name='hidden', collections=[])
      targets = _variables.collect(g)
    self.assertIn('metrics/count', targets)
    self.assertIs(local, targets['metrics/count'].parts[0])
    self.assertIn('ema/w', targets)
    self.assertIs(model, targets['ema/w'].parts[0])
    # In no collection and not made by get_variable: invisible, as in TF.
    self.assertEqual('hidden', _variables.var_name(hidden))
    self.assertNotIn('hidden', targets)

  def test_each_variable_once(self):
    with tf.Graph().as_default() as g:
      # In the store, the global and the model collections at once.
      tf.compat.v1.get_variable(
          'w', [2], collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                                 tf.compat.v1.GraphKeys.MODEL_VARIABLES])
      targets = _variables.collect(g)
    self.assertEqual(['w'], list(targets))
    self.assertLen(targets['w'].parts, 1)

  def test_ignores_non_variables_in_collections(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [2])
      g.add_to_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                          tf.constant(1.0, name='not_a_variable'))
      targets = _variables.collect(g)
    self.assertEqual(['w'], list(targets))

  def test_trainable_flags(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('trained', [1])
      tf.compat.v1.get_variable('frozen', [1], trainable=False)
      tf.compat.v1.Variable(1.0, name='frozen_var', trainable=False)
      tf.compat.v1.get_variable(
          'part_trained', [4, 2],
          partitioner=tf.compat.v1.fixed_size_partitioner(2))
      tf.compat.v1.get_variable(
          'part_frozen', [4, 2], trainable=False,
          partitioner=tf.compat.v1.fixed_size_partitioner(2))
      tf.compat.v1.train.get_or_create_global_step()
      targets = _variables.collect(g)
    self.assertTrue(targets['trained'].trainable)
    self.assertFalse(targets['frozen'].trainable)
    self.assertFalse(targets['frozen_var'].trainable)
    self.assertTrue(targets['part_trained'].trainable)
    self.assertFalse(targets['part_frozen'].trainable)
    self.assertFalse(targets['global_step'].trainable)

  def test_partitioned_axis_0(self):
    with tf.Graph().as_default() as g:
      pv = tf.compat.v1.get_variable(
          'emb', [10, 4], partitioner=tf.compat.v1.fixed_size_partitioner(3))
      parts = list(pv)
      targets = _variables.collect(g)
    self.assertEqual(['emb'], list(targets))
    target = targets['emb']
    self.assertTrue(target.is_partitioned)
    self.assertEqual([10, 4], target.shape.as_list())
    self.assertEqual(tf.float32, target.dtype)
    self.assertEqual(['emb/part_0', 'emb/part_1', 'emb/part_2'],
                     _part_names(target))
    self.assertEqual(tuple(parts), target.parts)
    # Slice specs are what RestoreV2 takes: full shape, then offset,length.
    self.assertEqual(('10 4 0,4:0,4', '10 4 4,3:0,4', '10 4 7,3:0,4'),
                     target.slices)

  def test_partitioned_axis_1(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('wide', [2, 7],
                                partitioner=lambda shape, dtype: [1, 3])
      targets = _variables.collect(g)
    target = targets['wide']
    self.assertEqual([2, 7], target.shape.as_list())
    self.assertEqual(['wide/part_0', 'wide/part_1', 'wide/part_2'],
                     _part_names(target))
    self.assertEqual(('2 7 0,2:0,3', '2 7 0,2:3,2', '2 7 0,2:5,2'),
                     target.slices)

  def test_partitioned_parts_ordered_by_offset_not_by_name(self):
    with tf.Graph().as_default() as g:
      pv = tf.compat.v1.get_variable(
          'emb', [12, 2], partitioner=tf.compat.v1.fixed_size_partitioner(11))
      targets = _variables.collect(g)
    # 'emb/part_10' sorts before 'emb/part_2' by name, not by offset.
    self.assertEqual(['emb/part_%d' % i for i in range(11)],
                     _part_names(targets['emb']))
    self.assertEqual(tuple(pv), targets['emb'].parts)
    offsets = [int(re.match(r'12 2 (\d+),', s).group(1))
               for s in targets['emb'].slices]
    self.assertEqual(sorted(offsets), offsets)

  @test_util.requires_graph_keras
  def test_mirrored_variables_are_one_target_each(self):
    with tf.Graph().as_default() as g:
      strategy = tf.distribute.MirroredStrategy(_CPUS)
      with strategy.scope():
        tf_var = tf.Variable([1.0, 2.0], name='tv')
        frozen = tf.Variable(0.0, name='frozen', trainable=False)
        store_var = tf.compat.v1.get_variable('gv', [2, 2])
        tf.keras.layers.Dense(3, name='kd')(tf.zeros([1, 2]))
      targets = _variables.collect(g)
    # Not one target per replica ('tv/replica_1', ...): per variable.
    self.assertEqual({'tv', 'frozen', 'gv', 'kd/kernel', 'kd/bias'},
                     set(targets))
    for name, target in targets.items():
      self.assertLen(target.parts, 1)
      part = target.parts[0]
      self.assertTrue(_tf_compat.is_distributed(part), name)
      self.assertLen(_tf_compat.distributed_components(part), len(_CPUS))
    self.assertIs(tf_var, targets['tv'].parts[0])
    self.assertIs(frozen, targets['frozen'].parts[0])
    self.assertIs(store_var, targets['gv'].parts[0])
    self.assertTrue(targets['tv'].trainable)
    self.assertTrue(targets['gv'].trainable)
    self.assertTrue(targets['kd/kernel'].trainable)
    self.assertFalse(targets['frozen'].trainable)
    self.assertEqual([2], targets['tv'].shape.as_list())

  def test_custom_variables(self):
    with tf.Graph().as_default() as g:
      table = _Table('lookup/table', [3, 2])
      warmstart.register_custom_variable(table)
      warmstart.register_custom_variable(table)  # Twice is harmless.
      self.assertLen(g.get_collection(_variables.CUSTOM_VARIABLES), 1)
      targets = _variables.collect(g)
    self.assertIn('lookup/table', targets)
    target = targets['lookup/table']
    self.assertTrue(target.is_custom)
    self.assertIs(table, target.parts[0])
    self.assertEqual([3, 2], target.shape.as_list())
    self.assertEqual(tf.float32, target.dtype)
    # Its storage is in no collection, so it is not a target of its own.
    self.assertNotIn('lookup/table_storage', targets)

  def test_custom_variable_named_like_a_graph_variable_is_a_conflict(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('emb/table', [3, 2])
      warmstart.register_custom_variable(_Table('emb/table', [3, 2]))
      with self.assertRaisesRegex(
          warmstart.ConflictError,
          r"Custom variable 'emb/table' \(PrivateVariable\) has the name of a "
          r'variable of the graph'):
        _variables.collect(g)
      with self.assertRaisesRegex(warmstart.ConflictError, "'emb/table'"):
        warmstart.make_plan(self.create_tempdir().full_path, {'/': '/'})

  def test_two_custom_variables_with_one_name_are_a_conflict(self):
    with tf.Graph().as_default() as g:
      warmstart.register_custom_variable(_Table('t', [1]))
      warmstart.register_custom_variable(_Table('t', [2]))
      with self.assertRaisesRegex(
          warmstart.ConflictError,
          r"Custom variable 't' \(PrivateVariable\) has the name of another "
          r'registered custom variable'):
        _variables.collect(g)

  def test_register_custom_variable_on_another_graph(self):
    other = tf.Graph()
    with tf.Graph().as_default() as g:
      table = _Table('t', [1])
      warmstart.register_custom_variable(table, graph=other)
      self.assertNotIn('t', _variables.collect(g))
    self.assertIn('t', _variables.collect(other))

  def test_register_rejects_non_custom_variables(self):
    with tf.Graph().as_default():
      w = tf.compat.v1.get_variable('plain_w', [1])
      with self.assertRaisesRegex(TypeError, 'CustomVariable.*plain_w'):
        warmstart.register_custom_variable(w)
      with self.assertRaisesRegex(TypeError, "CustomVariable.*'lookup'"):
        warmstart.register_custom_variable('lookup')

  def test_custom_variable_is_abstract(self):
    with self.assertRaisesRegex(TypeError, 'abstract'):
      warmstart.CustomVariable()  # pytype: disable=not-instantiable


class TargetOfTest(tf.test.TestCase):

  def test_variable(self):
    with tf.Graph().as_default():
      w = tf.compat.v1.get_variable('w', [2, 2])
      ref = tf.compat.v1.Variable(1, use_resource=False, name='ref')
      target = _variables.target_of(w)
      self.assertEqual('w', target.name)
      self.assertEqual((w,), target.parts)
      self.assertEqual(('',), target.slices)
      self.assertEqual('ref', _variables.target_of(ref).name)
      self.assertEqual(tf.int32, _variables.target_of(ref).dtype)
      # A one-element list of a whole variable is that variable.
      self.assertEqual((w,), _variables.target_of([w]).parts)

  def test_partitioned_variable(self):
    with tf.Graph().as_default() as g:
      pv = tf.compat.v1.get_variable(
          'emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(3))
      parts = list(pv)
      expected = _variables.collect(g)['emb']
    for value in (pv, parts, tuple(parts), [parts[2], parts[0], parts[1]]):
      target = _variables.target_of(value)
      self.assertEqual('emb', target.name)
      self.assertEqual(tuple(parts), target.parts)
      self.assertEqual(expected.slices, target.slices)
      self.assertEqual([6, 2], target.shape.as_list())

  def test_single_part(self):
    with tf.Graph().as_default():
      pv = tf.compat.v1.get_variable(
          'emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(3))
      part = list(pv)[1]
      for value in (part, [part]):
        target = _variables.target_of(value)
        self.assertEqual('emb', target.name)
        self.assertEqual((part,), target.parts)
        self.assertEqual(('6 2 2,2:0,2',), target.slices)
        self.assertEqual([6, 2], target.shape.as_list())

  def test_custom_variable(self):
    with tf.Graph().as_default():
      table = _Table('t', [2])
      target = _variables.target_of(table)
    self.assertEqual('t', target.name)
    self.assertTrue(target.is_custom)
    self.assertEqual((table,), target.parts)

  def test_list_mixing_two_partitioned_variables(self):
    with tf.Graph().as_default():
      a = tf.compat.v1.get_variable(
          'a', [4, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      b = tf.compat.v1.get_variable(
          'b', [4, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      with self.assertRaisesRegex(warmstart.SettingsError,
                                  "'b/part_1' is not a part of 'a'"):
        _variables.target_of([list(a)[0], list(b)[1]])

  def test_list_mixing_a_part_and_a_whole_variable(self):
    with tf.Graph().as_default():
      a = tf.compat.v1.get_variable(
          'a', [4, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      w = tf.compat.v1.get_variable('w', [2, 2])
      with self.assertRaisesRegex(warmstart.SettingsError,
                                  "'w' is not a part of 'a'"):
        _variables.target_of([list(a)[0], w])
      with self.assertRaisesRegex(warmstart.SettingsError,
                                  "'w' is not partitioned"):
        _variables.target_of([w, list(a)[0]])

  def test_list_of_two_whole_variables(self):
    with tf.Graph().as_default():
      v = tf.compat.v1.get_variable('v', [2])
      w = tf.compat.v1.get_variable('w', [2])
      with self.assertRaisesRegex(warmstart.SettingsError, "'v'.*partitioned"):
        _variables.target_of([v, w])

  def test_same_part_twice(self):
    with tf.Graph().as_default():
      a = tf.compat.v1.get_variable(
          'a', [4, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      part = list(a)[0]
      with self.assertRaisesRegex(warmstart.ConflictError,
                                  "part of 'a'.*'a/part_0', 'a/part_0'"):
        _variables.target_of([part, part])

  def test_not_a_variable(self):
    with tf.Graph().as_default():
      t = tf.constant([1.0], name='const')
      w = tf.compat.v1.get_variable('w', [1])
      for value in ('w', 3, None, t, np.zeros([1])):
        with self.assertRaisesRegex(TypeError,
                                    re.escape(type(value).__name__)):
          _variables.target_of(value)
      for value in ([], [w, t], ['w']):
        with self.assertRaisesRegex(TypeError, 'parts of one partitioned'):
          _variables.target_of(value)


class NamesTest(tf.test.TestCase):

  def test_var_name(self):
    with tf.Graph().as_default():
      w = tf.compat.v1.get_variable('s/w', [1])
      self.assertEqual('s/w:0', w.name)
      self.assertEqual('s/w', _variables.var_name(w))
      self.assertEqual('t', _variables.var_name(_Table('t', [1])))

  def test_global_step_names(self):
    with tf.Graph().as_default() as g:
      self.assertEqual(frozenset({'global_step'}),
                       _variables.global_step_names(g))
      step = tf.compat.v1.Variable(
          0, name='train/my_step', trainable=False, dtype=tf.int64,
          collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                       tf.compat.v1.GraphKeys.GLOBAL_STEP])
      self.assertEqual('train/my_step', _variables.var_name(step))
      self.assertEqual(frozenset({'global_step', 'train/my_step'}),
                       _variables.global_step_names(g))
      self.assertEqual(frozenset({'global_step', 'train/my_step'}),
                       _variables.global_step_names())

  def test_global_step_names_standard(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.train.get_or_create_global_step()
      self.assertEqual(frozenset({'global_step'}),
                       _variables.global_step_names(g))


if __name__ == '__main__':
  tf.test.main()
