"""`warmstart.warm_start`: TF's `tf.compat.v1.train.warm_start`, validated.

Turns `WarmStartSettings` (one per source checkpoint) into one validated
`Plan`, with TF's meaning of the four settings fields, and applies it with the
core's batched restore (plus vocabulary remaps). Where TF is silent, this is
not: a regex, rename or vocabulary key that matches nothing, a missing tensor,
a shape or dtype mismatch, or a variable claimed twice (across sources or by
an earlier warm start of the graph) is an error naming it, raised before any
op is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import tensorflow as tf

from warmstart import _options
from warmstart import _plan
from warmstart import _planning
from warmstart import _restore
from warmstart import _scope
from warmstart import _settings


def make_settings_plan(settings_like: Any,
                       graph: Optional[tf.Graph] = None) -> _plan.Plan:
  """Builds and validates the plan of warm-start settings (dry run).

  Example:

    ```python
    plan = warmstart.make_settings_plan(
        warmstart.WarmStartSettings('/models/base', 'dnn/.*'))
    print(plan)  # What would be restored from where; nothing is built.
    ```

  Args:
    settings_like: A `warmstart.WarmStartSettings`, a
      `tf.estimator.WarmStartSettings`, a checkpoint path, or a list of these
      (one per source checkpoint).
    graph: The graph whose variables are planned (default graph when None).

  Returns:
    The validated `warmstart.Plan`.

  Raises:
    SettingsError: malformed settings.
    warmstart.Error: a subclass for the first problem, listing every problem
      (unmatched regexes or names, missing tensors, mismatches, a variable
      claimed by two sources or by an earlier warm start of the graph).
  """
  graph = _planning.graph_or_default(graph)
  return _planning.plan(
      _planning.settings_sources(_settings.normalize(settings_like)), graph,
      earlier=_restore.applied_entries(graph))


def apply_settings(settings_like: Any,
                   graph: Optional[tf.Graph] = None,
                   *,
                   log_summary: bool = True) -> _plan.Plan:
  """Plans and applies warm-start settings: the variables' initializers load.

  Values are read when the initializers run (at session creation under a
  Scaffold, or by `global_variables_initializer`). In a replica context of a
  `tf.distribute` strategy, the work happens once, in `merge_call`, as TF's
  `init_from_checkpoint` does.

  Args:
    settings_like: As for `make_settings_plan`.
    graph: The graph (default graph when None).
    log_summary: Log the plan's summary line now (as `apply_plan`).

  Returns:
    The applied `warmstart.Plan`.

  Raises:
    warmstart.Error: as `make_settings_plan`.
  """
  return _scope.plan_and_apply(
      _planning.settings_sources(_settings.normalize(settings_like)), graph,
      log_summary=log_summary)


def warm_start(ckpt_to_initialize_from: Any,
               vars_to_warm_start: Any = '.*',
               var_name_to_vocab_info: Optional[Mapping[str, Any]] = None,
               var_name_to_prev_var_name: Optional[Mapping[str, str]] = None,
               **options: Any) -> _plan.Plan:
  """Warm-starts the current graph: `tf.compat.v1.train.warm_start`, checked.

  Same arguments and meaning as TF's (see `WarmStartSettings`), and any
  keyword-only field of `WarmStartSettings` (`skip_missing`,
  `include_slots`, ...). Unlike TF's, every problem is found before any op is
  built and raised at once, names never silently match nothing, the global
  step and optimizer slots are left alone unless asked for, and 1-D or
  non-float32 variables can be remapped by vocabulary.

  Example:

    ```python
    plan = warmstart.warm_start(
        '/models/base', vars_to_warm_start=['dnn/.*', 'linear/.*'],
        var_name_to_prev_var_name={'dnn/logits/kernel': 'dnn/out/kernel'})
    ```

  Args:
    ckpt_to_initialize_from: Checkpoint prefix, directory or SavedModel.
    vars_to_warm_start: A regex string (trainable variables), a list of regex
      strings (global variables), a list of variables, or None (only the
      variables of `var_name_to_vocab_info`).
    var_name_to_vocab_info: {variable name: `VocabInfo`}.
    var_name_to_prev_var_name: {variable name: checkpoint tensor name}.
    **options: Keyword-only fields of `WarmStartSettings`.

  Returns:
    The applied `warmstart.Plan`.

  Raises:
    SettingsError: bad arguments (or an unknown option).
    warmstart.Error: as `make_settings_plan`.
  """
  _options.check_names(options, ('assignment_map',) + _options.NAMES,
                       who='warm_start')
  settings = _settings.WarmStartSettings(
      ckpt_to_initialize_from, vars_to_warm_start, var_name_to_vocab_info,
      var_name_to_prev_var_name, **options)
  return apply_settings(settings)
