"""`WarmStartSettings`: TF's warm-start settings, validated when built.

The four fields of `tf.estimator.WarmStartSettings` keep TF's meaning
(`ckpt_to_initialize_from`, `vars_to_warm_start`, `var_name_to_vocab_info`,
`var_name_to_prev_var_name`); keyword-only fields add what TF leaves implicit
(strictness, optimizer slots, the global step) or an `init_from_checkpoint`
assignment map instead of the selection fields. `normalize` turns every form
a caller may hand over (ours, TF's namedtuple, a path, a list of these) into
a tuple of `WarmStartSettings`, one per source checkpoint.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Mapping
from typing import Any, Optional, Union

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _names
from warmstart import _options
from warmstart import _tf_compat
from warmstart import _transform
from warmstart import _variables
from warmstart import _vocab_info

#: The default of `vars_to_warm_start`: every trainable variable (TF's).
DEFAULT_VARS = '.*'

#: The fields of `tf.estimator.WarmStartSettings` (a namedtuple), in order.
TF_FIELDS = ('ckpt_to_initialize_from', 'vars_to_warm_start',
             'var_name_to_vocab_info', 'var_name_to_prev_var_name')

_ALLOWED_VARS = ('a regex string (selects trainable variables), a list of '
                 'regex strings (global variables matching any), a list of '
                 'variables, or None (only the variables of '
                 'var_name_to_vocab_info)')


def _error(field: str, message: str, *args: Any) -> _errors.SettingsError:
  return _errors.SettingsError('WarmStartSettings.%s %s' %
                               (field, message % args))


def _is_variable_like(value: Any) -> bool:
  return (_variables.is_variable(value) or
          _tf_compat.is_partitioned_variable(value) or
          isinstance(value, _variables.CustomVariable))


def _check_regex(field: str, pattern: str) -> None:
  if not pattern:
    raise _error(field, 'holds an empty regex, which would select every '
                 "variable by accident; write '.*' for every variable.")
  _names.compile_regex(
      pattern, 'WarmStartSettings.%s holds the invalid regex %%(pattern)r: '
      '%%(reason)s.' % field)


def _names_map(field: str, value: Any, check_value) -> dict[str, Any]:
  """Validates a {variable name: value} mapping; returns a copy."""
  if value is None:
    return {}
  if not isinstance(value, Mapping):
    raise _error(field, 'must be a dict from variable names (str), got %r of '
                 'type %s.', value, type(value).__name__)
  result = {}
  for key, item in value.items():
    if not isinstance(key, str) or not key:
      raise _error(field, 'keys must be non-empty variable names (str), got '
                   '%r.', key)
    result[_names.strip_output(key)] = check_value('%s[%r]' % (field, key),
                                                    item)
  return result


def _check_rename(where: str, value: Any) -> str:
  if not isinstance(value, str) or not value:
    raise _errors.SettingsError(
        'WarmStartSettings.%s must be a checkpoint tensor name (non-empty '
        'str), got %r.' % (where, value))
  return _names.strip_output(value)


def _check_vocab(where: str, value: Any) -> _vocab_info.VocabInfo:
  return _vocab_info.as_vocab_info(value, 'WarmStartSettings.' + where)


def _with_option_fields(cls: type) -> type:
  """Adds one field per option of `warmstart.Options`, with its default."""
  for declaration in _options.DECLARATIONS:
    cls.__annotations__[declaration.name] = {
        _options.BYTES: 'int', _options.CHOICE: 'str',
        _options.STEP: 'Union[str, int]',
        _options.PATH: 'Optional[str]'}.get(declaration.kind, 'bool')
    setattr(cls, declaration.name, declaration.default)
  return cls


@dataclasses.dataclass(frozen=True, init=False)
@_with_option_fields
class WarmStartSettings:
  """What to warm-start from one checkpoint, and how strictly.

  The first four fields are those of `tf.estimator.WarmStartSettings` (and of
  `tf.compat.v1.train.warm_start`), with TF's meaning:

  * `vars_to_warm_start='.*'` (a regex string) selects the TRAINABLE
    variables whose name matches (`re.match`, so a prefix); a list of regex
    strings selects GLOBAL variables matching any; a list of variables is
    taken as is; None selects only the keys of `var_name_to_vocab_info`.
  * `var_name_to_prev_var_name` maps a current variable name to its tensor
    name in the checkpoint.
  * `var_name_to_vocab_info` remaps the named variables by vocabulary.

  Regexes match as TF's do: `re.match` against each variable's name with
  `:0` (`'v2[^/]'` selects `v2`, `'v2:0$'` only `v2`; a partitioned
  variable's parts: `'emb/part_0:0'`, and a part that matches selects the
  whole variable). Unlike TF, a regex, rename or vocabulary key that matches
  no variable is an error listing the viable names (unless
  `allow_unmatched`), and says so when the `:0` is why (`'v2$'` selects
  nothing, in TF silently); regexes never select the global step or
  optimizer slots (see below).

  Alternatively, `assignment_map` selects the variables as
  `init_from_checkpoint` does; `vars_to_warm_start` then narrows what the
  map selects (a regex, or a list of regexes: `re.match` on the names, so
  "everything from `old/` into `new/` except the head" is
  `assignment_map={'old/': 'new/'}, vars_to_warm_start='(?!new/head/)'`),
  `var_name_to_prev_var_name` must stay empty, and each key of
  `var_name_to_vocab_info` must name a variable the map selects (it is
  remapped from the map's tensor).

  Every option of `warmstart.Options` is also a keyword-only field, with the
  same name, default and meaning (`skip_missing`, `include_slots`,
  `max_chunk_bytes`, ...); `settings.options` gathers them.

  Example:

    ```python
    settings = warmstart.WarmStartSettings(
        '/models/base', vars_to_warm_start=['dnn/.*', 'emb'],
        var_name_to_vocab_info={'emb': warmstart.VocabInfo(
            'new_vocab.txt', 1000, 1, 'old_vocab.txt')},
        skip_mismatched=True)
    print(warmstart.make_settings_plan(settings))  # Dry run.
    ```

  Attributes:
    ckpt_to_initialize_from: Checkpoint prefix, checkpoint directory (latest
      checkpoint) or SavedModel directory.
    vars_to_warm_start: See above.
    var_name_to_vocab_info: {variable name: `VocabInfo`}; TF's
      `tf.estimator.VocabInfo` values are accepted and converted.
    var_name_to_prev_var_name: {variable name: checkpoint tensor name}.
    assignment_map: An `init_from_checkpoint` assignment map (dict or list of
      pairs), instead of the selection fields.
    (options): One field per option of `warmstart.Options`.
  """

  ckpt_to_initialize_from: Union[str, os.PathLike]
  vars_to_warm_start: Any = '.*'
  var_name_to_vocab_info: Optional[Mapping[str, Any]] = None
  var_name_to_prev_var_name: Optional[Mapping[str, str]] = None
  assignment_map: Optional[_assignment_map.AssignmentMap] = None

  def __init__(self,
               ckpt_to_initialize_from: Union[str, os.PathLike],
               vars_to_warm_start: Any = '.*',
               var_name_to_vocab_info: Optional[Mapping[str, Any]] = None,
               var_name_to_prev_var_name: Optional[Mapping[str, str]] = None,
               *,
               assignment_map: Optional[_assignment_map.AssignmentMap] = None,
               **options: Any) -> None:
    # TF's four fields keep their positions; the rest are keyword-only (on
    # Python 3.9 too), the options taken from their one declaration.
    _options.check_names(options, who='WarmStartSettings')
    for name, value in (
        ('ckpt_to_initialize_from', ckpt_to_initialize_from),
        ('vars_to_warm_start', vars_to_warm_start),
        ('var_name_to_vocab_info', var_name_to_vocab_info),
        ('var_name_to_prev_var_name', var_name_to_prev_var_name),
        ('assignment_map', assignment_map)):
      object.__setattr__(self, name, value)
    values = {
        name: _options.check(name, options.get(name, getattr(type(self), name)),
                             'WarmStartSettings.%s')
        for name in _options.NAMES}
    for name, value in _options.resolve(values,
                                        'WarmStartSettings.%s').items():
      object.__setattr__(self, name, value)
    self.__post_init__()

  def __post_init__(self):
    set_ = lambda name, value: object.__setattr__(self, name, value)
    ckpt = self.ckpt_to_initialize_from
    try:  # Bytes as os.fsdecode; a NUL or a path TF cannot encode: refused.
      path = _names.checkpoint_path(ckpt, error=_errors.SettingsError)
    except TypeError:
      path = ''
    if not path:
      raise _error(
          'ckpt_to_initialize_from', 'must be a non-empty checkpoint path (str, '
          'bytes or os.PathLike: a prefix, a checkpoint directory or a '
          'SavedModel directory), got %r.', ckpt)
    set_('ckpt_to_initialize_from', path)
    set_('vars_to_warm_start', self._checked_vars(self.vars_to_warm_start))
    set_('var_name_to_vocab_info',
         _names_map('var_name_to_vocab_info', self.var_name_to_vocab_info,
                    _check_vocab))
    set_('var_name_to_prev_var_name',
         _names_map('var_name_to_prev_var_name',
                    self.var_name_to_prev_var_name, _check_rename))
    if self.assignment_map is not None:
      set_('assignment_map', self._checked_map(self.assignment_map))
    elif self.vars_to_warm_start is None and not self.var_name_to_vocab_info:
      raise _error(
          'vars_to_warm_start', 'is None, which selects only the variables of '
          'var_name_to_vocab_info, but var_name_to_vocab_info is empty: '
          "nothing would be warm-started. Pass '.*' for every trainable "
          'variable.')

  @staticmethod
  def _checked_vars(value: Any) -> Any:
    field = 'vars_to_warm_start'
    if value is None:
      return None
    if isinstance(value, str):
      _check_regex(field, value)
      return value
    if isinstance(value, (list, tuple)):
      if not value:
        raise _error(field, 'is an empty list, which selects nothing; pass '
                     'None to warm-start only the variables of '
                     'var_name_to_vocab_info.')
      if all(isinstance(v, str) for v in value):
        for pattern in value:
          _check_regex(field, pattern)
        return tuple(value)
      if all(_is_variable_like(v) for v in value):
        return tuple(value)
      raise _error(field, 'must be all regex strings or all variables, got '
                   'elements of types %s.',
                   ', '.join(sorted({type(v).__name__ for v in value})))
    hint = (' (wrap a single variable in a list)'
            if _is_variable_like(value) else '')
    raise _error(field, 'must be %s; got %r of type %s%s.', _ALLOWED_VARS,
                 value, type(value).__name__, hint)

  def _checked_map(self, value: Any) -> Any:
    field = 'assignment_map'
    try:
      pairs = _assignment_map.items(value)
    except TypeError as e:
      raise _error(field, 'is malformed: %s', e) from None
    for key, item in pairs:
      if not (isinstance(item, (str, _transform.Transform)) or
              _is_variable_like(item) or
              (isinstance(item, (list, tuple)) and item and
               all(_variables.is_variable(v) for v in item))):
        raise _error(
            field, 'entry %r: values must be variable or scope names (str), '
            'variables, partitioned variables, lists of partitions or '
            'warmstart.Transform, got %r of type %s.', key, item,
            type(item).__name__)
    spec = self.vars_to_warm_start
    if spec is None or not (isinstance(spec, str) or
                            all(isinstance(p, str) for p in spec)):
      raise _error(
          field, 'selects the variables; vars_to_warm_start can only narrow '
          'them, with a regex or a list of regexes (re.match on the names), '
          "and defaults to '.*' (all); got vars_to_warm_start=%r.", spec)
    if self.var_name_to_prev_var_name:
      raise _error(
          field, 'names the checkpoint tensors, so var_name_to_prev_var_name '
          'must be empty; got %r.', self.var_name_to_prev_var_name)
    return dict(value) if isinstance(value, Mapping) else tuple(pairs)

  @property
  def options(self) -> _options.Options:
    """The `warmstart.Options` of this source."""
    return _options.Options(
        **{name: getattr(self, name) for name in _options.NAMES})


def _init_signature() -> inspect.Signature:
  """`__init__`'s signature with each option as a keyword-only parameter."""
  signature = inspect.signature(WarmStartSettings.__init__)
  parameters = [p for p in signature.parameters.values()
                if p.kind != p.VAR_KEYWORD]
  parameters.extend(
      inspect.Parameter(d.name, inspect.Parameter.KEYWORD_ONLY,
                        default=d.default)
      for d in _options.DECLARATIONS)
  return signature.replace(parameters=parameters)


WarmStartSettings.__init__.__signature__ = _init_signature()


def is_tf_settings(value: Any) -> bool:
  """True for a `tf.estimator.WarmStartSettings` (a namedtuple)."""
  return (isinstance(value, tuple) and
          getattr(type(value), '_fields', None) == TF_FIELDS)


SettingsLike = Any


def _one(value: Any, where: str) -> WarmStartSettings:
  if isinstance(value, WarmStartSettings):
    return value
  if is_tf_settings(value):
    return WarmStartSettings(*value)
  if isinstance(value, (str, bytes, os.PathLike)):
    return WarmStartSettings(value)
  raise _errors.SettingsError(
      '%s must be a warmstart.WarmStartSettings, a tf.estimator.'
      'WarmStartSettings, a checkpoint path (str or os.PathLike), or a list '
      'of these; got %r of type %s.' % (where, value, type(value).__name__))


def normalize(settings_like: SettingsLike,
              **options: Any) -> tuple[WarmStartSettings, ...]:
  """Returns the settings of every source, one `WarmStartSettings` each.

  Args:
    settings_like: A `WarmStartSettings`, a `tf.estimator.WarmStartSettings`,
      a checkpoint path (str or os.PathLike: warm-start every trainable
      variable from it), or a list or tuple of these (several sources).
    **options: Options of `warmstart.Options` that override those of every
      source.

  Returns:
    A non-empty tuple of `WarmStartSettings`.

  Raises:
    SettingsError: any other type, an empty list, or a bad option.
  """
  _options.check_names(options)
  if is_tf_settings(settings_like) or not isinstance(settings_like,
                                                     (list, tuple)):
    result = (_one(settings_like, 'Warm-start settings'),)
  elif not settings_like:
    raise _errors.SettingsError(
        'The list of warm-start settings is empty: give at least one '
        'checkpoint path or WarmStartSettings.')
  else:
    result = tuple(
        _one(s, 'Warm-start settings [%d]' % i)
        for i, s in enumerate(settings_like))
  if options:
    result = tuple(dataclasses.replace(s, **options) for s in result)
  return result
