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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Optional, TypeVar

import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart._restore import _assign
from warmstart._restore import _stream
from warmstart._restore import _transform
from warmstart._restore import _vocab_remap
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _variables

#: Collection holding the entries applied to a graph (conflict detection).
#: A tuple key, like TF's variable store: graphs export only string-keyed
#: collections, so saving a meta graph does not warn about these entries.
APPLIED_ENTRIES = ('warmstart_applied_entries',)


def _set_value(entry: _plan.Entry) -> None:
  """Each part starts at `action_params['value']` (`global_step=N`)."""
  for part in entry.target.parts:
    _assign.assign_op(part, tf.constant(entry.action_params['value'],
                                        dtype=part.dtype.base_dtype,
                                        shape=part.shape))


#: action name -> function(entry) that builds that entry's initializers.
_ACTION_BUILDERS: dict[str, Callable[[_plan.Entry], None]] = {
    _vocab_remap.ACTION: _vocab_remap.build,
    _plan.SET: _set_value,
}


#: The name scope of the restore ops: TF's `init_from_checkpoint` names its
#: own 'checkpoint_initializer', and code (TF's tests among it) finds restore
#: ops by that name.
OP_SCOPE = 'checkpoint_initializer'

#: What a caller may hand over to `apply_plan`: {id(variable part): its
#: initializer}, each an `AssignVariableOp` of the part's own handle whose
#: value nothing needs (the creation-time scope's stand-ins, `_scope`). A
#: whole restore of such a part rewires that op's inputs (the value read, the
#: batched handle) instead of building another assign, which would leave the
#: first dead in the graph. Nothing else of the caller is known here.
ReusableInitializers = Mapping[int, tf.Operation]


def register_action(action: str, builder: Callable[[_plan.Entry],
                                                   None]) -> None:
  """Registers how entries with a non-batched `action` are restored.

  Args:
    action: The `Entry.action` name, e.g. 'vocab_remap'.
    builder: Called with each such entry (whose `target` is set); builds and
      installs the initializers of the entry's variable parts.
  """
  if action in _plan.BATCHED + (_plan.SKIP,):
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


@tf.autograph.experimental.do_not_convert
def once_for_all_replicas(build: Callable[[], _T]) -> _T:
  """Runs `build` once, in cross-replica context, and returns its result.

  In a replica context of a `tf.distribute` strategy (a model_fn under
  `MirroredStrategy`), `merge_call` runs `build` once, in the first replica's
  call, and hands its result to every replica, as TF's `init_from_checkpoint`
  does. `build` is plain Python that builds ops: it is not autograph-converted.
  """
  if tf.distribute.in_cross_replica_context():
    return build()

  # Called as merge_fn(strategy, ...); autograph (on in a replica function
  # that call_for_each_replica converted) must not convert it either.
  @tf.autograph.experimental.do_not_convert
  def merge_fn(*_):
    return build()

  return tf.distribute.get_replica_context().merge_call(merge_fn)


class _Read:
  """One tensor (or slice) to read, and the part it fills."""

  __slots__ = ('tensor', 'slice_spec', 'dtype', 'shape', 'part', 'nbytes',
               'overlap')

  def __init__(self, tensor: str, slice_spec: str, dtype: tf.DType,
               shape: Optional[tf.TensorShape], part: Any, nbytes: int,
               overlap: Optional[list[int]] = None):
    self.tensor = tensor
    self.slice_spec = slice_spec
    # The dtype in the checkpoint (cast to the part's when it differs).
    self.dtype = dtype
    # The static shape to give the value read, or None to leave it unknown.
    self.shape = shape
    self.part = part
    self.nbytes = nbytes
    # A resize's block: the value read fills [0, overlap) of the part, the
    # rest keeps the part's own initial value. None: the value is the part.
    self.overlap = overlap

  def value_of_part(self, value: tf.Tensor) -> tf.Tensor:
    """The part's new value from the `value` read (cast, resized)."""
    dtype = self.part.dtype.base_dtype
    if value.dtype != dtype:
      value = tf.cast(value, dtype)
    if self.overlap is not None:
      rank = len(self.overlap)
      # The part's own initial value, read before its initializer becomes
      # the restore: what a cold start gives the cells outside the block.
      value = tf.raw_ops.TensorStridedSliceUpdate(
          input=tf.convert_to_tensor(self.part.initial_value),
          begin=[0] * rank, end=self.overlap, strides=[1] * rank, value=value)
    return value


def _read_of_part(entry: _plan.Entry, index: int) -> Optional[_Read]:
  """The read that fills part `index` of `entry`'s target (None: no read)."""
  target = entry.target
  part = target.parts[index]
  read_dtype = tf.as_dtype(entry.action_params.get('checkpoint_dtype',
                                                   target.dtype.name))
  info = _tf_compat.save_slice_info(part) if entry.slices[index] else None
  if entry.action == _plan.RESIZE:
    return _resized_read(entry, part, info, read_dtype)
  if info is not None:
    dims = tuple(info.var_shape)
    shape = tf.TensorShape(dims)
  else:
    dims = entry.shape  # The checkpoint's, equal to the variable's...
    # ...unless it was made with validate_shape=False: its handle keeps the
    # declared shape, which the assign's graph-time shape inference would
    # hold against the checkpoint's (as TF, leave the value's unknown).
    shape = target.shape if target.validate_shape else None
  # A full-extent spec makes RestoreV2 check the shape the plan saw, and
  # gives its output that static shape: not for a validate_shape=False
  # variable, whose assign's shape inference would hold it against the
  # declared shape.
  spec = entry.slices[index] or (
      _sources.full_extent_spec(dims) if target.validate_shape else '')
  return _Read(entry.tensor, spec, read_dtype, shape, part,
               _sources.tensor_bytes(dims, read_dtype))


def _resized_read(entry: _plan.Entry, part: Any, info: Any,
                  read_dtype: tf.DType) -> Optional[_Read]:
  """The read of the checkpoint block that overlaps one part (None: none).

  The part spans [offset, offset + shape) of the variable; the checkpoint
  tensor [0, old). Only their intersection is read (a slice spec over the
  checkpoint's full shape), and it lands at the part's origin.
  """
  old = [int(d) for d in entry.action_params['checkpoint_shape']]
  if info is not None:
    offset, shape = list(info.var_offset), list(info.var_shape)
  else:
    offset, shape = [0] * len(old), entry.target.shape.as_list()
  overlap = [max(0, min(o + n, d) - o) for o, n, d in zip(offset, shape, old)]
  if not all(overlap):
    return None  # The part lies wholly outside: its initializer stays.
  spec = '%s %s' % (' '.join(str(d) for d in old), ':'.join(
      '%d,%d' % (o, n) for o, n in zip(offset, overlap)))
  return _Read(entry.tensor, spec, read_dtype, tf.TensorShape(overlap), part,
               _sources.tensor_bytes(overlap, read_dtype),
               overlap if overlap != shape else None)


def _read_key(read: _Read) -> tuple[str, str, tf.DType]:
  """What one `RestoreV2` output is: reads with the same key share it."""
  return read.tensor, read.slice_spec, read.dtype


def _chunks(reads: Sequence[_Read], max_bytes: int) -> list[list[_Read]]:
  """`reads` in chunks of at most `max_bytes` read (at least one read); the
  reads of one tensor slice (several variables from one tensor) go in one
  chunk and count once."""
  same: dict[tuple[str, str, tf.DType], list[_Read]] = {}
  for read in reads:
    same.setdefault(_read_key(read), []).append(read)
  chunks: list[list[_Read]] = []
  current: list[_Read] = []
  size = 0
  for group in same.values():
    if current and size + group[0].nbytes > max_bytes:
      chunks.append(current)
      current, size = [], 0
    current.extend(group)
    size += group[0].nbytes
  if current:
    chunks.append(current)
  return chunks


def _build_reads(prefix: str, device: str, reads: Sequence[_Read],
                 reuse: ReusableInitializers) -> None:
  keys: dict[tuple[str, str, tf.DType], int] = {}
  for read in reads:
    keys.setdefault(_read_key(read), len(keys))
  with tf.device(device), tf.device('/cpu:0'):
    # Each tensor slice read once, however many variables take it.
    outputs = tf.raw_ops.RestoreV2(
        prefix=prefix,
        tensor_names=[tensor for tensor, _, _ in keys],
        shape_and_slices=[spec for _, spec, _ in keys],
        dtypes=[dtype for _, _, dtype in keys],
        name='restore')
  values = [outputs[keys[_read_key(read)]] for read in reads]
  # Plain resource variables get the same assign as `assign_op` builds, but
  # per device one scope and, where TF allows, one batched handle op for all
  # of them (half the nodes the first session.run must set up). A part whose
  # own initializer nothing else needs (`reuse`) has that op rewired to the
  # value read and the batched handle instead: no second assign, none left
  # dead in the graph.
  by_device: dict[str, list[tuple[Any, tf.Tensor, Optional[tf.Operation]]]]
  by_device = {}
  for read, value in zip(reads, values):
    if read.shape is not None:
      value.set_shape(read.shape)
    if read.overlap is not None or read.dtype != read.part.dtype.base_dtype:
      with tf.device(device), tf.device('/cpu:0'):
        value = read.value_of_part(value)
    if _assign.is_plain_resource(read.part):
      by_device.setdefault(read.part.handle.device, []).append(
          (read.part, value, reuse.get(id(read.part))))
    else:
      _assign.assign_op(read.part, value)
  for handle_device, items in by_device.items():
    with tf.device(handle_device):
      handles = _tf_compat.batched_handles([p.handle for p, _, _ in items])
      if handles is None:
        handles = [p.handle for p, _, _ in items]
      for (part, value, op), handle in zip(items, handles):
        if op is None:
          op = _tf_compat.assign_variable(handle, value)
        else:
          if handle is not part.handle:
            _tf_compat.update_input(op, 0, handle)
          _tf_compat.update_input(op, 1, value)
        _tf_compat.set_initializer(part, op, value)


def apply_plan(plan: _plan.Plan,
               options: Optional[_options.Options] = None,
               graph: Optional[tf.Graph] = None,
               *,
               log_summary: bool = True,
               reuse_initializers: Optional[ReusableInitializers] = None
              ) -> None:
  """Installs the restore initializers of every entry of `plan`.

  Args:
    plan: A plan from `make_plan` (its entries must carry their `target`).
    options: For `max_chunk_bytes`.
    graph: The graph of the plan's variables (default graph when None).
    log_summary: Log the plan's summary line now (a caller that learns only
      later whether the restores run logs it then).
    reuse_initializers: Initializers handed over for reuse
      (`ReusableInitializers`).

  Raises:
    SettingsError: an entry has no target (a plan read back from JSON) or an
      action nobody registered.
  """
  if not isinstance(plan, _plan.Plan):
    raise _errors.SettingsError(
        'apply_plan takes a warmstart.Plan (from make_plan), got %r of type '
        '%s.' % (plan, type(plan).__name__))
  if options is not None and not isinstance(options, _options.Options):
    raise _errors.SettingsError(
        'apply_plan options must be a warmstart.Options, got %r of type %s.' %
        (options, type(options).__name__))
  with no_gc():
    _apply_plan(plan, options or _options.Options(),
                graph or tf.compat.v1.get_default_graph(),
                reuse_initializers or {})
  if log_summary:
    logging.info('%s', plan.summary())
  if logging.level_debug():
    logging.debug('Warm-start plan:\n%s', plan.table())


def _streamed_parts(entry: _plan.Entry) -> Optional[
    tuple[_stream.Stored, list[tuple[Any, int, int, Optional[list[int]],
                                     bool]]]]:
  """How a partitioned entry's parts take rows of one stream, or None.

  For a variable in several parts along axis 0 read from a tensor stored
  whole or in row slices (restore, cast or resize): per part (part, first
  stored row, stop, the trailing overlap or None, whether the part keeps
  cells of its own initial value). None where the parts are not plain
  resource variables split along axis 0 only, the tensor cannot be
  streamed (`_stream.stored`), or the parts' own reads take each stored
  row once already (`_read_once_each`).
  """
  target = entry.target
  if len(target.parts) < 2 or not _variables.plain_row_parts(target.parts):
    return None
  saved = tf.as_dtype(entry.action_params.get('checkpoint_dtype',
                                              target.dtype.name))
  old = [int(d) for d in entry.action_params.get('checkpoint_shape',
                                                 entry.shape)]
  new = target.shape.as_list()
  if len(old) != len(new) or any(d is None for d in new):
    return None
  layout = []
  for part in target.parts:
    info = _tf_compat.save_slice_info(part)
    if info is None or list(info.var_shape[1:]) != new[1:]:
      return None
    offset, rows = int(info.var_offset[0]), int(info.var_shape[0])
    stop = min(offset + rows, old[0])
    trailing = [min(a, b) for a, b in zip(old[1:], new[1:])]
    whole = stop - offset == rows and trailing == new[1:]
    layout.append((part, offset, stop,
                   None if old[1:] == new[1:] else trailing, not whole))
  source = _stream.stored(entry.source, entry.tensor, old, saved)
  if source is None or _read_once_each(source, layout):
    return None
  return source, layout


def _read_once_each(source: _stream.Stored,
                    layout: Sequence[tuple[Any, int, int, Any, bool]]) -> bool:
  """Whether the parts' own `RestoreV2`s read each stored row once: a
  tensor stored in slices that no two parts share (the partitioning it was
  saved with), which one batched read serves as well as a stream."""
  if len(source.pieces) < 2:
    return False
  bounds = source.bounds
  readers = [0] * len(source.pieces)
  for _, first, stop, _, _ in layout:
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
      if first < hi and lo < stop:
        readers[i] += 1
  return max(readers) <= 1


def _build_streams(streamed: Sequence[tuple[_plan.Entry, tuple[
    _stream.Stored, Sequence[tuple[Any, int, int, Optional[list[int]],
                                   bool]]]]],
                   max_chunk_bytes: int) -> None:
  """Loads every part of the streamed entries (`_stream`): one read of each
  tensor, shared by every variable that takes it."""
  by_tensor: dict[tuple[Any, ...], tuple[_stream.Stored, list[Any]]] = {}
  for _, (source, layout) in streamed:
    key = (source.prefix, source.tensor, source.shape, source.dtype)
    destinations = by_tensor.setdefault(key, (source, []))[1]
    for part, first, stop, trailing, keeps_own in layout:
      if first >= stop:
        continue  # Wholly outside the checkpoint's rows: its own initializer.
      base = None
      if keeps_own:
        # Cells outside the checkpoint's block keep the part's own initial
        # value, read before its initializer becomes the restore.
        with tf.device(part.handle.device):
          base = _tf_compat.assign_variable(
              part.handle, tf.convert_to_tensor(part.initial_value))
      destinations.append(_stream.PartRows(part, first, stop, trailing, base))
  for source, destinations in by_tensor.values():
    if destinations:
      _stream.stream(
          source, destinations, max_chunk_bytes,
          after=[d.base for d in destinations if d.base is not None])
    for destination in destinations:
      _stream.initialize(destination.part, destination.ops)


def _apply_plan(plan: _plan.Plan, options: _options.Options, graph: tf.Graph,
                reuse: ReusableInitializers) -> None:
  groups: dict[tuple[str, str], list[_Read]] = {}
  custom: list[_plan.Entry] = []
  transformed: list[_plan.Entry] = []
  streamed = []
  staged = dict(plan.staged_sources)
  for entry in plan.restored:
    target = entry.target
    if target is None:
      raise _errors.SettingsError(
          'Plan entry %r has no variable object: plans read back from JSON '
          'can be inspected but not applied; build the plan in this graph.' %
          entry.variable)
    if entry.action == _plan.TRANSFORM:
      transformed.append(entry)
      continue
    if entry.action not in _plan.BATCHED:
      if entry.action not in _ACTION_BUILDERS:
        raise _errors.SettingsError(
            'Plan entry %r has action %r, which no builder handles. Known '
            'actions: %s.' % (entry.variable, entry.action,
                              ', '.join([_plan.RESTORE] +
                                        sorted(_ACTION_BUILDERS))))
      custom.append(entry)
      continue
    streaming = _streamed_parts(entry)
    if streaming is not None:
      streamed.append((entry, streaming))
      continue
    for i, part in enumerate(target.parts):
      read = _read_of_part(entry, i)
      if read is not None:
        # A staged copy is read by this process (which staged it and sees
        # the cache), not on the variable's task: in a cluster, a ps may
        # not see this machine's cache directory.
        device = ('' if entry.source in staged else
                  _assign.device_group(part))
        groups.setdefault((entry.source, device), []).append(read)
  # Like variables' own initializers, the restore ops are built outside any
  # control-flow branch and free of the caller's control dependencies.
  with graph.as_default(), tf.init_scope(), tf.name_scope(OP_SCOPE):
    for (prefix, device), reads in groups.items():
      for chunk in _chunks(reads, options.max_chunk_bytes):
        _build_reads(prefix, device, chunk, reuse)
    _build_streams(streamed, options.max_chunk_bytes)
    if transformed:
      _transform.build_all(transformed)
    for entry in custom:
      if entry.action == _vocab_remap.ACTION:
        _vocab_remap.build(entry, options.max_chunk_bytes)
      else:
        _ACTION_BUILDERS[entry.action](entry)
  applied = graph.get_collection_ref(APPLIED_ENTRIES)
  applied.extend(plan.restored)


def applied_entries(graph: Optional[tf.Graph] = None) -> list[_plan.Entry]:
  """The entries already applied to `graph` by earlier warm starts."""
  graph = graph or tf.compat.v1.get_default_graph()
  return list(graph.get_collection(APPLIED_ENTRIES))

