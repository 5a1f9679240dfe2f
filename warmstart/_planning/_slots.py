"""Optimizer slots and other auxiliary variables, found by their names.

A non-trainable variable named `<v>/<suffix>`, where `<v>` is a trainable
variable, is an auxiliary of `<v>`: an optimizer slot (`w/Adam`,
`w/Momentum`, `w/Ftrl_1`) or a moving average (`w/ExponentialMovingAverage`).
A non-trainable `beta1_power` / `beta2_power` is an optimizer's own variable.
Settings leave them out unless `include_slots`; `slot_pairs` adds them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Optional

from warmstart import _assignment_map
from warmstart import _plan
from warmstart import _sources
from warmstart import _variables
from warmstart._planning import _optimizer_conventions

_ADAM = (_optimizer_conventions.ADAM_M, _optimizer_conventions.ADAM_V)
_KERAS = (_optimizer_conventions.KERAS, _optimizer_conventions.KERAS_LEGACY)

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
               optional: bool = False,
               checkpoint: Optional[_sources.Checkpoint] = None
              ) -> list[_assignment_map.Pair]:
  """The pairs `include_slots` adds to `pairs`.

  Each auxiliary variable `<v>/<suffix>` of a variable `v` that `pairs` fill
  reads `<v's tensor>/<suffix>` (so a rename of `v` renames its slots); the
  optimizer's own variables (Adam's `beta1_power`) read their own names,
  when a variable `pairs` fill has a slot (restoring Adam's moments without
  its beta powers would mis-scale its bias correction). Variables `pairs`
  already fill are left alone.

  When `checkpoint` lacks `<v's tensor>/<suffix>`, a slot of the same kind
  in another convention fills it (`_optimizer_conventions`: a Keras Adam's
  m for TF1's `w/Adam`), said in the pair's note; TF1 Adam's beta powers
  are then computed from that Keras Adam's step count.

  Args:
    pairs: The selected (tensor, variable) pairs.
    targets: The graph's variables.
    auxiliaries: `auxiliary_variables(targets)`.
    optional: Whether a pair without its tensor starts fresh
      (`optimizer_state='matching'`) instead of being an error.
    checkpoint: The source, to find slots by kind (None: by name only).

  Returns:
    The added pairs, in the order of their primaries.
  """
  slots_of: dict[str, list[str]] = {}
  for name, primary in auxiliaries.items():
    slots_of.setdefault(primary, []).append(name)
  filled = {pair.target.name for pair in pairs}
  added = []
  has_slots = False
  counterparts = None  # Read once, when a slot's name may not say its kind.
  # A TF2 checkpoint's slot names are derived (a TF1 optimizer run eagerly
  # may name `w/RMSProp_2` what a graph calls `w/RMSProp`): kinds decide.
  by_key = checkpoint is not None and _sources.names_of(
      checkpoint).object_based
  keras_adam = None  # A Keras Adam slot restored into a TF1 Adam's.
  for pair in pairs:
    slots = slots_of.get(pair.target.name, ())
    for slot in slots:
      has_slots = True
      if slot in filled:
        continue
      filled.add(slot)
      added.append(_assignment_map.Pair(
          pair.tensor + slot[len(pair.target.name):], targets[slot],
          '%s, include_slots' % pair.rule, optional=optional))
      held = checkpoint is not None and _holds(checkpoint, added[-1].tensor)
      if checkpoint is None or (held and not by_key):
        continue
      if counterparts is None:
        counterparts = _optimizer_conventions.Counterparts(checkpoint)
      found, note = _by_kind(counterparts, pair, slot, slots, held)
      if found is not None or not held:
        added[-1] = dataclasses.replace(
            added[-1], tensor=found.tensor if found else added[-1].tensor,
            note=note)
      if found is not None and found.kind in _ADAM and (
          found.convention in _KERAS):
        keras_adam = found
  if has_slots:
    for name in slots_of.get('', ()):
      if name not in filled:
        added.append(_assignment_map.Pair(name, targets[name],
                                          'include_slots', optional=optional))
        which = _optimizer_conventions.beta_power_index(name)
        if keras_adam is not None and which and not _holds(checkpoint, name):
          value, note = _optimizer_conventions.beta_power(
              which, _optimizer_conventions.graph_beta(targets[name].parts[0]),
              keras_adam, checkpoint)
          added[-1] = dataclasses.replace(
              added[-1], note=note, value=value,
              tensor=name if value is None else keras_adam.iterations)
  return added


def _holds(checkpoint: _sources.Checkpoint, tensor: str) -> bool:
  """Whether `tensor` (a name or key) is in the checkpoint."""
  return _sources.resolve(checkpoint, tensor)[0] in checkpoint


def _by_kind(counterparts: _optimizer_conventions.Counterparts,
             pair: _assignment_map.Pair, slot: str, slots: Sequence[str],
             held: bool
            ) -> tuple[Optional[_optimizer_conventions.Slot], str]:
  """The checkpoint's slot of the kind of `slot` (of `pair`'s variable, whose
  slots are `slots`) and the note saying so, when the tensor of its name is
  not held or `held` but of another kind; else None and why not ('' when
  its name is right, or the checkpoint holds nothing like it)."""
  primary = pair.target.name
  suffixes = {s[len(primary) + 1:] for s in slots}
  wanted = _optimizer_conventions.tf1_graph_slots(primary, suffixes).get(
      slot[len(primary) + 1:])
  if wanted is None:
    return None, ''
  if held:
    named = counterparts.at(pair.tensor + slot[len(primary):])
    if named is None or named.kind == wanted.kind:
      return None, ''
  found = counterparts.find(pair.tensor, wanted.kind)
  if found is not None:
    return found, '%s as %s' % (found.label, wanted.label)
  unlike = counterparts.unlike(pair.tensor, wanted.kind)
  if unlike is None or held:
    return None, ''
  return None, "the checkpoint's %s (%s) is not %s: %s" % (
      unlike[0].label, unlike[0].tensor, wanted.label, unlike[1])


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
