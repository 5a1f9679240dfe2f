"""The step a warm-started run starts at, checked against Estimator's limit.

`global_step='keep'` restores the checkpoint's step and `global_step=N` sets
it (the plan's summary line says where the run starts): either shifts a
learning-rate schedule, and a start at or past `Estimator.train(max_steps=M)`
(M is an absolute step) runs a single step, past M (`StopAtStepHook` checks
after each step), instead of training. Under `wrap_estimator`, whose `train`
tells the wrapped model_fn its `max_steps`, such a start is a warning naming
both numbers, before any session exists.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Optional

import tensorflow as tf
from absl import logging

from warmstart import _plan
from warmstart import _variables

#: The `max_steps` of the `Estimator.train` call running now (set by
#: `wrap_estimator`'s `train`; None otherwise).
_MAX_STEPS: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar(
    'warmstart_max_steps', default=None)


@contextlib.contextmanager
def training_until(max_steps: Optional[int]) -> Iterator[None]:
  """Within it, the warm start knows the `train(max_steps=...)` it runs in."""
  token = _MAX_STEPS.set(max_steps)
  try:
    yield
  finally:
    _MAX_STEPS.reset(token)


def start_step(plan: _plan.Plan, graph: tf.Graph) -> tuple[int, str]:
  """Returns the step the run starts at, and where that step comes from.

  Args:
    plan: The warm start's plan in `graph`.
    graph: The graph whose global step the plan may restore or set.

  Returns:
    `(step, origin)`: `plan.start_step` (set by `global_step=N`, or the
    checkpoint's under `global_step='keep'`), else 0.
  """
  if plan.start_step is None:
    return 0, "global_step='reset'"
  names = _variables.global_step_names(graph)
  entry = next((e for e in plan.restored if e.variable in names), None)
  if entry is None:
    return plan.start_step, 'the warm start'
  if entry.action == _plan.SET:
    return plan.start_step, entry.rule
  return plan.start_step, 'the step of %s (%s)' % (entry.source, entry.tensor)


def announce(plan: _plan.Plan, graph: tf.Graph, who: str) -> Optional[str]:
  """Warns when the run starts at or past `max_steps` (else says how far).

  Args:
    plan: The warm start's plan in `graph` (a TRAIN graph).
    graph: Its graph.
    who: The caller, for the messages.

  Returns:
    The warning logged when the run's `max_steps` (see `training_until`) is
    at or below the start step (Estimator then runs one step, past it), else
    None.
  """
  step, origin = start_step(plan, graph)
  max_steps = _MAX_STEPS.get()
  if max_steps is not None and step >= max_steps:
    message = (
        '%s: the warm start makes the run start at step %d (%s), at or '
        'past train(max_steps=%d): Estimator then runs one step (to step '
        '%d, past max_steps) and stops. max_steps is the step to stop at, '
        'counted from 0, not from the warm start: pass max_steps=%d + the '
        "steps to run, or steps=N, or global_step='reset'." %
        (who, step, origin, max_steps, step + 1, step))
    logging.warning(message)
    return message
  if step and max_steps is not None:  # (The plan's summary says the step.)
    logging.info('%s: the run starts at step %d (%s); train(max_steps=%d) '
                 'runs %d steps.', who, step, origin, max_steps,
                 max_steps - step)
  return None
