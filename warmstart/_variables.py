"""Finds the variables a warm start can fill, and groups partitions.

TF's `init_from_checkpoint` only sees the variable store of
`tf.compat.v1.get_variable`. warmstart also looks in the graph's global, local
and model variable collections (so `tf.Variable(...)` and Keras layers count)
and in its own collection of custom variables, with one `Target` per logical
variable: the parts of a partitioned variable are grouped under its full name.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

import tensorflow as tf

from warmstart import _errors
from warmstart import _names
from warmstart import _tf_compat

#: Graph collection where `register_custom_variable` records custom variables.
# A tuple key, like TF's variable store: meta-graph export only serializes
# string-keyed collections, and these objects are not graph nodes.
CUSTOM_VARIABLES = ('warmstart_custom_variables',)

#: Graph collection the restore ops of custom variables join: TF's
#: 'saved_model_initializers', which a `Scaffold`'s default init op runs
#: besides the variables' and resources' initializers (TF's loader fills it
#: with a SavedModel's initializers), so the restores run when variables are
#: initialized (and, on a restart, before the run's checkpoint is restored).
CUSTOM_RESTORES = _tf_compat.SCAFFOLD_INIT_COLLECTION


class CustomVariable(abc.ABC):
  """A variable type with its own storage that can be warm-started.

  Subclass it for state that is not a `tf.Variable` (say, a hash table or an
  embedding kept in a custom resource). Pass the object as a value of an
  assignment map, or call `register_custom_variable` so scope maps and regexes
  find it by `name`. warmstart restores the checkpoint tensor in its batched
  read and hands it to `restore_initializer`.

  The op `restore_initializer` returns joins the graph's
  `CUSTOM_RESTORES` collection ('saved_model_initializers'), which the
  default init op of a `Scaffold` (Estimator, `MonitoredTrainingSession`)
  runs with the variables' initializers on a fresh start. On a restart,
  `SessionManager` runs that collection before restoring its own checkpoint,
  so the saved state of a custom variable whose storage the `Saver` covers
  wins, as for every other variable. With a plain `Session`, run
  `tf.compat.v1.get_collection(warmstart.CUSTOM_RESTORES)` after
  `global_variables_initializer()` (and after the custom variable's own
  initializer, if it has one). Storage with an initializer in the table
  initializers (Scaffold's `local_init_op`, which runs after the init op)
  would overwrite the warm start: give it none, like `MutableHashTable`.
  """

  @property
  @abc.abstractmethod
  def name(self) -> str:
    """The variable's name, without a `:0` suffix."""

  @property
  @abc.abstractmethod
  def shape(self) -> tf.TensorShape:
    """The full shape the checkpoint tensor must have."""

  @property
  @abc.abstractmethod
  def dtype(self) -> tf.DType:
    """The dtype the checkpoint tensor must have."""

  @abc.abstractmethod
  def restore_initializer(self, value: tf.Tensor) -> tf.Operation:
    """Returns an op that loads `value` into the variable.

    Args:
      value: The checkpoint tensor, already read, with `self.shape`.

    Returns:
      The op to run at initialization; warmstart groups it with the others.
    """


def register_custom_variable(variable: CustomVariable,
                             graph: Optional[tf.Graph] = None) -> None:
  """Makes a `CustomVariable` visible to scope maps and regexes of `graph`."""
  if not isinstance(variable, CustomVariable):
    raise TypeError('register_custom_variable takes a warmstart.CustomVariable, '
                    'got %r.' % (variable,))
  graph = graph or tf.compat.v1.get_default_graph()
  if variable not in graph.get_collection(CUSTOM_VARIABLES):
    graph.add_to_collection(CUSTOM_VARIABLES, variable)


def var_name(variable: Any) -> str:
  """Returns a variable's name without the `:0` output suffix."""
  return _names.strip_output(variable.name)


@dataclasses.dataclass(frozen=True, eq=False)
class Target:
  """One logical variable of the graph that a checkpoint tensor can fill.

  Attributes:
    name: The full name (of the whole variable when partitioned).
    parts: The variable objects: one, or the partitions in offset order.
    slices: Per part, the RestoreV2 slice spec ('' for a whole variable).
    shape: The full shape.
    dtype: The base dtype.
    trainable: Whether the variable is trainable.
    validate_shape: False for a variable made with `validate_shape=False`:
      a checkpoint tensor of any shape (and its dtype) loads into it, as
      with TF's restore.
  """

  name: str
  parts: tuple[Any, ...]
  slices: tuple[str, ...]
  shape: tf.TensorShape
  dtype: tf.DType
  trainable: bool = True
  validate_shape: bool = True

  @property
  def is_partitioned(self) -> bool:
    return bool(self.slices[0])

  @property
  def is_custom(self) -> bool:
    return isinstance(self.parts[0], CustomVariable)


def _whole(variable: Any) -> Target:
  if isinstance(variable, CustomVariable):
    return Target(variable.name, (variable,), ('',),
                  tf.TensorShape(variable.shape),
                  tf.as_dtype(variable.dtype).base_dtype)
  return Target(var_name(variable), (variable,), ('',), variable.shape,
                variable.dtype.base_dtype,
                bool(getattr(variable, 'trainable', True)),
                _tf_compat.validates_shape(variable))


def _grouped(full_name: str, parts: Sequence[Any]) -> Target:
  """Builds the Target of a partitioned variable from its parts."""
  names = set()
  for part in parts:
    # Checked before sorting by offset: a whole variable has no offset.
    part_info = _tf_compat.save_slice_info(part)
    if part_info is None or part_info.full_name != full_name:
      raise _errors.SettingsError(
          'Slices must all be parts of one partitioned variable: %r is not '
          'a part of %r.' % (var_name(part), full_name))
    names.add(var_name(part))
  parts = sorted(parts, key=lambda v: tuple(
      _tf_compat.save_slice_info(v).var_offset))
  info = _tf_compat.save_slice_info(parts[0])
  if len(names) != len(parts):
    raise _errors.ConflictError(
        'The same part of %r is listed twice: %s.' %
        (full_name, _errors.preview(var_name(p) for p in parts)))
  return Target(full_name, tuple(parts),
                tuple(_tf_compat.save_slice_info(p).spec for p in parts),
                tf.TensorShape(info.full_shape), parts[0].dtype.base_dtype,
                bool(getattr(parts[0], 'trainable', True)))


def target_of(value: Any) -> Target:
  """Returns the Target of a variable object, its parts, or a custom variable.

  Args:
    value: A `tf.Variable`, a `PartitionedVariable`, a list of the parts of
      one partitioned variable, or a `CustomVariable`.

  Raises:
    TypeError: `value` is none of these.
    SettingsError: a list mixes parts of different variables.
  """
  if _tf_compat.is_partitioned_variable(value):
    value = _tf_compat.partitioned_variable_parts(value)
  if isinstance(value, (list, tuple)):
    if not value or not all(is_variable(v) for v in value):
      raise TypeError('An assignment-map value list must hold the parts of '
                      'one partitioned variable, got %r.' % (value,))
    if len(value) == 1 and _tf_compat.save_slice_info(value[0]) is None:
      return _whole(value[0])
    info = _tf_compat.save_slice_info(value[0])
    if info is None:
      raise _errors.SettingsError(
          'A list of variables in an assignment map must be the parts of one '
          'partitioned variable; %r is not partitioned.' % var_name(value[0]))
    return _grouped(info.full_name, value)
  if isinstance(value, CustomVariable):
    return _whole(value)
  if is_variable(value):
    info = _tf_compat.save_slice_info(value)
    if info is not None:
      return _grouped(info.full_name, [value])
    return _whole(value)
  raise TypeError('Expected a variable, a partitioned variable, a list of its '
                  'parts or a warmstart.CustomVariable, got %r of type %s.' %
                  (value, type(value).__name__))


def foreign_part(target: Target, graph: Optional[tf.Graph]) -> Optional[str]:
  """The name of a part of `target` that is not in `graph`, or None.

  Custom variables have no graph and always pass; so does any target when
  `graph` is None.
  """
  if graph is None or target.is_custom:
    return None
  for part in target.parts:
    if getattr(part, 'graph', graph) is not graph:
      return var_name(part)
  return None


def is_variable(value: Any) -> bool:
  """True for any `tf.Variable` (ref, resource or distributed)."""
  return isinstance(value, tf.Variable)


def _graph_variables(graph: tf.Graph) -> Iterable[Any]:
  yield from _tf_compat.variable_store_vars(graph).values()
  for key in (tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
              tf.compat.v1.GraphKeys.LOCAL_VARIABLES,
              tf.compat.v1.GraphKeys.MODEL_VARIABLES):
    yield from graph.get_collection(key)


def collect(graph: Optional[tf.Graph] = None) -> Mapping[str, Target]:
  """Returns every variable of `graph`, one Target per logical variable.

  Args:
    graph: The graph; the default graph when None.

  Returns:
    An insertion-ordered mapping from full name to `Target`.

  Raises:
    ConflictError: a registered custom variable has the name of another
      variable.
  """
  graph = graph or tf.compat.v1.get_default_graph()
  trainable = {id(v) for v in graph.get_collection(
      tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)}
  variables = [v for v in _graph_variables(graph) if is_variable(v)]
  # `tf.Variable(...)` under a tf.distribute strategy in graph mode puts each
  # per-replica component in the collections too (and only the components in
  # the trainable one): keep the distributed variable, which fills them all.
  components: set[int] = set()
  for variable in variables:
    if _tf_compat.is_distributed(variable):
      ids = {id(c) for c in _tf_compat.distributed_components(variable)}
      components |= ids
      if ids & trainable:
        trainable.add(id(variable))
  whole: dict[str, Any] = {}
  partitions: dict[str, dict[str, Any]] = {}
  for variable in variables:
    if id(variable) in components:
      continue
    info = _tf_compat.save_slice_info(variable)
    if info is not None:
      partitions.setdefault(info.full_name, {})[var_name(variable)] = variable
    else:
      whole.setdefault(var_name(variable), variable)
  targets: dict[str, Target] = {}
  for name, variable in whole.items():
    target = _whole(variable)
    if id(variable) not in trainable:
      target = dataclasses.replace(target, trainable=False)
    targets[name] = target
  for full_name, parts in partitions.items():
    target = _grouped(full_name, list(parts.values()))
    if not any(id(p) in trainable for p in target.parts):
      target = dataclasses.replace(target, trainable=False)
    targets[full_name] = target
  for custom in graph.get_collection(CUSTOM_VARIABLES):
    if custom.name in targets:
      clash = targets[custom.name]
      raise _errors.ConflictError(
          'Custom variable %r (%s) has the name of %s: maps and regexes '
          'could not tell them apart. Give the custom variable another name.'
          % (custom.name, type(custom).__name__,
             'another registered custom variable' if clash.is_custom else
             'a variable of the graph'))
    targets[custom.name] = _whole(custom)
  return targets


def local_variable_names(graph: Optional[tf.Graph] = None) -> frozenset[str]:
  """Names of the graph's local variables (metrics, input counters...).

  Saver checkpoints never hold them, so scope maps leave them alone, as TF's
  `init_from_checkpoint` does for the `tf.compat.v1.metrics` variables.
  """
  graph = graph or tf.compat.v1.get_default_graph()
  global_ids = {id(v) for v in graph.get_collection(
      tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)}
  names = set()
  for variable in graph.get_collection(tf.compat.v1.GraphKeys.LOCAL_VARIABLES):
    if id(variable) in global_ids or not is_variable(variable):
      continue
    info = _tf_compat.save_slice_info(variable)
    names.add(info.full_name if info is not None else var_name(variable))
  return frozenset(names)


def global_step_names(graph: Optional[tf.Graph] = None) -> frozenset[str]:
  """Names of the graph's global step variable(s)."""
  graph = graph or tf.compat.v1.get_default_graph()
  names = {var_name(v) for v in graph.get_collection(
      tf.compat.v1.GraphKeys.GLOBAL_STEP)}
  return frozenset(names | {'global_step'})


def is_plain_resource(part: Any) -> bool:
  """True for a plain resource variable part (not custom, not distributed)."""
  return (not isinstance(part, CustomVariable) and
          not _tf_compat.is_distributed(part) and
          part.op.type == 'VarHandleOp')


def plain_row_parts(parts: Sequence[Any]) -> bool:
  """True for plain resource parts split along axis 0 only (streamable)."""
  for part in parts:
    if not is_plain_resource(part):
      return False
    info = _tf_compat.save_slice_info(part)
    if info is not None and any(info.var_offset[1:]):
      return False
  return True
