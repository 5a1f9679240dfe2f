"""Tests of `write_plan`: the plan JSON and TensorBoard text next to a run."""

from __future__ import annotations

import glob
import json
import os
from unittest import mock

import numpy as np
import tensorflow as tf

from tests import test_util
from warmstart import _plan
from warmstart import _report
from warmstart._session import _estimator
from warmstart import _settings
from warmstart import _warm_start


def _entry(variable, source='/ckpt/a', tensor=None, **kwargs):
  return _plan.Entry(variable=variable, shape=(2, 3), dtype='float32',
                     source=source, tensor=tensor or variable, **kwargs)


def _text_events(model_dir):
  """[(step, markdown)] of every 'warm_start/plan' text summary."""
  found = []
  for path in sorted(glob.glob(os.path.join(model_dir, 'events.out.*'))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == _report.SUMMARY_TAG:
          found.append((event.step, value.metadata.plugin_data.plugin_name,
                        tf.make_ndarray(value.tensor).item().decode()))
  return found


class WritePlanTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.model_dir = os.path.join(self.create_tempdir().full_path, 'model')
    self.plan_a = _plan.Plan((_entry('dense/kernel'), _entry('dense/bias')), 3)
    self.plan_b = _plan.Plan((_entry('dense/kernel', source='/ckpt/b'),), 3)
    self.plan_c = _plan.Plan(
        (_entry('emb', tensor='old_emb', rule='emb: old_emb',
                action='skip', reason='shape | differs'),), 1)

  def test_json_reads_back(self):
    path = _report.write_plan(self.plan_a, self.model_dir)
    self.assertEqual(os.path.join(self.model_dir, 'warm_start_plan.json'), path)
    self.assertEqual(self.plan_a, _report.read_plan(self.model_dir))
    with open(path) as f:
      data = json.load(f)
    self.assertEqual(['/ckpt/a'], data['sources'])
    self.assertEqual(2, data['num_restored'])
    self.assertEqual(['dense/kernel', 'dense/bias'],
                     [e['variable'] for e in data['entries']])

  def test_text_summary_holds_the_table(self):
    _report.write_plan(self.plan_c, self.model_dir, step=0)
    events = _text_events(self.model_dir)
    self.assertLen(events, 1)
    step, plugin, text = events[0]
    self.assertEqual(0, step)
    self.assertEqual('text', plugin)
    self.assertIn(self.plan_c.summary(), text)
    self.assertIn('| `emb` | [2,3] | float32 | skip | `old_emb` | /ckpt/a | '
                  'emb: old_emb | shape \\| differs |', text)
    self.assertTrue(
        glob.glob(os.path.join(self.model_dir,
                               '*' + _report.EVENTS_SUFFIX)))

  def test_same_plan_again_writes_nothing(self):
    _report.write_plan(self.plan_a, self.model_dir)
    before = sorted(os.listdir(self.model_dir))
    _report.write_plan(_plan.Plan.from_json(self.plan_a.to_json()),
                       self.model_dir)
    self.assertEqual(before, sorted(os.listdir(self.model_dir)))
    self.assertEmpty(_report.history_paths(self.model_dir))
    self.assertLen(_text_events(self.model_dir), 1)

  def test_a_different_plan_keeps_the_history(self):
    for plan in (self.plan_a, self.plan_b, self.plan_c, self.plan_a):
      _report.write_plan(plan, self.model_dir)
    self.assertEqual(self.plan_a, _report.read_plan(self.model_dir))
    history = _report.history_paths(self.model_dir)
    self.assertEqual(
        [os.path.join(self.model_dir, 'warm_start_plan-%d.json' % i)
         for i in (1, 2, 3)], history)
    for path, plan in zip(history, (self.plan_a, self.plan_b, self.plan_c)):
      with open(path) as f:
        self.assertEqual(plan, _plan.Plan.from_json(f.read()))
    self.assertLen(_text_events(self.model_dir), 4)

  def test_history_numbers_continue_after_a_gap(self):
    os.makedirs(self.model_dir)
    with open(os.path.join(self.model_dir, 'warm_start_plan-7.json'), 'w') as f:
      f.write('{}')
    _report.write_plan(self.plan_a, self.model_dir)
    _report.write_plan(self.plan_b, self.model_dir)
    self.assertEqual(
        ['warm_start_plan-7.json', 'warm_start_plan-8.json'],
        [os.path.basename(p) for p in _report.history_paths(self.model_dir)])

  def test_a_failed_write_keeps_the_old_plan_and_no_temporary_file(self):
    _report.write_plan(self.plan_a, self.model_dir)
    with mock.patch.object(tf.io.gfile, 'rename',
                           side_effect=OSError('disk full')):
      with self.assertRaisesRegex(OSError, 'disk full'):
        _report.write_plan(self.plan_b, self.model_dir)
    self.assertEqual(self.plan_a, _report.read_plan(self.model_dir))
    self.assertEmpty(glob.glob(os.path.join(self.model_dir, '*.tmp-*')))

  def test_a_damaged_plan_file_is_kept(self):
    os.makedirs(self.model_dir)
    with open(_report.plan_path(self.model_dir), 'w') as f:
      f.write('{"entries": [')
    _report.write_plan(self.plan_a, self.model_dir)
    self.assertEqual(self.plan_a, _report.read_plan(self.model_dir))
    history = _report.history_paths(self.model_dir)
    self.assertLen(history, 1)
    with open(history[0]) as f:
      self.assertEqual('{"entries": [', f.read())

  def test_read_plan_of_an_empty_directory_raises(self):
    with self.assertRaisesRegex(FileNotFoundError,
                                r'No warm-start plan in .*model'):
      _report.read_plan(self.model_dir)

  def test_works_in_eager_mode_too(self):
    self.assertTrue(tf.executing_eagerly())
    _report.write_plan(self.plan_a, self.model_dir)
    self.assertLen(_text_events(self.model_dir), 1)

  def test_a_real_warm_start_says_what_came_from_where(self):
    def build():
      tf.compat.v1.get_variable('a/w', [2, 2])
      tf.compat.v1.get_variable('b/w', [3])

    first, _ = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'first'), build)
    second, _ = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'second'), build, seed=2)
    with tf.Graph().as_default():
      build()
      tf.compat.v1.get_variable('c', [1])
      plan = _warm_start.apply_settings([
          _settings.WarmStartSettings(first, 'a/.*'),
          _settings.WarmStartSettings(
              second, assignment_map={'b/': 'b/'})])
    _report.write_plan(plan, self.model_dir)
    got = {e.variable: (e.source, e.tensor)
           for e in _report.read_plan(self.model_dir).restored}
    self.assertEqual({'a/w': (first, 'a/w'), 'b/w': (second, 'b/w')}, got)
    (_, _, text), = _text_events(self.model_dir)
    self.assertIn('Warm-started 2 of 3 variables from %s, %s; 1 starts cold; '
                  '2 checkpoint tensors unused.' % (first, second), text)

  @test_util.requires_estimator
  def test_estimator_writes_both_on_a_fresh_start(self):
    def build():
      tf.compat.v1.get_variable('w', [3, 1])

    source, values = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'source'), build)

    def model_fn(features, labels, mode):
      w = tf.compat.v1.get_variable('w', [3, 1])
      loss = tf.reduce_mean(tf.square(tf.matmul(features, w) - labels))
      return tf.estimator.EstimatorSpec(
          mode, loss=loss, train_op=tf.compat.v1.assign_add(
              tf.compat.v1.train.get_global_step(), 1))

    def input_fn():
      return tf.data.Dataset.from_tensors(
          (np.ones([2, 3], np.float32), np.ones([2, 1], np.float32))).repeat()

    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(model_fn, source),
        config=tf.estimator.RunConfig(model_dir=self.model_dir))
    estimator.train(input_fn, steps=1)
    self.assertAllClose(values['w'], estimator.get_variable_value('w'))
    plan = _report.read_plan(self.model_dir)
    self.assertEqual([('w', source, 'w')],
                     [(e.variable, e.source, e.tensor) for e in plan.restored])
    (step, _, text), = _text_events(self.model_dir)
    self.assertEqual(0, step)
    self.assertIn('| `w` | [3,1] | float32 | restore | `w` | %s |' % source,
                  text)
    # A restart writes nothing more.
    before = sorted(os.listdir(self.model_dir))
    estimator.train(input_fn, steps=1)
    self.assertEqual(
        [f for f in before if 'warm_start' in f],
        sorted(f for f in os.listdir(self.model_dir) if 'warm_start' in f))


if __name__ == '__main__':
  tf.test.main()
