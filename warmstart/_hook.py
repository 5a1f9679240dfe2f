"""`WarmStartHook`: a warm start for any `MonitoredSession`, as a hook.

`begin()` runs before the session's `Scaffold.finalize()`, which builds the
default `init_op` (`global_variables_initializer()`) from the variables'
initializers at that moment: the restore initializers installed in `begin()`
are what it runs. `MonitoredSession` runs the `init_op` only when it cannot
restore a checkpoint from its checkpoint directory, so a restarted job
resumes from its own checkpoint and never re-reads the warm-start source.

This module also holds what `wrap_model_fn` shares with it: the restart
check (`resume_checkpoint`), running the restores after an init op that
exists already (`init_fn_after`), and `PlanHook`, which checks that nobody
replaced the restore initializers afterwards and writes the plan once the
session exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _plan
from warmstart import _report
from warmstart import _settings
from warmstart import _variables
from warmstart import _warm_start


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


def _restored_parts(plan: _plan.Plan) -> list[tuple[_plan.Entry, Any]]:
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
  return {part.name: part.initializer for _, part in _restored_parts(plan)}


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


class PlanHook(tf.compat.v1.train.SessionRunHook):
  """Guards and reports a warm start that `wrap_model_fn` applied.

  `begin()` fails if a restore initializer of the plan was replaced after
  the model_fn returned: `Estimator(warm_start_from=...)` warm-starts then,
  by replacing the initializers of the variables it selects, so a variable
  both select would silently get Estimator's value. `begin()` runs after
  that and before any session exists, so nothing is trained or saved.

  `after_create_session()` writes the plan to `report_dir` (when given):
  only once a session really started from the warm start.
  """

  def __init__(self, who: str, report_dir: Optional[str] = None) -> None:
    self._who = who
    self._report_dir = report_dir
    self._plan: Optional[_plan.Plan] = None
    self._expected: dict[str, str] = {}
    self._entries: dict[str, _plan.Entry] = {}

  def record(self, plan: _plan.Plan) -> None:
    """Remembers the plan and the restore initializers it installed."""
    self._plan = plan
    for entry, part in _restored_parts(plan):
      self._expected[part.name] = part.initializer.name
      self._entries[part.name] = entry

  def begin(self) -> None:
    graph = tf.compat.v1.get_default_graph()
    replaced = {}
    for name, op_name in self._expected.items():
      variable = _find_variable(graph, name)
      if variable is not None and variable.initializer.name != op_name:
        entry = self._entries[name]
        replaced[entry.variable] = entry
    if not replaced:
      return
    raise _errors.ConflictError(
        '%s warm-started %s, but after the model_fn returned the '
        "variables' initializers were replaced by another warm start, most "
        'likely Estimator(warm_start_from=...), which would silently load '
        'its own values instead. Warm-start each variable once: drop '
        'warm_start_from and pass its settings to wrap_model_fn as another '
        'source, or narrow one of them. Replaced: %s.' %
        (self._who, ', '.join('%r from %s tensor %r' %
                              (e.variable, e.source, e.tensor)
                              for e in list(replaced.values())[:5]),
         _errors.preview(replaced)))

  def after_create_session(self, session: Any, coord: Any) -> None:
    del session, coord
    if self._plan is not None and self._report_dir:
      _report.write_plan(self._plan, self._report_dir)


def _find_variable(graph: tf.Graph, name: str) -> Optional[Any]:
  for key in (tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
              tf.compat.v1.GraphKeys.LOCAL_VARIABLES):
    for variable in graph.get_collection(key):
      if variable.name == name:
        return variable
  return None


class WarmStartHook(tf.compat.v1.train.SessionRunHook):
  """Warm-starts the graph of a `MonitoredSession` (or an Estimator's).

  In `begin()` (graph built, not finalized) it plans and validates the warm
  start and installs the restore initializers; the session's init op runs
  them at session creation. Works with `Estimator.train(hooks=[...])` and
  `tf.compat.v1.train.MonitoredTrainingSession(hooks=[...])`.

  Restarts: `MonitoredSession` runs init ops only when its checkpoint
  directory holds no checkpoint, so a restarted job resumes from its own
  checkpoint even without `model_dir` (the restore ops are built, but never
  run). Give `model_dir` (Estimator does not tell hooks its model directory)
  to also skip building them on a restart, and to write the plan there
  (`warm_start_plan.json` and a TensorBoard text summary, once the session
  exists) when `is_chief`.

  The restores run in the init op that `Scaffold.finalize()` builds after
  `begin()`. An init op built earlier (in the graph's `INIT_OP` collection)
  would not run them: `begin()` raises then. An init op given to
  `Scaffold(init_op=...)` directly is invisible to hooks: use
  `wrap_model_fn` for such a Scaffold.

  Example:

    ```python
    hook = warmstart.WarmStartHook(
        warmstart.WarmStartSettings('/models/base', 'dnn/.*'),
        model_dir=estimator.model_dir)
    estimator.train(input_fn, hooks=[hook])
    print(hook.plan)
    ```

  Attributes:
    plan: The plan applied by the last `begin()`; None before, or when the
      run resumed from `model_dir`.
  """

  def __init__(self,
               settings: Any,
               *,
               model_dir: Optional[Union[str, os.PathLike]] = None,
               is_chief: bool = True) -> None:
    """Validates the settings.

    Args:
      settings: A `warmstart.WarmStartSettings`, a
        `tf.estimator.WarmStartSettings`, a checkpoint path, or a list of
        these (one per source checkpoint).
      model_dir: The run's model directory: no warm start when it holds a
        checkpoint, and the plan is written there.
      is_chief: Whether this task writes the plan (pass
        `RunConfig.is_chief`).

    Raises:
      SettingsError: malformed settings.
    """
    self._settings = _settings.normalize(settings)
    self._model_dir = os.fspath(model_dir) if model_dir else None
    if not isinstance(is_chief, bool):
      raise _errors.SettingsError(
          'WarmStartHook is_chief must be True or False, got %r.' % (is_chief,))
    self._is_chief = is_chief
    self.plan: Optional[_plan.Plan] = None

  def begin(self) -> None:
    self.plan = None
    graph = tf.compat.v1.get_default_graph()
    if resume_checkpoint(self._model_dir, 'WarmStartHook'):
      return
    init_op = collection_init_op(graph)
    if init_op is not None:
      raise _errors.SettingsError(
          'WarmStartHook: the graph already holds an init op (%r in the '
          'INIT_OP collection), built before the hook could install the '
          "restores: the session would run the variables' original "
          'initializers instead. Leave the INIT_OP collection empty (the '
          'Scaffold then builds its init op after the hooks), or use '
          'wrap_model_fn, which runs the restores after any init op.' %
          getattr(init_op, 'name', init_op))
    self.plan = _warm_start.apply_settings(self._settings, graph)

  def after_create_session(self, session: Any, coord: Any) -> None:
    del session, coord
    if self.plan is not None and self._model_dir and self._is_chief:
      _report.write_plan(self.plan, self._model_dir)
