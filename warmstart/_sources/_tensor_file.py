"""What every reader of a foreign weights file offers, and the dtypes TF takes.

A reader (`_safetensors`, `_npz`, `_hdf5`) validates the whole file's
header or directory when it is opened, then lists its tensors (`TensorInfo`,
sorted by name) and reads one tensor at a time on request. Its faults are
`SourceFormatError`s that name the file and the fault (`format_error`).
"""

from __future__ import annotations

import abc
import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
import tensorflow as tf

from warmstart import _errors

#: The numpy dtypes a reader may return, each with its TF dtype: bool, the
#: signed and unsigned integers, float16/bfloat16/float32/float64, complex.
_TF_DTYPES: dict[np.dtype, tf.DType] = {
    np.dtype(tf_dtype.as_numpy_dtype): tf_dtype for tf_dtype in (
        tf.bool, tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8, tf.uint16,
        tf.uint32, tf.uint64, tf.float16, tf.bfloat16, tf.float32,
        tf.float64, tf.complex64, tf.complex128)
}

#: The dtypes above by name, for messages ('bfloat16, bool, ...').
SUPPORTED_DTYPES = ', '.join(sorted(str(d.name) for d in _TF_DTYPES.values()))


@dataclasses.dataclass(frozen=True)
class TensorInfo:
  """One tensor of a foreign weights file, as its header declares it.

  Attributes:
    name: The tensor's name (each format's naming rule: its reader's
      docstring).
    shape: Its dimensions (`()` for a scalar).
    dtype: Its TF dtype.
    nbytes: The bytes of its value (`prod(shape) * dtype.size`).
  """

  name: str
  shape: tuple[int, ...]
  dtype: tf.DType
  nbytes: int


def tf_dtype(dtype: np.dtype) -> Optional[tf.DType]:
  """The TF dtype of numpy `dtype` (either byte order), or None if TF has none.

  Object, string, structured, void and datetime dtypes have none here.
  """
  if dtype.names is not None or dtype.hasobject or dtype.subdtype is not None:
    return None
  return _TF_DTYPES.get(dtype.newbyteorder('='))


def info(name: str, shape: Sequence[int], dtype: tf.DType) -> TensorInfo:
  """A `TensorInfo`, its size computed."""
  shape = tuple(int(d) for d in shape)
  return TensorInfo(name, shape, dtype, math.prod(shape) * dtype.size)


def native(array: np.ndarray) -> np.ndarray:
  """`array` in the machine's byte order (itself if it already is)."""
  if array.dtype.isnative:
    return array
  return array.astype(array.dtype.newbyteorder('='))


def format_error(path: str, what: str,
                 fault: str) -> _errors.SourceFormatError:
  """`Cannot read 'path' as <what>: <fault>` as a `SourceFormatError`."""
  return _errors.SourceFormatError('Cannot read %r as %s: %s' %
                                   (path, what, fault))


class Reader(abc.ABC):
  """A foreign weights file, opened: its tensors listed, each read on request.

  The file's header or directory is read and checked whole when the reader
  is built: `tensors()` never fails, and `read` fails only where the data
  itself is damaged (a compressed member with a bad checksum, a truncated
  HDF5 chunk). Use it as a context manager, or call `close()`.

  Attributes:
    path: The file.
    format: Its format (`_foreign.SAFETENSORS`, `NPZ` or `HDF5`).
  """

  format: str = ''

  def __init__(self, path: str) -> None:
    self.path = os.fspath(path)
    self._infos: dict[str, TensorInfo] = {}
    self._closed = False

  def __enter__(self) -> Reader:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def tensors(self) -> list[TensorInfo]:
    """Every tensor of the file, sorted by name."""
    return [self._infos[name] for name in sorted(self._infos)]

  def read(self, name: str) -> np.ndarray:
    """The value of tensor `name`, in the dtype `tensors()` says.

    Args:
      name: A name `tensors()` lists.

    Returns:
      An array of the tensor's shape and exact dtype (bfloat16 as
      `tf.bfloat16.as_numpy_dtype`), in the machine's byte order.

    Raises:
      TensorNotFoundError: the file holds no tensor `name`.
      SourceFormatError: the tensor's data is damaged.
      ValueError: the reader is closed.
    """
    if self._closed:
      raise ValueError('The reader of %r is closed.' % self.path)
    if name not in self._infos:
      raise _errors.TensorNotFoundError(
          '%r holds no tensor %r.%s' % (self.path, name, _errors.did_you_mean(
              name, self._infos)))
    info_ = self._infos[name]
    value = native(self._read(name))
    if value.shape != info_.shape or tf_dtype(value.dtype) != info_.dtype:
      raise format_error(
          self.path, self.format,
          'tensor %r reads as %s %s, but its header declares %s %s.' %
          (name, value.dtype, value.shape, info_.dtype.name, info_.shape))
    return value

  def close(self) -> None:
    """Releases the file (arrays already read stay valid)."""
    if not self._closed:
      self._closed = True
      self._close()

  @abc.abstractmethod
  def _read(self, name: str) -> np.ndarray:
    """The value of the (listed) tensor `name`."""

  @abc.abstractmethod
  def _close(self) -> None:
    """Releases the file."""
