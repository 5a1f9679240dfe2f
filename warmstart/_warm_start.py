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

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart import _planning
from warmstart import _restore
from warmstart import _scope
from warmstart import _settings
from warmstart import _sources
from warmstart import _variables
from warmstart import _vocab_info


def _source_entries(settings: _settings.WarmStartSettings,
                    targets: Mapping[str, _variables.Target], graph: tf.Graph,
                    problems: _errors.Problems
                   ) -> tuple[_sources.Checkpoint, list[_plan.Entry]]:
  """The checkpoint and the entries of one source, problems recorded."""
  checkpoint = _sources.load(settings.ckpt_to_initialize_from)
  options = settings.options
  if settings.assignment_map is not None:
    pairs = _planning.map_pairs(settings, targets, graph, problems,
                                 checkpoint.prefix)
  else:
    selected = _planning.Selector(settings, targets, graph, problems,
                                   checkpoint).select()
    pairs = []
    for name, (target, rule) in selected.items():
      tensor = settings.var_name_to_prev_var_name.get(name)
      if tensor is not None:
        rule = '%s, var_name_to_prev_var_name[%r]' % (rule, name)
      else:
        tensor = name
      pairs.append(_assignment_map.Pair(tensor, target, rule))
  # As TF's warm_start: a variable of an object-based checkpoint is found by
  # the name it had when saved. check_pairs resolves its pairs the same way;
  # this also covers the vocabulary pairs, which it does not see.
  pairs = _planning.resolve_pairs(pairs, checkpoint)
  vocab = dict(settings.var_name_to_vocab_info)
  for name, primary in _planning.auxiliary_variables(targets).items():
    if primary in vocab and name not in vocab:
      # A slot of a remapped variable follows its vocabulary.
      vocab[name] = _vocab_info.for_slot(vocab[primary])
  # The pairs without vocabulary are checked together (in order), so a rule
  # missing many tensors is reported once.
  checked = iter(_planning.check_pairs(
      [pair for pair in pairs if pair.target.name not in vocab], checkpoint,
      options, problems))
  entries = []
  for pair in pairs:
    info = vocab.get(pair.target.name)
    if info is not None:
      entry = _restore.plan_entry(pair.target, pair.tensor, checkpoint,
                                      info, options, problems, pair.rule)
    else:
      entry = next(checked)
    if entry is not None:
      entries.append(entry)
  return checkpoint, entries


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
  all_settings = _settings.normalize(settings_like)
  graph = graph or tf.compat.v1.get_default_graph()
  targets = _variables.collect(graph)
  problems = _errors.Problems()
  entries = []
  checkpoints = []
  for settings in all_settings:
    checkpoint, source_entries = _source_entries(settings, targets, graph,
                                                 problems)
    checkpoints.append(checkpoint)
    entries.extend(source_entries)
  earlier = _restore.applied_entries(graph)
  _planning.check_conflicts(entries, problems, earlier)
  problems.raise_if_any()
  return _planning.finished_plan(entries, targets, checkpoints, earlier)


def apply_settings(settings_like: Any,
                   graph: Optional[tf.Graph] = None,
                   *,
                   log_summary: bool = True,
                   stand_ins: Optional[_scope.StandIns] = None
                  ) -> _plan.Plan:
  """Plans and applies warm-start settings: the variables' initializers load.

  Values are read when the initializers run (at session creation under a
  Scaffold, or by `global_variables_initializer`). In a replica context of a
  `tf.distribute` strategy, the work happens once, in `merge_call`, as TF's
  `init_from_checkpoint` does.

  Args:
    settings_like: As for `make_settings_plan`.
    graph: The graph (default graph when None).
    log_summary: Log the plan's summary line now (as `apply_plan`).
    stand_ins: The stand-ins given while the graph was built
      (`warm_start_scope`): resolved with the plan (or, when it fails, every
      real initial value is built before raising).

  Returns:
    The applied `warmstart.Plan`.

  Raises:
    warmstart.Error: as `make_settings_plan`.
  """
  graph = graph or tf.compat.v1.get_default_graph()
  all_settings = _settings.normalize(settings_like)
  # Each read is bounded by the smallest bound any source asks for.
  options = _options.Options(
      max_chunk_bytes=min(s.max_chunk_bytes for s in all_settings))

  def build() -> _plan.Plan:
    if stand_ins is None:
      plan = make_settings_plan(all_settings, graph)
      _restore.apply_plan(plan, options, graph, log_summary=log_summary)
      return plan
    try:
      plan = make_settings_plan(all_settings, graph)
    except BaseException:
      stand_ins.release()
      raise
    with stand_ins.applying(plan) as initializers:
      _restore.apply_plan(plan, options, graph, log_summary=log_summary,
                          reuse_initializers=initializers)
    return plan

  with graph.as_default():
    return _restore.once_for_all_replicas(build)


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
