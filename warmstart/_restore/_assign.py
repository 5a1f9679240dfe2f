"""Loads a value into any kind of variable part, as its new initializer.

A plain resource or ref variable, a distributed (mirrored, sync-on-read)
variable, or a `warmstart.CustomVariable`: `assign_op` builds the op that
loads a tensor into it and makes that op the part's initializer, so the
batched restore and every action (vocabulary remap, ...) load values the
same way.
"""

from __future__ import annotations

import functools
from typing import Any

import tensorflow as tf

from warmstart import _tf_compat
from warmstart import _variables


@functools.lru_cache(maxsize=None)
def _device_group_of(device: str) -> str:
  spec = tf.DeviceSpec.from_string(device)
  return spec.replace(device_type=None, device_index=None).to_string()


def device_group(variable: Any) -> str:
  """The job/replica/task a variable lives on ('' when local)."""
  return _device_group_of(getattr(variable, 'device', '') or '')


#: True for a part `assign_op` loads with a bare AssignVariableOp.
is_plain_resource = _variables.is_plain_resource


def assign_op(part: Any, value: tf.Tensor) -> tf.Operation:
  """Builds the op that loads `value` into one variable part.

  Also makes it the part's initializer. Action builders (e.g. vocabulary
  remapping) use it so every kind of variable is loaded the same way.
  """
  if isinstance(part, _variables.CustomVariable):
    op = part.restore_initializer(value)
    # A custom variable has no initializer of its own to replace: its restore
    # op joins the collection Scaffold's default init op runs with the
    # variables' initializers, so on a fresh start only.
    tf.compat.v1.add_to_collection(_variables.CUSTOM_RESTORES, op)
    return op
  if _tf_compat.is_distributed(part):
    share = value
    if (part.synchronization == tf.VariableSynchronization.ON_READ and
        part.aggregation == tf.VariableAggregation.SUM):
      # Read back as the sum over replicas: each replica holds its share, as
      # after TF's own restore of such a variable.
      share = tf.cast(value / part.distribute_strategy.num_replicas_in_sync,
                      part.dtype)
    ops = [
        assign_op(c, share) for c in _tf_compat.distributed_components(part)
    ]
    op = tf.group(*ops, name='assign_replicas')
    _tf_compat.set_initializer(part, op, value)
    return op
  if part.op.type == 'VarHandleOp':
    with tf.device(part.handle.device):
      op = _tf_compat.assign_variable(part.handle, value)
  else:
    op = tf.compat.v1.assign(
        part, value, validate_shape=_tf_compat.validates_shape(part)).op
  _tf_compat.set_initializer(part, op, value)
  return op
