"""`WarmStartHook`: a warm start for any `MonitoredSession`, as a hook.

`begin()` runs before the session's `Scaffold.finalize()`, which builds the
default `init_op` (`global_variables_initializer()`) from the variables'
initializers at that moment: the restore initializers installed in `begin()`
are what it runs. `MonitoredSession` runs the `init_op` only when it cannot
restore a checkpoint from its checkpoint directory, so a restarted job
resumes from its own checkpoint and never re-reads the warm-start source.

Without `model_dir` the hook cannot know in `begin()` whether the session
will restart (hooks see neither the Scaffold nor the checkpoint directory),
so it defers what depends on it: a flag set by the init op tells
`after_create_session` whether the restores ran (it logs the summary only
then), and a source that cannot be read fails the init op, that is a fresh
start only, instead of `begin()`.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _plan
from warmstart import _planning
from warmstart import _report
from warmstart import _restore
from warmstart import _scope
from warmstart._session import _scaffold
from warmstart import _settings
from warmstart import _tf_compat


class WarmStartHook(tf.compat.v1.train.SessionRunHook):
  """Warm-starts the graph of a `MonitoredSession` (or an Estimator's).

  In `begin()` (graph built, not finalized) it plans and validates the warm
  start and installs the restore initializers; the session's init op runs
  them at session creation. Works with `Estimator.train(hooks=[...])` and
  `tf.compat.v1.train.MonitoredTrainingSession(hooks=[...])`.

  Restarts never need the source: `MonitoredSession` runs init ops only
  when its checkpoint directory holds no checkpoint, so a restarted job
  resumes from its own checkpoint even without `model_dir`. Without it
  (Estimator does not tell hooks its model directory) the hook plans if it
  can read the source (the restore ops are built, but never run); if it
  cannot (a source deleted once the run was under way), it only logs a
  warning and makes a fresh start fail instead: session creation then
  raises `tf.errors.InvalidArgumentError` naming the source, before any
  step or checkpoint. The "Warm-started ..." line is logged once the
  session exists, and only if the restores ran. Give `model_dir` to skip
  all of this on a restart, to get a missing source's
  `CheckpointNotFoundError` from `begin()` on a fresh start, and to write
  the plan there (`warm_start_plan.json` and a TensorBoard text summary,
  once the session exists) when `is_chief`.

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
    plan: The plan applied by the last `begin()`; None before, when the run
      resumed from `model_dir`, or when the source could not be read.
    warm_started: Once the session exists: True if it ran the restores (a
      fresh start), False if it did not (it restored its checkpoint, or it
      is a worker whose chief initialized the variables); None before, or
      when the run resumed from `model_dir`.
  """

  def __init__(self,
               settings: Any,
               *,
               model_dir: Optional[Union[str, os.PathLike]] = None,
               is_chief: bool = True,
               **options: Any) -> None:
    """Validates the settings.

    Args:
      settings: A `warmstart.WarmStartSettings`, a
        `tf.estimator.WarmStartSettings`, a checkpoint path, or a list of
        these (one per source checkpoint).
      model_dir: The run's model directory: no warm start when it holds a
        checkpoint, and the plan is written there.
      is_chief: Whether this task writes the plan (pass
        `RunConfig.is_chief`).
      **options: Options of `warmstart.Options`, for every source; they
        override the settings'.

    Raises:
      SettingsError: malformed settings.
    """
    self._sources = _planning.settings_sources(
        _settings.normalize(settings, **options))
    if model_dir is not None and not isinstance(model_dir,
                                                (str, bytes, os.PathLike)):
      raise _errors.SettingsError(
          'WarmStartHook model_dir must be the run\'s model directory (str or '
          'os.PathLike) or None, got %r of type %s.' %
          (model_dir, type(model_dir).__name__))
    self._model_dir = os.fsdecode(model_dir) if model_dir else None
    if not isinstance(is_chief, bool):
      raise _errors.SettingsError(
          'WarmStartHook is_chief must be True or False, got %r.' % (is_chief,))
    self._is_chief = is_chief
    self.plan: Optional[_plan.Plan] = None
    self.warm_started: Optional[bool] = None
    self._ran: Optional[tf.Tensor] = None

  def begin(self) -> None:
    self.plan = None
    self.warm_started = None
    self._ran = None
    graph = tf.compat.v1.get_default_graph()
    if _scaffold.resume_checkpoint(self._model_dir, 'WarmStartHook'):
      return
    init_op = _scaffold.collection_init_op(graph)
    if init_op is not None:
      raise _errors.SettingsError(
          'WarmStartHook: the graph already holds an init op (%r in the '
          'INIT_OP collection), built before the hook could install the '
          "restores: the session would run the variables' original "
          'initializers instead. Leave the INIT_OP collection empty (the '
          'Scaffold then builds its init op after the hooks), or use '
          'wrap_model_fn, which runs the restores after any init op.' %
          getattr(init_op, 'name', init_op))
    # wrap_model_fn's PlanHook checks the initializers of its restores.
    earlier = _scaffold.part_names(_restore.applied_entries(graph))
    custom = graph.get_collection_ref(_tf_compat.SCAFFOLD_INIT_COLLECTION)
    custom_before = len(custom)
    try:
      # The summary line is logged once the restores really ran.
      plan = _scope.plan_and_apply(self._sources, graph, log_summary=False)
    except _errors.CheckpointNotFoundError as e:
      if self._model_dir:
        raise  # model_dir holds no checkpoint: this fresh start needs it.
      self._defer(graph, e, earlier)
      return
    self.plan = plan
    # SessionManager runs that collection before a restore too: this warm
    # start's custom restores run with the other restores instead.
    mine = list(custom[custom_before:])
    del custom[custom_before:]
    self._ran = _scaffold.on_fresh_start(
        graph, mine, [part for _, part in _scaffold.restored_parts(plan)],
        earlier)
    if self._ran is None:  # No global variable: nothing tells the start.
      custom.extend(mine)
      logging.info('%s', plan.summary())

  def _defer(self, graph: tf.Graph, error: _errors.CheckpointNotFoundError,
             earlier: frozenset[str]) -> None:
    """Makes a fresh start fail on the unreadable source; a restart not."""
    message = (
        'WarmStartHook: this session starts fresh (there is no checkpoint '
        'of this run to resume from), so it must warm-start, but its source '
        'cannot be read: %s Nothing was trained or saved. Restore the '
        'source or fix the settings; if the job should have resumed, run it '
        'with its checkpoint directory (pass model_dir to WarmStartHook to '
        'learn this before the session is created).' % error)
    with graph.as_default(), graph.device(None):
      guard = tf.debugging.Assert(False, [message],
                                  name='warm_start_source_unreadable')
    self._ran = _scaffold.on_fresh_start(graph, [guard], avoid=earlier)
    logging.warning(
        'WarmStartHook: cannot read the warm-start source (%s). A session '
        'that resumes from its checkpoint does not need it; one that starts '
        'fresh fails when it is created, before any step.', error)

  def after_create_session(self, session: Any, coord: Any) -> None:
    del coord
    if self._ran is not None:
      self.warm_started = bool(session.run(self._ran))
      if not self.warm_started:
        logging.info(
            'WarmStartHook: the session did not run its init op (it '
            'restored its checkpoint, or another task initialized the '
            'variables): nothing was warm-started.')
        return
      if self.plan is not None:
        logging.info('%s', self.plan.summary())
    if self.plan is not None and self._model_dir and self._is_chief:
      _report.write_plan(self.plan, self._model_dir)
