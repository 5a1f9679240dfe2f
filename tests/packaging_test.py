"""What `pip install .` gives a user: the whole package, typed and licensed.

Builds the wheel from a clean copy of the source tree (no stale `build/`;
nothing written into the repository; no network: the venv's setuptools, no
build isolation) and checks that every module of `warmstart/`, its
subpackages included, is in it, with `py.typed`, the license (file and
metadata) and the version of `warmstart/__init__.py`, the one place it is
written. Then installs the wheel into a folder of its own and type-checks
`examples/` against it with mypy: the package's own annotations are what a
user's type checker sees (and without `py.typed` it sees nothing, which the
test also shows).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

from absl.testing import absltest

_ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Files of the repository root that the wheel is built from.
_BUILD_FILES = ('pyproject.toml', 'README.md', 'LICENSE')


def _version() -> str:
  """`warmstart.__version__`, read from the source without importing it."""
  tree = ast.parse((_ROOT / 'warmstart' / '__init__.py').read_text())
  for node in tree.body:
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and
        getattr(node.targets[0], 'id', None) == '__version__'):
      return ast.literal_eval(node.value)
  raise AssertionError('warmstart/__init__.py sets no __version__')


def _build_wheel(out: str) -> str:
  """Builds the wheel of a clean copy of the tree in `out`; returns its path."""
  source = os.path.join(out, 'source')
  shutil.copytree(_ROOT / 'warmstart', os.path.join(source, 'warmstart'),
                  ignore=shutil.ignore_patterns('__pycache__', 'BUILD'))
  for name in _BUILD_FILES:
    if (_ROOT / name).is_file():
      shutil.copy(_ROOT / name, source)
  build = os.path.join(out, 'wheel')
  done = subprocess.run(
      [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
       '--no-build-isolation', '--quiet', '--disable-pip-version-check',
       '-w', build, source],
      check=False, capture_output=True, text=True, timeout=300, cwd=out)
  if done.returncode:
    raise AssertionError('pip wheel failed:\n%s' % done.stderr[-3000:])
  wheels = [f for f in os.listdir(build) if f.endswith('.whl')]
  if len(wheels) != 1:
    raise AssertionError('expected one wheel, got %s' % wheels)
  return os.path.join(build, wheels[0])


class WheelTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    if not (_ROOT / 'pyproject.toml').is_file():
      raise absltest.SkipTest('No source tree with pyproject.toml here.')
    out = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    cls.wheel = _build_wheel(out)
    with zipfile.ZipFile(cls.wheel) as wheel:
      cls.names = set(wheel.namelist())
      cls.dist_info = next(n.split('/')[0] for n in cls.names
                           if n.endswith('.dist-info/METADATA'))
      cls.metadata = wheel.read(cls.dist_info + '/METADATA').decode()
      cls.license = wheel.read(cls.dist_info + '/licenses/LICENSE')

  def _field(self, name: str) -> list[str]:
    header = self.metadata.split('\n\n', 1)[0]
    return re.findall(r'^%s: (.*)$' % re.escape(name), header, re.MULTILINE)

  def test_every_module_is_in_the_wheel(self):
    modules = sorted(p.relative_to(_ROOT).as_posix()
                     for p in (_ROOT / 'warmstart').rglob('*.py'))
    self.assertIn('warmstart/_planning/_rules.py', modules)
    self.assertEqual([], [m for m in modules if m not in self.names])

  def test_no_test_or_tool_is_in_the_wheel(self):
    self.assertEqual([], sorted(n for n in self.names
                                if n.startswith(('tests/', 'tools/',
                                                 'benchmarks/', 'docs/',
                                                 'examples/'))))

  def test_console_script(self):
    entry_points = [n for n in self.names if n.endswith('entry_points.txt')]
    self.assertLen(entry_points, 1)

  def test_py_typed_is_in_the_wheel(self):
    self.assertIn('warmstart/py.typed', self.names)
    self.assertIn('Typing :: Typed', self._field('Classifier'))

  def test_license_is_in_the_wheel_and_its_metadata(self):
    self.assertEqual((_ROOT / 'LICENSE').read_bytes(), self.license)
    self.assertIn(b'Apache License', self.license)
    self.assertIn(b'Version 2.0, January 2004', self.license)
    self.assertEqual(['Apache-2.0'], self._field('License-Expression'))
    self.assertEqual(['LICENSE'], self._field('License-File'))

  def test_version_is_written_once_and_read_from_the_package(self):
    version = _version()
    self.assertEqual([version], self._field('Version'))
    self.assertIn('warmstart-%s.dist-info' % version, self.dist_info)
    pyproject = (_ROOT / 'pyproject.toml').read_text()
    # The [project] table, up to the next table's header.
    project = re.search(r'^\[project\]\n(.*?)^\[', pyproject,
                        re.MULTILINE | re.DOTALL).group(1)
    self.assertIsNone(re.search(r'^version\s*=', project, re.MULTILINE),
                      'pyproject.toml writes the version: read it from '
                      'warmstart/__init__.py (dynamic = ["version"])')
    self.assertRegex(project, r'(?m)^dynamic = \["version"\]$')
    self.assertRegex(pyproject,
                     r'version = \{ attr = "warmstart.__version__" \}')

  def test_changelog_releases_the_version(self):
    changelog = (_ROOT / 'CHANGELOG.md').read_text()
    headings = re.findall(r'^## \[([^\]]+)\]', changelog, re.MULTILINE)
    self.assertEqual('Unreleased', headings[0], headings)
    self.assertEqual(_version(), headings[1],
                     'the newest release in CHANGELOG.md is not __version__')

  def test_classifiers(self):
    classifiers = self._field('Classifier')
    self.assertLen([c for c in classifiers
                    if c.startswith('Development Status :: ')], 1)
    for python in ('3.9', '3.11', '3.13'):
      self.assertIn('Programming Language :: Python :: ' + python,
                    classifiers)


_HAS_MYPY = importlib.util.find_spec('mypy') is not None


@unittest.skipUnless(_HAS_MYPY, 'mypy is not installed here (it is pinned in '
                     'requirements-docs.txt, which make venv installs)')
class TypedPackageTest(absltest.TestCase):
  """mypy over examples/, with warmstart installed from the wheel."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    if not (_ROOT / 'pyproject.toml').is_file():
      raise absltest.SkipTest('No source tree with pyproject.toml here.')
    cls.out = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    wheel = _build_wheel(cls.out)
    cls.site = os.path.join(cls.out, 'site')
    subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps', '--quiet',
         '--disable-pip-version-check', '--target', cls.site, wheel],
        check=True, capture_output=True, timeout=300)
    # Outside the repository, so that mypy finds warmstart only installed.
    cls.examples = os.path.join(cls.out, 'examples')
    os.makedirs(cls.examples)
    for path in sorted((_ROOT / 'examples').glob('*.py')):
      shutil.copy(path, cls.examples)

  def _mypy(self, site: str, *files: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=site)
    env.pop('MYPYPATH', None)
    return subprocess.run(
        [sys.executable, '-m', 'mypy', '--config-file',
         str(_ROOT / 'pyproject.toml'), '--no-incremental',
         '--cache-dir', os.devnull, '--no-error-summary', *files],
        capture_output=True, text=True, timeout=600, cwd=self.examples,
        env=env, check=False)

  def test_examples_type_check_against_the_installed_package(self):
    files = sorted(f for f in os.listdir(self.examples) if f.endswith('.py'))
    self.assertIn('transfer_learning.py', files)
    done = self._mypy(self.site, *files)
    self.assertEqual(0, done.returncode, done.stdout + done.stderr)

  def test_a_misuse_of_the_api_is_reported(self):
    path = os.path.join(self.examples, 'misuse.py')
    with open(path, 'w') as f:
      f.write('import warmstart\n\n'
              "restored: str = warmstart.make_plan('/m').num_restored\n")
    self.addCleanup(os.remove, path)
    done = self._mypy(self.site, 'misuse.py')
    self.assertEqual(1, done.returncode, done.stdout + done.stderr)
    self.assertIn('misuse.py:3: error: Incompatible types in assignment '
                  '(expression has type "int", variable has type "str")',
                  done.stdout)

  def test_without_py_typed_the_package_is_untyped(self):
    site = os.path.join(self.out, 'site_untyped')
    shutil.copytree(self.site, site)
    os.remove(os.path.join(site, 'warmstart', 'py.typed'))
    done = self._mypy(site, 'merge_two_models.py')
    self.assertEqual(1, done.returncode, done.stdout + done.stderr)
    self.assertIn('missing library stubs or py.typed marker', done.stdout)


if __name__ == '__main__':
  absltest.main()
