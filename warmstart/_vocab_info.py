"""`VocabInfo`: TF's vocabulary settings of one variable, validated when built.

A leaf of the settings types: it declares what to remap, and builds no op
(`_vocab_remap` plans and builds the remap).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import Any, Callable, Optional

import tensorflow as tf

from warmstart import _errors

_TFVocabInfo = tf.compat.v1.train.VocabInfo


def _path(value: Any, field: str) -> str:
  if isinstance(value, bytes):
    value = value.decode('utf-8')
  if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
    raise _errors.SettingsError(
        'VocabInfo.%s must be a non-empty vocabulary file path (str or '
        'os.PathLike), got %r.' % (field, value))
  return os.fspath(value)


def _int(value: Any, field: str, minimum: int, allowed: str) -> int:
  if (not isinstance(value, numbers.Integral) or isinstance(value, bool) or
      value < minimum):
    raise _errors.SettingsError('VocabInfo.%s must be %s, got %r.' %
                                (field, allowed, value))
  return int(value)


class VocabInfo(_TFVocabInfo):
  """TF's `tf.estimator.VocabInfo`, validated when it is built.

  Same fields, defaults and meaning as `tf.compat.v1.train.VocabInfo` (it is a
  subclass, so TF's `warm_start` accepts it too), but a bad value raises
  `warmstart.SettingsError` naming the field at once.

  Attributes:
    new_vocab: Path of the current vocabulary file.
    new_vocab_size: How many entries of `new_vocab` the variable uses.
    num_oov_buckets: OOV buckets after the vocabulary (backup-initialized).
    old_vocab: Path of the vocabulary file of the checkpoint.
    old_vocab_size: How many entries of `old_vocab` the checkpoint used; -1
      for the whole file.
    backup_initializer: Initializer of new tokens and OOV buckets; None for
      zeros. Any initializer works (see the module docstring).
    axis: 0 when the vocabulary indexes rows (embeddings, input weights), 1
      when it indexes columns (an output layer's kernel over classes).
  """

  __slots__ = ()

  def __new__(cls,
              new_vocab: Any,
              new_vocab_size: int,
              num_oov_buckets: int,
              old_vocab: Any,
              old_vocab_size: int = -1,
              backup_initializer: Optional[Callable[..., Any]] = None,
              axis: int = 0) -> VocabInfo:
    new_vocab = _path(new_vocab, 'new_vocab')
    old_vocab = _path(old_vocab, 'old_vocab')
    new_vocab_size = _int(new_vocab_size, 'new_vocab_size', 1,
                          'a positive int')
    num_oov_buckets = _int(num_oov_buckets, 'num_oov_buckets', 0,
                           'an int >= 0')
    old_vocab_size = _int(old_vocab_size, 'old_vocab_size', -1,
                          '-1 (the whole old vocabulary) or a positive int')
    if old_vocab_size == 0:
      raise _errors.SettingsError(
          'VocabInfo.old_vocab_size must be -1 (the whole old vocabulary) or '
          'a positive int, got 0.')
    if backup_initializer is not None and not callable(backup_initializer):
      raise _errors.SettingsError(
          'VocabInfo.backup_initializer must be None (zeros) or an initializer '
          '(a callable taking a shape), got %r.' % (backup_initializer,))
    if isinstance(axis, bool) or axis not in (0, 1):
      raise _errors.SettingsError(
          'VocabInfo.axis must be 0 (vocabulary along rows) or 1 (along '
          'columns), got %r.' % (axis,))
    return super().__new__(cls, new_vocab, new_vocab_size, num_oov_buckets,
                           old_vocab, old_vocab_size, backup_initializer,
                           int(axis))


def as_vocab_info(value: Any, where: str) -> VocabInfo:
  """Returns `value` (TF's or our `VocabInfo`) as a validated `VocabInfo`.

  Args:
    value: The value to check.
    where: Names the setting, for messages (e.g. "var_name_to_vocab_info['e']").

  Raises:
    SettingsError: `value` is no VocabInfo, or has a bad field.
  """
  if isinstance(value, VocabInfo):
    return value
  if not isinstance(value, _TFVocabInfo):
    raise _errors.SettingsError(
        '%s must be a VocabInfo (warmstart.VocabInfo or tf.estimator.VocabInfo)'
        ', got %r of type %s.' % (where, value, type(value).__name__))
  try:
    return VocabInfo(*value)
  except _errors.SettingsError as e:
    raise _errors.SettingsError('%s: %s' % (where, e)) from None


def describe_initializer(initializer: Any) -> Optional[str]:
  """A JSON-compatible description of a backup initializer (None: zeros)."""
  if initializer is None:
    return None
  name = getattr(initializer, '__name__', None) or type(initializer).__name__
  get_config = getattr(initializer, 'get_config', None)
  if callable(get_config):
    try:
      config = get_config()
    except (TypeError, ValueError, NotImplementedError):
      config = None
    if isinstance(config, Mapping):
      return '%s(%s)' % (name, ', '.join(
          '%s=%r' % item for item in sorted(config.items())))
  return name


class OwnInitialValue:
  """Backup "initializer" of an optimizer slot remapped with its variable.

  The slot's new rows keep the slot's own initial value (zeros for Adam,
  `initial_accumulator_value` for Adagrad, ...), at each position.
  """

  __name__ = 'own_initial_value'

  def __call__(self, shape, dtype=None, partition_info=None):
    raise TypeError('OwnInitialValue is filled in by position only.')

  def __repr__(self) -> str:
    return 'OwnInitialValue()'


def for_slot(info: VocabInfo) -> VocabInfo:
  """The vocabulary information of a slot of a variable remapped by `info`."""
  return info._replace(backup_initializer=OwnInitialValue())
