"""The wheel `pip install .` builds holds the whole package.

Builds the wheel from a clean copy of the source tree (no stale `build/`;
nothing written into the repository; no network: the venv's setuptools, no
build isolation) and checks that every module of `warmstart/`, its
subpackages included, is in it, and the console script is declared.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

from absl.testing import absltest

_ROOT = pathlib.Path(__file__).resolve().parent.parent


class WheelTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    if not (_ROOT / 'pyproject.toml').is_file():
      raise absltest.SkipTest('No source tree with pyproject.toml here.')
    out = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    source = os.path.join(out, 'source')
    shutil.copytree(_ROOT / 'warmstart', os.path.join(source, 'warmstart'),
                    ignore=shutil.ignore_patterns('__pycache__', 'BUILD'))
    for name in ('pyproject.toml', 'README.md', 'LICENSE'):
      if (_ROOT / name).is_file():
        shutil.copy(_ROOT / name, source)
    build = os.path.join(out, 'wheel')
    subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '--quiet', '--disable-pip-version-check',
         '-w', build, source],
        check=True, capture_output=True, timeout=300,
        cwd=out)
    wheels = [f for f in os.listdir(build) if f.endswith('.whl')]
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(os.path.join(build, wheels[0])) as wheel:
      cls.names = set(wheel.namelist())

  def test_every_module_is_in_the_wheel(self):
    modules = sorted(p.relative_to(_ROOT).as_posix()
                     for p in (_ROOT / 'warmstart').rglob('*.py'))
    self.assertIn('warmstart/_planning/_rules.py', modules)
    self.assertEqual([], [m for m in modules if m not in self.names])

  def test_no_test_or_tool_is_in_the_wheel(self):
    self.assertEqual([], sorted(n for n in self.names
                                if n.startswith(('tests/', 'tools/',
                                                 'benchmarks/'))))

  def test_console_script(self):
    entry_points = [n for n in self.names if n.endswith('entry_points.txt')]
    self.assertLen(entry_points, 1)


if __name__ == '__main__':
  absltest.main()
