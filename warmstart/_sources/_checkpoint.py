"""Resolves a source path to one pinned checkpoint and reads its index once.

A source is a checkpoint prefix, a directory (its latest checkpoint, resolved
now, so a trainer that keeps writing checkpoints cannot change what is loaded
later), or a SavedModel directory (its `variables/variables` prefix).

A source is checked whole at the call: every data file its index records must
exist and hold every byte the index places in it (one stat per data file, on
every `load`: a copy may be cut short after its index was first read), so a
missing or truncated file is named now rather than at session creation.

A path TF's readers cannot open is refused here too, with the reason: TF
looks a checkpoint's files up by glob pattern, so a prefix whose glob
characters make it match no file (`run[1]/model.ckpt` matches `run1/...`)
cannot be read by any restore op. Each error is the
`CheckpointNotFoundError` subclass that is also the `tf.errors` class TF
raises for that fault (see `_errors.CheckpointNotFoundError`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Optional, Union

import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _names
from warmstart._sources import _foreign
from warmstart._sources import _index
from warmstart._sources import _stage

PathLike = Union[str, bytes, os.PathLike]

_SUFFIXES = ('.index', '.meta')
_DATA_MARKER = '.data-'
#: A data file's suffix (tensor_bundle/naming.cc: `.data-%05d-of-%05d`).
_DATA_FILE = re.compile(r'\.data-\d{5,}-of-\d{5,}$')

#: The characters TF's file matching treats as a glob (tsl
#: file_system_helper: `kGlobbingChars`). TF's checkpoint readers and restore
#: ops look a prefix's files up with its path as a glob pattern.
GLOB_CHARS = '*?[\\'

#: The prefix a V1 `Saver(sharded=True)` returns: a pattern over its shards,
#: which TF's V1 reader expands (and `latest_checkpoint` returns).
_V1_SHARDED = re.compile(r'-\?{5}-of-\d{5}$')


@dataclasses.dataclass(frozen=True)
class Checkpoint:
  """One readable checkpoint: its prefix and what its index holds.

  Attributes:
    prefix: The pinned checkpoint prefix that restore ops read.
    origin: What the caller passed (a directory, SavedModel, prefix or
      foreign weights file), as a str.
    shapes: Tensor name -> shape (tuple of ints), as in the index.
    dtypes: Tensor name -> `tf.DType`.
    staged_from: For a foreign weights file (safetensors, npz, HDF5): the
      file, whose staged copy `prefix` is (see `_stage`); else None.
    format: The source's format: 'checkpoint', or the foreign file's
      (`_foreign.SAFETENSORS`, `NPZ`, `HDF5`).
  """

  prefix: str
  origin: str
  shapes: Mapping[str, tuple[int, ...]] = dataclasses.field(repr=False)
  dtypes: Mapping[str, tf.DType] = dataclasses.field(repr=False)
  staged_from: Optional[str] = None
  format: str = 'checkpoint'

  def __contains__(self, tensor_name: str) -> bool:
    return tensor_name in self.shapes

  def num_bytes(self, tensor_name: str) -> int:
    """Returns the size of a tensor in bytes (strings count 64 per element)."""
    return tensor_bytes(self.shapes[tensor_name], self.dtypes[tensor_name])


def tensor_bytes(dims: Sequence[Optional[int]], dtype: tf.DType) -> int:
  """The bytes of a tensor of shape `dims` (None counts 1; a string 64)."""
  size = 1
  for dim in dims:
    size *= dim or 1
  return size * (64 if dtype == tf.string else dtype.size)


def full_extent_spec(dims: Sequence[Optional[int]]) -> str:
  """The RestoreV2 slice spec of a whole tensor of shape `dims`.

  With it, RestoreV2 checks that the checkpoint still holds that shape (a
  prefix rewritten with other shapes since the plan fails at the read,
  naming the tensor) and reads the tensor as the empty spec does. '' (no
  check) for a scalar or a shape the plan does not know.
  """
  if not dims or any(d is None for d in dims):
    return ''
  return '%s %s' % (' '.join(str(d) for d in dims), ':'.join('-' * len(dims)))


# (prefix, `_identity` of its index) -> the checkpoint and its data layout
# (None where the index has no layout this reader knows: a V1 checkpoint).
_cache: dict[tuple[str, tuple[object, ...]],
             tuple[Checkpoint, Optional[_index.Layout]]] = {}
_cache_lock = threading.Lock()


def local_path(path: str) -> Optional[str]:
  """`path` as `os` functions take it, or None for another filesystem."""
  if path.startswith('file://'):
    return path[len('file://'):]
  return None if '://' in path else path


def _identity(path: str) -> Optional[tuple[object, ...]]:
  """What tells one version of file `path` from another, or None.

  TF's `stat` gives whole seconds on local disks: a checkpoint saved again
  within the second (other shapes, same size) looked unchanged. A local
  file's key is os.stat's device, inode, size and nanosecond mtime and ctime
  (TF's `Saver` writes a new file and renames it over the old one: a new
  inode, and a new ctime even where mtime is set back). Elsewhere, what
  `tf.io.gfile.stat` gives (mtime, length); None where it records no mtime
  (`ram://`), which cannot tell a rewrite.
  """
  local = local_path(path)
  if local is not None:
    try:
      stat = os.stat(local)
    except (OSError, ValueError):
      return None
    return ('local', stat.st_dev, stat.st_ino, stat.st_size,
            stat.st_mtime_ns, stat.st_ctime_ns)
  try:
    stat = tf.io.gfile.stat(path)
  except tf.errors.OpError:
    return None
  if not stat.mtime_nsec:
    return None
  return ('gfile', stat.mtime_nsec, stat.length)


def _mtime_ns(path: str) -> Optional[int]:
  """The mtime of `path` in nanoseconds (os.stat's where local), or None."""
  local = local_path(path)
  try:
    if local is not None:
      return os.stat(local).st_mtime_ns
    return tf.io.gfile.stat(path).mtime_nsec
  except (OSError, ValueError, tf.errors.OpError):
    return None


def _strip_file_suffix(path: str) -> str:
  """The prefix of a checkpoint file's path (`path` itself if none)."""
  for suffix in _SUFFIXES:
    if path.endswith(suffix):
      return path[:-len(suffix)]
  data = _DATA_FILE.search(os.path.basename(path))
  return path[:len(path) - len(data.group())] if data else path


def _is_saved_model_dir(path: str) -> bool:
  return (tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')) or
          tf.io.gfile.exists(os.path.join(path, 'saved_model.pbtxt')))


def _natural_key(name: str) -> list[Union[int, str]]:
  """Sorts 'model.ckpt-9' before 'model.ckpt-10'."""
  return [int(part) if part.isdigit() else part
          for part in re.split(r'(\d+)', name)]


def _prefixes_newest_first(directory: str) -> list[str]:
  """Returns the checkpoint prefixes in `directory` (names), newest first."""
  try:
    names = tf.io.gfile.listdir(directory)
  except tf.errors.OpError:
    return []
  found = []
  for name in names:
    if name.endswith('.index'):
      prefix = name[:-len('.index')]
      mtime = _mtime_ns(os.path.join(directory, name))
      if mtime is None:
        continue
      found.append((mtime, _natural_key(prefix), prefix))
  return [prefix for _, _, prefix in sorted(found, reverse=True)]


def _listing(names: list[str], limit: int = 10) -> str:
  """Like `_errors.preview`, keeping the order of `names`."""
  shown = ', '.join(repr(n) for n in names[:limit])
  if len(names) > limit:
    shown += ', ... (%d more)' % (len(names) - limit)
  return shown


def _glob_chars(path: str) -> list[str]:
  """The glob characters of `path`, each once, sorted."""
  return sorted({c for c in path if c in GLOB_CHARS})


def _quoted(chars: Sequence[str], last: str = 'and') -> str:
  """"'a'", "'a' and 'b'", "'a', 'b' or 'c'"."""
  quoted = [repr(c) for c in chars]
  if len(quoted) < 2:
    return ''.join(quoted)
  return '%s %s %s' % (', '.join(quoted[:-1]), last, quoted[-1])


def _glob(pattern: str) -> list[str]:
  """What TF's file matching finds for `pattern` (as its readers do)."""
  try:
    return tf.io.gfile.glob(pattern)
  except tf.errors.OpError:  # TF's readers then find nothing either.
    return []


def _unmatched_pattern_error(
    prefix: str, origin: str,
    others: Sequence[str]) -> _errors.CheckpointNotFoundError:
  """Says that TF's readers cannot find `prefix` by glob, and what to do.

  A `CheckpointMissingError` (TF: NotFoundError, or no checkpoint in the
  directory) where the pattern matches no file; with `others` (a V1
  checkpoint's pattern that matches other files too: TF reads them together
  and fails, a plain OpError) the base class.
  """
  chars = _quoted(_glob_chars(prefix))
  source = '' if origin == prefix else ' (from %r)' % origin
  if others:
    error_class = _errors.CheckpointNotFoundError
    found = ('matches other files too, which TF would read with it: %s' %
             _listing(list(others), 3))
  else:
    error_class = _errors.CheckpointMissingError
    found = ('matches no file (TF\'s own functions raise NotFoundError, or '
             'find no checkpoint in its directory)')
  return error_class(
      'Checkpoint %r%s exists, but TensorFlow cannot read it: its path holds '
      'the glob character%s %s, and TF\'s checkpoint readers and restore ops '
      'look a checkpoint\'s files up with its path as a glob pattern, which '
      '%s. Rename the directory (or the files) without %s, or copy the '
      'checkpoint (its .index and every .data-* file) to a path without any '
      'of %s, and pass that path.' %
      (prefix, source, '' if len(_glob_chars(prefix)) == 1 else 's', chars,
       found, chars, _quoted(GLOB_CHARS, 'or')))


def _pattern_error(prefix: str,
                   origin: str) -> Optional[_errors.CheckpointNotFoundError]:
  """Why TF's readers cannot find the existing `prefix` by glob, or None.

  TF opens a V2 checkpoint (one with `prefix.index`) once the glob
  `prefix.index` matches anything, and a V1 checkpoint by reading every file
  the glob `prefix` matches (all the shards of a V1 sharded pattern, which
  is no file itself). One glob, for a path with a glob character only.
  """
  if not _glob_chars(prefix):
    return None
  if tf.io.gfile.exists(prefix + '.index'):
    return None if _glob(prefix + '.index') else _unmatched_pattern_error(
        prefix, origin, ())
  matches = _glob(prefix)
  if _V1_SHARDED.search(prefix) and not tf.io.gfile.exists(prefix):
    return None if matches else _unmatched_pattern_error(prefix, origin, ())
  itself = os.path.normpath(prefix)
  if [os.path.normpath(m) for m in matches] == [itself]:
    return None
  return _unmatched_pattern_error(
      prefix, origin, [m for m in matches if os.path.normpath(m) != itself])


def _readable(prefix: str, origin: str) -> str:
  """Returns `prefix` if TF's readers find its files by glob; else raises.

  Raises:
    CheckpointNotFoundError: TF would not find the checkpoint
      (`CheckpointMissingError`), or (V1) would read other files with it.
  """
  error = _pattern_error(prefix, origin)
  if error is not None:
    raise error
  return prefix


def _same_directory(a: str, b: str) -> bool:
  return os.path.normpath(a) == os.path.normpath(b)


def _no_checkpoint_error(directory: str) -> _errors.CheckpointNotFoundError:
  """Explains why a directory resolves to no checkpoint, and what is there.

  TF's `latest_checkpoint` finds the checkpoint its state file names by
  glob: one that exists but is not found that way (a glob character in the
  directory's name) is `_pattern_error`'s to explain.
  """
  state_file = os.path.join(directory, 'checkpoint')
  try:
    state = tf.train.get_checkpoint_state(directory)
    invalid = None
  except ValueError as e:  # A state file naming no checkpoint at all.
    state, invalid = None, e
  instead = ''
  if state is not None:
    named = state.model_checkpoint_path
    here = os.path.join(directory, os.path.basename(named))
    shown = named
    if _same_directory(os.path.dirname(named), directory):
      shown = os.path.basename(named)
    if tf.io.gfile.exists(named + '.index') or tf.io.gfile.exists(named):
      error = _pattern_error(named, directory)
      if error is not None:  # Why latest_checkpoint did not find it.
        return error
    if (not _same_directory(os.path.dirname(named), directory) and
        tf.io.gfile.exists(here + '.index')):
      why = ('its state file %r names %r, which does not exist: the state '
             'file keeps the path the checkpoint was saved under (TF\'s Saver '
             'writes absolute paths), and the directory was moved or copied '
             'since. The checkpoint is here under the same name' %
             (state_file, named))
      instead = ' Pass it explicitly: %r.' % here
    else:
      why = ('its state file %r names %r (%s.index), which does not exist: '
             'it was deleted or not copied' % (state_file, shown, named))
  elif invalid is not None:
    why = 'its state file %r names no checkpoint (%s)' % (state_file, invalid)
  elif tf.io.gfile.exists(state_file):
    why = ('its state file %r cannot be parsed as a CheckpointState (TF '
           'logged why)' % state_file)
  else:
    why = 'it has no "checkpoint" state file'
  found = _prefixes_newest_first(directory)
  if not instead and found:
    instead = (' Checkpoints in it, newest first: %s. Pass one explicitly, '
               'e.g. %r.' % (_listing(found), os.path.join(directory,
                                                           found[0])))
  elif not instead:
    instead = (' It holds no checkpoint files (no *.index) and no SavedModel. '
               'Pass a checkpoint prefix such as %r instead.' %
               os.path.join(directory, 'model.ckpt-1000'))
  return _errors.CheckpointMissingError(
      'Directory %r holds no checkpoint to load: %s.%s' %
      (directory, why, instead))


def _holds_checkpoint(path: str) -> bool:
  return tf.io.gfile.exists(path + '.index') or tf.io.gfile.isdir(path)


def _missing_hint(path: str, prefix: str) -> str:
  """What to add to "no checkpoint at `path`".

  A near miss that holds a checkpoint (the path without its whitespace, its
  trailing '/', with '~' expanded), the checkpoints a pattern given as the
  path matches, or those of its directory.
  """
  near = []
  if path.strip() != path:
    near.append((path.strip(), 'The path has leading or trailing whitespace'))
  if len(path) > 1 and path.endswith(('/', os.sep)):
    near.append((path.rstrip('/' + os.sep),
                 'A checkpoint prefix has no trailing %r' % path[-1]))
  if path.startswith('~') and os.path.expanduser(path) != path:
    near.append((os.path.expanduser(path),
                 "'~' is not expanded (TF does not expand it either)"))
  for candidate, why in near:
    if candidate and _holds_checkpoint(candidate):
      return ' %s: did you mean %r?' % (why, candidate)
  if path.startswith('~'):
    return (" '~' is not expanded (by TF either): pass the path "
            'os.path.expanduser gives, or an absolute one.')
  if _glob_chars(prefix):
    matches = _glob(prefix + '.index')
    if matches:
      return (' A checkpoint path is not a pattern (TF matches it as one, '
              'then opens the path itself): pass one checkpoint, e.g. %r.' %
              _strip_file_suffix(sorted(matches)[-1]))
  parent = os.path.dirname(prefix) or '.'
  if not tf.io.gfile.isdir(parent):
    return ''
  prefixes = sorted({
      _strip_file_suffix(f) for f in tf.io.gfile.listdir(parent)
      if f.endswith('.index')
  })
  return _errors.did_you_mean(os.path.basename(prefix), prefixes) or (
      ' Checkpoints in %r: %s.' % (parent, _errors.preview(prefixes))
      if prefixes else '')


def resolve_prefix(path: PathLike) -> str:
  """Returns the checkpoint prefix `path` stands for.

  A path whose `.index` file exists is a prefix, even where the filesystem
  also calls it a directory (`ram://` does, for any prefix of a file name).
  A V1 sharded checkpoint's pattern (`model.ckpt-?????-of-00002`, what its
  `Saver` returns) is a prefix too, as for TF's reader.

  Args:
    path: A checkpoint prefix, one of its files, a checkpoint directory or a
      SavedModel directory: a str, bytes (decoded as `os.fsdecode` does) or
      os.PathLike.

  Returns:
    The prefix, pinned at the time of the call.

  Raises:
    TypeError: `path` is not a str, bytes or os.PathLike.
    CheckpointNotFoundError: `path` holds no checkpoint
      (`CheckpointMissingError`, a `tf.errors.NotFoundError`), or one TF's
      readers cannot open (a glob character in its path that makes it match
      no file; a NUL character; not UTF-8).
  """
  path = _names.checkpoint_path(path)
  if not path:
    raise _errors.CheckpointMissingError(
        'The checkpoint path is empty: pass a checkpoint prefix, a directory '
        'holding checkpoints, or a SavedModel directory.')
  if tf.io.gfile.exists(path + '.index'):
    return _readable(path, path)
  if tf.io.gfile.isdir(path):
    if _is_saved_model_dir(path):
      prefix = os.path.join(path, 'variables', 'variables')
      if not tf.io.gfile.exists(prefix + '.index'):
        raise _errors.CheckpointMissingError(
            'SavedModel directory %r has no variables (%s.index is missing).' %
            (path, prefix))
      return _readable(prefix, path)
    try:
      latest = tf.train.latest_checkpoint(path)
    except ValueError:  # An invalid state file: explained below.
      latest = None
    if latest is None:
      raise _no_checkpoint_error(path)
    return _readable(latest, path)
  if _V1_SHARDED.search(path) and _glob(path):
    return path  # TF's V1 reader reads the shards the pattern matches.
  prefix = _strip_file_suffix(path)
  if tf.io.gfile.exists(prefix + '.index') or tf.io.gfile.exists(prefix):
    return _readable(prefix, path)
  raise _errors.CheckpointMissingError(
      'No checkpoint at %r: expected %s.index (a checkpoint prefix), a '
      'checkpoint directory or a SavedModel directory.%s' %
      (path, prefix, _missing_hint(path, prefix)))


def _read_layout(prefix: str) -> Optional[_index.Layout]:
  """Returns the data layout `prefix.index` records, or None.

  None for a V1 checkpoint (no `.index`) and, with a warning, for an index TF
  reads but `_index` does not (a compressed one, which TF's `BundleWriter`
  does not write): its data files then go unchecked.
  """
  index = prefix + '.index'
  if not tf.io.gfile.exists(index):
    return None
  try:
    return _index.layout(_index.read_index(index))
  except (_index.FormatError, tf.errors.OpError) as e:
    logging.warning('Cannot check the data files of %s against its index: '
                    '%s', prefix, e)
    return None


def _cut_off(prefix: str, shard: int, size: int) -> list[str]:
  """Names the tensors of `shard` that end past byte `size` (-1: all)."""
  try:
    entries = list(_index.bundle_entries(_index.read_index(prefix + '.index')))
  except (_index.FormatError, tf.errors.OpError):
    return []
  return sorted({
      _index.tensor_name(key) for key, entry in entries
      if not entry.slices and entry.shard_id == shard and
      entry.offset + entry.size > size
  })


def _check_data_files(prefix: str, origin: str, layout: _index.Layout) -> None:
  """Raises unless every data file holds all the bytes the index places in it.

  One stat per data file. Every data file the index counts must exist, even
  one holding only empty tensors (TF's reader opens it to read them).

  Raises:
    CheckpointNotFoundError: naming each missing or short data file, its
      size, the size the index needs and the tensors it cuts off. Of the
      class of the first file's fault, as TF's restore reads the files in
      order: `CheckpointMissingError` (NotFoundError) for a missing file,
      `CheckpointTruncatedError` (OutOfRangeError) for a short one, the
      class of TF's error for one that cannot be stat'ed.
  """
  # (the class of TF's error for the fault, the fault), per damaged file.
  problems: list[tuple[type[_errors.CheckpointNotFoundError], str]] = []
  missing = False
  for shard, needed in enumerate(layout.needed):
    path = _index.data_file(prefix, shard, layout.num_shards)
    try:
      size = tf.io.gfile.stat(path).length
    except tf.errors.NotFoundError:
      size = None
    except tf.errors.OpError as e:  # E.g. permission denied.
      problems.append((_errors.checkpoint_error_class(e),
                       'data file %r cannot be read: %s' % (path, e.message)))
      continue
    if size is not None and size >= needed:
      continue
    lost = _listing(_cut_off(prefix, shard, -1 if size is None else size),
                    limit=5)
    if size is None:
      missing = True
      problems.append((_errors.CheckpointMissingError,
                       'data file %r is missing (the index places %d bytes '
                       'in it%s)' % (path, needed, ': ' + lost if lost else '')))
    else:
      problems.append((
          _errors.CheckpointTruncatedError,
          'data file %r is %d bytes, expected at least %d (the end of its '
          'last tensor, per the index)%s' % (path, size, needed,
                                            '; cut off: ' + lost if lost
                                            else '')))
  if not problems:
    return
  present = ''
  if missing:
    present = ' Its index %r records %d data file%s; present: %s.' % (
        prefix + '.index', layout.num_shards,
        '' if layout.num_shards == 1 else 's',
        _listing(_data_files_present(prefix)) or '(none)')
  source = '' if origin == prefix else ' (from %r)' % origin
  raise problems[0][0](
      'Checkpoint %r%s is incomplete: %s.%s Copy the checkpoint again (its '
      '.index and every .data-* file) or pass another one.' %
      (prefix, source, '; '.join(p for _, p in problems), present))


def _data_files_present(prefix: str) -> list[str]:
  """Names the data files of `prefix` that exist (no glob: names are data)."""
  directory = os.path.dirname(prefix) or '.'
  start = os.path.basename(prefix) + _DATA_MARKER
  try:
    return sorted(f for f in tf.io.gfile.listdir(directory)
                  if f.startswith(start))
  except tf.errors.OpError:
    return []


def _not_a_checkpoint_hint(prefix: str) -> str:
  """What a file TF cannot read as a checkpoint is, when its name says so."""
  name = os.path.basename(prefix)
  directory = os.path.dirname(prefix) or '.'
  if name == 'checkpoint':
    return (' It is the state file of directory %r, not a checkpoint: pass '
            'the directory (its latest checkpoint) or a prefix it names.' %
            directory)
  if name in ('saved_model.pb', 'saved_model.pbtxt'):
    return (' It is the graph of a SavedModel: pass its directory %r.' %
            directory)
  if name.endswith(('.h5', '.hdf5', '.keras')):
    return (' It is a Keras file, not a TensorFlow checkpoint (a prefix with '
            'a .index file and .data-* files, as `tf.train.Checkpoint`, a '
            "Saver or Keras' `save_weights` in the TF format write).")
  return ''


# (prefix, `_identity` of its index) -> (number of shards, tensor pieces).
_locations: dict[tuple[str, tuple[object, ...]],
                 tuple[int, dict[str, tuple[_index.Location, ...]]]] = {}


def data_pieces(
    prefix: str, tensor: str) -> Optional[list[tuple[str, int, int, int, int]]]:
  """[(data file, first byte, bytes, first row, masked CRC32C)] of `tensor`,
  in row order.

  One piece for a tensor stored whole, one per slice for a tensor stored in
  slices along axis 0 only (a partitioned variable's save). None for a
  tensor sliced along other axes, a checkpoint without a readable index
  (V1) or one with big-endian values. The index is parsed once per version
  of its file.
  """
  index = prefix + '.index'
  identity = _identity(index)
  if identity is None:
    return None
  key = (prefix, identity)
  with _cache_lock:
    found = _locations.get(key)
  if found is None:
    try:
      found = _index.locations(_index.read_index(index))
    except (_index.FormatError, tf.errors.OpError):
      found = (0, {})
    with _cache_lock:
      _locations[key] = found
  num_shards, by_name = found
  pieces = by_name.get(tensor)
  if pieces is None:
    return None
  return [(_index.data_file(prefix, p.shard, num_shards), p.offset, p.size,
           p.first_row, p.crc32c) for p in pieces]


def foreign_format(path: str) -> Optional[str]:
  """The format of a local foreign weights file at `path`, else None.

  Read from the file's first bytes (`_foreign.sniff`), for a regular local
  file that is no checkpoint's file (`.index`, `.data-*`, `.meta`, a
  prefix). A PyTorch pickle raises `SourceFormatError` (never unpickled).
  """
  local = local_path(path)
  if local is None or not os.path.isfile(local):
    return None
  if (local.endswith(_SUFFIXES) or _DATA_FILE.search(local) or
      os.path.exists(local + '.index')):
    return None
  return _foreign.sniff(local)


def _staged(origin: str, fmt: str, cache_dir: Optional[str],
            max_chunk_bytes: int) -> str:
  """The staged checkpoint of foreign file `origin`, converted if needed."""
  local = local_path(origin)
  assert local is not None  # foreign_format checked it.
  return _stage.stage(local, fmt, cache_dir, max_chunk_bytes)


def load(path: PathLike, cache_dir: Optional[str] = None,
         max_chunk_bytes: int = 64 << 20) -> Checkpoint:
  """Resolves `path`, reads the checkpoint's index once, checks its data files.

  The index is read once per version of its file (`_identity`: a prefix
  saved again, even within the same second, is read again); the data files
  are checked on every call (one stat each). A foreign weights file
  (safetensors, npz, Keras HDF5: `foreign_format`) is staged as a
  checkpoint in the cache first (`_stage.stage`: once per version of the
  file) and that checkpoint is loaded.

  Args:
    path: See `resolve_prefix`; or a local `.safetensors`, `.npz` or Keras
      HDF5 file (found by content).
    cache_dir: Where foreign files are staged (None: `_stage`'s default).
    max_chunk_bytes: Bound on the bytes one staging write batch holds.

  Returns:
    A `Checkpoint`.

  Raises:
    TypeError: `path` is not a str, bytes or os.PathLike.
    CheckpointNotFoundError: `path` holds no readable checkpoint, or one of
      its data files is missing or shorter than its index says; each of
      the subclass that is also TF's error for it (see `_errors`).
  """
  origin = _names.checkpoint_path(path)
  fmt = foreign_format(origin)
  if fmt is None:
    return _load_prefix(resolve_prefix(origin), origin)
  prefix = _staged(origin, fmt, cache_dir, max_chunk_bytes)
  try:
    checkpoint = _load_prefix(prefix, origin)
  except _errors.CheckpointNotFoundError as e:
    # Our cache entry was damaged after it was complete (a data file
    # removed by hand): it is ours to replace.
    logging.warning('The staged copy %s of %s cannot be read (%s): staging '
                    'it again.', prefix, origin, e)
    _stage.discard(prefix)
    prefix = _staged(origin, fmt, cache_dir, max_chunk_bytes)
    checkpoint = _load_prefix(prefix, origin)
  return dataclasses.replace(checkpoint, staged_from=origin, format=fmt)


def _load_prefix(prefix: str, origin: str) -> Checkpoint:
  """`load` of a resolved prefix (`origin`: what the caller passed)."""
  index = prefix + '.index'
  identity = _identity(index if tf.io.gfile.exists(index) else prefix)
  key = (prefix, identity) if identity else None
  with _cache_lock:
    cached = _cache.get(key) if key else None
  if cached is not None:
    checkpoint, layout = cached
  else:
    try:
      reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    except tf.errors.OpError as e:
      raise _errors.checkpoint_error_class(e)(
          'Cannot read checkpoint %r (from %r): %s%s' %
          (prefix, origin, e, _not_a_checkpoint_hint(prefix))) from e
    except ValueError as e:
      raise _errors.CheckpointNotFoundError(
          'Cannot read checkpoint %r (from %r): %s' % (prefix, origin, e)
      ) from e
    shapes = {
        name: tuple(shape)
        for name, shape in reader.get_variable_to_shape_map().items()
    }
    dtypes = dict(reader.get_variable_to_dtype_map())
    checkpoint = Checkpoint(
        prefix=prefix, origin=origin, shapes=shapes, dtypes=dtypes)
    layout = _read_layout(prefix)
    if key:
      with _cache_lock:
        _cache[key] = (checkpoint, layout)
  if layout is not None:
    _check_data_files(prefix, origin, layout)
  if checkpoint.origin != origin:
    checkpoint = dataclasses.replace(checkpoint, origin=origin)
  return checkpoint
