"""Tests of warmstart._merge: merging checkpoints into a new one."""

from __future__ import annotations

import errno
import os
import re
import shutil
from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import warmstart
from tests import test_util
from warmstart import _errors
from warmstart import _merge
from warmstart._merge import _commit
from warmstart._merge import _files
from warmstart._merge import _layout
from warmstart._merge import _merge_checkpoints
from warmstart._merge import _write


def _encoder():
  tf.compat.v1.get_variable('encoder/w', [4, 3])
  tf.compat.v1.get_variable('encoder/b', [3])
  tf.compat.v1.get_variable('vocab', initializer=np.array([b'a', b'bb', b'c']))
  tf.compat.v1.train.get_or_create_global_step()


def _decoder():
  tf.compat.v1.get_variable('encoder/w', [3, 2])  # Same name, other model.
  tf.compat.v1.get_variable('out/w', [2, 5])
  tf.compat.v1.get_variable('count', initializer=np.int64(41))
  tf.compat.v1.train.get_or_create_global_step()


def _read(prefix: str) -> dict[str, np.ndarray]:
  reader = tf.compat.v1.train.NewCheckpointReader(prefix)
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def _snapshot(directory: str) -> dict[str, tuple[bytes, int]]:
  """Every file under `directory`: its bytes and modification time."""
  result = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        result[os.path.relpath(path, directory)] = (f.read(),
                                                    os.stat(path).st_mtime_ns)
  return result


class MergeTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    root = self.create_tempdir().full_path
    self.inputs = os.path.join(root, 'inputs')
    self.out_dir = os.path.join(root, 'out')
    self.a, self.a_values = test_util.save_checkpoint(
        os.path.join(self.inputs, 'a'), _encoder, seed=1)
    self.b, self.b_values = test_util.save_checkpoint(
        os.path.join(self.inputs, 'b'), _decoder, seed=2)
    self.output = os.path.join(self.out_dir, 'merged.ckpt')
    self.before = _snapshot(self.inputs)

  def tearDown(self):
    # Whatever the test did, the inputs are byte for byte what they were.
    self.assertEqual(_snapshot(self.inputs), self.before)
    super().tearDown()

  def _merge_both(self, **kwargs):
    return _merge.merge_checkpoints(
        [(self.a, {'global_step': None}),
         (self.b, {'encoder/': 'decoder/'})], self.output, **kwargs)

  def test_values_equal_the_sources_with_renames(self):
    result = self._merge_both()
    got = _read(self.output)
    expected = {
        'encoder/w': self.a_values['encoder/w'],
        'encoder/b': self.a_values['encoder/b'],
        'vocab': self.a_values['vocab'],
        'decoder/w': self.b_values['encoder/w'],
        'out/w': self.b_values['out/w'],
        'count': self.b_values['count'],
        'global_step': self.b_values['global_step'],
    }
    self.assertCountEqual(got, expected)
    for name, value in expected.items():
      self.assertAllEqual(got[name], value, msg=name)
      self.assertEqual(got[name].dtype, value.dtype, msg=name)
    self.assertCountEqual([t.name for t in result.tensors], expected)
    self.assertEqual(result.output, self.output)
    renamed = {t.name: t for t in result.tensors}['decoder/w']
    self.assertEqual((renamed.source, renamed.source_name, renamed.rule),
                     (self.b, 'encoder/w', 'encoder/=decoder/'))
    self.assertIn((self.a, 'global_step', 'dropped by global_step='),
                  result.dropped)

  def test_only_the_output_files_appear(self):
    self._merge_both()
    files = sorted(os.listdir(self.out_dir))
    self.assertEqual(files, ['merged.ckpt.data-00000-of-00001',
                             'merged.ckpt.index'])

  def test_small_batches_write_shards_and_keep_values(self):
    result = self._merge_both(max_batch_bytes=16)
    data = [f for f in os.listdir(self.out_dir) if '.data-' in f]
    self.assertLen(data, len(result.tensors))  # One tensor per batch here.
    got = _read(self.output)
    self.assertAllEqual(got['decoder/w'], self.b_values['encoder/w'])
    self.assertAllEqual(got['vocab'], self.a_values['vocab'])

  def test_logs_progress(self):
    with self.assertLogs('absl', 'INFO') as logs:
      self._merge_both(log_every=2)
    progress = [r for r in logs.output if 'Merge: read' in r]
    self.assertLen(progress, 4)  # 7 tensors: at 2, 4, 6 and 7.
    self.assertIn('read 7 of 7 tensors', progress[-1])

  def test_logs_progress_by_bytes_too(self):
    with mock.patch.object(_write, 'LOG_EVERY_BYTES', 40):
      with self.assertLogs('absl', 'INFO') as logs:
        self._merge_both(log_every=1000)
    progress = [r for r in logs.output if 'Merge: read' in r]
    self.assertGreater(len(progress), 2)
    self.assertLess(len(progress), 7)  # Not one per tensor: per 40 bytes.

  def test_scope_root_and_strip_renames(self):
    _merge.merge_checkpoints(
        [(self.a, {'/': 'teacher/', 'global_step': None}),
         (self.b, {'encoder/': '/', 'out/w': 'head/kernel'})], self.output)
    got = _read(self.output)
    self.assertCountEqual(got, [
        'teacher/encoder/w', 'teacher/encoder/b', 'teacher/vocab', 'w',
        'head/kernel', 'count', 'global_step'
    ])
    self.assertAllEqual(got['teacher/encoder/w'], self.a_values['encoder/w'])
    self.assertAllEqual(got['w'], self.b_values['encoder/w'])
    self.assertAllEqual(got['head/kernel'], self.b_values['out/w'])

  def test_exact_rename_beats_scope_and_longest_scope_wins(self):
    _merge.merge_checkpoints(
        [(self.a, {'/': 'x/', 'encoder/': 'enc/', 'encoder/b': 'bias'})],
        self.output)
    self.assertCountEqual(
        _read(self.output),
        ['enc/w', 'bias', 'x/vocab', 'x/global_step'])

  def test_exclude_leaves_tensors_out(self):
    result = _merge.merge_checkpoints(
        [self.a, (self.b, {'encoder/': 'decoder/'})], self.output,
        exclude=['global_step$', r'.*/b$'])
    got = _read(self.output)
    self.assertNotIn('global_step', got)
    self.assertNotIn('encoder/b', got)
    self.assertIn('encoder/w', got)
    self.assertLen(result.dropped, 3)

  def test_conflict_names_both_sources(self):
    with self.assertRaisesRegex(
        _errors.ConflictError,
        r"'encoder/w' would come from both %s .* and %s" % (self.a, self.b)):
      _merge.merge_checkpoints([self.a, self.b], self.output)
    self.assertFalse(os.path.exists(self.out_dir) and os.listdir(self.out_dir))

  def test_conflict_within_one_source_names_the_rule(self):
    with self.assertRaisesRegex(_errors.ConflictError,
                                r"'vocab' would come from .*rule encoder/b="):
      _merge.merge_checkpoints([(self.a, {'encoder/b': 'vocab'})],
                               self.output)

  def test_every_problem_is_reported(self):
    with self.assertRaisesRegex(
        _errors.ConflictError,
        r"(?s)3 problems with this merge.*encoder/w.*global_step.*nope"):
      _merge.merge_checkpoints([self.a, (self.b, {'nope': 'x'})], self.output)

  def test_unmatched_rename_and_exclude(self):
    with self.assertRaisesRegex(_errors.UnmatchedRuleError,
                                r"Rename encoder=enc matches no tensor of .*"
                                r"Did you mean: 'encoder/'"):
      _merge.merge_checkpoints([(self.a, {'encoder': 'enc'})], self.output)
    with self.assertRaisesRegex(_errors.UnmatchedRuleError,
                                r"Exclude pattern 'bias' matches no tensor"):
      _merge.merge_checkpoints([self.a], self.output, exclude='bias')
    _merge.merge_checkpoints([(self.a, {'encoder': 'enc'})], self.output,
                             exclude='bias', allow_unmatched=True)
    self.assertCountEqual(_read(self.output), self.a_values)

  def test_malformed_renames(self):
    with self.assertRaisesRegex(_errors.SettingsError,
                                r"encoder/=enc .*write encoder/=enc/"):
      _merge.merge_checkpoints([(self.a, {'encoder/': 'enc'})], self.output)
    with self.assertRaisesRegex(_errors.SettingsError, r"'vocab'.*got ''"):
      _merge.merge_checkpoints([(self.a, {'vocab': ''})], self.output)
    with self.assertRaisesRegex(TypeError, 'renames of source'):
      _merge.merge_checkpoints([(self.a, ['vocab'])], self.output)
    with self.assertRaisesRegex(TypeError, 'list of sources'):
      _merge.merge_checkpoints(self.a, self.output)
    with self.assertRaisesRegex(_errors.SettingsError, 'Nothing to merge'):
      _merge.merge_checkpoints([self.a], self.output, exclude='.*')

  def test_missing_source_names_it(self):
    missing = os.path.join(self.inputs, 'missing.ckpt')
    with self.assertRaisesRegex(_errors.CheckpointNotFoundError,
                                'missing.ckpt'):
      _merge.merge_checkpoints([self.a, missing], self.output)

  def test_refuses_to_overwrite(self):
    self._merge_both()
    first = _snapshot(self.out_dir)
    with self.assertRaisesRegex(FileExistsError,
                                r"merged.ckpt' exists .*overwrite=True"):
      _merge.merge_checkpoints([self.b], self.output)
    self.assertEqual(_snapshot(self.out_dir), first)

  def test_overwrite_replaces_and_leaves_no_stale_shard(self):
    self._merge_both(max_batch_bytes=16)  # Seven data files.
    _merge.merge_checkpoints([self.b], self.output, overwrite=True)
    self.assertEqual(sorted(os.listdir(self.out_dir)),
                     ['merged.ckpt.data-00000-of-00001', 'merged.ckpt.index'])
    got = _read(self.output)
    self.assertCountEqual(got, self.b_values)
    self.assertAllEqual(got['encoder/w'], self.b_values['encoder/w'])

  def test_output_may_not_be_a_source_or_a_directory(self):
    with self.assertRaisesRegex(_errors.SettingsError, 'is one of the sources'):
      _merge.merge_checkpoints([self.a], self.a, overwrite=True)
    with self.assertRaisesRegex(_errors.SettingsError, 'is a directory'):
      _merge.merge_checkpoints([self.a], self.inputs)

  def test_failure_mid_write_leaves_nothing(self):
    real_save = _write._save_batch
    calls = []

    def failing_save(*args):
      calls.append(args[0])
      if len(calls) == 3:
        raise OSError('disk full (injected)')
      real_save(*args)

    with mock.patch.object(_write, '_save_batch', failing_save):
      with self.assertRaisesRegex(OSError, 'injected'):
        self._merge_both(max_batch_bytes=16)
    self.assertLen(calls, 3)
    # No output, no staging folder, not even the directory it made.
    self.assertFalse(os.path.exists(self.out_dir))

  def test_failure_at_the_index_keeps_the_previous_output(self):
    _merge.merge_checkpoints([self.b], self.output)
    previous = _snapshot(self.out_dir)
    real_rename = _commit._rename

    def failing_rename(src, dst):
      if dst == self.output + '.index' and src.endswith('/merged.index'):
        raise OSError('crash before the index (injected)')
      real_rename(src, dst)

    with mock.patch.object(_commit, '_rename', failing_rename):
      with self.assertRaisesRegex(OSError, 'injected'):
        self._merge_both(overwrite=True, max_batch_bytes=16)
    self.assertEqual(_snapshot(self.out_dir), previous)
    self.assertAllEqual(_read(self.output)['out/w'], self.b_values['out/w'])

  def test_failure_at_the_index_without_previous_output(self):
    real_rename = _commit._rename

    def failing_rename(src, dst):
      if dst == self.output + '.index':
        raise OSError('crash before the index (injected)')
      real_rename(src, dst)

    with mock.patch.object(_commit, '_rename', failing_rename):
      with self.assertRaisesRegex(OSError, 'injected'):
        self._merge_both()
    self.assertFalse(os.path.exists(self.out_dir))

  def test_failure_removes_the_directories_it_made_and_only_those(self):
    os.makedirs(self.out_dir)  # Empty, but the user's.
    nested = os.path.join(self.out_dir, 'new', 'newer', 'm.ckpt')
    for output in (self.output, nested):
      with mock.patch.object(_write, '_join_shards',
                             side_effect=OSError('injected')):
        with self.assertRaisesRegex(OSError, 'injected'):
          _merge.merge_checkpoints([self.b], output)
      self.assertEqual(os.listdir(self.out_dir), [])

  def test_works_while_a_graph_is_the_default(self):
    with tf.Graph().as_default():
      self._merge_both()
    self.assertCountEqual(_read(self.output), [
        'encoder/w', 'encoder/b', 'vocab', 'decoder/w', 'out/w', 'count',
        'global_step'
    ])

  def test_object_graph_of_tf2_checkpoints_is_left_out(self):
    ckpt = tf.train.Checkpoint(v=tf.Variable([1.0, 2.0]))
    tf2 = ckpt.write(os.path.join(self.get_temp_dir(), 'tf2', 'ckpt'))
    self.assertIn(_merge.OBJECT_GRAPH, _read(tf2))
    result = _merge.merge_checkpoints([tf2], self.output)
    got = _read(self.output)
    self.assertNotIn(_merge.OBJECT_GRAPH, got)
    # Written under the variable's name (eager: 'Variable'), not its key.
    self.assertAllEqual(got['Variable'], [1.0, 2.0])
    self.assertNotIn('v/.ATTRIBUTES/VARIABLE_VALUE', got)
    self.assertIn(_merge.OBJECT_GRAPH, [n for _, n, _ in result.dropped])

  def test_tf2_renames_apply_to_variable_names(self):
    ckpt = tf.train.Checkpoint(layer=tf.Variable([3.0], name='enc/w'),
                               step=tf.Variable(5, name='step'))
    tf2 = ckpt.write(os.path.join(self.get_temp_dir(), 'tf2r', 'ckpt'))
    result = _merge.merge_checkpoints([(tf2, {'enc/': 'teacher/enc/'})],
                                      self.output)
    got = _read(self.output)
    self.assertCountEqual(['teacher/enc/w', 'step'], got)
    self.assertAllEqual([3.0], got['teacher/enc/w'])
    self.assertEqual(
        ('teacher/enc/w', 'layer/.ATTRIBUTES/VARIABLE_VALUE',
         'enc/=teacher/enc/'),
        [(t.name, t.source_name, t.rule) for t in result.tensors
         if t.name.startswith('teacher/')][0])
    with self.assertRaisesRegex(_errors.UnmatchedRuleError,
                                r"Rename ecn/=x/ .*Did you mean: 'enc/'"):
      _merge.plan_merge([(tf2, {'ecn/': 'x/'})])

  def test_plan_merge_reads_nothing_and_writes_nothing(self):
    result = _merge.plan_merge([self.a, (self.b, {'encoder/': 'decoder/'})],
                               exclude='global_step')
    self.assertEqual(result.output, '')
    self.assertFalse(os.path.exists(self.out_dir))
    self.assertEqual(result.num_bytes,
                     sum(t.num_bytes for t in result.tensors))
    self.assertIn('decoder/w', result.table())
    self.assertEqual(result.to_dict()['num_tensors'], 6)


class MergeOutputTest(tf.test.TestCase):
  """Outputs refused before anything is written, and where merges may go."""

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.inputs = os.path.join(self.root, 'inputs')
    self.a, self.a_values = test_util.save_checkpoint(
        os.path.join(self.inputs, 'a'), _encoder, seed=1)
    self.b, self.b_values = test_util.save_checkpoint(
        os.path.join(self.inputs, 'b'), _decoder, seed=2)
    self.before = _snapshot(self.inputs)

  def tearDown(self):
    self.assertEqual(_snapshot(self.inputs), self.before)
    super().tearDown()

  def test_glob_characters_are_refused_before_anything_is_written(self):
    for name, chars in (('m[1].ckpt', "'\\['"), ('m*.ckpt', "'\\*'"),
                        ('m?.ckpt', "'\\?'")):
      output = os.path.join(self.root, 'out', name)
      with self.assertRaisesRegex(
          _errors.SettingsError, r'Output prefix %s holds the glob character '
          r'%s: TF looks checkpoint files up with glob patterns' %
          (re.escape(repr(output)), chars)):
        _merge.merge_checkpoints([self.a], output)
    glob_dir = os.path.join(self.root, 'out[2]', 'm.ckpt')
    with self.assertRaisesRegex(_errors.SettingsError,
                                r"holds the glob character '\['"):
      _merge.merge_checkpoints([self.a], glob_dir)
    self.assertFalse(os.path.exists(os.path.join(self.root, 'out')))
    self.assertFalse(os.path.exists(os.path.join(self.root, 'out[2]')))

  def test_a_nul_character_is_refused_before_anything_is_written(self):
    # TF's file functions take the path up to the NUL: without this check
    # the merge wrote '<dir>/.m.data-00000-of-00001' and then failed.
    output = os.path.join(self.root, 'out', 'm\x00x.ckpt')
    for function, kwargs in ((_merge.merge_checkpoints, {}),
                             (_merge.plan_merge, {'overwrite': True})):
      with self.assertRaisesRegex(
          _errors.SettingsError,
          r"Output prefix %s holds a NUL character \(at position %d\): "
          r"TensorFlow's file functions would cut the path there and write to "
          r"%s instead" % (re.escape(repr(output)), output.index('\x00'),
                           re.escape(repr(output[:output.index('\x00')])))):
        function([self.a], output=output, **kwargs)
    self.assertFalse(os.path.exists(os.path.join(self.root, 'out')))

  def test_tf_cannot_read_a_prefix_with_glob_characters(self):
    # Why such outputs are refused: TF's own reader globs the prefix.
    directory = os.path.join(self.root, 'tf')
    with tf.Graph().as_default():
      _decoder()
      saver = tf.compat.v1.train.Saver()
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        prefix = saver.save(sess, os.path.join(directory, 'm[1].ckpt'),
                            write_meta_graph=False)
    self.assertTrue(os.path.exists(prefix + '.index'))
    with self.assertRaisesRegex(tf.errors.NotFoundError,
                                'Failed to find any matching files'):
      tf.compat.v1.train.NewCheckpointReader(prefix)

  def test_output_reaching_a_source_through_a_symlinked_directory(self):
    link = os.path.join(self.root, 'link')
    os.symlink(self.inputs, link)
    through_link = os.path.join(link, 'a', 'model.ckpt')
    for overwrite in (False, True):
      with self.assertRaisesRegex(
          _errors.SettingsError,
          r'Output %s is one of the sources: %s \(both are %s\)' %
          (re.escape(repr(through_link)), re.escape(repr(self.a)),
           re.escape(repr(os.path.realpath(self.a))))):
        _merge.merge_checkpoints([self.a, self.b], through_link,
                                 overwrite=overwrite,
                                 exclude='(encoder/w|global_step)')
    # Other names in that directory are fine: the inputs stay as they were.
    _merge.merge_checkpoints([self.b], os.path.join(link, 'a', 'c.ckpt'))
    self.assertCountEqual(_read(os.path.join(self.inputs, 'a', 'c.ckpt')),
                          self.b_values)
    for name in os.listdir(os.path.join(self.inputs, 'a')):
      if name.startswith('c.ckpt.'):
        os.remove(os.path.join(self.inputs, 'a', name))

  def test_source_whose_files_link_to_the_output_files(self):
    output = os.path.join(self.root, 'out', 'merged.ckpt')
    _merge.merge_checkpoints([self.b], output)
    linked = os.path.join(self.root, 'linked')
    os.makedirs(linked)
    for name in os.listdir(os.path.dirname(output)):
      os.symlink(os.path.join(os.path.dirname(output), name),
                 os.path.join(linked, name.replace('merged.ckpt', 'l')))
    with self.assertRaisesRegex(
        _errors.SettingsError, r"Output %s is one of the sources: '.*l.index' "
        r"of source '.*linked/l' is a link to %s" %
        (re.escape(repr(output)),
         re.escape(repr(os.path.realpath(output + '.index'))))):
      _merge.merge_checkpoints([os.path.join(linked, 'l'), self.a], output,
                               overwrite=True, exclude='(encoder/w|global)')

  def test_output_in_the_source_directory_by_identity_not_by_path(self):
    # A bind mount or a second mount of the volume: another path to the same
    # directory, which realpath does not resolve. Simulated here with a
    # symlinked directory and realpath blinded (merge_faults_test.py has a
    # real bind mount): the directories' device and inode still match.
    link = os.path.join(self.root, 'alias')
    os.symlink(self.inputs, link)
    through = os.path.join(link, 'a', 'model.ckpt')
    directory = os.stat(os.path.dirname(self.a))
    with mock.patch.object(_files, 'resolve', lambda path: path):
      self.assertNotEqual(_files.resolve_prefix(through),
                          _files.resolve_prefix(self.a))
      for overwrite in (False, True):
        with self.assertRaisesRegex(
            _errors.SettingsError,
            r'Output %s is one of the sources: %s\. Their directories %s and '
            r'%s are the same directory \(device %d, inode %d\), reached by '
            r'two paths \(a bind mount, a second mount of the volume or a '
            r'linked directory\); write the merge to a new prefix' %
            (re.escape(repr(through)), re.escape(repr(self.a)),
             re.escape(repr(os.path.dirname(through))),
             re.escape(repr(os.path.dirname(self.a))), directory.st_dev,
             directory.st_ino)):
          _merge.merge_checkpoints([self.a, self.b], through,
                                   overwrite=overwrite,
                                   exclude='(encoder/w|global_step)')
        with self.assertRaisesRegex(_errors.SettingsError,
                                    'same directory'):
          _merge.plan_merge([self.a, self.b], output=through,
                            overwrite=overwrite,
                            exclude='(encoder/w|global_step)')

  def test_output_whose_files_are_hard_links_to_a_source(self):
    # `cp -al` of a source, or one of its files linked: the output's files
    # are the source's under other names. Refused before anything is written.
    index, data = '.index', '.data-00000-of-00001'
    for i, linked in enumerate(([index], [data], [index, data])):
      output = os.path.join(self.root, 'hard%d' % i, 'm.ckpt')
      os.makedirs(os.path.dirname(output))
      for suffix in linked:
        os.link(self.a + suffix, output + suffix)
      before = _snapshot(os.path.dirname(output))
      first = linked[0]
      for overwrite in (True, False):
        with self.subTest(linked=linked, overwrite=overwrite):
          with self.assertRaisesRegex(
              _errors.SettingsError,
              r'Output %s is one of the sources: its file %s and %s of source '
              r'%s are the same file \(device %d, inode %d: a hard link, or a '
              r'link to it\); write the merge to a new prefix' %
              (re.escape(repr(output)), re.escape(repr(output + first)),
               re.escape(repr(self.a + first)), re.escape(repr(self.a)),
               os.stat(self.a + first).st_dev,
               os.stat(self.a + first).st_ino)):
            _merge.merge_checkpoints([self.a, self.b], output,
                                     overwrite=overwrite,
                                     exclude='(encoder/w|global_step)')
      self.assertEqual(_snapshot(os.path.dirname(output)), before)
    self.assertCountEqual(_read(self.a), self.a_values)

  def test_source_whose_files_are_hard_links_to_the_output_files(self):
    output = os.path.join(self.root, 'out', 'merged.ckpt')
    _merge.merge_checkpoints([self.b], output)
    linked = os.path.join(self.root, 'linked')
    os.makedirs(linked)
    for name in os.listdir(os.path.dirname(output)):
      os.link(os.path.join(os.path.dirname(output), name),
              os.path.join(linked, name.replace('merged.ckpt', 'l')))
    before = _snapshot(self.root)
    with self.assertRaisesRegex(
        _errors.SettingsError, r"Output %s is one of the sources: its file "
        r"%s and '.*linked/l.index' of source '.*linked/l' are the same file" %
        (re.escape(repr(output)), re.escape(repr(output + '.index')))):
      _merge.merge_checkpoints([os.path.join(linked, 'l'), self.a], output,
                               overwrite=True, exclude='(encoder/w|global)')
    self.assertEqual(_snapshot(self.root), before)

  def test_identity_is_none_where_there_is_none(self):
    self.assertIsNone(_files.identity('gs://bucket/model.ckpt.index'))
    self.assertIsNone(_files.identity(os.path.join(self.root, 'missing')))
    self.assertEqual(_files.identity(self.a + '.index'),
                     (os.stat(self.a + '.index').st_dev,
                      os.stat(self.a + '.index').st_ino))

  def test_relative_output_without_a_directory(self):
    cwd = os.getcwd()
    os.chdir(self.create_tempdir().full_path)
    try:
      _merge.merge_checkpoints([self.b], 'm.ckpt')
      _merge.merge_checkpoints([self.a], 'm.ckpt', overwrite=True)
      self.assertCountEqual(_read('m.ckpt'), self.a_values)
      self.assertEqual(sorted(os.listdir('.')),
                       ['m.ckpt.data-00000-of-00002',
                        'm.ckpt.data-00001-of-00002', 'm.ckpt.index'])
    finally:
      os.chdir(cwd)

  def test_non_local_filesystem(self):
    output = 'ram://merge_test_%s/m.ckpt' % self.id().split('.')[-1]
    _merge.merge_checkpoints([self.b], output)
    _merge.merge_checkpoints([self.a], output, overwrite=True)
    got = _read(output)
    self.assertCountEqual(got, self.a_values)
    self.assertAllEqual(got['encoder/w'], self.a_values['encoder/w'])
    self.assertEqual(sorted(tf.io.gfile.listdir(os.path.dirname(output))),
                     ['m.ckpt.data-00000-of-00002',
                      'm.ckpt.data-00001-of-00002', 'm.ckpt.index'])
    with self.assertRaisesRegex(_errors.SettingsError,
                                'is one of the sources'):
      _merge.merge_checkpoints([output], output, overwrite=True)

  def test_allow_unmatched_names_each_skipped_rule_in_a_warning(self):
    with self.assertLogs('absl', 'WARNING') as logs:
      _merge.merge_checkpoints(
          [(self.a, {'encoder': 'enc', 'nope/': 'x/'})],
          os.path.join(self.root, 'out', 'm.ckpt'), exclude=['bias', 'vocab'],
          allow_unmatched=True)
    text = '\n'.join(logs.output)
    self.assertRegex(text, r'Rename encoder=enc matches no tensor of '
                     r'.*a/model\.ckpt\. Skipped \(allow_unmatched\)')
    self.assertRegex(text, r'Rename nope/=x/ matches no tensor')
    self.assertRegex(text, r"Exclude pattern 'bias' matches no tensor")
    self.assertNotIn("pattern 'vocab'", text)


def _space_errors():
  """(name, error) of each way a full disk or quota reaches the merge."""
  return (
      ('OSError ENOSPC', OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                                 'shard-00000.data-00000-of-00002')),
      ('OSError EDQUOT', OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))),
      ('TF ENOSPC', tf.errors.ResourceExhaustedError(
          None, None, '/out/.m.merge-x/shard-00000.data-00000-of-00001.'
          'tempstate123; No space left on device')),
      ('TF EDQUOT', tf.errors.ResourceExhaustedError(
          None, None, '/out/.m.merge-x/merged.index; Disk quota exceeded')),
  )


def _failing_at(owner, name, error, nth=1, when=lambda *args: True):
  """Patches `owner.name` to raise `error` at its `nth` call that `when` takes."""
  real = getattr(owner, name)
  calls = []

  def step(*args, **kwargs):
    if when(*args):
      calls.append(args)
      if len(calls) == nth:
        raise error
    return real(*args, **kwargs)

  return mock.patch.object(owner, name, step)


#: Each step of a merge that writes, and how to make it fail there.
_WRITE_STEPS = {
    'output_directory': lambda e: _failing_at(tf.io.gfile, 'makedirs', e),
    'staging_folder': lambda e: _failing_at(tf.io.gfile, 'mkdir', e),
    'first_shard': lambda e: _failing_at(_write, '_save_batch', e),
    'second_shard': lambda e: _failing_at(_write, '_save_batch', e, nth=2),
    'join': lambda e: _failing_at(_write, '_join_shards', e),
    'data_file_into_place': lambda e: _failing_at(_commit, '_rename', e),
    'index_into_place': lambda e: _failing_at(
        _commit, '_rename', e, when=lambda src, dst: dst.endswith('.index')),
}


class OutOfSpaceTest(tf.test.TestCase, parameterized.TestCase):
  """A full disk or quota at each write step: a named error, nothing left.

  The fault is injected (the errors TF and Python raise for ENOSPC and
  EDQUOT); merge_faults_test.py fills a real filesystem.
  """

  def setUp(self):
    super().setUp()
    root = self.create_tempdir().full_path
    self.inputs = os.path.join(root, 'inputs')
    self.a, _ = test_util.save_checkpoint(
        os.path.join(self.inputs, 'a'), _encoder, seed=1)
    self.b, self.b_values = test_util.save_checkpoint(
        os.path.join(self.inputs, 'b'), _decoder, seed=2)
    self.out_dir = os.path.join(root, 'out')
    self.output = os.path.join(self.out_dir, 'merged.ckpt')
    self.sources = [(self.a, {'/': 'a/'}), (self.b, {'/': 'b/'})]
    plan = _merge.plan_merge(self.sources)
    self.num_bytes, self.num_tensors = plan.num_bytes, len(plan.tensors)
    self.before = _snapshot(self.inputs)

  def tearDown(self):
    self.assertEqual(_snapshot(self.inputs), self.before)
    super().tearDown()

  def assert_out_of_space(self, error_name, error, overwrite):
    code = errno.EDQUOT if 'EDQUOT' in error_name else errno.ENOSPC
    with self.assertRaisesRegex(
        _merge.OutOfSpaceError,
        r'^%s \(%s\) while merging into %s: the merge writes %d bytes '
        r'\(.* in %d tensors, strings counted at 64 bytes an element\) plus '
        r'its index; \d+ bytes \(.*\) are free there now\. Nothing of it was '
        r'left \(no staging folder, no partial output\)%s\. Free space%s, '
        r'or write the merge to another filesystem\.$' %
        (os.strerror(code), errno.errorcode[code], re.escape(repr(
            self.output)), self.num_bytes, self.num_tensors,
         '; the checkpoint that was at the output is unchanged'
         if overwrite else '', ' or quota' if code == errno.EDQUOT else '')
    ) as raised:
      _merge.merge_checkpoints(self.sources, self.output,
                               overwrite=overwrite, max_batch_bytes=64)
    e = raised.exception
    self.assertIsInstance(e, warmstart.Error)
    self.assertIsInstance(e, OSError)
    self.assertEqual((e.errno, e.output, e.num_bytes),
                     (code, self.output, self.num_bytes))
    self.assertIs(e.__cause__, error)

  @parameterized.named_parameters(*[(step, step) for step in _WRITE_STEPS])
  def test_full_disk_at_each_step(self, step):
    for error_name, error in _space_errors():
      shutil.rmtree(self.out_dir, ignore_errors=True)
      with self.subTest(error=error_name, output='new'):
        with _WRITE_STEPS[step](error):
          self.assert_out_of_space(error_name, error, overwrite=False)
        self.assertFalse(os.path.exists(self.out_dir))
      with self.subTest(error=error_name, output='overwritten'):
        _merge.merge_checkpoints([(self.b, {'/': 'old/'})], self.output,
                                 overwrite=True)
        previous = _snapshot(self.out_dir)
        with _WRITE_STEPS[step](error):
          self.assert_out_of_space(error_name, error, overwrite=True)
        self.assertEqual(_snapshot(self.out_dir), previous)
        got = _read(self.output)
        self.assertCountEqual(got, ['old/' + n for n in self.b_values])
        for name, value in self.b_values.items():
          self.assertAllEqual(got['old/' + name], value)

  def test_other_write_errors_are_raised_as_they_are(self):
    for error in (OSError(errno.EACCES, 'Permission denied'),
                  tf.errors.PermissionDeniedError(None, None, 'x; denied'),
                  tf.errors.ResourceExhaustedError(None, None, 'OOM')):
      with self.subTest(error=repr(error)):
        with _WRITE_STEPS['first_shard'](error):
          with self.assertRaises(type(error)) as raised:
            _merge.merge_checkpoints(self.sources, self.output)
        self.assertIs(raised.exception, error)
        self.assertFalse(os.path.exists(self.out_dir))

  def test_the_bytes_named_are_the_bytes_of_the_data_files(self):
    # Numbers only (a string's size is estimated): the data files a merge
    # writes hold exactly the bytes the error would name.
    result = _merge.merge_checkpoints([self.b], self.output,
                                      max_batch_bytes=16)
    written = sum(os.path.getsize(f.path)
                  for f in _files.data_files(self.output))
    self.assertEqual(written, result.num_bytes)
    self.assertEqual(result.num_bytes, sum(
        v.nbytes for v in self.b_values.values()))

  def test_space_errno(self):
    for name, error in _space_errors():
      self.assertEqual(_merge_checkpoints.space_errno(error),
                       errno.EDQUOT if 'EDQUOT' in name else errno.ENOSPC,
                       name)
    for error in (OSError(errno.EACCES, 'x'), ValueError('No space left'),
                  tf.errors.NotFoundError(None, None, 'x')):
      self.assertIsNone(_merge_checkpoints.space_errno(error), repr(error))


class KeywordTest(tf.test.TestCase):
  """A mistyped keyword names the keyword meant."""

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.b, _ = test_util.save_checkpoint(
        os.path.join(self.root, 'b'), _decoder)
    self.output = os.path.join(self.root, 'out', 'm.ckpt')

  def test_mistyped_keywords_say_what_was_meant(self):
    for function, args in ((warmstart.merge_checkpoints,
                            ([self.b], self.output)),
                           (_merge.plan_merge, ([self.b],))):
      name = function.__name__
      for kwargs, regex in (
          ({'overwite': True},
           r"^%s\(\) got an unexpected keyword argument 'overwite'\. Did "
           r"you mean: 'overwrite'\? Valid keyword arguments: sources, " %
           name),
          ({'exlude': 'x', 'allow_unmached': True},
           r"arguments 'exlude'\. Did you mean: 'exclude'\? 'allow_unmached'"
           r"\. Did you mean: 'allow_unmatched'\?"),
          ({'max_chunk_bytes': 16},
           r"'max_chunk_bytes': a merge takes the option max_chunk_bytes as "
           r"'max_batch_bytes'\."),
          ({'skip_missing': True},
           r"'skip_missing': the option skip_missing does not apply to a "
           r"merge\. Valid keyword arguments: .*max_batch_bytes"),
      ):
        with self.subTest(function=name, kwargs=kwargs):
          with self.assertRaisesRegex(_errors.SettingsError, regex):
            function(*args, **kwargs)
    self.assertFalse(os.path.exists(os.path.dirname(self.output)))

  def test_signatures_stay_visible(self):
    import inspect  # pylint: disable=g-import-not-at-top
    self.assertIn('overwrite',
                  inspect.signature(warmstart.merge_checkpoints).parameters)
    self.assertIn('output', inspect.signature(_merge.plan_merge).parameters)


class DryRunTest(tf.test.TestCase):
  """`plan_merge(output=...)` checks what the merge would, writes nothing."""

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.a, _ = test_util.save_checkpoint(
        os.path.join(self.root, 'a'), _encoder)
    self.b, _ = test_util.save_checkpoint(
        os.path.join(self.root, 'b'), _decoder)
    self.output = os.path.join(self.root, 'out', 'm.ckpt')

  def test_reports_the_output_a_merge_reports(self):
    plan = _merge.plan_merge([self.b], output=self.output)
    self.assertFalse(os.path.exists(os.path.dirname(self.output)))
    self.assertTrue(plan.dry_run)
    self.assertIn('Would merge 4 tensors', plan.summary())
    result = _merge.merge_checkpoints([self.b], self.output)
    self.assertFalse(result.dry_run)
    self.assertEqual(plan.output, result.output)
    self.assertEqual(plan.to_dict()['output'], result.to_dict()['output'])
    self.assertEqual(result.to_dict()['output'], self.output)
    self.assertEqual(plan.to_dict() | {'dry_run': False}, result.to_dict())

  def test_refuses_what_the_merge_refuses(self):
    _merge.merge_checkpoints([self.b], self.output)
    before = _snapshot(self.root)
    with self.assertRaisesRegex(FileExistsError,
                                r"m.ckpt' exists .*overwrite=True"):
      _merge.plan_merge([self.a], output=self.output)
    with self.assertRaisesRegex(_errors.SettingsError,
                                'is one of the sources'):
      _merge.plan_merge([self.b], output=self.b, overwrite=True)
    with self.assertRaisesRegex(_errors.SettingsError, 'is a directory'):
      _merge.plan_merge([self.b], output=self.root)
    with self.assertRaisesRegex(_errors.SettingsError, 'glob character'):
      _merge.plan_merge([self.b], output=self.output + '*')
    with self.assertRaisesRegex(_errors.SettingsError,
                                'Cannot replace .* safely'):
      _merge.plan_merge([self.b], output=self.output, overwrite=True,
                        exclude='(?!count$)')
    self.assertEqual(_merge.plan_merge([self.a], output=self.output,
                                       overwrite=True).output, self.output)
    self.assertEqual(_snapshot(self.root), before)


class ShardCountTest(tf.test.TestCase, parameterized.TestCase):
  """A new checkpoint never shares a data file name with the old one."""

  def setUp(self):
    super().setUp()
    root = self.create_tempdir().full_path
    self.a, self.a_values = test_util.save_checkpoint(
        os.path.join(root, 'a'), _encoder, seed=1)
    self.b, self.b_values = test_util.save_checkpoint(
        os.path.join(root, 'b'), _decoder, seed=2)
    self.output = os.path.join(root, 'out', 'm.ckpt')

  def _counts(self) -> set[int]:
    return {f.num_shards for f in _files.data_files(self.output)}

  def test_num_shards_reads_what_tf_wrote(self):
    self.assertEqual(_files.num_shards(self.a + '.index'), 1)
    _merge.merge_checkpoints([self.a, self.b], self.output,
                             exclude='(encoder/w|global)', max_batch_bytes=16)
    self.assertEqual(_files.num_shards(self.output + '.index'), 4)
    self.assertEqual(self._counts(), {4})

  def test_num_shards_of_damaged_indexes(self):
    damaged = self.output + '.index'
    os.makedirs(os.path.dirname(damaged))
    for content, why in ((b'', 'file of 0 bytes is shorter than a table '
                               'footer'),
                         (b'x' * 100, 'no table magic number at the end of '
                                      'the file')):
      with open(damaged, 'wb') as f:
        f.write(content)
      with self.assertRaisesRegex(
          ValueError, r'%s is not a checkpoint index this can read \(%s\)' %
          (re.escape(damaged), why)):
        _files.num_shards(damaged)
    with open(self.a + '.index', 'rb') as f:
      data = f.read()
    with open(damaged, 'wb') as f:
      f.write(b'\x01' + data[1:])
    with self.assertRaisesRegex(ValueError, 'corrupt block entry at byte 3'):
      _files.num_shards(damaged)

  def test_overwrite_alternates_shard_counts(self):
    counts = []
    for sources in ([self.b], [self.a], [self.b], [self.a]):
      _merge.merge_checkpoints(sources, self.output, overwrite=True)
      counts.append(self._counts())
    self.assertEqual(counts, [{1}, {2}, {1}, {2}])
    self.assertCountEqual(_read(self.output), self.a_values)

  @parameterized.parameters(*sorted(_layout.SLICEABLE_DTYPES))
  def test_one_tensor_over_one_data_file_is_written_in_two_slices(self, dtype):
    dtype = tf.as_dtype(dtype)
    value = (np.arange(15).reshape(5, 3) % 2).astype(dtype.as_numpy_dtype)
    root = self.create_tempdir().full_path
    one, _ = test_util.save_checkpoint(
        root, lambda: tf.compat.v1.get_variable('t', initializer=value))
    _merge.merge_checkpoints([self.b], self.output)
    _merge.merge_checkpoints([one], self.output, overwrite=True)
    self.assertEqual(self._counts(), {2})
    got = _read(self.output)
    self.assertCountEqual(got, ['t'])
    self.assertAllEqual(got['t'], value)
    self.assertEqual(got['t'].dtype, value.dtype)
    with tf.Graph().as_default():
      restored = tf.raw_ops.RestoreV2(
          prefix=self.output, tensor_names=['t'], shape_and_slices=[''],
          dtypes=[dtype])
      with tf.compat.v1.Session() as sess:
        self.assertAllEqual(sess.run(restored)[0], value)

  def test_a_tensor_that_cannot_be_split_over_one_data_file_is_refused(self):
    _merge.merge_checkpoints([self.b], self.output)
    before = _snapshot(os.path.dirname(self.output))
    half = os.path.join(self.create_tempdir().full_path, 'half')
    test_util.save_checkpoint(half, lambda: tf.compat.v1.get_variable(
        'h', initializer=np.ones([4, 2], np.float16)))
    # One element; strings; a dtype whose slices TF cannot join.
    for source, exclude in ((self.b, '(?!count$)'), (self.a, '(?!vocab$)'),
                            (half, ())):
      with self.assertRaisesRegex(
          _errors.SettingsError, r'Cannot replace %s safely: the new '
          r'checkpoint cannot be written in other than 1 data file .*already '
          r'has checkpoint files of 1 shard, .*Delete the old output first' %
          re.escape(self.output)):
        _merge.merge_checkpoints([source], self.output, overwrite=True,
                                 exclude=exclude)
    self.assertEqual(_snapshot(os.path.dirname(self.output)), before)

  def test_layout_cuts_the_largest_batch_then_slices(self):
    tensors = [
        _merge.MergedTensor(name=n, source='s', source_name=n, shape=shape,
                            dtype='float32', num_bytes=4 * int(np.prod(shape)))
        for n, shape in (('a', (2,)), ('b', (8, 2)), ('c', (3,)))]
    shards = _layout.layout(tensors, 1 << 20, forbidden={1})
    self.assertEqual([[p.tensor.name for p in s] for s in shards],
                     [['a', 'b'], ['c']])
    shards = _layout.layout(tensors[1:2], 1 << 20, forbidden={1, 2})
    self.assertEqual([(p.start, p.length, p.slice_spec())
                      for s in shards for p in s],
                     [(0, 2, '8 2 0,2:-'), (2, 2, '8 2 2,2:-'),
                      (4, 4, '8 2 4,4:-')])

  def test_commit_refuses_a_data_file_of_the_new_count(self):
    _merge.merge_checkpoints([self.b], self.output)
    staged = os.path.join(os.path.dirname(self.output), 'staged', 'm')
    _merge.merge_checkpoints([self.a], staged, max_batch_bytes=16)
    clash = self.output + '.data-00000-of-00004'
    with open(clash, 'wb') as f:
      f.write(b'written by someone else')
    before = _snapshot(os.path.dirname(self.output))
    with self.assertRaisesRegex(
        FileExistsError, r'Cannot commit the merge: .*m.ckpt.data-00000-of-'
        r'00004 already exists .*Nothing was changed'):
      _commit.commit(staged, self.output)
    self.assertEqual(_snapshot(os.path.dirname(self.output)), before)


class TFMergeV2CheckpointsTest(tf.test.TestCase):
  """Why merge never hands a user's checkpoint to MergeV2Checkpoints."""

  def test_it_consumes_its_inputs_even_with_delete_old_dirs_false(self):
    root = self.get_temp_dir()
    a, _ = test_util.save_checkpoint(os.path.join(root, 'a'), _encoder)
    b, _ = test_util.save_checkpoint(
        os.path.join(root, 'b'), lambda: tf.compat.v1.get_variable('x', [2]))
    out = os.path.join(root, 'out')
    os.makedirs(out)
    tf.raw_ops.MergeV2Checkpoints(
        checkpoint_prefixes=[a, b], destination_prefix=out + '/m',
        delete_old_dirs=False)
    for prefix in (a, b):
      self.assertFalse(os.path.exists(prefix + '.index'), prefix)
      self.assertEqual(tf.io.gfile.glob(prefix + '.data-*'), [], prefix)
    self.assertTrue(os.path.exists(out + '/m.index'))


if __name__ == '__main__':
  tf.test.main()
