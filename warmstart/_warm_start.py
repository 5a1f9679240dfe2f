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

import re
from collections.abc import Mapping
from typing import Any, Optional

import tensorflow as tf
from absl import logging
# The object graph of TF2 checkpoints; TF's own warm_start reads it the same
# way (saver.object_graph_key_mapping).
from tensorflow.core.protobuf import trackable_object_graph_pb2

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart import _planner
from warmstart import _restore
from warmstart import _settings
from warmstart import _sources
from warmstart import _tf_compat
from warmstart import _variables
from warmstart import _vocab  # Registers the 'vocab_remap' action.

# Variables an optimizer keeps for itself rather than per variable.
_OPTIMIZER_VARIABLE = re.compile(r'(^|/)beta[12]_power(_\d+)?$')

# The tensor holding the object graph of an object-based (TF2) checkpoint.
_OBJECT_GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH'

# (prefix, id of the index read by _sources, which caches it per file version)
_object_keys_cache: dict[tuple[str, int], dict[str, str]] = {}


def object_graph_keys(checkpoint: _sources.Checkpoint) -> Mapping[str, str]:
  """{variable name at save time: tensor key} of an object-based checkpoint.

  `tf.train.Checkpoint` stores `dense/kernel` under a key such as
  `model/layer/kernel/.ATTRIBUTES/VARIABLE_VALUE`; its object graph records
  the variable's name. Empty for a name-based checkpoint.
  """
  if _OBJECT_GRAPH_KEY not in checkpoint:
    return {}
  key = (checkpoint.prefix, id(checkpoint.shapes))
  if key not in _object_keys_cache:
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint.prefix)
    proto = trackable_object_graph_pb2.TrackableObjectGraph()
    proto.ParseFromString(reader.get_tensor(_OBJECT_GRAPH_KEY))
    _object_keys_cache[key] = {
        attribute.full_name: attribute.checkpoint_key
        for node in proto.nodes for attribute in node.attributes
        if attribute.full_name
    }
  return _object_keys_cache[key]


def auxiliary_variables(
    targets: Mapping[str, _variables.Target]) -> dict[str, str]:
  """Finds optimizer slots and the like, structurally.

  A non-trainable variable named `<v>/<suffix>` where `<v>` is a trainable
  variable is an auxiliary of `<v>` (an optimizer slot such as `w/Adam`,
  `w/Momentum`, `w/Ftrl_1`; also a moving average `w/ExponentialMovingAverage`).
  A non-trainable `beta1_power`/`beta2_power` is an optimizer variable.

  Args:
    targets: The graph's variables, from `_variables.collect`.

  Returns:
    {auxiliary variable name: its primary's name ('' for optimizer
    variables)}.
  """
  trainable = {name for name, t in targets.items() if t.trainable}
  result = {}
  for name, target in targets.items():
    if target.trainable:
      continue
    pieces = name.split('/')
    for i in range(len(pieces) - 1, 0, -1):
      primary = '/'.join(pieces[:i])
      if primary in trainable:
        result[name] = primary
        break
    else:
      if _OPTIMIZER_VARIABLE.search(name):
        result[name] = ''
  return result


def _matches(pattern: re.Pattern, target: _variables.Target) -> bool:
  """re.match on the name without ':0', or on a partition's name."""
  if pattern.match(target.name):
    return True
  return target.is_partitioned and not target.is_custom and any(
      pattern.match(_variables.var_name(p)) for p in target.parts)


class _Selector:
  """Selects the variables of one `WarmStartSettings` (no assignment map)."""

  def __init__(self, settings: _settings.WarmStartSettings,
               targets: Mapping[str, _variables.Target], graph: tf.Graph,
               problems: _errors.Problems, source: str):
    self.settings = settings
    self.targets = targets
    self.graph = graph
    self.problems = problems
    self.source = source
    self.aux = auxiliary_variables(targets)
    self.global_steps = _variables.global_step_names(graph)
    self.selected: dict[str, tuple[_variables.Target, str]] = {}

  def _unmatched(self, error: type[_errors.Error], message: str) -> None:
    message = '%s (source %s)' % (message, self.source)
    if self.settings.allow_unmatched:
      logging.warning('%s; ignored (allow_unmatched=True).', message)
    else:
      self.problems.add(error, message + '.')

  def _excluded(self, target: _variables.Target) -> Optional[str]:
    """Why a regex may not select `target` (None if it may)."""
    if (target.name in self.global_steps and
        not self.settings.include_global_step):
      return 'the global step (pass include_global_step=True)'
    if target.name in self.aux and not self.settings.include_slots:
      return 'an optimizer slot or auxiliary variable (pass include_slots=True)'
    return None

  def _by_regex(self, pattern_text: str, rule: str, trainable_only: bool):
    pattern = re.compile(pattern_text)
    found = False
    excluded = {}
    for target in self.targets.values():
      if not _matches(pattern, target):
        continue
      if trainable_only and not target.trainable:
        excluded[target.name] = ('not trainable (a string regex selects '
                                 'trainable variables only; use a list of '
                                 'regexes)')
        continue
      why = self._excluded(target)
      if why:
        excluded[target.name] = why
        continue
      found = True
      self.selected.setdefault(target.name, (target, rule))
    if found:
      return
    viable = [n for n, t in self.targets.items()
              if (t.trainable or not trainable_only) and not self._excluded(t)]
    hint = ''
    if excluded:
      hint = ' It matches only %s: %s.' % (
          'variables it may not select', '; '.join(
              '%r is %s' % item for item in sorted(excluded.items())[:5]))
    self._unmatched(
        _errors.UnmatchedRuleError,
        '%s matches no %svariable of the graph.%s%s Viable names: %s' %
        (rule, 'trainable ' if trainable_only else '', hint,
         self.problems.did_you_mean(pattern_text, viable),
         _errors.preview(viable)))

  def _by_objects(self, values: tuple[Any, ...]) -> None:
    groups: dict[str, list[Any]] = {}
    rules: dict[str, str] = {}
    for i, value in enumerate(values):
      parts = (_tf_compat.partitioned_variable_parts(value)
               if _tf_compat.is_partitioned_variable(value) else [value])
      for part in parts:
        if (not isinstance(part, _variables.CustomVariable) and
            getattr(part, 'graph', self.graph) is not self.graph):
          self.problems.add(
              _errors.SettingsError,
              'vars_to_warm_start[%d] is the variable %r of another graph than '
              'the one warm-started.' % (i, _variables.var_name(part)))
          continue
        info = (None if isinstance(part, _variables.CustomVariable) else
                _tf_compat.save_slice_info(part))
        key = info.full_name if info is not None else part.name
        group = groups.setdefault(key, [])
        if not any(p is part for p in group):
          group.append(part)
        rules.setdefault(key, 'vars_to_warm_start[%d]' % i)
    for key, parts in groups.items():
      try:
        target = _variables.target_of(parts if len(parts) > 1 else parts[0])
      except (TypeError, _errors.Error) as e:
        self.problems.add(_errors.SettingsError,
                          '%s: %s' % (rules[key], e))
        continue
      self.selected.setdefault(target.name, (target, rules[key]))

  def _check_keys(self, field: str, keys) -> None:
    """Every rename/vocabulary key must name a selected variable."""
    parts = {}
    for target in self.targets.values():
      if target.is_partitioned and not target.is_custom:
        for p in target.parts:
          parts[_variables.var_name(p)] = target.name
    for key in keys:
      if key in self.selected:
        continue
      where = '%s key %r' % (field, key)
      if key in self.targets:
        self._unmatched(
            _errors.UnmatchedRuleError,
            '%s names variable %r, which vars_to_warm_start=%r does not '
            'select. Selected: %s' %
            (where, key, self.settings.vars_to_warm_start,
             _errors.preview(self.selected)))
      elif key in parts:
        self._unmatched(
            _errors.VariableNotFoundError,
            '%s names a partition of %r: use the full variable name %r' %
            (where, parts[key], parts[key]))
      else:
        self._unmatched(
            _errors.VariableNotFoundError,
            '%s names no variable of the graph.%s Selected variables: %s' %
            (where, self.problems.did_you_mean(key, self.targets),
             _errors.preview(self.selected)))

  def select(self) -> dict[str, tuple[_variables.Target, str]]:
    s = self.settings
    spec = s.vars_to_warm_start
    if spec is None:
      for key in s.var_name_to_vocab_info:
        target = self.targets.get(key)
        if target is not None:
          self.selected[key] = (target, 'var_name_to_vocab_info[%r]' % key)
    elif isinstance(spec, str):
      self._by_regex(spec, 'vars_to_warm_start=%r' % spec, True)
    elif all(isinstance(p, str) for p in spec):
      for i, pattern in enumerate(spec):
        self._by_regex(pattern, 'vars_to_warm_start[%d]=%r' % (i, pattern),
                       False)
    else:
      self._by_objects(spec)
    if s.include_slots:
      primaries = set(self.selected)
      slots = [n for n, p in self.aux.items() if p and p in primaries]
      if slots:
        slots += [n for n, p in self.aux.items() if not p]
      for name in slots:
        self.selected.setdefault(
            name, (self.targets[name], 'include_slots'))
    if s.include_global_step:
      steps = [n for n in sorted(self.global_steps) if n in self.targets]
      if not steps:
        self._unmatched(
            _errors.VariableNotFoundError,
            'include_global_step=True, but the graph has no global step '
            '(tf.compat.v1.train.get_or_create_global_step() makes one)')
      for name in steps:
        self.selected.setdefault(
            name, (self.targets[name], 'include_global_step'))
    self._check_keys('var_name_to_prev_var_name', s.var_name_to_prev_var_name)
    self._check_keys('var_name_to_vocab_info', s.var_name_to_vocab_info)
    return self.selected


def _is_scope_item(key: str, value: Any) -> bool:
  return isinstance(value, str) and (key.endswith('/') or key == '')


def _map_pairs(settings: _settings.WarmStartSettings,
               targets: Mapping[str, _variables.Target], graph: tf.Graph,
               problems: _errors.Problems,
               source: str) -> list[_assignment_map.Pair]:
  """The pairs of an assignment-map source (slots filtered from scopes)."""
  aux = auxiliary_variables(targets)
  global_steps = (frozenset() if settings.include_global_step else
                  _variables.global_step_names(graph))
  pairs = []
  for key, value in _assignment_map.items(settings.assignment_map):
    found = _assignment_map.expand(
        [(key, value)], targets, problems,
        allow_unmatched=settings.allow_unmatched, global_steps=global_steps,
        local_names=_variables.local_variable_names(graph),
        source=source)
    if _is_scope_item(key, value) and not settings.include_slots:
      kept = [p for p in found if p.target.name not in aux]
      if found and not kept and not settings.allow_unmatched:
        problems.add(
            _errors.UnmatchedRuleError,
            'Assignment map entry %r: every variable under the scope is an '
            'optimizer slot or auxiliary variable (%s); pass '
            'include_slots=True to warm-start them (source %s).' %
            (found[0].rule, _errors.preview(p.target.name for p in found),
             source))
      found = kept
    pairs.extend(found)
  used = {p.target.name for p in pairs}
  for key in settings.var_name_to_vocab_info:
    if key not in used:
      message = ('var_name_to_vocab_info key %r names no variable that the '
                 'assignment map selects.%s Selected: %s (source %s)' %
                 (key, _errors.did_you_mean(key, used), _errors.preview(used),
                  source))
      if settings.allow_unmatched:
        logging.warning('%s; ignored (allow_unmatched=True).', message)
      else:
        problems.add(_errors.VariableNotFoundError if key not in targets else
                     _errors.UnmatchedRuleError, message + '.')
  return pairs


def _source_entries(settings: _settings.WarmStartSettings,
                    targets: Mapping[str, _variables.Target], graph: tf.Graph,
                    problems: _errors.Problems) -> list[_plan.Entry]:
  """The entries of one source, problems recorded."""
  checkpoint = _sources.load(settings.ckpt_to_initialize_from)
  options = settings.options
  if settings.assignment_map is not None:
    pairs = _map_pairs(settings, targets, graph, problems, checkpoint.prefix)
  else:
    selected = _Selector(settings, targets, graph, problems,
                         checkpoint.prefix).select()
    object_keys = object_graph_keys(checkpoint)
    pairs = []
    for name, (target, rule) in selected.items():
      tensor = settings.var_name_to_prev_var_name.get(name)
      if tensor is not None:
        rule = '%s, var_name_to_prev_var_name[%r]' % (rule, name)
      else:
        tensor = name
      if tensor not in checkpoint and tensor in object_keys:
        # As TF's warm_start: a variable of an object-based checkpoint is
        # found by the name it had when saved.
        tensor = object_keys[tensor]
        rule = '%s, object-based checkpoint' % rule
      pairs.append(_assignment_map.Pair(tensor, target, rule))
  vocab = dict(settings.var_name_to_vocab_info)
  for name, primary in auxiliary_variables(targets).items():
    if primary in vocab and name not in vocab:
      # A slot of a remapped variable follows its vocabulary.
      vocab[name] = _vocab.for_slot(vocab[primary])
  # The pairs without vocabulary are checked together (in order), so a rule
  # missing many tensors is reported once.
  checked = iter(_planner.check_pairs(
      [pair for pair in pairs if pair.target.name not in vocab], checkpoint,
      options, problems))
  entries = []
  for pair in pairs:
    info = vocab.get(pair.target.name)
    if info is not None:
      entry = _vocab.plan_entry(pair.target, pair.tensor, checkpoint, info,
                                options, problems, pair.rule)
    else:
      entry = next(checked)
    if entry is not None:
      entries.append(entry)
  return entries


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
  for settings in all_settings:
    entries.extend(_source_entries(settings, targets, graph, problems))
  _planner.check_conflicts(entries, problems, _restore.applied_entries(graph))
  problems.raise_if_any()
  return _plan.Plan(tuple(entries), num_variables=len(targets))


def apply_settings(settings_like: Any,
                   graph: Optional[tf.Graph] = None) -> _plan.Plan:
  """Plans and applies warm-start settings: the variables' initializers load.

  Values are read when the initializers run (at session creation under a
  Scaffold, or by `global_variables_initializer`). In a replica context of a
  `tf.distribute` strategy, the work happens once, in `merge_call`, as TF's
  `init_from_checkpoint` does.

  Args:
    settings_like: As for `make_settings_plan`.
    graph: The graph (default graph when None).

  Returns:
    The applied `warmstart.Plan`.

  Raises:
    warmstart.Error: as `make_settings_plan`.
  """
  graph = graph or tf.compat.v1.get_default_graph()

  # merge_call would autograph-convert `build`: plain Python builds the ops.
  @tf.autograph.experimental.do_not_convert
  def build(_=None):
    plan = make_settings_plan(settings_like, graph)
    _restore.apply_plan(plan, _options.Options(), graph)
    return plan

  with graph.as_default():
    if tf.distribute.in_cross_replica_context():
      return build()
    # merge_call runs `build` once and hands its plan to every replica.
    return tf.distribute.get_replica_context().merge_call(build)


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
  valid = ('assignment_map', 'skip_missing', 'skip_mismatched',
           'allow_unmatched', 'include_slots', 'include_global_step')
  unknown = sorted(set(options) - set(valid))
  if unknown:
    raise _errors.SettingsError(
        'warm_start got unknown option(s) %s.%s Valid options: %s.' %
        (', '.join(unknown), _errors.did_you_mean(unknown[0], valid),
         ', '.join(valid)))
  settings = _settings.WarmStartSettings(
      ckpt_to_initialize_from, vars_to_warm_start, var_name_to_vocab_info,
      var_name_to_prev_var_name, **options)
  return apply_settings(settings)
