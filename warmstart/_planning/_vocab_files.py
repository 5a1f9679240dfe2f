"""Vocabulary files read natively: their lines, their checks, their remapping.

A vocabulary of millions of tokens is held as the file's bytes and arrays of
line offsets, never as one Python object per line, and every question the
planner and the restore ask of it is answered by numpy sorts over those
arrays (no per-line Python):

* `read`: the lines as TF's text readers take them (`InputBuffer::ReadLine`:
  split at '\\n', one trailing '\\r' dropped, a last line without '\\n'
  counted unless it is empty);
* `Lines.first_empty`, `Lines.first_repeat`: what TF's kernels would fail on;
* `remapping`: for each new token, the line of the same token in the old
  vocabulary (or -1), as TF's `GenerateVocabRemapping` gives it, computed by
  one sort-join of the two files instead of a hash table of strings (which
  takes about 200 bytes a token in TF's kernel). The planner computes it
  while it checks the files; the restore takes it from `remapping`'s cache
  when its session starts in the same process, so each file is read once per
  warm start.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Iterator, Optional

import numpy as np
import tensorflow as tf
from numpy.lib import stride_tricks

_NEWLINE = ord('\n')
_RETURN = ord('\r')


@dataclasses.dataclass(frozen=True, eq=False)
class Lines:
  """The lines of a vocabulary file.

  Attributes:
    data: The file's bytes.
    starts: Where each line starts in `data`.
    lengths: Each line's length, without its '\\n' and trailing '\\r'.
  """

  data: np.ndarray
  starts: np.ndarray
  lengths: np.ndarray

  def __len__(self) -> int:
    return int(self.starts.size)

  def token(self, line: int) -> bytes:
    """The token of a line (0-based)."""
    start = int(self.starts[line])
    return self.data[start:start + int(self.lengths[line])].tobytes()

  def first_empty(self) -> Optional[int]:
    """The number (1-based) of the first empty line, or None."""
    empty = np.flatnonzero(self.lengths == 0)
    return int(empty[0]) + 1 if empty.size else None

  def first_repeat(self) -> Optional[tuple[bytes, int, int]]:
    """(token, first line, line repeating it) of the earliest repeat of a
    token (the repeating line the lowest; lines 1-based), or None."""
    best = None
    for rows, tokens in _groups(self, len(self)):
      order, heads = _runs(tokens)
      repeats = np.flatnonzero(order != heads)
      if repeats.size:
        # In a run of equal tokens, sorted stably, a repeat's head is the
        # first line holding the token.
        at = repeats[np.argmin(order[repeats])]
        again, first = int(rows[order[at]]), int(rows[heads[at]])
        if best is None or again < best[2]:
          best = (self.token(again), first, again)
    return None if best is None else (best[0], best[1] + 1, best[2] + 1)


def read(path: str) -> Lines:
  """Reads a vocabulary file (any `tf.io.gfile` path) into its `Lines`."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    data = np.frombuffer(f.read(), np.uint8)
  ends = np.flatnonzero(data == _NEWLINE)
  if data.size and data[-1] != _NEWLINE:
    ends = np.append(ends, data.size)  # A last line with no '\n'.
  starts = np.zeros(ends.size, np.int64)
  starts[1:] = ends[:-1] + 1
  lengths = ends - starts
  last = np.maximum(ends - 1, 0)
  lengths -= (lengths > 0) & (data[last] == _RETURN) if data.size else 0
  if ends.size and ends[-1] == data.size and lengths[-1] == 0:
    # TF's ReadLine ends the file at a last line empty once its '\r' is gone.
    starts, lengths = starts[:-1], lengths[:-1]
  return Lines(data, starts, lengths.astype(np.int64))


def _groups(lines: Lines, within: int) -> Iterator[tuple[np.ndarray,
                                                        np.ndarray]]:
  """(line numbers, tokens) of the non-empty first `within` lines, by length.

  Tokens of one length are one fixed-width numpy bytes array (their bytes
  copied once), which numpy sorts and compares natively; the number of
  groups is the number of distinct lengths, not of lines.
  """
  lengths = lines.lengths[:within]
  order = np.argsort(lengths, kind='stable')
  sorted_lengths = lengths[order]
  bounds = np.flatnonzero(np.diff(sorted_lengths)) + 1
  bounds = np.concatenate([[0], bounds, [sorted_lengths.size]])
  for first, stop in zip(bounds[:-1], bounds[1:]):
    width = int(sorted_lengths[first]) if stop > first else 0
    if width == 0:
      continue
    rows = order[first:stop]
    windows = stride_tricks.sliding_window_view(lines.data, width)
    tokens = np.ascontiguousarray(windows[lines.starts[rows]])
    yield rows, tokens.view('S%d' % width).ravel()


def _runs(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(a stable sort of `tokens`, for each sorted position the position of
  the first token of its run of equal tokens)."""
  order = np.argsort(tokens, kind='stable')
  ordered = tokens[order]
  start = np.ones(ordered.size, bool)
  np.not_equal(ordered[1:], ordered[:-1], out=start[1:])
  head = np.where(start, np.arange(ordered.size), 0)
  return order, order[np.maximum.accumulate(head)]


def _join(new: Lines, new_size: int, old: Lines, old_size: int) -> np.ndarray:
  """The old line of each of the first `new_size` new tokens, or -1; a token
  repeated in the old lines maps to its first line."""
  remap = np.full(new_size, -1, np.int64)
  old_groups = {tokens.itemsize: (rows, tokens)
                for rows, tokens in _groups(old, old_size)}
  for rows, tokens in _groups(new, new_size):
    if tokens.itemsize not in old_groups:
      continue
    old_rows, old_tokens = old_groups[tokens.itemsize]
    order, heads = _runs(np.concatenate([old_tokens, tokens]))
    # Stable: in a run of one token, its old lines come first.
    hit = (order >= old_tokens.size) & (heads < old_tokens.size)
    remap[rows[order[hit] - old_tokens.size]] = old_rows[heads[hit]]
  return remap


def _identity(path: str) -> tuple[str, int, int]:
  stat = tf.io.gfile.stat(path)
  return path, stat.mtime_nsec, stat.length


#: Remappings computed but not yet taken by a restore, newest last.
_computed: 'collections.OrderedDict[tuple, np.ndarray]' = (
    collections.OrderedDict())
_computed_lock = threading.Lock()
#: At most this many bytes of remappings wait to be taken (a miss costs a
#: read of the two files again, small beside the tensor they remap).
_MAX_WAITING_BYTES = 256 << 20


def _key(new_path: str, new_size: int, old_path: str, old_size: int) -> tuple:
  return (_identity(new_path), new_size, _identity(old_path),
          old_size if old_size > 0 else -1)


def remapping(new_path: str, new_size: int, old_path: str, old_size: int,
              new: Optional[Lines] = None, old: Optional[Lines] = None,
              keep: bool = False) -> np.ndarray:
  """For each of the first `new_size` new tokens, its old line or -1.

  Equal to TF's `GenerateVocabRemapping(new_vocab_offset=0,
  num_new_vocab=new_size, old_vocab_size=old_size)` on files TF accepts.

  Args:
    new_path: The new vocabulary file.
    new_size: How many of its first lines to map.
    old_path: The old vocabulary file.
    old_size: How many of its first lines to look in (-1 or 0: all).
    new: `new_path`'s lines when the caller has read them.
    old: `old_path`'s lines when the caller has read them.
    keep: Keep the result for the next call with the same files (unchanged
      since) and sizes, which takes it: the planner computes it, the restore
      takes it.

  Returns:
    An int64 array of `new_size` entries.
  """
  key = _key(new_path, new_size, old_path, old_size)
  with _computed_lock:
    found = _computed.pop(key, None)
  if found is None:
    new = new if new is not None else read(new_path)
    old = old if old is not None else read(old_path)
    found = _join(new, new_size, old, len(old) if old_size <= 0 else old_size)
  if keep:
    with _computed_lock:
      _computed[key] = found
      waiting = sum(a.nbytes for a in _computed.values())
      while waiting > _MAX_WAITING_BYTES:
        waiting -= _computed.popitem(last=False)[1].nbytes
  return found


def first_shared_repeat(remap: np.ndarray) -> Optional[tuple[int, int]]:
  """(first, again): two lines (1-based) of new tokens that take the same old
  line, the repeating line the lowest; None when no old line is taken twice."""
  order = np.argsort(remap, kind='stable')
  taken = remap[order]
  again = np.flatnonzero((taken[1:] == taken[:-1]) & (taken[1:] >= 0)) + 1
  if not again.size:
    return None
  at = again[np.argmin(order[again])]
  first = np.searchsorted(taken, taken[at])  # The run's first new line.
  return int(order[first]) + 1, int(order[at]) + 1
