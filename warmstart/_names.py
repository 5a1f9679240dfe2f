"""Names and patterns as users write them: one rule each, shared by all.

* `strip_output`: a variable or tensor name without the `:0` output suffix
  (TF's `v.name` has it, checkpoint names never do).
* `compile_regex`: a user's regex, compiled, or an error naming it.
"""

from __future__ import annotations

import re

from warmstart import _errors


def strip_output(name: str) -> str:
  """Returns `name` without a trailing `:0`."""
  return name[:-2] if name.endswith(':0') else name


def compile_regex(pattern: str,
                  message: str,
                  error: type[Exception] = _errors.SettingsError
                 ) -> re.Pattern[str]:
  """Compiles a user's regex, or raises `error` saying which and why.

  Args:
    pattern: The regex (Python `re` syntax).
    message: The message, with `%(pattern)r` and `%(reason)s` in it.
    error: The exception class to raise.

  Returns:
    The compiled pattern.
  """
  try:
    return re.compile(pattern)
  except re.error as e:
    raise error(message % {'pattern': pattern, 'reason': e}) from None
