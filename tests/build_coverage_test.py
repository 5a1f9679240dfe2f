"""Checks that the root BUILD file covers every source file of the repository.

The repository has one BUILD file (the root one), so a new module, test or
example is invisible to `bazel test //...` until someone adds a target for it.
This test fails, naming the file and printing the stanza to add, when a
`warmstart/*.py`, `tests/*_test.py` or `examples/*.py` file is in no target's
`srcs`. It also checks that every file a target lists exists and that each
target depends (directly or not) on the warmstart modules its sources import.

It runs under pytest (the repository root is found from `__file__`) and under
Bazel (the root is the workspace's runfiles directory; the files it reads are
`data` of its target).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import pathlib

from absl.testing import absltest

# Files that must each be in some target's `srcs`, as globs from the root.
_COVERED_GLOBS = ('warmstart/*.py', 'tests/*_test.py', 'examples/*.py')
_RULES = ('py_binary', 'py_library', 'py_test')


def _repo_root() -> pathlib.Path:
  """Returns the directory holding BUILD: Bazel's runfiles or the source tree."""
  srcdir = os.environ.get('TEST_SRCDIR')
  if srcdir:
    root = pathlib.Path(srcdir) / os.environ.get('TEST_WORKSPACE', 'warmstart')
    if (root / 'BUILD').is_file():
      return root
  return pathlib.Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class _Target:
  rule: str
  name: str
  srcs: tuple[str, ...]
  deps: tuple[str, ...]


def _glob(root: pathlib.Path, call: ast.Call) -> list[str]:
  """Evaluates a `glob(include, exclude = [...])` call against `root`."""
  include = _strings(root, call.args[0]) if call.args else []
  exclude = []
  for keyword in call.keywords:
    if keyword.arg == 'include':
      include = _strings(root, keyword.value)
    elif keyword.arg == 'exclude':
      exclude = _strings(root, keyword.value)
  excluded = {p for pattern in exclude for p in root.glob(pattern)}
  return sorted(
      p.relative_to(root).as_posix()
      for pattern in include
      for p in root.glob(pattern)
      if p.is_file() and p not in excluded
  )


def _strings(root: pathlib.Path, node: ast.AST) -> list[str]:
  """Evaluates a list of strings, a `glob()` or a `+` of them; else []."""
  if isinstance(node, (ast.List, ast.Tuple)):
    return [
        e.value
        for e in node.elts
        if isinstance(e, ast.Constant) and isinstance(e.value, str)
    ]
  if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
    return _strings(root, node.left) + _strings(root, node.right)
  if (
      isinstance(node, ast.Call)
      and isinstance(node.func, ast.Name)
      and node.func.id == 'glob'
  ):
    return _glob(root, node)
  return []


def _parse_build(root: pathlib.Path) -> dict[str, _Target]:
  """Returns the Python targets of the root BUILD file, by name."""
  tree = ast.parse((root / 'BUILD').read_text(), filename='BUILD')
  targets = {}
  for node in ast.walk(tree):
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _RULES
    ):
      continue
    attrs = {k.arg: k.value for k in node.keywords}
    name = attrs.get('name')
    if not isinstance(name, ast.Constant):
      continue
    srcs = _strings(root, attrs['srcs']) if 'srcs' in attrs else []
    deps = _strings(root, attrs['deps']) if 'deps' in attrs else []
    targets[name.value] = _Target(
        rule=node.func.id,
        name=name.value,
        srcs=tuple(s for s in srcs if not s.startswith((':', '//', '@'))),
        deps=tuple(d[1:] for d in deps if d.startswith(':')),
    )
  return targets


def _imported_modules(path: pathlib.Path) -> set[str]:
  """Returns the `warmstart` modules a source file imports, e.g. `_plan`.

  Covers `from warmstart import _x`, `from warmstart._x import y` and
  `import warmstart._x`; names that are not modules are returned too and
  simply match no file.
  """
  modules = set()
  for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      if node.module == 'warmstart':
        modules.update(alias.name for alias in node.names)
      elif node.module.startswith('warmstart.'):
        modules.add(node.module.split('.')[1])
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.startswith('warmstart.'):
          modules.add(alias.name.split('.')[1])
  return modules


def _needs_target(path: pathlib.Path) -> bool:
  """Whether a file matched by `_COVERED_GLOBS` must be in some target's srcs.

  Only `warmstart/__init__.py` is a module of its own; an `__init__.py` in
  tests/ or examples/ just marks a folder as a package.
  """
  return path.name != '__init__.py' or path.parent.name == 'warmstart'


def _module_file(module: str) -> str:
  return f'warmstart/{module}.py'


def _library_name(module_file: str) -> str:
  """`warmstart/_plan.py` -> `plan`; `warmstart/__init__.py` -> `warmstart`.

  Other dunder modules lose both sides' underscores: `__main__` -> `main`.
  """
  stem = pathlib.PurePosixPath(module_file).stem
  return 'warmstart' if stem == '__init__' else stem.strip('_')


def _suggest_stanza(root: pathlib.Path, path: str) -> str:
  """Returns the BUILD stanza that, by the conventions, covers `path`."""
  stem = pathlib.PurePosixPath(path).stem
  if path.startswith('warmstart/'):
    rule, name = 'py_library', _library_name(path)
    if name == 'warmstart':
      deps = sorted(
          _library_name(p.relative_to(root).as_posix())
          for p in root.glob('warmstart/*.py')
          if p.name != '__init__.py'
      )
    else:
      deps = sorted(
          _library_name(_module_file(m))
          for m in _imported_modules(root / path)
          if (root / _module_file(m)).is_file()
      )
  else:
    rule, name, deps = 'py_binary', stem, ['warmstart']
    if path.startswith('tests/'):
      rule = 'py_test'
      helpers = [
          p for p in root.glob('tests/*.py') if not p.name.endswith('_test.py')
      ]
      deps = ['test_utils', 'warmstart'] if helpers else ['warmstart']
  lines = [f'{rule}(', f'    name = "{name}",']
  if rule == 'py_test':
    lines.append('    size = "medium",')
  lines.append(f'    srcs = ["{path}"],')
  if rule != 'py_library':
    lines.append(f'    main = "{path}",')
    lines.append('    python_version = "PY3",')
  lines.append('    srcs_version = "PY3",')
  if len(deps) == 1:
    lines.append(f'    deps = [":{deps[0]}"],')
  elif deps:
    lines.append('    deps = [')
    lines.extend(f'        ":{d}",' for d in deps)
    lines.append('    ],')
  lines.append(')')
  return '\n'.join(lines)


class BuildCoverageTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = _repo_root()
    cls.targets = _parse_build(cls.root)

  def test_finds_the_repository(self):
    self.assertTrue(
        (self.root / 'BUILD').is_file(), f'no BUILD file in {self.root}'
    )
    self.assertIn('build_coverage_test', self.targets)

  def test_every_source_file_has_a_target(self):
    listed = {src for t in self.targets.values() for src in t.srcs}
    missing = sorted(
        p.relative_to(self.root).as_posix()
        for pattern in _COVERED_GLOBS
        for p in self.root.glob(pattern)
        if _needs_target(p)
        and p.relative_to(self.root).as_posix() not in listed
    )
    if missing:
      stanzas = '\n\n'.join(_suggest_stanza(self.root, m) for m in missing)
      self.fail(
          f"{len(missing)} file(s) in no target's srcs in BUILD: "
          f"{', '.join(missing)}.\nAdd, keeping BUILD sorted:\n\n{stanzas}"
      )

  def test_every_listed_source_exists(self):
    for target in self.targets.values():
      for src in target.srcs:
        with self.subTest(target=target.name, src=src):
          self.assertTrue(
              (self.root / src).is_file(),
              f'BUILD target :{target.name} lists {src}, which does not exist;'
              ' remove it or fix the path',
          )

  def test_targets_depend_on_the_modules_they_import(self):
    owner = {src: t.name for t in self.targets.values() for src in t.srcs}
    for target in self.targets.values():
      reachable, todo = set(), list(target.deps)
      while todo:
        dep = todo.pop()
        if dep not in reachable and dep in self.targets:
          reachable.add(dep)
          todo.extend(self.targets[dep].deps)
      for src in target.srcs:
        if not src.endswith('.py') or not (self.root / src).is_file():
          continue
        for module in sorted(_imported_modules(self.root / src)):
          needed = owner.get(_module_file(module))
          if needed is None or needed == target.name:
            continue
          with self.subTest(target=target.name, module=module):
            self.assertIn(
                needed,
                reachable,
                f'{src} imports warmstart.{module}, but BUILD target '
                f':{target.name} does not depend on :{needed}; add '
                f'":{needed}" to its deps',
            )


if __name__ == '__main__':
  absltest.main()
