"""Tests of the foreign weights readers (`_foreign` and the readers it opens).

Each format's values round-trip against numpy, from files written by their
own tools (`safetensors.numpy.save_file`, `numpy.savez`, h5py, Keras 2's
`save_weights` and `save`, Keras 3 where installed) and by hand (struct and
json, zipfile) for every malformed case, each refused with a
`SourceFormatError` naming the file and the fault. PyTorch pickles are built
as bytes (`pickle.dumps`, zipfile, tarfile) and refused; the tests assert
nothing is ever unpickled.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import json
import os
import pathlib
import pickle
import re
import struct
import subprocess
import sys
import tarfile
import textwrap
import time
from typing import Any, Optional
import unittest
from unittest import mock
import warnings
import zipfile

from absl.testing import absltest
from absl.testing import parameterized
import h5py
import numpy as np
from numpy.lib import format as npy_format
import safetensors.numpy
import tensorflow as tf

import warmstart
from warmstart._sources import _foreign
from warmstart._sources import _safetensors
from tests import test_util

_BF16 = tf.bfloat16.as_numpy_dtype

#: One array of every dtype the readers return (safetensors has no complex128).
_ARRAYS = {
    'bool': np.array([[True, False, True]]),
    'int8': np.array([-128, 0, 127], np.int8),
    'int16': np.array([-3, 2], np.int16),
    'int32': np.arange(-6, 6, dtype=np.int32).reshape(3, 4),
    'int64': np.array([2**62, -(2**62)], np.int64),
    'uint8': np.array([0, 255], np.uint8),
    'uint16': np.array([65535], np.uint16),
    'uint32': np.array([2**32 - 1, 7], np.uint32),
    'uint64': np.array([2**64 - 1], np.uint64),
    'float16': np.array([0.5, -1.25, 65504.], np.float16),
    'bfloat16': np.array([1.5, -2., 3.0e38], _BF16),
    'float32': np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4),
    'float64': np.array([np.pi, -np.e]),
    'complex64': np.array([1 + 2j, -3j], np.complex64),
    'scalar': np.array(7.5, np.float32),
    'zero_size': np.zeros([0, 3], np.float32),
    'dense/kernel': np.arange(6, dtype=np.float32).reshape(2, 3),
}


def _file_re(path: str, fault: str) -> str:
  """A message that names `path` (quoted) and then `fault` (a regex)."""
  return re.escape(repr(path)) + '.*' + fault


# safetensors, by hand.

_CODES = {
    np.dtype(np.bool_): 'BOOL', np.dtype(np.int8): 'I8',
    np.dtype(np.int16): 'I16', np.dtype(np.int32): 'I32',
    np.dtype(np.int64): 'I64', np.dtype(np.uint8): 'U8',
    np.dtype(np.uint16): 'U16', np.dtype(np.uint32): 'U32',
    np.dtype(np.uint64): 'U64', np.dtype(np.float16): 'F16',
    np.dtype(_BF16): 'BF16', np.dtype(np.float32): 'F32',
    np.dtype(np.float64): 'F64', np.dtype(np.complex64): 'C64',
}


def _raw_safetensors(path: str, header: Any, data: bytes = b'',
                     length: Optional[int] = None) -> str:
  """Writes a safetensors file by hand: `header` (an object, str or bytes)."""
  if not isinstance(header, (str, bytes)):
    header = json.dumps(header)
  if isinstance(header, str):
    header = header.encode('utf-8')
  with open(path, 'wb') as f:
    f.write(struct.pack('<Q', len(header) if length is None else length))
    f.write(header)
    f.write(data)
  return path


def _safetensors_of(path: str, arrays: dict[str, np.ndarray]) -> str:
  """Writes `arrays` as safetensors by hand (bfloat16 too), back to back."""
  header, data = {}, b''
  for name, array in arrays.items():
    raw = np.ascontiguousarray(array).tobytes()
    header[name] = {'dtype': _CODES[array.dtype], 'shape': list(array.shape),
                    'data_offsets': [len(data), len(data) + len(raw)]}
    data += raw
  return _raw_safetensors(path, header, data)


def _entry(dtype: str = 'F32', shape: Any = (2,),
           offsets: Any = (0, 8)) -> dict[str, Any]:
  return {'dtype': dtype, 'shape': list(shape) if isinstance(
      shape, tuple) else shape, 'data_offsets': list(offsets) if isinstance(
          offsets, tuple) else offsets}


# npz, by hand.


def _npy(array: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  npy_format.write_array(buffer, array, allow_pickle=False)
  return buffer.getvalue()


def _npy_header(shape: tuple[int, ...], dtype: str = '<f8') -> bytes:
  buffer = io.BytesIO()
  npy_format.write_array_header_1_0(
      buffer, {'descr': dtype, 'fortran_order': False, 'shape': shape})
  return buffer.getvalue()


def _zip(path: str, members: dict[str, bytes],
         compression: int = zipfile.ZIP_STORED) -> str:
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # "Duplicate name".
    with zipfile.ZipFile(path, 'w', compression) as archive:
      for name, data in members.items() if isinstance(members, dict) else (
          members):
        archive.writestr(name, data)
  return path


def _values(path: str, fmt: Optional[str] = None) -> dict[str, np.ndarray]:
  """Every tensor of `path`, checking each against its `TensorInfo`."""
  fmt = fmt or _foreign.sniff(path)
  out = {}
  with _foreign.open_reader(path, fmt) as reader:
    infos = reader.tensors()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    for info in infos:
      value = reader.read(info.name)
      assert value.shape == info.shape, (info, value.shape)
      assert tf.as_dtype(value.dtype) == info.dtype, (info, value.dtype)
      assert value.nbytes == info.nbytes, (info, value.nbytes)
      out[info.name] = value
  return out


def _keras_major() -> int:
  """The major version of the `keras` distribution, or 0 without one."""
  if importlib.util.find_spec('keras') is None:
    return 0
  return int(importlib.metadata.version('keras').split('.')[0])


class _TestCase(parameterized.TestCase):

  def path(self, name: str) -> str:
    return os.path.join(self.create_tempdir().full_path, name)

  def assertSameValues(self, want: dict[str, np.ndarray],
                       got: dict[str, np.ndarray]) -> None:
    self.assertEqual(sorted(want), sorted(got))
    for name, array in want.items():
      self.assertEqual(array.dtype, got[name].dtype, name)
      self.assertEqual(array.shape, got[name].shape, name)
      np.testing.assert_array_equal(array, got[name], err_msg=name)

  def assertRefused(self, path: str, fault: str, fmt: Optional[str] = None):
    """`open_reader` (with `fmt`, else what `sniff` says) refuses `path`."""
    with self.assertRaisesRegex(warmstart.SourceFormatError,
                                _file_re(path, fault)):
      with _foreign.open_reader(path, fmt or _foreign.sniff(path)):
        pass


class SniffTest(_TestCase):

  def test_safetensors_by_content_whatever_its_name(self):
    path = self.path('pytorch_model.bin')
    safetensors.numpy.save_file({'a': np.ones(3, np.float32)}, path)
    self.assertEqual(_foreign.SAFETENSORS, _foreign.sniff(path))

  def test_npz_by_content_whatever_its_name(self):
    for save in (np.savez, np.savez_compressed):
      path = self.path('weights.dat')
      with open(path, 'wb') as f:
        save(f, a=np.ones(3))
      self.assertEqual(_foreign.NPZ, _foreign.sniff(path))
    empty = self.path('empty.npz')
    np.savez(empty)
    self.assertEqual(_foreign.NPZ, _foreign.sniff(empty))

  def test_hdf5_by_content_with_and_without_a_user_block(self):
    for userblock in (0, 512, 4096):
      path = self.path('weights')
      with h5py.File(path, 'w', userblock_size=userblock) as f:
        f['w'] = np.arange(3.)
      self.assertEqual(_foreign.HDF5, _foreign.sniff(path), userblock)
      self.assertSameValues({'w': np.arange(3.)}, _values(path))

  def test_what_is_no_foreign_file_is_none(self):
    directory = self.create_tempdir().full_path
    prefix = os.path.join(directory, 'model.ckpt')
    # A tensor whose first bytes read as a pickle's PROTO 2 and LONG1.
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=['w'],
                      shape_and_slices=[''],
                      tensors=[tf.constant(np.frombuffer(
                          b'\x80\x02\x8a\x0a' * 4, np.float32))])
    text = self.path('notes.txt')
    with open(text, 'w') as f:
      f.write('{"not": "weights"}')
    empty = self.path('empty')
    open(empty, 'wb').close()
    bytes_00 = self.path('blob')
    with open(bytes_00, 'wb') as f:
      f.write(b'\x80\x02\x00' + bytes(100))  # PROTO 2, then no opcode.
    other_zip = _zip(self.path('model.keras'), {'config.json': b'{}'})
    other_tar = self.path('ckpt.tar')
    with tarfile.open(other_tar, 'w') as tar:
      tar.add(text, 'notes.txt')
    for path in (prefix, prefix + '.index',
                 prefix + '.data-00000-of-00001', directory,
                 os.path.join(directory, 'missing.safetensors'), text, empty,
                 bytes_00, other_zip, other_tar):
      self.assertIsNone(_foreign.sniff(path), path)

  def test_path_like_and_bytes(self):
    path = self.path('x.safetensors')
    safetensors.numpy.save_file({'a': np.ones(1, np.float32)}, path)
    self.assertEqual(_foreign.SAFETENSORS, _foreign.sniff(pathlib.Path(path)))
    self.assertEqual(_foreign.SAFETENSORS, _foreign.sniff(os.fsencode(path)))

  def test_unknown_format(self):
    with self.assertRaisesRegex(ValueError, "'pt'.*'safetensors'"):
      _foreign.open_reader(self.path('x'), 'pt')


class PickleTest(_TestCase):
  """PyTorch files are refused with how to convert them, never unpickled."""

  _HINT = (r'never unpickles.*from safetensors\.torch import save_file.*'
           r'save_file\(torch\.load\(.*weights_only=True\), '
           r"'model\.safetensors'\).*state_dict\(\)")

  def assertPickleRefused(self, path: str, what: str) -> None:
    with mock.patch.object(pickle, 'loads', side_effect=AssertionError), \
        mock.patch.object(pickle, 'load', side_effect=AssertionError), \
        mock.patch.object(pickle, 'Unpickler', side_effect=AssertionError):
      with self.assertRaisesRegex(warmstart.SourceFormatError,
                                  '(?s)' + re.escape(repr(path)) + ' is ' +
                                  what + '.*' + self._HINT) as raised:
        _foreign.sniff(path)
    self.assertIsInstance(raised.exception, warmstart.CheckpointNotFoundError)
    self.assertIsInstance(raised.exception, tf.errors.DataLossError)
    self.assertIsInstance(raised.exception, ValueError)
    self.assertIn(repr(path), str(raised.exception).split('save_file(')[1])

  def test_torch_zip(self):
    # torch.save's layout: <archive>/data.pkl, data/<storage>, version.
    path = _zip(self.path('pytorch_model.bin'), {
        'archive/data.pkl': pickle.dumps({'w': 'storage 0'}, protocol=2),
        'archive/byteorder': b'little',
        'archive/data/0': bytes(16),
        'archive/version': b'3\n',
    })
    self.assertPickleRefused(path, r"a PyTorch file .*'archive/data\.pkl'")

  @parameterized.parameters(2, 3, 4, 5)
  def test_raw_pickle(self, protocol):
    path = self.path('model.pt')
    with open(path, 'wb') as f:
      f.write(pickle.dumps({'w': [1.0, 2.0]}, protocol=protocol))
    self.assertPickleRefused(path, 'a Python pickle')

  def test_torch_legacy_pickle(self):
    # _use_new_zipfile_serialization=False: pickles, the first the magic
    # number (a LONG1), then the protocol version and system info.
    path = self.path('model.pth')
    with open(path, 'wb') as f:
      f.write(pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2))
      f.write(pickle.dumps(1001, protocol=2))
    self.assertPickleRefused(path, 'a Python pickle')

  def test_torch_legacy_tar(self):
    path = self.path('model.ckpt')
    with tarfile.open(path, 'w') as tar:
      for name in ('sys_info', 'pickle', 'tensors', 'storages'):
        data = pickle.dumps({'name': name}, protocol=2)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    self.assertPickleRefused(path, 'a PyTorch file of its first format')

  def test_npz_with_a_pickled_object_array(self):
    path = self.path('objects.npz')
    np.savez(path, ok=np.ones(2), objects=np.array([{'a': 1}, None],
                                                    dtype=object))
    self.assertEqual(_foreign.NPZ, _foreign.sniff(path))
    with mock.patch.object(pickle, 'loads', side_effect=AssertionError), \
        mock.patch.object(pickle, 'load', side_effect=AssertionError):
      self.assertRefused(path, "member 'objects.npy' holds Python objects "
                         r'\(a pickle, which warmstart never loads\)')


class SafetensorsTest(_TestCase):

  def test_values_round_trip(self):
    path = self.path('model.safetensors')
    arrays = {k: v for k, v in _ARRAYS.items() if k != 'bfloat16'}
    safetensors.numpy.save_file(arrays, path, metadata={'format': 'np'})
    self.assertSameValues(arrays, _values(path))
    # Every dtype, bfloat16 too, by hand.
    by_hand = _safetensors_of(self.path('by_hand.safetensors'), _ARRAYS)
    self.assertSameValues(_ARRAYS, _values(by_hand))

  def test_infos(self):
    path = _safetensors_of(self.path('m.safetensors'), _ARRAYS)
    with _foreign.open_reader(path, _foreign.SAFETENSORS) as reader:
      self.assertEqual(_foreign.SAFETENSORS, reader.format)
      self.assertEqual(path, reader.path)
      infos = {i.name: i for i in reader.tensors()}
    self.assertEqual(
        _foreign.TensorInfo('bfloat16', (3,), tf.bfloat16, 6),
        infos['bfloat16'])
    self.assertEqual(_foreign.TensorInfo('scalar', (), tf.float32, 4),
                     infos['scalar'])
    self.assertEqual(_foreign.TensorInfo('zero_size', (0, 3), tf.float32, 0),
                     infos['zero_size'])

  def test_read_reads_only_that_tensor_into_an_array_of_its_own(self):
    # No memory map: a map's pages would stay in the process' RSS.
    path = _safetensors_of(self.path('m.safetensors'),
                           {'a': np.arange(4, dtype=np.float32),
                            'b': np.ones(3, np.int8)})
    with _foreign.open_reader(path, _foreign.SAFETENSORS) as reader:
      with mock.patch.object(os, 'preadv', wraps=os.preadv) as preadv:
        value = reader.read('a')
      self.assertEqual([16], [len(c.args[1][0]) for c in preadv.mock_calls])
    self.assertTrue(value.flags.owndata or value.base is not None)
    self.assertTrue(value.flags.writeable)
    np.testing.assert_array_equal(np.arange(4, dtype=np.float32), value)

  def test_a_file_cut_after_it_was_opened_is_named_at_the_read(self):
    path = _safetensors_of(self.path('m.safetensors'),
                           {'a': np.arange(4, dtype=np.float32)})
    with _foreign.open_reader(path, _foreign.SAFETENSORS) as reader:
      os.truncate(path, os.path.getsize(path) - 8)
      with self.assertRaisesRegex(warmstart.SourceFormatError,
                                  "tensor 'a': the file ended after 8 of "
                                  'its 16 bytes'):
        reader.read('a')

  def test_metadata_padding_unknown_fields_and_a_hole(self):
    a = np.arange(2, dtype=np.float32)
    b = np.array([7, 8], np.int32)
    header = {'__metadata__': {'format': 'pt'},
              'a': dict(_entry(), extra='ignored'),
              'b': _entry('I32', (2,), (16, 24))}  # Bytes 8 to 16: a hole.
    path = _raw_safetensors(self.path('m.safetensors'),
                            json.dumps(header) + '   ',
                            a.tobytes() + b'\xff' * 8 + b.tobytes())
    self.assertSameValues({'a': a, 'b': b}, _values(path))
    with _foreign.open_reader(path, _foreign.SAFETENSORS) as reader:
      self.assertEqual({'format': 'pt'}, reader.metadata)

  def test_empty_and_bracketed_names(self):
    path = self.path('empty.safetensors')
    safetensors.numpy.save_file({}, path)
    self.assertEqual({}, _values(path))
    name = 'a[[[[{{{"b'
    path = _safetensors_of(self.path('names.safetensors'),
                           {name: np.ones(1, np.float32)})
    self.assertEqual([name], list(_values(path)))

  @parameterized.named_parameters(
      ('not_an_object', {'a': 3}, r"tensor 'a': its entry is a JSON int"),
      ('no_dtype', {'a': {'shape': [2], 'data_offsets': [0, 8]}},
       r"tensor 'a': its entry has no 'dtype'"),
      ('no_shape_or_offsets', {'a': {'dtype': 'F32'}},
       r"tensor 'a': its entry has no 'shape', 'data_offsets'"),
      ('dtype_not_a_string', {'a': _entry(dtype=5)},
       r"tensor 'a': its dtype 5 is not a string"),
      ('float8', {'a': _entry(dtype='F8_E4M3')},
       r"tensor 'a' has dtype 'F8_E4M3', which warmstart does not read "
       r'\(supported: BOOL, U8, .*BF16.*\)'),
      ('unknown_dtype', {'a': _entry(dtype='Q7')},
       r"tensor 'a' has dtype 'Q7', which warmstart does not read"),
      ('shape_not_a_list', {'a': _entry(shape='2')},
       r"tensor 'a': its shape '2' is not a list of integers"),
      ('float_dim', {'a': _entry(shape=[2.0])},
       r"tensor 'a': its shape \[2.0\] is not a list of integers"),
      ('bool_dim', {'a': _entry(shape=[True, 2])},
       r"tensor 'a': its shape \[True, 2\] is not a list of integers"),
      ('negative_dim', {'a': _entry(shape=[-1, -2])},
       r"tensor 'a': its shape \[-1, -2\] has a negative dimension"),
      ('one_offset', {'a': _entry(offsets=[0])},
       r"tensor 'a': its data_offsets \[0\] are not two integers"),
      ('string_offset', {'a': _entry(offsets=['0', 8])},
       r"tensor 'a': its data_offsets \['0', 8\] are not two integers"),
      ('begin_after_end', {'a': _entry(offsets=[8, 0])},
       r"tensor 'a': its data_offsets \[8, 0\] begin after they end"),
      ('negative_begin', {'a': _entry(offsets=[-8, 0])},
       r"tensor 'a': its data_offsets \[-8, 0\] begin after they end "
       r'\(or before 0\)'),
      ('past_the_data', {'a': _entry(offsets=[8, 16])},
       r"tensor 'a': its data_offsets \[8, 16\] end past the data area "
       r'\(8 bytes'),
      ('wrong_size', {'a': _entry(shape=[3])},
       r"tensor 'a': its data_offsets \[0, 8\] span 8 bytes, but its shape "
       r'\[3\] of F32 needs 12'),
      ('overlap', {'a': _entry(shape=[2], offsets=[0, 8]),
                   'b': _entry(shape=[1], offsets=[4, 8])},
       r"tensors 'a' and 'b' overlap \(bytes 4 to 8"),
      ('metadata_not_strings', {'__metadata__': {'n': 1}},
       r'its "__metadata__" is not an object of strings'),
      ('not_an_object_header', [1, 2], r'its header is a JSON list, not an '
       r'object'),
      ('not_json', '{"a": ', r'its header is not valid JSON'),
      ('duplicate', '{"a": %s, "a": %s}' % (json.dumps(_entry()),
                                           json.dumps(_entry())),
       r"its header names 'a' twice"),
      ('not_utf8', b'{"\xff": 1}', r'its header is not UTF-8 \(byte 2'),
  )
  def test_malformed_header(self, header, fault):
    path = _raw_safetensors(self.path('bad.safetensors'), header, bytes(8))
    self.assertRefused(path, r'as safetensors: ' + fault, _foreign.SAFETENSORS)

  def test_file_too_short(self):
    path = self.path('short.safetensors')
    with open(path, 'wb') as f:
      f.write(b'\x02\x00')
    self.assertRefused(path, 'the file has 2 bytes, fewer than the 8',
                       _foreign.SAFETENSORS)

  def test_header_past_the_file(self):
    path = _raw_safetensors(self.path('cut.safetensors'), '{}', length=1000)
    self.assertEqual(_foreign.SAFETENSORS, _foreign.sniff(path))
    self.assertRefused(path, 'its header length is 1000 bytes, but the file '
                       r'holds only 2 bytes after the length \(truncated')

  def test_truncated_data(self):
    path = self.path('cut.safetensors')
    safetensors.numpy.save_file({'a': np.ones(100, np.float32)}, path)
    with open(path, 'r+b') as f:
      f.truncate(os.path.getsize(path) - 4)
    self.assertRefused(path, r"tensor 'a': its data_offsets \[0, 400\] end "
                       r'past the data area \(396 bytes after the header\): '
                       'the file is truncated')

  def test_huge_header_length_returns_at_once(self):
    path = _raw_safetensors(self.path('huge.safetensors'), '{}',
                            length=2**63)
    started = time.monotonic()
    self.assertRefused(path, 'its header length is %d bytes, past the limit '
                       'of 100000000' % 2**63)
    self.assertLess(time.monotonic() - started, 1.0)

  def test_header_over_the_cap(self):
    # A sparse file large enough to hold the header: the cap decides.
    path = _raw_safetensors(self.path('big.safetensors'), '{"a": ',
                            length=_safetensors.MAX_HEADER_BYTES + 1)
    with open(path, 'r+b') as f:
      f.truncate(_safetensors.MAX_HEADER_BYTES + 100)
    self.assertRefused(path, 'past the limit of 100000000')

  def test_json_bomb_returns_at_once(self):
    # 10 MB of brackets: refused from a count over the bytes, never parsed
    # (json.loads would recurse past Python's limit, or build it all).
    for prefix in ('{"a": ', '{"a": {"b": [', ''):
      path = _raw_safetensors(self.path('bomb.safetensors'),
                              prefix + '[' * 10_000_000)
      started = time.monotonic()
      self.assertRefused(path, 'its header nests more than 3 levels deep',
                         _foreign.SAFETENSORS)
      self.assertLess(time.monotonic() - started, 2.0)


class NpzTest(_TestCase):

  def _arrays(self) -> dict[str, np.ndarray]:
    arrays = {k: v for k, v in _ARRAYS.items() if k != 'bfloat16'}
    arrays['complex128'] = np.array([1 + 1e-300j])
    arrays['fortran'] = np.asfortranarray(np.arange(6.).reshape(2, 3))
    arrays['big_endian'] = np.arange(3, dtype='>i4')
    return arrays

  @parameterized.parameters(np.savez, np.savez_compressed)
  def test_values_round_trip(self, save):
    path = self.path('weights.dat')
    arrays = self._arrays()
    with open(path, 'wb') as f:
      save(f, np.ones(2), **arrays)  # The positional one is 'arr_0'.
    got = _values(path)
    want = dict(arrays, arr_0=np.ones(2))
    want['big_endian'] = want['big_endian'].astype('=i4')
    self.assertSameValues(want, got)
    self.assertTrue(got['fortran'].flags.c_contiguous)
    with _foreign.open_reader(path, _foreign.NPZ) as reader:
      info = {i.name: i for i in reader.tensors()}['big_endian']
    self.assertEqual(_foreign.TensorInfo('big_endian', (3,), tf.int32, 12),
                     info)

  def test_headers_only_until_read(self):
    path = self.path('w.npz')
    np.savez_compressed(path, a=np.ones(1000), b=np.zeros(3))
    with mock.patch.object(npy_format, 'read_array',
                           side_effect=AssertionError('data read')):
      with _foreign.open_reader(path, _foreign.NPZ) as reader:
        self.assertLen(reader.tensors(), 2)
    with _foreign.open_reader(path, _foreign.NPZ) as reader:
      real = npy_format.read_array
      with mock.patch.object(npy_format, 'read_array',
                             side_effect=real) as read_array:
        np.testing.assert_array_equal(np.zeros(3), reader.read('b'))
      self.assertEqual(1, read_array.call_count)

  def test_strings_are_refused(self):
    path = self.path('words.npz')
    np.savez(path, words=np.array(['a', 'bc']))
    self.assertRefused(path, r"member 'words.npy' holds strings \(<U2\), "
                       'which TF cannot hold as a weight')

  def test_a_member_that_is_no_npy(self):
    path = _zip(self.path('mixed.npz'),
                {'a.npy': _npy(np.ones(2)), 'notes.txt': b'hello'})
    self.assertEqual(_foreign.NPZ, _foreign.sniff(path))
    self.assertRefused(path, r"member 'notes.txt' is not a \.npy array")

  def test_a_member_twice(self):
    path = _zip(self.path('twice.npz'),
                [('a.npy', _npy(np.ones(2))), ('a.npy', _npy(np.ones(3)))])
    self.assertRefused(path, r"member 'a.npy' appears twice")

  def test_no_npy_header(self):
    path = _zip(self.path('raw.npz'), {'a.npy': b'not an array'})
    self.assertRefused(path, r"member 'a.npy' has no readable \.npy header")

  def test_truncated_archive(self):
    path = self.path('cut.npz')
    np.savez_compressed(path, a=np.arange(1000.))
    with open(path, 'r+b') as f:
      f.truncate(os.path.getsize(path) // 2)
    with self.assertRaisesRegex(
        warmstart.SourceFormatError,
        _file_re(path, 'is a zip archive whose directory cannot be read')):
      _foreign.sniff(path)
    self.assertRefused(path, 'it is not a readable zip archive', _foreign.NPZ)

  @parameterized.parameters(zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
  def test_damaged_data_fails_at_read(self, compression):
    path = _zip(self.path('bad.npz'),
                {'a.npy': _npy(np.random.RandomState(0).rand(20000)),
                 'b.npy': _npy(np.ones(2))}, compression)
    with zipfile.ZipFile(path) as archive:
      member = archive.getinfo('a.npy')
      start = member.header_offset + 30 + len('a.npy')
    with open(path, 'r+b') as f:
      f.seek(start + member.compress_size * 3 // 4)
      byte = f.read(1)
      f.seek(-1, os.SEEK_CUR)
      f.write(bytes([byte[0] ^ 0xff]))
    with _foreign.open_reader(path, _foreign.NPZ) as reader:
      np.testing.assert_array_equal(np.ones(2), reader.read('b'))
      with self.assertRaisesRegex(warmstart.SourceFormatError,
                                  _file_re(path, "member 'a.npy' cannot be "
                                           'read')):
        reader.read('a')

  def test_shape_that_the_member_cannot_hold(self):
    path = _zip(self.path('absurd.npz'),
                {'a.npy': _npy_header((10**12,)) + bytes(8)})
    self.assertRefused(path, r"member 'a.npy' declares shape \[1000000000000\] "
                       r'of float64 \(8000000000000 bytes after its 128-byte '
                       r'header\), but the archive records 136 bytes for it')

  def test_recorded_size_past_what_deflate_expands_to(self):
    path = _zip(self.path('bomb.npz'),
                {'a.npy': _npy(np.zeros(100000, np.uint8))},
                zipfile.ZIP_DEFLATED)
    data = bytearray(open(path, 'rb').read())
    # The uncompressed size, in the local header and the central directory.
    for signature, at in ((b'PK\x03\x04', 22), (b'PK\x01\x02', 24)):
      offset = data.index(signature) + at
      data[offset:offset + 4] = struct.pack('<I', 0xfffffff0)
    with open(path, 'wb') as f:
      f.write(data)
    self.assertRefused(path, r"member 'a.npy' records 4294967280 bytes, more "
                       r'than its \d+ stored bytes can hold or expand to')

  def test_unknown_name_and_closed(self):
    path = self.path('w.npz')
    np.savez(path, kernel=np.ones(2))
    reader = _foreign.open_reader(path, _foreign.NPZ)
    with self.assertRaisesRegex(warmstart.TensorNotFoundError,
                                "holds no tensor 'kernal'.*Did you mean: "
                                "'kernel'"):
      reader.read('kernal')
    reader.close()
    reader.close()
    with self.assertRaisesRegex(ValueError, 'closed'):
      reader.read('kernel')


class Hdf5Test(_TestCase):

  def test_plain_datasets_by_path(self):
    path = self.path('plain.h5')
    arrays = {k: v for k, v in _ARRAYS.items() if k != 'bfloat16'}
    arrays['complex128'] = np.array([1 + 1e-300j])
    with h5py.File(path, 'w') as f:
      for name, array in arrays.items():
        f.create_dataset(name, data=array)
      f.create_dataset('group/sub/compressed', data=np.arange(100.),
                       compression='gzip', chunks=(10,))
      f.create_dataset('big_endian', data=np.arange(3, dtype='>f4'))
    arrays['group/sub/compressed'] = np.arange(100.)
    arrays['big_endian'] = np.arange(3, dtype=np.float32)
    self.assertSameValues(arrays, _values(path))
    with _foreign.open_reader(path, _foreign.HDF5) as reader:
      self.assertEqual('generic', reader.layout)

  def test_datasets_only_read_on_read(self):
    path = self.path('plain.h5')
    with h5py.File(path, 'w') as f:
      f['a'] = np.ones(3)
      f['b/c'] = np.zeros(2)
    with mock.patch.object(h5py.Dataset, '__getitem__',
                           side_effect=AssertionError('data read')):
      with _foreign.open_reader(path, _foreign.HDF5) as reader:
        self.assertEqual(['a', 'b/c'], [i.name for i in reader.tensors()])

  def _keras2(self, f: Any, layers: dict[str, list[str]],
              byte_strings: bool = False) -> None:
    """Keras 2's save_weights layout under `f`: layer -> weight names."""
    def strings(values):
      return (np.array([v.encode() for v in values]) if byte_strings else
              values)
    f.attrs['layer_names'] = strings(list(layers))
    f.attrs['backend'] = 'tensorflow'
    for layer, weights in layers.items():
      group = f.create_group(layer)
      group.attrs['weight_names'] = strings(weights) if weights else np.array(
          [])
      for i, weight in enumerate(weights):
        group[weight] = np.full([2, i + 1], i, np.float32)

  def test_keras2_layout_by_hand(self):
    path = self.path('weights.h5')
    with h5py.File(path, 'w') as f:
      self._keras2(f, {'dense': ['dense/kernel:0', 'dense/bias:0'],
                       'dropout': [],
                       'model_1': ['model_1/dense_1/kernel:0']},
                   byte_strings=True)
      f['dense/not_listed'] = np.ones(1)  # Keras ignores it: so do we.
    got = _values(path)
    self.assertEqual(['dense/bias', 'dense/kernel', 'model_1/dense_1/kernel'],
                     sorted(got))
    np.testing.assert_array_equal(np.full([2, 2], 1, np.float32),
                                  got['dense/bias'])
    with _foreign.open_reader(path, _foreign.HDF5) as reader:
      self.assertEqual('keras2', reader.layout)

  def test_keras2_attributes_split_in_chunks(self):
    path = self.path('weights.h5')
    with h5py.File(path, 'w') as f:
      self._keras2(f, {'a': ['a/w:0'], 'b': ['b/w:0', 'b/v:0']})
      del f.attrs['layer_names']
      f.attrs['layer_names0'] = ['a']
      f.attrs['layer_names1'] = ['b']
      del f['b'].attrs['weight_names']
      f['b'].attrs['weight_names0'] = ['b/w:0']
      f['b'].attrs['weight_names1'] = ['b/v:0']
    self.assertEqual(['a/w', 'b/v', 'b/w'], sorted(_values(path)))

  def test_keras2_duplicate_names(self):
    path = self.path('weights.h5')
    with h5py.File(path, 'w') as f:
      self._keras2(f, {'a': ['dense/kernel:0'], 'b': ['dense/kernel:0']})
    self.assertRefused(path, "datasets '/a/dense/kernel:0' and "
                       "'/b/dense/kernel:0' both resolve to tensor name "
                       "'dense/kernel'")

  def test_keras2_missing_weight(self):
    path = self.path('weights.h5')
    with h5py.File(path, 'w') as f:
      self._keras2(f, {'a': ['a/w:0']})
      del f['a/a/w:0']
    self.assertRefused(path, r"group '/a' lists weight 'a/w:0', but "
                       r'/a/a/w:0 is no dataset')

  def test_keras2_missing_layer(self):
    path = self.path('weights.h5')
    with h5py.File(path, 'w') as f:
      self._keras2(f, {'a': ['a/w:0']})
      f.attrs['layer_names'] = ['a', 'gone']
    self.assertRefused(path, "its layer_names lists 'gone', which is no "
                       "group of '/'")

  def test_external_link_refused(self):
    other = self.path('other.h5')
    with h5py.File(other, 'w') as f:
      f['w'] = np.ones(2, np.float32)
    path = self.path('weights.h5')
    with h5py.File(path, 'w') as f:
      f.attrs['layer_names'] = ['a']
      group = f.create_group('a')
      group.attrs['weight_names'] = ['a/w:0']
      group.create_group('a')['w:0'] = h5py.ExternalLink(other, '/w')
    self.assertRefused(path, r"/a/a/w:0 is an external link \(to '/w' in "
                       r'.*other\.h5.*\): warmstart reads no other file')

  def test_external_storage_refused(self):
    path = self.path('weights.h5')
    raw = self.path('raw.bin')
    with open(raw, 'wb') as f:
      f.write(bytes(16))
    with h5py.File(path, 'w') as f:
      f.create_dataset('w', shape=(4,), dtype='f4', external=[(raw, 0, 16)])
    self.assertRefused(path, r"dataset '/w' keeps its data in other files "
                       r'\(external storage\)')

  @test_util.requires_graph_keras
  def test_keras2_save_weights_and_save(self):
    inputs = tf.keras.Input((3,))
    inner = tf.keras.Sequential([tf.keras.layers.Dense(2)], name='inner')
    model = tf.keras.Sequential([
        inputs,
        tf.keras.layers.Dense(4, name='d1'),
        tf.keras.layers.BatchNormalization(name='bn'),
        inner,
    ])
    model.compile('adam', 'mse')
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    want = {w.name[:-len(':0')]: w.numpy() for w in model.weights}
    self.assertIn('d1/kernel', want)
    self.assertIn('bn/moving_mean', want)
    weights = self.path('x.h5')
    model.save_weights(weights)
    self.assertEqual(_foreign.HDF5, _foreign.sniff(weights))
    self.assertSameValues(want, _values(weights))

    whole = self.path('model.h5')
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # "HDF5 is a legacy format".
      model.save(whole)
    got = _values(whole)
    optimizer = {n: v for n, v in got.items()
                 if n.startswith('optimizer_weights/')}
    self.assertSameValues(want, {n: v for n, v in got.items()
                                 if n not in optimizer})
    self.assertTrue(optimizer)
    for name in optimizer:  # Adam's slots name their variable.
      self.assertTrue(name == 'optimizer_weights/iteration' or
                      name.endswith(('/iter', '/learning_rate')) or
                      any(w in name for w in want), name)

  def test_keras3_layout_by_hand(self):
    path = self.path('model.weights.h5')
    with h5py.File(path, 'w') as f:
      f.create_group('vars').attrs['name'] = 'sequential'
      f['layers/dense/vars/0'] = np.ones((3, 4), np.float32)
      f['layers/dense/vars/1'] = np.zeros(4, np.float32)
      f['layers/functional/layers/dense/vars/0'] = np.ones(2, np.float32)
      f['optimizer/vars/0'] = np.array(3, np.int64)
      f['optimizer/vars/1'] = np.array(0.001, np.float32)
    got = _values(path)
    self.assertEqual(['dense/vars/0', 'dense/vars/1',
                      'functional/layers/dense/vars/0', 'optimizer/vars/0',
                      'optimizer/vars/1'], sorted(got))
    with _foreign.open_reader(path, _foreign.HDF5) as reader:
      self.assertEqual('keras3', reader.layout)

  def test_keras3_duplicate_names(self):
    path = self.path('model.weights.h5')
    with h5py.File(path, 'w') as f:
      f['layers/vars/0'] = np.ones(1)
      f['vars/0'] = np.ones(1)
    self.assertRefused(path, "datasets '/layers/vars/0' and '/vars/0' both "
                       "resolve to tensor name 'vars/0'")

  @unittest.skipUnless(_keras_major() >= 3, 'needs Keras 3 (.venv-latest)')
  def test_keras3_save_weights(self):
    # In a process of its own: Keras 3 beside tf.keras (Keras 2) here.
    path = self.path('model.weights.h5')
    values = self.path('values.npz')
    script = textwrap.dedent("""
        import sys
        import keras
        import numpy as np
        model = keras.Sequential([
            keras.Input((3,)), keras.layers.Dense(4, name='d1'),
            keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
        model.save_weights(sys.argv[1])
        np.savez(sys.argv[2], **{
            'dense/vars/0': model.layers[0].kernel.numpy(),
            'dense/vars/1': model.layers[0].bias.numpy(),
            'dense_1/vars/0': model.layers[1].kernel.numpy(),
            'dense_1/vars/1': model.layers[1].bias.numpy()})
        """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', KERAS_BACKEND='tensorflow')
    env.pop('TF_USE_LEGACY_KERAS', None)
    subprocess.run([sys.executable, '-c', script, path, values], check=True,
                   env=env, timeout=300, capture_output=True)
    got = _values(path)
    want = _values(values)
    self.assertSameValues(want, {n: got[n] for n in want})
    self.assertTrue(all(n.startswith('optimizer/vars/')
                        for n in set(got) - set(want)), sorted(got))

  def test_no_weights(self):
    path = self.path('empty.h5')
    with h5py.File(path, 'w') as f:
      f.create_group('model_weights').attrs['note'] = 'nothing'
    self.assertRefused(path, r'it holds no weights \(no dataset\)')
    with h5py.File(path, 'w') as f:
      self._keras2(f, {'dropout': []})
    self.assertRefused(path, r"it holds no weights \(no dataset any layer's "
                       'weight_names lists')

  @parameterized.named_parameters(
      ('strings', np.array([b'a', b'bc']), r"dataset '/bad' holds strings"),
      ('compound', np.zeros(2, [('x', 'f4'), ('y', 'i4')]),
       r"dataset '/bad' holds a compound dtype \(\[\('x', '<f4'\), .*\)"),
  )
  def test_unsupported_dtypes(self, array, fault):
    path = self.path('bad.h5')
    with h5py.File(path, 'w') as f:
      f['good'] = np.ones(1)
      f['bad'] = array
    self.assertRefused(path, fault + ', which TF cannot hold as a weight '
                       r'\(warmstart reads bfloat16, bool, complex128, ')

  def test_variable_length_strings(self):
    path = self.path('bad.h5')
    with h5py.File(path, 'w') as f:
      f.create_dataset('bad', data=['a', 'bc'], dtype=h5py.string_dtype())
    self.assertRefused(path, r"dataset '/bad' holds strings")

  def test_empty_dataspace(self):
    path = self.path('bad.h5')
    with h5py.File(path, 'w') as f:
      f.create_dataset('bad', data=h5py.Empty('f4'))
    self.assertRefused(path, r"dataset '/bad' has no shape")

  def test_not_readable(self):
    path = self.path('bad.h5')
    with open(path, 'wb') as f:
      f.write(b'\x89HDF\r\n\x1a\n' + bytes(range(256)) * 4)
    self.assertEqual(_foreign.HDF5, _foreign.sniff(path))
    self.assertRefused(path, 'it is not a readable HDF5 file')

  def test_without_h5py(self):
    path = self.path('w.h5')
    with h5py.File(path, 'w') as f:
      f['w'] = np.ones(1)
    # The module imports h5py only when a reader is built.
    with mock.patch.dict(sys.modules, {'h5py': None}):
      with self.assertRaisesRegex(warmstart.SourceFormatError,
                                  r"needs h5py.*pip install "
                                  r"'warmstart\[h5\]'"):
        _foreign.open_reader(path, _foreign.HDF5)


if __name__ == '__main__':
  absltest.main()
