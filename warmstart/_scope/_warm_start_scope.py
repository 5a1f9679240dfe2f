"""`warm_start_scope`: warm-starts the variables a block of code creates.

The block's variables that the warm start will restore never build their
initializers (`_stand_ins`); after the block the settings are planned,
validated and applied exactly as by `warmstart.apply_settings`.
"""

from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf

from warmstart import _errors
from warmstart import _plan
from warmstart._scope import _stand_ins
from warmstart import _settings
from warmstart import _warm_start


class WarmStartScope:
  """The context manager `warm_start_scope` returns.

  Attributes:
    plan: The applied `warmstart.Plan`, once the block has ended without an
      exception (None before).
  """

  def __init__(self, settings: tuple[_settings.WarmStartSettings, ...]):
    self._settings = settings
    self._graph: Optional[tf.Graph] = None
    self._stand_ins: Optional[_stand_ins.StandIns] = None
    self.plan: Optional[_plan.Plan] = None

  def __enter__(self) -> WarmStartScope:
    if self._graph is not None:
      raise _errors.SettingsError(
          'This warm_start_scope was entered already: make one per block.')
    if tf.executing_eagerly():
      raise _errors.SettingsError(
          'warm_start_scope warm-starts graph-mode variables: enter it inside '
          'a graph (`with tf.Graph().as_default():`) or a model_fn, not '
          'eagerly.')
    self._graph = tf.compat.v1.get_default_graph()
    self._stand_ins = _stand_ins.StandIns(self._settings)
    self._stand_ins.__enter__()
    return self

  def __exit__(self, exc_type, exc, tb) -> bool:
    self._stand_ins.__exit__(exc_type, exc, tb)
    if exc_type is None:
      self.plan = _warm_start.apply_settings(
          self._settings, self._graph, stand_ins=self._stand_ins)
    return False


def warm_start_scope(settings: Any, **options: Any) -> WarmStartScope:
  """Warm-starts the graph once the block has built it, skipping initializers.

  Inside the block, each variable that the checkpoint and `settings` will
  restore whole gets a stand-in initial value: its initializer callable is
  kept, not called, so its ops are never built (seven per Glorot-initialized
  variable). When the block ends, the warm start of the whole graph is
  planned and validated (every error of `warmstart.warm_start` is raised
  then, before any session) and applied; variables the plan does not restore
  (skipped, resized, remapped, not selected) get their initializer built
  from the kept callable, exactly as without the scope (names, devices, op
  seeds). Values, initializers and initial values are those of
  `warmstart.apply_settings` after the same block; nothing in the graph reads
  a stand-in.

  Example:

    ```python
    with tf.Graph().as_default():
      with warmstart.warm_start_scope(
          warmstart.WarmStartSettings('/models/base', 'dnn/.*')) as scope:
        logits = build_model(features)
      print(scope.plan)
      init = tf.compat.v1.global_variables_initializer()  # Restores.
    ```

  Args:
    settings: A `warmstart.WarmStartSettings`, a
      `tf.estimator.WarmStartSettings`, a checkpoint path, or a list of these
      (one per source checkpoint).
    **options: Options of `warmstart.Options`, for every source; they
      override the settings'.

  Returns:
    The context manager; its `plan` is the applied plan after the block.

  Raises:
    SettingsError: malformed settings or options (now); entered eagerly.
    warmstart.Error: as `warmstart.make_settings_plan` (a missing source,
      unmatched rules, mismatches, conflicts...), when the block ends.
  """
  return WarmStartScope(_settings.normalize(settings, **options))
