"""The one planner: sources x rules x the graph's variables -> a validated `Plan`.

Every entry point plans here, through the same loop: `init_from_checkpoint`'s
(checkpoint, assignment map) sources are settings with a map
(`map_sources`), `WarmStartSettings` are themselves (`settings_sources`).
For each source: load its index, ask its compiled `Rules` for the pairs,
check each pair (or plan its vocabulary remap), then check conflicts across
sources and with earlier warm starts, and raise every problem at once.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

import tensorflow as tf

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart._planning import _checks
from warmstart._planning import _rules
from warmstart._planning import _selection
from warmstart._planning import _slots
from warmstart._planning import _vocab
from warmstart import _settings
from warmstart import _sources
from warmstart import _variables
from warmstart import _vocab_info

_EMPTY: Mapping[str, Any] = types.MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class MapSettings:
  """An `init_from_checkpoint` source: settings with only an assignment map.

  Reads like a `WarmStartSettings` (the fields `Rules` asks for); the map's
  form is checked when it is built, as TF's function checks it when called.
  """

  ckpt_to_initialize_from: Any
  assignment_map: Any
  options: _options.Options
  vars_to_warm_start = _settings.DEFAULT_VARS
  var_name_to_prev_var_name = _EMPTY
  var_name_to_vocab_info = _EMPTY

  def __post_init__(self):
    # TF's forms, checked now (TypeError, as TF's function raises).
    object.__setattr__(self, 'assignment_map',
                       tuple(_assignment_map.items(self.assignment_map)))

  def __getattr__(self, name: str) -> Any:
    if name in _options.NAMES:
      return getattr(self.options, name)
    raise AttributeError(name)


@dataclasses.dataclass(frozen=True)
class Source:
  """One source and its rules, compiled once for every consumer.

  Attributes:
    path: The checkpoint path as given.
    rules: The compiled rules (`_rules.Rules`).
  """

  path: Any
  rules: _rules.Rules

  @property
  def options(self) -> _options.Options:
    return self.rules.settings.options


def settings_sources(
    settings: Sequence[_settings.WarmStartSettings]) -> tuple[Source, ...]:
  """The sources of normalized `WarmStartSettings` (one each)."""
  return tuple(Source(s.ckpt_to_initialize_from, _rules.Rules(s))
               for s in settings)


MapSource = tuple[Any, _assignment_map.AssignmentMap]


def sources_of(ckpt_dir_or_file: Any,
               assignment_map: Optional[_assignment_map.AssignmentMap]
              ) -> list[MapSource]:
  """`init_from_checkpoint`'s one-source and list forms, as (path, map) pairs.

  Raises:
    SettingsError: the form is neither.
  """
  if isinstance(ckpt_dir_or_file, (list, tuple)):
    if assignment_map is not None:
      raise _errors.SettingsError(
          'With a list of sources, give each its own assignment map as '
          '[(checkpoint, assignment_map), ...] and no assignment_map argument.')
    pairs = []
    for source in ckpt_dir_or_file:
      if not isinstance(source, (list, tuple)) or len(source) != 2:
        raise _errors.SettingsError(
            'A list of sources must hold (checkpoint, assignment_map) pairs, '
            'got %r.' % (source,))
      pairs.append(tuple(source))
    if not pairs:
      raise _errors.SettingsError('The list of sources is empty.')
    return pairs
  if assignment_map is None:
    raise _errors.SettingsError(
        'init_from_checkpoint needs an assignment map, e.g. {"/": "/"} to '
        'load every variable from the same name in %r.' % (ckpt_dir_or_file,))
  return [(ckpt_dir_or_file, assignment_map)]


def map_sources(ckpt_dir_or_file: Any,
                assignment_map: Optional[_assignment_map.AssignmentMap],
                options: _options.Options) -> tuple[Source, ...]:
  """The sources of `init_from_checkpoint` (see `sources_of` for the forms).

  A scope entry takes the optimizer slots under its scope, as TF's
  `init_from_checkpoint` does.

  Raises:
    SettingsError: a form that is neither.
    TypeError: a malformed assignment map.
  """
  return tuple(
      Source(path, _rules.Rules(MapSettings(path, mapping, options),
                                scope_maps_take_slots=True))
      for path, mapping in sources_of(ckpt_dir_or_file, assignment_map))


def read_options(sources: Iterable[Source]) -> _options.Options:
  """The options of the restore: each read bounded by the smallest bound."""
  return _options.Options(
      max_chunk_bytes=min(s.options.max_chunk_bytes for s in sources))


def _vocabularies(settings: Any, targets: Mapping[str, _variables.Target]
                 ) -> dict[str, Any]:
  """{variable: VocabInfo}: the settings' and, for each slot of a remapped
  variable, its primary's (a slot follows its vocabulary)."""
  vocab = dict(settings.var_name_to_vocab_info)
  if vocab:
    for name, primary in _slots.auxiliary_variables(targets).items():
      if primary in vocab and name not in vocab:
        vocab[name] = _vocab_info.for_slot(vocab[primary])
  return vocab


def _source_entries(source: Source, checkpoint: _sources.Checkpoint,
                    targets: Mapping[str, _variables.Target], graph: tf.Graph,
                    problems: _errors.Problems) -> list[_plan.Entry]:
  """The entries of one source, problems recorded."""
  options = source.options
  pairs = _selection.select(source.rules, targets, graph, problems,
                            checkpoint)
  # As TF's warm_start: a variable of an object-based checkpoint is found by
  # the name it had when saved. check_pairs resolves its pairs the same way;
  # this also covers the vocabulary pairs, which it does not see.
  pairs = _checks.resolve_pairs(pairs, checkpoint)
  vocab = _vocabularies(source.rules.settings, targets)
  # The pairs without vocabulary are checked together (in order), so a rule
  # missing many tensors is reported once.
  checked = iter(_checks.check_pairs(
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


def graph_or_default(graph: Optional[tf.Graph]) -> tf.Graph:
  """`graph`, or the default graph when None.

  Raises:
    SettingsError: `graph` is something else than a `tf.Graph`.
  """
  if graph is None:
    return tf.compat.v1.get_default_graph()
  if not isinstance(graph, tf.Graph):
    raise _errors.SettingsError(
        'graph must be a tf.Graph (or None: the default graph), got %r of '
        'type %s.' % (graph, type(graph).__name__))
  return graph


def plan(sources: Sequence[Source],
         graph: Optional[tf.Graph] = None,
         earlier: Iterable[_plan.Entry] = ()) -> _plan.Plan:
  """Builds and validates the plan of `sources` (no op is built).

  Args:
    sources: From `settings_sources` or `map_sources`.
    graph: The graph whose variables are filled (default graph when None).
    earlier: Entries already applied to this graph (claims conflict).

  Returns:
    The validated plan.

  Raises:
    Error: a subclass for the first problem, listing every problem.
  """
  graph = graph_or_default(graph)
  earlier = tuple(earlier)
  targets = _variables.collect(graph)
  problems = _errors.Problems()
  entries = []
  checkpoints = []
  for source in sources:
    checkpoint = _sources.load(source.path, source.options.cache_dir,
                               source.options.max_chunk_bytes)
    checkpoints.append(checkpoint)
    entries.extend(_source_entries(source, checkpoint, targets, graph,
                                   problems))
  entries.extend(_start_step(sources, targets, graph, problems))
  _check_all_optimizer_state(sources, targets, entries, earlier, problems)
  _checks.check_conflicts(entries, problems, earlier)
  problems.raise_if_any()
  return _checks.finished_plan(entries, targets, checkpoints, earlier,
                               _planned_start_step(entries, graph))


def _planned_start_step(entries: Sequence[_plan.Entry],
                        graph: tf.Graph) -> Optional[int]:
  """The step `entries` give the global step (set, or read: one scalar)."""
  names = _variables.global_step_names(graph)
  for entry in entries:
    if entry.variable not in names or entry.skipped:
      continue
    if entry.action == _plan.SET:
      return int(entry.action_params['value'])
    if entry.action in _plan.BATCHED and entry.slices == ('',):
      reader = tf.compat.v1.train.NewCheckpointReader(entry.source)
      return int(reader.get_tensor(entry.tensor))
  return None


def _start_step(sources: Sequence[Source],
                targets: Mapping[str, _variables.Target], graph: tf.Graph,
                problems: _errors.Problems) -> list[_plan.Entry]:
  """The entry setting the global step to `global_step=N` (if asked)."""
  steps = sorted({s.options.global_step for s in sources
                  if not isinstance(s.options.global_step, str)})
  if not steps:
    return []
  if len(steps) > 1:
    problems.add(_errors.SettingsError,
                 'The sources ask for different start steps (global_step=%s): '
                 'give one.' % ', '.join(map(str, steps)))
    return []
  names = [n for n in sorted(_variables.global_step_names(graph))
           if n in targets]
  if not names:
    problems.add(
        _errors.VariableNotFoundError,
        'global_step=%d, but the graph has no global step '
        '(tf.compat.v1.train.get_or_create_global_step() makes one).' %
        steps[0])
    return []
  entries = []
  for name in names:
    target = targets[name]
    entries.append(_plan.Entry(
        variable=name, shape=tuple(target.shape.as_list()),
        dtype=target.dtype.name, source='', tensor='', slices=target.slices,
        action=_plan.SET, rule='global_step=%d' % steps[0],
        reason='the run starts at step %d' % steps[0],
        action_params={'value': steps[0]}, target=target))
  return entries


def _check_all_optimizer_state(sources: Sequence[Source],
                               targets: Mapping[str, _variables.Target],
                               entries: Sequence[_plan.Entry],
                               earlier: Sequence[_plan.Entry],
                               problems: _errors.Problems) -> None:
  """`optimizer_state='all'`: every optimizer variable must be restored."""
  if not any(s.options.optimizer_state == 'all' for s in sources):
    return
  restored = {e.variable for e in entries if not e.skipped}
  restored.update(e.variable for e in earlier)
  missing = sorted(n for n in _slots.auxiliary_variables(targets)
                   if n not in restored)
  if missing:
    problems.add(
        _errors.TensorNotFoundError,
        "optimizer_state='all': %d optimizer variable(s) of the graph are not "
        'restored: %s. Each needs its counterpart in a source (a checkpoint '
        'trained with another optimizer has none); optimizer_state='
        "'matching' lets those without one start fresh." %
        (len(missing), _errors.preview(missing, 30)))
