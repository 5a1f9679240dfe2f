"""Removes what merges that died (even by SIGKILL) left next to their output.

While a merge's staging folder (`_staging`) exists, the merge may have
left files at the output that no index names: new data files placed before
the commit point, or old data files after it (see `_commit`). `clean`
runs before each merge into the same output. When the writer of every such
folder is dead, it removes those data files, then the folders (last, so that
a crash during the clean-up leaves them to the next run). A live writer, or
one on another host, stops the new merge instead.

Folders of earlier warmstart versions may hold the previous checkpoint in
`previous/`: they are named in a warning and left alone. Without a staging
folder, nothing says a merge left a stray data file: it is not touched.
"""

from __future__ import annotations

import os

import tensorflow as tf
from absl import logging

from warmstart._merge import _files
from warmstart._merge import _staging
from warmstart import _sources


def _remove_unreferenced(output: str) -> None:
  """Removes the data files of `output` that its index does not name."""
  index = output + '.index'
  referenced: set[str] = set()
  if tf.io.gfile.exists(index):
    try:
      count = _files.num_shards(index)
    except ValueError as e:
      logging.warning('Left the data files of %s alone: %s', output, e)
      return
    referenced = {_sources.data_file(output, i, count)
                  for i in range(count)}
  for f in _files.data_files(output):
    if f.path not in referenced:
      logging.warning('Removing %s, left by a merge that did not finish.',
                      f.path)
      tf.io.gfile.remove(f.path)


def _dead_folders(output: str) -> list[_staging.Folder]:
  """The staging folders dead merges into `output` left (legacy ones named).

  Raises:
    FileExistsError: another merge into `output` is running, or ran on
      another host; the message names its folder.
  """
  folders = []
  for f in _staging.find(output):
    if not f.is_legacy:
      folders.append(f)
      continue
    logging.warning(
        'Found %s, left by an earlier warmstart version; if a merge into %s '
        'failed, %s may hold its previous checkpoint. Not removed.', f.path,
        output, os.path.join(f.path, 'previous'))
  for f in folders:
    if _staging.is_alive(f):
      raise _staging.busy_error(output, f)
  return folders


def committed_by_a_dead_run(output: str, merge_fingerprint: str) -> bool:
  """What `clean` would return, removing nothing (for a dry run).

  Raises:
    FileExistsError: as `clean`.
  """
  return any(f.fingerprint == merge_fingerprint
             for f in _dead_folders(output))


def clean(output: str, merge_fingerprint: str) -> bool:
  """Removes what dead merges into `output` left there.

  Args:
    output: The output prefix.
    merge_fingerprint: The fingerprint of the merge about to run.

  Returns:
    Whether a dead merge had the same fingerprint: the same command, so a
    checkpoint now at `output` is one that merge committed (a merge without
    `overwrite` only starts where there is none).

  Raises:
    FileExistsError: another merge into `output` is running, or ran on
      another host; the message names its folder.
  """
  folders = _dead_folders(output)
  if not folders:
    return False
  _remove_unreferenced(output)
  for f in folders:
    logging.warning('Removing %s, left by a merge that did not finish (pid %d '
                    'on %s).', f.path, f.pid, f.host)
    tf.io.gfile.rmtree(f.path)
  return any(f.fingerprint == merge_fingerprint for f in folders)
