"""The rules of one source, compiled once: which tensor fills which variable.

Every consumer asks the same compiled `Rules`, so they cannot drift apart:

* planning: `_selection.select` goes over every variable of the graph with
  these rules' decisions and reports every rule that selects nothing;
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

Regexes match as TF's do, against `name:0`. Unlike TF, a rule that matches
nothing is an error (saying so when the `:0` is why), and scope maps never
pick up `global_step` or local variables (name them to restore them).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any, Optional

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _names
from warmstart import _settings
from warmstart import _transform


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


def tf_names(variable: Variable) -> tuple[str, ...]:
  """The names TF matches a regex against: `name:0`, or each part's."""
  return tuple(n + ':0' for n in (variable.parts or (variable.name,)))


def matches(pattern: re.Pattern, variable: Variable) -> bool:
  """TF's match: `re.match` on `name:0` (a partitioned variable: a part's).

  TF selects with `get_collection(key, scope=regex)`, which matches each
  variable's `name` ('v:0'; a partitioned variable's parts:
  'emb/part_0:0'), so `'v2[^/]'` selects `v2` and `'v2$'` selects nothing.
  """
  return any(pattern.match(n) for n in tf_names(variable))


def colon_zero_hint(pattern: re.Pattern,
                    variables: Iterable[Variable]) -> str:
  """Why `pattern` (which matches none of `variables`) would have matched
  some without the `:0`, and the spelling that works; '' otherwise."""
  near = [v for v in variables
          if pattern.match(v.name) or any(pattern.match(p) for p in v.parts)]
  if not near:
    return ''
  text = pattern.pattern
  if text.endswith('$') and not text.endswith('\\$'):
    end = r'(/part_\d+)?:0$' if any(v.parts for v in near) else ':0$'
    spelling = "write '%s'" % (text[:-1] + end)
  else:
    spelling = "match the ':0' where your regex expects the end of the name"
  return (' Regexes are matched as TF matches them, against the names with '
          "':0' (%r), so it matches none; without the ':0' it would match "
          '%s: %s.' % (tf_names(near[0])[0],
                       _errors.preview(v.name for v in near), spelling))


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
    # optimizer_state='none': no scope entry takes an optimizer variable.
    self.scope_maps_take_slots = (scope_maps_take_slots and
                                  settings.optimizer_state != 'none')
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
    # variable name -> its share of a transform (targets named by name).
    self._transforms: dict[str, _transform.Application] = {}
    if settings.assignment_map is not None:
      self.items = _assignment_map.items(settings.assignment_map)
      for key, value in self.items:
        if isinstance(value, _transform.Transform):
          tensors = tuple(key) if isinstance(key, tuple) else (key,)
          for part, target in enumerate(value.targets):
            if isinstance(target, str):
              self._transforms.setdefault(
                  _names.strip_output(target), _transform.Application(
                      tensors, value.ops, part, len(value.targets)))
          continue
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
    return not any(matches(p, variable) for _, p in self.patterns)

  def renamed(self, name: str) -> str:
    """The tensor of a variable the settings (not a map) select."""
    return self.settings.var_name_to_prev_var_name.get(name, name)

  def _own_tensor(self, variable: Variable) -> Optional[str]:
    """The tensor a rule gives `variable` itself (not as a slot)."""
    s = self.settings
    if self.is_map:
      tensor = self._names.get(variable.name)
      if tensor is None and self.scope_admits(variable):
        tensor = next((scope.apply(variable.name) for scope in self._scopes
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
    if any(matches(p, variable) for _, p in self.patterns):
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

  def transform_of(self, variable: Variable) -> Optional[
      _transform.Application]:
    """The transform a map entry gives `variable` by name, if any."""
    if variable.name in self._names:
      return None  # A plain entry of the same variable comes first.
    applied = self._transforms.get(variable.name)
    if applied is None or self.narrows_out(variable):
      return None
    return applied

  def remapped(self, variable: Variable) -> bool:
    """Whether the variable (or its primary) is remapped by vocabulary."""
    vocab = self.settings.var_name_to_vocab_info
    return variable.name in vocab or (variable.primary or '') in vocab
