"""The TensorFlow internals the core touches (the scope has `_scope._tf_rebuild`).

Each hook, why there is no public way, and the test in
`tests/tf_compat_test.py` that fails loudly if a TF upgrade breaks it:

* `set_initializer`: a variable's private `_initializer_op` and
  `_initial_value`, as TF's own `init_from_checkpoint` sets them
  (`SetInitializerTest`).
* `variable_store_vars`: the graph's variable store of
  `tf.compat.v1.get_variable` (`VariableStoreTest`).
* `is_partitioned_variable`, `partitioned_variable_parts`, `save_slice_info`:
  `PartitionedVariable` and its parts' `_save_slice_info` (`PartitionTest`).
* `validates_shape`: a resource variable's `_validate_shape`
  (`ValidatesShapeTest`).
* `is_distributed`, `distributed_components`: a `tf.distribute` variable's
  components (`DistributedTest`).
* `assign_variable`: `Graph._create_op_internal`, with a raw_ops fallback
  (`AssignVariableTest`).
* `batched_handles`: the private `_VarHandlesOp` (`BatchedHandlesTest`).
* `SCAFFOLD_INIT_COLLECTION`: the 'saved_model_initializers' collection a
  Scaffold's default init op runs (`ScaffoldInitCollectionTest`).
* `parse_object_graph`: the `TrackableObjectGraph` proto of TF2 checkpoints
  (`ObjectGraphProtoTest`).
* `tensor_bundle_protos`: the checkpoint index protos
  (`TensorBundleProtosTest`).
* `require_estimator`: whether this TF ships `tf.estimator`
  (`RequireEstimatorTest`).
* `estimator_warm_start_settings`: an Estimator's private
  `_warm_start_settings` (`EstimatorWarmStartSettingsTest`).
* `update_input`: moving an op's input to another tensor
  (`Operation._update_input`), to make a variable's own initializer its
  restore (`tests/tf_rebuild_test.py`, `StandInOpsTest`).

The creation-time scope's own hooks (building an initializer later as TF
would have built it) are in `warmstart._scope._tf_rebuild`.
"""

from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf

# The variable store's collection key (tensorflow/python/ops/variable_scope.py).
_VARSTORE_KEY = ('__variable_store',)


def require_estimator(who: str) -> None:
  """Raises an ImportError naming the extra when `tf.estimator` is missing.

  TensorFlow 2.16 and newer ship no Estimator (tensorflow-estimator does not
  import there); the rest of warmstart needs only `tf.compat.v1`.

  Args:
    who: What needs Estimator, for the message (e.g. 'wrap_model_fn').

  Raises:
    ImportError: This TensorFlow has no `tf.estimator`.
  """
  try:
    tf.estimator  # pylint: disable=pointless-statement
  except (AttributeError, ImportError):  # TF >= 2.16; or no tensorflow-estimator.
    raise ImportError(
        '%s needs tf.estimator, which TensorFlow %s does not have: install '
        'the Estimator extra, pip install "warmstart[estimator]" (TensorFlow '
        '< 2.16 with tensorflow-estimator, Python 3.9-3.11). WarmStartHook, '
        'init_from_checkpoint and warm_start work without it.' %
        (who, tf.__version__)) from None


def estimator_warm_start_settings(estimator: Any) -> Any:
  """An Estimator's `warm_start_from` settings (None: none).

  Estimator keeps them in a private attribute and offers no public one;
  `tf.estimator.add_metrics` reads it the same way.
  """
  return getattr(estimator, '_warm_start_settings', None)


def variable_store_vars(graph: tf.Graph) -> dict[str, Any]:
  """Returns name -> variable of the graph's variable store, without making one."""
  stores = graph.get_collection(_VARSTORE_KEY)
  if not stores:
    return {}
  return dict(getattr(stores[0], '_vars', {}))


def is_partitioned_variable(value: Any) -> bool:
  """True for a `PartitionedVariable` (what a partitioner makes)."""
  return (type(value).__name__ == 'PartitionedVariable' and
          hasattr(value, '_get_variable_list'))


def partitioned_variable_parts(value: Any) -> list[Any]:
  """Returns the parts of a `PartitionedVariable`, in order."""
  return list(value._get_variable_list())  # pylint: disable=protected-access


def save_slice_info(variable: Any) -> Optional[Any]:
  """Returns the `SaveSliceInfo` of a partition, or None for a whole variable.

  The result has `full_name`, `full_shape`, `var_offset`, `var_shape` and
  `spec` (the `shape_and_slices` string RestoreV2 takes).
  """
  return getattr(variable, '_save_slice_info', None)


def validates_shape(variable: Any) -> bool:
  """False for a variable made with `validate_shape=False`.

  Such a variable takes a value of any shape, and TF's restore loads a
  checkpoint tensor of another shape into it. A ref variable made so has an
  unknown shape; a resource variable keeps its declared shape and records the
  choice in `_validate_shape`.
  """
  if variable.shape.rank is None:
    return False
  return getattr(variable, '_validate_shape', True) is not False


def is_distributed(variable: Any) -> bool:
  """True for a variable of a `tf.distribute` strategy (e.g. mirrored)."""
  return isinstance(variable, tf.distribute.DistributedValues)


def distributed_components(variable: Any) -> tuple[Any, ...]:
  """Returns the per-device components of a distributed variable."""
  return tuple(variable.values)


def set_initializer(variable: Any, init_op: tf.Operation,
                    initial_value: tf.Tensor) -> None:
  """Makes `init_op` the variable's initializer, as TF's restore does."""
  # pylint: disable=protected-access
  variable._initializer_op = init_op
  variable._initial_value = initial_value
  # pylint: enable=protected-access


# `Graph._create_op_internal` builds an op from ready tensors and AttrValues.
# `tf.raw_ops.AssignVariableOp` reaches the same call through
# `op_def_library._apply_op_helper`, which re-derives and re-validates every
# input and attr per op: ~60% of a warm start's Python time over thousands of
# variables. (Not `Graph.create_op`: its deprecation wrapper inspects the
# arguments on every call and is slower than raw_ops.) Both give the same
# NodeDef (TF's node builder adds the default attrs);
# `tests/tf_compat_test.py` checks that, and `assign_variable` falls back to
# raw_ops when a TF version lacks the private method.
_CREATE_OP = getattr(tf.Graph, '_create_op_internal', None)
_ASSIGN_ATTRS: dict[tf.DType, dict[str, Any]] = {}


def _assign_attrs(dtype: tf.DType) -> dict[str, Any]:
  attrs = _ASSIGN_ATTRS.get(dtype)
  if attrs is None:
    from tensorflow.core.framework import attr_value_pb2  # pylint: disable=g-import-not-at-top
    attrs = {'dtype': attr_value_pb2.AttrValue(type=dtype.as_datatype_enum)}
    _ASSIGN_ATTRS[dtype] = attrs
  return attrs


def assign_variable(handle: tf.Tensor, value: tf.Tensor) -> tf.Operation:
  """Builds `AssignVariableOp(handle, value)` in the default graph.

  Same op, name ('AssignVariableOp', made unique in the current name scope),
  device and control dependencies as `tf.raw_ops.AssignVariableOp`, built
  without the generic op-construction overhead.

  Args:
    handle: A resource variable's handle (graph tensor).
    value: The tensor to assign; its dtype is the variable's.

  Returns:
    The assign op.
  """
  if tf.executing_eagerly():
    return tf.raw_ops.AssignVariableOp(resource=handle, value=value)
  graph = tf.compat.v1.get_default_graph()
  if (_CREATE_OP is None or not isinstance(value, tf.Tensor) or
      not isinstance(handle, tf.Tensor) or handle.graph is not graph or
      value.graph is not graph):
    # raw_ops converts what needs converting and raises TF's usual errors.
    return tf.raw_ops.AssignVariableOp(resource=handle, value=value)
  return _CREATE_OP(graph, 'AssignVariableOp', [handle, value], [],
                    name='AssignVariableOp',
                    attrs=_assign_attrs(value.dtype))


def batched_handles(handles: list[tf.Tensor]) -> Optional[list[tf.Tensor]]:
  """Returns one `_VarHandlesOp`'s outputs aliasing `handles`, or None.

  Each resource variable's handle comes from its own `VarHandleOp`; feeding
  thousands of assigns from those makes the first `session.run` set up (and
  Grappler optimize) one node per variable more. TF's `_VarHandlesOp` (the
  batched form TF's own XLA/TPU code uses) looks up N variables by container
  and shared name in one node: the same resources, half the nodes. It is a
  private op, so this returns None (callers then use the variables' own
  handles) whenever it is missing or a handle cannot be expressed by it: an
  empty shared name (a per-op anonymous resource), or `allowed_devices`.
  `tests/tf_compat_test.py` checks that the handles alias the variables.

  Args:
    handles: `VarHandleOp` outputs of one graph, all on one device.

  Returns:
    Handles in the same order, from one new op in the current name scope and
    device; or None.
  """
  if _CREATE_OP is None or len(handles) < 2:
    return None
  graph = handles[0].graph
  ops = [h.op for h in handles]
  try:
    from tensorflow.core.framework import attr_value_pb2  # pylint: disable=g-import-not-at-top
    # One NodeDef copy per op: ~8x faster than five `get_attr` calls each.
    op_attrs = []
    for op in ops:
      if op.type != 'VarHandleOp' or op.graph is not graph:
        return None
      attr = op.node_def.attr
      if not attr['shared_name'].s or attr['allowed_devices'].list.s:
        return None
      op_attrs.append(attr)
    ListValue = attr_value_pb2.AttrValue.ListValue  # pylint: disable=invalid-name
    attrs = {
        'containers': attr_value_pb2.AttrValue(list=ListValue(
            s=[a['container'].s for a in op_attrs])),
        'shared_names': attr_value_pb2.AttrValue(list=ListValue(
            s=[a['shared_name'].s for a in op_attrs])),
        'N': attr_value_pb2.AttrValue(i=len(ops)),
        'dtypes': attr_value_pb2.AttrValue(list=ListValue(
            type=[a['dtype'].type for a in op_attrs])),
        'shapes': attr_value_pb2.AttrValue(list=ListValue(
            shape=[a['shape'].shape for a in op_attrs])),
    }
    op = _CREATE_OP(graph, '_VarHandlesOp', [], [tf.resource] * len(ops),
                    name='handles', attrs=attrs)
  except (ValueError, TypeError, AttributeError, tf.errors.OpError):
    return None
  return list(op.outputs)


# --- Collections and protos without a public API ----------------------------

#: The graph collection a `Scaffold`'s default init op runs besides the
#: variables' and resources' initializers (TF's loader fills it with a
#: SavedModel's initializers). Restores of custom variables join it, so they
#: run when variables are initialized; TF's `SessionManager` also runs it on
#: a restart, before restoring the run's checkpoint (which then wins).
SCAFFOLD_INIT_COLLECTION = 'saved_model_initializers'


def parse_object_graph(serialized: bytes) -> Any:
  """Parses a TF2 checkpoint's `TrackableObjectGraph` proto.

  TF's own `warm_start` reads it the same way
  (`saver.object_graph_key_mapping`); the proto module has no public alias.
  """
  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import trackable_object_graph_pb2
  # pylint: enable=g-import-not-at-top
  proto = trackable_object_graph_pb2.TrackableObjectGraph()
  proto.ParseFromString(serialized)
  return proto


def tensor_bundle_protos() -> tuple[type, type]:
  """Returns TF's `(BundleHeaderProto, BundleEntryProto)` classes.

  A checkpoint index maps the empty key to a header (`num_shards`) and each
  tensor to an entry (`shard_id`, `offset`, `size`); `_sources._index` reads
  them to check the data files. The generated module is not exported under
  `tf.*`; `tests/tf_compat_test.py` pins the fields used.
  """
  from tensorflow.core.protobuf import tensor_bundle_pb2  # pylint: disable=g-import-not-at-top
  return tensor_bundle_pb2.BundleHeaderProto, tensor_bundle_pb2.BundleEntryProto


def update_input(op: tf.Operation, index: int, tensor: tf.Tensor) -> None:
  """Makes `tensor` input `index` of `op` (same graph, compatible shape)."""
  op._update_input(index, tensor)  # pylint: disable=protected-access
