"""Optimizer slots and other auxiliary variables, found by their names.

A non-trainable variable named `<v>/<suffix>`, where `<v>` is a trainable
variable, is an auxiliary of `<v>`: an optimizer slot (`w/Adam`,
`w/Momentum`, `w/Ftrl_1`) or a moving average (`w/ExponentialMovingAverage`).
A non-trainable `beta1_power` / `beta2_power` is an optimizer's own variable.
Settings leave them out unless `include_slots`; `slot_pairs` adds them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Optional

from warmstart import _assignment_map
from warmstart import _plan
from warmstart import _variables

# Variables an optimizer keeps for itself rather than per variable.
_OPTIMIZER_VARIABLE = re.compile(r'(^|/)beta[12]_power(_\d+)?$')


def is_optimizer_variable(name: str) -> bool:
  """True for an optimizer's own variable, such as Adam's `beta1_power`."""
  return bool(_OPTIMIZER_VARIABLE.search(name))


def primary_of(name: str, primaries: Collection[str]) -> Optional[str]:
  """The longest scope of `name` that is in `primaries` (`w` for `w/Adam`)."""
  pieces = name.split('/')
  for i in range(len(pieces) - 1, 0, -1):
    primary = '/'.join(pieces[:i])
    if primary in primaries:
      return primary
  return None


def auxiliary_variables(
    targets: Mapping[str, _variables.Target]) -> dict[str, str]:
  """Finds optimizer slots and the like, structurally.

  A non-trainable variable named `<v>/<suffix>` where `<v>` is a trainable
  variable is an auxiliary of `<v>` (an optimizer slot such as `w/Adam`,
  `w/Momentum`, `w/Ftrl_1`; also a moving average `w/ExponentialMovingAverage`).
  A non-trainable `beta1_power`/`beta2_power` is an optimizer variable.

  Args:
    targets: The graph's variables, from `_variables.collect`.

  Returns:
    {auxiliary variable name: its primary's name ('' for optimizer
    variables)}.
  """
  trainable = {name for name, t in targets.items() if t.trainable}
  result = {}
  for name, target in targets.items():
    if target.trainable:
      continue
    primary = primary_of(name, trainable)
    if primary is not None:
      result[name] = primary
    elif is_optimizer_variable(name):
      result[name] = ''
  return result


def slot_pairs(pairs: Sequence[_assignment_map.Pair],
               targets: Mapping[str, _variables.Target],
               auxiliaries: Mapping[str, str],
               optional: bool = False) -> list[_assignment_map.Pair]:
  """The pairs `include_slots` adds to `pairs`.

  Each auxiliary variable `<v>/<suffix>` of a variable `v` that `pairs` fill
  reads `<v's tensor>/<suffix>` (so a rename of `v` renames its slots); the
  optimizer's own variables (Adam's `beta1_power`) read their own names,
  when a variable `pairs` fill has a slot (restoring Adam's moments without
  its beta powers would mis-scale its bias correction). Variables `pairs`
  already fill are left alone.

  Args:
    pairs: The selected (tensor, variable) pairs.
    targets: The graph's variables.
    auxiliaries: `auxiliary_variables(targets)`.
    optional: Whether a pair without its tensor starts fresh
      (`optimizer_state='matching'`) instead of being an error.

  Returns:
    The added pairs, in the order of their primaries.
  """
  slots_of: dict[str, list[str]] = {}
  for name, primary in auxiliaries.items():
    slots_of.setdefault(primary, []).append(name)
  filled = {pair.target.name for pair in pairs}
  added = []
  has_slots = False
  for pair in pairs:
    for slot in slots_of.get(pair.target.name, ()):
      has_slots = True
      if slot not in filled:
        filled.add(slot)
        added.append(_assignment_map.Pair(
            pair.tensor + slot[len(pair.target.name):], targets[slot],
            '%s, include_slots' % pair.rule, optional=optional))
  if has_slots:
    for name in slots_of.get('', ()):
      if name not in filled:
        added.append(_assignment_map.Pair(name, targets[name],
                                          'include_slots', optional=optional))
  return added


def tensor_kind(name: str, names: Collection[str]) -> str:
  """What a checkpoint tensor is, from its name and its checkpoint's names.

  `_plan.GLOBAL_STEP`, `_plan.OPTIMIZER` (Adam's `beta1_power`),
  `_plan.SLOT` (`<tensor>/<suffix>` of another tensor, or a TF2
  `.OPTIMIZER_SLOT`), else `_plan.WEIGHT`.
  """
  if name == 'global_step':
    return _plan.GLOBAL_STEP
  if is_optimizer_variable(name):
    return _plan.OPTIMIZER
  if '/.OPTIMIZER_SLOT/' in name or primary_of(name, names) is not None:
    return _plan.SLOT
  return _plan.WEIGHT
