"""Smoke test of `benchmarks/run.py`: it runs, and it catches wrong values.

Times are never asserted here (they are the benchmark's job, as ratios in
one run); what is checked is that every method of the smallest scenario runs
in its own process and restores the right values, that a warm start which
restores nothing is reported as a failed run, and the graph each method adds:
warmstart's first run needs about one op per variable, TF's several. The
embedding scenarios run at their smoke-test size (S4s-*, S5s-*, E-embs):
values checked, bytes read and peak RSS recorded, targets printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from absl.testing import absltest

from tests import test_util

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RUN = os.path.join(_REPO, 'benchmarks', 'run.py')
_METHODS = ('cold', 'tf_init_from_checkpoint', 'saver_restore', 'warmstart',
            'warmstart_scope', 'init_floor')
_ESTIMATOR_METHODS = ('cold', 'warm_start_from', 'wrap_model_fn',
                      'wrap_model_fn_built', 'warm_start_hook')
_NUM_VARS = 200  # Scenario S0.
#: The embedding scenarios at their smoke-test size, and their methods.
_EMB_SCENARIOS = {
    'S4s-1': ('tf_init_from_checkpoint', 'tf_warm_start', 'warmstart'),
    'S4s-8': ('tf_init_from_checkpoint', 'tf_warm_start', 'warmstart'),
    'S5s-1': ('tf_warm_start', 'warmstart'),
    'S5s-8': ('tf_warm_start', 'warmstart'),
    'E-embs': ('cold', 'warm_start_from', 'wrap_model_fn'),
}
_EMB_BYTES = 20_000 * 16 * 4  # The smoke test's `emb` tensor.


def _run(out_dir: str, *flags: str,
         scenario: str = 'S0') -> subprocess.CompletedProcess:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run(
      [sys.executable, _RUN, '--scenarios=' + scenario, '--out_dir=' + out_dir,
       *flags], env=env, capture_output=True, text=True, timeout=600,
      check=False)


class BenchmarkSmokeTest(absltest.TestCase):

  def test_every_method_runs_and_restores_the_checkpoint(self):
    out_dir = self.create_tempdir().full_path
    proc = _run(out_dir, '--methods=' + ','.join(_METHODS))
    self.assertEqual(0, proc.returncode, proc.stdout[-2000:] +
                     proc.stderr[-3000:])
    with open(os.path.join(out_dir, 'results.json')) as f:
      rows = json.load(f)['results']['S0']
    self.assertCountEqual(_METHODS, rows)
    for method, row in rows.items():
      self.assertNotIn('error', row, method)
      self.assertGreater(row['total_s'], 0, method)
    # The subgraph the first run fetches: warmstart one assign per variable
    # (plus its few batched reads); TF's init_from_checkpoint several ops.
    self.assertLessEqual(rows['warmstart']['init_ops'], _NUM_VARS + 10)
    self.assertGreaterEqual(rows['tf_init_from_checkpoint']['init_ops'],
                            5 * _NUM_VARS)
    self.assertLessEqual(rows['init_floor']['init_ops'],
                         rows['warmstart']['init_ops'])
    # Under warm_start_scope the restored variables' initializers are never
    # built (Glorot: 7 ops each; a stand-in: 1), the first run is the same.
    self.assertLessEqual(rows['warmstart_scope']['graph_ops'],
                         rows['warmstart']['graph_ops'] - 5 * _NUM_VARS)
    self.assertEqual(rows['warmstart_scope']['init_ops'],
                     rows['warmstart']['init_ops'])
    with open(os.path.join(out_dir, 'results.md')) as f:
      markdown = f.read()
    self.assertIn('### S0:', markdown)
    self.assertIn('| warmstart |', markdown)

  def test_a_warm_start_that_restores_nothing_fails_the_run(self):
    # A stand-in `warmstart` package whose init_from_checkpoint does nothing:
    # the variables keep their random initial values.
    fake = self.create_tempdir()
    fake.create_file('warmstart/__init__.py',
                     'def init_from_checkpoint(*args, **kwargs):\n'
                     '  del args, kwargs\n')
    out_dir = self.create_tempdir().full_path
    proc = _run(out_dir, '--methods=warmstart',
                '--warmstart_path=' + fake.full_path)
    self.assertNotEqual(0, proc.returncode, proc.stdout[-2000:])
    self.assertIn('Failed runs: S0 warmstart', proc.stderr)
    self.assertRegex(proc.stdout, r'warmstart restored new/v\d+(:0)? wrong')

  @test_util.requires_estimator
  def test_embedding_scenarios_run_restore_and_measure_reads_and_rss(self):
    out_dir = self.create_tempdir().full_path
    proc = _run(out_dir, '--max_chunk_bytes=%d' % (4 << 20),
                scenario=','.join(_EMB_SCENARIOS))
    self.assertEqual(0, proc.returncode, proc.stdout[-2000:] +
                     proc.stderr[-3000:])
    with open(os.path.join(out_dir, 'results.json')) as f:
      results = json.load(f)['results']
    for scenario, methods in _EMB_SCENARIOS.items():
      self.assertCountEqual(methods, results[scenario], scenario)
      for method, row in results[scenario].items():
        where = '%s %s' % (scenario, method)
        self.assertNotIn('error', row, where)
        # Every warm start reads at least the restored tensor, in its
        # measured span.
        if method != 'cold':
          self.assertGreaterEqual(row['rchar'], _EMB_BYTES, where)
        self.assertGreater(row['rss_baseline_mb'], 0, where)
        self.assertGreaterEqual(row['peak_over_baseline_mb'], 0, where)
        self.assertIn(row['peak_of'], ('section', 'process'), where)
    # TF restores a whole stored tensor once per partition it fills.
    self.assertGreaterEqual(
        results['S4s-8']['tf_init_from_checkpoint']['rchar'], 8 * _EMB_BYTES)
    # The chunk size reaches warmstart and the RSS budget.
    self.assertEqual(4 << 20, results['S4s-1']['warmstart']['max_chunk_bytes'])
    self.assertIn('+ 2 x 4 MiB)', proc.stdout)
    with open(os.path.join(out_dir, 'results.md')) as f:
      markdown = f.read()
    for scenario in _EMB_SCENARIOS:
      self.assertIn('### %s:' % scenario, markdown)
    self.assertIn('| peak RSS over baseline MiB |', markdown)
    # E-emb's peak up to the session, before the first checkpoint save.
    self.assertIn('| peak RSS to the session MiB |', markdown)
    for method in _EMB_SCENARIOS['E-embs']:
      row = results['E-embs'][method]
      self.assertLessEqual(row['startup_peak_over_baseline_mb'],
                           row['peak_over_baseline_mb'], method)
    # The targets are judged (a verdict, not "not measured") and printed.
    self.assertRegex(proc.stdout, r'(PASS|FAIL)  warmstart reads <= 1.2x')
    self.assertRegex(proc.stdout, r'(PASS|FAIL)  >= 10x faster than '
                     r'tf_warm_start \[total\]')
    self.assertRegex(proc.stdout, r'(PASS|FAIL)  warmstart within 1.3x of '
                     r'its time on S4s-1')
    self.assertRegex(proc.stdout, r'(PASS|FAIL)  wrap_model_fn <= 0.5x '
                     r'warm_start_from \[to the first step\]')
    self.assertRegex(proc.stdout, r'(PASS|FAIL)  wrap_model_fn peak RSS over '
                     r'the baseline to the session <= a cold start')

  def test_an_embedding_warm_start_that_restores_nothing_fails_the_run(self):
    # Neither the by-name restore (S4) nor the remap (S5) does anything: the
    # variable keeps its random initial values.
    fake = self.create_tempdir()
    fake.create_file('warmstart/__init__.py',
                     'def init_from_checkpoint(*args, **kwargs):\n'
                     '  del args, kwargs\n'
                     'warm_start = init_from_checkpoint\n')
    out_dir = self.create_tempdir().full_path
    proc = _run(out_dir, '--methods=warmstart',
                '--warmstart_path=' + fake.full_path, scenario='S4s-8,S5s-8')
    self.assertNotEqual(0, proc.returncode, proc.stdout[-2000:])
    self.assertIn('Failed runs: S4s-8 warmstart, S5s-8 warmstart',
                  proc.stderr)
    self.assertLen(re.findall(r'warmstart restored emb row \d+ wrong',
                              proc.stdout), 2, proc.stdout)

  @test_util.requires_estimator
  def test_estimator_start_up_runs_every_method(self):
    out_dir = self.create_tempdir().full_path
    proc = _run(out_dir, scenario='E0')
    self.assertEqual(0, proc.returncode, proc.stdout[-2000:] +
                     proc.stderr[-3000:])
    with open(os.path.join(out_dir, 'results.json')) as f:
      rows = json.load(f)['results']['E0']
    self.assertCountEqual(_ESTIMATOR_METHODS, rows)
    for method, row in rows.items():
      self.assertNotIn('error', row, method)
      parts = (row['model_fn_s'] + row['warm_start_s'] + row['session_s'] +
               row['first_step_s'])
      self.assertGreater(row['model_fn_s'], 0, method)
      self.assertLessEqual(parts, row['total_s'], method)
    self.assertEqual(0.0, rows['cold']['warm_start_s'])
    for method in _ESTIMATOR_METHODS[1:]:
      self.assertGreater(rows[method]['warm_start_s'], 0, method)
    # Each run gets its own model_dir under out_dir, removed after it.
    self.assertEqual([], [d for d in os.listdir(out_dir)
                          if d.startswith('model_dir_')])

  @test_util.requires_estimator
  def test_an_estimator_warm_start_that_restores_nothing_fails_the_run(self):
    fake = self.create_tempdir()
    fake.create_file('warmstart/__init__.py',
                     'class WarmStartSettings:\n'
                     '  def __init__(self, *args, **kwargs):\n'
                     '    del args, kwargs\n'
                     'def wrap_model_fn(model_fn, settings, **kwargs):\n'
                     '  del settings, kwargs\n'
                     '  def wrapped(features, labels, mode, config):\n'
                     '    del config\n'
                     '    return model_fn(features, labels, mode)\n'
                     '  return wrapped\n')
    out_dir = self.create_tempdir().full_path
    proc = _run(out_dir, '--methods=wrap_model_fn',
                '--warmstart_path=' + fake.full_path, scenario='E0')
    self.assertNotEqual(0, proc.returncode, proc.stdout[-2000:])
    self.assertIn('Failed runs: E0 wrap_model_fn', proc.stderr)
    self.assertRegex(proc.stdout, r'wrap_model_fn restored model/v\d+ wrong')


if __name__ == '__main__':
  absltest.main()
