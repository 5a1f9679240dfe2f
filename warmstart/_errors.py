"""The small exception family of warmstart, and the "did you mean" helper.

Every error is raised while the restore plan is built, before any session
exists, and names the offending name, path or value. Each class also derives
from `ValueError`, so code written against TF's `init_from_checkpoint` (which
raises `ValueError`) keeps working.

A source that cannot be read is a `CheckpointNotFoundError`, which is also a
`tf.errors.OpError`, raised as the subclass that is also the `tf.errors`
class TF raises in that situation (see `CheckpointNotFoundError`): code that
catches `tf.errors.NotFoundError` around TF's `init_from_checkpoint` catches
ours where TF's would, and not a damaged checkpoint TF would report otherwise.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import tensorflow as tf


class Error(Exception):
  """Base class of every error warmstart raises on purpose.

  Attributes:
    problems: When raised for several problems found together (see
      `Problems`), each problem's message; else empty.
  """

  problems: tuple[str, ...] = ()


class CheckpointNotFoundError(Error, ValueError, tf.errors.OpError):
  """A source path holds no readable checkpoint.

  Also a `tf.errors.OpError` (as TF's checkpoint readers raise) with no
  `op` or `node_def`: built from one message, its `str()` is the message.
  warmstart raises one of the subclasses below, each also the `tf.errors`
  class TF raises for the same fault (at the call, or at the restore where
  TF finds it only then):

  * `CheckpointMissingError` (`tf.errors.NotFoundError`): no checkpoint at
    the path, a directory without one (TF: a ValueError, which this is
    too), a missing data file, a path whose glob characters make TF's
    readers find no file.
  * `CheckpointCorruptError` (`tf.errors.DataLossError`): a file that is not
    a checkpoint table (a corrupt, truncated or empty index; another file
    passed as the prefix) or a damaged object graph. TF's reader reports a
    corrupt index as a plain `OpError` (its Python wrapper drops the code of
    the C++ status, DATA_LOSS): a DataLossError is one.
    Its subclass `SourceFormatError`: a foreign weights file (safetensors,
    npz, Keras HDF5) that is malformed, a PyTorch pickle, or holds a dtype
    TF has not.
  * `CheckpointTruncatedError` (`tf.errors.OutOfRangeError`): a data file
    shorter than its index says (TF's restore: "Read less bytes than
    requested").
  * `CheckpointAccessError` (`tf.errors.PermissionDeniedError`): a file the
    process may not read.

  The class itself (error code UNKNOWN) is for a path TF cannot take (a NUL
  character, not UTF-8: TF raises a ValueError) and for faults TF reports
  as a plain `OpError` (a V1 pattern that matches other files too).
  """

  _ERROR_CODE = tf.errors.UNKNOWN

  def __init__(self, message: str, *args: Any) -> None:
    tf.errors.OpError.__init__(self, None, None, message, self._ERROR_CODE,
                               *args)
    self.args = (message,)

  def __reduce__(self):
    # OpError's __reduce__ would pass (node_def, op, message, ...) to our
    # one-message constructor; the rest (`problems`) is the state.
    return type(self), (self.message,), self.__dict__

  def __str__(self) -> str:
    return self.message


class CheckpointMissingError(CheckpointNotFoundError, tf.errors.NotFoundError):
  """No checkpoint (or one of its files) where the source says."""

  _ERROR_CODE = tf.errors.NOT_FOUND


class CheckpointCorruptError(CheckpointNotFoundError, tf.errors.DataLossError):
  """A file where the checkpoint's index should be is not a checkpoint table."""

  _ERROR_CODE = tf.errors.DATA_LOSS


class SourceFormatError(CheckpointCorruptError):
  """A weights file warmstart cannot take: malformed, a pickle, a bad dtype.

  Raised for a foreign weights file (safetensors, npz, Keras HDF5) whose
  header or directory is damaged or holds a dtype TF has not, and for a
  PyTorch pickle, which warmstart refuses to unpickle (the message says how
  to convert it to safetensors). Also a `CheckpointCorruptError` (a
  `tf.errors.DataLossError`): code that catches a damaged checkpoint catches
  a damaged weights file too.
  """


class CheckpointTruncatedError(CheckpointNotFoundError,
                               tf.errors.OutOfRangeError):
  """A data file is shorter than its index says."""

  _ERROR_CODE = tf.errors.OUT_OF_RANGE


class CheckpointAccessError(CheckpointNotFoundError,
                            tf.errors.PermissionDeniedError):
  """A file of the checkpoint cannot be read (permission denied)."""

  _ERROR_CODE = tf.errors.PERMISSION_DENIED


#: The `CheckpointNotFoundError` of each `tf.errors` class TF may raise while
#: reading a source; any other `OpError` maps to the base class.
_CHECKPOINT_ERRORS: dict[type[tf.errors.OpError],
                         type[CheckpointNotFoundError]] = {
                             tf.errors.NotFoundError: CheckpointMissingError,
                             tf.errors.DataLossError: CheckpointCorruptError,
                             tf.errors.OutOfRangeError:
                                 CheckpointTruncatedError,
                             tf.errors.PermissionDeniedError:
                                 CheckpointAccessError,
                         }


def checkpoint_error_class(
    cause: tf.errors.OpError) -> type[CheckpointNotFoundError]:
  """The `CheckpointNotFoundError` subclass that is also `cause`'s class.

  A plain `OpError` (code UNKNOWN: what TF's checkpoint reader raises for an
  index it cannot parse) is `CheckpointCorruptError`.
  """
  if type(cause) is tf.errors.OpError:  # pylint: disable=unidiomatic-typecheck
    return CheckpointCorruptError
  for tf_class, error_class in _CHECKPOINT_ERRORS.items():
    if isinstance(cause, tf_class):
      return error_class
  return CheckpointNotFoundError


class TensorNotFoundError(Error, ValueError):
  """A tensor the plan needs is not in the source checkpoint."""


class VariableNotFoundError(Error, ValueError):
  """A name in an assignment map or settings names no variable of the graph."""


class MismatchError(Error, ValueError):
  """A checkpoint tensor's shape or dtype does not fit its variable."""


class UnmatchedRuleError(Error, ValueError):
  """A scope map, regex or rename matched nothing."""


class ConflictError(Error, ValueError):
  """One variable is claimed by two rules or two sources."""


class SettingsError(Error, ValueError):
  """Settings or options are malformed."""


class OutOfSpaceError(Error, OSError):
  """The output's filesystem ran out of space (or quota) during a merge.

  Raised after the merge removed everything it wrote: no staging folder, no
  partial output; an output it was to replace is the old checkpoint, whole.
  Also an `OSError` whose `errno` is `ENOSPC` or `EDQUOT`.

  Attributes:
    output: The output checkpoint prefix.
    num_bytes: The bytes of tensors the merge writes (strings counted at 64
      bytes an element), its index aside.
  """

  def __init__(self, message: str, code: int, output: str, num_bytes: int):
    super().__init__(code, message)
    self.output = output
    self.num_bytes = num_bytes

  def __str__(self) -> str:
    return self.strerror

  def __reduce__(self):
    return type(self), (self.strerror, self.errno, self.output, self.num_bytes)


#: Past this many candidates, "Did you mean" compares `name` with the ones
#: that share the most character trigrams with it only (difflib's ratio over
#: thousands of similar names, e.g. 'layer_17/kernel', costs ~0.7 s a name).
_NARROW_AT = 200
_NARROWED = 30

_trigram_cache: dict[str, frozenset[str]] = {}


def _trigrams(text: str) -> frozenset[str]:
  grams = _trigram_cache.get(text)
  if grams is None:
    padded = '  %s ' % text
    grams = frozenset(padded[i:i + 3] for i in range(len(padded) - 2))
    if len(_trigram_cache) > 100000:
      _trigram_cache.clear()
    _trigram_cache[text] = grams
  return grams


def _nearest(name: str, candidates: list[str], count: int) -> list[str]:
  """The `count` candidates sharing the most trigrams with `name`."""
  grams = _trigrams(name)
  scored = sorted(((-len(grams & _trigrams(c)), i)
                   for i, c in enumerate(candidates)))
  return [candidates[i] for _, i in scored[:count]]


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
  """Returns ' Did you mean: a, b?' for close matches of `name`, or ''."""
  candidates = list(candidates)
  if len(candidates) > _NARROW_AT:
    candidates = _nearest(name, candidates, _NARROWED)
  matches = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
  if not matches:
    return ''
  return ' Did you mean: %s?' % ', '.join(repr(m) for m in matches)


def preview(names: Iterable[str], limit: int = 10) -> str:
  """Returns a short, sorted, comma-separated listing of `names`."""
  names = sorted(names)
  shown = ', '.join(repr(n) for n in names[:limit])
  if len(names) > limit:
    shown += ', ... (%d more)' % (len(names) - limit)
  return shown or '(none)'


#: The most problems an error message lists (`Error.problems` has them all),
#: and the most "Did you mean" searches a plan runs.
MAX_LISTED = 30


class Problems:
  """Collects every problem a plan has, then raises them together.

  A user with thirty mismatched shapes wants to see all thirty at once, not
  fix them one training launch at a time.
  """

  def __init__(self, what: str = 'warm start') -> None:
    """Starts an empty collection.

    Args:
      what: What the problems are with, for the message ('merge', ...).
    """
    self._what = what
    self._problems: list[tuple[type[Error], str]] = []

  def add(self, error_class: type[Error], message: str) -> None:
    self._problems.append((error_class, message))

  def __bool__(self) -> bool:
    return bool(self._problems)

  def __len__(self) -> int:
    return len(self._problems)

  def did_you_mean(self, name: str, candidates: Iterable[str]) -> str:
    """`did_you_mean`, for a problem the message will list; else ''.

    Each search scans every candidate: past `MAX_LISTED` problems (thousands
    of wrong names in a generated map), the search would cost minutes for
    suggestions nobody sees.
    """
    if len(self._problems) >= MAX_LISTED:
      return ''
    return did_you_mean(name, candidates)

  def raise_if_any(self) -> None:
    """Raises the first problem's class with the messages, if any.

    The message lists the first `MAX_LISTED` problems; the error's `problems`
    attribute holds every one.
    """
    if not self._problems:
      return
    error_class, message = self._problems[0]
    if len(self._problems) > 1:
      listed = ['  - ' + m for _, m in self._problems[:MAX_LISTED]]
      if len(self._problems) > MAX_LISTED:
        listed.append('  ... and %d more (the error\'s `problems` attribute '
                      'lists them all).' % (len(self._problems) - MAX_LISTED))
      message = '%d problems with this %s:\n%s' % (
          len(self._problems), self._what, '\n'.join(listed))
    error = error_class(message)
    error.problems = tuple(m for _, m in self._problems)
    raise error
