"""Expands an `init_from_checkpoint` assignment map into (tensor, variable) pairs.

The forms are TF's: keys are checkpoint names, values are current variables
or names.

* `'ckpt_scope/': 'scope/'`: every variable under `scope/` from the same
  relative name under `ckpt_scope/` (`'scope'` without the slash works too);
* `'ckpt_scope/other_var': 'scope/var'`: one variable by name;
* `'name_in_ckpt': variable`: a variable object (also a `PartitionedVariable`,
  the list of its parts, or a `warmstart.CustomVariable`);
* `'/': 'scope/'`: from the checkpoint's root.

Unlike TF, a scope map that matches nothing is an error, and scope maps never
pick up `global_step` or local variables (name them explicitly to restore
them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

from absl import logging

from warmstart import _errors
from warmstart import _names
from warmstart import _variables

AssignmentMap = Union[Mapping[str, Any], Iterable[tuple[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Pair:
  """A checkpoint tensor name and the variable it fills."""

  tensor: str
  target: _variables.Target
  rule: str


def items(assignment_map: AssignmentMap) -> list[tuple[str, Any]]:
  """Returns the map's (key, value) pairs, checking their form.

  Raises:
    TypeError: the map is not a dict or list of pairs, or a key is no string.
  """
  if isinstance(assignment_map, Mapping):
    pairs = list(assignment_map.items())
  elif isinstance(assignment_map, (str, bytes)) or not isinstance(
      assignment_map, Iterable):
    raise TypeError('An assignment map must be a dict or a list of (checkpoint '
                    'name, variable) pairs, got %r.' % (assignment_map,))
  else:
    pairs = []
    for pair in assignment_map:
      if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError('An assignment map given as a list must hold '
                        '(checkpoint name, variable) pairs, got %r.' % (pair,))
      pairs.append(tuple(pair))
  for key, _ in pairs:
    if not isinstance(key, str):
      raise TypeError('Assignment map keys are checkpoint names (str), got %r '
                      'of type %s.' % (key, type(key).__name__))
  return pairs


def _rule(key: str, value: Any) -> str:
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


def expand(assignment_map: AssignmentMap,
           targets: Mapping[str, _variables.Target],
           problems: _errors.Problems,
           *,
           allow_unmatched: bool = False,
           global_steps: frozenset[str] = frozenset(),
           local_names: frozenset[str] = frozenset(),
           source: str = '',
           graph: Optional[Any] = None) -> list[Pair]:
  """Expands an assignment map against the graph's variables.

  Args:
    assignment_map: See the module docstring.
    targets: The graph's variables, from `_variables.collect`.
    problems: Where problems are recorded (nothing is raised for them here).
    allow_unmatched: Whether a scope map that matches no variable is allowed.
    global_steps: Names that scope maps never select.
    local_names: Local variables, which scope maps never select either (name
      them one by one to restore them).
    source: The source's name, for messages.
    graph: The graph warm-started: a variable object of another graph is a
      problem (None: not checked).

  Returns:
    The pairs, in map order.
  """
  pairs: list[Pair] = []
  for key, value in items(assignment_map):
    rule = _rule(key, value)
    if not isinstance(value, str):
      try:
        target = _variables.target_of(value)
      except (TypeError, _errors.Error) as e:
        problems.add(_errors.SettingsError,
                     'Assignment map entry %r: %s' % (rule, e))
        continue
      foreign = _variables.foreign_part(target, graph)
      if foreign is not None:
        problems.add(
            _errors.SettingsError,
            'Assignment map entry %r: the variable %r belongs to another '
            'graph than the one warm-started; map a variable of this graph '
            '(or its name, %r).' % (rule, foreign, target.name))
        continue
      if key.endswith('/'):
        problems.add(
            _errors.SettingsError,
            'Assignment map entry %r maps the checkpoint scope %r to the '
            'variable %r: a scope key needs a scope name as its value '
            '(%r: %r).' % (rule, key, target.name, key, 'scope/'))
        continue
      pairs.append(Pair(key, target, rule))
      continue
    if key.endswith('/') or key == '':
      ckpt_prefix = '' if key in ('/', '') else key
      scope = '' if value in ('/', '') else value.rstrip('/') + '/'
      matched = [
          t for name, t in targets.items()
          if name.startswith(scope) and name not in global_steps and
          name not in local_names
      ]
      if not matched:
        message = (
            'Assignment map entry %r: no variable of the graph is under scope '
            '%r.%s Scopes in the graph: %s' %
            (rule, scope, problems.did_you_mean(scope, _scope_names(targets)),
             _errors.preview(_scope_names(targets))))
        if allow_unmatched:
          logging.warning('%s; ignored (allow_unmatched=True).', message)
        else:
          problems.add(_errors.UnmatchedRuleError, message + '.')
      for target in matched:
        pairs.append(Pair(ckpt_prefix + target.name[len(scope):], target, rule))
      continue
    if value.endswith('/'):
      problems.add(
          _errors.SettingsError,
          'Assignment map entry %r maps the single tensor %r to the scope %r: '
          'write %r to map a scope, or name one variable as the value.' %
          (rule, key, value, key + '/'))
      continue
    name = _names.strip_output(value)
    target = targets.get(name)
    if target is None:
      problems.add(
          _errors.VariableNotFoundError,
          'Assignment map entry %r: the graph has no variable %r (source %s).%s'
          % (rule, name, source, problems.did_you_mean(name, targets)))
      continue
    pairs.append(Pair(key, target, rule))
  return pairs
