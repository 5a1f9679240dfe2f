"""A foreign weights file's format, told by its content, and its reader.

warmstart takes, where it takes a checkpoint path, a `.safetensors` file, a
`.npz` archive or a Keras HDF5 weights file. `sniff` tells which from the
file's first bytes, whatever its name (`model.bin` may be safetensors), and
refuses PyTorch pickles without unpickling them; `open_reader` opens the
file with the reader of its format (`_safetensors`, `_npz`, `_hdf5`).

Example:

  fmt = sniff(path)
  if fmt is not None:
    with open_reader(path, fmt) as reader:
      for info in reader.tensors():
        value = reader.read(info.name)
"""

from __future__ import annotations

import io
import os
import pickletools
import re
import tarfile
import zipfile
from typing import Optional, Union

from warmstart import _errors
from warmstart._sources import _hdf5
from warmstart._sources import _npz
from warmstart._sources import _safetensors
from warmstart._sources import _tensor_file

SAFETENSORS = 'safetensors'
NPZ = 'npz'
HDF5 = 'hdf5'
FORMATS = (SAFETENSORS, NPZ, HDF5)

TensorInfo = _tensor_file.TensorInfo
Reader = _tensor_file.Reader

_READERS: dict[str, type[Reader]] = {
    SAFETENSORS: _safetensors.SafetensorsReader,
    NPZ: _npz.NpzReader,
    HDF5: _hdf5.Hdf5Reader,
}

_HDF5_SIGNATURE = b'\x89HDF\r\n\x1a\n'
#: A zip archive's local file header, or the end record of an empty one.
_ZIP_SIGNATURES = (b'PK\x03\x04', b'PK\x05\x06')
#: What `sniff` reads of a file (a tar header's magic is at byte 257).
_HEAD_BYTES = 512
#: A TF checkpoint's data file, never sniffed: its first bytes are a
#: tensor's, anything at all.
_DATA_FILE = re.compile(r'\.data-\d{5}-of-\d{5}$')
#: The opcodes `sniff` parses (never runs) after a pickle's PROTO opcode.
_PICKLE_OPCODES = 3
_TAR_MAGIC = b'ustar'
_TAR_MAGIC_AT = 257
#: Members of the tar archives of PyTorch's first format.
_TORCH_TAR_MEMBERS = frozenset({'sys_info', 'pickle', 'storages', 'tensors'})
_TAR_MEMBERS_READ = 8


def _pickle_error(path: str, what: str) -> _errors.SourceFormatError:
  return _errors.SourceFormatError(
      '%r is %s. warmstart never unpickles a file (unpickling runs code the '
      'file holds). Convert it to safetensors once, where you trust it, e.g. '
      'in PyTorch:\n'
      '  import torch\n'
      '  from safetensors.torch import save_file\n'
      '  save_file(torch.load(%r, weights_only=True), \'model.safetensors\')\n'
      '(for a whole model or a training checkpoint, save its state_dict(), '
      'or the dict of tensors you need), then pass model.safetensors.' %
      (path, what, path))


def _zip_format(path: str) -> Optional[str]:
  """NPZ for a zip of .npy files; refuses a PyTorch zip; else None."""
  try:
    with zipfile.ZipFile(path) as archive:
      names = archive.namelist()
  except (zipfile.BadZipFile, ValueError, EOFError) as e:
    raise _errors.SourceFormatError(
        '%r is a zip archive whose directory cannot be read (truncated or '
        'corrupt: %s).' % (path, e)) from None
  pickles = [n for n in names if n.endswith('.pkl')]
  if pickles:
    raise _pickle_error(
        path, 'a PyTorch file (a zip archive, as torch.save writes, whose '
        '%r is a pickle)' % pickles[0])
  if not names or any(n.endswith('.npy') for n in names):
    return NPZ
  return None


def _is_safetensors(head: bytes) -> bool:
  """The 8-byte header length, then a JSON object: `{"` or `{}`.

  The length itself is the reader's to check, so that a truncated file is
  reported as one.
  """
  if head[8:9] != b'{':
    return False
  rest = head[9:].lstrip(b' \t\r\n')
  return rest[:1] in (b'"', b'}') or (not rest and len(head) == _HEAD_BYTES)


def _is_pickle(head: bytes) -> bool:
  """A PROTO opcode (protocol 2 to 5), then opcodes that parse (not run)."""
  if len(head) < 3 or head[0] != 0x80 or not 2 <= head[1] <= 5:
    return False
  try:
    for count, (opcode, _, _) in enumerate(
        pickletools.genops(io.BytesIO(head)), 1):
      if count >= _PICKLE_OPCODES or opcode.name == 'STOP':
        return True
  except ValueError:  # An unknown opcode, or an argument cut short.
    return False
  return False


def _is_torch_tar(path: str) -> bool:
  """A tar archive whose first members are those of PyTorch's first format."""
  names = set()
  try:
    with tarfile.open(path, 'r:') as archive:
      for _ in range(_TAR_MEMBERS_READ):
        member = archive.next()
        if member is None:
          break
        names.add(member.name)
  except (tarfile.TarError, EOFError, ValueError):
    return False
  return bool(names & _TORCH_TAR_MEMBERS)


def _hdf5_in_userblock(f: io.BufferedReader, size: int) -> bool:
  """HDF5's signature at byte 512, 1024, 2048, ... (after a user block)."""
  offset = 512
  while offset + len(_HDF5_SIGNATURE) <= size:
    f.seek(offset)
    if f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
      return True
    offset *= 2
  return False


def _sniff_open(path: str, f: io.BufferedReader) -> Optional[str]:
  size = os.fstat(f.fileno()).st_size
  head = f.read(_HEAD_BYTES)
  if head.startswith(_HDF5_SIGNATURE):
    return HDF5
  if head[:4] in _ZIP_SIGNATURES:
    return _zip_format(path)
  if _is_safetensors(head):
    return SAFETENSORS
  if _is_pickle(head):
    raise _pickle_error(path, 'a Python pickle (as torch.save writes with '
                        '_use_new_zipfile_serialization=False)')
  if (head[_TAR_MAGIC_AT:_TAR_MAGIC_AT + len(_TAR_MAGIC)] == _TAR_MAGIC and
      _is_torch_tar(path)):
    raise _pickle_error(path, 'a PyTorch file of its first format (a tar '
                        'archive of pickles)')
  if _hdf5_in_userblock(f, size):
    return HDF5
  return None


def sniff(path: Union[str, os.PathLike]) -> Optional[str]:
  """The format of the weights file at `path`, from its content; else None.

  Reads a few bytes (a zip's or tar's directory for those): the HDF5
  signature at byte 0 (or 512, 1024, 2048, ... after a user block); a zip
  archive of `.npy` files (or an empty one); an 8-byte length then a JSON
  object (safetensors, checked no further: the reader checks the length).

  Args:
    path: A local path.

  Returns:
    `SAFETENSORS`, `NPZ` or `HDF5`; None for anything else: no such file, a
    directory, a TF checkpoint's files (a `.data-*` file by its name), a
    zip of other files, an unreadable file.

  Raises:
    SourceFormatError: a PyTorch file or another pickle (a zip with a
      `.pkl` member, as `torch.save` writes; a raw pickle of protocol 2 to
      5; PyTorch's legacy tar), refused with how to convert it to
      safetensors, never unpickled; a zip archive whose directory cannot
      be read.
  """
  path = os.fsdecode(os.fspath(path))
  if _DATA_FILE.search(path) or not os.path.isfile(path):
    return None
  try:
    with open(path, 'rb') as f:
      return _sniff_open(path, f)
  except OSError:
    return None


def open_reader(path: Union[str, os.PathLike], fmt: str) -> Reader:
  """Opens the weights file `path` with the reader of format `fmt`.

  The reader checks the file's whole header or directory first; use it as a
  context manager (or call `close()`).

  Args:
    path: A local file.
    fmt: `SAFETENSORS`, `NPZ` or `HDF5` (what `sniff` says).

  Returns:
    The reader: `tensors()` lists `TensorInfo`s sorted by name, `read(name)`
    returns one tensor's value.

  Raises:
    SourceFormatError: the file is malformed or holds a dtype TF has not
      (the message names the file and the fault); for HDF5, h5py is not
      installed.
    OSError: the file cannot be opened.
    ValueError: `fmt` is no format.
  """
  if fmt not in _READERS:
    raise ValueError('Unknown weights file format %r; one of %s.' %
                     (fmt, ', '.join(repr(f) for f in FORMATS)))
  return _READERS[fmt](os.fsdecode(os.fspath(path)))
