"""Options shared by every warm-start entry point. Strict by default."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

from warmstart import _errors

#: Default bound on the bytes one batched RestoreV2 reads.
DEFAULT_CHUNK_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class Options:
  """How strict a warm start is, and how it reads.

  Attributes:
    skip_missing: Skip (with a warning) variables whose tensor is missing
      from the checkpoint, instead of raising `TensorNotFoundError`.
    skip_mismatched: Skip (with a warning) variables whose checkpoint tensor
      has another shape or dtype, instead of raising `MismatchError`.
    allow_unmatched: Allow a scope map, regex or rename that selects no
      variable, instead of raising `UnmatchedRuleError`.
    max_chunk_bytes: Upper bound on the bytes one batched RestoreV2 reads (a
      larger single tensor gets a read of its own). Bounds peak memory.
  """

  skip_missing: bool = False
  skip_mismatched: bool = False
  allow_unmatched: bool = False
  max_chunk_bytes: int = DEFAULT_CHUNK_BYTES

  def __post_init__(self):
    for field in ('skip_missing', 'skip_mismatched', 'allow_unmatched'):
      value = getattr(self, field)
      if not isinstance(value, bool):
        raise _errors.SettingsError(
            'Option %s must be True or False, got %r.' % (field, value))
    # Any integer type (numpy's too, e.g. from a config), stored as an int.
    if (not isinstance(self.max_chunk_bytes, numbers.Integral) or
        isinstance(self.max_chunk_bytes, bool) or self.max_chunk_bytes <= 0):
      raise _errors.SettingsError(
          'Option max_chunk_bytes must be a positive int (bytes), got %r.' %
          (self.max_chunk_bytes,))
    object.__setattr__(self, 'max_chunk_bytes', int(self.max_chunk_bytes))


def make(options: Any = None, **kwargs: Any) -> Options:
  """Returns `Options` from an `Options`, keyword overrides, or both.

  Raises:
    SettingsError: an unknown option name, or a bad value.
  """
  if options is not None and not isinstance(options, Options):
    raise _errors.SettingsError(
        'options must be a warmstart.Options, got %r.' % (options,))
  fields = {f.name for f in dataclasses.fields(Options)}
  unknown = sorted(set(kwargs) - fields)
  if unknown:
    raise _errors.SettingsError(
        'Unknown option(s) %s.%s Valid options: %s.' %
        (', '.join(unknown), _errors.did_you_mean(unknown[0], fields),
         ', '.join(sorted(fields))))
  return dataclasses.replace(options or Options(), **kwargs)
