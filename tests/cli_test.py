"""Tests of the command line (warmstart/_cli.py, warmstart/__main__.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import tensorflow as tf

from tests import test_util
from warmstart import __main__ as cli


def _source():
  tf.compat.v1.get_variable('dense/kernel', [3, 2])
  tf.compat.v1.get_variable('dense/bias', [2])
  tf.compat.v1.get_variable('logits/kernel', [2, 4])
  tf.compat.v1.train.get_or_create_global_step()


def _with_adam():
  x = tf.compat.v1.get_variable('dense/kernel', [3, 2])
  step = tf.compat.v1.train.get_or_create_global_step()
  tf.compat.v1.train.AdamOptimizer().minimize(tf.reduce_sum(x),
                                              global_step=step)


_TARGET_MODULE = '''
import tensorflow as tf

def build():
  with tf.compat.v1.variable_scope('student'):
    tf.compat.v1.get_variable('dense/kernel', [3, 2])
    tf.compat.v1.get_variable('dense/bias', [2])
  tf.compat.v1.get_variable('head/kernel', [2, 4])
  tf.compat.v1.train.get_or_create_global_step()

def build_mismatched():
  tf.compat.v1.get_variable('dense/kernel', [5, 2])
  tf.compat.v1.get_variable('dense/bias', [3])
  tf.compat.v1.get_variable('logits/kernel', [2, 4])

def broken():
  raise RuntimeError('no graph today')
'''


class CliTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.prefix, self.values = test_util.save_checkpoint(
        os.path.join(self.dir, 'source'), _source)
    modules = os.path.join(self.dir, 'modules')
    os.makedirs(modules)
    with open(os.path.join(modules, 'cli_test_target.py'), 'w') as f:
      f.write(textwrap.dedent(_TARGET_MODULE))
    path = mock.patch.object(sys, 'path', [modules] + sys.path)
    path.start()
    self.addCleanup(path.stop)

  def run_main(self, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      status = cli.main(list(argv))
    return status, out.getvalue(), err.getvalue()

  def assert_one_line_error(self, err: str, regex: str) -> None:
    self.assertNotIn('Traceback', err)
    lines = err.strip().splitlines()
    self.assertLen(lines, 1, err)
    self.assertRegex(lines[0], regex)

  # --- usage -----------------------------------------------------------------

  def test_help(self):
    status, out, _ = self.run_main('--help')
    self.assertEqual(status, 0)
    for command in ('inspect', 'plan', 'merge'):
      self.assertIn(command, out)
    status, out, _ = self.run_main('merge', '--help')
    self.assertEqual(status, 0)
    self.assertIn('--overwrite', out)

  def test_usage_errors_exit_2_with_one_line(self):
    cases = [
        ([], r'^warmstart: error: .*required: COMMAND'),
        (['frobnicate'], r"invalid choice: 'frobnicate'"),
        (['plan', '--target', self.prefix], r'required: --from'),
        (['plan', '--from', self.prefix], r'one of the arguments --model '
         r'--target is required'),
        (['inspect', self.prefix, '--nope'], r'unrecognized arguments: --nope'),
        (['merge', self.prefix, '-o', self.dir + '/m', '--over'],
         r'unrecognized arguments: --over'),
        (['plan', '--from', self.prefix, '--target', self.prefix, '--vars',
          'dense/['], r"^warmstart plan: error: 'dense/\[' is not a valid"),
        (['plan', '--from', self.prefix, '--target', self.prefix, '--map',
          'dense'], r'Map entry \'dense\' has no "="'),
        (['plan', '--from', self.prefix, '--model', 'cli_test_target'],
         r"--model 'cli_test_target': write MODULE:FUNCTION"),
        (['plan', '--from', self.prefix, '--model', 'no_such_module:f'],
         r"cannot import module 'no_such_module'"),
        (['plan', '--from', self.prefix, '--model', 'cli_test_target:biuld'],
         r"has no function 'biuld'. Did you mean: 'build'"),
        (['merge', self.prefix, self.prefix, '-o', self.dir + '/m', '--map',
          'a=b'], r"'a=b' does not say which of the 2 sources .*SRC"),
        (['inspect', self.prefix, '--match', '(']
         , r"Invalid regex '\(' for the tensors to list"),
    ]
    for argv, regex in cases:
      with self.subTest(argv=argv):
        status, out, err = self.run_main(*argv)
        self.assertEqual(status, 2, err)
        self.assertEqual(out, '')
        self.assert_one_line_error(err, regex)

  # --- inspect ---------------------------------------------------------------

  def test_inspect(self):
    status, out, err = self.run_main('inspect', self.prefix)
    self.assertEqual(status, 0, err)
    for name, value in self.values.items():
      self.assertRegex(out, r'(?m)^%s +\[%s\] ' %
                       (name, ','.join(str(d) for d in value.shape)))
    self.assertIn('%d tensors' % len(self.values), out)

  def test_inspect_json_directory(self):
    status, out, _ = self.run_main('inspect', '--json',
                                   os.path.dirname(self.prefix))
    self.assertEqual(status, 0)
    data = json.loads(out)
    self.assertEqual(data['prefix'], self.prefix)
    self.assertCountEqual([t['name'] for t in data['tensors']], self.values)

  def test_inspect_missing_checkpoint_exits_1(self):
    missing = os.path.join(self.dir, 'missing.ckpt')
    status, out, err = self.run_main('inspect', missing)
    self.assertEqual(status, 1)
    self.assertEqual(out, '')
    self.assert_one_line_error(
        err, r'^warmstart inspect: error: No checkpoint at .*missing.ckpt')

  # --- plan ------------------------------------------------------------------

  def test_plan_against_a_model_function(self):
    status, out, err = self.run_main(
        'plan', '--from', self.prefix, '--model', 'cli_test_target:build',
        '--map', 'dense/=student/dense/', '--map', 'logits/=head/')
    self.assertEqual(status, 0, err)
    self.assertIn('Target: the graph of cli_test_target:build', out)
    self.assertRegex(out, r'(?m)^student/dense/kernel +\[3,2\] +float32 +'
                     r'restore +dense/kernel +%s' % self.prefix)
    self.assertRegex(out, r'(?m)^head/kernel .* restore +logits/kernel')
    self.assertIn('Warm-started 3 of 4 variables from %s; 1 starts cold.' %
                  self.prefix, out)
    self.assertIn('Start cold (their own initializer): global_step', out)

  def test_plan_json(self):
    status, out, _ = self.run_main(
        'plan', '--json', '--warm_start_from', self.prefix, '--model',
        'cli_test_target:build', '--warm_start_map', 'dense/=student/dense/')
    self.assertEqual(status, 0)
    data = json.loads(out)
    self.assertTrue(data['ok'])
    self.assertEqual(data['problems'], [])
    self.assertEqual(
        {e['variable']: e['tensor'] for e in data['plan']['entries']},
        {'student/dense/kernel': 'dense/kernel',
         'student/dense/bias': 'dense/bias'})

  def test_plan_against_a_meta_graph(self):
    status, out, err = self.run_main('plan', '--from', self.prefix,
                                     '--target', self.prefix,
                                     '--exclude', 'logits/')
    self.assertEqual(status, 0, err)
    self.assertIn('Target: the meta graph %s.meta' % self.prefix, out)
    self.assertRegex(out, r'(?m)^dense/kernel .* restore')
    self.assertNotRegex(out, r'(?m)^logits/kernel')
    self.assertIn('Warm-started 2 of 4 variables', out)

  def test_plan_against_checkpoint_shapes_leaves_slots_and_step(self):
    adam, adam_values = test_util.save_checkpoint(
        os.path.join(self.dir, 'adam'), _with_adam)
    os.remove(adam + '.meta')  # No graph: variables come from the shapes.
    self.assertIn('dense/kernel/Adam', adam_values)
    status, out, err = self.run_main('plan', '--json', '--from', adam,
                                     '--target', adam)
    self.assertEqual(status, 0, err)
    data = json.loads(out)
    self.assertIn('variables made from checkpoint', data['target'])
    self.assertEqual([e['variable'] for e in data['plan']['entries']],
                     ['dense/kernel'])
    status, out, _ = self.run_main('plan', '--json', '--from', adam,
                                   '--target', adam, '--include_slots',
                                   '--include_global_step')
    self.assertEqual(status, 0)
    restored = {e['variable'] for e in json.loads(out)['plan']['entries']}
    self.assertEqual(restored, set(adam_values))

  def test_failing_plan_prints_every_problem_and_exits_1(self):
    status, out, err = self.run_main('plan', '--from', self.prefix, '--model',
                                     'cli_test_target:build_mismatched')
    self.assertEqual(status, 1)
    self.assertIn('The warm start would fail with 2 problems:', out)
    self.assertRegex(out, r"(?m)^  - Variable 'dense/kernel'.*shape \(3, 2\)")
    self.assertRegex(out, r"(?m)^  - Variable 'dense/bias'.*shape \(2,\)")
    self.assertRegex(out, r'(?m)^logits/kernel .* restore')  # Still shown.
    self.assert_one_line_error(
        err, r'^warmstart plan: error: the warm start would fail \(2 problems')

  def test_failing_plan_json(self):
    status, out, _ = self.run_main('plan', '--json', '--from', self.prefix,
                                   '--model',
                                   'cli_test_target:build_mismatched')
    self.assertEqual(status, 1)
    data = json.loads(out)
    self.assertFalse(data['ok'])
    self.assertLen(data['problems'], 2)
    self.assertIsNone(data['plan'])
    partial = {e['variable']: e['action']
               for e in data['plan_with_problems_skipped']['entries']}
    self.assertEqual(partial, {'dense/kernel': 'skip', 'dense/bias': 'skip',
                               'logits/kernel': 'restore'})

  def test_skip_mismatched_makes_the_plan_pass(self):
    status, out, _ = self.run_main('plan', '--from', self.prefix, '--model',
                                   'cli_test_target:build_mismatched',
                                   '--skip_mismatched')
    self.assertEqual(status, 0)
    self.assertRegex(out, r"(?m)^dense/kernel .* skip .*shape \(3, 2\) in "
                     r"the checkpoint")

  def test_model_function_that_raises_exits_1(self):
    status, _, err = self.run_main('plan', '--from', self.prefix, '--model',
                                   'cli_test_target:broken')
    self.assertEqual(status, 1)
    self.assert_one_line_error(
        err, r'--model cli_test_target:broken failed: RuntimeError: no graph')

  # --- merge -----------------------------------------------------------------

  def test_merge(self):
    other, other_values = test_util.save_checkpoint(
        os.path.join(self.dir, 'other'), _source, seed=9)
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    status, out, err = self.run_main(
        'merge', self.prefix, other, '--output', output, '--map',
        '1:/=teacher/', '--exclude', 'global_step$')
    self.assertEqual(status, 0, err)
    self.assertIn('into %s' % output, out)
    reader = tf.compat.v1.train.NewCheckpointReader(output)
    self.assertCountEqual(
        reader.get_variable_to_shape_map(),
        ['dense/kernel', 'dense/bias', 'logits/kernel', 'teacher/dense/kernel',
         'teacher/dense/bias', 'teacher/logits/kernel'])
    np.testing.assert_array_equal(reader.get_tensor('teacher/dense/kernel'),
                                  other_values['dense/kernel'])
    np.testing.assert_array_equal(reader.get_tensor('dense/kernel'),
                                  self.values['dense/kernel'])
    status, _, err = self.run_main('merge', self.prefix, '-o', output)
    self.assertEqual(status, 1)
    self.assert_one_line_error(err, r"model.ckpt' exists .*--overwrite")
    status, _, _ = self.run_main('-q', 'merge', self.prefix, '-o', output,
                                 '--overwrite')
    self.assertEqual(status, 0)

  def test_merge_conflict_exits_1_naming_both(self):
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    status, _, err = self.run_main('merge', self.prefix, self.prefix, '-o',
                                   output)
    self.assertEqual(status, 1)
    self.assert_one_line_error(
        err, r"^warmstart merge: error: 4 problems with this merge: \(1\) "
        r"Output tensor 'dense/bias' would come from both")
    self.assertFalse(os.path.exists(os.path.dirname(output)))

  def test_merge_dry_run_json_writes_nothing(self):
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    status, out, _ = self.run_main('merge', '--dry_run', '--json', self.prefix,
                                   '-o', output, '--map', 'dense/=d/')
    self.assertEqual(status, 0)
    data = json.loads(out)
    self.assertCountEqual([t['name'] for t in data['tensors']],
                          ['d/kernel', 'd/bias', 'logits/kernel',
                           'global_step'])
    self.assertFalse(os.path.exists(os.path.dirname(output)))


class EntryPointTest(tf.test.TestCase):

  def test_python_dash_m_warmstart_inspect(self):
    prefix, values = test_util.save_checkpoint(self.get_temp_dir(), _source)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL='3')
    done = subprocess.run(
        [sys.executable, '-m', 'warmstart', 'inspect', '--json', prefix],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    self.assertEqual(done.returncode, 0, done.stderr)
    data = json.loads(done.stdout)
    self.assertCountEqual([t['name'] for t in data['tensors']], values)
    done = subprocess.run(
        [sys.executable, '-m', 'warmstart', 'inspect', prefix + '-nope'],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    self.assertEqual(done.returncode, 1)
    self.assertNotIn('Traceback', done.stderr)
    self.assertRegex(done.stderr, r'warmstart inspect: error: No checkpoint')


if __name__ == '__main__':
  tf.test.main()
