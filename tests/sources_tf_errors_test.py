"""Differential tests: a source's errors against TF's own, side by side.

For each fault, TF's functions (`tf.train.load_checkpoint`,
`tf.compat.v1.train.init_from_checkpoint`, `tf.compat.v1.train.warm_start`,
and for faults TF finds only then, the restore of `init_from_checkpoint` in a
session) run on the same checkpoint as warmstart's entry points
(`init_from_checkpoint`, `make_plan`, `warm_start`, `_sources.load`). Where TF
raises a `tf.errors.OpError` subclass, ours is an instance of it too (and a
`CheckpointNotFoundError`, a `warmstart.Error` and a `ValueError`); where TF
raises a `ValueError`, so do we; where TF reads a path (bytes, glob
characters that still match the file, a V1 sharded pattern), so do we, with
the same values.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import tensorflow as tf

import warmstart
from warmstart._sources import _checkpoint
from tests import test_util

_DATA = '.data-00000-of-00001'


def _build():
  return tf.compat.v1.get_variable('w', [2, 3])


def _tf_calls(source) -> dict[str, Callable[[], object]]:
  """TF's functions on `source`, each in a fresh graph."""

  def load_checkpoint():
    return tf.train.load_checkpoint(source)

  def init_from_checkpoint():
    with tf.Graph().as_default():
      _build()
      tf.compat.v1.train.init_from_checkpoint(source, {'/': '/'})

  def warm_start():
    with tf.Graph().as_default():
      _build()
      tf.compat.v1.train.warm_start(source)

  return {'load_checkpoint': load_checkpoint,
          'init_from_checkpoint': init_from_checkpoint,
          'warm_start': warm_start}


def _our_calls(source) -> dict[str, Callable[[], object]]:
  """warmstart's entry points on `source`, each in a fresh graph."""

  def in_graph(function):
    def call():
      with tf.Graph().as_default():
        _build()
        return function()
    return call

  return {
      'load': lambda: _checkpoint.load(source),
      'init_from_checkpoint': in_graph(
          lambda: warmstart.init_from_checkpoint(source, {'/': '/'})),
      'make_plan': in_graph(lambda: warmstart.make_plan(source, {'/': '/'})),
      'warm_start': in_graph(lambda: warmstart.warm_start(source)),
  }


def _tf_restore(source):
  """TF's `init_from_checkpoint`, then its restore in a session: the value."""
  with tf.Graph().as_default():
    w = _build()
    tf.compat.v1.train.init_from_checkpoint(source, {'/': '/'})
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      return sess.run(w)


def _our_restore(source):
  with tf.Graph().as_default():
    w = _build()
    warmstart.init_from_checkpoint(source, {'/': '/'})
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      return sess.run(w)


class _DifferentialTestCase(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.prefix, self.values = test_util.save_checkpoint(
        os.path.join(self.dir, 'good'), _build)

  def assertBothRaise(self, source, error_class, tf_calls=None,
                      not_error_class=None):
    """TF's calls and ours raise `error_class` on `source`.

    Args:
      source: The path.
      error_class: What TF raises, and what ours must be too.
      tf_calls: The names of TF's calls to run (default: all).
      not_error_class: A class neither may be (e.g. NotFoundError for a
        corrupt checkpoint: a cold start where TF would fail).
    """
    for name, call in _tf_calls(source).items():
      if tf_calls is None or name in tf_calls:
        with self.assertRaises(error_class, msg='TF ' + name) as cm:
          call()
        if not_error_class:
          self.assertNotIsInstance(cm.exception, not_error_class, name)
    for name, call in _our_calls(source).items():
      with self.assertRaises(error_class, msg='our ' + name) as cm:
        call()
      self.assertIsInstance(cm.exception, warmstart.CheckpointNotFoundError)
      self.assertIsInstance(cm.exception, warmstart.Error)
      self.assertIsInstance(cm.exception, ValueError)
      if not_error_class:
        self.assertNotIsInstance(cm.exception, not_error_class, name)


class MissingTest(_DifferentialTestCase):
  """No checkpoint at the path: TF raises NotFoundError, and so do we."""

  def test_except_not_found_catches_both(self):
    missing = os.path.join(self.dir, 'good', 'nope.ckpt')
    caught = []
    try:
      tf.compat.v1.train.init_from_checkpoint(missing, {'/': '/'})
    except tf.errors.NotFoundError as e:
      caught.append(e)
    try:
      warmstart.init_from_checkpoint(missing, {'/': '/'})
    except tf.errors.NotFoundError as e:
      caught.append(e)
    try:
      tf.train.load_checkpoint(missing)
    except tf.errors.OpError as e:
      caught.append(e)
    try:
      warmstart.make_plan(missing, {'/': '/'})
    except tf.errors.OpError as e:
      caught.append(e)
    self.assertLen(caught, 4)
    self.assertRegex(str(caught[1]), "No checkpoint at '.*nope.ckpt'")

  def test_missing_prefix(self):
    self.assertBothRaise(os.path.join(self.dir, 'good', 'nope.ckpt'),
                         tf.errors.NotFoundError)

  def test_missing_directory(self):
    self.assertBothRaise(os.path.join(self.dir, 'no_dir', 'model.ckpt'),
                         tf.errors.NotFoundError)

  def test_empty_path(self):
    for name, call in _tf_calls('').items():
      with self.assertRaises(tf.errors.NotFoundError, msg=name):
        call()
    for name, call in _our_calls('').items():
      # WarmStartSettings refuses an empty path when it is built (a
      # SettingsError, a ValueError); the others as TF does.
      error_class = (warmstart.SettingsError if name == 'warm_start' else
                     tf.errors.NotFoundError)
      with self.assertRaisesRegex(error_class, 'empty', msg=name):
        call()

  def test_prefix_with_a_trailing_slash(self):
    self.assertBothRaise(self.prefix + '/', tf.errors.NotFoundError)

  def test_directory_without_a_checkpoint(self):
    # TF raises ValueError here (and its warm_start a TypeError); ours is a
    # ValueError too, and a NotFoundError.
    empty = self.create_tempdir('empty').full_path
    self.assertBothRaise(empty, ValueError,
                         tf_calls=('load_checkpoint', 'init_from_checkpoint'))
    with self.assertRaises(tf.errors.NotFoundError):
      _checkpoint.load(empty)

  def test_state_file_naming_a_deleted_checkpoint(self):
    directory = os.path.dirname(self.prefix)
    for name in os.listdir(directory):
      if name.startswith('model.ckpt.'):
        os.remove(os.path.join(directory, name))
    self.assertBothRaise(directory, ValueError,
                         tf_calls=('load_checkpoint', 'init_from_checkpoint'))
    with self.assertRaises(tf.errors.NotFoundError):
      _checkpoint.load(directory)


class DamagedIndexTest(_DifferentialTestCase):
  """An index TF cannot parse: TF raises an OpError (never NotFoundError).

  TF's reader reports these as a plain OpError (its Python wrapper drops
  the C++ status's DATA_LOSS); ours is a DataLossError, an OpError.
  """

  def _damage(self, damage: Callable[[bytes], bytes]) -> str:
    with open(self.prefix + '.index', 'rb') as f:
      data = f.read()
    with open(self.prefix + '.index', 'wb') as f:
      f.write(damage(data))
    return self.prefix

  def assertCorrupt(self, source):
    self.assertBothRaise(source, tf.errors.OpError,
                         not_error_class=tf.errors.NotFoundError)
    with self.assertRaisesRegex(tf.errors.DataLossError,
                                'Cannot read checkpoint %r' % source):
      _checkpoint.load(source)

  def test_garbage(self):
    self.assertCorrupt(self._damage(lambda _: b'not a checkpoint index'))

  def test_truncated(self):
    self.assertCorrupt(self._damage(lambda data: data[:-10]))

  def test_half(self):
    self.assertCorrupt(self._damage(lambda data: data[:len(data) // 2]))

  def test_empty(self):
    self.assertCorrupt(self._damage(lambda _: b''))

  def test_flipped_byte(self):
    def flip(data):
      damaged = bytearray(data)
      damaged[5] ^= 0xff
      return bytes(damaged)
    self.assertCorrupt(self._damage(flip))

  def test_a_file_that_is_no_checkpoint(self):
    path = os.path.join(self.dir, 'notes.txt')
    with open(path, 'w') as f:
      f.write('hello')
    self.assertBothRaise(path, tf.errors.DataLossError)


class DataFileTest(_DifferentialTestCase):
  """TF finds a damaged data file at the restore; we at the call."""

  def test_missing_data_file(self):
    os.remove(self.prefix + _DATA)
    with self.assertRaises(tf.errors.NotFoundError):
      _tf_restore(self.prefix)
    for call in _our_calls(self.prefix).values():
      with self.assertRaisesRegex(tf.errors.NotFoundError, 'is missing'):
        call()

  def test_truncated_data_file(self):
    os.truncate(self.prefix + _DATA, 8)
    with self.assertRaises(tf.errors.OutOfRangeError):
      _tf_restore(self.prefix)
    for call in _our_calls(self.prefix).values():
      with self.assertRaisesRegex(tf.errors.OutOfRangeError, 'is 8 bytes'):
        call()

  def test_except_op_error_catches_both(self):
    os.truncate(self.prefix + _DATA, 0)
    caught = []
    for restore in (_tf_restore, _our_restore):
      try:
        restore(self.prefix)
      except tf.errors.OpError as e:
        caught.append(type(e))
    self.assertLen(caught, 2)


class GlobCharacterTest(_DifferentialTestCase):
  """What TF cannot find by glob we refuse; what it reads we read."""

  def _save(self, name: str) -> tuple[str, np.ndarray]:
    directory = os.path.join(self.dir, name)
    os.makedirs(directory)
    with tf.Graph().as_default():
      w = _build()
      saver = tf.compat.v1.train.Saver()
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        return saver.save(sess, os.path.join(directory, 'model.ckpt')), (
            sess.run(w))

  def test_bracket_expression(self):
    prefix, _ = self._save('run[1]')
    self.assertBothRaise(prefix, tf.errors.NotFoundError)
    # A directory: TF finds no checkpoint in it (ValueError).
    self.assertBothRaise(os.path.dirname(prefix), ValueError,
                         tf_calls=('load_checkpoint', 'init_from_checkpoint'))
    with self.assertRaisesRegex(tf.errors.NotFoundError,
                                "glob character '\\['"):
      _checkpoint.load(os.path.dirname(prefix))

  def test_backslash(self):
    prefix, _ = self._save('a\\b')
    self.assertBothRaise(prefix, tf.errors.NotFoundError)

  def test_characters_that_still_match_the_file(self):
    for name in ('a*b', 'a?b', 'a[b'):
      prefix, value = self._save(name)
      for source in (prefix, os.path.dirname(prefix)):
        self.assertAllClose(value, _tf_restore(source))
        self.assertAllClose(value, _our_restore(source))


class PathTypeTest(_DifferentialTestCase):

  def test_bytes_prefix_is_read_as_tf_reads_it(self):
    source = os.fsencode(self.prefix)
    self.assertAllClose(self.values['w'], _tf_restore(source))
    self.assertAllClose(self.values['w'], _our_restore(source))
    with tf.Graph().as_default():
      _build()
      tf.compat.v1.train.warm_start(source)
    with tf.Graph().as_default():
      _build()
      plan = warmstart.warm_start(source)
    self.assertEqual([self.prefix], [e.source for e in plan.entries])

  def test_bytes_directory(self):
    # TF's latest_checkpoint joins str and bytes (a TypeError); we decode.
    source = os.fsencode(os.path.dirname(self.prefix))
    with self.assertRaises(TypeError):
      tf.train.load_checkpoint(source)
    self.assertAllClose(self.values['w'], _our_restore(source))

  def test_bytes_not_utf8(self):
    # TF refuses it (UnicodeDecodeError, a ValueError); so do we, saying why.
    source = os.path.join(os.fsencode(self.dir), b'\xff', b'model.ckpt')
    os.makedirs(os.path.dirname(source))
    tf.raw_ops.SaveV2(prefix=source, tensor_names=['w'],
                      shape_and_slices=[''], tensors=[tf.ones([2, 3])])
    for call in _tf_calls(source).values():
      with self.assertRaises(ValueError):
        call()
    for name, call in _our_calls(source).items():
      # WarmStartSettings decodes a bytes path as UTF-8 when it is built
      # (UnicodeDecodeError, as TF), unless it asks `_names.checkpoint_path`
      # as the others do, which says why.
      with self.assertRaisesRegex(
          ValueError, "can't decode byte 0xff|is not valid UTF-8"
          if name == 'warm_start' else 'is not valid UTF-8', msg=name):
        call()

  def test_other_types(self):
    for source in (None, 3):
      for name, call in _tf_calls(source).items():
        with self.assertRaises(TypeError, msg=name):
          call()
      for name, call in _our_calls(source).items():
        with self.assertRaises((TypeError, warmstart.SettingsError),
                               msg=name):
          call()

  def test_v1_sharded_pattern(self):
    directory = self.create_tempdir('v1').full_path
    with tf.Graph().as_default():
      w = _build()
      saver = tf.compat.v1.train.Saver(
          sharded=True, write_version=tf.compat.v1.train.SaverDef.V1)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        pattern = saver.save(sess, os.path.join(directory, 'model.ckpt'))
        value = sess.run(w)
    for source in (pattern, directory):
      self.assertAllClose(value, _tf_restore(source))
      self.assertAllClose(value, _our_restore(source))


if __name__ == '__main__':
  tf.test.main()
