"""The TensorFlow internals the creation-time scope relies on, each named here.

The stand-ins (`_stand_ins`) build a variable's initializer later, exactly
where and as TF would have built it, and recognize TF's own initializers and
variable-creation conventions. None of that has a public API. Each hook, why,
and the test in `tests/tf_rebuild_test.py` that fails loudly if a TF
upgrade breaks it:

* `initializer_scope_owner`, `whole_variable_name`: the name scope TF builds
  a variable's initial value in (`<variable>/Initializer`) and a partition's
  name (`<variable>/part_<i>`) (`NamingTest`).
* `partition_info`, `initializer_object`, `is_tensorflow_initializer`,
  `initializer_seed_key`: what `get_variable` hands a variable creator as its
  initial value (a `functools.partial` of the initializer, with
  `partition_info`), and whether that initializer is TF's own (whose op-seed
  draws can be counted) (`InitialValueCallableTest`).
* `initial_value_tensor`, `initializer_state`, `set_initializer_state`: a
  variable's private `_initial_value` and `_initializer_op`, read and put
  back (`InitializerStateTest`).
* `build_context`, `rebuilding`, `seed_draws`, `reserve_seed_draws`: where an
  op is being built (name scope, attr scope, device and colocation stacks,
  the graph's count of random-op seeds), kept to build an initializer later
  as it would have been built (`RebuildingTest`).
* `placeholder`, `guard_initial_value`, `is_checkpoint_initial_value`: a
  stand-in tensor, TF's guard of an initial value against uninitialized
  variables, TF2's restore-on-create initial values (`StandInOpsTest`).

The core's hooks (`set_initializer`, `update_input`, ...) stay in
`warmstart._tf_compat`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from typing import Any, Callable, Optional

import tensorflow as tf

# As in `warmstart._tf_compat`: builds an op from ready tensors and AttrValues.
_CREATE_OP = getattr(tf.Graph, '_create_op_internal', None)

# --- How TF names and hands over a variable's initial value -----------------

#: The name scope TF builds a variable's initial value in, after its name.
_INITIALIZER_SCOPE = '/Initializer'
#: A partition of a partitioned variable: `<variable>/part_<i>`.
_PART = re.compile(r'(.*)/part_\d+$')
#: The modules of TensorFlow's own initializers (their op-seed draws are
#: counted in a scratch graph).
_TF_INITIALIZER_MODULES = ('tensorflow.python.ops.init_ops',
                           'tensorflow.python.ops.init_ops_v2')


def initializer_scope_owner(name_scope: str) -> Optional[str]:
  """The variable whose initial value is built in `name_scope` (else None).

  TF builds a variable's initial value under `<variable name>/Initializer`.
  """
  if not name_scope.endswith(_INITIALIZER_SCOPE):
    return None
  return name_scope[:-len(_INITIALIZER_SCOPE)]


def whole_variable_name(part_name: str) -> Optional[str]:
  """`emb` for a partition named `emb/part_3`; None for any other name."""
  match = _PART.match(part_name)
  return match.group(1) if match else None


def partition_info(fn: Callable[[], Any]) -> Optional[Any]:
  """The `partition_info` `get_variable` bound into a partition's initial
  value callable (a `functools.partial` of the initializer); else None."""
  return getattr(fn, 'keywords', {}).get('partition_info')


def initializer_object(fn: Callable[[], Any]) -> Optional[Any]:
  """The initializer behind `get_variable`'s initial value callable."""
  return getattr(fn, 'func', None)


def is_tensorflow_initializer(initializer: Any) -> bool:
  """True for an initializer object of TF's own `init_ops` modules."""
  return type(initializer).__module__ in _TF_INITIALIZER_MODULES


def initializer_seed_key(initializer: Any) -> tuple[Optional[int], Any]:
  """(op-level seed, distribution) of one of TF's initializer objects."""
  return (getattr(initializer, 'seed', None),
          getattr(initializer, 'distribution', None))


def initial_value_tensor(variable: Any) -> Optional[Any]:
  """The variable's own `_initial_value` (None when it has none)."""
  return getattr(variable, '_initial_value', None)


# --- A variable's initializer, read and put back ----------------------------

_INITIALIZER_ATTRS = ('_initializer_op', '_initial_value')
_ABSENT = object()


def initializer_state(variable: Any) -> dict[str, Any]:
  """What `set_initializer` changes, as the variable holds it now.

  Read from the instance's own attributes: a distributed variable's
  `initializer` property would group a new op, and its `__getattr__` would
  answer for a component.
  """
  own = vars(variable)
  return {name: own.get(name, _ABSENT) for name in _INITIALIZER_ATTRS}


def set_initializer_state(variable: Any, state: dict[str, Any]) -> None:
  """Puts back an `initializer_state`."""
  own = vars(variable)
  for name, value in state.items():
    if value is _ABSENT:
      own.pop(name, None)
    else:
      own[name] = value

# --- Building an op later, as it would have been built earlier --------------


@dataclasses.dataclass(frozen=True, eq=False)
class BuildContext:
  """Where an op was about to be built: enough to build it there later.

  Attributes:
    graph: The graph.
    name_scope: The name scope ('' at the root).
    attrs: The graph's attr scope (e.g. a variable initializer's `_class`).
    devices: A copy of the device function stack.
    colocation: A copy of the colocation stack.
    seed: The graph-level seed.
    seed_draws: How many random ops of the graph had drawn an op seed from
      it (`tf.random.set_seed`'s per-graph counter).
  """

  graph: tf.Graph
  name_scope: str
  attrs: dict[str, Any]
  devices: Any
  colocation: Any
  seed: Optional[int]
  seed_draws: int


def _seed_counter() -> Any:
  from tensorflow.python.framework import random_seed  # pylint: disable=g-import-not-at-top
  return random_seed._graph_to_seed_dict  # pylint: disable=protected-access


def seed_draws(graph: tf.Graph) -> int:
  """How many random ops of `graph` took their op seed from the graph's."""
  return _seed_counter().get(graph, 0)


def reserve_seed_draws(graph: tf.Graph, count: int) -> None:
  """Counts `count` op seeds as drawn: the next random op gets the one after.

  An initializer not built now would have drawn them: every random op built
  after it keeps the seed it has without the stand-in.
  """
  if count:
    counter = _seed_counter()
    counter[graph] = counter.get(graph, 0) + count


def build_context(graph: tf.Graph) -> Optional[BuildContext]:
  """The context ops are being built in, or None where it cannot be kept.

  None inside a v1 control-flow construct (a v2 `cond`/`while_loop` body is
  a function graph of its own, whose context is returned) or under control
  dependencies (a variable's initial value is built in neither:
  `tf.init_scope`), or when this TF lacks the graph state used.
  """
  # pylint: disable=protected-access
  try:
    if (graph._get_control_flow_context() is not None or
        graph._control_dependencies_for_inputs([])):
      return None
    return BuildContext(
        graph=graph,
        name_scope=graph.get_name_scope(),
        attrs=dict(graph._attr_scope_map),
        devices=graph._device_function_stack.copy(),
        colocation=graph._colocation_stack.copy(),
        seed=graph.seed,
        seed_draws=seed_draws(graph))
  except AttributeError:
    return None
  # pylint: enable=protected-access


@contextlib.contextmanager
def rebuilding(context: BuildContext) -> Iterator[list[int]]:
  """Builds ops as if in `context`; yields a list that gets the seeds drawn.

  The name scope, attr scope, device and colocation stacks and graph seed
  are those of `context`, random ops draw the op seeds they would have drawn
  then, and everything is put back on exit (the seed counter too: the draws
  were reserved when `context` was taken).
  """
  # pylint: disable=protected-access
  graph = context.graph
  counter = _seed_counter()
  saved = (graph._attr_scope_map, graph._device_function_stack,
           graph._colocation_stack, graph.seed, counter.get(graph))
  drawn = []
  with graph.as_default(), graph.control_dependencies(None):
    with graph.name_scope((context.name_scope + '/') if context.name_scope
                          else None):
      graph._attr_scope_map = dict(context.attrs)
      graph._device_function_stack = context.devices.copy()
      graph._colocation_stack = context.colocation.copy()
      graph.seed = context.seed
      counter[graph] = context.seed_draws
      try:
        yield drawn
        drawn.append(counter.get(graph, 0) - context.seed_draws)
      finally:
        (graph._attr_scope_map, graph._device_function_stack,
         graph._colocation_stack, graph.seed, count) = saved
        if count is None:
          counter.pop(graph, None)
        else:
          counter[graph] = count
  # pylint: enable=protected-access


def placeholder(dtype: tf.DType, shape: tf.TensorShape,
                name: str) -> tf.Tensor:
  """A `Placeholder` of `dtype` and `shape` in the default graph."""
  graph = tf.compat.v1.get_default_graph()
  if _CREATE_OP is None:
    return tf.raw_ops.Placeholder(dtype=dtype, shape=shape, name=name)
  from tensorflow.core.framework import attr_value_pb2  # pylint: disable=g-import-not-at-top
  attrs = {
      'dtype': attr_value_pb2.AttrValue(type=dtype.as_datatype_enum),
      'shape': attr_value_pb2.AttrValue(shape=shape.as_proto()),
  }
  return _CREATE_OP(graph, 'Placeholder', [], [dtype], name=name,
                    attrs=attrs).outputs[0]


def guard_initial_value(name: str, value: tf.Tensor) -> tf.Tensor:
  """TF's guard of a variable's initial value (reads of other variables).

  The value a variable's own initializer assigns: reads of other variables
  in `value` become their initialized values, as `tf.Variable` does.
  """
  from tensorflow.python.ops import variables  # pylint: disable=g-import-not-at-top
  return variables._try_guard_against_uninitialized_dependencies(  # pylint: disable=protected-access
      name, value)


def is_checkpoint_initial_value(value: Any) -> bool:
  """True for TF2's restore-on-create initial value callable."""
  from tensorflow.python.trackable import base  # pylint: disable=g-import-not-at-top
  return isinstance(value, base.CheckpointInitialValueCallable)
