"""The only place warmstart touches TensorFlow internals.

TF's own `init_from_checkpoint` replaces a variable's initializer by setting
its private `_initializer_op` and `_initial_value`; there is no public API for
that, so warmstart does the same here, and nowhere else. It also reads the
graph's variable store (where `tf.compat.v1.get_variable` records variables)
and the partition metadata (`_save_slice_info`) of partitioned variables.
`tests/tf_compat_test.py` fails loudly if a TF upgrade breaks any of these.
"""

from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf

# The variable store's collection key (tensorflow/python/ops/variable_scope.py).
_VARSTORE_KEY = ('__variable_store',)


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
