"""The names of variables in TF2 object-based checkpoints.

`tf.train.Checkpoint` and Keras `save_weights` store `dense/kernel` under a
key such as `model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`;
the checkpoint's object graph (the tensor `OBJECT_GRAPH_KEY`) records each
variable's name at save time (`full_name`). TF's own `warm_start` maps through
it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from warmstart import _sources
from warmstart import _tf_compat

#: The tensor holding the object graph of an object-based (TF2) checkpoint.
OBJECT_GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH'

# (prefix, id of the index read by _sources, which caches it per file version)
_cache: dict[tuple[str, int], dict[str, str]] = {}


def keys_by_name(checkpoint: _sources.Checkpoint) -> Mapping[str, str]:
  """{variable name at save time: tensor key} of an object-based checkpoint.

  Empty for a name-based checkpoint.
  """
  if OBJECT_GRAPH_KEY not in checkpoint:
    return {}
  key = (checkpoint.prefix, id(checkpoint.shapes))
  if key not in _cache:
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint.prefix)
    proto = _tf_compat.parse_object_graph(reader.get_tensor(OBJECT_GRAPH_KEY))
    _cache[key] = {
        attribute.full_name: attribute.checkpoint_key
        for node in proto.nodes for attribute in node.attributes
        if attribute.full_name
    }
  return _cache[key]
