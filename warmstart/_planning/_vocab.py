"""Plans vocabulary remaps: which rows (or columns) of a tensor fill a variable.

When the vocabulary of an embedding or of an output layer changes between the
checkpoint and the current model, row `i` of the new variable must come from
the row of the checkpoint tensor whose old-vocabulary token equals the new
token `i`, and rows of new tokens and OOV buckets from a backup initializer.
`plan_entry` checks such a restore (vocabulary files, sizes, shapes, dtypes,
partitioning) before any op exists and makes it an entry with action
`'vocab_remap'`, computing the old -> new remapping of the files on the
way (`_vocab_files`, kept for the restore); `_restore._vocab_remap` builds
it (streamed, or with TF's `LoadAndRemapMatrix`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import tensorflow as tf

from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart._planning import _checks
from warmstart._planning import _vocab_files
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


def old_vocab_size(info: Any) -> int:
  """How many old vocabulary lines TF looks in (-1: all): `old_vocab_size`
  for rows; all for columns (TF's `warm_start` ignores it along axis 1).

  Args:
    info: A `VocabInfo`, or an entry's `action_params`.
  """
  get = info.get if isinstance(info, dict) else lambda k: getattr(info, k)
  size = get('old_vocab_size')
  return size if get('axis') == 0 and size > 0 else -1


def _used_old(info: _vocab_info.VocabInfo, old_lines: int) -> int:
  size = old_vocab_size(info)
  return size if size > 0 else old_lines


def _vocab_file_problem(info: _vocab_info.VocabInfo,
                        new: _vocab_files.Lines, old: _vocab_files.Lines,
                        used_old: int) -> Optional[str]:
  """What TF's remap kernels would fail on at the first `session.run`.

  An empty line anywhere in the new vocabulary or within the old one's used
  lines; a token repeated within the old one's used lines; a token repeated
  within the new one's used lines that the old one holds (two rows would
  take one old row). Also computes the remapping, kept for the restore
  (`_vocab_files.remapping`).
  """
  first_empty = new.first_empty()
  if first_empty is not None:
    return ('new_vocab %r has an empty line (line %d): every line must hold '
            'a token' % (info.new_vocab, first_empty))
  used = _vocab_files.Lines(old.data, old.starts[:used_old],
                            old.lengths[:used_old])
  first_empty = used.first_empty()
  if first_empty is not None:
    return ('old_vocab %r has an empty line (line %d) among the %d lines '
            'used: every line must hold a token' %
            (info.old_vocab, first_empty, used_old))
  repeat = used.first_repeat()
  if repeat is not None:
    return ('old_vocab %r holds the token %r twice among the %d lines used '
            '(lines %d and %d): each token must have one row' %
            (info.old_vocab, repeat[0].decode('utf-8', 'replace'), used_old,
             repeat[1], repeat[2]))
  remap = _vocab_files.remapping(
      info.new_vocab, info.new_vocab_size, info.old_vocab,
      old_vocab_size(info), new=new, old=old, keep=True)
  shared = _vocab_files.first_shared_repeat(remap)
  if shared is not None:
    return ('new_vocab %r holds the token %r twice (lines %d and %d), '
            'and old_vocab %r has it: one old row cannot fill two new '
            'rows' % (info.new_vocab,
                      new.token(shared[0] - 1).decode('utf-8', 'replace'),
                      shared[0], shared[1], info.old_vocab))
  return None


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
    return _checks.skipped_entry(target, checkpoint.prefix, tensor, rule,
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
  new_file = _vocab_files.read(info.new_vocab)
  old_file = _vocab_files.read(info.old_vocab)
  new_lines, old_lines = len(new_file), len(old_file)
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
  used_old = _used_old(info, old_lines)
  problem = _vocab_file_problem(info, new_file, old_file, used_old)
  if problem is not None:
    problems.add(_errors.SettingsError, '%s: VocabInfo.%s.' % (where, problem))
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
  cast = ''
  if ckpt_dtype != target.dtype:
    if options.cast and ckpt_dtype.is_floating:
      cast = '; cast %s -> %s' % (ckpt_dtype.name, target.dtype.name)
    else:
      mismatch.append('dtype %s in the checkpoint, %s in the graph%s' %
                      (ckpt_dtype.name, target.dtype.name,
                       '' if options.cast else
                       ' (cast=True casts float dtypes)' if
                       ckpt_dtype.is_floating else ''))
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
      reason='vocabulary remap along axis %d: %s (%d + %d OOV) from %s%s' %
      (axis, info.new_vocab, info.new_vocab_size, info.num_oov_buckets,
       info.old_vocab, cast),
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
          # With cast=True, the dtype read (the variable's otherwise).
          **({'checkpoint_dtype': ckpt_dtype.name} if cast else {}),
      },
      target=VocabTarget(**fields,
                         backup_initializer=info.backup_initializer))
