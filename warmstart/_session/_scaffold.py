"""When and how a warm start's restores run in a session.

Shared by `wrap_model_fn` and `WarmStartHook`: the restart check (a run
whose model_dir holds a checkpoint resumes from it and never reads the
source), the graph's init op as a Scaffold would use it, running the
restores after an init op that exists already (`init_fn_after`), and ops
that run on a fresh start only, with a flag telling the session which
start it had (`on_fresh_start`).

What runs when, in TF 2.x (`SessionManager.prepare_session`): on a fresh
start, the Scaffold's init op, whose default groups the global variables'
initializers (as they are at `Scaffold.finalize()`), the shared resources'
initializers and the 'saved_model_initializers' collection; on a restart,
that collection, then `Saver.restore`. So the variables' initializers run
on a fresh start and never on a restart; that collection runs on both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional, Union

import tensorflow as tf
from absl import logging

from warmstart import _plan
from warmstart import _tf_compat
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


def part_names(entries: Iterable[_plan.Entry]) -> frozenset[str]:
  """Names of the variable parts that `entries` restore."""
  return frozenset(part.name for entry in entries
                   for part in (entry.target.parts if entry.target is not None
                                else ()))


def _carrier(graph: tf.Graph, prefer: Sequence[Any],
             avoid: frozenset[str]) -> Optional[Any]:
  """The global variable whose initializer is to carry fresh-start ops.

  The first of `prefer`, then the global step, then any global variable,
  skipping the names in `avoid` (variables whose initializer another warm
  start checks later, see `PlanHook`).
  """
  global_variables = graph.get_collection(
      tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
  known = {id(v) for v in global_variables}
  step = tf.compat.v1.train.get_global_step(graph)
  for variable in list(prefer) + [step] + global_variables:
    if (variable is not None and id(variable) in known and
        variable.name not in avoid and
        getattr(variable, 'initializer', None) is not None):
      return variable
  return None


def on_fresh_start(graph: tf.Graph,
                   ops: Sequence[Any] = (),
                   prefer: Sequence[Any] = (),
                   avoid: Iterable[str] = ()) -> Optional[tf.Tensor]:
  """Makes a fresh start run `ops`; returns a flag telling which start ran.

  A Scaffold's default init op runs the global variables' initializers on
  a fresh start, and nothing of them on a restart (see the module
  docstring): `ops` join one global variable's initializer (the first of
  `prefer` when possible, so preferably one the caller owns), together
  with the assignment of a flag that no collection lists (neither saved
  nor checked by the ready op). Call before `Scaffold.finalize()` (in a
  hook's `begin()`).

  Args:
    graph: The graph, not finalized.
    ops: Ops to run on a fresh start only.
    prefer: Variables (parts) to carry them, in order of preference.
    avoid: Names of variables whose initializer must stay as it is.

  Returns:
    A bool tensor: in a created session, True after a fresh start (the init
    op ran), False after a restart (or in a worker, which never runs the
    init op). None when the graph has no global variable to carry the ops:
    then nothing was built.
  """
  carrier = _carrier(graph, prefer, frozenset(avoid))
  if carrier is None:
    return None
  # No device: the flag lives in the session's own task, even under a
  # replica device setter (a parameter server would keep it across a
  # restart of the chief); a name of its own per graph, for the same reason
  # on servers that outlive one session.
  with graph.as_default(), graph.device(None), tf.name_scope(
      'warm_start_fresh_start'):
    handle = tf.raw_ops.VarHandleOp(
        dtype=tf.bool, shape=[],
        shared_name='warm_start_fresh_start_%s' % uuid.uuid4().hex)
    mark = tf.raw_ops.AssignVariableOp(resource=handle, value=True)
    ran = tf.raw_ops.VarIsInitializedOp(resource=handle)
    init = tf.group(carrier.initializer, mark, *ops, name='init')
  _tf_compat.set_initializer(carrier, init, carrier.initial_value)
  return ran
