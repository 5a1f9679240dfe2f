"""The files of a checkpoint prefix, found by name on any filesystem.

A checkpoint `<prefix>` is `<prefix>.index` plus the data files
`<prefix>.data-<shard>-of-<num_shards>`. The index header records
`num_shards`, and a reader opens exactly the data files of that count: data
files of another count under the same prefix are ignored by every reader.
The merge commit relies on that (see `_commit`).

Files are found by listing their directory and comparing names, never with a
glob: a user's name is not a pattern. Local paths are compared resolved
(`os.path.realpath`) and by identity (`identity`: the device and inode of a
file or directory, which a bind mount, a second mount or a hard link shares);
other filesystems (`gs://`, `ram://`) go through `tf.io.gfile` as given.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional

import tensorflow as tf

from warmstart import _sources

#: The characters TF's file matching treats as a glob (tsl file_system_helper:
#: `kGlobbingChars`). TF's checkpoint reader globs the prefix it is given, so
#: it cannot open a prefix that holds one of them.
GLOB_CHARS = '*?[\\'

_DATA_SUFFIX = re.compile(r'\.data-(\d{5,})-of-(\d{5,})')

# The index is a LevelDB-style table (tsl/lib/io/table_builder.cc) ending in
# a 48-byte footer whose last 8 bytes are this magic number.


@dataclasses.dataclass(frozen=True)
class DataFile:
  """One data file of a checkpoint prefix.

  Attributes:
    path: Its path.
    shard: Its shard number.
    num_shards: The shard count in its name.
  """

  path: str
  shard: int
  num_shards: int


def is_local(path: str) -> bool:
  """Whether `path` is on the local filesystem (no `scheme://`)."""
  return '://' not in path


def resolve(path: str) -> str:
  """`path` with every symlink resolved (local paths only)."""
  return os.path.realpath(path) if is_local(path) else path


def identity(path: str) -> Optional[tuple[int, int]]:
  """(st_dev, st_ino) of the file or directory at `path`, links followed.

  Two paths with the same identity are one file, however each is reached (a
  symlink, a hard link, a bind mount, a second mount of the same volume).

  Returns:
    None when `path` is not local, does not exist, or its filesystem gives
    no inode numbers (st_ino 0): compare resolved paths then.
  """
  if not is_local(path):
    return None
  try:
    stat = os.stat(path)
  except (OSError, ValueError):
    return None
  if not stat.st_ino:
    return None
  return stat.st_dev, stat.st_ino


def resolve_prefix(prefix: str) -> str:
  """A checkpoint prefix with its directory's symlinks resolved."""
  return os.path.join(resolve(os.path.dirname(prefix) or '.'),
                      os.path.basename(prefix))


def data_files(prefix: str) -> list[DataFile]:
  """Every data file of `prefix` (any shard count), sorted by name."""
  directory, base = os.path.dirname(prefix), os.path.basename(prefix)
  files = []
  for name in sorted(list_names(directory or '.')):
    if not name.startswith(base):
      continue
    match = _DATA_SUFFIX.fullmatch(name, len(base))
    if match:
      files.append(DataFile(path=os.path.join(directory, name),
                            shard=int(match.group(1)),
                            num_shards=int(match.group(2))))
  return files


def is_file_of(path: str, prefix: str) -> bool:
  """Whether `path` is the index or a data file of checkpoint `prefix`."""
  if not path.startswith(prefix):
    return False
  return (path == prefix + '.index' or
          _DATA_SUFFIX.fullmatch(path, len(prefix)) is not None)


def list_names(directory: str) -> list[str]:
  """The entry names of `directory` ([] if it does not exist)."""
  try:
    return [n.rstrip('/') for n in tf.io.gfile.listdir(directory)]
  except tf.errors.NotFoundError:
    return []


def files_of(prefix: str) -> list[str]:
  """The files of checkpoint `prefix`: its index first, then its data."""
  files = []
  if tf.io.gfile.exists(prefix + '.index'):
    files.append(prefix + '.index')
  return files + [f.path for f in data_files(prefix)]


def num_shards(index: str) -> int:
  """The number of data files the checkpoint index `index` refers to.

  Args:
    index: The path of a `.index` file.

  Returns:
    The shard count its header records (`_sources.layout`).

  Raises:
    ValueError: the file is not a checkpoint index this reads.
    tf.errors.OpError: it cannot be read.
  """
  try:
    return _sources.layout(_sources.read_index(index)).num_shards
  except _sources.FormatError as e:
    raise ValueError('%s is not a checkpoint index this can read (%s).' %
                     (index, e)) from None


def shard_counts(prefix: str) -> set[int]:
  """The shard counts in use at `prefix`: its index's and its data files'.

  A new checkpoint written with a count outside this set shares no file
  name with what is there.
  """
  counts = {f.num_shards for f in data_files(prefix)}
  if tf.io.gfile.exists(prefix + '.index'):
    try:
      counts.add(num_shards(prefix + '.index'))
    except ValueError:
      pass  # Not a checkpoint: its data files (if any) are counted above.
  return counts


def make_directory(directory: str) -> list[str]:
  """Creates `directory` and its missing parents.

  Returns:
    The directories it created, parents first ([] for a non-local path,
    whose directories are not tracked), for `remove_created`. If it fails,
    it removes them again before it raises.
  """
  created = []
  if is_local(directory):
    missing = os.path.abspath(directory)
    while missing and not os.path.exists(missing):
      created.append(missing)
      parent = os.path.dirname(missing)
      if parent == missing:
        break
      missing = parent
    created.reverse()
  try:
    tf.io.gfile.makedirs(directory)
  except BaseException:
    remove_created(created)  # A full disk can fail it half-way.
    raise
  return created


def remove_created(directories: list[str]) -> None:
  """Removes the `make_directory` result again, deepest first, if empty.

  A directory that is not empty (someone else writes there now) stays.
  """
  for directory in reversed(directories):
    try:
      os.rmdir(directory)
    except OSError:
      return
