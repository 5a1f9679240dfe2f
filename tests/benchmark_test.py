"""Smoke test of `benchmarks/run.py`: it runs, and it catches wrong values.

Times are never asserted here (they are the benchmark's job, as ratios in
one run); what is checked is that every method of the smallest scenario runs
in its own process and restores the right values, that a warm start which
restores nothing is reported as a failed run, and the graph each method adds:
warmstart's first run needs about one op per variable, TF's several.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from absl.testing import absltest

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RUN = os.path.join(_REPO, 'benchmarks', 'run.py')
_METHODS = ('cold', 'tf_init_from_checkpoint', 'saver_restore', 'warmstart',
            'init_floor')
_NUM_VARS = 200  # Scenario S0.


def _run(out_dir: str, *flags: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run(
      [sys.executable, _RUN, '--scenarios=S0', '--out_dir=' + out_dir,
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


if __name__ == '__main__':
  absltest.main()
