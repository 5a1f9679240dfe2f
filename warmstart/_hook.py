"""`WarmStartHook`: a warm start for any `MonitoredSession`, as a hook.

`begin()` runs before the session's `Scaffold.finalize()`, which builds the
default `init_op` (`global_variables_initializer()`) from the variables'
initializers at that moment: the restore initializers installed in `begin()`
are what it runs. `MonitoredSession` runs the `init_op` only when it cannot
restore a checkpoint from its checkpoint directory, so a restarted job
resumes from its own checkpoint and never re-reads the warm-start source.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import tensorflow as tf

from warmstart import _errors
from warmstart import _plan
from warmstart import _report
from warmstart import _scaffold
from warmstart import _settings
from warmstart import _warm_start


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
    self._settings = _settings.normalize(settings, **options)
    self._model_dir = os.fspath(model_dir) if model_dir else None
    if not isinstance(is_chief, bool):
      raise _errors.SettingsError(
          'WarmStartHook is_chief must be True or False, got %r.' % (is_chief,))
    self._is_chief = is_chief
    self.plan: Optional[_plan.Plan] = None

  def begin(self) -> None:
    self.plan = None
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
    self.plan = _warm_start.apply_settings(self._settings, graph)

  def after_create_session(self, session: Any, coord: Any) -> None:
    del session, coord
    if self.plan is not None and self._model_dir and self._is_chief:
      _report.write_plan(self.plan, self._model_dir)
