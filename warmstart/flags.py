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
  --warm_start_<option>      One flag per option of `warmstart.Options`,
                             with its default and help (`OPTION_FLAGS`; the
                             README's option table lists them), for every
                             source.

A source with `--warm_start_map` entries restores what its map selects (as
`init_from_checkpoint` does), narrowed by `--warm_start_vars` and
`--warm_start_exclude`; a source without restores the trainable variables
`--warm_start_vars` selects, minus `--warm_start_exclude`, from the same
names. The exclusion is built into the regex of `vars_to_warm_start` as a
negative lookahead: `(?!(?:EXCLUDE_1)|(?:EXCLUDE_2))(?:VARS)`.
"""

from __future__ import annotations

from typing import Optional

from absl import flags

from warmstart import _map_syntax
from warmstart._map_syntax import DEFAULT_VARS
from warmstart._map_syntax import EXCLUDE
from warmstart._map_syntax import FROM
from warmstart._map_syntax import MAP
from warmstart._map_syntax import MAP_FILE
from warmstart._map_syntax import MAP_SYNTAX
from warmstart._map_syntax import MapEntry
from warmstart._map_syntax import maps_by_source
from warmstart._map_syntax import parse_map_entry
from warmstart._map_syntax import settings_from_strings
from warmstart._map_syntax import VARS
from warmstart._map_syntax import vars_regex
from warmstart import _options
from warmstart import _settings

__all__ = [
    'DEFAULT_VARS',
    'EXCLUDE',
    'FLAG_NAMES',
    'FROM',
    'MAP',
    'MAP_FILE',
    'MAP_SYNTAX',
    'MapEntry',
    'OPTION_FLAGS',
    'POLICIES',
    'VARS',
    'define_flags',
    'maps_by_source',
    'parse_map_entry',
    'settings_from_flags',
    'settings_from_strings',
    'vars_regex',
]

#: Flag -> `warmstart.Options` field, for every option.
OPTION_FLAGS = {d.flag: d.name for d in _options.DECLARATIONS}

#: The boolean option flags (flag -> option).
POLICIES = {d.flag: d.name for d in _options.DECLARATIONS
            if d.kind == _options.BOOL}

#: Every flag `define_flags` defines.
FLAG_NAMES = (FROM, VARS, EXCLUDE, MAP, MAP_FILE) + tuple(OPTION_FLAGS)

_DEFAULTS = {d.flag: d.default for d in _options.DECLARATIONS}


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
      'needed when there are several sources. Per-tensor transforms: %s. '
      'Repeatable.' % (MAP_SYNTAX, FROM, _map_syntax.TRANSFORM_SYNTAX),
      flag_values=flag_values)
  flags.DEFINE_string(
      MAP_FILE, None,
      'A JSON list of map entries (strings as --%s takes, or {"key", '
      '"value", "source", "ops"} objects), for maps too long for a command '
      'line; added to the --%s entries.' % (MAP, MAP), flag_values=flag_values)
  for declaration in _options.DECLARATIONS:
    if declaration.kind == _options.BOOL:
      flags.DEFINE_bool(declaration.flag, declaration.default,
                        declaration.help, flag_values=flag_values)
    elif declaration.kind == _options.CHOICE:
      flags.DEFINE_enum(declaration.flag, declaration.default,
                        declaration.choices, declaration.help,
                        flag_values=flag_values)
    elif declaration.kind == _options.PATH:
      flags.DEFINE_string(declaration.flag, declaration.default,
                          declaration.help, flag_values=flag_values)
    elif declaration.kind == _options.STEP:
      flags.DEFINE_string(declaration.flag, declaration.default,
                          declaration.help, flag_values=flag_values)
      flags.register_validator(
          declaration.flag,
          _validation(lambda v, n=declaration.name: _options.check(n, v)),
          flag_values=flag_values)
    else:
      flags.DEFINE_integer(declaration.flag, declaration.default,
                           declaration.help, lower_bound=1,
                           flag_values=flag_values)

  flags.register_validator(
      FROM, _validation(lambda v: _map_syntax.checked_sources(v or ())),
      flag_values=flag_values)
  flags.register_validator(
      VARS, _validation(lambda v: _map_syntax.check_regex(
          v, 'the variables to warm-start')), flag_values=flag_values)
  flags.register_validator(
      EXCLUDE, _validation(lambda v: [
          _map_syntax.check_regex(r, 'the variables not to warm-start')
          for r in v or ()
      ]), flag_values=flag_values)
  flags.register_validator(
      MAP, _validation(lambda v: [parse_map_entry(e) for e in v or ()]),
      flag_values=flag_values)
  flags.register_multi_flags_validator(
      [FROM, MAP, MAP_FILE],
      _validation(lambda v: _check_maps(v[FROM], _entries(v))),
      flag_values=flag_values)
  flags.register_multi_flags_validator(
      [FROM, MAP, VARS, EXCLUDE], _validation(_check_selection_flags),
      flag_values=flag_values)
  flags.register_multi_flags_validator(
      [FROM] + list(OPTION_FLAGS), _validation(_check_options),
      flag_values=flag_values)


def _entries(values: dict) -> list[str]:
  """The --warm_start_map entries, then those of --warm_start_map_file."""
  entries = list(values[MAP] or ())
  if values[MAP_FILE]:
    entries += _map_syntax.read_map_file(values[MAP_FILE])
  return entries


def _check_maps(sources: Optional[list[str]],
                maps: Optional[list[str]]) -> None:
  if maps and not sources:
    raise ValueError('--%s=%s needs --%s: give the checkpoint(s) the map '
                     'reads.' % (MAP, maps[0], FROM))
  maps_by_source(maps or (), len(sources or ()))


def _check_selection_flags(values: dict) -> None:
  sources, exclude = values[FROM] or [], values[EXCLUDE] or []
  if sources:
    return
  given = (['--%s=%s' % (VARS, values[VARS])]
           if values[VARS] != DEFAULT_VARS else [])
  given.extend('--%s=%s' % (EXCLUDE, r) for r in exclude)
  if given:
    raise ValueError('%s %s no effect without --%s: give the checkpoint(s) '
                     'to warm-start from.' %
                     (', '.join(given), 'has' if len(given) == 1 else 'have',
                      FROM))


def _check_options(values: dict) -> None:
  given = ['--' + name for name in OPTION_FLAGS
           if values[name] != _DEFAULTS[name]]
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
      values[FROM], _entries(values), values[VARS], values[EXCLUDE] or (),
      **{option: values[flag] for flag, option in OPTION_FLAGS.items()})
