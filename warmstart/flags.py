"""absl flags for warm starts: `define_flags` and `settings_from_flags`.

Importing this module defines no flag. Call `define_flags()` once (in your
`__main__` module, or with your own `flags.FlagValues()` in tests), then
`settings_from_flags()` after parsing; pass the result to
`warmstart.wrap_model_fn` or `warmstart.WarmStartHook`.

Example:

  ```python
  from absl import app, flags
  from warmstart import flags as warmstart_flags

  warmstart_flags.define_flags()

  def main(argv):
    settings = warmstart_flags.settings_from_flags()  # None: cold start.
    model_fn = my_model_fn
    if settings is not None:
      model_fn = warmstart.wrap_model_fn(my_model_fn, settings)
    ...

  app.run(main)
  ```

The flags (all validated when the flags are parsed):

  --warm_start_from=PATH     Checkpoint prefix, checkpoint directory or
                             SavedModel directory. Repeat it to read several
                             sources: they are numbered 0, 1, ... in order.
  --warm_start_vars=REGEX    Variables to warm-start, matched at the start of
                             the name (`re.match`): default '.*', every
                             trainable variable (TF's `vars_to_warm_start`).
  --warm_start_exclude=REGEX Variables NOT to warm-start (also `re.match`;
                             end with '$' for one whole name). Repeatable.
  --warm_start_map=[SOURCE_INDEX:]CKPT_NAME_OR_SCOPE=VAR_NAME_OR_SCOPE
                             Read variable(s) VAR from the checkpoint name(s)
                             CKPT, like an `init_from_checkpoint` assignment
                             map entry: 'enc/=student/enc/' maps a scope
                             (scopes end with '/'; '/' alone is the root),
                             'logits/w=head/w' one variable. Repeatable.
                             SOURCE_INDEX (0-based, in --warm_start_from
                             order) is required when there are several
                             sources and optional with one.
  --warm_start_skip_missing, --warm_start_skip_mismatched,
  --warm_start_allow_unmatched, --warm_start_include_slots,
  --warm_start_include_global_step
                             The policies of `warmstart.WarmStartSettings`,
                             for every source.

A source with `--warm_start_map` entries restores exactly what its map
selects (as `init_from_checkpoint` does); a source without restores what
`--warm_start_vars` selects, minus `--warm_start_exclude`, from the same names.
The exclusion is built into the regex of `vars_to_warm_start` as a negative
lookahead: `(?!(?:EXCLUDE_1)|(?:EXCLUDE_2))(?:VARS)`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Optional

from absl import flags

from warmstart import _errors
from warmstart import _settings

FROM = 'warm_start_from'
VARS = 'warm_start_vars'
EXCLUDE = 'warm_start_exclude'
MAP = 'warm_start_map'
SKIP_MISSING = 'warm_start_skip_missing'
SKIP_MISMATCHED = 'warm_start_skip_mismatched'
ALLOW_UNMATCHED = 'warm_start_allow_unmatched'
INCLUDE_SLOTS = 'warm_start_include_slots'
INCLUDE_GLOBAL_STEP = 'warm_start_include_global_step'

#: Boolean flag -> `WarmStartSettings` field.
POLICIES = {
    SKIP_MISSING: 'skip_missing',
    SKIP_MISMATCHED: 'skip_mismatched',
    ALLOW_UNMATCHED: 'allow_unmatched',
    INCLUDE_SLOTS: 'include_slots',
    INCLUDE_GLOBAL_STEP: 'include_global_step',
}

#: Every flag `define_flags` defines.
FLAG_NAMES = (FROM, VARS, EXCLUDE, MAP) + tuple(POLICIES)

#: The default of --warm_start_vars: TF's, every trainable variable.
DEFAULT_VARS = '.*'

#: The syntax of a map entry, for messages and help texts.
MAP_SYNTAX = '[SOURCE_INDEX:]CKPT_NAME_OR_SCOPE=VAR_NAME_OR_SCOPE'

_INDEX_RE = re.compile(r'\s*(\d+)\s*:(.*)', re.DOTALL)


@dataclasses.dataclass(frozen=True)
class MapEntry:
  """One parsed map entry.

  Attributes:
    source: The 0-based index of the source it reads; None when omitted.
    key: The checkpoint name or scope (left of '=').
    value: The variable name or scope (right of '=').
    text: The entry as written.
  """

  source: Optional[int]
  key: str
  value: str
  text: str


def parse_map_entry(text: str) -> MapEntry:
  """Parses one `[SOURCE_INDEX:]CKPT_NAME_OR_SCOPE=VAR_NAME_OR_SCOPE`.

  TF names hold neither '=' nor ':' (but for a trailing ':0'), so the syntax
  is unambiguous.

  Args:
    text: The entry, e.g. 'encoder/=student/encoder/' or '1:logits/w=head/w'.

  Returns:
    The `MapEntry`.

  Raises:
    ValueError: the entry is malformed; the message shows how to write it.
  """
  if not isinstance(text, str):
    raise ValueError('A map entry must be a string %s, got %r.' %
                     (MAP_SYNTAX, text))
  source = None
  body = text
  match = _INDEX_RE.fullmatch(text)
  if match:
    source = int(match.group(1))
    body = match.group(2)
  if '=' not in body:
    raise ValueError(
        'Map entry %r has no "=": write %s, e.g. "encoder/=student/encoder/" '
        '(a scope) or "1:dense/kernel=head/kernel" (one variable, from source '
        '1).' % (text, MAP_SYNTAX))
  key, _, value = body.partition('=')
  key, value = key.strip(), value.strip()
  if '=' in value:
    raise ValueError('Map entry %r has more than one "=": write %s.' %
                     (text, MAP_SYNTAX))
  if not key or not value:
    raise ValueError(
        'Map entry %r has an empty %s side: write %s ("/" alone stands for the '
        'root scope).' % (text, 'left' if not key else 'right', MAP_SYNTAX))
  if ':' in key:
    raise ValueError(
        'Map entry %r: %r is no checkpoint name (names hold no ":"); a source '
        'index before ":" must be a number 0, 1, ...: write %s.' %
        (text, key, MAP_SYNTAX))
  return MapEntry(source=source, key=key, value=value, text=text)


def maps_by_source(entries: Iterable[str], num_sources: int,
                   sources_flag: str = '--' + FROM) -> list[dict[str, str]]:
  """Groups map entries by source: one {checkpoint name: variable} per source.

  Args:
    entries: Map entries in `MAP_SYNTAX`.
    num_sources: How many sources there are (indices 0 to num_sources - 1).
    sources_flag: How the sources are given, for messages.

  Returns:
    `num_sources` dicts in source order (empty for a source no entry names).

  Raises:
    ValueError: a malformed entry, an index out of range, an entry without
      index when there are several sources, or a name mapped twice.
  """
  maps: list[dict[str, str]] = [{} for _ in range(num_sources)]
  for text in entries:
    entry = parse_map_entry(text)
    if num_sources == 0:
      raise ValueError('Map entry %r has no source to read: give %s too.' %
                       (text, sources_flag))
    index = entry.source
    if index is None:
      if num_sources > 1:
        raise ValueError(
            'Map entry %r does not say which of the %d sources it reads: '
            'prefix it with the source index (0-based, in the order of %s), '
            'e.g. "0:%s" or "%d:%s".' %
            (text, num_sources, sources_flag, text, num_sources - 1, text))
      index = 0
    if index >= num_sources:
      valid = ('the only source is 0' if num_sources == 1 else
               'the sources are 0 to %d' % (num_sources - 1))
      raise ValueError(
          'Map entry %r reads source %d, but %s (0-based, in the order of '
          '%s).' % (text, index, valid, sources_flag))
    if entry.key in maps[index]:
      raise ValueError(
          'Map entry %r maps %r of source %d again (it is already mapped to '
          '%r): keep one.' % (text, entry.key, index, maps[index][entry.key]))
    maps[index][entry.key] = entry.value
  return maps


def _check_regex(regex: str, what: str) -> None:
  try:
    re.compile(regex)
  except re.error as e:
    raise ValueError(
        '%r is not a valid regex for %s: %s (a Python `re` pattern, e.g. '
        '"dense/.*" or "logits/bias$").' % (regex, what, e)) from None


def vars_regex(vars_to_warm_start: str = DEFAULT_VARS,
               exclude: Sequence[str] = ()) -> str:
  """Returns the `vars_to_warm_start` regex with the exclusions built in.

  Both are matched at the start of the name (`re.match`), so the result
  selects a name when `vars_to_warm_start` matches it and no exclusion does.

  Args:
    vars_to_warm_start: The selecting regex.
    exclude: Regexes of names not to select.

  Returns:
    `(?!(?:EXCLUDE_1)|...)(?:VARS)`, or `vars_to_warm_start` when nothing is
    excluded.

  Raises:
    ValueError: a regex is invalid.
  """
  _check_regex(vars_to_warm_start, 'the variables to warm-start')
  for regex in exclude:
    _check_regex(regex, 'the variables not to warm-start')
  if not exclude:
    return vars_to_warm_start
  return '(?!%s)(?:%s)' % ('|'.join('(?:%s)' % r for r in exclude),
                           vars_to_warm_start)


def _checked_sources(sources: Sequence[str]) -> list[str]:
  for source in sources:
    if not isinstance(source, str) or not source.strip():
      raise ValueError(
          'A warm-start source must be a non-empty path (a checkpoint prefix, '
          'a checkpoint directory or a SavedModel directory), got %r.' %
          (source,))
  return list(sources)


def _check_selection(maps: Sequence[dict[str, str]], vars_to_warm_start: str,
                     exclude: Sequence[str], vars_flag: str,
                     exclude_flag: str) -> None:
  if not maps or not all(maps):
    return
  given = []
  if vars_to_warm_start != DEFAULT_VARS:
    given.append('%s=%s' % (vars_flag, vars_to_warm_start))
  given.extend('%s=%s' % (exclude_flag, r) for r in exclude)
  if given:
    raise ValueError(
        '%s: these only apply to sources without map entries, but every '
        'source has map entries (which select their variables themselves, '
        'like init_from_checkpoint). Map only the variables you want instead.'
        % ', '.join(given))


def settings_from_strings(
    sources: Sequence[str],
    maps: Sequence[str] = (),
    vars_to_warm_start: str = DEFAULT_VARS,
    exclude: Sequence[str] = (),
    *,
    skip_missing: bool = False,
    skip_mismatched: bool = False,
    allow_unmatched: bool = False,
    include_slots: bool = False,
    include_global_step: bool = False,
) -> tuple[_settings.WarmStartSettings, ...]:
  """Builds the settings from the string forms the flags and the CLI share.

  Args:
    sources: Checkpoint paths (source 0, 1, ...).
    maps: Map entries in `MAP_SYNTAX`.
    vars_to_warm_start: Regex of the variables of sources without map entries.
    exclude: Regexes of variables of those sources not to warm-start.
    skip_missing: See `warmstart.WarmStartSettings`.
    skip_mismatched: See `warmstart.WarmStartSettings`.
    allow_unmatched: See `warmstart.WarmStartSettings`.
    include_slots: See `warmstart.WarmStartSettings`.
    include_global_step: See `warmstart.WarmStartSettings`.

  Returns:
    One `WarmStartSettings` per source, in order.

  Raises:
    SettingsError: malformed values; the message says how to write them.
  """
  try:
    sources = _checked_sources(sources)
    if not sources:
      raise ValueError('No warm-start source: give at least one checkpoint.')
    by_source = maps_by_source(maps, len(sources))
    exclude = list(exclude)
    regex = vars_regex(vars_to_warm_start, exclude)
    _check_selection(by_source, vars_to_warm_start, exclude,
                     '--' + VARS, '--' + EXCLUDE)
  except ValueError as e:
    raise _errors.SettingsError(str(e)) from None
  policies = dict(skip_missing=skip_missing, skip_mismatched=skip_mismatched,
                  allow_unmatched=allow_unmatched, include_slots=include_slots,
                  include_global_step=include_global_step)
  result = []
  for source, assignment_map in zip(sources, by_source):
    if assignment_map:
      result.append(_settings.WarmStartSettings(
          source, assignment_map=assignment_map, **policies))
    else:
      result.append(_settings.WarmStartSettings(source, regex, **policies))
  return tuple(result)


def _validation(check):
  """Wraps `check` so its ValueError becomes absl's ValidationError."""

  def checker(value) -> bool:
    try:
      check(value)
    except ValueError as e:
      raise flags.ValidationError(str(e)) from None
    return True

  return checker


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines the warm-start flags (see the module docstring) on `flag_values`.

  Calling it again on the same `flag_values` does nothing.

  Args:
    flag_values: Where to define them; your own `flags.FlagValues()` in
      tests.

  Raises:
    flags.DuplicateFlagError: another module defined a flag of the same name.
  """
  if all(name in flag_values for name in FLAG_NAMES):
    return
  flags.DEFINE_multi_string(
      FROM, None,
      'Warm-start from this checkpoint prefix, checkpoint directory or '
      'SavedModel directory. Repeat it for several sources (source 0, 1, ... '
      'in order).', flag_values=flag_values)
  flags.DEFINE_string(
      VARS, DEFAULT_VARS,
      'Regex of the variables to warm-start from sources without map '
      'entries, matched at the start of the name (re.match). The default '
      'selects every trainable variable.', flag_values=flag_values)
  flags.DEFINE_multi_string(
      EXCLUDE, None,
      'Regex of variables NOT to warm-start (re.match; end with "$" for one '
      'whole name). Repeatable.', flag_values=flag_values)
  flags.DEFINE_multi_string(
      MAP, None,
      'Map entry %s: read the variable(s) VAR from the checkpoint name(s) '
      'CKPT, like an init_from_checkpoint assignment map; scopes end with '
      '"/", "/" alone is the root. SOURCE_INDEX (0-based, in --%s order) is '
      'needed when there are several sources. Repeatable.' % (MAP_SYNTAX, FROM),
      flag_values=flag_values)
  helps = {
      SKIP_MISSING: 'Skip (with a warning) variables whose tensor is missing '
                    'from the checkpoint instead of failing.',
      SKIP_MISMATCHED: 'Skip (with a warning) variables whose checkpoint '
                       'tensor has another shape or dtype instead of failing.',
      ALLOW_UNMATCHED: 'Allow regexes and map entries that select no '
                       'variable instead of failing.',
      INCLUDE_SLOTS: 'Also warm-start the optimizer slots of the selected '
                     'variables.',
      INCLUDE_GLOBAL_STEP: 'Also warm-start the global step.',
  }
  for name in POLICIES:
    flags.DEFINE_bool(name, False, helps[name], flag_values=flag_values)

  flags.register_validator(
      FROM, _validation(lambda v: _checked_sources(v or ())),
      flag_values=flag_values)
  flags.register_validator(
      VARS, _validation(lambda v: _check_regex(
          v, 'the variables to warm-start')), flag_values=flag_values)
  flags.register_validator(
      EXCLUDE, _validation(lambda v: [
          _check_regex(r, 'the variables not to warm-start') for r in v or ()
      ]), flag_values=flag_values)
  flags.register_validator(
      MAP, _validation(lambda v: [parse_map_entry(e) for e in v or ()]),
      flag_values=flag_values)
  flags.register_multi_flags_validator(
      [FROM, MAP], _validation(lambda v: _check_maps(v[FROM], v[MAP])),
      flag_values=flag_values)
  flags.register_multi_flags_validator(
      [FROM, MAP, VARS, EXCLUDE], _validation(_check_selection_flags),
      flag_values=flag_values)
  flags.register_multi_flags_validator(
      [FROM] + list(POLICIES), _validation(_check_policies),
      flag_values=flag_values)


def _check_maps(sources: Optional[list[str]],
                maps: Optional[list[str]]) -> None:
  if maps and not sources:
    raise ValueError('--%s=%s needs --%s: give the checkpoint(s) the map '
                     'reads.' % (MAP, maps[0], FROM))
  maps_by_source(maps or (), len(sources or ()))


def _check_selection_flags(values: dict) -> None:
  sources, exclude = values[FROM] or [], values[EXCLUDE] or []
  if not sources:
    given = (['--%s=%s' % (VARS, values[VARS])]
             if values[VARS] != DEFAULT_VARS else [])
    given.extend('--%s=%s' % (EXCLUDE, r) for r in exclude)
    if given:
      raise ValueError('%s %s no effect without --%s: give the checkpoint(s) '
                       'to warm-start from.' %
                       (', '.join(given), 'has' if len(given) == 1 else 'have',
                        FROM))
    return
  try:
    by_source = maps_by_source(values[MAP] or (), len(sources))
  except ValueError:
    return  # Reported by the map validator.
  _check_selection(by_source, values[VARS], exclude, '--' + VARS,
                   '--' + EXCLUDE)


def _check_policies(values: dict) -> None:
  given = ['--' + name for name in POLICIES if values[name]]
  if given and not values[FROM]:
    raise ValueError('%s %s no effect without --%s: give the checkpoint(s) to '
                     'warm-start from.' % (', '.join(given), 'has' if len(
                         given) == 1 else 'have', FROM))


def settings_from_flags(
    flag_values: flags.FlagValues = flags.FLAGS
) -> Optional[tuple[_settings.WarmStartSettings, ...]]:
  """Returns the warm-start settings the parsed flags ask for.

  Args:
    flag_values: The parsed flags, defined by `define_flags`.

  Returns:
    One `warmstart.WarmStartSettings` per `--warm_start_from`, in order
    (ready for `wrap_model_fn` or `WarmStartHook`), or None when no
    `--warm_start_from` was given.

  Raises:
    flags.UnparsedFlagAccessError: the flags are not parsed yet.
    KeyError: `define_flags` was not called on `flag_values`.
    SettingsError: the flags are inconsistent (normally caught when parsed).
  """
  missing = [name for name in FLAG_NAMES if name not in flag_values]
  if missing:
    raise KeyError('Flag(s) %s are not defined: call '
                   'warmstart.flags.define_flags(flag_values) first.' %
                   ', '.join('--' + n for n in missing))
  # Attribute access raises UnparsedFlagAccessError before parsing.
  values = {name: getattr(flag_values, name) for name in FLAG_NAMES}
  if not values[FROM]:
    return None
  return settings_from_strings(
      values[FROM], values[MAP] or (), values[VARS], values[EXCLUDE] or (),
      **{field: values[name] for name, field in POLICIES.items()})
