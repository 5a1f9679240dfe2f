"""Vocabulary remapping: warm-start the rows or columns of a variable by token.

When the vocabulary of an embedding or of an output layer changes between the
checkpoint and the current model, row `i` of the new variable must come from
the row of the checkpoint tensor whose old-vocabulary token equals the new
token `i`, and rows of new tokens and OOV buckets from a backup initializer.
TF's `warm_start` does this with its `GenerateVocabRemapping` and
`LoadAndRemapMatrix` kernels; this module plans such a restore (validated
before any op exists, as an entry with action `'vocab_remap'`) and builds it
with the same kernels, giving TF's values exactly. Beyond TF it also remaps:

* 1-D variables (a bias over the vocabulary; TF raises `IndexError`);
* any float dtype (TF's kernel is float32 only);
* with a backup initializer TF cannot call (a Keras initializer,
  `tf.constant_initializer`, Glorot, ...): TF calls the initializer with a
  shape holding a tensor (the number of missing values), which these reject.
  Then each missing value is the one the initializer gives that position of
  the variable (part), and a warning says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart import _planning
from warmstart._restore import _assign
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _variables
from warmstart import _vocab_info

#: The `Entry.action` of a vocabulary remap.
ACTION = _plan.VOCAB_REMAP


@dataclasses.dataclass(frozen=True, eq=False)
class VocabTarget(_variables.Target):
  """A `Target` that also carries the live backup initializer to call."""

  backup_initializer: Any = None


_line_counts: dict[tuple[str, int, int], int] = {}


def _count_lines(path: str) -> int:
  """Lines of a vocabulary file (cached by path, mtime and size)."""
  stat = tf.io.gfile.stat(path)
  key = (path, stat.mtime_nsec, stat.length)
  if key not in _line_counts:
    count = 0
    with tf.io.gfile.GFile(path, 'rb') as f:
      for _ in f:
        count += 1
    _line_counts[key] = count
  return _line_counts[key]


def _partition_axis(target: _variables.Target) -> Optional[int]:
  """The axis a partitioned variable is split along (None when whole)."""
  if not target.is_partitioned or target.is_custom:
    return None
  axes = set()
  for part in target.parts:
    info = _tf_compat.save_slice_info(part)
    axes.update(i for i, (full, size) in enumerate(
        zip(info.full_shape, info.var_shape)) if full != size)
  return min(axes) if axes else None


def _problem(target: _variables.Target, checkpoint: _sources.Checkpoint,
             tensor: str, rule: str, reason: str, error: type[_errors.Error],
             skip: bool, problems: _errors.Problems) -> Optional[_plan.Entry]:
  if skip:
    return _planning.skipped_entry(target, checkpoint.prefix, tensor, rule,
                                  reason)
  problems.add(error, 'Variable %r (rule %r): %s.' % (target.name, rule,
                                                        reason))
  return None


def plan_entry(target: _variables.Target, tensor: str,
               checkpoint: _sources.Checkpoint, info: _vocab_info.VocabInfo,
               options: _options.Options, problems: _errors.Problems,
               rule: str) -> Optional[_plan.Entry]:
  """Validates one vocabulary remap into an entry (None on a problem).

  Checked now rather than when the session starts: the vocabulary files exist
  and are long enough; the variable is 1-D or 2-D, floating, with
  `new_vocab_size + num_oov_buckets` entries along `axis` (and not split along
  the other axis); the checkpoint tensor exists, has the variable's rank and
  dtype, the same size along the other axis, and a row (column) for every old
  vocabulary entry used.

  Args:
    target: The variable.
    tensor: The checkpoint tensor name.
    checkpoint: The source.
    info: Its vocabulary information.
    options: `skip_missing` and `skip_mismatched` turn problems of the tensor
      into skipped entries; bad vocabulary files and unsupported variables are
      always errors.
    problems: Where problems are recorded.
    rule: What selected the variable, for messages.

  Returns:
    An entry with action `ACTION`, a skipped entry, or None.
  """
  where = 'Variable %r (rule %r)' % (target.name, rule)
  for field in ('new_vocab', 'old_vocab'):
    path = getattr(info, field)
    if not tf.io.gfile.exists(path):
      problems.add(_errors.SettingsError,
                   '%s: VocabInfo.%s file %r does not exist.' %
                   (where, field, path))
      return None
  new_lines = _count_lines(info.new_vocab)
  old_lines = _count_lines(info.old_vocab)
  if new_lines < info.new_vocab_size:
    problems.add(
        _errors.SettingsError,
        '%s: VocabInfo.new_vocab_size is %d but new_vocab %r has only %d '
        'lines.' % (where, info.new_vocab_size, info.new_vocab, new_lines))
    return None
  if info.old_vocab_size > old_lines:
    problems.add(
        _errors.SettingsError,
        '%s: VocabInfo.old_vocab_size is %d but old_vocab %r has only %d '
        'lines.' % (where, info.old_vocab_size, info.old_vocab, old_lines))
    return None
  rank = target.shape.rank
  axis = info.axis
  if target.is_custom or rank not in (1, 2) or axis >= rank:
    problems.add(
        _errors.SettingsError,
        '%s: a vocabulary remap needs a 1-D or 2-D variable with the '
        'vocabulary along axis %d; it has shape %s%s.' %
        (where, axis, target.shape, ' and is a custom variable'
         if target.is_custom else ''))
    return None
  if not target.dtype.is_floating:
    problems.add(
        _errors.SettingsError,
        '%s: a vocabulary remap needs a floating-point variable, it is %s.' %
        (where, target.dtype.name))
    return None
  split = _partition_axis(target)
  if split not in (None, 0):
    problems.add(
        _errors.SettingsError,
        '%s: a vocabulary remap needs a variable partitioned along axis 0; '
        'it is partitioned along axis %d.' % (where, split))
    return None
  expected = info.new_vocab_size + info.num_oov_buckets
  if target.shape[axis] != expected:
    problems.add(
        _errors.MismatchError,
        '%s: has %s entries along axis %d, but VocabInfo has new_vocab_size '
        '%d + num_oov_buckets %d = %d.' %
        (where, target.shape[axis], axis, info.new_vocab_size,
         info.num_oov_buckets, expected))
    return None
  if tensor not in checkpoint:
    reason = 'tensor %r is not in checkpoint %s' % (tensor, checkpoint.prefix)
    if not options.skip_missing:
      reason += '.' + _errors.did_you_mean(tensor, checkpoint.shapes)
      reason = reason.rstrip('.')
    return _problem(target, checkpoint, tensor, rule, reason,
                    _errors.TensorNotFoundError, options.skip_missing,
                    problems)
  ckpt_shape = tuple(checkpoint.shapes[tensor])
  ckpt_dtype = checkpoint.dtypes[tensor].base_dtype
  used_old = info.old_vocab_size if info.old_vocab_size > 0 else old_lines
  mismatch = []
  if len(ckpt_shape) != rank:
    mismatch.append('shape %s in the checkpoint, %s in the graph (a vocabulary '
                    'remap keeps the rank)' %
                    (list(ckpt_shape), target.shape))
  else:
    if rank == 2 and ckpt_shape[1 - axis] != target.shape[1 - axis]:
      mismatch.append('%d entries along axis %d in the checkpoint, %s in the '
                      'graph' % (ckpt_shape[1 - axis], 1 - axis,
                                 target.shape[1 - axis]))
    if ckpt_shape[axis] < used_old:
      mismatch.append(
          '%d entries along axis %d in the checkpoint, fewer than the %d '
          'old vocabulary entries used (set VocabInfo.old_vocab_size to the '
          'size the checkpoint was trained with)' %
          (ckpt_shape[axis], axis, used_old))
  if ckpt_dtype != target.dtype:
    mismatch.append('dtype %s in the checkpoint, %s in the graph' %
                    (ckpt_dtype.name, target.dtype.name))
  if mismatch:
    reason = 'tensor %r has %s' % (tensor, ' and '.join(mismatch))
    return _problem(target, checkpoint, tensor, rule, reason,
                    _errors.MismatchError, options.skip_mismatched, problems)
  fields = {f.name: getattr(target, f.name)
            for f in dataclasses.fields(_variables.Target)}
  return _plan.Entry(
      variable=target.name,
      shape=tuple(target.shape.as_list()),
      dtype=target.dtype.name,
      source=checkpoint.prefix,
      tensor=tensor,
      slices=target.slices,
      action=ACTION,
      rule=rule,
      reason='vocabulary remap along axis %d: %s (%d + %d OOV) from %s' %
      (axis, info.new_vocab, info.new_vocab_size, info.num_oov_buckets,
       info.old_vocab),
      action_params={
          'new_vocab': info.new_vocab,
          'new_vocab_size': info.new_vocab_size,
          'num_oov_buckets': info.num_oov_buckets,
          'old_vocab': info.old_vocab,
          'old_vocab_size': info.old_vocab_size,
          'backup_initializer': _vocab_info.describe_initializer(
              info.backup_initializer),
          'axis': axis,
          'checkpoint_shape': list(ckpt_shape),
      },
      target=VocabTarget(**fields,
                         backup_initializer=info.backup_initializer))


# --- Building the remap ops -------------------------------------------------


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


def _remapped(entry: _plan.Entry, backup: _Backup, shape: list[int],
              num_rows: int, row_remap: tf.Tensor,
              num_rows_present: tf.Tensor, col_remap: Optional[tf.Tensor],
              num_cols_present: Any, num_cols: int,
              kernel: bool) -> tf.Tensor:
  """The [num_rows, num_cols] block read from the checkpoint and remapped."""
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
  old = tf.raw_ops.RestoreV2(
      prefix=entry.source, tensor_names=[entry.tensor],
      shape_and_slices=[_sources.full_extent_spec(
          entry.action_params['checkpoint_shape'])],
      dtypes=[target.dtype])[0]
  old = tf.reshape(old, [entry.action_params['checkpoint_shape'][0], -1])
  cols = col_remap if col_remap is not None else tf.range(
      num_cols, dtype=tf.int64)
  present = tf.logical_and(row_remap[:, None] >= 0, cols[None, :] >= 0)
  gathered = tf.gather(
      tf.gather(old, tf.maximum(row_remap, 0), axis=0),
      tf.maximum(cols, 0), axis=1)
  position = tf.cumsum(
      tf.reshape(tf.cast(tf.logical_not(present), tf.int64), [-1])) - 1
  # One padding value, so that the gather is valid when nothing is missing.
  init_vals = tf.concat([tf.cast(init_vals, target.dtype),
                         tf.zeros([1], target.dtype)], 0)
  filler = tf.reshape(tf.gather(init_vals, tf.maximum(position, 0)),
                      [num_rows, num_cols])
  return tf.where(present, gathered, filler)


def _part_value(entry: _plan.Entry, index: int) -> tf.Tensor:
  """The initial value of one part, as TF's `_warm_start_var_with_vocab`."""
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
    row_remap, num_rows_present = tf.raw_ops.GenerateVocabRemapping(
        new_vocab_file=opts['new_vocab'], old_vocab_file=opts['old_vocab'],
        new_vocab_offset=offset, num_new_vocab=num_rows,
        old_vocab_size=opts['old_vocab_size'])
    col_remap, num_cols_present = None, num_cols
  else:
    row_remap = tf.range(offset, offset + num_rows, dtype=tf.int64)
    num_rows_present = num_rows
    col_remap, num_cols_present = tf.raw_ops.GenerateVocabRemapping(
        new_vocab_file=opts['new_vocab'], old_vocab_file=opts['old_vocab'],
        new_vocab_offset=0, num_new_vocab=num_cols)
  value = _remapped(entry, backup, shape if matrix else [shape[0], 1],
                    num_rows, row_remap, num_rows_present, col_remap,
                    num_cols_present, num_cols,
                    kernel=matrix and target.dtype == tf.float32)
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


def build(entry: _plan.Entry) -> None:
  """Installs the remapping initializer of every part of `entry`'s variable.

  `_restore` builds every entry with action `ACTION` with it.
  """
  target = entry.target
  if not isinstance(target, VocabTarget):
    raise _errors.SettingsError(
        'Plan entry %r (action %r) was not built by warmstart.VocabInfo '
        'planning; rebuild the plan in this graph.' % (entry.variable, ACTION))
  for index, part in enumerate(target.parts):
    with tf.device(_assign.device_group(part)), tf.device('/cpu:0'):
      value = _part_value(entry, index)
    _assign.assign_op(part, value)
  logging.debug('Remapping %s from %s tensor %r by vocabulary.',
                entry.variable, entry.source, entry.tensor)

