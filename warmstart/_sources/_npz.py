"""Reads an npz archive (numpy.savez, savez_compressed) one array at a time.

An npz file is a zip archive of `.npy` files. A tensor's name is its
member's name without the `.npy` suffix, as `numpy.load` names its keys:
`numpy.savez(f, **{'dense/kernel': k})` writes member `dense/kernel.npy`,
tensor `dense/kernel`; positional arrays are `arr_0`, `arr_1`, ...

When opened, the reader checks the archive's directory and each member's
`.npy` header (shape, dtype, order; a compressed member is decompressed
only that far) and refuses, naming the member:

* a member that is not a `.npy` file, a name held twice, an encrypted one;
* a pickled object array (never loaded: `allow_pickle=False`);
* a dtype TF has not: strings and bytes (refused rather than mapped to
  `tf.string`: numpy's fixed-width, padded text is no checkpoint value of
  weights), structured, void, datetime;
* a header whose shape and dtype disagree with the bytes the archive
  records for the member, or a member recording more bytes than its
  compressed data can expand to (a "zip bomb"): the memory a `read` takes
  is bounded by the archive's own sizes.

`read` decompresses its member only. Complex arrays are read (TF has
complex64 and complex128); big-endian and Fortran-order arrays are returned
native and C-ordered.
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

from warmstart._sources import _tensor_file

_WHAT = 'npz'
_SUFFIX = '.npy'
#: Deflate expands at most about 1032 times (RFC 1951's longest match per
#: 2 bits); a member recording more is no deflate stream.
_MAX_DEFLATE_RATIO = 1032
_ENCRYPTED = 0x1
#: The errors a damaged archive raises while a member is read.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
            TypeError, SyntaxError, NotImplementedError, RuntimeError)


#: The .npy versions whose header numpy reads publicly.
_READ_HEADER = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}


class _NotReadable(Exception):
  """A .npy version `_READ_HEADER` has not."""


def _kind(dtype: np.dtype) -> str:
  """A phrase for a dtype TF has not, for messages."""
  if dtype.hasobject:
    return 'Python objects (a pickle, which warmstart never loads)'
  if dtype.kind in 'SU':
    return 'strings (%s)' % dtype
  if dtype.names is not None:
    return 'a structured dtype (%s)' % dtype
  return 'dtype %s' % dtype


class NpzReader(_tensor_file.Reader):
  """An npz archive; tensors are its members' names without `.npy`."""

  format = 'npz'

  def __init__(self, path: str) -> None:
    """Opens `path` and checks its directory and each member's header.

    Args:
      path: A local file.

    Raises:
      SourceFormatError: the archive is damaged or a member is not a
        numeric array TF takes (the message names the file and member).
    """
    super().__init__(path)
    self._members: dict[str, zipfile.ZipInfo] = {}
    try:
      self._zip = zipfile.ZipFile(self.path)
    except (zipfile.BadZipFile, ValueError, EOFError) as e:
      raise self._error('it is not a readable zip archive (truncated or '
                        'corrupt: %s).' % e) from None
    try:
      self._check(os.path.getsize(self.path))
    except BaseException:
      self._zip.close()
      raise

  def _error(self, fault: str) -> Exception:
    return _tensor_file.format_error(self.path, _WHAT, fault)

  def _check(self, archive_size: int) -> None:
    for member in self._zip.infolist():
      name = member.filename
      if not name.endswith(_SUFFIX) or member.is_dir():
        raise self._error(
            'member %r is not a .npy array (an npz archive holds only '
            '.npy files, as numpy.savez writes).' % name)
      key = name[:-len(_SUFFIX)]
      if key in self._members:
        raise self._error('member %r appears twice in the archive.' % name)
      if member.flag_bits & _ENCRYPTED:
        raise self._error('member %r is encrypted.' % name)
      self._check_sizes(member, archive_size)
      shape, dtype, header_size = self._header(member)
      tf_dtype = _tensor_file.tf_dtype(dtype)
      if tf_dtype is None:
        raise self._error('member %r holds %s, which TF cannot hold as a '
                          'weight (warmstart reads %s).' %
                          (name, _kind(dtype), _tensor_file.SUPPORTED_DTYPES))
      info = _tensor_file.info(key, shape, tf_dtype)
      if header_size + info.nbytes != member.file_size:
        raise self._error(
            'member %r declares shape %s of %s (%d bytes after its %d-byte '
            'header), but the archive records %d bytes for it.' %
            (name, list(shape), dtype, info.nbytes, header_size,
             member.file_size))
      self._members[key] = member
      self._infos[key] = info

  def _check_sizes(self, member: zipfile.ZipInfo, archive_size: int) -> None:
    """Refuses recorded sizes the archive cannot hold or expand to."""
    name = member.filename
    if member.header_offset + member.compress_size > archive_size:
      raise self._error(
          'member %r records %d compressed bytes at byte %d, past the end of '
          'the archive (%d bytes): it is truncated.' %
          (name, member.compress_size, member.header_offset, archive_size))
    if member.compress_type == zipfile.ZIP_STORED:
      limit = member.compress_size
    elif member.compress_type == zipfile.ZIP_DEFLATED:
      limit = member.compress_size * _MAX_DEFLATE_RATIO + 1024
    else:
      return
    if member.file_size > limit:
      raise self._error(
          'member %r records %d bytes, more than its %d stored bytes can '
          'hold or expand to.' % (name, member.file_size,
                                  member.compress_size))

  def _header(self, member: zipfile.ZipInfo) -> tuple[tuple[int, ...],
                                                      np.dtype, int]:
    """(shape, dtype, header bytes) of a member, from its .npy header."""
    name = member.filename
    try:
      with self._zip.open(member) as f:
        version = npy_format.read_magic(f)
        if version not in _READ_HEADER:
          raise _NotReadable(version)
        shape, _, dtype = _READ_HEADER[version](f)
        return tuple(shape), dtype, f.tell()
    except _NotReadable as e:
      raise self._error(
          'member %r is a .npy file of version %d.%d, whose UTF-8 header '
          'only structured arrays need (not weights).' % ((name,) +
                                                          e.args[0])) from None
    except _DAMAGED as e:
      raise self._error('member %r has no readable .npy header (%s).' %
                        (name, e)) from None

  def _read(self, name: str) -> np.ndarray:
    member = self._members[name]
    try:
      with self._zip.open(member) as f:
        value = npy_format.read_array(f, allow_pickle=False)
    except _DAMAGED as e:
      raise self._error('member %r cannot be read (%s: %s).' %
                        (member.filename, type(e).__name__, e)) from None
    if not value.flags.c_contiguous:  # Fortran order.
      value = np.array(value, order='C')
    return value

  def _close(self) -> None:
    self._zip.close()
