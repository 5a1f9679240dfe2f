"""Runs the examples (examples/*.py) as programs, with small settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_example(name: str, *args: str) -> subprocess.CompletedProcess:
  path = [_ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(path),
             TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run(
      [sys.executable, os.path.join(_ROOT, 'examples', name)] + list(args),
      capture_output=True, text=True, env=env, timeout=300, check=False)


def _summary_tags(model_dir: str) -> set[str]:
  """The tags of every summary in the event files of `model_dir`."""
  tags = set()
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'events.out.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(value.tag for value in event.summary.value)
  return tags


@test_util.requires_estimator
class FromPytorchTest(tf.test.TestCase):

  def test_the_tf1_model_computes_what_the_pytorch_one_does(self):
    work_dir = self.create_tempdir().full_path
    done = _run_example('from_pytorch.py', '--work_dir=' + work_dir)
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])
    with open(os.path.join(work_dir, 'result.json')) as f:
      result = json.load(f)
    self.assertLess(result['max_abs_diff'], 1e-4)
    self.assertIn('computes what the PyTorch one does', done.stdout)
    # Staged in the cache it was given, never beside the source.
    self.assertEmpty(set(os.listdir(work_dir)) - {
        'model.safetensors', 'cache', 'model', 'result.json'})
    staged = os.path.join(work_dir, 'cache', 'staged')
    entry, = [n for n in os.listdir(staged) if not n.endswith('.lock')]
    with open(os.path.join(staged, entry, 'source.json')) as f:
      manifest = json.load(f)
    self.assertEqual(os.path.join(work_dir, 'model.safetensors'),
                     manifest['source'])
    self.assertEqual(result['tensors'], manifest['tensors'])


@test_util.requires_estimator
class TransferLearningTest(tf.test.TestCase):

  def test_warm_start_through_flags_beats_cold_at_the_start(self):
    work_dir = self.create_tempdir().full_path
    done = _run_example('transfer_learning.py', '--work_dir=' + work_dir,
                        '--steps=60', '--source_steps=400')
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])
    with open(os.path.join(work_dir, 'result.json')) as f:
      result = json.load(f)
    self.assertLess(result['warm_loss_start'],
                    0.95 * result['cold_loss_start'], result)
    self.assertIn('Warm-start plan', done.stdout)

    plan_file = os.path.join(work_dir, 'warm', 'warm_start_plan.json')
    self.assertEqual(result['plan_file'], plan_file)
    with open(plan_file) as f:
      plan = warmstart.Plan.from_json(f.read())
    actions = {e.variable: (e.action, e.tensor) for e in plan.restored}
    self.assertEqual(actions, {
        'target/embedding/weights': ('vocab_remap',
                                     'source/embedding/weights'),
        'target/hidden/kernel': ('restore', 'source/hidden/kernel'),
        'target/hidden/bias': ('restore', 'source/hidden/bias'),
        'target/head/kernel': ('resize', 'source/head/kernel'),
        'target/head/bias': ('resize', 'source/head/bias'),
    })
    self.assertEqual('resize [10] -> [12]',
                     plan.entry('target/head/bias').reason)
    self.assertIn('resize [10] -> [12]', done.stdout)
    # The source's optimizer slots and step are read by nothing: listed.
    self.assertIn('source/head/kernel/Momentum', result['unused_tensors'])
    self.assertIn('global_step', result['unused_tensors'])
    self.assertIn('Also not read:', done.stdout)
    # The cold model owes nothing to the source.
    self.assertFalse(os.path.exists(
        os.path.join(work_dir, 'cold', 'warm_start_plan.json')))
    self.assertIn('warm_start/plan', _summary_tags(os.path.join(work_dir,
                                                               'warm')))

  def test_rejects_bad_flags_before_training(self):
    work_dir = self.create_tempdir().full_path
    done = _run_example('transfer_learning.py', '--work_dir=' + work_dir,
                        '--warm_start_map=source/')
    self.assertNotEqual(done.returncode, 0)
    self.assertIn('has no "="', done.stderr)
    self.assertFalse(os.path.exists(os.path.join(work_dir, 'source')))


class MergeTwoModelsTest(tf.test.TestCase):

  def test_both_ways_give_the_same_model(self):
    work_dir = self.create_tempdir().full_path
    done = _run_example('merge_two_models.py', '--work_dir=' + work_dir)
    self.assertEqual(done.returncode, 0, done.stderr[-3000:])
    with open(os.path.join(work_dir, 'result.json')) as f:
      result = json.load(f)
    self.assertTrue(result['equal'], result)
    self.assertEqual(result['restored_from_two_sources'], 8)
    self.assertEqual(result['restored_from_merged'], 8)
    merged = tf.train.load_checkpoint(result['merged_checkpoint'])
    for tower in ('text', 'image'):
      source = tf.train.load_checkpoint(os.path.join(work_dir,
                                                     tower + '_model'))
      for name in source.get_variable_to_shape_map():
        if name == 'global_step':
          continue
        np.testing.assert_array_equal(
            merged.get_tensor('%s/%s' % (tower, name)),
            source.get_tensor(name))
    self.assertNotIn('global_step', merged.get_variable_to_shape_map())


if __name__ == '__main__':
  tf.test.main()
