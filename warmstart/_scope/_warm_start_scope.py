"""`warm_start_scope`: warm-starts the variables a block of code creates.

The block's variables that the warm start will restore never build their
initializers (`_stand_ins`); after the block the settings are planned,
validated and applied exactly as by `warmstart.apply_settings`: both go
through `plan_and_apply` (plan -> stand-ins -> apply), the one place where a
plan meets the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import tensorflow as tf

from warmstart import _errors
from warmstart import _plan
from warmstart import _planning
from warmstart import _restore
from warmstart._scope import _stand_ins
from warmstart import _settings


def plan_and_apply(sources: Sequence[_planning.Source],
                   graph: Optional[tf.Graph] = None,
                   *,
                   stand_ins: Optional[_stand_ins.StandIns] = None,
                   log_summary: bool = True) -> _plan.Plan:
  """Plans `sources` against the graph and installs the restores.

  In a replica context of a `tf.distribute` strategy the work happens once,
  in `merge_call`, as TF's `init_from_checkpoint` does. Planning and building
  allocate many objects over a large graph: no full garbage collection over
  the caller's heap runs in between.

  Args:
    sources: The compiled sources (`_planning.settings_sources`,
      `_planning.map_sources`).
    graph: The graph (default graph when None).
    stand_ins: The stand-ins given while the graph was built: resolved with
      the plan (when planning fails, every real initial value is built
      before the error is raised).
    log_summary: Log the plan's summary line now (as `apply_plan`).

  Returns:
    The applied plan.

  Raises:
    warmstart.Error: a subclass naming every problem of the plan.
  """
  graph = _planning.graph_or_default(graph)
  options = _planning.read_options(sources)

  def build() -> _plan.Plan:
    with _restore.no_gc():
      try:
        plan = _planning.plan(sources, graph,
                              earlier=_restore.applied_entries(graph))
      except BaseException:
        if stand_ins is not None:
          stand_ins.release()
        raise
      if stand_ins is None:
        _restore.apply_plan(plan, options, graph, log_summary=log_summary)
        return plan
      with stand_ins.applying(plan) as initializers:
        _restore.apply_plan(plan, options, graph, log_summary=log_summary,
                            reuse_initializers=initializers)
    return plan

  with graph.as_default():
    return _restore.once_for_all_replicas(build)


class WarmStartScope:
  """The context manager `warm_start_scope` returns.

  Attributes:
    plan: The applied `warmstart.Plan`, once the block has ended without an
      exception (None before).
  """

  def __init__(self, sources: Sequence[_planning.Source]):
    self._sources = tuple(sources)
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
    self._stand_ins = _stand_ins.StandIns(self._sources)
    self._stand_ins.__enter__()
    return self

  def __exit__(self, exc_type, exc, tb) -> bool:
    self._stand_ins.__exit__(exc_type, exc, tb)
    if exc_type is None:
      self.plan = plan_and_apply(self._sources, self._graph,
                                 stand_ins=self._stand_ins)
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
  return WarmStartScope(
      _planning.settings_sources(_settings.normalize(settings, **options)))
