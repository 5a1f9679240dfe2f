"""The checks of a plan: each (tensor, variable) pair, conflicts, what is left.

All checks run here, when the plan is built and before any session: every
tensor exists, every shape and dtype fits, and no variable is claimed twice
(`check_pairs`, `check_conflicts`); `finished_plan` adds what starts cold
and which tensors no entry reads. Every problem is recorded, none raised.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Optional

import tensorflow as tf
from absl import logging

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart._planning import _moving_averages
from warmstart._planning import _reads
from warmstart._planning import _slots
from warmstart import _sources
from warmstart import _transform
from warmstart import _variables


def _shape(shape: tf.TensorShape) -> tuple[Optional[int], ...]:
  # An unknown rank is shown as one unknown dimension, never as a scalar.
  return tuple(shape.as_list()) if shape.rank is not None else (None,)


@functools.lru_cache(maxsize=4096)
def _tensor_shape(dims: tuple[int, ...]) -> tf.TensorShape:
  """The TensorShape of a checkpoint shape (few distinct ones per model)."""
  return tf.TensorShape(dims)


def skipped_entry(target: _variables.Target, source: str, tensor: str,
                  rule: str, reason: str) -> _plan.Entry:
  """An entry that leaves `target` to its own initializer, and says why."""
  logging.warning('Not warm-starting %s: %s', target.name, reason)
  return _plan.Entry(
      variable=target.name, shape=_shape(target.shape),
      dtype=target.dtype.name, source=source, tensor=tensor,
      slices=target.slices, action=_plan.SKIP, rule=rule, reason=reason,
      target=target)


def check_transformed(pair: _assignment_map.Pair,
                      checkpoint: _sources.Checkpoint,
                      options: _options.Options,
                      problems: _errors.Problems) -> Optional[_plan.Entry]:
  """Validates a pair with a transform: its tensors, each op's shapes, the
  target's shape and dtype after it (None on a problem)."""
  target, applied = pair.target, pair.transform
  where = 'Variable %r (rule %r)' % (target.name, pair.rule)
  missing = [t for t in applied.tensors if t not in checkpoint]
  if missing:
    reason = 'tensor %s not in checkpoint %s' % (
        ', '.join(repr(t) for t in missing), checkpoint.prefix)
    if options.skip_missing:
      return skipped_entry(target, checkpoint.prefix, missing[0], pair.rule,
                           reason)
    problems.add(_errors.TensorNotFoundError, '%s: %s.%s' % (
        where, reason, problems.did_you_mean(missing[0], checkpoint.shapes)))
    return None
  dtypes = [checkpoint.dtypes[t].base_dtype for t in applied.tensors]
  shapes = [tuple(int(d) for d in checkpoint.shapes[t])
            for t in applied.tensors]
  mismatch = None
  resize = None  # The transformed shape, when resize=True fits it.
  if len(set(dtypes)) > 1:
    mismatch = 'concat of tensors of dtypes %s' % ', '.join(
        d.name for d in dtypes)
  else:
    try:
      shape = applied.output_shape(shapes)
    except _transform.TransformError as e:
      mismatch = 'the transform does not fit tensor%s %s of shape%s %s: %s' % (
          's' if len(shapes) > 1 else '', ', '.join(map(repr,
                                                         applied.tensors)),
          's' if len(shapes) > 1 else '', ', '.join(str(list(s))
                                                     for s in shapes), e)
    else:
      if target.validate_shape and not target.shape.is_compatible_with(
          _tensor_shape(shape)):
        resizable = (target.shape.rank == len(shape) and
                     target.shape.is_fully_defined() and not target.is_custom)
        if options.resize and resizable:
          resize = shape
        else:
          mismatch = ('%s gives shape %s, the variable has %s%s' %
                      (applied.text, list(shape), target.shape,
                       ' (resize=True restores the overlapping block)'
                       if resizable else ''))
  changes = [applied.text]
  if resize is not None:
    changes.append('resize %s -> %s' % (list(resize),
                                        target.shape.as_list()))
  if mismatch is None and dtypes[0] != target.dtype:
    if options.cast and dtypes[0].is_floating and target.dtype.is_floating:
      changes.append('cast %s -> %s' % (dtypes[0].name, target.dtype.name))
    else:
      mismatch = 'dtype %s in the checkpoint, %s in the graph%s' % (
          dtypes[0].name, target.dtype.name,
          ' (cast=True casts it)' if dtypes[0].is_floating and
          target.dtype.is_floating else '')
  if mismatch is not None:
    if options.skip_mismatched:
      return skipped_entry(target, checkpoint.prefix, applied.tensors[0],
                           pair.rule, mismatch)
    problems.add(_errors.MismatchError, '%s: %s.' % (where, mismatch))
    return None
  return _plan.Entry(
      variable=target.name, shape=_shape(target.shape),
      dtype=target.dtype.name, source=checkpoint.prefix,
      tensor=applied.tensors[0], slices=target.slices,
      action=_plan.TRANSFORM, rule=pair.rule, reason='; '.join(changes),
      action_params={
          'tensors': list(applied.tensors),
          'ops': [op.to_json() for op in applied.ops],
          'part': applied.part,
          'parts': applied.parts,
          'checkpoint_shapes': [list(s) for s in shapes],
          'checkpoint_dtype': dtypes[0].name,
          **({'resize': list(resize)} if resize is not None else {}),
      },
      target=target)


def check_pair(pair: _assignment_map.Pair, checkpoint: _sources.Checkpoint,
               options: _options.Options,
               problems: _errors.Problems) -> Optional[_plan.Entry]:
  """Validates one (tensor, variable) pair into an entry (None on a problem)."""
  if pair.transform is not None:
    return check_transformed(pair, checkpoint, options, problems)
  target, tensor = pair.target, pair.tensor
  if pair.value is not None and tensor in checkpoint:
    return _plan.Entry(
        variable=target.name, shape=_shape(target.shape),
        dtype=target.dtype.name, source=checkpoint.prefix, tensor=tensor,
        slices=target.slices, action=_plan.SET, rule=pair.rule,
        reason=pair.note, action_params={'value': pair.value}, target=target)
  if tensor not in checkpoint:
    reason = 'tensor %r is not in checkpoint %s' % (tensor, checkpoint.prefix)
    if pair.note:
      reason += '; ' + pair.note
    if pair.optional:
      return skipped_entry(target, checkpoint.prefix, tensor, pair.rule,
                           'no counterpart, it starts fresh: ' + reason)
    if options.skip_missing:
      return skipped_entry(target, checkpoint.prefix, tensor, pair.rule, reason)
    problems.add(_errors.TensorNotFoundError, 'Variable %r (rule %r): %s.%s' %
                 (target.name, pair.rule, reason,
                  _sources.hint(checkpoint, tensor,
                                     problems.did_you_mean)))
    return None
  dims = tuple(checkpoint.shapes[tensor])
  ckpt_shape = _tensor_shape(dims)
  ckpt_dtype = checkpoint.dtypes[tensor].base_dtype
  mismatch = []
  changes = {}  # action -> what it changes, for the plan's note.
  # A variable made with validate_shape=False takes any shape. Equal shapes
  # (the common case) are told apart without the general compatibility test.
  if target.validate_shape and target.shape != ckpt_shape and not (
      target.shape.is_compatible_with(ckpt_shape) and
      target.shape.rank == ckpt_shape.rank):
    resizable = (target.shape.rank == ckpt_shape.rank and
                 target.shape.is_fully_defined() and not target.is_custom)
    if options.resize and resizable:
      changes[_plan.RESIZE] = 'resize %s -> %s' % (list(dims),
                                                   target.shape.as_list())
    else:
      hint = ''
      if resizable:
        hint = ' (resize=True restores the overlapping block)'
      elif options.resize and target.shape.rank != ckpt_shape.rank:
        hint = ' (resize keeps the rank: it cannot change it)'
      mismatch.append('shape %s in the checkpoint, %s in the graph%s' %
                      (ckpt_shape, target.shape, hint))
  if ckpt_dtype != target.dtype:
    castable = (ckpt_dtype.is_floating and target.dtype.is_floating and
                not target.is_custom)
    if options.cast and castable:
      changes[_plan.CAST] = 'cast %s -> %s' % (ckpt_dtype.name,
                                               target.dtype.name)
    else:
      mismatch.append('dtype %s in the checkpoint, %s in the graph%s' %
                      (ckpt_dtype.name, target.dtype.name,
                       ' (cast=True casts it)' if castable else
                       ' (only float dtypes are cast)' if options.cast else
                       ''))
  if mismatch:
    reason = 'tensor %r has %s' % (tensor, ' and '.join(mismatch))
    if options.skip_mismatched or pair.optional:
      return skipped_entry(target, checkpoint.prefix, tensor, pair.rule, reason)
    problems.add(_errors.MismatchError, 'Variable %r (rule %r): %s.' %
                 (target.name, pair.rule, reason))
    return None
  notes = [pair.note] if pair.note else []
  if not changes:
    return _plan.Entry(
        variable=target.name, shape=dims, dtype=target.dtype.name,
        source=checkpoint.prefix, tensor=tensor, slices=target.slices,
        rule=pair.rule, reason='; '.join(notes), target=target)
  return _plan.Entry(
      variable=target.name, shape=_shape(target.shape),
      dtype=target.dtype.name, source=checkpoint.prefix, tensor=tensor,
      slices=target.slices, action=next(iter(changes)), rule=pair.rule,
      reason='; '.join(notes + list(changes.values())),
      action_params={'checkpoint_shape': list(dims),
                     'checkpoint_dtype': ckpt_dtype.name},
      target=target)


#: A rule missing this many tensors is reported as one problem, not one per
#: variable (a wrong scope on a large model would list thousands).
_GROUP_MISSING_AT = 10


def resolve_pairs(pairs: Sequence[_assignment_map.Pair],
                  checkpoint: _sources.Checkpoint
                 ) -> list[_assignment_map.Pair]:
  """`pairs`, each tensor that is a variable name of an object-based
  checkpoint replaced by its key (`_sources.resolve`), noted in the rule.
  """
  resolved = []
  for pair in pairs:
    if pair.transform is not None:
      keys = tuple(_sources.resolve(checkpoint, t)[0]
                   for t in pair.transform.tensors)
      resolved.append(dataclasses.replace(
          pair, tensor=keys[0], transform=dataclasses.replace(
              pair.transform, tensors=keys)))
      continue
    key, how = _sources.resolve(checkpoint, pair.tensor)
    resolved.append(pair if not how else dataclasses.replace(
        pair, tensor=key, rule='%s, %s' % (pair.rule, how)))
  return resolved


def check_pairs(pairs: Sequence[_assignment_map.Pair],
                checkpoint: _sources.Checkpoint, options: _options.Options,
                problems: _errors.Problems) -> list[Optional[_plan.Entry]]:
  """Checks each pair (`check_pair`); returns their entries, in order.

  A rule missing `_GROUP_MISSING_AT` tensors or more is one problem (not one
  per variable) that says under which scope the checkpoint holds them, when
  one scope explains most of them. Tensors are first resolved
  (`resolve_pairs`), so variable names of object-based checkpoints work.
  """
  pairs = resolve_pairs(pairs, checkpoint)
  if options.use_moving_averages:
    pairs = _moving_averages.pairs_reading_averages(pairs, checkpoint)
  missing: dict[str, list[_assignment_map.Pair]] = {}
  needed: collections.Counter[str] = collections.Counter()
  if not options.skip_missing:
    for pair in pairs:
      if pair.transform is not None or pair.optional:
        continue  # Its own check names each missing tensor, or skips it.
      needed[pair.rule] += 1
      if pair.tensor not in checkpoint:
        missing.setdefault(pair.rule, []).append(pair)
  grouped = {rule for rule, group in missing.items()
             if len(group) >= _GROUP_MISSING_AT}
  for rule in grouped:
    problems.add(_errors.TensorNotFoundError, _missing_group_message(
        rule, missing[rule], needed[rule], checkpoint))
  return [None if pair.rule in grouped and pair.tensor not in checkpoint else
          check_pair(pair, checkpoint, options, problems) for pair in pairs]


def _missing_group_message(rule: str, group: Sequence[_assignment_map.Pair],
                           needed: int, checkpoint: _sources.Checkpoint) -> str:
  tensors = [p.tensor for p in group]
  hint = (_moved_scope_hint(tensors, checkpoint) or
          _sources.hint(checkpoint, tensors[0]))
  return ('Rule %r: %d of the %d tensors it needs are not in checkpoint %s: '
          '%s (for variables %s).%s' % (
              rule, len(group), needed, checkpoint.prefix,
              _errors.preview(tensors, 5),
              _errors.preview([p.target.name for p in group], 5), hint))


def _moved_scope_hint(tensors: Sequence[str], checkpoint: _sources.Checkpoint,
                      sample: int = 50) -> str:
  """' The checkpoint holds them under ...' when one scope explains most.

  For each of the first `sample` missing names, finds checkpoint names that
  share its longest trailing path (e.g. 'old/layer/w' for 'new/layer/w') and
  counts the (missing scope, checkpoint scope) replacements; a replacement
  that explains at least half of them is suggested.
  """
  by_last: dict[str, list[str]] = {}
  for name in _sources.suggestions(checkpoint):
    by_last.setdefault(name.rsplit('/', 1)[-1], []).append(name)
  counts: collections.Counter[tuple[str, str]] = collections.Counter()
  examples: dict[tuple[str, str], tuple[str, str]] = {}
  tried = list(tensors[:sample])
  for tensor in tried:
    parts = tensor.split('/')
    candidates = by_last.get(parts[-1], ())
    for cut in range(len(parts)):
      tail = '/'.join(parts[cut:])
      hits = [c for c in candidates
              if c == tail or c.endswith('/' + tail)]
      if hits:
        scope = tensor[:len(tensor) - len(tail)]
        keys = {}  # Each replacement counts once per missing tensor.
        for hit in sorted(hits):
          keys.setdefault((scope, hit[:len(hit) - len(tail)]), hit)
        for key, hit in keys.items():
          examples.setdefault(key, (tensor, hit))
        counts.update(keys.keys())
        break
  if not counts:
    return ''
  (missing_scope, ckpt_scope), count = counts.most_common(1)[0]
  if count < max(2, (len(tried) + 1) // 2):
    return ''
  tensor, hit = examples[(missing_scope, ckpt_scope)]
  return (' The checkpoint holds %d of the first %d under %r instead of %r '
          '(e.g. %r for %r): did you mean that scope?' % (
              count, len(tried), ckpt_scope or '/', missing_scope or '/', hit,
              tensor))


def check_conflicts(entries: Iterable[_plan.Entry],
                    problems: _errors.Problems,
                    earlier: Iterable[_plan.Entry] = ()) -> None:
  """Records a problem for every variable that two entries restore."""
  claimed: dict[str, _plan.Entry] = {}
  for entry in earlier:
    claimed.setdefault(entry.variable, entry)
  new = set()
  for entry in entries:
    if entry.skipped:
      continue
    first = claimed.get(entry.variable)
    if first is None:
      claimed[entry.variable] = entry
      new.add(entry.variable)
      continue
    when = '' if entry.variable in new else ' by an earlier warm start'
    problems.add(
        _errors.ConflictError,
        'Variable %r is claimed twice: from %s tensor %r (rule %r)%s, and '
        'from %s tensor %r (rule %r). Restrict one of the rules.' %
        (entry.variable, first.source, first.tensor, first.rule, when,
         entry.source, entry.tensor, entry.rule))


def finished_plan(entries: Sequence[_plan.Entry],
                  targets: Mapping[str, _variables.Target],
                  checkpoints: Iterable[_sources.Checkpoint],
                  earlier: Iterable[_plan.Entry] = (),
                  start_step: Optional[int] = None) -> _plan.Plan:
  """The `Plan` of validated `entries`, with what starts cold and is unused.

  Args:
    entries: The plan's entries.
    targets: Every variable of the graph.
    checkpoints: The sources read.
    earlier: Entries already applied to the graph (their variables are not
      cold).
    start_step: The step the entries give the run, if they restore or set
      it.
  """
  checkpoints = tuple(checkpoints)
  entries = _reads.with_read_bytes(entries, checkpoints)
  filled = {e.variable for e in entries if not e.skipped}
  filled.update(e.variable for e in earlier)
  cold = tuple(name for name in targets if name not in filled)
  staged = tuple(dict((c.prefix, c.staged_from) for c in checkpoints
                      if c.staged_from).items())
  return _plan.Plan(tuple(entries), num_variables=len(targets),
                    cold_variables=cold,
                    unused_tensors=unused_tensors(checkpoints, entries),
                    start_step=start_step, staged_sources=staged,
                    optimizer_slots=optimizer_slots(entries, targets))


def optimizer_slots(entries: Sequence[_plan.Entry],
                    targets: Mapping[str, _variables.Target]
                   ) -> tuple[tuple[str, str], ...]:
  """`Plan.optimizer_slots`: the slots of each variable of `entries`, then
  the optimizer's own variables (moving averages are no optimizer state)."""
  slots_of: dict[str, list[str]] = {}
  for name, primary in _slots.auxiliary_variables(targets).items():
    if _moving_averages.averaged_tensor(name) is None:
      slots_of.setdefault(primary, []).append(name)
  primaries = [name for name in dict.fromkeys(e.variable for e in entries)
               if name and name in slots_of]
  if primaries and '' in slots_of:
    primaries.append('')
  return tuple((slot, primary) for primary in primaries
               for slot in slots_of[primary])


def unused_tensors(checkpoints: Iterable[_sources.Checkpoint],
                   entries: Sequence[_plan.Entry]
                  ) -> tuple[_plan.UnusedTensor, ...]:
  """The tensors of `checkpoints` no entry reads (nor names, when skipped).

  A moving average read in place of its tensor accounts for the tensor too;
  the object graph of a TF2 checkpoint is never listed.
  """
  read: dict[str, set[str]] = {}
  for entry in entries:
    names = read.setdefault(entry.source, set())
    names.add(entry.tensor)
    names.update(entry.action_params.get('tensors', ()))
    raw = _moving_averages.averaged_tensor(entry.tensor)
    if raw is not None:
      names.add(raw)
  unused = []
  seen = set()
  for checkpoint in checkpoints:
    if checkpoint.prefix in seen:
      continue
    seen.add(checkpoint.prefix)
    done = read.get(checkpoint.prefix, set())
    names = checkpoint.shapes.keys()
    for name in sorted(names):
      if name not in done and name != _sources.OBJECT_GRAPH_KEY:
        unused.append(_plan.UnusedTensor(
            checkpoint.prefix, name, _slots.tensor_kind(name, names)))
  return tuple(unused)
