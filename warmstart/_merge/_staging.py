"""The staging folder of a merge: named after its writer, found by name.

A merge into `<dir>/<name>` writes into the hidden folder
`<dir>/.<name>.merge-<fingerprint>-<pid>-<start>-<token>@<host>` and removes
it last, after the commit. Its name says who owns it: the writing process
(pid, and its start time where `/proc` tells it, so a reused pid is not
taken for the writer) on which host, and a fingerprint of the merge (its
plan and `overwrite`), so that a rerun of the same command can recognize the
output a dead run already committed (see `_debris`).

A writer on another host cannot be checked and counts as alive. Folders of
earlier warmstart versions are `.<name>.merge-<12 hex digits>` (`is_legacy`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import socket
import threading
import uuid
from typing import Any, Optional

import tensorflow as tf
from absl import logging

from warmstart._merge import _files

_OWNER = re.compile(r'([0-9a-f]{12})-(\d+)-(\d+)-([0-9a-f]{8})@(.+)')
_LEGACY = re.compile(r'[0-9a-f]{12}')
_LONGEST_STEM = 120

# Staging folders of merges running in this process (pid checks cannot tell
# a live merge of this process from one of a dead process with the same pid).
_active: set[str] = set()
_active_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Folder:
  """A staging folder found next to an output.

  Attributes:
    path: Its path.
    fingerprint: The fingerprint of its merge ('' for a legacy folder).
    pid: The writing process.
    start: That process's start time in clock ticks ('0' if unknown).
    host: The writing host.
  """

  path: str
  fingerprint: str = ''
  pid: int = 0
  start: str = '0'
  host: str = ''

  @property
  def is_legacy(self) -> bool:
    return not self.fingerprint


def fingerprint(*parts: Any) -> str:
  """12 hex digits identifying a merge (its plan, output and overwrite)."""
  text = json.dumps(parts, sort_keys=True, default=str)
  return hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]


def _host() -> str:
  return re.sub(r'[^A-Za-z0-9._-]', '_', socket.gethostname()) or 'localhost'


def _stem(output: str) -> str:
  """The hidden-name stem of `output` (long names shortened, kept unique)."""
  base = os.path.basename(output)
  if len(base) > _LONGEST_STEM:
    base = '%s~%s' % (base[:100],
                      hashlib.sha256(base.encode('utf-8')).hexdigest()[:10])
  return '.%s.merge-' % base


def _proc_stat(pid: int) -> Optional[tuple[str, str]]:
  """(state, start time) of process `pid` from /proc; None if unknown."""
  try:
    with open('/proc/%d/stat' % pid, encoding='utf-8',
              errors='replace') as f:
      stat = f.read()
  except OSError:
    return None
  fields = stat[stat.rfind(')') + 2:].split()
  if len(fields) < 20:
    return None
  return fields[0], fields[19]  # Fields 3 (state) and 22 (starttime).


def _own_start() -> str:
  stat = _proc_stat(os.getpid())
  return stat[1] if stat else '0'


def is_alive(folder: Folder) -> bool:
  """Whether the writer of `folder` may still be running.

  A writer on another host cannot be checked and counts as alive.
  """
  if folder.host != _host():
    return True
  if folder.pid == os.getpid() and folder.start == _own_start():
    with _active_lock:
      return folder.path in _active
  try:
    os.kill(folder.pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    pass  # It exists, run by another user.
  stat = _proc_stat(folder.pid)
  if stat is None:
    return True
  state, start = stat
  return state != 'Z' and (folder.start == '0' or start == folder.start)


def find(output: str) -> list[Folder]:
  """The staging folders of merges into `output`, by listing its directory."""
  directory = os.path.dirname(output)
  stem = _stem(output)
  folders = []
  for name in _files.list_names(directory or '.'):
    if not name.startswith(stem):
      continue
    path = os.path.join(directory, name)
    owner = _OWNER.fullmatch(name, len(stem))
    if owner:
      folders.append(Folder(path=path, fingerprint=owner.group(1),
                            pid=int(owner.group(2)), start=owner.group(3),
                            host=owner.group(5)))
    elif _LEGACY.fullmatch(name, len(stem)):
      folders.append(Folder(path=path))
  return folders


def create(output: str, merge_fingerprint: str) -> str:
  """Creates the staging folder of a merge into `output`; returns its path.

  The output's directory must exist.
  """
  name = '%s%s-%d-%s-%s@%s' % (_stem(output), merge_fingerprint, os.getpid(),
                               _own_start(), uuid.uuid4().hex[:8], _host())
  path = os.path.join(os.path.dirname(output), name)
  with _active_lock:
    _active.add(path)
  try:
    tf.io.gfile.mkdir(path)
  except BaseException:
    with _active_lock:
      _active.discard(path)
    raise
  return path


def remove(path: str) -> None:
  """Removes a staging folder (the last step of a merge, or of a failure)."""
  try:
    if tf.io.gfile.exists(path):
      tf.io.gfile.rmtree(path)
  except tf.errors.OpError as e:
    logging.warning('Could not remove the staging folder %s: %s (the next '
                    'merge into the same output removes it).', path, e)
  finally:
    with _active_lock:
      _active.discard(path)


def busy_error(output: str, folder: Folder) -> FileExistsError:
  """The error for a merge into `output` while `folder`'s writer runs."""
  return FileExistsError(
      'Another merge into %r is running (pid %d on host %s): its staging '
      'folder %r exists. Wait for it to finish; if it is not running, delete '
      'that folder.' % (output, folder.pid, folder.host, folder.path))


def check_alone(output: str, own: str) -> None:
  """Checks, just before a commit, that no other merge into `output` runs.

  Args:
    output: The output prefix.
    own: The staging folder of the merge about to commit.

  Raises:
    FileExistsError: another merge started meanwhile; nothing was changed.
  """
  for f in find(output):
    if f.path != own and not f.is_legacy and is_alive(f):
      raise busy_error(output, f)
