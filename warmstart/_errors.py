"""The small exception family of warmstart, and the "did you mean" helper.

Every error is raised while the restore plan is built, before any session
exists, and names the offending name, path or value. Each class also derives
from `ValueError`, so code written against TF's `init_from_checkpoint` (which
raises `ValueError`) keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class Error(Exception):
  """Base class of every error warmstart raises on purpose.

  Attributes:
    problems: When raised for several problems found together (see
      `Problems`), each problem's message; else empty.
  """

  problems: tuple[str, ...] = ()


class CheckpointNotFoundError(Error, ValueError):
  """A source path holds no readable checkpoint."""


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
