"""`PlanHook`: guards and reports a warm start that `wrap_model_fn` applied."""

from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf

from warmstart import _errors
from warmstart import _plan
from warmstart import _report
from warmstart._session import _scaffold


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
    for entry, part in _scaffold.restored_parts(plan):
      self._expected[part.name] = part.initializer.name
      self._entries[part.name] = entry

  def begin(self) -> None:
    variables = _variables_by_name(tf.compat.v1.get_default_graph())
    replaced = {}
    for name, op_name in self._expected.items():
      variable = variables.get(name)
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


def _variables_by_name(graph: tf.Graph) -> dict[str, Any]:
  """{name: variable} of the global and local variables (first one wins)."""
  result: dict[str, Any] = {}
  for key in (tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
              tf.compat.v1.GraphKeys.LOCAL_VARIABLES):
    for variable in graph.get_collection(key):
      result.setdefault(variable.name, variable)
  return result
