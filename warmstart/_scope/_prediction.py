"""Predicts, as a variable is created, whether the warm start will restore it.

`warm_start_scope` asks before a variable's initializer is built. The answer
comes from the sources' compiled rules (`_planning.Rules.tensor_of`, the same
rules the plan selects with, asked for one variable with the facts known at
its creation) and the checkpoint's index (the tensor is there, with the
variable's shape, and a dtype that restores or casts into it). A prediction
is only a bet on cost: a wrong "yes" makes the variable's initializer be
built later from its kept callable, a wrong "no" builds it now as without
the scope; the plan made after the block decides what is restored.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Optional

import tensorflow as tf

from warmstart import _errors
from warmstart import _planning
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _transform
from warmstart import _variables


class _TrainableNames:
  """The full names of a graph's trainable variables, kept up to date."""

  def __init__(self):
    self._graph: Optional[tf.Graph] = None
    self._seen = 0
    self._names: set[str] = set()

  def of(self, graph: tf.Graph) -> set[str]:
    if graph is not self._graph:
      self._graph, self._seen, self._names = graph, 0, set()
    variables = graph.get_collection_ref(
        tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)
    for variable in variables[self._seen:]:
      info = _tf_compat.save_slice_info(variable)
      self._names.add(info.full_name if info is not None else
                      _variables.var_name(variable))
    self._seen = len(variables)
    return self._names


class Predictor:
  """Whether any source will restore a variable whole (restore or cast)."""

  def __init__(self, sources: Sequence[_planning.Source]):
    """Reads every source's checkpoint index.

    A source that cannot be read predicts nothing: the plan, made after the
    variables exist, raises its error as without stand-ins.
    """
    self._sources = []
    for source in sources:
      try:
        checkpoint = _sources.load(source.path, source.options.cache_dir,
                                   source.options.max_chunk_bytes)
      except _errors.Error:
        continue
      self._sources.append((source.rules, checkpoint))
    self._trainable = _TrainableNames()

  def _variable(self, name: str, trainable: bool, part: Optional[str],
                collections: Collection[str]) -> _planning.Variable:
    """The facts the rules look at, as known when the variable is created."""
    graph = tf.compat.v1.get_default_graph()
    keys = tf.compat.v1.GraphKeys
    primary = None
    if not trainable:
      primary = _planning.primary_of(name, self._trainable.of(graph))
      if primary is None and _planning.is_optimizer_variable(name):
        primary = ''
    return _planning.Variable(
        name, trainable, (part,) if part is not None else (),
        global_step=(keys.GLOBAL_STEP in collections or
                     name in _variables.global_step_names(graph)),
        local=keys.LOCAL_VARIABLES in collections,
        primary=primary)

  def restores_whole(self, name: str, shape: Sequence[int], dtype: tf.DType,
                     trainable: bool = True,
                     part: Optional[str] = None,
                     collections: Collection[str] = ()) -> bool:
    """True if a source would fill all of variable `name` from a tensor.

    Args:
      name: The variable's full name (of the whole variable when it is
        partitioned), without ':0'.
      shape: Its full shape (every dimension known).
      dtype: Its base dtype.
      trainable: Whether it will be trainable.
      part: The name of the part being created, when partitioned (a regex
        may match it rather than the full name).
      collections: The collections it is created in (the global step's,
        the local variables').
    """
    if not self._sources:
      return False
    variable = self._variable(name, trainable, part, collections)
    return any(self._restores_whole(rules, checkpoint, variable, shape, dtype)
               for rules, checkpoint in self._sources)

  @staticmethod
  def _restores_whole(rules: _planning.Rules,
                      checkpoint: _sources.Checkpoint,
                      variable: _planning.Variable, shape: Sequence[int],
                      dtype: tf.DType) -> bool:
    if rules.remapped(variable):
      return False  # A remap needs the initializer (new rows).
    applied = rules.transform_of(variable)
    if applied is not None:
      return Predictor._transformed_whole(rules, checkpoint, applied, shape,
                                          dtype)
    tensor = rules.tensor_of(variable)
    if tensor is None:
      return False
    tensor, _ = _sources.resolve(checkpoint, tensor)
    if tensor not in checkpoint:
      return False
    if tuple(checkpoint.shapes[tensor]) != tuple(shape):
      return False  # A mismatch, or a resize (which needs the initializer).
    saved = checkpoint.dtypes[tensor].base_dtype
    return saved == dtype or (rules.settings.cast and saved.is_floating and
                              dtype.is_floating)

  @staticmethod
  def _transformed_whole(rules: _planning.Rules,
                         checkpoint: _sources.Checkpoint,
                         applied: _transform.Application,
                         shape: Sequence[int], dtype: tf.DType) -> bool:
    tensors = [_sources.resolve(checkpoint, t)[0] for t in applied.tensors]
    if any(t not in checkpoint for t in tensors):
      return False
    saved = {checkpoint.dtypes[t].base_dtype for t in tensors}
    if len(saved) != 1:
      return False
    try:
      got = applied.output_shape([tuple(checkpoint.shapes[t])
                                  for t in tensors])
    except _transform.TransformError:
      return False
    (saved,) = saved
    return tuple(got) == tuple(shape) and (
        saved == dtype or (rules.settings.cast and saved.is_floating and
                           dtype.is_floating))
