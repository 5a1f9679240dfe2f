"""Tests of warmstart._sources._checkpoint: resolving a source, one index read."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import time
from unittest import mock

import numpy as np
import tensorflow as tf

import warmstart
from warmstart import _errors
from warmstart._sources import _checkpoint
from warmstart._sources import _index
from tests import test_util


def _build_small():
  tf.compat.v1.get_variable('dense/kernel', [2, 3])
  tf.compat.v1.get_variable('dense/bias', [3])


def _build_dtypes():
  zeros = tf.compat.v1.zeros_initializer()
  tf.compat.v1.get_variable('f32', [2, 3], dtype=tf.float32)
  tf.compat.v1.get_variable('f16', [4], dtype=tf.float16, initializer=zeros)
  tf.compat.v1.get_variable('bf16', [5, 1], dtype=tf.bfloat16,
                            initializer=zeros)
  tf.compat.v1.get_variable('i64', [3], dtype=tf.int64, initializer=zeros)
  tf.compat.v1.get_variable('flag', [2, 2], dtype=tf.bool, initializer=zeros)
  tf.compat.v1.get_variable('scalar', [], dtype=tf.float64, initializer=zeros)
  tf.compat.v1.Variable(['a', 'bb', 'ccc'], name='words')


def _save_saved_model(export_dir: str) -> dict[str, np.ndarray]:
  """Writes a SavedModel with one variable; returns its values."""
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 2], name='x')
    w = tf.compat.v1.get_variable('sm/w', [2, 2])
    y = tf.matmul(x, w)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.saved_model.simple_save(
          sess, export_dir, inputs={'x': x}, outputs={'y': y})
      return {'sm/w': sess.run(w)}


class ResolveTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.prefix, self.values = test_util.save_checkpoint(
        self.dir, _build_small, global_step=100)

  def test_prefix(self):
    self.assertEqual(self.prefix, _checkpoint.resolve_prefix(self.prefix))
    checkpoint = _checkpoint.load(self.prefix)
    self.assertEqual(self.prefix, checkpoint.prefix)
    self.assertEqual(self.prefix, checkpoint.origin)
    self.assertEqual({'dense/kernel': (2, 3), 'dense/bias': (3,)},
                     dict(checkpoint.shapes))

  def test_index_data_and_meta_files(self):
    for suffix in ('.index', '.data-00000-of-00001', '.meta'):
      path = self.prefix + suffix
      self.assertTrue(os.path.exists(path), path)
      checkpoint = _checkpoint.load(path)
      self.assertEqual(self.prefix, checkpoint.prefix)
      self.assertEqual(path, checkpoint.origin)
      self.assertIn('dense/kernel', checkpoint)

  def test_path_like(self):
    checkpoint = _checkpoint.load(pathlib.Path(self.prefix))
    self.assertEqual(self.prefix, checkpoint.prefix)
    self.assertIsInstance(checkpoint.origin, str)
    self.assertEqual(self.prefix, checkpoint.origin)
    checkpoint = _checkpoint.load(pathlib.Path(self.dir))
    self.assertEqual(self.prefix, checkpoint.prefix)

  def test_directory_is_pinned_to_its_latest_checkpoint(self):
    directory = self.create_tempdir().full_path
    step1, _ = test_util.save_checkpoint(directory, _build_small,
                                         global_step=1)
    loaded = _checkpoint.load(directory)
    self.assertEqual(step1, loaded.prefix)
    self.assertEqual(directory, loaded.origin)
    step2, _ = test_util.save_checkpoint(directory, _build_small,
                                         global_step=2, seed=2)
    self.assertNotEqual(step1, step2)
    self.assertEqual(step2, tf.train.latest_checkpoint(directory))
    # The Checkpoint loaded before still names step 1, and so do its reads.
    self.assertEqual(step1, loaded.prefix)
    self.assertEndsWith(loaded.prefix, '-1')
    # A new load resolves the directory again.
    self.assertEqual(step2, _checkpoint.load(directory).prefix)

  def test_saved_model_directory(self):
    export_dir = os.path.join(self.create_tempdir().full_path, 'export')
    values = _save_saved_model(export_dir)
    checkpoint = _checkpoint.load(export_dir)
    self.assertEqual(os.path.join(export_dir, 'variables', 'variables'),
                     checkpoint.prefix)
    self.assertEqual(export_dir, checkpoint.origin)
    self.assertEqual((2, 2), checkpoint.shapes['sm/w'])
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint.prefix)
    self.assertAllClose(values['sm/w'], reader.get_tensor('sm/w'))

  def test_empty_directory(self):
    empty = self.create_tempdir('empty').full_path
    with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                re.escape(repr(empty)) + '.*no checkpoint'):
      _checkpoint.load(empty)

  def test_directory_with_stale_state_file(self):
    directory = self.create_tempdir('stale').full_path
    with open(os.path.join(directory, 'checkpoint'), 'w') as f:
      f.write('model_checkpoint_path: "model.ckpt-7"\n')
    with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                re.escape(repr(directory))):
      _checkpoint.load(directory)
    state_file = os.path.join(directory, 'checkpoint')
    with self.assertRaisesRegex(
        warmstart.CheckpointNotFoundError,
        re.escape("state file %r names 'model.ckpt-7'" % state_file) +
        '.*holds no checkpoint files'):
      _checkpoint.load(directory)

  def test_stale_state_file_lists_what_is_there(self):
    directory = self.create_tempdir('stale').full_path
    test_util.save_checkpoint(directory, _build_small, global_step=9)
    test_util.save_checkpoint(directory, _build_small, global_step=10)
    for step in (9, 10):  # Same mtime: the higher step comes first.
      os.utime(os.path.join(directory, 'model.ckpt-%d.index' % step),
               ns=(10**9, 10**9))
    with open(os.path.join(directory, 'checkpoint'), 'w') as f:
      f.write('model_checkpoint_path: "model.ckpt-7"\n')
    with self.assertRaisesRegex(
        warmstart.CheckpointNotFoundError,
        re.escape("names 'model.ckpt-7' (%s.index), which does not exist" %
                  os.path.join(directory, 'model.ckpt-7')) +
        ".*newest first: 'model.ckpt-10', 'model.ckpt-9'. Pass one "
        'explicitly, e.g. ' + re.escape(repr(os.path.join(directory,
                                                          'model.ckpt-10')))):
      _checkpoint.load(directory)

  def test_prefix_before_directory(self):
    # Filesystems such as ram:// call any prefix of a file name a directory.
    with mock.patch.object(tf.io.gfile, 'isdir', return_value=True):
      self.assertEqual(self.prefix, _checkpoint.resolve_prefix(self.prefix))
      self.assertEqual(self.prefix, _checkpoint.load(self.prefix).prefix)

  def test_missing_path_suggests_a_nearby_prefix(self):
    missing = os.path.join(self.dir, 'model.ckpt-10')
    with self.assertRaisesRegex(
        warmstart.CheckpointNotFoundError,
        re.escape(repr(missing)) + ".*Did you mean: 'model.ckpt-100'"):
      _checkpoint.load(missing)

  def test_missing_path_lists_checkpoints_when_none_is_close(self):
    missing = os.path.join(self.dir, 'zzz')
    with self.assertRaisesRegex(
        warmstart.CheckpointNotFoundError,
        re.escape(repr(missing)) + ".*Checkpoints in .*'model.ckpt-100'"):
      _checkpoint.load(missing)

  def test_missing_prefix_named_like_a_data_file(self):
    # Only TF's data file names ('.data-00000-of-00001') are stripped.
    missing = os.path.join(self.dir, 'model.data-2020')
    with self.assertRaisesRegex(
        tf.errors.NotFoundError,
        re.escape('No checkpoint at %r: expected %s.index' % (missing,
                                                              missing))):
      _checkpoint.load(missing)

  def test_missing_directory(self):
    missing = os.path.join(self.dir, 'no_such_dir', 'model.ckpt')
    with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                re.escape(repr(missing))):
      _checkpoint.load(missing)

  def test_saved_model_without_variables(self):
    export_dir = os.path.join(self.create_tempdir().full_path, 'novars')
    with tf.Graph().as_default():
      x = tf.compat.v1.placeholder(tf.float32, [None], name='x')
      tf.identity(x * 2.0, name='y')
      with tf.compat.v1.Session() as sess:
        builder = tf.compat.v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(sess, ['serve'])
        builder.save()
    self.assertTrue(os.path.exists(os.path.join(export_dir, 'saved_model.pb')))
    with self.assertRaisesRegex(
        warmstart.CheckpointNotFoundError,
        re.escape(repr(export_dir)) + '.*has no variables'):
      _checkpoint.load(export_dir)

  def test_unreadable_index(self):
    bad = os.path.join(self.dir, 'bad.ckpt')
    with open(bad + '.index', 'wb') as f:
      f.write(b'this is not a checkpoint index')
    with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                'Cannot read checkpoint ' + re.escape(
                                    repr(bad))):
      _checkpoint.load(bad)

  def test_bytes_path(self):
    # TF's load_checkpoint and init_from_checkpoint take a bytes prefix too.
    for path in (self.prefix, self.dir, self.prefix + '.index'):
      checkpoint = _checkpoint.load(os.fsencode(path))
      self.assertEqual(self.prefix, checkpoint.prefix)
      self.assertIsInstance(checkpoint.origin, str)
      self.assertEqual(path, checkpoint.origin)
    self.assertEqual(self.prefix,
                     _checkpoint.resolve_prefix(os.fsencode(self.prefix)))

  def test_path_like_of_bytes(self):

    class BytesPath(os.PathLike):

      def __init__(self, path):
        self.path = path

      def __fspath__(self):
        return os.fsencode(self.path)

    checkpoint = _checkpoint.load(BytesPath(self.prefix))
    self.assertEqual(self.prefix, checkpoint.prefix)
    self.assertEqual(self.prefix, checkpoint.origin)

  def test_path_that_is_not_utf8(self):
    # TF's file functions take UTF-8 paths only.
    directory = os.path.join(os.fsencode(self.dir), b'caf\xe9')
    os.makedirs(directory)
    tf.raw_ops.SaveV2(prefix=directory + b'/model.ckpt', tensor_names=['w'],
                      shape_and_slices=[''], tensors=[tf.ones([2])])
    byte = len(os.fsencode(self.dir)) + 4
    for path in (directory + b'/model.ckpt', directory,
                 os.fsdecode(directory + b'/model.ckpt')):
      with self.assertRaisesRegex(
          warmstart.CheckpointNotFoundError,
          '^Checkpoint path %s is not valid UTF-8 \\(byte %d\\).*Rename the '
          'directory or files, or make a link' % (re.escape(repr(path)),
                                                 byte)):
        _checkpoint.load(path)

  def test_path_with_a_nul_character(self):
    # TF would read the path cut at the NUL: here, the checkpoint itself.
    path = self.prefix + '\0.old'
    with self.assertRaisesRegex(
        warmstart.CheckpointNotFoundError,
        re.escape('%r holds a NUL character (at position %d)' %
                  (path, len(self.prefix))) + '.*' + re.escape(
                      'read the path cut there, %r' % self.prefix)):
      _checkpoint.load(path)

  def test_trailing_slash_after_a_prefix(self):
    with self.assertRaisesRegex(
        _errors.CheckpointMissingError,
        re.escape("No checkpoint at %r" % (self.prefix + '/')) + '.*' +
        re.escape("A checkpoint prefix has no trailing '/': did you mean %r?"
                  % self.prefix)):
      _checkpoint.load(self.prefix + '/')

  def test_whitespace_around_the_path(self):
    with self.assertRaisesRegex(
        _errors.CheckpointMissingError,
        re.escape('The path has leading or trailing whitespace: did you mean '
                  '%r?' % self.prefix)):
      _checkpoint.load(self.prefix + ' \n')

  def test_tilde_is_not_expanded(self):
    home = os.path.dirname(self.dir)
    path = '~/%s/model.ckpt-100' % os.path.basename(self.dir)
    with mock.patch.dict(os.environ, {'HOME': home}):
      self.assertEqual(self.prefix, os.path.expanduser(path))
      with self.assertRaisesRegex(
          _errors.CheckpointMissingError,
          re.escape("'~' is not expanded (TF does not expand it either): did "
                    'you mean %r?' % self.prefix)):
        _checkpoint.load(path)
      with self.assertRaisesRegex(_errors.CheckpointMissingError,
                                  "'~' is not expanded .*absolute"):
        _checkpoint.load('~/no/such/model.ckpt')

  def test_pattern_instead_of_a_path(self):
    test_util.save_checkpoint(self.dir, _build_small, global_step=200)
    pattern = os.path.join(self.dir, 'model.ckpt-*')
    with self.assertRaisesRegex(
        _errors.CheckpointMissingError,
        re.escape('A checkpoint path is not a pattern') + '.*' + re.escape(
            'pass one checkpoint, e.g. %r' % os.path.join(self.dir,
                                                         'model.ckpt-200'))):
      _checkpoint.load(pattern)

  def test_state_file_given_as_the_path(self):
    state_file = os.path.join(self.dir, 'checkpoint')
    self.assertTrue(os.path.isfile(state_file))
    with self.assertRaisesRegex(
        tf.errors.DataLossError,
        re.escape('Cannot read checkpoint %r' % state_file) + '.*' +
        re.escape('It is the state file of directory %r, not a checkpoint: '
                  'pass the directory' % self.dir)) as cm:
      _checkpoint.load(state_file)
    self.assertIsInstance(cm.exception, warmstart.CheckpointNotFoundError)

  def test_saved_model_graph_given_as_the_path(self):
    export_dir = os.path.join(self.create_tempdir().full_path, 'export')
    _save_saved_model(export_dir)
    with self.assertRaisesRegex(
        tf.errors.DataLossError,
        re.escape('It is the graph of a SavedModel: pass its directory %r.' %
                  export_dir)) as cm:
      _checkpoint.load(os.path.join(export_dir, 'saved_model.pb'))
    self.assertIsInstance(cm.exception, warmstart.CheckpointNotFoundError)

  def test_damaged_keras_file_given_as_the_path(self):
    # A Keras HDF5 file is a source (staged); a damaged one is named.
    path = os.path.join(self.dir, 'model.h5')
    with open(path, 'wb') as f:
      f.write(b'\x89HDF\r\n\x1a\n' + b'\0' * 100)
    with self.assertRaisesRegex(_errors.SourceFormatError,
                                re.escape(repr(path)) +
                                ' as an HDF5 weights file: it is not a '
                                'readable HDF5 file'):
      _checkpoint.load(path, cache_dir=self.create_tempdir().full_path)

  def test_directory_moved_after_its_state_file_was_written(self):
    # A Saver writes absolute paths into the state file; the directory was
    # copied elsewhere since, its checkpoint with it.
    moved = os.path.join(self.create_tempdir().full_path, 'moved')
    shutil.copytree(self.dir, moved)
    with self.assertRaisesRegex(
        _errors.CheckpointMissingError,
        re.escape("names %r, which does not exist: the state file keeps the "
                  'path the checkpoint was saved under' % self.prefix) + '.*' +
        re.escape('The checkpoint is here under the same name. Pass it '
                  'explicitly: %r.' % os.path.join(moved, 'model.ckpt-100'))):
      shutil.rmtree(self.dir)
      _checkpoint.load(moved)

  def test_state_file_naming_a_sibling_directory(self):
    # '/t/run' must not show '/t/run2/model.ckpt-1' as '2/model.ckpt-1'.
    directory = self.create_tempdir('run').full_path
    named = directory + '2/model.ckpt-1'
    with open(os.path.join(directory, 'checkpoint'), 'w') as f:
      f.write('model_checkpoint_path: "%s"\n' % named)
    with self.assertRaisesRegex(
        _errors.CheckpointMissingError,
        re.escape('names %r (%s.index), which does not exist: it was deleted'
                  % (named, named))):
      _checkpoint.load(directory)

  def test_empty_path(self):
    for path in ('', b''):
      with self.assertRaisesRegex(tf.errors.NotFoundError, 'is empty'):
        _checkpoint.load(path)

  def test_newest_first_to_the_nanosecond(self):
    # Saved within the same second: TF's stat says both are as new.
    directory = self.create_tempdir('same_second').full_path
    for step, ns in ((9, 10**9 + 2), (10, 10**9 + 1)):
      test_util.save_checkpoint(directory, _build_small, global_step=step)
      os.utime(os.path.join(directory, 'model.ckpt-%d.index' % step),
               ns=(ns, ns))
    self.assertEqual(10**9, tf.io.gfile.stat(
        os.path.join(directory, 'model.ckpt-9.index')).mtime_nsec)
    os.remove(os.path.join(directory, 'checkpoint'))
    with self.assertRaisesRegex(
        _errors.CheckpointMissingError,
        "newest first: 'model.ckpt-9', 'model.ckpt-10'"):
      _checkpoint.load(directory)

  def test_v1_sharded_pattern(self):
    # A V1 sharded Saver returns a pattern over its shards; TF reads it.
    directory = self.create_tempdir('v1').full_path
    with tf.Graph().as_default():
      _build_small()
      saver = tf.compat.v1.train.Saver(
          sharded=True, write_version=tf.compat.v1.train.SaverDef.V1)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        pattern = saver.save(sess, os.path.join(directory, 'model.ckpt'))
    self.assertEndsWith(pattern, 'model.ckpt-?????-of-00001')
    self.assertEqual(
        {'dense/kernel': (2, 3), 'dense/bias': (3,)},
        dict(_checkpoint.load(pattern).shapes))
    self.assertEqual(pattern, _checkpoint.load(directory).prefix)
    missing = os.path.join(directory, 'other.ckpt-?????-of-00001')
    with self.assertRaisesRegex(_errors.CheckpointMissingError,
                                re.escape('No checkpoint at %r' % missing)):
      _checkpoint.load(missing)

  def test_non_path_type(self):
    for value in (None, 3, ['a'], 1.5, {'a': 1}):
      with self.assertRaisesRegex(
          TypeError, 'must be a str, bytes or os.PathLike, got ' +
          re.escape(repr(value)) + ' of type ' + type(value).__name__):
        _checkpoint.load(value)


class IndexTest(tf.test.TestCase):

  def test_shapes_and_dtypes(self):
    prefix, values = test_util.save_checkpoint(self.get_temp_dir(),
                                               _build_dtypes)
    checkpoint = _checkpoint.load(prefix)
    expected = {
        'f32': ((2, 3), tf.float32),
        'f16': ((4,), tf.float16),
        'bf16': ((5, 1), tf.bfloat16),
        'i64': ((3,), tf.int64),
        'flag': ((2, 2), tf.bool),
        'scalar': ((), tf.float64),
        'words': ((3,), tf.string),
    }
    self.assertEqual({n: s for n, (s, _) in expected.items()},
                     dict(checkpoint.shapes))
    self.assertEqual({n: d for n, (_, d) in expected.items()},
                     dict(checkpoint.dtypes))
    for name, (shape, _) in expected.items():
      self.assertIsInstance(checkpoint.shapes[name], tuple)
      self.assertEqual(shape, values[name].shape)
    self.assertIn('words', checkpoint)
    self.assertNotIn('word', checkpoint)

  def test_num_bytes(self):
    prefix, _ = test_util.save_checkpoint(self.get_temp_dir(), _build_dtypes)
    checkpoint = _checkpoint.load(prefix)
    self.assertEqual(2 * 3 * 4, checkpoint.num_bytes('f32'))
    self.assertEqual(4 * 2, checkpoint.num_bytes('f16'))
    self.assertEqual(5 * 1 * 2, checkpoint.num_bytes('bf16'))
    self.assertEqual(3 * 8, checkpoint.num_bytes('i64'))
    self.assertEqual(2 * 2 * 1, checkpoint.num_bytes('flag'))
    self.assertEqual(8, checkpoint.num_bytes('scalar'))
    self.assertEqual(3 * 64, checkpoint.num_bytes('words'))
    with self.assertRaisesRegex(KeyError, 'nope'):
      checkpoint.num_bytes('nope')


class DataFilesTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.prefix, _ = test_util.save_checkpoint(
        self.create_tempdir().full_path, _build_small)

  def test_layout_is_read_once_and_files_checked_every_load(self):
    with mock.patch.object(_index, 'read_index',
                           wraps=_index.read_index) as read, \
        mock.patch.object(_checkpoint, '_check_data_files',
                          wraps=_checkpoint._check_data_files) as check:
      for _ in range(3):
        _checkpoint.load(self.prefix)
    self.assertEqual(1, read.call_count)
    self.assertEqual(3, check.call_count)

  def test_index_the_reader_cannot_parse_loads_unchecked(self):
    error = _index.FormatError('compression type 1')
    with mock.patch.object(_index, 'layout', side_effect=error), \
        self.assertLogs(level='WARNING') as logs:
      checkpoint = _checkpoint.load(self.prefix)
    self.assertIn('dense/kernel', checkpoint)
    self.assertRegex('\n'.join(logs.output),
                     'Cannot check the data files of .*compression type 1')

  def test_data_file_that_cannot_be_read(self):
    stat = tf.io.gfile.stat

    def denied(path):
      if '.data-' in path:
        raise tf.errors.PermissionDeniedError(None, None, 'no access')
      return stat(path)

    with mock.patch.object(tf.io.gfile, 'stat', side_effect=denied):
      with self.assertRaisesRegex(
          tf.errors.PermissionDeniedError,
          re.escape("data file '%s.data-00000-of-00001' cannot be read: no "
                    'access' % self.prefix)):
        _checkpoint.load(self.prefix)

  def test_v1_checkpoint_has_no_index_to_check(self):
    directory = self.create_tempdir().full_path
    with tf.Graph().as_default():
      _build_small()
      saver = tf.compat.v1.train.Saver(
          write_version=tf.compat.v1.train.SaverDef.V1)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        prefix = saver.save(sess, os.path.join(directory, 'v1.ckpt'))
    self.assertFalse(os.path.exists(prefix + '.index'))
    self.assertEqual((2, 3), _checkpoint.load(prefix).shapes['dense/kernel'])


class CacheTest(tf.test.TestCase):

  def _spy(self):
    return mock.patch.object(
        tf.compat.v1.train, 'NewCheckpointReader',
        wraps=tf.compat.v1.train.NewCheckpointReader)

  def test_index_is_read_once(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(directory, _build_small)
    with self._spy() as spy:
      first = _checkpoint.load(prefix)
      self.assertEqual(1, spy.call_count)
      second = _checkpoint.load(prefix + '.index')
      third = _checkpoint.load(directory)
      self.assertEqual(1, spy.call_count)
    self.assertEqual(dict(first.shapes), dict(second.shapes))
    self.assertEqual(dict(first.dtypes), dict(second.dtypes))
    self.assertEqual(first.prefix, third.prefix)
    # Each load keeps what its caller passed.
    self.assertEqual(prefix, first.origin)
    self.assertEqual(prefix + '.index', second.origin)
    self.assertEqual(directory, third.origin)

  def test_reread_after_the_checkpoint_changes(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(directory, _build_small)
    with self._spy() as spy:
      before = _checkpoint.load(prefix)
      self.assertEqual(1, spy.call_count)

      def build_other():
        tf.compat.v1.get_variable('other/w', [4, 1])
        tf.compat.v1.get_variable('other/b', [1], dtype=tf.float64)

      # Same prefix, other content: the cache must not serve the old index.
      same_prefix, _ = test_util.save_checkpoint(directory, build_other)
      self.assertEqual(prefix, same_prefix)
      spy.reset_mock()  # save_checkpoint itself reads the new checkpoint.
      after = _checkpoint.load(prefix)
      self.assertEqual(1, spy.call_count)
      spy.assert_called_once_with(prefix)
      _checkpoint.load(prefix)
      self.assertEqual(1, spy.call_count)
    self.assertEqual({'dense/kernel': (2, 3), 'dense/bias': (3,)},
                     dict(before.shapes))
    self.assertEqual({'other/w': (4, 1), 'other/b': (1,)},
                     dict(after.shapes))
    self.assertEqual(tf.float64, after.dtypes['other/b'])

  def test_saved_again_within_the_same_second(self):
    # Same prefix, same index size, other shapes, the same mtime to the
    # nanosecond: TF's stat (whole seconds) cannot tell the two apart.
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [2, 3]))
    index = prefix + '.index'
    os.utime(index, ns=(1_700_000_000_123_456_789,) * 2)
    first = tf.io.gfile.stat(index)
    self.assertEqual((2, 3), _checkpoint.load(prefix).shapes['w'])
    same_prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [3, 2]))
    self.assertEqual(prefix, same_prefix)
    os.utime(index, ns=(1_700_000_000_123_456_789,) * 2)
    second = tf.io.gfile.stat(index)
    self.assertEqual((first.mtime_nsec, first.length),
                     (second.mtime_nsec, second.length))
    with self._spy() as spy:
      self.assertEqual((3, 2), _checkpoint.load(prefix).shapes['w'])
      self.assertEqual(1, spy.call_count)
      self.assertEqual((3, 2), _checkpoint.load(prefix).shapes['w'])
      self.assertEqual(1, spy.call_count)  # Then cached again.

  def test_rewritten_in_place_with_the_same_mtime(self):
    # Same inode, size and mtime: the ctime the rewrite set tells it.
    directory = self.create_tempdir().full_path
    other, _ = test_util.save_checkpoint(
        self.create_tempdir().full_path,
        lambda: tf.compat.v1.get_variable('w', [3, 2]))
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [2, 3]))
    index = prefix + '.index'
    before = os.stat(index)
    self.assertEqual((2, 3), _checkpoint.load(prefix).shapes['w'])
    time.sleep(0.05)  # Past the kernel's timestamp granularity.
    with open(other + '.index', 'rb') as f:
      content = f.read()
    self.assertLen(content, before.st_size)
    with open(index, 'r+b') as f:
      f.write(content)
    shutil.copyfile(other + '.data-00000-of-00001',
                    prefix + '.data-00000-of-00001')
    os.utime(index, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(index)
    self.assertEqual((before.st_ino, before.st_size, before.st_mtime_ns),
                     (after.st_ino, after.st_size, after.st_mtime_ns))
    self.assertEqual((3, 2), _checkpoint.load(prefix).shapes['w'])

  def test_file_scheme_is_local(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(directory, _build_small)
    with self._spy() as spy:
      for _ in range(2):
        checkpoint = _checkpoint.load('file://' + prefix)
      self.assertEqual(1, spy.call_count)
    self.assertEqual('file://' + prefix, checkpoint.prefix)
    self.assertEqual((2, 3), checkpoint.shapes['dense/kernel'])

  def test_no_cache_where_the_filesystem_records_no_mtime(self):
    # ram:// reports mtime 0: a rewrite of the same size would look unchanged.
    local = self.create_tempdir().full_path
    ram = 'ram://sources_test_no_mtime'
    prefix = ram + '/model.ckpt'
    tf.io.gfile.makedirs(ram)
    self.addCleanup(tf.io.gfile.rmtree, ram)

    def copy(build):
      source, _ = test_util.save_checkpoint(local, build)
      for suffix in ('.index', '.data-00000-of-00001'):
        if tf.io.gfile.exists(prefix + suffix):
          tf.io.gfile.remove(prefix + suffix)  # ram:// appends otherwise.
        tf.io.gfile.copy(source + suffix, prefix + suffix)
      return tf.io.gfile.stat(prefix + '.index')

    first = copy(lambda: tf.compat.v1.get_variable('w', [2, 3]))
    self.assertEqual(0, first.mtime_nsec)
    self.assertEqual((2, 3), _checkpoint.load(prefix).shapes['w'])
    second = copy(lambda: tf.compat.v1.get_variable('w', [3, 2]))
    self.assertEqual(first.length, second.length)
    self.assertEqual((3, 2), _checkpoint.load(prefix).shapes['w'])


if __name__ == '__main__':
  tf.test.main()
