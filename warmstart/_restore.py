"""Turns a validated `Plan` into batched restore initializers.

One RestoreV2 per (source, device job/task, chunk of at most
`max_chunk_bytes`) reads every tensor of that group, on CPU, and each
variable's initializer becomes one assign from its output. Values are read
when the initializers run: at session creation, through a Scaffold or
`global_variables_initializer`, exactly like TF's `init_from_checkpoint`, but
with one read op per group instead of one per variable.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Optional, TypeVar

import tensorflow as tf
from absl import logging

from warmstart import _assign
from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _vocab_remap

#: Collection holding the entries applied to a graph (conflict detection).
#: A tuple key, like TF's variable store: graphs export only string-keyed
#: collections, so saving a meta graph does not warn about these entries.
APPLIED_ENTRIES = ('warmstart_applied_entries',)

#: action name -> function(entry) that builds that entry's initializers.
_ACTION_BUILDERS: dict[str, Callable[[_plan.Entry], None]] = {
    _vocab_remap.ACTION: _vocab_remap.build,
}


def register_action(action: str, builder: Callable[[_plan.Entry],
                                                   None]) -> None:
  """Registers how entries with a non-batched `action` are restored.

  Args:
    action: The `Entry.action` name, e.g. 'vocab_remap'.
    builder: Called with each such entry (whose `target` is set); builds and
      installs the initializers of the entry's variable parts.
  """
  if action in (_plan.RESTORE, _plan.SKIP):
    raise ValueError('Action %r is built in.' % action)
  _ACTION_BUILDERS[action] = builder


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
  """Pauses Python's garbage collector; restores its previous state on exit.

  Building thousands of ops allocates enough objects to trigger full
  collections over the caller's whole heap (a large model's graph holds
  millions of Python objects): that, not our work, made warm starts of
  large models superlinear. Nothing built here makes reference cycles that
  need collecting before the next regular collection.

  Yields:
    None.
  """
  was_enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if was_enabled:
      gc.enable()


_T = TypeVar('_T')


def once_for_all_replicas(build: Callable[[], _T]) -> _T:
  """Runs `build` once, in cross-replica context, and returns its result.

  In a replica context of a `tf.distribute` strategy (a model_fn under
  `MirroredStrategy`), `merge_call` runs `build` once, in the first replica's
  call, and hands its result to every replica, as TF's `init_from_checkpoint`
  does. `build` is plain Python that builds ops: it is not autograph-converted.
  """
  if tf.distribute.in_cross_replica_context():
    return build()
  return tf.distribute.get_replica_context().merge_call(
      tf.autograph.experimental.do_not_convert(lambda _: build()))


class _Read:
  """One tensor (or slice) to read, and the part it fills."""

  __slots__ = ('tensor', 'slice_spec', 'dtype', 'shape', 'part', 'nbytes')

  def __init__(self, tensor: str, slice_spec: str, dtype: tf.DType,
               shape: Optional[tf.TensorShape], part: Any, nbytes: int):
    self.tensor = tensor
    self.slice_spec = slice_spec
    self.dtype = dtype
    # The static shape to give the value read, or None to leave it unknown.
    self.shape = shape
    self.part = part
    self.nbytes = nbytes


def _read_of_part(entry: _plan.Entry, index: int) -> _Read:
  """The read that fills part `index` of `entry`'s target."""
  target = entry.target
  part = target.parts[index]
  info = _tf_compat.save_slice_info(part) if entry.slices[index] else None
  if info is not None:
    dims = tuple(info.var_shape)
    shape = tf.TensorShape(dims)
  else:
    dims = entry.shape  # The checkpoint's, equal to the variable's...
    # ...unless it was made with validate_shape=False: its handle keeps the
    # declared shape, which the assign's graph-time shape inference would
    # hold against the checkpoint's (as TF, leave the value's unknown).
    shape = target.shape if target.validate_shape else None
  return _Read(entry.tensor, entry.slices[index], target.dtype, shape, part,
               _sources.tensor_bytes(dims, target.dtype))


def _chunks(reads: Sequence[_Read], max_bytes: int) -> list[list[_Read]]:
  chunks: list[list[_Read]] = []
  current: list[_Read] = []
  size = 0
  for read in reads:
    if current and size + read.nbytes > max_bytes:
      chunks.append(current)
      current, size = [], 0
    current.append(read)
    size += read.nbytes
  if current:
    chunks.append(current)
  return chunks


def _build_reads(prefix: str, device: str, reads: Sequence[_Read]) -> None:
  with tf.device(device), tf.device('/cpu:0'):
    values = tf.raw_ops.RestoreV2(
        prefix=prefix,
        tensor_names=[r.tensor for r in reads],
        shape_and_slices=[r.slice_spec for r in reads],
        dtypes=[r.dtype for r in reads],
        name='restore')
  # Plain resource variables get the same assign as `assign_op` builds, but
  # per device one scope and, where TF allows, one batched handle op for all
  # of them (half the nodes the first session.run must set up).
  by_device: dict[str, list[tuple[Any, tf.Tensor]]] = {}
  for read, value in zip(reads, values):
    if read.shape is not None:
      value.set_shape(read.shape)
    if _assign.is_plain_resource(read.part):
      by_device.setdefault(read.part.handle.device, []).append(
          (read.part, value))
    else:
      _assign.assign_op(read.part, value)
  for handle_device, items in by_device.items():
    with tf.device(handle_device):
      handles = _tf_compat.batched_handles([p.handle for p, _ in items])
      if handles is None:
        handles = [p.handle for p, _ in items]
      for (part, value), handle in zip(items, handles):
        op = _tf_compat.assign_variable(handle, value)
        _tf_compat.set_initializer(part, op, value)


def apply_plan(plan: _plan.Plan,
               options: Optional[_options.Options] = None,
               graph: Optional[tf.Graph] = None) -> None:
  """Installs the restore initializers of every entry of `plan`.

  Args:
    plan: A plan from `make_plan` (its entries must carry their `target`).
    options: For `max_chunk_bytes`.
    graph: The graph of the plan's variables (default graph when None).

  Raises:
    SettingsError: an entry has no target (a plan read back from JSON) or an
      action nobody registered.
  """
  with no_gc():
    _apply_plan(plan, options or _options.Options(),
                graph or tf.compat.v1.get_default_graph())
  logging.info('%s', plan.summary())
  if logging.level_debug():
    logging.debug('Warm-start plan:\n%s', plan.table())


def _apply_plan(plan: _plan.Plan, options: _options.Options,
                graph: tf.Graph) -> None:
  groups: dict[tuple[str, str], list[_Read]] = {}
  custom: list[_plan.Entry] = []
  for entry in plan.restored:
    target = entry.target
    if target is None:
      raise _errors.SettingsError(
          'Plan entry %r has no variable object: plans read back from JSON '
          'can be inspected but not applied; build the plan in this graph.' %
          entry.variable)
    if entry.action != _plan.RESTORE:
      if entry.action not in _ACTION_BUILDERS:
        raise _errors.SettingsError(
            'Plan entry %r has action %r, which no builder handles. Known '
            'actions: %s.' % (entry.variable, entry.action,
                              ', '.join([_plan.RESTORE] +
                                        sorted(_ACTION_BUILDERS))))
      custom.append(entry)
      continue
    for i, part in enumerate(target.parts):
      groups.setdefault((entry.source, _assign.device_group(part)), []).append(
          _read_of_part(entry, i))
  # Like variables' own initializers, the restore ops are built outside any
  # control-flow branch and free of the caller's control dependencies.
  with graph.as_default(), tf.init_scope(), tf.name_scope('warm_start'):
    for (prefix, device), reads in groups.items():
      for chunk in _chunks(reads, options.max_chunk_bytes):
        _build_reads(prefix, device, chunk)
    for entry in custom:
      _ACTION_BUILDERS[entry.action](entry)
  applied = graph.get_collection_ref(APPLIED_ENTRIES)
  applied.extend(plan.restored)


def applied_entries(graph: Optional[tf.Graph] = None) -> list[_plan.Entry]:
  """The entries already applied to `graph` by earlier warm starts."""
  graph = graph or tf.compat.v1.get_default_graph()
  return list(graph.get_collection(APPLIED_ENTRIES))
