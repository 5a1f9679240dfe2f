"""Stand-in initial values: a restored variable's initializer is never built.

A warm start replaces the initializer of every variable it restores, so the
ops of that initializer (seven for Glorot) are built, shipped to the session
and placed for nothing. Under `StandIns` (a variable creator), a variable
that the checkpoint and settings will restore whole gets a stand-in initial
value instead (one placeholder op); its initializer callable is kept, not
called. Once the plan is made:

* a variable the plan restores whole (restore, cast): every op that read the
  stand-in (its old initializer, another variable's initial value built from
  it, such as a moving average's) reads the restored value;
* any other (skipped, not selected, resized, remapped, a conflict, or the
  warm start failed): the kept callable builds the initial value exactly
  where and as it would have been built (name scope, attrs, devices, op
  seeds) and everything that read the stand-in reads it.

Either way no op is left reading a stand-in. Op seeds: a stand-in reserves
the seeds its initializer would have drawn from the graph seed, so every
random op keeps the seed it has without stand-ins; when that count is not
known (an initializer that is not TensorFlow's own), a seeded graph builds
the initializer as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

import tensorflow as tf
from absl import logging

from warmstart import _plan
from warmstart import _planning
from warmstart import _restore
from warmstart._scope import _prediction
from warmstart._scope import _tf_rebuild
from warmstart import _tf_compat


#: (initializer type, dtype, shape, distribution) -> op seeds drawn (-1: the
#: initializer failed to build in a scratch graph). The shape is part of the
#: key: some initializers draw a number of seeds that depends on it (TF's
#: ConvolutionOrthogonal2D: 4k - 3 for a k x k kernel).
_DRAWS: dict[tuple[Any, ...], int] = {}


def _seed_draws(fn: Callable[[], Any], dtype: tf.DType,
                shape: tf.TensorShape) -> Optional[int]:
  """How many op seeds `fn` draws from a graph seed (None: not known)."""
  initializer = _tf_rebuild.initializer_object(fn)
  if not _tf_rebuild.is_tensorflow_initializer(initializer):
    return None
  seed, distribution = _tf_rebuild.initializer_seed_key(initializer)
  if seed is not None:
    return 0  # An op-level seed: the graph's counter is not used.
  key = (type(initializer), dtype, tuple(shape.as_list()), distribution)
  draws = _DRAWS.get(key)
  if draws is None:
    scratch = tf.Graph()
    with scratch.as_default():
      scratch.seed = 1
      try:
        fn()
        draws = _tf_rebuild.seed_draws(scratch)
      except (TypeError, ValueError):
        draws = -1
    _DRAWS[key] = draws
  return None if draws < 0 else draws


@dataclasses.dataclass(eq=False)
class _StandIn:
  """One variable's stand-in and what builds its real initial value.

  Attributes:
    tensor: The stand-in (a placeholder).
    fn: The variable's initial value callable, kept.
    dtype: Its base dtype.
    context: Where its initial value would have been built.
    draws: The op seeds its initializer would have drawn (reserved).
    name: The variable's (or part's) name.
    variable: The variable, once it exists.
  """

  __slots__ = ('tensor', 'fn', 'dtype', 'context', 'draws', 'name',
               'variable')
  tensor: tf.Tensor
  fn: Callable[[], Any]
  dtype: tf.DType
  context: _tf_rebuild.BuildContext
  draws: int
  name: str
  variable: Any


def _owners(variable: Any) -> list[Any]:
  """The variable and, when distributed, its components."""
  if variable is None:
    return []
  if _tf_compat.is_distributed(variable):
    return [variable] + list(_tf_compat.distributed_components(variable))
  return [variable]


def _owner_of(stand_in: _StandIn) -> Any:
  """The stand-in's variable, or the graph variable whose initial value it is
  (a creator raised before the variable reached this one)."""
  if stand_in.variable is not None:
    return stand_in.variable
  graph = stand_in.tensor.graph
  name = stand_in.tensor.name
  for key in (tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
              tf.compat.v1.GraphKeys.LOCAL_VARIABLES):
    for variable in graph.get_collection(key):
      initial = _tf_rebuild.initial_value_tensor(variable)
      if initial is not None and getattr(initial, 'name', None) == name:
        return variable
  return None


def _read_instead(stand_in: _StandIn, value: tf.Tensor,
                  own_value: tf.Tensor) -> None:
  """Every op reading the stand-in reads `value` (its variable's initializer
  `own_value`)."""
  initializers = {
      owner.initializer.name
      for owner in _owners(_owner_of(stand_in))
      if getattr(owner, 'initializer', None) is not None
  }
  name = stand_in.tensor.name
  for op in stand_in.tensor.consumers():
    for i, tensor in enumerate(op.inputs):
      if tensor.name == name:
        _tf_compat.update_input(op, i, own_value
                                if op.name in initializers else value)


def _assigns_stand_in(stand_in: _StandIn) -> bool:
  """True when the stand-in's variable is a plain resource variable whose
  initializer is an AssignVariableOp of the stand-in itself."""
  variable = stand_in.variable
  if variable is None or not _restore.is_plain_resource(variable):
    return False
  initializer = variable.initializer
  return (initializer.type == 'AssignVariableOp' and
          initializer.inputs[0] is variable.handle and
          initializer.inputs[1].name == stand_in.tensor.name)


class StandIns:
  """The variable creator of one warm start and the stand-ins it gave.

  Use as a context manager around the code that creates the variables, then
  pass it to `plan_and_apply`. An exception in the block builds
  every real initial value (the graph is as if built without it).
  """

  def __init__(self, sources: Sequence[_planning.Source]):
    """Reads the sources' indexes (an unreadable one predicts nothing)."""
    self._predictor = _prediction.Predictor(sources)
    self._lock = threading.Lock()
    self._pending: list[_StandIn] = []
    self._whole: list[_StandIn] = []
    self._scope: Optional[contextlib.AbstractContextManager] = None

  @property
  def count(self) -> int:
    """How many variables have a stand-in not yet resolved."""
    return len(self._pending) + len(self._whole)

  def __enter__(self) -> StandIns:
    if self._scope is not None:
      raise RuntimeError('StandIns is already in use.')
    self._scope = tf.variable_creator_scope(self._creator)
    self._scope.__enter__()
    return self

  def __exit__(self, exc_type, exc, tb) -> bool:
    scope, self._scope = self._scope, None
    scope.__exit__(exc_type, exc, tb)
    if exc_type is not None:
      try:
        self.release()
      except Exception:  # pylint: disable=broad-except
        logging.exception('warmstart: could not build the initial values of '
                          'the variables given a stand-in.')
    return False

  def _creator(self, next_creator: Callable[..., Any], **kwargs: Any) -> Any:
    fn = kwargs.get('initial_value')
    shape = kwargs.get('shape')
    dtype = kwargs.get('dtype')
    if (not callable(fn) or _tf_rebuild.is_checkpoint_initial_value(fn) or
        kwargs.get('variable_def') is not None or
        kwargs.get('validate_shape') is False or dtype is None or
        shape is None or not tf.TensorShape(shape).is_fully_defined()):
      return next_creator(**kwargs)
    trainable = kwargs.get('trainable')
    if trainable is None:
      trainable = (kwargs.get('synchronization') !=
                   tf.VariableSynchronization.ON_READ)
    made: list[_StandIn] = []
    kwargs['initial_value'] = functools.partial(
        self._initial_value, fn, tf.as_dtype(dtype).base_dtype,
        tf.TensorShape(shape), bool(trainable),
        tuple(kwargs.get('collections') or ()), made)
    variable = None
    try:
      variable = next_creator(**kwargs)
    finally:
      # Also when a creator below raises once the variable exists: its
      # stand-in must still be resolved (the variable may be in the graph).
      for stand_in in made:
        stand_in.variable = variable
      with self._lock:
        self._pending.extend(made)
    return variable

  def _initial_value(self, fn: Callable[[], Any], dtype: tf.DType,
                     shape: tf.TensorShape, trainable: bool,
                     collections: tuple[str, ...],
                     made: list[_StandIn]) -> Any:
    """The variable's initial value: a stand-in, or `fn()` when not restored.

    Called where TF calls a variable's initial value callable, in the
    variable's 'Initializer' name scope.
    """
    graph = tf.compat.v1.get_default_graph()
    scope = graph.get_name_scope()
    name = _tf_rebuild.initializer_scope_owner(scope)
    if name is None:
      return fn()
    full_name, full_shape = name, shape.as_list()
    info = _tf_rebuild.partition_info(fn)
    if info is not None:
      full_name = _tf_rebuild.whole_variable_name(name)
      if full_name is None:
        return fn()
      full_shape = list(info.full_shape)
    if not self._predictor.restores_whole(
        full_name, full_shape, dtype, trainable,
        part=name if info is not None else None, collections=collections):
      return fn()
    context = _tf_rebuild.build_context(graph)
    if context is None:
      return fn()
    draws = 0
    if graph.seed is not None:
      draws = _seed_draws(fn, dtype, shape)
      if draws is None:
        return fn()
    tensor = _tf_rebuild.placeholder(dtype, shape, 'stand_in')
    _tf_rebuild.reserve_seed_draws(graph, draws)
    made.append(_StandIn(tensor, fn, dtype, context, draws, name, None))
    return tensor

  def _take(self) -> list[_StandIn]:
    with self._lock:
      taken = self._pending + self._whole
      self._pending, self._whole = [], []
    return taken

  def _build(self, stand_in: _StandIn) -> None:
    """Builds the real initial value of a variable not restored whole."""
    with _tf_rebuild.rebuilding(stand_in.context) as drawn:
      value = tf.convert_to_tensor(stand_in.fn(), dtype=stand_in.dtype,
                                   name='initial_value')
      own_value = _tf_rebuild.guard_initial_value(stand_in.name + '/', value)
    if drawn and drawn[0] != stand_in.draws:
      logging.warning(
          'warmstart: the initializer of %r drew %d op seed(s), %d were '
          'reserved: random ops built after it may draw other seeds than '
          'without a warm start.', stand_in.name, drawn[0], stand_in.draws)
    _read_instead(stand_in, value, own_value)
    for owner in _owners(_owner_of(stand_in)):
      initial = _tf_rebuild.initial_value_tensor(owner)
      if initial is not None and initial.name == stand_in.tensor.name:
        _tf_compat.set_initializer(owner, owner.initializer, value)

  def _build_all(self, stand_ins: Sequence[_StandIn]) -> None:
    """Builds each one's real initial value, even when another fails (the
    first failure is raised)."""
    error = None
    for stand_in in stand_ins:
      try:
        self._build(stand_in)
      except Exception as e:  # pylint: disable=broad-except
        error = error or e
    if error is not None:
      raise error

  def release(self) -> None:
    """Builds every unresolved variable's real initial value."""
    self._build_all(self._take())

  @contextlib.contextmanager
  def applying(self, plan: _plan.Plan) -> Iterator[dict[int, tf.Operation]]:
    """Resolves the stand-ins around the application of `plan`.

    Before: the variables `plan` does not restore whole get their real
    initial value (a resize or remap reads it). After: what read the
    stand-in of a restored variable reads its restored value.

    Yields:
      {id(variable): its initializer} of the plain resource variables
      restored whole whose initializer assigns their stand-in: the restore
      may make that op its own (rewire its inputs) instead of building
      another assign, which would leave this one dead in the graph.
    """
    whole = set()
    for entry in plan.restored:
      if entry.action in (_plan.RESTORE, _plan.CAST, _plan.TRANSFORM):
        for part in entry.target.parts:
          # A creator outside the strategy's sees its components.
          whole.update(id(v) for v in _owners(part))
    with self._lock:
      pending, self._pending = self._pending, []
      restoring = [s for s in pending if id(s.variable) in whole]
      self._whole.extend(restoring)
    reusable = [s for s in restoring if _assigns_stand_in(s)]
    # What the restore replaces, put back if the application fails.
    before = [(owner, _tf_rebuild.initializer_state(owner))
              for s in restoring for owner in _owners(s.variable)]
    try:
      self._build_all([s for s in pending if id(s.variable) not in whole])
      yield {id(s.variable): s.variable.initializer for s in reusable}
    except BaseException:
      for owner, state in before:
        _tf_rebuild.set_initializer_state(owner, state)
      for stand_in in reusable:
        variable = stand_in.variable
        for i, tensor in enumerate((variable.handle, stand_in.tensor)):
          if variable.initializer.inputs[i].name != tensor.name:
            _tf_compat.update_input(variable.initializer, i, tensor)
      self.release()
      raise
    with self._lock:
      restored, self._whole = self._whole, []
    for stand_in in restored:
      value = stand_in.variable.initial_value
      _read_instead(stand_in, value, value)
