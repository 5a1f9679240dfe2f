"""An `init_from_checkpoint` assignment map, as data: its form and its pairs.

Keys are checkpoint names or scopes, values are current variables or names
(TF's forms; `_planning._rules` gives them their meaning). `items` checks a
map's form; `Pair` is what every rule produces: a tensor and the variable it
fills.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

from warmstart import _transform
from warmstart import _variables

AssignmentMap = Union[Mapping[str, Any], Iterable[tuple[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Pair:
  """A checkpoint tensor name and the variable it fills."""

  tensor: str
  target: _variables.Target
  rule: str
  #: A per-tensor transform's share for this target (None: read as is).
  transform: Optional[_transform.Application] = None
  #: Optimizer state `optimizer_state='matching'` brings along: without a
  #: counterpart in the checkpoint it starts fresh (a skipped entry), not an
  #: error.
  optional: bool = False
  #: What its entry says beyond the rule: how optimizer state of another
  #: convention fills it ('Keras legacy Adam m as TF1 Adam m'), or why an
  #: optional pair has no counterpart.
  note: str = ''
  #: A value computed from the tensor (TF1 Adam's beta power from a Keras
  #: Adam's step count): the entry sets it (`_plan.SET`) instead of reading.
  value: Optional[float] = None


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
  for key, value in pairs:
    if isinstance(key, tuple) and isinstance(value, _transform.Transform):
      if not value.concats:
        raise TypeError(
            'Assignment map key %r is a tuple of tensor names: its value must '
            'be a Transform whose first op is warmstart.concat(axis), got %r.'
            % (key, value))
      if not key or not all(isinstance(k, str) and k for k in key):
        raise TypeError('Assignment map key %r must be a tuple of checkpoint '
                        'tensor names (str).' % (key,))
      continue
    if not isinstance(key, str):
      raise TypeError('Assignment map keys are checkpoint names (str), got %r '
                      'of type %s.' % (key, type(key).__name__))
    if isinstance(value, _transform.Transform) and value.concats:
      raise TypeError(
          'Assignment map entry %r: concat joins several tensors; the key must '
          'be a tuple of their names.' % (key,))
  return pairs
