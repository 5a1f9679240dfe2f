"""Selects the variables of `WarmStartSettings`: TF's meaning, checked.

`vars_to_warm_start` regexes (a string: trainable variables; a list: global
ones), lists of variables, vocabulary keys, or an assignment map, turned into
(tensor, variable) pairs. Optimizer slots and auxiliary variables (found
structurally, `_slots`) and the global step are left out unless
the settings include them. A rule that selects nothing is an error, or, with
`allow_unmatched`, a warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional

import tensorflow as tf
from absl import logging

from warmstart import _assignment_map
from warmstart import _errors
from warmstart._planning import _slots
from warmstart import _settings
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _variables


def _matches(pattern: re.Pattern, target: _variables.Target) -> bool:
  """re.match on the name without ':0', or on a partition's name."""
  if pattern.match(target.name):
    return True
  return target.is_partitioned and not target.is_custom and any(
      pattern.match(_variables.var_name(p)) for p in target.parts)


class Selector:
  """Selects the variables of one `WarmStartSettings` (no assignment map).

  `select()` returns {variable name: (target, the rule that selected it)};
  problems go to `problems`.
  """

  def __init__(self, settings: _settings.WarmStartSettings,
               targets: Mapping[str, _variables.Target], graph: tf.Graph,
               problems: _errors.Problems, checkpoint: _sources.Checkpoint):
    self.settings = settings
    self.targets = targets
    self.graph = graph
    self.problems = problems
    self.checkpoint = checkpoint
    self.source = checkpoint.prefix
    self.aux = _slots.auxiliary_variables(targets)
    self.global_steps = _variables.global_step_names(graph)
    self.selected: dict[str, tuple[_variables.Target, str]] = {}

  def _unmatched(self, error: type[_errors.Error], message: str) -> None:
    message = '%s (source %s)' % (message, self.source)
    if self.settings.allow_unmatched:
      logging.warning('%s; ignored (allow_unmatched=True).', message)
    else:
      self.problems.add(error, message + '.')

  def _excluded(self, target: _variables.Target) -> Optional[str]:
    """Why a regex may not select `target` (None if it may)."""
    if (target.name in self.global_steps and
        not self.settings.include_global_step):
      return 'the global step (pass include_global_step=True)'
    if target.name in self.aux and not self.settings.include_slots:
      return 'an optimizer slot or auxiliary variable (pass include_slots=True)'
    return None

  def _by_regex(self, pattern_text: str, rule: str, trainable_only: bool):
    pattern = re.compile(pattern_text)
    found = False
    excluded = {}
    left_out: list[_variables.Target] = []
    for target in self.targets.values():
      if not _matches(pattern, target):
        continue
      why = self._excluded(target)
      if trainable_only and not target.trainable and not why:
        excluded[target.name] = ('not trainable (a string regex selects '
                                 'trainable variables only; use a list of '
                                 'regexes)')
        left_out.append(target)
        continue
      if why:
        excluded[target.name] = why
        continue
      found = True
      self.selected.setdefault(target.name, (target, rule))
    self._warn_left_out(pattern_text, left_out)
    if found:
      return
    viable = [n for n, t in self.targets.items()
              if (t.trainable or not trainable_only) and not self._excluded(t)]
    hint = ''
    if excluded:
      hint = ' It matches only %s: %s.' % (
          'variables it may not select', '; '.join(
              '%r is %s' % item for item in sorted(excluded.items())[:5]))
    self._unmatched(
        _errors.UnmatchedRuleError,
        '%s matches no %svariable of the graph.%s%s Viable names: %s' %
        (rule, 'trainable ' if trainable_only else '', hint,
         self.problems.did_you_mean(pattern_text, viable),
         _errors.preview(viable)))

  def _warn_left_out(self, pattern_text: str,
                     left_out: list[_variables.Target]) -> None:
    """Warns of non-trainable variables a string regex leaves cold.

    Batch-norm moving means and variances, counters: the regex matches them
    and the checkpoint holds them with their shape, but TF's meaning of a
    string `vars_to_warm_start` (trainable variables only) leaves them to
    their initializer, silently in TF. Not slots, not the global step.
    """
    names = [t.name for t in left_out
             if t.name in self.checkpoint and
             tuple(self.checkpoint.shapes[t.name]) ==
             tuple(t.shape.as_list() if t.shape.rank is not None else ())]
    if names:
      logging.warning(
          'vars_to_warm_start=%r selects trainable variables only (TF\'s '
          'meaning of a regex string), so %d non-trainable variable(s) that '
          'checkpoint %s holds with the same shape start cold: %s. To '
          'warm-start them too, pass a list of regexes (global variables), '
          'e.g. vars_to_warm_start=[%r].', pattern_text, len(names),
          self.source, _errors.preview(names), pattern_text)

  def _by_objects(self, values: tuple[Any, ...]) -> None:
    groups: dict[str, list[Any]] = {}
    rules: dict[str, str] = {}
    for i, value in enumerate(values):
      parts = (_tf_compat.partitioned_variable_parts(value)
               if _tf_compat.is_partitioned_variable(value) else [value])
      for part in parts:
        if (not isinstance(part, _variables.CustomVariable) and
            getattr(part, 'graph', self.graph) is not self.graph):
          self.problems.add(
              _errors.SettingsError,
              'vars_to_warm_start[%d] is the variable %r of another graph than '
              'the one warm-started.' % (i, _variables.var_name(part)))
          continue
        info = (None if isinstance(part, _variables.CustomVariable) else
                _tf_compat.save_slice_info(part))
        key = info.full_name if info is not None else part.name
        group = groups.setdefault(key, [])
        if not any(p is part for p in group):
          group.append(part)
        rules.setdefault(key, 'vars_to_warm_start[%d]' % i)
    for key, parts in groups.items():
      try:
        target = _variables.target_of(parts if len(parts) > 1 else parts[0])
      except (TypeError, _errors.Error) as e:
        self.problems.add(_errors.SettingsError,
                          '%s: %s' % (rules[key], e))
        continue
      self.selected.setdefault(target.name, (target, rules[key]))

  def _check_keys(self, field: str, keys) -> None:
    """Every rename/vocabulary key must name a selected variable."""
    parts = {}
    for target in self.targets.values():
      if target.is_partitioned and not target.is_custom:
        for p in target.parts:
          parts[_variables.var_name(p)] = target.name
    for key in keys:
      if key in self.selected:
        continue
      where = '%s key %r' % (field, key)
      if key in self.targets:
        self._unmatched(
            _errors.UnmatchedRuleError,
            '%s names variable %r, which vars_to_warm_start=%r does not '
            'select. Selected: %s' %
            (where, key, self.settings.vars_to_warm_start,
             _errors.preview(self.selected)))
      elif key in parts:
        self._unmatched(
            _errors.VariableNotFoundError,
            '%s names a partition of %r: use the full variable name %r' %
            (where, parts[key], parts[key]))
      else:
        self._unmatched(
            _errors.VariableNotFoundError,
            '%s names no variable of the graph.%s Selected variables: %s' %
            (where, self.problems.did_you_mean(key, self.targets),
             _errors.preview(self.selected)))

  def select(self) -> dict[str, tuple[_variables.Target, str]]:
    s = self.settings
    spec = s.vars_to_warm_start
    if spec is None:
      for key in s.var_name_to_vocab_info:
        target = self.targets.get(key)
        if target is not None:
          self.selected[key] = (target, 'var_name_to_vocab_info[%r]' % key)
    elif isinstance(spec, str):
      self._by_regex(spec, 'vars_to_warm_start=%r' % spec, True)
    elif all(isinstance(p, str) for p in spec):
      for i, pattern in enumerate(spec):
        self._by_regex(pattern, 'vars_to_warm_start[%d]=%r' % (i, pattern),
                       False)
    else:
      self._by_objects(spec)
    if s.include_slots:
      primaries = set(self.selected)
      slots = [n for n, p in self.aux.items() if p and p in primaries]
      if slots:
        slots += [n for n, p in self.aux.items() if not p]
      for name in slots:
        self.selected.setdefault(
            name, (self.targets[name], 'include_slots'))
    if s.include_global_step:
      steps = [n for n in sorted(self.global_steps) if n in self.targets]
      if not steps:
        self._unmatched(
            _errors.VariableNotFoundError,
            'include_global_step=True, but the graph has no global step '
            '(tf.compat.v1.train.get_or_create_global_step() makes one)')
      for name in steps:
        self.selected.setdefault(
            name, (self.targets[name], 'include_global_step'))
    self._check_keys('var_name_to_prev_var_name', s.var_name_to_prev_var_name)
    self._check_keys('var_name_to_vocab_info', s.var_name_to_vocab_info)
    return self.selected


def _is_scope_item(key: str, value: Any) -> bool:
  return isinstance(value, str) and (key.endswith('/') or key == '')


def _narrowed(pairs: list[_assignment_map.Pair],
              settings: _settings.WarmStartSettings,
              problems: _errors.Problems,
              source: str) -> list[_assignment_map.Pair]:
  """The pairs of a map whose variable `vars_to_warm_start` matches.

  A regex (or a list of regexes: any) narrows what the map selects, matched
  with `re.match` on names without ':0' (or a partition's name); the
  default '.*' keeps everything. Narrowing a non-empty selection to nothing
  is an unmatched rule.
  """
  spec = settings.vars_to_warm_start
  if spec == _settings.DEFAULT_VARS or not pairs:
    return pairs
  patterns = [re.compile(p) for p in ((spec,) if isinstance(spec, str) else
                                      spec)]
  kept = [pair for pair in pairs
          if any(_matches(p, pair.target) for p in patterns)]
  if not kept:
    message = ('vars_to_warm_start=%r leaves none of the %d variables the '
               'assignment map selects (%s); it narrows the map, matched '
               'with re.match on their names (source %s)' %
               (spec, len(pairs),
                _errors.preview(p.target.name for p in pairs), source))
    if settings.allow_unmatched:
      logging.warning('%s; ignored (allow_unmatched=True).', message)
    else:
      problems.add(_errors.UnmatchedRuleError, message + '.')
  return kept


def map_pairs(settings: _settings.WarmStartSettings,
              targets: Mapping[str, _variables.Target], graph: tf.Graph,
              problems: _errors.Problems,
              source: str) -> list[_assignment_map.Pair]:
  """The pairs of an assignment-map source.

  Without `include_slots`, scope entries leave optimizer slots and auxiliary
  variables out; with it, the slots of single-name entries are added too.
  """
  aux = _slots.auxiliary_variables(targets)
  global_steps = (frozenset() if settings.include_global_step else
                  _variables.global_step_names(graph))
  pairs = []
  for key, value in _assignment_map.items(settings.assignment_map):
    found = _assignment_map.expand(
        [(key, value)], targets, problems,
        allow_unmatched=settings.allow_unmatched, global_steps=global_steps,
        local_names=_variables.local_variable_names(graph),
        source=source, graph=graph)
    if _is_scope_item(key, value) and not settings.include_slots:
      kept = [p for p in found if p.target.name not in aux]
      if found and not kept and not settings.allow_unmatched:
        problems.add(
            _errors.UnmatchedRuleError,
            'Assignment map entry %r: every variable under the scope is an '
            'optimizer slot or auxiliary variable (%s); pass '
            'include_slots=True to warm-start them (source %s).' %
            (found[0].rule, _errors.preview(p.target.name for p in found),
             source))
      found = kept
    pairs.extend(found)
  pairs = _narrowed(pairs, settings, problems, source)
  if settings.include_slots:
    pairs.extend(_slots.slot_pairs(pairs, targets, aux))
  used = {p.target.name for p in pairs}
  for key in settings.var_name_to_vocab_info:
    if key not in used:
      message = ('var_name_to_vocab_info key %r names no variable that the '
                 'assignment map selects.%s Selected: %s (source %s)' %
                 (key, _errors.did_you_mean(key, used), _errors.preview(used),
                  source))
      if settings.allow_unmatched:
        logging.warning('%s; ignored (allow_unmatched=True).', message)
      else:
        problems.add(_errors.VariableNotFoundError if key not in targets else
                     _errors.UnmatchedRuleError, message + '.')
  return pairs


