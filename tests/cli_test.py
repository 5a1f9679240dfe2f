"""Tests of the command line (warmstart/_cli.py, warmstart/__main__.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import tensorflow as tf

from tests import test_util
from warmstart import __main__ as cli
from warmstart._merge import _write
from warmstart._merge import merge_checkpoints as warmstart_merge


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

#: Modules that fail as they are imported: (file name, source, the error
#: each gives, as the one-line message names it).
_FAILING_MODULES = (
    ('cli_name_error', 'x = 1\ny = undefined_name\n\ndef build():\n  pass\n',
     r"NameError: name 'undefined_name' is not defined \(at .*"
     r"cli_name_error\.py, line 2\)"),
    ('cli_syntax_error', 'def build(:\n  pass\n',
     r'SyntaxError: .*\(cli_syntax_error\.py, line 1\)'),
    ('cli_runtime_error', 'raise RuntimeError("no config here")\n',
     r'RuntimeError: no config here \(at .*cli_runtime_error\.py, line 1\)'),
    ('cli_system_exit', 'import sys\nsys.exit(3)\n',
     r'SystemExit: 3 \(at .*cli_system_exit\.py, line 2\)'),
)


#: An absl log line: 'I1206 12:10:15.544285 139892520471424 file.py:509] ...'.
_LOG_LINE = re.compile(r'^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ')

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
    for name, source, _ in _FAILING_MODULES:
      with open(os.path.join(modules, name + '.py'), 'w') as f:
        f.write(source)
    with open(os.path.join(modules, 'cli_missing_dependency.py'), 'w') as f:
      f.write('import no_such_dependency_of_cli_test\n')
    self.addCleanup(lambda: [sys.modules.pop(n, None) for n in (
        'cli_test_target', 'cli_missing_dependency') + tuple(
            m for m, _, _ in _FAILING_MODULES)])
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
    self.assertNotIn('File "', err)
    self.assertNotIn('Original stack trace', err)
    # Log lines (progress, TF's own) are not the error: they reach this
    # stream where absl logs to stderr (under Bazel), not under pytest.
    lines = [line for line in err.strip().splitlines()
             if not _LOG_LINE.match(line)]
    self.assertLen(lines, 1, err)
    self.assertRegex(lines[0], regex)

  def assert_json_error(self, out: str, status: int, error_type: str,
                        regex: str) -> dict:
    """stdout is one JSON document whose `error` says what stderr says.

    Args:
      out: stdout.
      status: The exit status.
      error_type: A regex of the error's class name.
      regex: A regex of its message.
    """
    data = json.loads(out)
    self.assertFalse(data['ok'])
    self.assertRegex(data['error']['type'], '^(%s)$' % error_type)
    self.assertEqual(data['error']['exit_status'], status)
    self.assertRegex(data['error']['message'], regex)
    self.assertNotIn('\n', data['error']['message'])
    return data

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
        (['inspect', self.prefix, '--nope'],
         r"unrecognized option '--nope': warmstart inspect takes --help, "
         r'--json, --verbose, --match\. \(see warmstart inspect --help\)$'),
        (['merge', self.prefix, '-o', self.dir + '/m', '--over'],
         r"unrecognized option '--over'\. Did you mean: '--overwrite'\?"),
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
    # The same `error` member as every failing command's JSON.
    self.assertEqual(data['error']['type'], 'MismatchError')
    self.assertEqual(data['error']['exit_status'], 1)
    self.assertRegex(data['error']['message'],
                     r"^2 problems with this warm start: \(1\) Variable "
                     r"'dense/kernel'.*\(2\) Variable 'dense/bias'")

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

  def test_merge_dry_run_json_reports_the_output_and_writes_nothing(self):
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    status, out, err = self.run_main('merge', '--dry_run', '--json',
                                     self.prefix, '-o', output, '--map',
                                     'dense/=d/')
    self.assertEqual(status, 0, err)
    dry = json.loads(out)
    self.assertEqual(dry['output'], output)
    self.assertTrue(dry['dry_run'])
    self.assertCountEqual([t['name'] for t in dry['tensors']],
                          ['d/kernel', 'd/bias', 'logits/kernel',
                           'global_step'])
    self.assertFalse(os.path.exists(os.path.dirname(output)))
    status, out, _ = self.run_main('merge', '--dry_run', self.prefix, '-o',
                                   output)
    self.assertEqual(status, 0)
    self.assertIn('Would merge 4 tensors (72 B) from 1 checkpoints into %s.' %
                  output, out)
    self.assertFalse(os.path.exists(os.path.dirname(output)))
    # The real merge reports its output in the same field.
    status, out, err = self.run_main('-q', 'merge', '--json', self.prefix,
                                     '-o', output, '--map', 'dense/=d/')
    self.assertEqual(status, 0, err)
    merged = json.loads(out)
    self.assertEqual(merged['output'], dry['output'])
    self.assertFalse(merged['dry_run'])
    self.assertEqual(merged['tensors'], dry['tensors'])
    self.assertAllEqual(tf.train.load_checkpoint(output).get_tensor('d/kernel'),
                        self.values['dense/kernel'])
    # A dry run refuses what the merge would refuse, writing nothing.
    before = sorted(os.listdir(os.path.dirname(output)))
    for argv, code, regex in (
        ([self.prefix, '-o', output], 1,
         r"^warmstart merge: error: Output checkpoint '.*model.ckpt' exists "
         r'\(.*\)\. Pass overwrite=True \(--overwrite\)'),
        ([self.prefix, '-o', self.prefix, '--overwrite'], 2,
         r"^warmstart merge: error: Output '.*source/model.ckpt' is one of "
         r'the sources'),
        ([self.prefix, '-o', self.dir], 2, r'is a directory'),
    ):
      with self.subTest(argv=argv):
        status, out, err = self.run_main('merge', '--dry_run', *argv)
        self.assertEqual(status, code)
        self.assertEqual(out, '')
        self.assert_one_line_error(err, regex)
    self.assertEqual(sorted(os.listdir(os.path.dirname(output))), before)

  # --- unknown options, errors ----------------------------------------------

  def test_unknown_options_name_the_closest_valid_option(self):
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    target = ('--target', self.prefix)
    cases = [
        (['merge', self.prefix, '-o', output, '--dry-runn'],
         r"option '--dry-runn'\. Did you mean: '--dry_run'\? \(see "
         r'warmstart merge --help\)$'),
        (['merge', self.prefix, '-o', output, '--dry-run'],
         r"option '--dry-run'\. Did you mean: '--dry_run'\?"),
        (['merge', self.prefix, '-o', output, '--exclued', 'global_step'],
         r"option '--exclued'\. Did you mean: '--exclude'\?"),
        # Mistyped, a required option is named, not reported missing.
        (['merge', self.prefix, '--outptu', output],
         r"option '--outptu'\. Did you mean: '--output'\?"),
        (['merge', self.prefix, '-o', output, '--exclued=x', '--overwrit'],
         r"options '--exclued'\. Did you mean: '--exclude'\? '--overwrit'\. "
         r"Did you mean: '--overwrite'\?"),
        (['plan', '--from', self.prefix, *target, '--warm_start_skip_mising'],
         r"option '--warm_start_skip_mising'\. Did you mean: "
         r"'--warm_start_skip_missing'\?"),
        (['plan', '--form', self.prefix, *target],
         r"option '--form'\. Did you mean: '--from'\?"),
        (['inspect', self.prefix, '--jsno'],
         r"option '--jsno'\. Did you mean: '--json'\?"),
        (['--quite', 'inspect', self.prefix],
         r"option '--quite'\. Did you mean: '--quiet'\?"),
        (['merge', self.prefix, '-o', output, '--frobnicate'],
         r"option '--frobnicate': warmstart merge takes --help, --json, "
         r'--verbose, --output, --map, --map_file, --exclude, --allow_unmatched, '
         r'--max_chunk_bytes, --cache_dir, --overwrite, --dry_run\.'),
    ]
    for argv, regex in cases:
      with self.subTest(argv=argv):
        status, out, err = self.run_main(*argv)
        self.assertEqual(status, 2, err)
        self.assertEqual(out, '')
        self.assert_one_line_error(
            err, r'^warmstart: error: unrecognized ' + regex)
    self.assertFalse(os.path.exists(os.path.dirname(output)))
    # Every spelling of a known option passes: --name=value, -oVALUE, a
    # value after "--", the flag names.
    status, _, err = self.run_main(
        '-q', 'merge', '--exclude=global_step$', '-o' + output,
        '--warm_start_max_chunk_bytes=64', '--', self.prefix)
    self.assertEqual(status, 0, err)
    self.assertCountEqual(
        tf.train.load_checkpoint(output).get_variable_to_shape_map(),
        ['dense/kernel', 'dense/bias', 'logits/kernel'])

  def test_json_errors_are_json_on_stdout(self):
    missing = os.path.join(self.dir, 'missing.ckpt')
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    plan = ('plan', '--json', '--from', self.prefix)
    cases = [
        (plan + ('--model', 'no_such_module:f'), 2, 'UsageError',
         r"cannot import module 'no_such_module'"),
        (plan + ('--target', self.prefix, '--vars', 'dense/['), 2,
         'SettingsError', r"'dense/\[' is not a valid"),
        (plan + ('--target', self.prefix, '--nope'), 2, 'UsageError',
         r"unrecognized option '--nope'"),
        (plan + ('--target', missing), 1, r'Checkpoint\w*Error',
         r"No checkpoint at '.*missing.ckpt'"),
        (plan + ('--model', 'cli_name_error:build'), 1, 'Error',
         r"importing module 'cli_name_error' failed: NameError"),
        (plan + ('--model', 'cli_test_target:broken'), 1, 'Error',
         r'--model cli_test_target:broken failed: RuntimeError: no graph'),
        (('inspect', '--json', missing), 1, r'Checkpoint\w*Error',
         r"No checkpoint at '.*missing.ckpt'"),
        (('merge', '--json', self.prefix, self.prefix, '-o', output), 1,
         'ConflictError', r"4 problems with this merge: \(1\) Output tensor"),
        (('merge', '--json', self.prefix, '-o', self.prefix, '--overwrite'), 2,
         'SettingsError', r'is one of the sources'),
    ]
    for argv, code, error_type, regex in cases:
      with self.subTest(argv=argv):
        status, out, err = self.run_main(*argv)
        self.assertEqual(status, code, err)
        data = self.assert_json_error(out, code, error_type, regex)
        self.assert_one_line_error(err, regex)
        self.assertEqual(err.strip().split(': error: ', 1)[1],
                         data['error']['message'])
    self.assertFalse(os.path.exists(os.path.dirname(output)))

  def test_model_module_that_fails_at_import_is_one_line(self):
    for module, _, raised in _FAILING_MODULES:
      spec = module + ':build'
      one_line = (r"^warmstart plan: error: --model '%s': importing module "
                  r"'%s' failed: %s \(--verbose shows the traceback\)\.$" %
                  (spec, module, raised))
      with self.subTest(module=module):
        status, out, err = self.run_main('plan', '--from', self.prefix,
                                         '--model', spec)
        self.assertEqual(status, 1)
        self.assertEqual(out, '')
        self.assert_one_line_error(err, one_line)
        status, _, err = self.run_main('plan', '--verbose', '--from',
                                       self.prefix, '--model', spec)
        self.assertEqual(status, 1)
        self.assertIn('Traceback (most recent call last)', err)
        self.assertIn('%s.py' % module, err)
        self.assertRegex(err.strip().splitlines()[-1], one_line)
    # An ImportError inside the module stays a usage error (exit 2).
    status, _, err = self.run_main('plan', '--from', self.prefix, '--model',
                                   'cli_missing_dependency:build')
    self.assertEqual(status, 2)
    self.assert_one_line_error(
        err, r"cannot import module 'cli_missing_dependency': No module named "
        r"'no_such_dependency_of_cli_test'")

  def test_verbose_on_every_command_adds_the_traceback(self):
    missing = os.path.join(self.dir, 'missing.ckpt')
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    for argv, regex in (
        (['inspect', missing], r'^warmstart inspect: error: No checkpoint'),
        (['plan', '--from', self.prefix, '--target', missing],
         r'^warmstart plan: error: No checkpoint'),
        (['merge', self.prefix, self.prefix, '-o', output],
         r'^warmstart merge: error: 4 problems with this merge'),
    ):
      for verbose in (['--verbose'], ['--verbose', '--json']):
        with self.subTest(argv=argv, verbose=verbose):
          status, _, err = self.run_main(*argv)
          self.assertEqual(status, 1)
          self.assert_one_line_error(err, regex)
          for where in (argv[:1] + verbose + argv[1:],
                        verbose[:1] + argv + verbose[1:]):
            status, _, err = self.run_main(*where)
            self.assertEqual(status, 1)
            self.assertIn('Traceback (most recent call last)', err)
            self.assertRegex(err.strip().splitlines()[-1], regex)

  def test_every_error_is_one_line_with_the_documented_status(self):
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    garbage = os.path.join(self.dir, 'garbage')
    os.makedirs(garbage)
    with open(os.path.join(garbage, 'model.ckpt.index'), 'wb') as f:
      f.write(b'not an index' * 10)
    with open(os.path.join(garbage, 'bad.meta'), 'wb') as f:
      f.write(b'\x00\xff not a graph')
    with open(os.path.join(garbage, 'checkpoint'), 'w') as f:
      f.write('model_checkpoint_path: "gone.ckpt"\n')
    truncated, _ = test_util.save_checkpoint(
        os.path.join(self.dir, 'truncated'), _source)
    data_file = truncated + '.data-00000-of-00001'
    os.truncate(data_file, os.path.getsize(data_file) // 2)
    a_file = os.path.join(self.dir, 'a_file')
    with open(a_file, 'w') as f:
      f.write('x')
    odd = os.path.join(self.dir, 'odd', 'model.ckpt')
    with tf.Graph().as_default():  # A tensor no variable can be named after.
      save = tf.raw_ops.SaveV2(prefix=odd, tensor_names=['no spaces allowed'],
                               shape_and_slices=[''],
                               tensors=[tf.constant([1.0])])
      with tf.compat.v1.Session() as sess:
        sess.run(save)
    too_long = os.path.join(self.dir, 'x' * 300, 'model.ckpt')
    cases = [
        (['inspect', os.path.join(garbage, 'model.ckpt')], 1,
         r"^warmstart inspect: error: Cannot read checkpoint '.*garbage/model"
         r"\.ckpt'"),
        (['inspect', garbage], 1,
         r"^warmstart inspect: error: .*gone\.ckpt"),
        (['inspect', os.path.join(a_file, 'model.ckpt')], 1,
         r"^warmstart inspect: error: No checkpoint at '.*a_file/model.ckpt'"),
        (['inspect', too_long], 1, r'^warmstart inspect: error: .*xxxx'),
        (['plan', '--from', self.prefix, '--target',
          os.path.join(garbage, 'bad.meta')], 1,
         r'^warmstart plan: error: .*bad\.meta'),
        (['plan', '--from', self.prefix, '--target', odd], 1,
         r"^warmstart plan: error: Cannot make the target's variables from "
         r"checkpoint .*odd/model.ckpt: ValueError: .*no spaces allowed"),
        (['merge', truncated, '-o', output], 1,
         r"^warmstart merge: error: Checkpoint '.*truncated/model.ckpt' is "
         r'incomplete'),
        (['merge', self.prefix, '-o', os.path.join(a_file, 'model.ckpt')], 1,
         r'^warmstart merge: error: .*a_file'),
        (['merge', self.prefix, '-o', too_long], 1,
         r'^warmstart merge: error: .*xxxx'),
        (['merge', self.prefix, '-o', self.dir], 2,
         r'^warmstart merge: error: Output .* is a directory'),
    ]
    for argv, code, regex in cases:
      with self.subTest(argv=argv):
        status, out, err = self.run_main(*argv)
        self.assertEqual(status, code, err)
        self.assertEqual(out, '')
        self.assert_one_line_error(err, regex)
    self.assertFalse(os.path.exists(os.path.dirname(output)))

  def test_a_tf_error_of_a_session_is_one_line(self):
    # TF puts the op's creation stack in the text of an error a session run
    # raises ("Original stack trace for 'SaveV2': File ..."): left out.
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    a_file = os.path.join(self.dir, 'a_file')
    with open(a_file, 'w') as f:
      f.write('x')
    nowhere = os.path.join(a_file, 'shard')  # SaveV2 cannot write there.
    real_save = _write._save_batch

    def save_nowhere(prefix, pieces, values):
      del prefix
      real_save(nowhere, pieces, values)

    with mock.patch.object(_write, '_save_batch', save_nowhere):
      with self.assertRaisesRegex(tf.errors.OpError,
                                  r"(?s)a_file/shard.*Original stack trace "
                                  r"for 'SaveV2'.*File \""):
        warmstart_merge([self.prefix], output)
      status, out, err = self.run_main('merge', '--json', self.prefix, '-o',
                                       output)
    self.assertEqual(status, 1)
    regex = r'^warmstart merge: error: .*a_file/shard'
    self.assert_one_line_error(err, regex)
    self.assertNotIn('Detected at node', err)
    self.assertNotIn('[[{{node', err)
    self.assertNotIn('Graph execution error', err)
    self.assert_json_error(out, 1, r'\w+Error', r'a_file/shard')
    self.assertFalse(os.path.exists(os.path.dirname(output)))

  def test_full_disk_is_one_line_naming_the_output_and_the_bytes(self):
    output = os.path.join(self.dir, 'merged', 'model.ckpt')
    full = tf.errors.ResourceExhaustedError(
        None, None, 'shard.tempstate1; No space left on device')
    with mock.patch.object(_write, '_join_shards', side_effect=full):
      status, out, err = self.run_main('-q', 'merge', '--json', self.prefix,
                                       '-o', output)
    self.assertEqual(status, 1)
    regex = (r"^warmstart merge: error: No space left on device \(ENOSPC\) "
             r"while merging into %s: the merge writes 72 bytes \(72 B in 4 "
             r"tensors" % re.escape(repr(output)))
    self.assert_one_line_error(err, regex)
    self.assert_json_error(out, 1, 'OutOfSpaceError',
                           regex.replace('^warmstart merge: error: ', '^'))
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


  def test_no_tensorflow_log_lines_unless_asked(self):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    quiet = {k: v for k, v in os.environ.items()
             if k != 'TF_CPP_MIN_LOG_LEVEL'}
    quiet['PYTHONPATH'] = root
    for env, lines in ((quiet, 1), (dict(quiet, TF_CPP_MIN_LOG_LEVEL='0'),
                                    None)):
      done = subprocess.run(
          [sys.executable, '-m', 'warmstart', 'inspect', '/no/such/ckpt'],
          capture_output=True, text=True, env=env, timeout=120, check=False)
      self.assertEqual(1, done.returncode, done.stderr)
      errors = done.stderr.strip().splitlines()
      self.assertRegex(errors[-1], r'^warmstart inspect: error: No checkpoint')
      if lines is not None:
        # Only our one line: nothing from TF's C++ logging (cuDNN, cuFFT...).
        self.assertEqual(lines, len(errors), done.stderr)
      else:
        self.assertGreater(len(errors), 1)  # Asked for: TF's lines come.


if __name__ == '__main__':
  tf.test.main()
