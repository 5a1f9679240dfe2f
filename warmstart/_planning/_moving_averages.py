"""`use_moving_averages`: read each variable from its tensor's moving average.

`tf.train.ExponentialMovingAverage` (with its default name) keeps the average
of `<tensor>` in `<tensor>/ExponentialMovingAverage`; evaluation restores
those (`Saver(ema.variables_to_restore())`). With `use_moving_averages`, a
warm start does the same for every pair whose average the checkpoint holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Optional

from absl import logging

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _sources

#: The suffix of a moving average's tensor (`tf.train.ExponentialMovingAverage`
#: with its default name).
MOVING_AVERAGE = '/ExponentialMovingAverage'


def pairs_reading_averages(pairs: Sequence[_assignment_map.Pair],
                           checkpoint: _sources.Checkpoint
                          ) -> list[_assignment_map.Pair]:
  """Each pair reads its tensor's average, where the checkpoint has one.

  The average is taken when the checkpoint holds `<tensor>` +
  `MOVING_AVERAGE` with the tensor's shape and dtype (or holds only the
  average). One warning names the variables without one.
  """
  result = []
  without = []
  for pair in pairs:
    if pair.transform is not None:
      result.append(pair)  # A transform reads the tensors it names.
      continue
    average = pair.tensor + MOVING_AVERAGE
    if pair.tensor.endswith(MOVING_AVERAGE) or average not in checkpoint or (
        pair.tensor in checkpoint and
        (checkpoint.shapes[pair.tensor] != checkpoint.shapes[average] or
         checkpoint.dtypes[pair.tensor] != checkpoint.dtypes[average])):
      without.append(pair.target.name)
      result.append(pair)
    else:
      result.append(dataclasses.replace(
          pair, tensor=average, rule='%s, moving average' % pair.rule))
  if without:
    logging.warning(
        'use_moving_averages: %d variable(s) have no moving average (%r) in '
        'checkpoint %s and read their own tensor: %s', len(without),
        MOVING_AVERAGE[1:], checkpoint.prefix, _errors.preview(without))
  return result


def averaged_tensor(tensor: str) -> Optional[str]:
  """The tensor whose average `tensor` is, or None when it is no average."""
  if tensor.endswith(MOVING_AVERAGE):
    return tensor[:-len(MOVING_AVERAGE)]
  return None
