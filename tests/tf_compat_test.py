"""Tests of warmstart._tf_compat: the TF private hooks warmstart relies on.

Each test pins one piece of TF behaviour that has no public API, so that a
TensorFlow upgrade that changes it fails here, loudly, rather than making warm
starts silently restore nothing.
"""

from __future__ import annotations

import types
from unittest import mock

import numpy as np
import tensorflow as tf

from warmstart._sources import _index
from warmstart import _tf_compat
from tests import test_util

# Before anything initializes the TF runtime: two CPUs for MirroredStrategy.
_CPUS = test_util.configure_logical_cpus(2)


@test_util.requires_estimator
class EstimatorWarmStartSettingsTest(tf.test.TestCase):

  def test_the_settings_estimator_keeps(self):

    def model_fn(features, mode):
      del features, mode
      raise AssertionError('never called')

    directory = self.get_temp_dir()
    warm = tf.estimator.Estimator(model_fn, model_dir=directory,
                                  warm_start_from=directory)
    settings = _tf_compat.estimator_warm_start_settings(warm)
    self.assertIsInstance(settings, tf.estimator.WarmStartSettings)
    self.assertEqual(directory, settings.ckpt_to_initialize_from)
    cold = tf.estimator.Estimator(model_fn, model_dir=directory)
    self.assertIsNone(_tf_compat.estimator_warm_start_settings(cold))


class RequireEstimatorTest(tf.test.TestCase):

  def test_agrees_with_this_tensorflow(self):
    if hasattr(tf, 'estimator'):  # TF <= 2.15 with tensorflow-estimator.
      self.assertIsNone(_tf_compat.require_estimator('wrap_model_fn'))
    else:
      with self.assertRaisesRegex(ImportError, r'warmstart\[estimator\]'):
        _tf_compat.require_estimator('wrap_model_fn')

  def test_names_the_extra_where_tf_has_no_estimator(self):
    tf_2_21 = types.SimpleNamespace(__version__='2.21.0')  # No `estimator`.
    with mock.patch.object(_tf_compat, 'tf', tf_2_21):
      with self.assertRaisesRegex(
          ImportError,
          r'^wrap_model_fn needs tf\.estimator, which TensorFlow 2\.21\.0 '
          r'does not have: install the Estimator extra, pip install '
          r'"warmstart\[estimator\]" \(TensorFlow < 2\.16 with '
          r'tensorflow-estimator, Python 3\.9-3\.11\)\.'):
        _tf_compat.require_estimator('wrap_model_fn')


class VariableStoreTest(tf.test.TestCase):

  def test_finds_get_variable_variables(self):
    with tf.Graph().as_default() as g:
      w = tf.compat.v1.get_variable('scope/w', [2])
      with tf.compat.v1.variable_scope('res', use_resource=True):
        r = tf.compat.v1.get_variable('r', [1])
      pv = tf.compat.v1.get_variable(
          'emb', [4, 1], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      tf.compat.v1.Variable(1.0, name='not_in_store')
      found = _tf_compat.variable_store_vars(g)
    parts = list(pv)
    self.assertEqual(
        {'scope/w': w, 'res/r': r, 'emb/part_0': parts[0],
         'emb/part_1': parts[1]}, found)

  def test_graph_without_store(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.Variable(1.0, name='v')
      self.assertEqual({}, _tf_compat.variable_store_vars(g))
      # Reading must not create a store as a side effect.
      self.assertEqual([], g.get_collection(_tf_compat._VARSTORE_KEY))
    empty = tf.Graph()
    self.assertEqual({}, _tf_compat.variable_store_vars(empty))
    self.assertEqual([], empty.get_collection(_tf_compat._VARSTORE_KEY))

  def test_store_key_is_tfs(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [1])
      stores = g.get_collection(_tf_compat._VARSTORE_KEY)
    self.assertLen(stores, 1)
    self.assertIn('w', stores[0]._vars)  # pylint: disable=protected-access

  def test_returns_a_copy(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [1])
      _tf_compat.variable_store_vars(g).clear()
      self.assertIn('w', _tf_compat.variable_store_vars(g))


class PartitionTest(tf.test.TestCase):

  def test_save_slice_info_axis_0(self):
    with tf.Graph().as_default():
      pv = tf.compat.v1.get_variable(
          'emb', [7, 3], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      w = tf.compat.v1.get_variable('w', [2])
      parts = list(pv)
    self.assertIsNone(_tf_compat.save_slice_info(w))
    expected = [([0, 0], [4, 3], '7 3 0,4:0,3'),
                ([4, 0], [3, 3], '7 3 4,3:0,3')]
    for part, (offset, shape, spec) in zip(parts, expected):
      info = _tf_compat.save_slice_info(part)
      self.assertEqual('emb', info.full_name)
      self.assertEqual([7, 3], list(info.full_shape))
      self.assertEqual(offset, list(info.var_offset))
      self.assertEqual(shape, list(info.var_shape))
      self.assertEqual(spec, info.spec)
      self.assertEqual(shape, part.shape.as_list())

  def test_save_slice_info_axis_1(self):
    with tf.Graph().as_default():
      pv = tf.compat.v1.get_variable(
          'wide', [2, 5], partitioner=lambda shape, dtype: [1, 2])
      parts = list(pv)
    infos = [_tf_compat.save_slice_info(p) for p in parts]
    self.assertEqual([[0, 0], [0, 3]], [list(i.var_offset) for i in infos])
    self.assertEqual([[2, 3], [2, 2]], [list(i.var_shape) for i in infos])
    self.assertEqual(['2 5 0,2:0,3', '2 5 0,2:3,2'], [i.spec for i in infos])

  def test_slice_spec_restores_the_slice(self):
    # The spec must be what RestoreV2 takes for shape_and_slices.
    def build():
      tf.compat.v1.get_variable('emb', [5, 2])

    prefix, values = test_util.save_checkpoint(self.get_temp_dir(), build)
    with tf.Graph().as_default():
      pv = tf.compat.v1.get_variable(
          'emb', [5, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      part = list(pv)[1]
      info = _tf_compat.save_slice_info(part)
      (value,) = tf.raw_ops.RestoreV2(
          prefix=prefix, tensor_names=['emb'], shape_and_slices=[info.spec],
          dtypes=[tf.float32])
      with tf.compat.v1.Session() as sess:
        got = sess.run(value)
    self.assertAllClose(values['emb'][3:], got)

  def test_is_partitioned_variable(self):
    with tf.Graph().as_default():
      pv = tf.compat.v1.get_variable(
          'emb', [4, 1], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      w = tf.compat.v1.get_variable('w', [2])
    self.assertTrue(_tf_compat.is_partitioned_variable(pv))
    for value in (w, list(pv), list(pv)[0], 'emb', None):
      self.assertFalse(_tf_compat.is_partitioned_variable(value))

  def test_partitioned_variable_parts(self):
    with tf.Graph().as_default():
      pv = tf.compat.v1.get_variable(
          'emb', [12, 1], partitioner=tf.compat.v1.fixed_size_partitioner(11))
      parts = _tf_compat.partitioned_variable_parts(pv)
    self.assertIsInstance(parts, list)
    self.assertEqual(['emb/part_%d:0' % i for i in range(11)],
                     [p.name for p in parts])


class SetInitializerTest(tf.test.TestCase):

  def _check(self, use_resource):
    with tf.Graph().as_default():
      v = tf.compat.v1.Variable([1.0, 2.0], name='v',
                                use_resource=use_resource)
      other = tf.compat.v1.get_variable(
          'other', [2], initializer=tf.compat.v1.constant_initializer(7.0),
          use_resource=use_resource)
      new_value = tf.constant([5.0, 6.0], name='new_value')
      init_op = tf.compat.v1.assign(v, new_value).op
      _tf_compat.set_initializer(v, init_op, new_value)
      self.assertIs(init_op, v.initializer)
      self.assertIs(new_value, v.initial_value)
      with tf.compat.v1.Session() as sess:
        sess.run(v.initializer)
        self.assertAllClose([5.0, 6.0], sess.run(v))
        # global_variables_initializer reads `initializer` when it is built.
        sess.run(tf.compat.v1.assign(v, [0.0, 0.0]))
        sess.run(tf.compat.v1.global_variables_initializer())
        self.assertAllClose([5.0, 6.0], sess.run(v))
        self.assertAllClose([7.0, 7.0], sess.run(other))
        self.assertAllClose([5.0, 6.0], sess.run(v.initial_value))

  def test_ref_variable(self):
    self._check(use_resource=False)

  def test_resource_variable(self):
    self._check(use_resource=True)


class ValidatesShapeTest(tf.test.TestCase):

  def test_reads_the_variables_choice(self):
    # Fails if TF stops recording validate_shape=False where we look for it.
    for use_resource in (True, False):
      with tf.Graph().as_default():
        strict = tf.compat.v1.get_variable('strict', [2],
                                           use_resource=use_resource)
        loose = tf.compat.v1.get_variable(
            'loose', initializer=tf.zeros([2]), validate_shape=False,
            use_resource=use_resource)
        keras_style = tf.Variable(tf.zeros([3]), name='v')
        self.assertTrue(_tf_compat.validates_shape(strict))
        self.assertFalse(_tf_compat.validates_shape(loose), use_resource)
        self.assertTrue(_tf_compat.validates_shape(keras_style))


class DistributedTest(tf.test.TestCase):

  def test_mirrored_variable(self):
    self.assertGreaterEqual(len(_CPUS), 1)
    with tf.Graph().as_default():
      strategy = tf.distribute.MirroredStrategy(_CPUS)
      with strategy.scope():
        v = tf.compat.v1.get_variable(
            'mv', [2], initializer=tf.compat.v1.constant_initializer(3.0))
      plain = tf.compat.v1.get_variable('plain', [2])
      self.assertTrue(_tf_compat.is_distributed(v))
      self.assertFalse(_tf_compat.is_distributed(plain))
      components = _tf_compat.distributed_components(v)
      self.assertIsInstance(components, tuple)
      self.assertLen(components, len(_CPUS))
      self.assertEqual(['mv:0'] + ['mv/replica_%d:0' % i
                                   for i in range(1, len(_CPUS))],
                       [c.name for c in components])
      for component, device in zip(components, _CPUS):
        self.assertFalse(_tf_compat.is_distributed(component))
        self.assertEqual(tf.DeviceSpec.from_string(device).device_index,
                         tf.DeviceSpec.from_string(
                             component.device).device_index)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for component in components:
          self.assertAllClose(np.full([2], 3.0), sess.run(component))

  def test_set_initializer_of_a_mirrored_variable(self):
    # What warmstart's restore does: one assign per component, grouped, made
    # the distributed variable's initializer.
    with tf.Graph().as_default():
      strategy = tf.distribute.MirroredStrategy(_CPUS)
      with strategy.scope():
        v = tf.Variable([1.0, 2.0], name='tv')
      value = tf.constant([8.0, 9.0])
      ops = []
      for component in _tf_compat.distributed_components(v):
        op = tf.compat.v1.assign(component, value).op
        _tf_compat.set_initializer(component, op, value)
        ops.append(op)
      group = tf.group(*ops)
      _tf_compat.set_initializer(v, group, value)
      self.assertIs(group, v.initializer)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for component in _tf_compat.distributed_components(v):
          self.assertAllClose([8.0, 9.0], sess.run(component))


class AssignVariableTest(tf.test.TestCase):
  """`assign_variable` must build exactly what tf.raw_ops builds."""

  def _build_pair(self, value_fn):
    """Builds raw_ops' assign and ours in one graph, in the same context."""
    with tf.Graph().as_default() as g:
      with tf.device('/job:localhost/replica:0/task:0/device:CPU:0'):
        v = tf.compat.v1.get_variable('v', [2], use_resource=True)
      before = tf.no_op(name='before')
      value = value_fn()  # Outside the block: `before` is not implied.
      with tf.name_scope('s'), tf.control_dependencies([before]), \
          tf.device(v.handle.device):
        theirs = tf.raw_ops.AssignVariableOp(resource=v.handle, value=value)
        ours = _tf_compat.assign_variable(v.handle, value)
    return g, v, before, theirs, ours

  def _assert_same_op(self, theirs, ours, before):
    self.assertEqual('s/AssignVariableOp', theirs.name)
    self.assertEqual('s/AssignVariableOp_1', ours.name)
    self.assertEqual('AssignVariableOp', ours.type)
    self.assertEqual(theirs.device, ours.device)
    self.assertEqual([t.name for t in theirs.inputs],
                     [t.name for t in ours.inputs])
    self.assertEqual([before], theirs.control_inputs)
    self.assertEqual([before], ours.control_inputs)
    self.assertEqual(dict(theirs.node_def.attr), dict(ours.node_def.attr))
    self.assertIn('validate_shape', ours.node_def.attr)  # Defaults filled.
    self.assertEqual(list(theirs.node_def.input), list(ours.node_def.input))

  def test_private_create_op_is_available(self):
    # If this fails, a TF upgrade removed the fast path: warm starts still
    # work (raw_ops fallback) but build ops several times slower.
    self.assertIsNotNone(
        _tf_compat._CREATE_OP,
        'tf.Graph._create_op_internal is gone; update _tf_compat.')
    self.assertTrue(callable(_tf_compat._CREATE_OP))

  def test_same_op_as_raw_ops_and_assigns(self):
    g, v, before, theirs, ours = self._build_pair(
        lambda: tf.constant([3.0, 4.0]))
    self._assert_same_op(theirs, ours, before)
    with tf.compat.v1.Session(graph=g) as sess:
      sess.run(v.initializer)
      sess.run(tf.raw_ops.AssignVariableOp(
          resource=v.handle, value=tf.constant([0.0, 0.0])))
      sess.run(ours)
      self.assertAllClose([3.0, 4.0], sess.run(v))

  def test_other_dtypes_get_their_own_attrs(self):
    with tf.Graph().as_default() as g:
      w = tf.compat.v1.get_variable('w', [2], dtype=tf.int64,
                                    use_resource=True)
      op = _tf_compat.assign_variable(w.handle, tf.constant([5, 6], tf.int64))
    self.assertEqual(tf.int64, tf.as_dtype(op.get_attr('dtype')))
    with tf.compat.v1.Session(graph=g) as sess:
      sess.run(op)
      self.assertAllEqual([5, 6], sess.run(w))

  def test_fallback_without_private_method(self):
    with mock.patch.object(_tf_compat, '_CREATE_OP', None):
      _, _, before, theirs, ours = self._build_pair(
          lambda: tf.constant([3.0, 4.0]))
    self._assert_same_op(theirs, ours, before)

  def test_fallback_converts_non_tensor_values(self):
    with tf.Graph().as_default() as g:
      v = tf.compat.v1.get_variable('v', [2], use_resource=True)
      op = _tf_compat.assign_variable(v.handle, np.array([1.0, 2.0],
                                                         np.float32))
    with tf.compat.v1.Session(graph=g) as sess:
      sess.run(op)
      self.assertAllClose([1.0, 2.0], sess.run(v))

  def test_value_from_another_graph_raises(self):
    with tf.Graph().as_default():
      other = tf.constant([1.0, 2.0])
    with tf.Graph().as_default():
      v = tf.compat.v1.get_variable('v', [2], use_resource=True)
      with self.assertRaisesRegex(ValueError, 'must be from the same graph'):
        _tf_compat.assign_variable(v.handle, other)


class BatchedHandlesTest(tf.test.TestCase):
  """`_VarHandlesOp` (private TF op): its handles must alias the variables."""

  def test_batched_handles_alias_the_variables(self):
    with tf.Graph().as_default():
      a = tf.compat.v1.get_variable(
          'a', [2], initializer=tf.compat.v1.zeros_initializer())
      b = tf.compat.v1.get_variable(
          'scope/b', [3], dtype=tf.int64,
          initializer=tf.compat.v1.zeros_initializer())
      handles = _tf_compat.batched_handles([a.handle, b.handle])
      self.assertIsNotNone(handles, 'TF no longer offers _VarHandlesOp')
      self.assertLen(handles, 2)
      self.assertIs(handles[0].op, handles[1].op)
      self.assertEqual('_VarHandlesOp', handles[0].op.type)
      assigns = [
          _tf_compat.assign_variable(handles[0], tf.constant([1.0, 2.0])),
          _tf_compat.assign_variable(
              handles[1], tf.constant([4, 5, 6], dtype=tf.int64)),
      ]
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(assigns)
        got_a, got_b = sess.run([a, b])
    self.assertAllEqual([1.0, 2.0], got_a)
    self.assertAllEqual([4, 5, 6], got_b)

  def test_none_when_it_cannot_alias(self):
    with tf.Graph().as_default():
      a = tf.compat.v1.get_variable('a', [2])
      anonymous = tf.raw_ops.VarHandleOp(
          dtype=tf.float32, shape=[2], shared_name='')
      self.assertIsNone(_tf_compat.batched_handles([a.handle]))
      self.assertIsNone(_tf_compat.batched_handles([a.handle, anonymous]))
      self.assertIsNone(
          _tf_compat.batched_handles([a.handle, tf.constant(0.0)]))



class ScaffoldInitCollectionTest(tf.test.TestCase):

  def test_scaffolds_default_init_op_runs_the_collection(self):
    with tf.Graph().as_default():
      # In no collection: only the collection's op below sets it.
      marker = tf.compat.v1.get_variable(
          'marker', [], initializer=tf.compat.v1.zeros_initializer(),
          collections=[])
      tf.compat.v1.add_to_collection(_tf_compat.SCAFFOLD_INIT_COLLECTION,
                                     marker.assign(5.0).op)
      scaffold = tf.compat.v1.train.Scaffold()
      scaffold.finalize()
      with tf.compat.v1.Session() as sess:
        sess.run(marker.initializer)
        sess.run(scaffold.init_op)
        self.assertEqual(5.0, sess.run(marker))


class ObjectGraphProtoTest(tf.test.TestCase):

  def test_parses_a_tf2_checkpoints_object_graph(self):
    directory = self.create_tempdir().full_path
    with tf.Graph().as_default():
      v = tf.Variable([1.0, 2.0], name='dense_kernel')
      checkpoint = tf.compat.v1.train.Checkpoint(layer=tf.Module())
      checkpoint.layer.kernel = v
      with tf.compat.v1.Session() as sess:
        sess.run(v.initializer)
        prefix = checkpoint.save(directory + '/ckpt', session=sess)
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    proto = _tf_compat.parse_object_graph(
        reader.get_tensor('_CHECKPOINTABLE_OBJECT_GRAPH'))
    attributes = {a.full_name: a.checkpoint_key
                  for node in proto.nodes for a in node.attributes}
    self.assertEqual('layer/kernel/.ATTRIBUTES/VARIABLE_VALUE',
                     attributes['dense_kernel'])


class TensorBundleProtosTest(tf.test.TestCase):
  """`warmstart._sources._index` parses an index's values with these."""

  def test_field_numbers_of_the_index_format(self):
    header_proto, entry_proto = _tf_compat.tensor_bundle_protos()
    header = header_proto.DESCRIPTOR.fields_by_name
    self.assertEqual(1, header['num_shards'].number)
    entry = entry_proto.DESCRIPTOR.fields_by_name
    self.assertEqual({'shard_id': 3, 'offset': 4, 'size': 5, 'slices': 7},
                     {name: entry[name].number
                      for name in ('shard_id', 'offset', 'size', 'slices')})

  def test_parses_what_tf_writes(self):
    prefix, values = test_util.save_checkpoint(
        self.get_temp_dir(), lambda: tf.compat.v1.get_variable('w', [3, 4]))
    header_proto, entry_proto = _tf_compat.tensor_bundle_protos()
    entries = dict(_index.table_entries(_index.read_index(prefix + '.index')))
    self.assertEqual(1, header_proto.FromString(entries[b'']).num_shards)
    entry = entry_proto.FromString(entries[b'w'])
    self.assertEqual((0, 0, values['w'].nbytes),
                     (entry.shard_id, entry.offset, entry.size))
    self.assertEqual(tf.float32.as_datatype_enum, entry.dtype)
    self.assertEqual([3, 4], [d.size for d in entry.shape.dim])


if __name__ == '__main__':
  tf.test.main()
