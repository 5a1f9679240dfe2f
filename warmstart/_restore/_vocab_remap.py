"""Vocabulary remapping: warm-start the rows or columns of a variable by token.

When the vocabulary of an embedding or of an output layer changes between the
checkpoint and the current model, row `i` of the new variable must come from
the row of the checkpoint tensor whose old-vocabulary token equals the new
token `i`, and rows of new tokens and OOV buckets from a backup initializer.
TF's `warm_start` does this with its `GenerateVocabRemapping` and
`LoadAndRemapMatrix` kernels; this module builds the restore that
`_planning._vocab` planned, giving TF's values exactly: the remapping of a
vocabulary pair computed once by a sort-join (`_vocab_files`), and rows
streamed (`_stream`) or TF's `LoadAndRemapMatrix`. Beyond TF it also remaps:

* 1-D variables (a bias over the vocabulary; TF raises `IndexError`);
* any float dtype (TF's kernel is float32 only);
* with a backup initializer TF cannot call (a Keras initializer,
  `tf.constant_initializer`, Glorot, ...): TF calls the initializer with a
  shape holding a tensor (the number of missing values), which these reject.
  Then each missing value is the one the initializer gives that position of
  the variable (part), and a warning says so.
"""

from __future__ import annotations

import weakref
from typing import Any, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart._planning import _vocab
from warmstart._planning import _vocab_files
from warmstart._restore import _assign
from warmstart._restore import _stream
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _variables
from warmstart import _vocab_info

#: The `Entry.action` of a vocabulary remap.
ACTION = _plan.VOCAB_REMAP

class _Backup:
  """Calls the backup initializer TF's way, or by position when TF's fails."""

  def __init__(self, initializer: Any, part: Any, part_shape: list[int],
               dtype: tf.DType):
    self._init = initializer or tf.compat.v1.zeros_initializer()
    self._part = part
    self._part_shape = part_shape
    self._dtype = dtype
    self._full = None
    self._positional = isinstance(self._init, _vocab_info.OwnInitialValue)

  def full(self) -> tf.Tensor:
    """The initializer's value for the whole part (positional mode)."""
    if self._full is None:
      if isinstance(self._init, _vocab_info.OwnInitialValue):
        # Read before this part's initializer is replaced.
        value = tf.reshape(self._part.initial_value, self._part_shape)
      else:
        value = tf.convert_to_tensor(self._init(self._part_shape))
      self._full = tf.cast(value, self._dtype)
    return self._full

  def tf_call(self, shape: list[Any]) -> Optional[tf.Tensor]:
    """`initializer(shape)` as TF calls it, or None in positional mode.

    Positional mode starts at the first call the initializer cannot take
    (and then holds for the whole part, so its values stay consistent).
    """
    if self._positional:
      return None
    try:
      value = tf.convert_to_tensor(self._init(shape))
    except (TypeError, ValueError, NotImplementedError) as e:
      # Many initializers (Keras, constant, Glorot) need a static shape (they
      # raise one of these), so TF's warm_start fails on them: their value at
      # each missing position is used instead, as a cold start gives it.
      logging.warning(
          'Vocabulary remap: the backup initializer %r cannot take the '
          'dynamic shape TF gives it (%s: %s); new rows get its value at each '
          'position instead.', self._init, type(e).__name__, e)
      self._positional = True
      return None
    return tf.cast(value, self._dtype)


def _part_geometry(target: _variables.Target,
                   index: int) -> tuple[list[int], int]:
  """(shape, offset along axis 0) of one part."""
  info = _tf_compat.save_slice_info(target.parts[index])
  if info is None:
    return target.shape.as_list(), 0
  return list(info.var_shape), int(info.var_offset[0])


def _saved_dtype(entry: _plan.Entry) -> tf.DType:
  """The dtype of the tensor in the checkpoint (plans of older versions
  did not record it: then the variable's)."""
  saved = entry.action_params.get('checkpoint_dtype')
  return tf.as_dtype(saved) if saved else entry.target.dtype


def _remapped(entry: _plan.Entry, backup: _Backup, shape: list[int],
              num_rows: int, row_remap: tf.Tensor,
              num_rows_present: tf.Tensor, col_remap: Optional[tf.Tensor],
              num_cols_present: Any, num_cols: int,
              kernel: bool) -> tf.Tensor:
  """The [num_rows, num_cols] block read from the checkpoint and remapped.

  `kernel`: True: TF's `LoadAndRemapMatrix`; False: a read and gathers.
  """
  target = entry.target
  init_vals = backup.tf_call(
      [num_rows * num_cols - num_rows_present * num_cols_present, 1])
  if init_vals is None:
    rows_missing = row_remap < 0
    cols_missing = (col_remap < 0 if col_remap is not None else
                    tf.zeros([num_cols], tf.bool))
    missing_mask = tf.logical_or(rows_missing[:, None], cols_missing[None, :])
    block = tf.reshape(backup.full(), [shape[0], -1])[:num_rows, :num_cols]
    init_vals = tf.boolean_mask(block, missing_mask)
  init_vals = tf.reshape(init_vals, [-1])
  if kernel:
    # TF's own kernel, as TF's warm_start calls it.
    return tf.raw_ops.LoadAndRemapMatrix(
        ckpt_path=entry.source,
        old_tensor_name=entry.tensor,
        row_remapping=row_remap,
        col_remapping=(col_remap if col_remap is not None else tf.constant(
            [], tf.int64)),
        initializing_values=tf.cast(init_vals, tf.float32),
        num_rows=num_rows,
        num_cols=num_cols,
        max_rows_in_memory=-1)
  # Same result for other dtypes and 1-D variables (the kernel is float32 and
  # 2-D only): gather the present cells, fill the missing ones in row-major
  # order from the initializing values.
  saved = _saved_dtype(entry)
  old = tf.raw_ops.RestoreV2(
      prefix=entry.source, tensor_names=[entry.tensor],
      shape_and_slices=[_sources.full_extent_spec(
          entry.action_params['checkpoint_shape'])],
      dtypes=[saved])[0]
  if saved != target.dtype:
    old = tf.cast(old, target.dtype)  # cast=True.
  old = tf.reshape(old, [entry.action_params['checkpoint_shape'][0], -1])
  cols, filler = _filled(init_vals, row_remap, col_remap, num_rows, num_cols,
                         target.dtype)
  present = tf.logical_and(row_remap[:, None] >= 0, cols[None, :] >= 0)
  gathered = tf.gather(
      tf.gather(old, tf.maximum(row_remap, 0), axis=0),
      tf.maximum(cols, 0), axis=1)
  return tf.where(present, gathered, filler)


def _filled(init_vals: tf.Tensor, row_remap: tf.Tensor,
            col_remap: Optional[tf.Tensor], num_rows: int, num_cols: int,
            dtype: tf.DType) -> tuple[tf.Tensor, tf.Tensor]:
  """(the column remap, a [num_rows, num_cols] block whose missing cells
  hold `init_vals` in row-major order, as TF's kernel fills them)."""
  cols = col_remap if col_remap is not None else tf.range(
      num_cols, dtype=tf.int64)
  if col_remap is None:
    # Whole rows are missing: missing row k (in order) takes values
    # [k * num_cols, (k + 1) * num_cols): one gather of rows, no per-cell
    # index (which would be 8 bytes a cell: twice a float32 variable).
    before = tf.cumsum(tf.cast(row_remap < 0, tf.int64)) - 1
    rows = tf.concat([tf.reshape(tf.cast(init_vals, dtype), [-1, num_cols]),
                      tf.zeros([1, num_cols], dtype)], 0)
    return cols, tf.gather(rows, tf.maximum(before, 0))
  present = tf.logical_and(row_remap[:, None] >= 0, cols[None, :] >= 0)
  position = tf.cumsum(
      tf.reshape(tf.cast(tf.logical_not(present), tf.int64), [-1])) - 1
  # One padding value, so that the gather is valid when nothing is missing.
  init_vals = tf.concat([tf.cast(init_vals, dtype), tf.zeros([1], dtype)], 0)
  return cols, tf.reshape(tf.gather(init_vals, tf.maximum(position, 0)),
                          [num_rows, num_cols])


def _present(remap: tf.Tensor) -> tf.Tensor:
  """How many entries of a remapping take an old row (or column)."""
  return tf.reduce_sum(tf.cast(remap >= 0, tf.int64))


def _part_value(entry: _plan.Entry, index: int,
                remap: tf.Tensor) -> tf.Tensor:
  """The initial value of one part, as TF's `_warm_start_var_with_vocab`.

  `remap`: the whole new vocabulary's remapping (`_shared_remap`), which
  TF's `GenerateVocabRemapping` computes again for each part.
  """
  target = entry.target
  opts = entry.action_params
  axis = opts['axis']
  shape, offset = _part_geometry(target, index)
  matrix = len(shape) == 2
  backup = _Backup(target.backup_initializer, target.parts[index], shape,
                   target.dtype)
  total_rows = target.shape.as_list()[0]
  if axis == 0:
    # Rows past the vocabulary are OOV buckets.
    new_row_vocab_size = opts['new_vocab_size']
    num_cols = shape[1] if matrix else 1
    num_col_oov = 0
  else:
    new_row_vocab_size = total_rows
    num_cols = opts['new_vocab_size']
    num_col_oov = opts['num_oov_buckets']
  # This part's OOV rows and vocabulary rows, as TF's initializer counts them.
  row_oov = min(shape[0], max(0, offset + shape[0] - new_row_vocab_size))
  num_rows = shape[0] - row_oov
  if offset > new_row_vocab_size:
    # An OOV-only partition.
    value = backup.tf_call(shape)
    return value if value is not None else backup.full()
  if axis == 0:
    row_remap = remap[offset:offset + num_rows]
    num_rows_present = _present(row_remap)
    col_remap, num_cols_present = None, num_cols
  else:
    row_remap = tf.range(offset, offset + num_rows, dtype=tf.int64)
    num_rows_present = num_rows
    col_remap, num_cols_present = remap, _present(remap)
  value = _remapped(entry, backup, shape if matrix else [shape[0], 1],
                    num_rows, row_remap, num_rows_present, col_remap,
                    num_cols_present, num_cols,
                    kernel=(matrix and target.dtype == tf.float32 and
                            _saved_dtype(entry) == tf.float32))
  if row_oov > 0:
    oov = backup.tf_call([row_oov, num_cols])
    if oov is None:
      oov = tf.reshape(backup.full(), [shape[0], -1])[num_rows:, :num_cols]
    value = tf.concat([value, oov], 0)
  if num_col_oov > 0:
    oov = backup.tf_call([num_rows + row_oov, num_col_oov])
    if oov is None:
      oov = backup.full()[:, num_cols:]
    value = tf.concat([value, oov], 1)
  if not matrix:
    value = tf.reshape(value, shape)
  return tf.cast(value, target.dtype)


def _streamed_base(entry: _plan.Entry, index: int,
                   remap: tf.Tensor) -> tuple[tf.Tensor, Optional[tf.Tensor]]:
  """One part's value but for the rows the stream brings; its OOV rows.

  The rows of new tokens and the OOV rows take the backup initializer's
  values exactly as `_part_value` (TF) gives them: the same calls, in the
  same order, with the same shapes. The new tokens' rows are gathered into
  a tensor of the part's shape that becomes the variable's buffer (no copy
  of the part beside it), and the OOV rows, returned apart, are assigned
  into it after (None: none, or already in place). Falls back to
  `_part_value`'s structure where the initializer cannot take TF's calls
  (positional mode).

  Args:
    entry: A row remap (axis 0).
    index: The part.
    remap: The whole new vocabulary's row remapping (`_shared_remap`).
  """
  target = entry.target
  opts = entry.action_params
  shape, offset = _part_geometry(target, index)
  matrix = len(shape) == 2
  num_cols = shape[1] if matrix else 1
  backup = _Backup(target.backup_initializer, target.parts[index], shape,
                   target.dtype)
  vocab_size = opts['new_vocab_size']
  row_oov = min(shape[0], max(0, offset + shape[0] - vocab_size))
  num_rows = shape[0] - row_oov
  if offset > vocab_size:  # An OOV-only partition.
    value = backup.tf_call(shape)
    return (value if value is not None else backup.full()), None
  row_remap = remap[offset:offset + num_rows]
  missing = row_remap < 0
  num_missing = tf.reduce_sum(tf.cast(missing, tf.int64))
  init_vals = backup.tf_call([num_missing * num_cols, 1])
  oov = backup.tf_call([row_oov, num_cols]) if row_oov > 0 else None
  if init_vals is None or (row_oov > 0 and oov is None):
    # Positional: each missing cell is the initializer's value there.
    full = tf.reshape(backup.full(), [shape[0], num_cols])
    return tf.reshape(tf.cast(full, target.dtype), shape), None
  init_rows = tf.reshape(tf.cast(init_vals, target.dtype), [-1, num_cols])
  # Row k takes the missing row before it (or the first: rows the stream
  # overwrites take any row), from one row of zeros when none is missing.
  # The OOV rows are assigned after (`_streamed`).
  rows = tf.maximum(tf.cumsum(tf.cast(missing, tf.int32)) - 1, 0)
  if row_oov:
    rows = tf.concat([rows, tf.zeros([row_oov], tf.int32)], 0)
  table = tf.cond(num_missing > 0, lambda: init_rows,
                  lambda: tf.zeros([1, num_cols], target.dtype))
  value = tf.gather(table, rows)
  if oov is not None:
    oov = tf.reshape(tf.cast(oov, target.dtype), [row_oov] + shape[1:])
  return tf.reshape(value, shape), oov


class _RemappedRows(_stream.Destination):
  """Scatters the old rows a chunk holds to the new rows that take them.

  `order` sorts the new rows by the old row each takes (`remap_sorted`, -1
  first for those that take none): the new rows a chunk of old rows
  [first, stop) feeds are one contiguous run of `order`, found by binary
  search; their indices go to their parts with one `dynamic_partition`, and
  the stream's reader gathers each part's rows out of the chunk (`takes`,
  which keeps the new rows for the `deliver` of the same chunk that
  follows).
  """

  def __init__(self, parts: list[tuple[Any, int, tf.Operation]],
               order: tf.Tensor, remap_sorted: tf.Tensor, stop: int,
               dtype: tf.DType):
    self.dtype = dtype  # The stored tensor's.
    self.parts = parts
    self.order = order
    self.remap_sorted = remap_sorted
    self.first = 0
    self.stop = stop
    self.ops: dict[int, list[tf.Operation]] = {id(p): [] for p, _, _ in parts}

  def copies(self, source: _stream.Stored) -> int:
    # While the reader gathers a chunk's rows (each old row once), the rows
    # of the chunk before wait for their scatter; and a cast copies them.
    return 2 + int(source.dtype != self.parts[0][0].dtype.base_dtype)

  def takes(self, first: int, stop: int) -> _stream.Taking:
    """Per part, the chunk's rows it takes; `deliver` scatters them."""
    index = self.order.dtype
    bounds = tf.searchsorted(self.remap_sorted,
                             tf.constant([first, stop], index))
    size = bounds[1:] - bounds[:1]
    new_rows = tf.slice(self.order, bounds[:1], size)
    old_rows = tf.slice(self.remap_sorted, bounds[:1], size) - first
    if len(self.parts) == 1:
      self._new_rows, taken = [new_rows], [old_rows]
    else:
      starts = tf.constant([start for _, start, _ in self.parts], index)
      owner = tf.cast(tf.searchsorted(starts, new_rows, side='right') - 1,
                      tf.int32)
      self._new_rows = tf.dynamic_partition(new_rows, owner, len(self.parts))
      taken = tf.dynamic_partition(old_rows, owner, len(self.parts))
    # The gathered rows stay unaligned: TF copies them and numpy frees them
    # at once (a buffer TF takes is freed only at its next py_func call).
    return _stream.Taking(
        list(taken),
        lambda chunk, *rows: [np.take(chunk, r, axis=0) for r in rows],
        [self.dtype] * len(taken))

  def deliver(self, chunk: list[tf.Tensor], first: int,
              stop: int) -> list[tf.Operation]:
    ops = []
    for (part, start, base), rows, values in zip(self.parts, self._new_rows,
                                                 chunk):
      dtype = part.dtype.base_dtype
      if values.dtype != dtype:
        values = tf.cast(values, dtype)  # cast=True.
      with tf.device(part.handle.device), tf.control_dependencies([base]):
        op = tf.raw_ops.ResourceScatterUpdate(
            resource=part.handle, indices=rows - start, updates=values,
            name='scatter_rows')
      self.ops[id(part)].append(op)
      ops.append(op)
    return ops


class _RemappedColumns(_stream.Destination):
  """Rows of the stored tensor into the same rows of one part, their
  columns remapped (a column remap, axis 1), made by the stream's reader.

  The reader takes the columns old tokens give (`columns`) from the chunk's
  rows and puts the backup initializer's values (`init_rows`, TF's row-major
  order) in the others: one block, assigned into the part's rows.
  """

  def __init__(self, part: Any, first: int, base: tf.Operation,
               columns: tuple[tf.Tensor, tf.Tensor, tf.Tensor],
               init_rows: tf.Tensor, num_cols: int, dtype: tf.DType):
    self.part = part
    self.first = first
    self.stop = first + part.shape.as_list()[0]
    self.base = base
    self.columns = columns
    self.init_rows = init_rows
    self.num_cols = num_cols
    self.dtype = dtype
    self.ops: list[tf.Operation] = []

  def copies(self, source: _stream.Stored) -> int:
    del source
    return 1  # The block made of a chunk's rows.

  def takes(self, first: int, stop: int) -> _stream.Taking:
    lo, hi = max(first, self.first), min(stop, self.stop)
    if lo >= hi:
      return _stream.Taking([], lambda chunk: [], [])
    shape = (hi - lo, self.num_cols)
    np_dtype = self.dtype.as_numpy_dtype

    def make(chunk, present_new, present_old, missing_new, init):
      rows = chunk[lo - first:hi - first]
      # Unaligned: TF copies it and numpy frees it at once.
      block = np.empty(shape, np_dtype)
      block[:, present_new] = rows[:, present_old]
      block[:, missing_new] = init
      return [block]

    init = self.init_rows[lo - self.first:hi - self.first]
    return _stream.Taking(list(self.columns) + [init], make, [self.dtype])

  def deliver(self, chunk: list[tf.Tensor], first: int,
              stop: int) -> list[tf.Operation]:
    if not chunk:
      return []
    lo, hi = max(first, self.first), min(stop, self.stop)
    (block,) = chunk
    with tf.device(self.part.handle.device), tf.control_dependencies(
        [self.base]):
      op = tf.raw_ops.ResourceStridedSliceAssign(
          ref=self.part.handle, begin=[lo - self.first, 0],
          end=[hi - self.first, self.num_cols], strides=[1, 1], value=block,
          name='assign_columns')
    self.ops.append(op)
    return [op]


#: graph -> {(new vocab, size, old vocab, old size): remapping}: one
#: remapping per vocabulary pair, shared by every variable and part.
_SHARED: 'weakref.WeakKeyDictionary[tf.Graph, dict[Any, Any]]' = (
    weakref.WeakKeyDictionary())


def _shared_remap(opts: dict[str, Any]) -> tf.Tensor:
  """The remapping of the whole new vocabulary (`_vocab_files.remapping`),
  built once per graph and vocabulary pair, on the CPU of the process that
  runs the initializers (its `numpy_function` runs there).

  The planner computed it while checking the files: then the op takes that
  result (in the same process, files unchanged) and reads no file.
  """
  old_size = _vocab.old_vocab_size(opts)
  key = (opts['new_vocab'], opts['new_vocab_size'], opts['old_vocab'],
         old_size)
  cache = _SHARED.setdefault(tf.compat.v1.get_default_graph(), {})
  if key not in cache:
    def compute() -> np.ndarray:
      return _vocab_files.remapping(*key)

    with tf.device('/cpu:0'):
      remap = tf.numpy_function(compute, [], tf.int64, stateful=True,
                                name='vocab_remapping')
    remap.set_shape([opts['new_vocab_size']])
    cache[key] = remap
  return cache[key]


def _sorted_remap(remap: tf.Tensor,
                  old_rows: int) -> tuple[tf.Tensor, tf.Tensor]:
  """(the order sorting `remap` stably, the sorted remapping), once, in
  numpy (TF's argsort is a top-k with several temporaries of its size);
  int32 where the rows allow (half the memory)."""
  key = ('sorted', remap.name)
  cache = _SHARED.setdefault(remap.graph, {})
  if key not in cache:
    index = tf.int32 if max(remap.shape[0], old_rows) < 2**31 else tf.int64

    def sort(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
      order = np.argsort(values, kind='stable').astype(index.as_numpy_dtype)
      return order, values[order].astype(index.as_numpy_dtype)

    with tf.device('/cpu:0'):
      order, ordered = tf.numpy_function(sort, [remap], [index, index],
                                         stateful=False, name='sort_remapping')
    order.set_shape(remap.shape)
    ordered.set_shape(remap.shape)
    cache[key] = (order, ordered)
  return cache[key]


def _stored_of(entry: _plan.Entry) -> Optional[_stream.Stored]:
  """The tensor `entry` remaps, as a stream reads it (None: it cannot)."""
  return _stream.stored(
      entry.source, entry.tensor,
      [int(d) for d in entry.action_params['checkpoint_shape']],
      _saved_dtype(entry))


def _column_indices(remap: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor,
                                                tf.Tensor]:
  """(new columns an old one fills, those old columns, the new columns
  none fills) of a column remapping, once per graph."""
  key = ('columns', remap.name)
  cache = _SHARED.setdefault(remap.graph, {})
  if key not in cache:
    def split(values: np.ndarray) -> tuple[np.ndarray, ...]:
      present = np.flatnonzero(values >= 0)
      return present, values[present], np.flatnonzero(values < 0)

    with tf.device('/cpu:0'):
      cache[key] = tuple(tf.numpy_function(
          split, [remap], [tf.int64] * 3, stateful=False,
          name='column_indices'))
  return cache[key]


def _streamed_columns(entry: _plan.Entry, max_chunk_bytes: int) -> bool:
  """Builds a column remap (axis 1) from one stream of its tensor; False
  where it cannot (parts not plain resource parts along axis 0, a cast, a
  tensor `_stream.stored` cannot give).

  Each part takes the same rows of the tensor (the vocabulary is along the
  columns); TF's kernel reads the whole tensor for each part instead.
  """
  target = entry.target
  opts = entry.action_params
  if (len(target.parts) < 2 or target.shape.rank != 2 or
      not _variables.plain_row_parts(target.parts) or
      _saved_dtype(entry) != target.dtype):
    return False
  source = _stored_of(entry)
  if source is None:
    return False
  remap = _shared_remap(opts)
  columns = _column_indices(remap)
  num_cols, num_oov = opts['new_vocab_size'], opts['num_oov_buckets']
  destinations, own = [], []
  for index, part in enumerate(target.parts):
    shape, offset = _part_geometry(target, index)
    with tf.device(_assign.device_group(part)), tf.device('/cpu:0'):
      backup = _Backup(target.backup_initializer, part, shape, target.dtype)
      # TF's calls, in TF's order: the missing cells, then the OOV columns.
      init_vals = backup.tf_call(
          [shape[0] * num_cols - shape[0] * _present(remap), 1])
      oov = backup.tf_call([shape[0], num_oov]) if num_oov else None
    if init_vals is None or (num_oov and oov is None):
      own.append(index)  # Positional: TF's structure (`_part_value`).
      continue
    with tf.device(part.handle.device):
      base = _tf_compat.assign_variable(part.handle, tf.raw_ops.Empty(
          shape=shape, dtype=target.dtype, init=False))
      if oov is not None:
        with tf.control_dependencies([base]):
          base = tf.raw_ops.ResourceStridedSliceAssign(
              ref=part.handle, begin=[0, num_cols], end=shape,
              strides=[1, 1], value=tf.cast(oov, target.dtype),
              name='assign_oov_columns')
    init_rows = tf.reshape(tf.cast(init_vals, target.dtype), [shape[0], -1])
    destinations.append(_RemappedColumns(part, offset, base, columns,
                                         init_rows, num_cols, target.dtype))
  if destinations:
    _stream.stream(source, destinations, max_chunk_bytes,
                   after=[d.base for d in destinations])
  for d in destinations:
    _stream.initialize(d.part, [d.base] + d.ops)
  for index in own:
    part = target.parts[index]
    with tf.device(_assign.device_group(part)), tf.device('/cpu:0'):
      value = _part_value(entry, index, remap)
    _assign.assign_op(part, value)
  logging.debug('Remapping the columns of %s from %s tensor %r by '
                'vocabulary, streamed.', entry.variable, entry.source,
                entry.tensor)
  return True


def _streamed(entry: _plan.Entry, max_chunk_bytes: int) -> bool:
  """Builds `entry` from one stream of its tensor; False where it cannot.

  Row remaps (axis 0) of plain resource variables in parts along axis 0,
  from a tensor the checkpoint stores whole or in row slices
  (`_stream.stored`).
  """
  target = entry.target
  opts = entry.action_params
  if opts['axis'] == 1:
    return _streamed_columns(entry, max_chunk_bytes)
  if not _variables.plain_row_parts(target.parts):
    return False
  source = _stored_of(entry)
  if source is None:
    return False
  remap = _shared_remap(opts)
  parts, fresh = [], []
  for index, part in enumerate(target.parts):
    with tf.device(_assign.device_group(part)), tf.device('/cpu:0'):
      value, oov = _streamed_base(entry, index, remap)
    with tf.device(part.handle.device):
      base = _tf_compat.assign_variable(part.handle, value)
      if oov is not None:
        shape = part.shape.as_list()
        with tf.control_dependencies([base]):
          base = tf.raw_ops.ResourceStridedSliceAssign(
              ref=part.handle, begin=[shape[0] - oov.shape[0]] +
              [0] * (len(shape) - 1), end=shape, strides=[1] * len(shape),
              value=oov, name='assign_oov_rows')
    _, offset = _part_geometry(target, index)
    if offset < opts['new_vocab_size']:
      parts.append((part, offset, base))
    else:
      fresh.append((part, base))  # OOV rows only.
  stop = source.shape[0]
  if opts['old_vocab_size'] > 0:
    stop = min(stop, opts['old_vocab_size'])
  if parts and stop > 0:
    rows = _RemappedRows(parts, *_sorted_remap(remap, source.shape[0]), stop,
                         source.dtype)
    _stream.stream(source, [rows], max_chunk_bytes,
                   after=[base for _, _, base in parts])
    for part, _, base in parts:
      _stream.initialize(part, [base] + rows.ops[id(part)])
  else:
    fresh.extend((part, base) for part, _, base in parts)
  for part, base in fresh:
    _stream.initialize(part, [base])
  logging.debug('Remapping %s from %s tensor %r by vocabulary, streamed.',
                entry.variable, entry.source, entry.tensor)
  return True


def build(entry: _plan.Entry,
          max_chunk_bytes: int = _options.DEFAULT_CHUNK_BYTES) -> None:
  """Installs the remapping initializer of every part of `entry`'s variable.

  `_restore` builds every entry with action `ACTION` with it: streamed
  (`_streamed`: each row of the stored tensor read once, the remapping
  computed once per vocabulary pair) where it can, else with TF's kernels
  part by part.
  """
  target = entry.target
  if not isinstance(target, _vocab.VocabTarget):
    raise _errors.SettingsError(
        'Plan entry %r (action %r) was not built by warmstart.VocabInfo '
        'planning; rebuild the plan in this graph.' % (entry.variable, ACTION))
  if _streamed(entry, max_chunk_bytes):
    return
  remap = _shared_remap(entry.action_params)
  for index, part in enumerate(target.parts):
    with tf.device(_assign.device_group(part)), tf.device('/cpu:0'):
      value = _part_value(entry, index, remap)
    _assign.assign_op(part, value)
  logging.debug('Remapping %s from %s tensor %r by vocabulary.',
                entry.variable, entry.source, entry.tensor)

