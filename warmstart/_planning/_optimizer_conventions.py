"""Optimizer slots by kind, across the conventions that name them.

One quantity has a name per convention. Adam's first moment of `w` is:

* `w/Adam` in a TF1 graph (slots are named after the optimizer, `_1`, `_2`
  in creation order: `w/Adam` m, `w/Adam_1` v);
* the slot `m` of the same optimizer run eagerly (the key of its TF2
  checkpoint says `m`; `_sources` names it `w/Adam` as a graph would, but
  in a process that made other optimizers before it may be `w/Adam_2`);
* `w/m` of a Keras legacy optimizer (`OptimizerV2`; recorded `Adam/w/m`,
  which is also its name in a graph);
* `Adam/m/w` of a Keras 2.11+ optimizer (key `optimizer/_variables/N`).

`KINDS` is that table; `Counterparts` finds in one checkpoint the slot of a
kind for a variable, so `optimizer_state='matching'` restores a Keras Adam's
m into a TF1 graph's `w/Adam`. Only the same quantity maps (from TF 2.15's
and Keras 2.15's update rules):

* Adam m, v: the moving averages of g and g*g, in all four.
* Adagrad's accumulator: its initial value plus the sum of g*g, in all
  (Keras adds its epsilon in the update, not to the accumulator).
* Ftrl's accumulator (n) and linear (z): the same recurrences in all.
* RMSProp's ms, momentum and mg: ms = rho*ms + (1-rho)*g*g,
  mom = mu*mom + lr*g/sqrt(ms+eps), mg = rho*mg + (1-rho)*g, in all.
* Not Momentum: TF1 keeps a = mu*a + g (w -= lr*a), Keras SGD keeps
  v = mu*v - lr*g (w += v), which is -lr*a only while lr never changed.

TF1 Adam's `beta1_power` after t steps is beta1^(t+1); a Keras optimizer
counts t in `iterations`, so `beta_power` computes it with the graph's beta.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from warmstart import _sources

# Kinds: two slots of one kind hold the same quantity.
ADAM_M = 'Adam m'
ADAM_V = 'Adam v'
MOMENTUM = 'Momentum accumulation'
KERAS_MOMENTUM = 'Keras SGD momentum'
ADAGRAD = 'Adagrad accumulator'
FTRL_ACCUMULATOR = 'Ftrl accumulator'
FTRL_LINEAR = 'Ftrl linear'
RMS_MS = 'RMSProp ms'
RMS_MOMENTUM = 'RMSProp momentum'
RMS_MG = 'RMSProp mg'

# Conventions.
TF1 = 'TF1'
TF1_EAGER = 'TF1 eager'
KERAS_LEGACY = 'Keras legacy'
KERAS = 'Keras 2.11+'

_ADAM = (('m', ADAM_M), ('v', ADAM_V))

#: {convention: {optimizer's default name: its slots (name, kind)}}. TF1's
#: are in creation order (a graph names them `Adam`, `Adam_1`, ...); RMSProp
#: makes `mg` only when centered. TF1_EAGER uses TF1's slot names.
KINDS: Mapping[str, Mapping[str, tuple[tuple[str, str], ...]]] = {
    TF1: {
        'Adam': _ADAM,
        'Momentum': (('momentum', MOMENTUM),),
        'Adagrad': (('accumulator', ADAGRAD),),
        'Ftrl': (('accum', FTRL_ACCUMULATOR), ('linear', FTRL_LINEAR)),
        'RMSProp': (('rms', RMS_MS), ('mg', RMS_MG),
                    ('momentum', RMS_MOMENTUM)),
    },
    KERAS_LEGACY: {
        'Adam': _ADAM,
        'SGD': (('momentum', KERAS_MOMENTUM),),
        'Adagrad': (('accumulator', ADAGRAD),),
        'Ftrl': (('accumulator', FTRL_ACCUMULATOR), ('linear', FTRL_LINEAR)),
        'RMSprop': (('rms', RMS_MS), ('momentum', RMS_MOMENTUM),
                    ('mg', RMS_MG)),
    },
    KERAS: {
        'Adam': _ADAM,
        'AdamW': _ADAM,
        'SGD': (('m', KERAS_MOMENTUM),),
        'Adagrad': (('accumulator', ADAGRAD),),
        'Ftrl': (('accumulator', FTRL_ACCUMULATOR), ('linear', FTRL_LINEAR)),
        'RMSprop': (('velocity', RMS_MS), ('momentum', RMS_MOMENTUM),
                    ('average_gradient', RMS_MG)),
    },
}

#: Kinds that look alike but are not the same quantity, and why.
NOT_THE_SAME = {
    frozenset((MOMENTUM, KERAS_MOMENTUM)):
        'Keras SGD keeps -learning_rate times what TF1 Momentum accumulates',
}

_SLOT_KEY = '/.OPTIMIZER_SLOT/'
_VALUE = '/.ATTRIBUTES/VARIABLE_VALUE'
_NUMBERED = re.compile(r'_\d+$')
_BETA_POWER = re.compile(r'(^|/)beta([12])_power(_\d+)?$')


@dataclasses.dataclass(frozen=True)
class Slot:
  """One optimizer slot, recognized.

  Attributes:
    tensor: The name (graph) or checkpoint name or key it is read by.
    primary: The name of its variable.
    convention: `TF1`, `TF1_EAGER`, `KERAS_LEGACY` or `KERAS`.
    optimizer: The optimizer's default name ('Adam').
    slot: The slot's name in its convention ('m', 'accum').
    kind: What it holds (`ADAM_M`).
    iterations: The checkpoint tensor counting its optimizer's steps (Keras
      optimizers), if any.
    betas: The tensors of its optimizer's recorded beta_1, beta_2 (Keras
      legacy Adam), or None each.
  """

  tensor: str
  primary: str
  convention: str
  optimizer: str
  slot: str
  kind: str
  iterations: Optional[str] = None
  betas: tuple[Optional[str], Optional[str]] = (None, None)

  @property
  def label(self) -> str:
    """How the plan names it: 'Keras legacy Adam m'."""
    return '%s %s %s' % (self.convention, self.optimizer, self.slot)


def _kind(convention: str, optimizer: str, slot: str) -> Optional[str]:
  return dict(KINDS[convention].get(optimizer, ())).get(slot)


def tf1_graph_slots(primary: str, suffixes: Collection[str]
                   ) -> dict[str, Slot]:
  """{suffix: Slot} of one variable's slots `<primary>/<suffix>` named as a
  TF1 graph names them (`Adam`, `Adam_1`); unknown suffixes are left out."""
  found = {}
  for optimizer, slots in KINDS[TF1].items():
    if optimizer == 'RMSProp' and optimizer + '_2' not in suffixes:
      slots = tuple(s for s in slots if s[0] != 'mg')  # Not centered.
    for i, (slot, kind) in enumerate(slots):
      suffix = optimizer if i == 0 else '%s_%d' % (optimizer, i)
      if suffix in suffixes:
        found[suffix] = Slot('%s/%s' % (primary, suffix), primary, TF1,
                             optimizer, slot, kind)
  return found


def _tf1_optimizer(slot_names: Collection[str]) -> Optional[str]:
  """The TF1 optimizer whose slots are exactly `slot_names`."""
  names = set(slot_names)
  for optimizer, slots in KINDS[TF1].items():
    own = {s for s, _ in slots}
    if names == own or (optimizer == 'RMSProp' and names == own - {'mg'}):
      return optimizer
  return None


def _longest_primary(name: str, weights: Collection[str]) -> Optional[str]:
  pieces = name.split('/')
  for i in range(len(pieces) - 1, 0, -1):
    if '/'.join(pieces[:i]) in weights:
      return '/'.join(pieces[:i])
  return None


def _in(checkpoint: _sources.Checkpoint, key: str) -> Optional[str]:
  return key if key in checkpoint else None


def _keras_slot(name: str, tensor: str, weights: Collection[str],
                path: Optional[str],
                checkpoint: _sources.Checkpoint) -> Optional[Slot]:
  """A Keras 2.11+ slot `<Optimizer>/<slot>/<variable>` (`path`: its
  optimizer's object path in a TF2 checkpoint), or a Keras legacy slot in a
  graph, `<Optimizer>/<variable>/<slot>`; else None."""
  pieces = name.split('/')
  optimizer = _NUMBERED.sub('', pieces[0])
  if len(pieces) >= 3 and '/'.join(pieces[2:]) in weights:
    kind = _kind(KERAS, optimizer, pieces[1])
    if kind is not None:
      iterations = (_in(checkpoint, path + '/_iterations' + _VALUE)
                    if path is not None else _in(checkpoint, 'iteration'))
      return Slot(tensor, '/'.join(pieces[2:]), KERAS, optimizer, pieces[1],
                  kind, iterations)
  if len(pieces) >= 3 and '/'.join(pieces[1:-1]) in weights:
    kind = _kind(KERAS_LEGACY, optimizer, pieces[-1])
    if kind is not None:
      return Slot(tensor, '/'.join(pieces[1:-1]), KERAS_LEGACY, optimizer,
                  pieces[-1], kind, _in(checkpoint, pieces[0] + '/iter'),
                  (_in(checkpoint, pieces[0] + '/beta_1'),
                   _in(checkpoint, pieces[0] + '/beta_2')))
  return None


def _name_based(checkpoint: _sources.Checkpoint) -> list[Slot]:
  names = set(checkpoint.shapes)
  found = []
  suffixes: dict[str, set[str]] = {}
  for name in names:
    slot = _keras_slot(name, name, names, None, checkpoint)
    if slot is not None:
      found.append(slot)
      continue
    primary = _longest_primary(name, names)
    if primary is not None:
      suffixes.setdefault(primary, set()).add(name[len(primary) + 1:])
  for primary, own in suffixes.items():
    found.extend(tf1_graph_slots(primary, own).values())
  return found


def _object_based(checkpoint: _sources.Checkpoint,
                  names: Any) -> list[Slot]:
  resolved = names.name_of
  recorded: dict[str, list[str]] = {}
  for name, key in names.key_of.items():
    if resolved.get(key) != name:
      recorded.setdefault(key, []).append(name)
  weights = {name for key, name in resolved.items() if _SLOT_KEY not in key}
  found = []
  eager: dict[str, dict[str, str]] = {}  # primary -> {TF1 slot name: key}
  for key, name in resolved.items():
    if _SLOT_KEY not in key:
      if key.endswith(_VALUE) and '/_variables/' in key:
        path = key.split('/_variables/')[0]
        slot = _keras_slot(name, key, weights, path, checkpoint)
        if slot is not None and slot.convention == KERAS:
          found.append(slot)
      continue
    variable_key, rest = key.split(_SLOT_KEY, 1)
    primary = resolved.get(variable_key + _VALUE)
    if primary is None or not rest.endswith(_VALUE):
      continue
    path, slot_name = rest[:-len(_VALUE)].rsplit('/', 1)
    legacy = [n[:-len('/%s/%s' % (primary, slot_name))]
              for n in recorded.get(key, ())
              if n.endswith('/%s/%s' % (primary, slot_name))]
    if not legacy:
      eager.setdefault(primary, {})[slot_name] = key
      continue
    optimizer = _NUMBERED.sub('', legacy[0].rsplit('/', 1)[-1])
    kind = _kind(KERAS_LEGACY, optimizer, slot_name)
    if kind is not None:
      found.append(Slot(
          key, primary, KERAS_LEGACY, optimizer, slot_name, kind,
          _in(checkpoint, path + '/iter' + _VALUE),
          (_in(checkpoint, path + '/beta_1' + _VALUE),
           _in(checkpoint, path + '/beta_2' + _VALUE))))
  for primary, keys in eager.items():
    optimizer = _tf1_optimizer(keys)
    for slot_name, key in keys.items():
      if optimizer is not None:
        found.append(Slot(key, primary, TF1_EAGER, optimizer, slot_name,
                          _kind(TF1, optimizer, slot_name)))
  return found


class Counterparts:
  """The optimizer slots of one checkpoint, by (variable, kind)."""

  def __init__(self, checkpoint: _sources.Checkpoint):
    self.checkpoint = checkpoint
    names = _sources.names_of(checkpoint)
    found = (_object_based(checkpoint, names) if names.object_based else
             _name_based(checkpoint))
    self._name_of = names.name_of
    self._by_kind: dict[tuple[str, str], Optional[Slot]] = {}
    self._of: dict[str, list[Slot]] = {}
    self._at = {slot.tensor: slot for slot in found}
    for slot in found:
      key = (slot.primary, slot.kind)
      # Two optimizers' slots of one kind for one variable: neither.
      self._by_kind[key] = None if key in self._by_kind else slot
      self._of.setdefault(slot.primary, []).append(slot)

  def _primary(self, tensor: str) -> str:
    return self._name_of.get(tensor, tensor)  # A key: its variable's name.

  def at(self, tensor: str) -> Optional[Slot]:
    """The slot the checkpoint holds as `tensor` (a name or key), if any."""
    return self._at.get(_sources.resolve(self.checkpoint, tensor)[0])

  def find(self, tensor: str, kind: str) -> Optional[Slot]:
    """The slot of `kind` of the variable the checkpoint holds as `tensor`."""
    return self._by_kind.get((self._primary(tensor), kind))

  def unlike(self, tensor: str, kind: str) -> Optional[tuple[Slot, str]]:
    """A slot of `tensor` that looks like `kind` but is not the same
    quantity, and why; None if there is none."""
    for slot in self._of.get(self._primary(tensor), ()):
      why = NOT_THE_SAME.get(frozenset((slot.kind, kind)))
      if why is not None and slot.kind != kind:
        return slot, why
    return None


def beta_power_index(name: str) -> Optional[int]:
  """1 or 2 for TF1 Adam's `beta1_power` or `beta2_power`, else None."""
  match = _BETA_POWER.search(name)
  return int(match.group(2)) if match else None


def graph_beta(variable: Any) -> Optional[float]:
  """The beta of a graph's TF1 Adam, from its beta power's initial value
  (TF1 Adam starts `beta1_power` at beta1); None when not a constant."""
  try:
    value = tf.get_static_value(variable.initial_value)
  except (AttributeError, TypeError, ValueError):
    return None
  return None if value is None or np.ndim(value) else float(value)


def beta_power(which: int, beta: Optional[float], source: Slot,
               checkpoint: _sources.Checkpoint
              ) -> tuple[Optional[float], str]:
  """TF1 Adam's `beta<which>_power` from the Keras Adam that wrote `source`.

  After t steps TF1 Adam holds beta^(t+1) (it starts at beta and multiplies
  after each step); a Keras Adam counts t in `iterations` and uses
  beta^(iterations+1) in its next step.

  Args:
    which: 1 or 2.
    beta: The graph's beta1 or beta2 (`graph_beta`), or None.
    source: A Keras Adam slot the plan restores.
    checkpoint: Its checkpoint.

  Returns:
    (the value, how it was computed), or (None, why it cannot be).
  """
  if source.iterations is None:
    return None, 'the checkpoint holds no step count of its %s %s' % (
        source.convention, source.optimizer)
  if beta is None:
    return None, "the graph's beta%d_power does not start at a constant" % which
  reader = tf.compat.v1.train.NewCheckpointReader(checkpoint.prefix)
  steps = int(reader.get_tensor(source.iterations))
  recorded = source.betas[which - 1]
  if recorded is not None:
    saved = float(reader.get_tensor(recorded))
    if np.float32(saved) != np.float32(beta):
      return None, ('its %s %s ran with beta_%d=%g, the graph with %g: not '
                    'the same bias correction' % (
                        source.convention, source.optimizer, which, saved,
                        beta))
  value = float(np.float32(float(np.float32(beta)) ** (steps + 1)))
  return value, ('beta%d^(iterations+1) = %g^%d from the step count of the '
                 '%s %s' % (which, beta, steps + 1, source.convention,
                            source.optimizer))
