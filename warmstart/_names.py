"""Names and patterns as users write them: one rule each, shared by all.

* `strip_output`: a variable or tensor name without the `:0` output suffix
  (TF's `v.name` has it, checkpoint names never do).
* `compile_regex`: a user's regex, compiled, or an error naming it.
* `checkpoint_path`: a path as users give it (str, bytes, os.PathLike), as
  the str TF's file functions can take, or an error saying why not.
"""

from __future__ import annotations

import os
import re
from typing import Any

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


def checkpoint_path(path: Any,
                    error: type[Exception] = _errors.CheckpointNotFoundError
                   ) -> str:
  """Returns a checkpoint path given as str, bytes or os.PathLike, as a str.

  Bytes are decoded as `os.fsdecode` does (TF's `load_checkpoint` and
  `init_from_checkpoint` take bytes too). TF's file functions take UTF-8
  and end a path at its first NUL character, so a path that is not valid
  UTF-8 (TF raises `UnicodeDecodeError` or `UnicodeEncodeError`) or holds a
  NUL (TF would read the path cut there) is refused here, naming where.

  Args:
    path: What the user passed.
    error: The class to raise for a path TF cannot take.

  Raises:
    TypeError: `path` is not a str, bytes or os.PathLike (naming its type).
    error: the path holds a NUL character or is not valid UTF-8.
  """
  given = path
  if isinstance(path, os.PathLike):
    path = os.fspath(path)
  if isinstance(path, bytes):
    path = os.fsdecode(path)
  elif not isinstance(path, str):
    raise TypeError('A checkpoint path must be a str, bytes or os.PathLike, '
                    'got %r of type %s.' % (given, type(given).__name__))
  if '\0' in path:
    raise error(
        'Checkpoint path %r holds a NUL character (at position %d): '
        "TensorFlow's file functions would read the path cut there, %r. Pass "
        'the path without it.' % (given, path.index('\0'),
                                  path[:path.index('\0')]))
  try:
    path.encode('utf-8')
  except UnicodeEncodeError as e:
    raise error(
        'Checkpoint path %r is not valid UTF-8 (byte %d): '
        "TensorFlow's file functions take UTF-8 paths only (its "
        '`load_checkpoint` raises UnicodeDecodeError for it). Rename the '
        'directory or files, or make a link to them under a UTF-8 name.' %
        (given, len(os.fsencode(path[:e.start])))) from None
  return path
