"""Where a merge may write: the checks on its output prefix.

Every check runs before anything is written. The output may not be a
directory, may not hold a glob character (no TF reader could open it), and
may not be one of the sources however it is reached: through a symlinked
directory, or with a source's files being links to the output's files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import tensorflow as tf

from warmstart import _errors
from warmstart._merge import _files


def check_path(output: str) -> None:
  """Checks the output prefix itself.

  Args:
    output: The output checkpoint prefix.

  Raises:
    SettingsError: it is empty, holds a glob character or is a directory.
  """
  if not output:
    raise _errors.SettingsError('The output checkpoint prefix is empty.')
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


def check_not_a_source(output: str, sources: Sequence[str]) -> None:
  """Checks that writing `output` cannot change a source.

  Args:
    output: The output checkpoint prefix.
    sources: The source checkpoint prefixes.

  Raises:
    SettingsError: `output` is a source, or a source's file is (a link to) a
      file of `output`; the message names both paths.
  """
  resolved = _files.resolve_prefix(output)
  for source in sources:
    if _files.resolve_prefix(source) == resolved:
      raise _errors.SettingsError(
          'Output %r is one of the sources: %r (both are %r); write the merge '
          'to a new prefix.' % (output, source, resolved))
    files = [source + '.index'] + [
        f.path for f in _files.data_files(source)]
    for path in files:
      if not _files.is_local(path) or not os.path.islink(path):
        continue
      target = _files.resolve(path)
      if _files.is_file_of(target, resolved):
        raise _errors.SettingsError(
            'Output %r is one of the sources: %r of source %r is a link to %r, '
            'a file of the output; write the merge to a new prefix.' %
            (output, path, source, target))
