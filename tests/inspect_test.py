"""Tests of warmstart._inspect: listing a checkpoint's tensors."""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from tests import test_util
from warmstart import _errors
from warmstart import _inspect


def _build():
  tf.compat.v1.get_variable('dense/kernel', [3, 4])
  tf.compat.v1.get_variable('dense/bias', [4])
  tf.compat.v1.get_variable('tokens', initializer=np.array([b'a', b'bc']))
  tf.compat.v1.train.get_or_create_global_step()


class DescribeTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.get_temp_dir()
    self.prefix, self.values = test_util.save_checkpoint(self.dir, _build)

  def test_lists_every_tensor_with_shape_dtype_and_size(self):
    listing = _inspect.describe(self.prefix)
    self.assertEqual(listing.prefix, self.prefix)
    self.assertEqual([t.name for t in listing.tensors], sorted(self.values))
    for tensor in listing.tensors:
      value = self.values[tensor.name]
      self.assertEqual(tensor.shape, value.shape)
      if value.dtype == object:
        self.assertEqual(tensor.dtype, 'string')
        self.assertEqual(tensor.num_bytes, 64 * value.size)
      else:
        self.assertEqual(tensor.dtype, tf.as_dtype(value.dtype).name)
        self.assertEqual(tensor.num_bytes, value.nbytes)
    self.assertEqual(listing.num_bytes,
                     sum(t.num_bytes for t in listing.tensors))

  def test_directory_lists_its_latest_checkpoint(self):
    later, _ = test_util.save_checkpoint(
        self.dir, lambda: tf.compat.v1.get_variable('only_later', [2]),
        global_step=7)
    listing = _inspect.describe(self.dir)
    self.assertEqual(listing.prefix, later)
    self.assertEqual(listing.origin, self.dir)
    self.assertEqual([t.name for t in listing.tensors], ['only_later'])

  def test_saved_model_directory(self):
    module = tf.Module()
    module.weights = tf.Variable(tf.ones([2, 5]), name='weights')
    export = os.path.join(self.get_temp_dir(), 'saved_model')
    tf.saved_model.save(module, export)
    listing = _inspect.describe(export)
    self.assertEqual(listing.prefix,
                     os.path.join(export, 'variables', 'variables'))
    shapes = {t.name: t.shape for t in listing.tensors}
    self.assertIn((2, 5), shapes.values())

  def test_tf2_checkpoint_lists_variable_names(self):
    self.assertTrue(tf.executing_eagerly())
    saved = tf.train.Checkpoint(net=tf.Module())
    saved.net.w = tf.Variable(tf.ones([2, 3]), name='dense/kernel')
    prefix = saved.write(os.path.join(self.get_temp_dir(), 'tf2', 'ckpt'))
    listing = _inspect.describe(prefix)
    self.assertTrue(listing.object_based)
    self.assertEqual(
        {'_CHECKPOINTABLE_OBJECT_GRAPH': None,
         'net/w/.ATTRIBUTES/VARIABLE_VALUE': 'dense/kernel'},
        {t.name: t.variable for t in listing.tensors})
    self.assertRegex(listing.table(),
                     r'(?m)^net/w/\.ATTRIBUTES/VARIABLE_VALUE +'
                     r'dense/kernel +\[2,3\] +float32 +24 B$')
    data = json.loads(listing.to_json())
    self.assertTrue(data['object_based'])
    self.assertIn({'name': 'net/w/.ATTRIBUTES/VARIABLE_VALUE',
                   'variable': 'dense/kernel', 'shape': [2, 3],
                   'dtype': 'float32', 'num_bytes': 24}, data['tensors'])
    self.assertEqual(['net/w/.ATTRIBUTES/VARIABLE_VALUE'], [
        t.name for t in _inspect.describe(prefix, match='^dense/').tensors])

  def test_match_filters_by_regex_search(self):
    listing = _inspect.describe(self.prefix, match='bias|kernel')
    self.assertEqual([t.name for t in listing.tensors],
                     ['dense/bias', 'dense/kernel'])

  def test_bad_match_regex_names_it(self):
    with self.assertRaisesRegex(_errors.SettingsError, r"'dense\['"):
      _inspect.describe(self.prefix, match='dense[')

  def test_missing_checkpoint_names_the_path(self):
    missing = os.path.join(self.dir, 'nope.ckpt')
    with self.assertRaisesRegex(_errors.CheckpointNotFoundError, 'nope.ckpt'):
      _inspect.describe(missing)

  def test_table_has_a_line_per_tensor_and_a_total(self):
    listing = _inspect.describe(self.prefix)
    lines = listing.table().splitlines()
    self.assertEqual(len(lines), 2 + len(self.values) + 1)
    for name in self.values:
      self.assertTrue(any(line.startswith(name + ' ') for line in lines), name)
    self.assertIn('%d tensors' % len(self.values), lines[-1])
    self.assertIn(self.prefix, lines[-1])
    self.assertEqual(str(listing), listing.table())

  def test_json_round_trips_the_listing(self):
    listing = _inspect.describe(self.prefix)
    data = json.loads(listing.to_json())
    self.assertEqual(data['prefix'], self.prefix)
    self.assertEqual(data['num_tensors'], len(self.values))
    self.assertEqual(data['num_bytes'], listing.num_bytes)
    self.assertEqual(
        {t['name']: tuple(t['shape']) for t in data['tensors']},
        {n: v.shape for n, v in self.values.items()})
    self.assertFalse(data['object_based'])
    self.assertEqual([None] * len(self.values),
                     [t['variable'] for t in data['tensors']])


class FormatBytesTest(tf.test.TestCase):

  def test_units(self):
    self.assertEqual(_inspect.format_bytes(0), '0 B')
    self.assertEqual(_inspect.format_bytes(1023), '1023 B')
    self.assertEqual(_inspect.format_bytes(1024), '1.0 KiB')
    self.assertEqual(_inspect.format_bytes(1536), '1.5 KiB')
    self.assertEqual(_inspect.format_bytes(3 << 20), '3.0 MiB')
    self.assertEqual(_inspect.format_bytes(5 << 30), '5.0 GiB')
    self.assertEqual(_inspect.format_bytes(2 << 40), '2.0 TiB')


if __name__ == '__main__':
  tf.test.main()
