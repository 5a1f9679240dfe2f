"""The string forms of warm-start settings, shared by the flags and the CLI.

* Map entries `[SOURCE_INDEX:]CKPT_NAME_OR_SCOPE=VAR_NAME_OR_SCOPE`, with
  per-tensor transforms `|op(...)` after them (`parse_map_entry`,
  `maps_by_source`).
* A selecting regex with exclusions built in (`vars_regex`).
* `settings_from_strings`: sources, map entries, regexes and options to one
  `WarmStartSettings` per source.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, Optional

from warmstart import _errors
from warmstart import _names
from warmstart import _options
from warmstart import _settings
from warmstart import _transform

#: The flags (and CLI long options) of the settings fields that are no
#: option: the sources, the selecting regex, exclusions and map entries.
FROM = 'warm_start_from'
VARS = 'warm_start_vars'
EXCLUDE = 'warm_start_exclude'
MAP = 'warm_start_map'
MAP_FILE = 'warm_start_map_file'

#: A map file larger than this is refused (it is read whole).
MAX_MAP_FILE_BYTES = 64 << 20

#: The default of the selecting regex: TF's, every trainable variable.
DEFAULT_VARS = '.*'

#: The syntax of a map entry, for messages and help texts.
MAP_SYNTAX = '[SOURCE_INDEX:]CKPT_NAME_OR_SCOPE=VAR_NAME_OR_SCOPE'

#: How transforms are spelled after an entry, for messages and help texts.
TRANSFORM_SYNTAX = (
    'NAME=TARGET|op(...)|...: op is transpose([1, 0]), reshape([12, 64, '
    '768]), take(0, 512) (or take(4, None, axis=1)), split(axis=1) (last; '
    'TARGET is "a,b,c", one per part; or split(1, sizes=[2, 10])), '
    'concat(axis=1) (first; NAME is "a+b+c")')

_OPS = {
    'transpose': _transform.transpose,
    'reshape': _transform.reshape,
    'take': _transform.take,
    'split': _transform.split,
    'concat': _transform.concat,
}

_INDEX_RE = re.compile(r'\s*(\d+)\s*:(.*)', re.DOTALL)


@dataclasses.dataclass(frozen=True)
class MapEntry:
  """One parsed map entry.

  Attributes:
    source: The 0-based index of the source it reads; None when omitted.
    key: The checkpoint name or scope (left of '='); with a concat, the
      tuple of names (`a+b+c`).
    value: The variable name or scope (right of '='), or with transforms a
      `warmstart.Transform` (a split's targets: `a,b,c`).
    text: The entry as written.
  """

  source: Optional[int]
  key: Any
  value: Any
  text: str


def _literal(node: ast.AST, text: str) -> Any:
  """A literal argument (ints, None, lists of ints), never code."""
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise ValueError('Map entry %r: op arguments are numbers, None or lists '
                     'of numbers, got %r.' % (text, ast.unparse(node))
                    ) from None


def _op(spelled: str, text: str) -> _transform.Op:
  """One `name(args)` of an entry's transforms."""
  try:
    call = ast.parse(spelled.strip(), mode='eval').body
  except SyntaxError:
    call = None
  if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
    raise ValueError('Map entry %r: %r is no op: write %s.' %
                     (text, spelled.strip(), TRANSFORM_SYNTAX))
  make = _OPS.get(call.func.id)
  if make is None:
    raise ValueError('Map entry %r: unknown op %r.%s Ops: %s.' %
                     (text, call.func.id,
                      _errors.did_you_mean(call.func.id, _OPS),
                      ', '.join(_OPS)))
  args = [_literal(a, text) for a in call.args]
  kwargs = {k.arg: _literal(k.value, text) for k in call.keywords}
  try:
    return make(*args, **kwargs)
  except (TypeError, _errors.SettingsError) as e:
    raise ValueError('Map entry %r: %s(...): %s' % (text, call.func.id, e)
                    ) from None


def _transformed(key: str, value: str, ops: list[str],
                 text: str) -> tuple[Any, Any]:
  """The (key, Transform) of an entry with ops."""
  parsed = [_op(o, text) for o in ops]
  keys = [k.strip() for k in key.split('+')]
  targets = [v.strip() for v in value.split(',')]
  if not all(keys) or not all(targets):
    raise ValueError('Map entry %r: an empty name in %r or %r.' %
                     (text, key, value))
  if len(keys) > 1 and parsed[0].kind != _transform.CONCAT:
    raise ValueError('Map entry %r joins %d tensors with "+": its first op '
                     'must be concat(axis=...).' % (text, len(keys)))
  try:
    transform = _transform.Transform(
        targets if parsed[-1].kind == _transform.SPLIT else targets[0],
        *parsed)
  except _errors.SettingsError as e:
    raise ValueError('Map entry %r: %s' % (text, e)) from None
  if len(targets) > 1 and not transform.splits:
    raise ValueError('Map entry %r names %d targets with ",": only a last '
                     'split(...) fills several.' % (text, len(targets)))
  return (tuple(keys) if len(keys) > 1 else keys[0]), transform


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
  body, *ops = text.split('|')
  match = _INDEX_RE.fullmatch(body)
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
  if ops:
    key, value = _transformed(key, value, ops, text)
  return MapEntry(source=source, key=key, value=value, text=text)


def _entry_text(path: str, index: int, item: Any) -> str:
  """One entry of a map file, in MAP_SYNTAX (with its transforms)."""
  where = 'Map file %s, entry %d' % (path, index)
  if isinstance(item, str):
    return item
  if not isinstance(item, dict):
    raise ValueError('%s: an entry is a string %s or an object {"key", '
                     '"value", "source", "ops"}, got %r.' %
                     (where, MAP_SYNTAX, item))
  unknown = sorted(set(item) - {'key', 'value', 'source', 'ops'})
  if unknown or 'key' not in item or 'value' not in item:
    raise ValueError('%s: an object entry has "key" and "value" (and may '
                     'have "source" and "ops"), got %s.' %
                     (where, ', '.join(sorted(item))))

  def names(field: str, join: str) -> str:
    value = item[field]
    if isinstance(value, list) and value and all(
        isinstance(v, str) for v in value):
      return join.join(value)
    if isinstance(value, str):
      return value
    raise ValueError('%s: "%s" is a name or a list of names, got %r.' %
                     (where, field, value))

  text = '%s=%s' % (names('key', '+'), names('value', ','))
  ops = item.get('ops', [])
  if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
    raise ValueError('%s: "ops" is a list of op strings such as '
                     '"transpose([1, 0])", got %r.' % (where, ops))
  text = '|'.join([text] + ops)
  source = item.get('source')
  if source is not None:
    if not isinstance(source, int) or isinstance(source, bool) or source < 0:
      raise ValueError('%s: "source" is a source index 0, 1, ..., got %r.' %
                       (where, source))
    text = '%d:%s' % (source, text)
  return text


def read_map_file(path: str) -> list[str]:
  """The map entries of a JSON file, for maps too long for a command line.

  The file holds a JSON list; each entry is a string in `MAP_SYNTAX` (with
  `|op(...)` transforms) or an object `{"key": NAME or [NAMES],
  "value": NAME or [NAMES], "source": INDEX, "ops": ["split(axis=1)"]}`.
  It is data: read as JSON, never run.

  Raises:
    ValueError: the file is missing, too large, not JSON, or an entry is
      malformed; the message names the file and the entry.
  """
  try:
    size = os.path.getsize(path)
  except OSError as e:
    raise ValueError('Map file %s cannot be read: %s.' % (path, e.strerror or
                                                          e)) from None
  if size > MAX_MAP_FILE_BYTES:
    raise ValueError('Map file %s has %d bytes, more than the %d a map file '
                     'may have.' % (path, size, MAX_MAP_FILE_BYTES))
  try:
    with open(path, 'rb') as f:
      data = json.loads(f.read().decode('utf-8'))
  except (OSError, UnicodeDecodeError, ValueError) as e:
    raise ValueError('Map file %s is not a JSON list of map entries: %s.' %
                     (path, e)) from None
  if not isinstance(data, list):
    raise ValueError('Map file %s must hold a JSON list of map entries, got '
                     'a %s.' % (path, type(data).__name__))
  entries = [_entry_text(path, i, item) for i, item in enumerate(data)]
  for i, text in enumerate(entries):
    try:
      parse_map_entry(text)
    except ValueError as e:
      raise ValueError('Map file %s, entry %d: %s' % (path, i, e)) from None
  return entries


def maps_by_source(entries: Iterable[str], num_sources: int,
                   sources_flag: str = '--' + FROM) -> list[dict[Any, Any]]:
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
  maps: list[dict[Any, Any]] = [{} for _ in range(num_sources)]
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


def check_regex(regex: str, what: str) -> None:
  """Raises ValueError for an empty or invalid regex, saying how to write it.

  Args:
    regex: The regex as given.
    what: What it selects, for the message ('the variables to warm-start').
  """
  if not regex:
    raise ValueError(
        'An empty regex for %s matches every name: write ".*" for every '
        'name, or leave the option out.' % what)
  _names.compile_regex(
      regex, '%%(pattern)r is not a valid regex for %s: %%(reason)s (a Python '
      '`re` pattern, e.g. "dense/.*" or "logits/bias$").' % what, ValueError)


def vars_regex(vars_to_warm_start: str = DEFAULT_VARS,
               exclude: Sequence[str] = ()) -> str:
  """Returns the `vars_to_warm_start` regex with the exclusions built in.

  Both are matched at the start of the name (`re.match`), so the result
  selects a name when `vars_to_warm_start` matches it and no exclusion does.
  Names are matched with ':0', as TF matches them; an exclusion's end anchor
  (`dense/bias$`) also matches before the ':0'.

  Args:
    vars_to_warm_start: The selecting regex.
    exclude: Regexes of names not to select.

  Returns:
    `(?!(?:EXCLUDE_1)|...)(?:VARS)`, or `vars_to_warm_start` when nothing is
    excluded.

  Raises:
    ValueError: a regex is invalid.
  """
  check_regex(vars_to_warm_start, 'the variables to warm-start')
  for regex in exclude:
    check_regex(regex, 'the variables not to warm-start')
  if not exclude:
    return vars_to_warm_start
  return '(?!%s)(?:%s)' % ('|'.join('(?:%s)' % _end_of_name(r)
                                    for r in exclude), vars_to_warm_start)


def _end_of_name(regex: str) -> str:
  """`regex` with each end anchor (`$`, `\\Z`) also matching before `:0`.

  Names are matched as TF matches them, with ':0' ('dense/bias:0'); an
  exclusion is ours, and `--exclude=dense/bias$` means the name ends there.
  """
  out = []
  i = 0
  class_start = None  # Inside [...]: where its first member is.
  while i < len(regex):
    char = regex[i]
    if char == '\\' and i + 1 < len(regex):
      pair = regex[i:i + 2]
      out.append('(?=(?::0)?\\Z)' if pair == '\\Z' and class_start is None
                 else pair)
      i += 2
      continue
    if class_start is not None:
      if char == ']' and i > class_start:  # A first ']' is a member.
        class_start = None
    elif char == '[':
      class_start = i + 1 + (regex[i + 1:i + 2] == '^')
    elif char == '$':
      char = '(?=(?::0)?$)'
    out.append(char)
    i += 1
  return ''.join(out)


def checked_sources(sources: Sequence[str]) -> list[str]:
  for source in sources:
    if not isinstance(source, str) or not source.strip():
      raise ValueError(
          'A warm-start source must be a non-empty path (a checkpoint prefix, '
          'a checkpoint directory or a SavedModel directory), got %r.' %
          (source,))
  return list(sources)


def settings_from_strings(
    sources: Sequence[str],
    maps: Sequence[str] = (),
    vars_to_warm_start: str = DEFAULT_VARS,
    exclude: Sequence[str] = (),
    **options: Any,
) -> tuple[_settings.WarmStartSettings, ...]:
  """Builds the settings from the string forms the flags and the CLI share.

  Args:
    sources: Checkpoint paths (source 0, 1, ...).
    maps: Map entries in `MAP_SYNTAX`.
    vars_to_warm_start: Regex of the variables to warm-start: of a source
      without map entries, the trainable variables it matches; of a source
      with map entries, it narrows what the map selects.
    exclude: Regexes of variables not to warm-start (of every source).
    **options: Options of `warmstart.Options`, for every source.

  Returns:
    One `WarmStartSettings` per source, in order.

  Raises:
    SettingsError: malformed values; the message says how to write them.
  """
  try:
    sources = checked_sources(sources)
    if not sources:
      raise ValueError('No warm-start source: give at least one checkpoint.')
    by_source = maps_by_source(maps, len(sources))
    exclude = list(exclude)
    regex = vars_regex(vars_to_warm_start, exclude)
  except ValueError as e:
    raise _errors.SettingsError(str(e)) from None
  _options.check_names(options)
  result = []
  for source, assignment_map in zip(sources, by_source):
    if assignment_map:
      # The regex narrows what the map selects.
      result.append(_settings.WarmStartSettings(
          source, regex, assignment_map=assignment_map, **options))
    else:
      result.append(_settings.WarmStartSettings(source, regex, **options))
  return tuple(result)
