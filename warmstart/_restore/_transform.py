"""Builds the restores of transformed entries (`warmstart.Transform`).

Every tensor the entries of one source name is read once, in one
`RestoreV2`, whatever number of targets it fills (a fused tensor split into
three, one tensor read by two entries); the ops of one transform are built
once and shared by the targets of a split. Each op is TensorFlow's exact
counterpart of numpy's (`tf.transpose`, `tf.reshape`, `tf.slice`,
`tf.split`, `tf.concat`), so values equal numpy's bit for bit; a float cast
(`cast=True`) comes after the ops; each variable part gets its slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from warmstart import _plan
from warmstart import _tf_compat
from warmstart import _transform
from warmstart._restore import _assign


def _ops(entry: _plan.Entry) -> tuple[_transform.Op, ...]:
  return tuple(
      _transform.Op(op['op'], tuple(tuple(a) if isinstance(a, list) else a
                                    for a in op['args']))
      for op in entry.action_params['ops'])


def _apply(values: list[tf.Tensor], ops: Sequence[_transform.Op],
           parts: int) -> list[tf.Tensor]:
  """`ops` on `values` (static shapes known): one tensor per part."""
  for op in ops:
    a = op.args
    if op.kind == _transform.CONCAT:
      values = [tf.concat(values, a[0])]
      continue
    (value,) = values
    shape = value.shape.as_list()
    if op.kind == _transform.TRANSPOSE:
      values = [tf.transpose(value, a[0])]
    elif op.kind == _transform.RESHAPE:
      values = [tf.reshape(value, op.shape([tuple(shape)])[0])]
    elif op.kind == _transform.TAKE:
      start, stop, axis = a
      axis %= len(shape)
      stop = shape[axis] if stop is None else stop
      begin = [0] * len(shape)
      size = list(shape)
      begin[axis], size[axis] = start, stop - start
      values = [tf.slice(value, begin, size)]
    else:
      axis = a[0] % len(shape)
      sizes = [b - s for s, b in op.split_bounds(tuple(shape), parts)]
      values = tf.split(value, sizes, axis)
  return values


def _part_value(value: tf.Tensor, part: Any, resized: bool) -> tf.Tensor:
  """The slice of the whole variable's value one partition holds.

  `resized`: `value` is only the block of the variable it overlaps
  (resize=True); the part's other cells keep its own initial value.
  """
  info = _tf_compat.save_slice_info(part)
  shape = (list(info.var_shape) if info is not None else
           part.shape.as_list())
  offset = list(info.var_offset) if info is not None else [0] * len(shape)
  if not resized:
    return value if info is None else tf.slice(value, offset, shape)
  block = value.shape.as_list()
  end = [max(0, min(s, b - o)) for s, b, o in zip(shape, block, offset)]
  initial = tf.convert_to_tensor(part.initial_value)
  if not all(end):
    return initial  # The part lies outside the restored block.
  return tf.raw_ops.TensorStridedSliceUpdate(
      input=initial, begin=[0] * len(shape), end=end,
      strides=[1] * len(shape), value=tf.slice(value, offset, end))


def build_all(entries: Sequence[_plan.Entry]) -> None:
  """Installs the restore initializer of every part of each entry.

  Args:
    entries: Entries with action `_plan.TRANSFORM` (their `target` set).
  """
  wanted: dict[str, dict[str, tuple[tf.DType, list[int]]]] = {}
  for entry in entries:
    params = entry.action_params
    for tensor, shape in zip(params['tensors'], params['checkpoint_shapes']):
      wanted.setdefault(entry.source, {})[tensor] = (
          tf.as_dtype(params['checkpoint_dtype']), shape)
  read: dict[tuple[str, str], tf.Tensor] = {}
  with tf.device('/cpu:0'):
    for source, tensors in wanted.items():
      names = sorted(tensors)
      values = tf.raw_ops.RestoreV2(
          prefix=source, tensor_names=names, shape_and_slices=[''] * len(names),
          dtypes=[tensors[n][0] for n in names], name='transform_reads')
      for name, value in zip(names, values):
        value.set_shape(tensors[name][1])
        read[source, name] = value
    built: dict[Any, list[tf.Tensor]] = {}
    for entry in entries:
      params = entry.action_params
      ops = _ops(entry)
      key = (entry.source, tuple(params['tensors']), ops, params['parts'])
      if key not in built:
        built[key] = _apply([read[entry.source, t] for t in params['tensors']],
                            ops, params['parts'])
      value = built[key][params['part']]
      target = entry.target
      if value.dtype != target.dtype:
        value = tf.cast(value, target.dtype)  # cast=True.
      resize = params.get('resize')
      if resize is not None:
        # The overlapping block (indices 0..min(old, new)-1 on every axis).
        overlap = [min(a, b) for a, b in zip(resize,
                                             target.shape.as_list())]
        value = tf.slice(value, [0] * len(overlap), overlap)
      for part in target.parts:
        _assign.assign_op(part, _part_value(value, part, resize is not None))
