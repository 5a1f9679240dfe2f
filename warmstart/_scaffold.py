"""When and how a warm start's restores run in a session.

Shared by `wrap_model_fn` and `WarmStartHook`: the restart check (a run
whose model_dir holds a checkpoint resumes from it and never reads the
source), the graph's init op as a Scaffold would use it, and running the
restores after an init op that exists already (`init_fn_after`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import tensorflow as tf
from absl import logging

from warmstart import _plan
from warmstart import _variables


def resume_checkpoint(model_dir: Optional[Union[str, os.PathLike]],
                      who: str) -> Optional[str]:
  """Returns the checkpoint a run resumes from, and logs it (None: fresh).

  Args:
    model_dir: The run's model directory (None: unknown, so fresh).
    who: Names the caller in the log line.
  """
  if not model_dir:
    return None
  latest = tf.train.latest_checkpoint(os.fspath(model_dir))
  if latest:
    logging.info(
        '%s: not warm-starting, model_dir %s already holds checkpoint %s; '
        'the run resumes from it.', who, os.fspath(model_dir), latest)
  return latest


def restored_parts(plan: _plan.Plan) -> list[tuple[_plan.Entry, Any]]:
  """(entry, variable part) of every restored entry; custom variables aside.

  A distributed (e.g. mirrored) variable is one part: its own initializer,
  which the restore replaces, is what `global_variables_initializer` runs.
  """
  result = []
  for entry in plan.restored:
    for part in entry.target.parts if entry.target is not None else ():
      if not isinstance(part, _variables.CustomVariable):
        result.append((entry, part))
  return result


def restore_initializers(plan: _plan.Plan) -> dict[str, Any]:
  """{variable (part) name: its initializer op} of every restored entry."""
  return {part.name: part.initializer for _, part in restored_parts(plan)}


def init_fn_after(restores: Sequence[Any],
                  user_init_fn: Optional[Callable[[Any], None]] = None
                 ) -> Callable[[Any, Any], None]:
  """A Scaffold `init_fn` that runs `restores`, then the user's `init_fn`.

  For a Scaffold whose init op was built before the warm start: that op runs
  the variables' ORIGINAL initializers (and the restore ops are built free
  of control dependencies), so the restores must run after it, in a session
  call of their own. A Scaffold runs its `init_fn` right after its init op,
  and only on a fresh start, exactly when the restores belong.

  Args:
    restores: The restore initializers (`restore_initializers(plan)`).
    user_init_fn: The user Scaffold's `init_fn` property (a function of the
      session, which calls the user's `init_fn` with the user's Scaffold),
      if any.
  """
  restores = list(restores)

  def init_fn(scaffold: Any, session: Any) -> None:
    del scaffold  # The copy; the user's init_fn gets the user's Scaffold.
    if restores:
      session.run(restores)
    if user_init_fn is not None:
      user_init_fn(session)

  return init_fn


def collection_init_op(graph: tf.Graph) -> Optional[Any]:
  """The graph's `INIT_OP` collection op, which a Scaffold would use."""
  ops = graph.get_collection(tf.compat.v1.GraphKeys.INIT_OP)
  return ops[0] if len(ops) == 1 else None
