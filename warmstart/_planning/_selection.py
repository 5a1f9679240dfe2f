"""Selection: a source's compiled rules over every variable of the graph.

`select` returns the (tensor, variable) pairs of one source, in rule order,
and records every rule that selects nothing (an error, or with
`allow_unmatched` a warning), with the names that were viable. The decisions
for each variable are the rules' own (`_rules.Rules`: the same ones the
creation-time predictor asks); this module adds what needs the whole graph:
variable objects matched by identity, unmatched rules and their hints, the
slots of selected variables, and the global step.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional

import tensorflow as tf
from absl import logging

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _names
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _transform
from warmstart import _variables
from warmstart._planning import _rules
from warmstart._planning import _slots

Pair = _assignment_map.Pair


def _rule_text(key: Any, value: Any) -> str:
  if isinstance(value, _transform.Transform):
    targets = [t if isinstance(t, str) else getattr(t, 'name', type(t).__name__)
               for t in value.targets]
    return '%s: %s, %s' % (' + '.join(key) if isinstance(key, tuple) else key,
                           ', '.join(targets), value.text)
  shown = value if isinstance(value, str) else getattr(
      value, 'name', type(value).__name__)
  return '%s: %s' % (key, shown)


def _scope_names(targets: Iterable[str]) -> set[str]:
  """Every scope of the variables: 'a/' and 'a/b/' for 'a/b/w'."""
  scopes = set()
  for name in targets:
    parts = name.split('/')[:-1]
    for i in range(1, len(parts) + 1):
      scopes.add('/'.join(parts[:i]) + '/')
  return scopes


class _Graph:
  """The facts of a graph's variables the rules need, gathered once."""

  def __init__(self, targets: Mapping[str, _variables.Target],
               graph: tf.Graph):
    self.targets = targets
    self.graph = graph
    self.auxiliaries = _slots.auxiliary_variables(targets)
    self.global_steps = _variables.global_step_names(graph)
    self.local_names = _variables.local_variable_names(graph)
    self._variables: dict[str, _rules.Variable] = {}

  def variable(self, target: _variables.Target) -> _rules.Variable:
    variable = self._variables.get(target.name)
    if variable is None:
      parts = ()
      if target.is_partitioned and not target.is_custom:
        parts = tuple(_variables.var_name(p) for p in target.parts)
      variable = self._variables[target.name] = _rules.Variable(
          target.name, target.trainable, parts,
          target.name in self.global_steps, target.name in self.local_names,
          self.auxiliaries.get(target.name))
    return variable


def select(rules: _rules.Rules, targets: Mapping[str, _variables.Target],
           graph: tf.Graph, problems: _errors.Problems,
           checkpoint: _sources.Checkpoint) -> list[Pair]:
  """The (tensor, variable) pairs of one source, problems recorded.

  Args:
    rules: The source's compiled rules.
    targets: The graph's variables, from `_variables.collect`.
    graph: The graph warm-started.
    problems: Where problems are recorded (nothing is raised here).
    checkpoint: The source (for messages and the left-out warning).

  Returns:
    The pairs, in rule order (then slots, then the global step).
  """
  facts = _Graph(targets, graph)
  if rules.is_map:
    return _MapSelection(rules, facts, problems, checkpoint).pairs()
  return _SettingsSelection(rules, facts, problems, checkpoint).pairs()


class _Selection:
  """What `Rules.select` shares between settings and maps."""

  def __init__(self, rules: _rules.Rules, facts: _Graph,
               problems: _errors.Problems, checkpoint: _sources.Checkpoint):
    self.rules = rules
    self.settings = rules.settings
    self.facts = facts
    self.targets = facts.targets
    self.problems = problems
    self.checkpoint = checkpoint
    self.source = checkpoint.prefix

  def unmatched(self, error: type[_errors.Error], message: str) -> None:
    if self.settings.allow_unmatched:
      logging.warning('%s; ignored (allow_unmatched=True).', message)
    else:
      self.problems.add(error, message + '.')

  def slot_pairs(self, pairs: list[Pair]) -> list[Pair]:
    if not self.settings.include_slots:
      return []
    return _slots.slot_pairs(
        pairs, self.targets, self.facts.auxiliaries,
        optional=self.settings.optimizer_state == 'matching',
        checkpoint=self.checkpoint)


class _SettingsSelection(_Selection):
  """`vars_to_warm_start` (regexes, variables or None) and renames."""

  def __init__(self, *args):
    super().__init__(*args)
    self.selected: dict[str, tuple[_variables.Target, str]] = {}
    # (regex, the non-trainable variables it matches), for the warning.
    self.left_out: list[tuple[str, list[_variables.Target]]] = []

  def _by_regex(self, rule: str, pattern: re.Pattern) -> None:
    rules = self.rules
    found = False
    excluded = {}
    left_out: list[_variables.Target] = []
    for target in self.targets.values():
      variable = self.facts.variable(target)
      if not _rules.matches(pattern, variable):
        continue
      why = rules.excluded(variable)
      if rules.trainable_only and not target.trainable and not why:
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
    if left_out:
      self.left_out.append((pattern.pattern, left_out))
    if found:
      return
    trainable_only = rules.trainable_only
    viable = [t for t in self.targets.values()
              if (t.trainable or not trainable_only) and
              not rules.excluded(self.facts.variable(t))]
    hint = _rules.colon_zero_hint(
        pattern, [self.facts.variable(t) for t in viable])
    viable = [t.name for t in viable]
    if excluded:
      hint += ' It matches only %s: %s.' % (
          'variables it may not select', '; '.join(
              '%r is %s' % item for item in sorted(excluded.items())[:5]))
    self.unmatched(
        _errors.UnmatchedRuleError,
        '%s matches no %svariable of the graph.%s%s Viable names: %s '
        '(source %s)' %
        (rule, 'trainable ' if trainable_only else '', hint,
         self.problems.did_you_mean(pattern.pattern, viable),
         _errors.preview(viable), self.source))

  def _warn_left_out(self, pattern_text: str,
                     left_out: list[_variables.Target],
                     selected: set[str]) -> None:
    """Warns of non-trainable variables a string regex leaves cold.

    Batch-norm moving means and variances, counters: the regex matches them
    and the checkpoint holds them with their shape, but TF's meaning of a
    string `vars_to_warm_start` (trainable variables only) leaves them to
    their initializer, silently in TF. Not slots, not the global step, nor
    anything the settings select otherwise (`selected`: a slot that
    `include_slots` brings along with its variable).
    """
    checkpoint = self.checkpoint
    names = [t.name for t in left_out
             if t.name not in selected and t.name in checkpoint and
             tuple(checkpoint.shapes[t.name]) ==
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
    graph = self.facts.graph
    groups: dict[str, list[Any]] = {}
    rules: dict[str, str] = {}
    for i, value in enumerate(values):
      parts = (_tf_compat.partitioned_variable_parts(value)
               if _tf_compat.is_partitioned_variable(value) else [value])
      for part in parts:
        if (not isinstance(part, _variables.CustomVariable) and
            getattr(part, 'graph', graph) is not graph):
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

  def _check_keys(self, field: str, keys: Iterable[str],
                  selected: Iterable[str]) -> None:
    """Every rename/vocabulary key must name a selected variable."""
    selected = list(selected)
    parts = {}
    for target in self.targets.values():
      if target.is_partitioned and not target.is_custom:
        for p in target.parts:
          parts[_variables.var_name(p)] = target.name
    for key in keys:
      if key in selected:
        continue
      where = '%s key %r' % (field, key)
      if key in self.targets:
        self.unmatched(
            _errors.UnmatchedRuleError,
            '%s names variable %r, which vars_to_warm_start=%r does not '
            'select. Selected: %s (source %s)' %
            (where, key, self.settings.vars_to_warm_start,
             _errors.preview(selected), self.source))
      elif key in parts:
        self.unmatched(
            _errors.VariableNotFoundError,
            '%s names a partition of %r: use the full variable name %r '
            '(source %s)' % (where, parts[key], parts[key], self.source))
      else:
        self.unmatched(
            _errors.VariableNotFoundError,
            '%s names no variable of the graph.%s Selected variables: %s '
            '(source %s)' %
            (where, self.problems.did_you_mean(key, self.targets),
             _errors.preview(selected), self.source))

  def pairs(self) -> list[Pair]:
    s = self.settings
    spec = s.vars_to_warm_start
    if spec is None:
      for key in s.var_name_to_vocab_info:
        target = self.targets.get(key)
        if target is not None:
          self.selected[key] = (target, 'var_name_to_vocab_info[%r]' % key)
    elif self.rules.regexes:
      for rule, pattern in self.rules.patterns:
        self._by_regex(rule, pattern)
    else:
      self._by_objects(spec)
    pairs = []
    for name, (target, rule) in self.selected.items():
      tensor = self.rules.renamed(name)
      if tensor != name:
        rule = '%s, var_name_to_prev_var_name[%r]' % (rule, name)
      pairs.append(Pair(tensor, target, rule))
    pairs.extend(self.slot_pairs(pairs))
    if s.include_global_step:
      steps = [n for n in sorted(self.facts.global_steps)
               if n in self.targets]
      if not steps:
        self.unmatched(
            _errors.VariableNotFoundError,
            'include_global_step=True, but the graph has no global step '
            '(tf.compat.v1.train.get_or_create_global_step() makes one) '
            '(source %s)' % self.source)
      filled = {p.target.name for p in pairs}
      pairs.extend(Pair(self.rules.renamed(n), self.targets[n],
                        'include_global_step')
                   for n in steps if n not in filled)
    selected = [p.target.name for p in pairs]
    for pattern_text, left_out in self.left_out:
      self._warn_left_out(pattern_text, left_out, set(selected))
    self._check_keys('var_name_to_prev_var_name', s.var_name_to_prev_var_name,
                     selected)
    self._check_keys('var_name_to_vocab_info', s.var_name_to_vocab_info,
                     selected)
    return pairs


class _MapSelection(_Selection):
  """An assignment map, narrowed by `vars_to_warm_start`."""

  def _object_entry(self, key: str, value: Any, rule: str) -> Optional[Pair]:
    try:
      target = _variables.target_of(value)
    except (TypeError, _errors.Error) as e:
      self.problems.add(_errors.SettingsError,
                        'Assignment map entry %r: %s' % (rule, e))
      return None
    foreign = _variables.foreign_part(target, self.facts.graph)
    if foreign is not None:
      self.problems.add(
          _errors.SettingsError,
          'Assignment map entry %r: the variable %r belongs to another '
          'graph than the one warm-started; map a variable of this graph '
          '(or its name, %r).' % (rule, foreign, target.name))
      return None
    if key.endswith('/'):
      self.problems.add(
          _errors.SettingsError,
          'Assignment map entry %r maps the checkpoint scope %r to the '
          'variable %r: a scope key needs a scope name as its value '
          '(%r: %r).' % (rule, key, target.name, key, 'scope/'))
      return None
    return Pair(key, target, rule)

  def _scope_entry(self, key: str, value: str, rule: str) -> list[Pair]:
    rewrite = _rules.Rewrite(_rules.scope_prefix(value),
                             _rules.scope_prefix(key), True)
    under = [t for name, t in self.targets.items() if rewrite.covers(name)]
    variables = [self.facts.variable(t) for t in under]
    # Neither the global step nor local variables, whatever the options.
    plain = [(t, v) for t, v in zip(under, variables)
             if not v.local and (not v.global_step or
                                 self.settings.include_global_step)]
    if not plain:
      scopes = _scope_names(self.targets)
      self.unmatched(
          _errors.UnmatchedRuleError,
          'Assignment map entry %r: no variable of the graph is under scope '
          '%r.%s Scopes in the graph: %s' %
          (rule, rewrite.match, self.problems.did_you_mean(rewrite.match,
                                                           scopes),
           _errors.preview(scopes)))
      return []
    kept = [t for t, v in plain if self.rules.scope_admits(v)]
    if not kept and not self.settings.allow_unmatched:
      self.problems.add(
          _errors.UnmatchedRuleError,
          'Assignment map entry %r: every variable under the scope is an '
          'optimizer slot or auxiliary variable (%s); pass '
          'include_slots=True to warm-start them (source %s).' %
          (rule, _errors.preview(t.name for t, _ in plain), self.source))
    if self.settings.optimizer_state in ('matching', 'all') and any(
        self.facts.variable(t).primary is None for t in kept):
      # The slots come with their variables (`slot_pairs`: by name, else
      # by kind; under 'matching' those without a counterpart start fresh).
      kept = [t for t in kept if self.facts.variable(t).primary is None]
    return [Pair(rewrite.apply(t.name), t, rule) for t in kept]

  def _name_entry(self, key: str, value: str, rule: str) -> Optional[Pair]:
    if value.endswith('/'):
      self.problems.add(
          _errors.SettingsError,
          'Assignment map entry %r maps the single tensor %r to the scope %r: '
          'write %r to map a scope, or name one variable as the value.' %
          (rule, key, value, key + '/'))
      return None
    name = _names.strip_output(value)
    target = self.targets.get(name)
    if target is None:
      self.problems.add(
          _errors.VariableNotFoundError,
          'Assignment map entry %r: the graph has no variable %r (source %s).%s'
          % (rule, name, self.source,
             self.problems.did_you_mean(name, self.targets)))
      return None
    return Pair(key, target, rule)

  def _transform_entry(self, key: Any, value: _transform.Transform,
                       rule: str) -> list[Pair]:
    """One pair per target of a `Transform` (one per part of a split)."""
    tensors = tuple(key) if isinstance(key, tuple) else (key,)
    targets = value.targets
    pairs = []
    for part, target in enumerate(targets):
      if isinstance(target, str):
        pair = self._name_entry(tensors[0], target, rule)
      else:
        pair = self._object_entry(tensors[0], target, rule)
      if pair is not None:
        pairs.append(dataclasses.replace(pair, transform=_transform.Application(
            tensors, value.ops, part, len(targets))))
    return pairs

  def expand(self) -> list[Pair]:
    """Every entry's pairs, in map order."""
    pairs: list[Pair] = []
    for key, value in self.rules.items:
      rule = _rule_text(key, value)
      if isinstance(value, _transform.Transform):
        pairs.extend(self._transform_entry(key, value, rule))
        continue
      if not isinstance(value, str):
        pair = self._object_entry(key, value, rule)
      elif key.endswith('/') or key == '':
        pairs.extend(self._scope_entry(key, value, rule))
        continue
      else:
        pair = self._name_entry(key, value, rule)
      if pair is not None:
        pairs.append(pair)
    return pairs

  def _narrowed(self, pairs: list[Pair]) -> list[Pair]:
    """The pairs whose variable `vars_to_warm_start` matches.

    A regex (or a list of regexes: any) narrows what the map selects,
    matched with `re.match` on names without ':0' (or a partition's name);
    the default '.*' keeps everything. Narrowing a non-empty selection to
    nothing is an unmatched rule.
    """
    if not pairs:
      return pairs
    kept = [pair for pair in pairs if not self.rules.narrows_out(
        self.facts.variable(pair.target))]
    if not kept:
      variables = [self.facts.variable(p.target) for p in pairs]
      hints = ''.join(_rules.colon_zero_hint(p, variables)
                      for _, p in self.rules.patterns)
      self.unmatched(
          _errors.UnmatchedRuleError,
          'vars_to_warm_start=%r leaves none of the %d variables the '
          'assignment map selects (%s); it narrows the map, matched with '
          're.match on their names (source %s)%s' %
          (self.settings.vars_to_warm_start, len(pairs),
           _errors.preview(p.target.name for p in pairs), self.source,
           '.' + hints.rstrip('.') if hints else ''))
    return kept

  def pairs(self) -> list[Pair]:
    if not self.rules.items:
      self.unmatched(
          _errors.UnmatchedRuleError,
          'The assignment map is empty: it selects no variable (source %s). '
          "Map '/': '/' to warm-start every variable from the same name" %
          self.source)
    pairs = self._narrowed(self.expand())
    pairs.extend(self.slot_pairs(pairs))
    used = {p.target.name for p in pairs}
    for key in self.settings.var_name_to_vocab_info:
      if key not in used:
        self.unmatched(
            _errors.VariableNotFoundError if key not in self.targets else
            _errors.UnmatchedRuleError,
            'var_name_to_vocab_info key %r names no variable that the '
            'assignment map selects.%s Selected: %s (source %s)' %
            (key, _errors.did_you_mean(key, used), _errors.preview(used),
             self.source))
    return pairs
