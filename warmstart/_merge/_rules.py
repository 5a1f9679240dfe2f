"""What a merge is asked to do: its sources, renames and exclude patterns.

Renames map checkpoint names to output names, in the forms of assignment-map
keys, each applied by a `_planning.Rewrite` (the rewrite assignment maps
use): `'old/': 'new/'` renames a scope, `'/': 'new/'` puts every tensor under
`new/`, `'old/': '/'` strips a scope, `'old': 'new'` renames one tensor and
`'old': None` (or `'old/': None`) drops it. One-tensor rules beat scope rules;
among scopes the longest wins. Tensors no rule matches keep their name.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Union

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _planning
from warmstart import _transform

Renames = Mapping[str, Optional[str]]


@dataclasses.dataclass(frozen=True)
class Rule:
  """One rename of one source.

  Attributes:
    key: The checkpoint name, or scope (ending with '/'), it matches.
    value: The new name or scope; None leaves the tensor out.
  """

  key: str
  value: Optional[str]

  @property
  def text(self) -> str:
    """The rule as the command line writes it (`key=value`)."""
    return '%s=%s' % (self.key, '' if self.value is None else self.value)

  @property
  def is_scope(self) -> bool:
    return self.key.endswith('/')

  @property
  def rewrite(self) -> _planning.Rewrite:
    return _planning.Rewrite.of(self.key, self.value)

  def apply(self, name: str) -> Optional[str]:
    """The output name of checkpoint tensor `name` (None: left out)."""
    return self.rewrite.apply(name)


def rules_of(renames: Optional[Renames], source: str) -> list[Rule]:
  """Validates one source's renames.

  Args:
    renames: {checkpoint name or scope: new name or scope, or None}, or None.
    source: The source's prefix, for messages.

  Returns:
    The rules, in the order given.

  Raises:
    TypeError: `renames` is not a mapping.
    SettingsError: an empty key or value, or a scope mapped to a tensor name.
  """
  if renames is None:
    return []
  if not isinstance(renames, Mapping):
    raise TypeError('The renames of source %s must be a dict from checkpoint '
                    'names or scopes to new names, got %r.' % (source, renames))
  rules = []
  for key, value in renames.items():
    if isinstance(value, _transform.Transform):
      continue  # `transforms_of`.
    if not isinstance(key, str) or not key:
      raise _errors.SettingsError(
          'Rename keys of source %s must be non-empty checkpoint names or '
          'scopes, got %r.' % (source, key))
    if value is not None and (not isinstance(value, str) or not value):
      raise _errors.SettingsError(
          'Rename %r of source %s: the new name must be a non-empty string (or '
          'None to leave the tensor out), got %r.' % (key, source, value))
    if value is not None and key.endswith('/') != value.endswith('/'):
      fixed = (key + '/', value) if value.endswith('/') else (key, value + '/')
      raise _errors.SettingsError(
          'Rename %s=%s of source %s maps a %s to a %s: scopes end with "/", '
          'write %s=%s to rename the scope.' %
          (key, value, source, 'scope' if key.endswith('/') else 'tensor',
           'scope' if value.endswith('/') else 'tensor', fixed[0], fixed[1]))
    rules.append(Rule(key, value))
  return rules


@dataclasses.dataclass(frozen=True)
class TransformRule:
  """One source's `warmstart.Transform` entry: new tensors from old ones.

  Attributes:
    tensors: The checkpoint names it reads (several for concat).
    transform: The transform; its targets are the output names.
  """

  tensors: tuple[str, ...]
  transform: _transform.Transform

  @property
  def text(self) -> str:
    return '%s=%s (%s)' % ('+'.join(self.tensors),
                           ','.join(self.transform.targets),
                           self.transform.text)


def transforms_of(renames: Optional[Renames],
                  source: str) -> list[TransformRule]:
  """The `warmstart.Transform` entries of one source's renames.

  Raises:
    SettingsError: a target that is not an output name (merge writes
      tensors: there are no variables), or a malformed key.
  """
  if not isinstance(renames, Mapping):
    return []
  found = []
  for key, value in renames.items():
    if not isinstance(value, _transform.Transform):
      continue
    try:
      _assignment_map.items({key: value})
    except TypeError as e:
      raise _errors.SettingsError('Source %s: %s' % (source, e)) from None
    for target in value.targets:
      if not isinstance(target, str) or not target or target.endswith('/'):
        raise _errors.SettingsError(
            'Transform %r of source %s: a merge writes tensors, so each '
            'target is an output tensor name (str), got %r.' %
            (key, source, target))
    found.append(TransformRule(
        tuple(key) if isinstance(key, tuple) else (key,), value))
  return found


def rule_for(name: str, rules: Sequence[Rule]) -> Optional[Rule]:
  """The rule that renames `name`: exact names first, then longest scope."""
  best = None
  for rule in rules:
    rewrite = rule.rewrite
    if not rewrite.covers(name):
      continue
    if not rewrite.is_scope:
      return rule
    if best is None or len(rewrite.match) > len(best.rewrite.match):
      best = rule
  return best


def exclude_patterns(
    exclude: Union[str, Iterable[str]]) -> list[re.Pattern[str]]:
  """Compiles the exclude regexes (one string is one regex).

  Raises:
    SettingsError: a regex does not compile.
  """
  if isinstance(exclude, str):
    exclude = [exclude]
  patterns = []
  for regex in exclude:
    try:
      patterns.append(re.compile(regex))
    except re.error as e:
      raise _errors.SettingsError(
          'Invalid exclude regex %r: %s.' % (regex, e)) from e
  return patterns


def source_pairs(sources: Sequence[Any]) -> list[tuple[Any, Any]]:
  """Returns (path, renames or None) for each source.

  Raises:
    TypeError: `sources` is one path or not a sequence.
    SettingsError: no source, or a pair of the wrong length.
  """
  if isinstance(sources, (str, bytes, os.PathLike)) or not isinstance(
      sources, Sequence):
    raise TypeError('merge_checkpoints takes a list of sources (paths or '
                    '(path, renames) pairs), got %r.' % (sources,))
  if not sources:
    raise _errors.SettingsError('merge_checkpoints needs at least one source.')
  pairs = []
  for source in sources:
    if isinstance(source, (tuple, list)):
      if len(source) != 2:
        raise _errors.SettingsError(
            'A source is a path or a (path, renames) pair, got %r.' %
            (source,))
      pairs.append(tuple(source))
    else:
      pairs.append((source, None))
  return pairs
