"""Puts a staged checkpoint in place of the output, never leaving half of one.

The staged checkpoint's shard count differs from every count in use at the
output (`_layout`), so its data files never share a name with the old
ones. The commit:

1. renames each new data file into place: the output's index still names
   the old data files, which are untouched, so the output is the old
   checkpoint (or, for a new output, no checkpoint: there is no index);
2. renames the new index over the old one: the commit point, one atomic
   `rename` on POSIX filesystems; from here the output is the new checkpoint;
3. removes the old data files, which no index names any more.

At every instant `<output>.index` and the data files it names form one whole
checkpoint, the old or the new. If anything raises before the commit point,
the new data files are removed again; a crash (SIGKILL, power loss) leaves
files that `_debris.clean` removes at the next merge into the output.
"""

from __future__ import annotations

import tensorflow as tf
from absl import logging

from warmstart._merge import _files
from warmstart import _sources


def _rename(src: str, dst: str) -> None:
  """Renames `src` to `dst`, replacing `dst` atomically if it exists."""
  tf.io.gfile.rename(src, dst, overwrite=True)


def _remove_quietly(path: str) -> None:
  try:
    tf.io.gfile.remove(path)
  except tf.errors.OpError as e:
    logging.warning('Could not remove %s: %s', path, e)


def commit(staged: str, output: str) -> None:
  """Replaces checkpoint `output` (if any) by checkpoint `staged`.

  Args:
    staged: The prefix of the new checkpoint, on the filesystem of `output`.
    output: The output prefix.

  Raises:
    FileExistsError: a data file of the new shard count is already at
      `output` (only a concurrent writer can cause it); nothing was moved.
    tf.errors.OpError: a rename failed; the output is as it was.
  """
  new = _files.data_files(staged)
  counts = {f.num_shards for f in new}
  if len(counts) != 1 or len(new) != next(iter(counts)):
    raise ValueError('Staged checkpoint %s is incomplete: %s.' %
                     (staged, [f.path for f in new]))
  old = _files.data_files(output)
  clash = [f.path for f in old if f.num_shards in counts]
  if clash:
    raise FileExistsError(
        'Cannot commit the merge: %s already exist%s (another process writes '
        'to %s?). Nothing was changed.' %
        (', '.join(clash), 's' if len(clash) == 1 else '', output))
  placed = []
  try:
    for f in new:
      target = _sources.data_file(output, f.shard, f.num_shards)
      _rename(f.path, target)
      placed.append(target)
    _rename(staged + '.index', output + '.index')  # The commit point.
  except BaseException:
    for path in reversed(placed):
      _remove_quietly(path)
    raise
  for f in old:
    _remove_quietly(f.path)
