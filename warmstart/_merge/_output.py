"""Where a merge may write: the checks on its output prefix.

Every check runs before anything is written. The output may not be a
directory, may not hold a glob character (no TF reader could open it) or a
NUL (TF would write elsewhere), and may not be one of the sources however it
is reached: through a symlinked directory, a bind mount or a second mount of
the source's directory, or with a source's files being (hard or symbolic)
links to the output's files. Local paths are compared by identity (device
and inode), other filesystems (`gs://`) by their resolved paths.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional

import tensorflow as tf

from warmstart import _errors
from warmstart._merge import _files


def check_path(output: str) -> None:
  """Checks the output prefix itself.

  Args:
    output: The output checkpoint prefix.

  Raises:
    SettingsError: it is empty, holds a NUL or glob character or is a
      directory.
  """
  if not output:
    raise _errors.SettingsError('The output checkpoint prefix is empty.')
  if '\0' in output:
    at = output.index('\0')
    raise _errors.SettingsError(
        'Output prefix %r holds a NUL character (at position %d): '
        'TensorFlow\'s file functions would cut the path there and write to '
        '%r instead. Choose a prefix without it.' % (output, at, output[:at]))
  found = sorted({c for c in output if c in _files.GLOB_CHARS})
  if found:
    raise _errors.SettingsError(
        'Output prefix %r holds the glob character%s %s: TF looks checkpoint '
        'files up with glob patterns, so no TF reader could open it. Choose a '
        'prefix without any of %s.' %
        (output, '' if len(found) == 1 else 's',
         ' '.join(repr(c) for c in found),
         ' '.join(repr(c) for c in _files.GLOB_CHARS)))
  if tf.io.gfile.isdir(output) and not tf.io.gfile.exists(output + '.index'):
    raise _errors.SettingsError(
        'Output %r is a directory; give a checkpoint prefix such as %r.' %
        (output, os.path.join(output, 'merged.ckpt')))


def _same_directory(output: str, source: str) -> Optional[tuple[int, int]]:
  """The identity of their directory if `output` and `source` are one prefix.

  Their directories' identities are compared (not their paths), so a bind
  mount, a second mount of the volume or a linked directory is seen through.
  None when they differ, or a directory has no identity (not local).
  """
  if os.path.basename(output) != os.path.basename(source):
    return None
  directory = _files.identity(os.path.dirname(output) or '.')
  if directory is None or directory != _files.identity(
      os.path.dirname(source) or '.'):
    return None
  return directory


def _files_by_identity(prefix: str) -> dict[tuple[int, int], str]:
  """{identity: path} of the index and every data file of `prefix`."""
  found = {}
  for path in _files.files_of(prefix):
    key = _files.identity(path)
    if key is not None:
      found.setdefault(key, path)
  return found


def check_not_a_source(output: str, sources: Sequence[str]) -> None:
  """Checks that writing `output` cannot change a source.

  The output is a source when its prefix resolves to the source's (symlinks
  followed, on any filesystem), when its directory is the source's directory
  by identity (device and inode: a bind mount, a second mount of the same
  volume, a linked directory) under the same name, or when one of its files
  is a file of the source (a hard link, or a symlink either way).

  Args:
    output: The output checkpoint prefix.
    sources: The source checkpoint prefixes.

  Raises:
    SettingsError: `output` is a source, however reached; the message names
      both paths and how they meet.
  """
  resolved = _files.resolve_prefix(output)
  output_files = _files_by_identity(output)
  for source in sources:
    if _files.resolve_prefix(source) == resolved:
      raise _errors.SettingsError(
          'Output %r is one of the sources: %r (both are %r); write the merge '
          'to a new prefix.' % (output, source, resolved))
    directory = _same_directory(output, source)
    if directory is not None:
      raise _errors.SettingsError(
          'Output %r is one of the sources: %r. Their directories %r and %r '
          'are the same directory (device %d, inode %d), reached by two paths '
          '(a bind mount, a second mount of the volume or a linked '
          'directory); write the merge to a new prefix.' %
          ((output, source, os.path.dirname(output) or '.',
            os.path.dirname(source) or '.') + directory))
    for path in [source + '.index'] + [
        f.path for f in _files.data_files(source)]:
      if _files.is_local(path) and os.path.islink(path):
        target = _files.resolve(path)
        if _files.is_file_of(target, resolved):
          raise _errors.SettingsError(
              'Output %r is one of the sources: %r of source %r is a link to '
              '%r, a file of the output; write the merge to a new prefix.' %
              (output, path, source, target))
      identity = _files.identity(path)
      same = output_files.get(identity) if identity else None
      if same is not None:
        raise _errors.SettingsError(
            'Output %r is one of the sources: its file %r and %r of source %r '
            'are the same file (device %d, inode %d: a hard link, or a link '
            'to it); write the merge to a new prefix.' %
            ((output, same, path, source) + identity))
