"""The rules of one source, compiled once: which tensor fills which variable.

Every consumer asks the same compiled `Rules`, so they cannot drift apart:

* planning: `Rules.select` goes over every variable of the graph and returns
  the (tensor, variable) pairs, with every rule that selects nothing reported;
* the creation-time predictor (`_scope`): `Rules.tensor_of` answers for one
  variable as it is created, from the facts known then (`Variable`);
* merge's renames: `Rewrite`, the one name-or-scope rewrite.

A source's rules come from its `WarmStartSettings` (TF's meaning of
`vars_to_warm_start`, `var_name_to_prev_var_name`, `var_name_to_vocab_info`)
or from an `init_from_checkpoint` assignment map (a `WarmStartSettings` with
`assignment_map`), plus the options that widen a selection (`include_slots`,
`include_global_step`). The forms of a map (TF's):

* `'ckpt_scope/': 'scope/'`: every variable under `scope/` from the same
  relative name under `ckpt_scope/` (`'scope'` without the slash works too);
* `'ckpt_scope/other_var': 'scope/var'`: one variable by name;
* `'name_in_ckpt': variable`: a variable object (also a `PartitionedVariable`,
  the list of its parts, or a `warmstart.CustomVariable`);
* `'/': 'scope/'`: from the checkpoint's root.

Unlike TF, a rule that matches nothing is an error, regexes are matched
without ':0', and scope maps never pick up `global_step` or local variables
(name them to restore them).
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
from warmstart._planning import _slots
from warmstart import _settings
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _variables

Pair = _assignment_map.Pair


def scope_prefix(text: str) -> str:
  """A scope as a name prefix: `'a'`, `'a/'` -> `'a/'`; `'/'`, `''` -> `''`."""
  return '' if text in ('/', '') else text.rstrip('/') + '/'


@dataclasses.dataclass(frozen=True)
class Rewrite:
  """One name or scope rewrite, the same for maps, renames and merge.

  Attributes:
    match: The name it rewrites, or the scope prefix (`'a/'`, `''` for the
      root) whose names it rewrites.
    replace: The new name or scope prefix; None leaves the name out.
    is_scope: Whether `match` and `replace` are scope prefixes.
  """

  match: str
  replace: Optional[str]
  is_scope: bool

  @classmethod
  def of(cls, key: str, value: Optional[str]) -> Rewrite:
    """From the map spelling: scopes end with '/', '/' is the root."""
    if not key.endswith('/'):
      return cls(key, value, False)
    return cls(scope_prefix(key), None if value is None else
               scope_prefix(value), True)

  def covers(self, name: str) -> bool:
    return name.startswith(self.match) if self.is_scope else name == self.match

  def apply(self, name: str) -> Optional[str]:
    """The rewritten name of a name it covers (None: left out)."""
    if self.replace is None or not self.is_scope:
      return self.replace
    return self.replace + name[len(self.match):]


@dataclasses.dataclass(frozen=True)
class Variable:
  """What the rules look at of one variable.

  Attributes:
    name: Its full name (of the whole variable when partitioned), no ':0'.
    trainable: Whether it is trainable.
    parts: The names of its parts when partitioned (a regex may match one).
    global_step: Whether it is the graph's global step.
    local: Whether it is a local variable.
    primary: For an optimizer slot or auxiliary variable (`_slots`), the
      name of its primary variable ('' for an optimizer's own variable);
      None for any other.
  """

  name: str
  trainable: bool = True
  parts: tuple[str, ...] = ()
  global_step: bool = False
  local: bool = False
  primary: Optional[str] = None


def _rule_text(key: str, value: Any) -> str:
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


def _matches(pattern: re.Pattern, variable: Variable) -> bool:
  """re.match on the name without ':0', or on a partition's name."""
  return bool(pattern.match(variable.name)) or any(
      pattern.match(p) for p in variable.parts)


class _Graph:
  """The facts of a graph's variables the rules need, gathered once."""

  def __init__(self, targets: Mapping[str, _variables.Target],
               graph: tf.Graph):
    self.targets = targets
    self.graph = graph
    self.auxiliaries = _slots.auxiliary_variables(targets)
    self.global_steps = _variables.global_step_names(graph)
    self.local_names = _variables.local_variable_names(graph)
    self._variables: dict[str, Variable] = {}

  def variable(self, target: _variables.Target) -> Variable:
    variable = self._variables.get(target.name)
    if variable is None:
      parts = ()
      if target.is_partitioned and not target.is_custom:
        parts = tuple(_variables.var_name(p) for p in target.parts)
      variable = self._variables[target.name] = Variable(
          target.name, target.trainable, parts,
          target.name in self.global_steps, target.name in self.local_names,
          self.auxiliaries.get(target.name))
    return variable


class Rules:
  """The compiled rules of one source.

  Attributes:
    settings: The source's `WarmStartSettings`.
    scope_maps_take_slots: Whether a scope entry of the map selects the
      optimizer slots under its scope without `include_slots` (TF's
      `init_from_checkpoint` does; settings do not).
  """

  def __init__(self, settings: _settings.WarmStartSettings, *,
               scope_maps_take_slots: bool = False):
    self.settings = settings
    self.scope_maps_take_slots = scope_maps_take_slots
    spec = settings.vars_to_warm_start
    self.regexes = isinstance(spec, str) or (
        spec is not None and all(isinstance(p, str) for p in spec))
    self.patterns: list[tuple[str, re.Pattern]] = []
    if isinstance(spec, str):
      self.patterns = [('vars_to_warm_start=%r' % spec, re.compile(spec))]
    elif self.regexes:
      self.patterns = [('vars_to_warm_start[%d]=%r' % (i, p), re.compile(p))
                        for i, p in enumerate(spec)]
    self.trainable_only = isinstance(spec, str)
    self.items: list[tuple[str, Any]] = []
    self._names: dict[str, str] = {}  # variable name -> tensor (first entry)
    self._scopes: list[Rewrite] = []  # variable scope -> tensor prefix
    if settings.assignment_map is not None:
      self.items = _assignment_map.items(settings.assignment_map)
      for key, value in self.items:
        if not isinstance(value, str):
          continue  # A variable object: matched by identity in `select`.
        if key.endswith('/') or key == '':
          self._scopes.append(Rewrite(scope_prefix(value), scope_prefix(key),
                                      True))
        elif not value.endswith('/'):
          self._names.setdefault(_names.strip_output(value), key)

  @property
  def is_map(self) -> bool:
    return self.settings.assignment_map is not None

  # --- One variable at a time: what the predictor asks, and select uses. ---

  def excluded(self, variable: Variable) -> Optional[str]:
    """Why a regex of the settings may not select `variable` (None: it may)."""
    s = self.settings
    if variable.global_step and not s.include_global_step:
      return 'the global step (pass include_global_step=True)'
    if variable.primary is not None and not s.include_slots:
      return 'an optimizer slot or auxiliary variable (pass include_slots=True)'
    return None

  def scope_admits(self, variable: Variable) -> bool:
    """Whether a scope entry of the map may select `variable`."""
    if variable.local or (variable.global_step and
                          not self.settings.include_global_step):
      return False
    return (variable.primary is None or self.scope_maps_take_slots or
            self.settings.include_slots)

  def narrows_out(self, variable: Variable) -> bool:
    """Whether `vars_to_warm_start` leaves out a variable the map selects."""
    if self.settings.vars_to_warm_start == _settings.DEFAULT_VARS:
      return False
    return not any(_matches(p, variable) for _, p in self.patterns)

  def renamed(self, name: str) -> str:
    """The tensor of a variable the settings (not a map) select."""
    return self.settings.var_name_to_prev_var_name.get(name, name)

  def _own_tensor(self, variable: Variable) -> Optional[str]:
    """The tensor a rule gives `variable` itself (not as a slot)."""
    s = self.settings
    if self.is_map:
      tensor = self._names.get(variable.name)
      if tensor is None and self.scope_admits(variable):
        tensor = next((scope.replace + variable.name[len(scope.match):]
                       for scope in self._scopes
                       if scope.covers(variable.name)), None)
      if tensor is not None and self.narrows_out(variable):
        return None
      return tensor
    if s.include_global_step and variable.global_step:
      return self.renamed(variable.name)
    if s.vars_to_warm_start is None:
      return variable.name if variable.name in s.var_name_to_vocab_info else (
          None)
    if self.excluded(variable):
      return None
    if self.trainable_only and not variable.trainable:
      return None
    if any(_matches(p, variable) for _, p in self.patterns):
      return self.renamed(variable.name)
    return None

  def tensor_of(self, variable: Variable) -> Optional[str]:
    """The tensor the rules give `variable` (None: not selected).

    With `include_slots`, a slot `<v>/<suffix>` of a selected `v` reads
    `<v's tensor>/<suffix>`, and an optimizer's own variable its own name.
    Variable objects of a map are not seen here (none exists before it is
    created); `select` matches them.
    """
    tensor = self._own_tensor(variable)
    if tensor is not None or not self.settings.include_slots:
      return tensor
    if variable.primary == '':
      return variable.name
    if variable.primary:
      primary = self.tensor_of(Variable(variable.primary))
      if primary is not None:
        return primary + variable.name[len(variable.primary):]
    return None

  def remapped(self, variable: Variable) -> bool:
    """Whether the variable (or its primary) is remapped by vocabulary."""
    vocab = self.settings.var_name_to_vocab_info
    return variable.name in vocab or (variable.primary or '') in vocab

  # --- Every variable of the graph, with unmatched rules reported. ---------

  def select(self, targets: Mapping[str, _variables.Target], graph: tf.Graph,
             problems: _errors.Problems,
             checkpoint: _sources.Checkpoint) -> list[Pair]:
    """The (tensor, variable) pairs of this source, problems recorded.

    Args:
      targets: The graph's variables, from `_variables.collect`.
      graph: The graph warm-started.
      problems: Where problems are recorded (nothing is raised here).
      checkpoint: The source (for messages and the left-out warning).

    Returns:
      The pairs, in rule order (then slots, then the global step).
    """
    facts = _Graph(targets, graph)
    if self.is_map:
      return _MapSelection(self, facts, problems, checkpoint).pairs()
    return _SettingsSelection(self, facts, problems, checkpoint).pairs()


class _Selection:
  """What `Rules.select` shares between settings and maps."""

  def __init__(self, rules: Rules, facts: _Graph,
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
    return _slots.slot_pairs(pairs, self.targets, self.facts.auxiliaries)


class _SettingsSelection(_Selection):
  """`vars_to_warm_start` (regexes, variables or None) and renames."""

  def __init__(self, *args):
    super().__init__(*args)
    self.selected: dict[str, tuple[_variables.Target, str]] = {}

  def _by_regex(self, rule: str, pattern: re.Pattern) -> None:
    rules = self.rules
    found = False
    excluded = {}
    left_out: list[_variables.Target] = []
    for target in self.targets.values():
      variable = self.facts.variable(target)
      if not _matches(pattern, variable):
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
    self._warn_left_out(pattern.pattern, left_out)
    if found:
      return
    trainable_only = rules.trainable_only
    viable = [n for n, t in self.targets.items()
              if (t.trainable or not trainable_only) and
              not rules.excluded(self.facts.variable(t))]
    hint = ''
    if excluded:
      hint = ' It matches only %s: %s.' % (
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
                     left_out: list[_variables.Target]) -> None:
    """Warns of non-trainable variables a string regex leaves cold.

    Batch-norm moving means and variances, counters: the regex matches them
    and the checkpoint holds them with their shape, but TF's meaning of a
    string `vars_to_warm_start` (trainable variables only) leaves them to
    their initializer, silently in TF. Not slots, not the global step.
    """
    checkpoint = self.checkpoint
    names = [t.name for t in left_out
             if t.name in checkpoint and
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
    rewrite = Rewrite(scope_prefix(value), scope_prefix(key), True)
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

  def expand(self) -> list[Pair]:
    """Every entry's pairs, in map order."""
    pairs: list[Pair] = []
    for key, value in self.rules.items:
      rule = _rule_text(key, value)
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
      self.unmatched(
          _errors.UnmatchedRuleError,
          'vars_to_warm_start=%r leaves none of the %d variables the '
          'assignment map selects (%s); it narrows the map, matched with '
          're.match on their names (source %s)' %
          (self.settings.vars_to_warm_start, len(pairs),
           _errors.preview(p.target.name for p in pairs), self.source))
    return kept

  def pairs(self) -> list[Pair]:
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
