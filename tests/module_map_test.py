"""Keeps docs/architecture.md (the module map) true to `warmstart/`.

Every module of the package is in one table of the map, every module the
map names exists, each subpackage's docstring lists its own modules, and no
module imports a later stage than its own (the stages are the map's
sections, in pipeline order).

Runs under pytest (the repository root from `__file__`) and under Bazel (the
files are `data` of its target, in the runfiles).
"""

from __future__ import annotations

import ast
import os
import pathlib
import re

from absl.testing import absltest

#: The map's sections, by the start of their heading, and their place in the
#: pipeline: a module may import modules of its own or earlier places only.
_SECTIONS = (
    ('Shared leaves', 0),
    ('What the user declares', 1),
    ('Stage 1, sources', 2),
    ('Stage 2, planning', 3),
    ('Stage 3, restore ops', 4),
    ('Integration at session creation', 5),
    ('Integration at variable creation', 5),
    ('Reports', 5),
    ('Entry points', 6),
    ('Merge, beside the pipeline', 6),
    ('The edges and the public API', 7),
)

_ROW = re.compile(r'^\| `(warmstart/[\w/]+\.py)` \| (.+) \|$')


def _root() -> pathlib.Path:
  srcdir = os.environ.get('TEST_SRCDIR')
  if srcdir:
    root = pathlib.Path(srcdir) / os.environ.get('TEST_WORKSPACE', 'warmstart')
    if (root / 'docs' / 'architecture.md').is_file():
      return root
  return pathlib.Path(__file__).resolve().parent.parent


def _mapped(root: pathlib.Path) -> dict[str, tuple[str, int]]:
  """{module path: (its job, its place)} from the map's tables."""
  mapped = {}
  place = None
  for line in (root / 'docs' / 'architecture.md').read_text().splitlines():
    if line.startswith('## '):
      place = next((p for title, p in _SECTIONS
                    if line[3:].startswith(title)), None)
      continue
    match = _ROW.match(line)
    if match:
      if place is None:
        raise AssertionError('docs/architecture.md lists %s under a heading '
                             'that is no stage of %s' % (match.group(1),
                                                         __file__))
      if match.group(1) in mapped:
        raise AssertionError('docs/architecture.md lists %s twice' %
                             match.group(1))
      mapped[match.group(1)] = (match.group(2), place)
  return mapped


def _modules(root: pathlib.Path) -> list[str]:
  return sorted(p.relative_to(root).as_posix()
                for p in (root / 'warmstart').rglob('*.py'))


def _imported(root: pathlib.Path, path: str) -> set[str]:
  """The warmstart module files `path` imports (a package: its __init__)."""
  found = set()

  def add(dotted: str) -> None:
    parts = dotted.split('.')
    if parts[0] != 'warmstart' or len(parts) == 1:
      return
    base = root.joinpath(*parts)
    if (base / '__init__.py').is_file():
      found.add((base / '__init__.py').relative_to(root).as_posix())
    elif base.with_suffix('.py').is_file():
      found.add(base.with_suffix('.py').relative_to(root).as_posix())

  tree = ast.parse((root / path).read_text(), filename=path)
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      add(node.module)
      for alias in node.names:
        add('%s.%s' % (node.module, alias.name))
    elif isinstance(node, ast.Import):
      for alias in node.names:
        add(alias.name)
  found.discard(path)
  return found


class ModuleMapTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = _root()
    cls.mapped = _mapped(cls.root)
    cls.modules = _modules(cls.root)

  def test_every_module_is_on_the_map(self):
    missing = [m for m in self.modules if m not in self.mapped]
    self.assertEqual([], missing, 'Add a row for each to docs/architecture.md '
                     '(`| `path` | its one job |`) under its stage.')

  def test_every_module_on_the_map_exists(self):
    self.assertEqual([], sorted(set(self.mapped) - set(self.modules)))

  def test_every_module_has_a_job(self):
    for path, (job, _) in self.mapped.items():
      self.assertGreater(len(job.split()), 2, path)

  def test_each_package_docstring_lists_its_modules(self):
    for init in (self.root / 'warmstart').glob('_*/__init__.py'):
      package = init.parent
      docstring = ast.get_docstring(ast.parse(init.read_text())) or ''
      listed = set(re.findall(r'^\* `(_\w+)`', docstring, re.M))
      own = {p.stem for p in package.glob('_*.py') if p.stem != '__init__'}
      self.assertEqual(sorted(own), sorted(listed),
                       '%s docstring' % init.relative_to(self.root))

  def test_no_module_imports_a_later_stage(self):
    upward = []
    for path in self.modules:
      if path not in self.mapped:
        continue  # Reported by test_every_module_is_on_the_map.
      place = self.mapped[path][1]
      for imported in sorted(_imported(self.root, path)):
        if imported in self.mapped and self.mapped[imported][1] > place:
          upward.append('%s (%d) imports %s (%d)' % (
              path, place, imported, self.mapped[imported][1]))
    self.assertEqual([], upward)

  def test_the_check_sees_an_upward_import(self):
    # The test above can fail: the edges import everything.
    imported = _imported(self.root, 'warmstart/__init__.py')
    places = {self.mapped[m][1] for m in imported if m in self.mapped}
    self.assertIn(0, places)
    self.assertIn(6, places)


if __name__ == '__main__':
  absltest.main()
