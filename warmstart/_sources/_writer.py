"""Writes TF checkpoints of our own: shards with `SaveV2`, joined into one.

Used where warmstart writes a checkpoint (a staged foreign weights file,
`merge`). Each call runs in a graph and session of its own, so it works in
graph and eager mode alike and leaves the caller's graph untouched.
`MergeV2Checkpoints` moves its inputs' data files and deletes their index
even with `delete_old_dirs=False`: `join_shards` is only ever given our own
temporary shards, never a user's checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np
import tensorflow as tf


def save_batch(prefix: str, names: Sequence[str], slice_specs: Sequence[str],
               values: Sequence[np.ndarray],
               dtypes: Optional[Sequence[tf.DType]] = None,
               shapes: Optional[Sequence[Sequence[int]]] = None) -> None:
  """Writes `values` as one checkpoint `prefix` (one data file).

  Args:
    prefix: The checkpoint prefix to write (a folder of our own).
    names: The tensor names, one per value.
    slice_specs: Each value's slice spec ('' for a whole tensor).
    values: The arrays; each is fed once, never added to a graph.
    dtypes: The dtype each value is written as (fed values are converted
      as `feed_dict` does); default: each value's own.
    shapes: The shape each value must have; default: each value's own.
  """
  if dtypes is None:
    dtypes = [tf.as_dtype(np.asarray(v).dtype) for v in values]
  if shapes is None:
    shapes = [np.shape(v) for v in values]
  with tf.Graph().as_default():
    with tf.device('/cpu:0'):
      inputs = [tf.compat.v1.placeholder(dtype, shape)
                for dtype, shape in zip(dtypes, shapes)]
      save = tf.raw_ops.SaveV2(
          prefix=prefix, tensor_names=list(names),
          shape_and_slices=list(slice_specs), tensors=inputs)
    with tf.compat.v1.Session() as sess:
      sess.run(save, feed_dict=dict(zip(inputs, values)))


def join_shards(shards: Sequence[str], destination: str) -> None:
  """Joins OUR temporary shards into `destination` (consumes the shards)."""
  with tf.Graph().as_default():
    with tf.device('/cpu:0'):
      op = tf.raw_ops.MergeV2Checkpoints(
          checkpoint_prefixes=list(shards), destination_prefix=destination,
          delete_old_dirs=False)
    with tf.compat.v1.Session() as sess:
      sess.run(op)
