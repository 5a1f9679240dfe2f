"""Tests of `merge_checkpoints` writing transformed tensors (the offline
conversion): a checkpoint under the new layout that TF's Saver reads.

Values are compared with numpy's; the tensors a transform reads are not
written under their old names; every error is raised before anything is
written.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

import warmstart as ws
from tests import test_util
from warmstart import _merge


def _build_a():
  get = tf.compat.v1.get_variable
  get('old/qkv', [4, 6])
  get('old/q', [4, 2])
  get('old/k', [4, 2])
  get('pt/weight', [5, 3])
  get('keep', [2])


class MergeTransformTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.prefix, cls.ckpt = test_util.save_checkpoint(
        os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__),
        _build_a)

  def output(self):
    return os.path.join(self.create_tempdir().full_path, 'out', 'model.ckpt')

  def test_split_transpose_concat_and_the_rest_as_is(self):
    output = self.output()
    result = ws.merge_checkpoints([(self.prefix, {
        'old/qkv': ws.Transform(['new/q', 'new/k', 'new/v'], ws.split(1)),
        'pt/weight': ws.Transform('tf/kernel', ws.transpose([1, 0])),
        ('old/q', 'old/k'): ws.Transform('new/qk', ws.concat(1)),
    })], output)
    got = test_util.checkpoint_values(output)
    for name, value in zip(('new/q', 'new/k', 'new/v'),
                           np.split(self.ckpt['old/qkv'], 3, axis=1)):
      np.testing.assert_array_equal(value, got[name])
    np.testing.assert_array_equal(self.ckpt['pt/weight'].T, got['tf/kernel'])
    np.testing.assert_array_equal(
        np.concatenate([self.ckpt['old/q'], self.ckpt['old/k']], axis=1),
        got['new/qk'])
    np.testing.assert_array_equal(self.ckpt['keep'], got['keep'])
    self.assertCountEqual(
        ['new/q', 'new/k', 'new/v', 'tf/kernel', 'new/qk', 'keep'], got)
    self.assertIn('split axis 1 -> 3 (part 1)', result.table())
    self.assertEqual(
        'transpose [1, 0]',
        [t for t in result.to_dict()['tensors']
         if t['name'] == 'tf/kernel'][0]['transform'])
    # TF's Saver reads the output under the new layout.
    with tf.Graph().as_default():
      kernel = tf.compat.v1.get_variable('tf/kernel', [3, 5])
      with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver([kernel]).restore(sess, output)
        np.testing.assert_array_equal(self.ckpt['pt/weight'].T,
                                      sess.run(kernel))

  def test_the_converted_checkpoint_warm_starts_like_the_transform(self):
    output = self.output()
    transform = {'pt/weight': ws.Transform('tf/kernel', ws.transpose([1, 0]))}
    ws.merge_checkpoints([(self.prefix, transform)], output,
                         exclude=['old/', 'keep'])
    build = lambda: tf.compat.v1.get_variable('tf/kernel', [3, 5])
    direct, _ = test_util.run_graph(
        build, lambda: ws.init_from_checkpoint(self.prefix, transform))
    converted, _ = test_util.run_graph(
        build, lambda: ws.init_from_checkpoint(output, {'/': '/'}))
    np.testing.assert_array_equal(direct['tf/kernel'], converted['tf/kernel'])

  def test_errors_before_anything_is_written(self):
    output = self.output()
    cases = [
        ({'old/nope': ws.Transform('x', ws.transpose([1, 0]))},
         ws.TensorNotFoundError, r"'old/nope' not in .*Did you mean"),
        ({'old/qkv': ws.Transform(['a', 'b', 'c', 'd'], ws.split(1))},
         ws.MismatchError,
         r'does not fit shape \[4, 6\]: split axis 1: 6 along axis 1 of '
         r'\[4, 6\] does not divide into 4 equal parts'),
        ({'pt/weight': ws.Transform('keep', ws.transpose([1, 0]))},
         ws.ConflictError, r"Output tensor 'keep' would come from both"),
        ({'pt/weight': ws.Transform('scope/', ws.transpose([1, 0]))},
         ws.SettingsError, r'each target is an output tensor name'),
    ]
    for renames, error, message in cases:
      with self.assertRaisesRegex(error, message):
        ws.merge_checkpoints([(self.prefix, renames)], output)
      self.assertFalse(os.path.exists(os.path.dirname(output)), renames)

  def test_dry_run_shows_the_transforms(self):
    result = _merge.plan_merge([(self.prefix, {
        'pt/weight': ws.Transform('tf/kernel', ws.transpose([1, 0]))})])
    self.assertIn('transformed: tf/kernel from pt/weight (transpose [1, 0])',
                  result.table())
    self.assertIn('read by transform', result.table())
    self.assertEqual((3, 5), [t for t in result.tensors
                              if t.name == 'tf/kernel'][0].shape)


if __name__ == '__main__':
  tf.test.main()
