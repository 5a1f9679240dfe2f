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
import os
import re
from collections.abc import Mapping
from typing import Any, Optional, Union

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _options
from warmstart import _tf_compat
from warmstart import _variables
from warmstart import _vocab

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


def _strip(name: str) -> str:
  return name[:-2] if name.endswith(':0') else name


def _check_regex(field: str, pattern: str) -> None:
  try:
    re.compile(pattern)
  except re.error as e:
    raise _error(field, 'holds the invalid regex %r: %s.', pattern,
                 e) from None


def _names(field: str, value: Any, check_value) -> dict[str, Any]:
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
    result[_strip(key)] = check_value('%s[%r]' % (field, key), item)
  return result


def _check_rename(where: str, value: Any) -> str:
  if not isinstance(value, str) or not value:
    raise _errors.SettingsError(
        'WarmStartSettings.%s must be a checkpoint tensor name (non-empty '
        'str), got %r.' % (where, value))
  return _strip(value)


def _check_vocab(where: str, value: Any) -> _vocab.VocabInfo:
  return _vocab.as_vocab_info(value, 'WarmStartSettings.' + where)


@dataclasses.dataclass(frozen=True, init=False)
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

  Unlike TF, names are matched without the `:0` suffix (`'x$'` selects `x`);
  a partitioned variable is selected whole when its full name or a part's
  name matches; a regex, rename or vocabulary key that matches no variable
  is an error listing the viable names (unless `allow_unmatched`); regexes
  never select the global step or optimizer slots (see below).

  Alternatively, `assignment_map` selects the variables as
  `init_from_checkpoint` does; `vars_to_warm_start` and
  `var_name_to_prev_var_name` must then keep their defaults, and each key of
  `var_name_to_vocab_info` must name a variable the map selects (it is
  remapped from the map's tensor).

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
    skip_missing: Skip, with a warning, variables whose tensor is missing.
    skip_mismatched: Skip, with a warning, variables whose tensor has another
      shape or dtype.
    allow_unmatched: Allow regexes, renames and vocabulary keys that match no
      variable (a warning each).
    include_slots: Also warm-start the optimizer slots (and other auxiliary
      variables named `<variable>/<suffix>`, such as moving averages) of the
      selected variables, and the optimizer's own variables such as Adam's
      `beta1_power`. Without it, regexes never select them. A slot of a
      variable remapped by vocabulary is remapped the same way, its new rows
      keeping the slot's own initial value.
    include_global_step: Also warm-start the global step. Without it, regexes
      and scope maps never select it (naming the variable object in a list of
      variables or an assignment map still does).
  """

  ckpt_to_initialize_from: Union[str, os.PathLike]
  vars_to_warm_start: Any = '.*'
  var_name_to_vocab_info: Optional[Mapping[str, Any]] = None
  var_name_to_prev_var_name: Optional[Mapping[str, str]] = None
  assignment_map: Optional[_assignment_map.AssignmentMap] = None
  skip_missing: bool = False
  skip_mismatched: bool = False
  allow_unmatched: bool = False
  include_slots: bool = False
  include_global_step: bool = False

  def __init__(self,
               ckpt_to_initialize_from: Union[str, os.PathLike],
               vars_to_warm_start: Any = '.*',
               var_name_to_vocab_info: Optional[Mapping[str, Any]] = None,
               var_name_to_prev_var_name: Optional[Mapping[str, str]] = None,
               *,
               assignment_map: Optional[_assignment_map.AssignmentMap] = None,
               skip_missing: bool = False,
               skip_mismatched: bool = False,
               allow_unmatched: bool = False,
               include_slots: bool = False,
               include_global_step: bool = False) -> None:
    # Written out (not generated) so that the added fields are keyword-only
    # on Python 3.9 too; TF's four fields keep their positions.
    for name, value in (
        ('ckpt_to_initialize_from', ckpt_to_initialize_from),
        ('vars_to_warm_start', vars_to_warm_start),
        ('var_name_to_vocab_info', var_name_to_vocab_info),
        ('var_name_to_prev_var_name', var_name_to_prev_var_name),
        ('assignment_map', assignment_map),
        ('skip_missing', skip_missing),
        ('skip_mismatched', skip_mismatched),
        ('allow_unmatched', allow_unmatched),
        ('include_slots', include_slots),
        ('include_global_step', include_global_step)):
      object.__setattr__(self, name, value)
    self.__post_init__()

  def __post_init__(self):
    set_ = lambda name, value: object.__setattr__(self, name, value)
    ckpt = self.ckpt_to_initialize_from
    if isinstance(ckpt, bytes):
      ckpt = ckpt.decode('utf-8')
    if not isinstance(ckpt, (str, os.PathLike)) or not os.fspath(ckpt):
      raise _error(
          'ckpt_to_initialize_from', 'must be a non-empty checkpoint path (str '
          'or os.PathLike: a prefix, a checkpoint directory or a SavedModel '
          'directory), got %r.', ckpt)
    set_('ckpt_to_initialize_from', os.fspath(ckpt))
    set_('vars_to_warm_start', self._checked_vars(self.vars_to_warm_start))
    set_('var_name_to_vocab_info',
         _names('var_name_to_vocab_info', self.var_name_to_vocab_info,
                _check_vocab))
    set_('var_name_to_prev_var_name',
         _names('var_name_to_prev_var_name', self.var_name_to_prev_var_name,
                _check_rename))
    for field in ('skip_missing', 'skip_mismatched', 'allow_unmatched',
                  'include_slots', 'include_global_step'):
      if not isinstance(getattr(self, field), bool):
        raise _error(field, 'must be True or False, got %r.',
                     getattr(self, field))
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
      if not (isinstance(item, str) or _is_variable_like(item) or
              (isinstance(item, (list, tuple)) and item and
               all(_variables.is_variable(v) for v in item))):
        raise _error(
            field, 'entry %r: values must be variable or scope names (str), '
            'variables, partitioned variables or lists of partitions, got %r '
            'of type %s.', key, item, type(item).__name__)
    if self.vars_to_warm_start != '.*':
      raise _error(
          field, 'selects the variables, so vars_to_warm_start must keep its '
          "default '.*'; got vars_to_warm_start=%r.", self.vars_to_warm_start)
    if self.var_name_to_prev_var_name:
      raise _error(
          field, 'names the checkpoint tensors, so var_name_to_prev_var_name '
          'must be empty; got %r.', self.var_name_to_prev_var_name)
    return dict(value) if isinstance(value, Mapping) else tuple(pairs)

  @property
  def options(self) -> _options.Options:
    """The `warmstart.Options` of this source (strictness)."""
    return _options.Options(
        skip_missing=self.skip_missing,
        skip_mismatched=self.skip_mismatched,
        allow_unmatched=self.allow_unmatched)


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


def normalize(settings_like: SettingsLike) -> tuple[WarmStartSettings, ...]:
  """Returns the settings of every source, one `WarmStartSettings` each.

  Args:
    settings_like: A `WarmStartSettings`, a `tf.estimator.WarmStartSettings`,
      a checkpoint path (str or os.PathLike: warm-start every trainable
      variable from it), or a list or tuple of these (several sources).

  Returns:
    A non-empty tuple of `WarmStartSettings`.

  Raises:
    SettingsError: any other type, or an empty list.
  """
  if is_tf_settings(settings_like) or not isinstance(settings_like,
                                                     (list, tuple)):
    return (_one(settings_like, 'Warm-start settings'),)
  if not settings_like:
    raise _errors.SettingsError(
        'The list of warm-start settings is empty: give at least one '
        'checkpoint path or WarmStartSettings.')
  return tuple(
      _one(s, 'Warm-start settings [%d]' % i)
      for i, s in enumerate(settings_like))
