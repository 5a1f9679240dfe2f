"""Checks that the BUILD files cover every source file of the repository.

Each package (warmstart/, each of its subpackages, tests/, examples/) has its
own BUILD file, whose stanzas call the macros of tools/build_defs.bzl. A new
module, test or example is invisible to `bazel test //...` until someone adds
a target for it, so this test fails, naming the file and printing the stanza
to add (and where), when a `warmstart/**/*.py`, `tests/*_test.py` or
`examples/*.py` file is in no target. It also checks that every file a
target lists exists, that each target depends (directly or not) on the
targets of the modules its sources import (`import warmstart`,
`from warmstart import _plan`, `from warmstart._sources import _index`,
`from warmstart import _sources`, ...), and that //warmstart, the library
that tests and examples depend on, holds every module.

It reads the BUILD files with Python's parser (Starlark is Python syntax) and
derives each macro's srcs and implicit deps the way tools/build_defs.bzl
does: change both together.

It runs under pytest (the repository root is found from `__file__`) and under
Bazel (the root is the workspace's runfiles directory; every package's
`package_files`, its BUILD file and its Python files, is `data` of this
test's target).
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import os
import pathlib
from typing import Iterator, Optional

from absl.testing import absltest

# Files that must each be in some target's `srcs`, as globs from the root.
_COVERED_GLOBS = ('warmstart/**/*.py', 'tests/*_test.py', 'examples/*.py')
# First-party packages whose imports must be matched by deps.
_FIRST_PARTY = ('warmstart', 'tests')
# The library target: the whole package; tests and examples depend on it.
_LIBRARY = '//warmstart:warmstart'
_TEST_UTILS = '//tests:test_utils'
_THIS_TEST = '//tests:build_coverage_test'

# Rules and macros that make Python targets (tools/build_defs.bzl).
_PY_LIBRARIES = ('py_library', 'warmstart_library', 'warmstart_modules')
_PY_RULES = _PY_LIBRARIES + (
    'py_binary', 'py_test', 'warmstart_binary', 'warmstart_test')
_FILEGROUPS = ('filegroup', 'package_files')


def _repo_root() -> pathlib.Path:
  """Returns the workspace root: Bazel's runfiles or the source tree."""
  srcdir = os.environ.get('TEST_SRCDIR')
  if srcdir:
    root = pathlib.Path(srcdir) / os.environ.get('TEST_WORKSPACE', 'warmstart')
    if (root / 'BUILD').is_file():
      return root
  return pathlib.Path(__file__).resolve().parent.parent


def _ignored_dirs(root: pathlib.Path) -> set[str]:
  """The folders .bazelignore lists (absent from Bazel's runfiles)."""
  path = root / '.bazelignore'
  if not path.is_file():
    return set()
  return {line.strip().rstrip('/') for line in path.read_text().splitlines()
          if line.strip() and not line.startswith('#')}


def _build_files(root: pathlib.Path) -> list[pathlib.Path]:
  """Every BUILD file of the main repository, as Bazel's `//...` sees it.

  Leaves out hidden and ignored folders, Bazel's output links, `external/`
  (other repositories, in runfiles) and folders with a WORKSPACE file of
  their own (third_party/'s local repositories).
  """
  ignored = _ignored_dirs(root)
  found = []
  for dirpath, dirnames, filenames in os.walk(root):
    here = pathlib.Path(dirpath)
    rel = here.relative_to(root).as_posix()
    kept = []
    for d in sorted(dirnames):
      sub = d if rel == '.' else f'{rel}/{d}'
      if (d.startswith(('.', 'bazel-')) or d in ('__pycache__', 'external')
          or sub in ignored or (here / d / 'WORKSPACE').exists()):
        continue
      kept.append(d)
    dirnames[:] = kept
    for name in ('BUILD', 'BUILD.bazel'):
      if name in filenames:
        found.append(here / name)
        break
  return found


def _package_of(root: pathlib.Path, build: pathlib.Path) -> str:
  """`warmstart/_sources/BUILD` -> `warmstart/_sources`; the root's -> ''."""
  rel = build.parent.relative_to(root).as_posix()
  return '' if rel == '.' else rel


def _absolute(label: str, package: str) -> str:
  """A label as `//pkg:name`: `:x`, `x`, `//a/b` (= `//a/b:b`) resolved."""
  if label.startswith('@'):
    return label
  if label.startswith('//'):
    if ':' in label:
      return label
    return f'{label}:{label.rsplit("/", 1)[-1]}'
  return f'//{package}:{label.lstrip(":")}'


def _relative(label: str, package: str) -> str:
  """The shortest way to write `label` in `package`'s BUILD file."""
  pkg, name = label[2:].split(':', 1)
  if pkg == package:
    return ':' + name
  if pkg.rsplit('/', 1)[-1] == name:
    return '//' + pkg
  return label


@dataclasses.dataclass(frozen=True)
class _Target:
  label: str  # `//warmstart/_sources:checkpoint`.
  kind: str  # The rule or macro of its stanza.
  build: str  # Its BUILD file, from the root.
  srcs: tuple[str, ...]  # Files, from the root.
  deps: tuple[str, ...]  # Absolute labels, implicit ones included.
  data: tuple[str, ...]  # Absolute labels.


class _Package:
  """Evaluates one BUILD file's stanzas as tools/build_defs.bzl would."""

  def __init__(self, root: pathlib.Path, build: pathlib.Path,
               subpackages: set[str]):
    self.root = root
    self.build = build
    self.name = _package_of(root, build)
    self.dir = build.parent
    self._subpackages = subpackages

  def _file(self, relative: str) -> str:
    return f'{self.name}/{relative}' if self.name else relative

  def glob(self, include: list[str], exclude: list[str]) -> list[str]:
    """Bazel's glob: package-relative files of this package (not of its
    subpackages, folders with a BUILD file of their own)."""
    excluded = {p for pattern in exclude for p in self.dir.glob(pattern)}
    own = self.name or '.'
    files = set()
    for pattern in include:
      for path in self.dir.glob(pattern):
        if not path.is_file() or path in excluded:
          continue
        rel = pathlib.PurePosixPath(path.relative_to(self.root).as_posix())
        nearest = next((p.as_posix() for p in rel.parents
                        if p.as_posix() in self._subpackages), '.')
        if nearest == own:
          files.add(path.relative_to(self.dir).as_posix())
    return sorted(files)

  def strings(self, node: Optional[ast.AST]) -> list[str]:
    """A list of strings, a `glob()` or a `+` of them; else []."""
    if isinstance(node, (ast.List, ast.Tuple)):
      return [e.value for e in node.elts
              if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
      return self.strings(node.left) + self.strings(node.right)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id == 'glob'):
      args = dict(zip(('include', 'exclude'), node.args))
      args.update((k.arg, k.value) for k in node.keywords)
      return self.glob(self.strings(args.get('include')),
                       self.strings(args.get('exclude')))
    return []

  def files(self, node: Optional[ast.AST]) -> list[str]:
    """`srcs`: the files (not the labels) it names, as paths from the root."""
    return [self._file(s) for s in self.strings(node)
            if not s.startswith((':', '//', '@'))]

  def labels(self, node: Optional[ast.AST], bare_names: bool) -> list[str]:
    """The labels a list names, absolute; `bare_names`: `x` means `:x`."""
    return [_absolute(s, self.name) for s in self.strings(node)
            if bare_names or s.startswith((':', '//', '@'))]

  def targets(self) -> Iterator[_Target]:
    """The file's stanzas, in order, as targets."""
    tree = ast.parse(self.build.read_text(), filename=str(self.build))
    build = self.build.relative_to(self.root).as_posix()
    libraries = []  # What warmstart_modules() sees: py_library kinds so far.
    for statement in tree.body:
      call = statement.value if isinstance(statement, ast.Expr) else None
      if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        continue
      kind = call.func.id
      if kind not in _PY_RULES + _FILEGROUPS:
        continue
      attrs = {k.arg: k.value for k in call.keywords if k.arg}
      default_name = {'warmstart_modules': 'modules',
                      'package_files': 'package_files'}.get(kind)
      name_node = attrs.get('name')
      if isinstance(name_node, ast.Constant):
        name = name_node.value
      elif default_name:
        name = default_name
      else:
        continue
      srcs = self.files(attrs.get('srcs'))
      deps = self.labels(attrs.get('deps'), bare_names=True)
      if kind == 'warmstart_library' and 'srcs' not in attrs:
        srcs = [self._file(_module_file_name(self.name, name))]
      elif kind in ('warmstart_test', 'warmstart_binary'):
        srcs = [self._file(name + '.py')]
        implicit = [_TEST_UTILS, _LIBRARY] if kind == 'warmstart_test' else [
            _LIBRARY]
        deps = implicit + [d for d in deps if d not in implicit]
      elif kind == 'warmstart_modules':
        deps = sorted(libraries)
      elif kind == 'package_files':
        include = (self.strings(attrs['include']) if 'include' in attrs
                   else ['**/*.py'])
        srcs = [self._file(f) for f in ['BUILD'] + self.glob(include, [])]
      label = f'//{self.name}:{name}'
      if kind in _PY_LIBRARIES:
        libraries.append(label)
      data = self.labels(attrs.get('data'), bare_names=False)
      yield _Target(label=label, kind=kind, build=build, srcs=tuple(srcs),
                    deps=tuple(deps), data=tuple(data))


def _module_file_name(package: str, name: str) -> str:
  """As warmstart_library: `plan` -> `_plan.py`; the package's name -> init."""
  if package and name == package.rsplit('/', 1)[-1]:
    return '__init__.py'
  return f'_{name}.py'


def _parse_builds(root: pathlib.Path) -> dict[str, _Target]:
  """Every target of every BUILD file, by absolute label."""
  builds = _build_files(root)
  subpackages = {_package_of(root, b) or '.' for b in builds}
  targets = {}
  for build in builds:
    for target in _Package(root, build, subpackages).targets():
      targets[target.label] = target
  return targets


def _module_path(root: pathlib.Path, dotted: str) -> Optional[str]:
  """`warmstart._sources` -> `warmstart/_sources/__init__.py`, if it exists."""
  base = root.joinpath(*dotted.split('.'))
  for path in (base / '__init__.py', base.with_suffix('.py')):
    if path.is_file():
      return path.relative_to(root).as_posix()
  return None


def _imported_files(root: pathlib.Path, src: str) -> set[str]:
  """The first-party modules a source file imports, as paths from the root.

  `import warmstart` -> `warmstart/__init__.py`; `import warmstart._x._y`,
  `from warmstart._x import _y` and `from warmstart._x._y import name` ->
  `warmstart/_x/_y.py`; `from warmstart import _sources` -> the package's
  `__init__.py`; a name that is not a module means its package's module.
  Imports inside functions count too. A module that does not exist is left
  out (Python would fail on it anyway).
  """
  path = root / src
  tree = ast.parse(path.read_text(), filename=str(path))
  own_package = pathlib.PurePosixPath(src).parent.as_posix().replace('/', '.')
  found = set()

  def add(dotted: Optional[str]) -> None:
    file = _module_path(root, dotted) if dotted else None
    if file:
      found.add(file)

  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.split('.')[0] in _FIRST_PARTY:
          add(alias.name)
    elif isinstance(node, ast.ImportFrom):
      if node.level:  # Relative: from the file's own package upwards.
        parts = own_package.split('.')
        parts = parts[:len(parts) - node.level + 1]
        base = '.'.join(parts + ([node.module] if node.module else []))
      else:
        base = node.module or ''
      if base.split('.')[0] not in _FIRST_PARTY:
        continue
      for alias in node.names:
        submodule = _module_path(root, f'{base}.{alias.name}')
        if alias.name != '*' and submodule:
          found.add(submodule)
        else:
          add(base)
  found.discard(src)
  return found


def _covered_files(root: pathlib.Path) -> list[str]:
  """Files of `_COVERED_GLOBS` that must be in some target's srcs.

  Every `__init__.py` under warmstart/ is a module of its own; one in tests/
  or examples/ would just mark a folder as a package.
  """
  files = set()
  for pattern in _COVERED_GLOBS:
    for path in root.glob(pattern):
      rel = path.relative_to(root).as_posix()
      if not path.is_file() or '__pycache__' in rel:
        continue
      if path.name == '__init__.py' and not rel.startswith('warmstart/'):
        continue
      files.add(rel)
  return sorted(files)


def _sort_key(label: str) -> tuple[int, str, str]:
  """Buildifier's order: `:local` labels, `//` ones by package, then `@`."""
  package, _, name = label.partition(':')
  return ({':': 0, '/': 1}.get(label[0], 2), package, name)


def _build_of(src: str) -> str:
  """The BUILD file that should cover `src`: the one of its folder."""
  return (pathlib.PurePosixPath(src).parent / 'BUILD').as_posix()


def _target_for(root: pathlib.Path, src: str,
                owner: dict[str, str]) -> tuple[str, str, Optional[str]]:
  """(kind, label, explicit srcs or None) of the stanza that covers `src`."""
  if src in owner:
    return '', owner[src], None
  path = pathlib.PurePosixPath(src)
  package = path.parent.as_posix()
  stem = path.stem
  if src.startswith('warmstart/'):
    if path.name == '__init__.py':
      return 'warmstart_library', f'//{package}:{path.parent.name}', None
    if stem.startswith('_') and not stem.startswith('__'):
      return 'warmstart_library', f'//{package}:{stem[1:]}', None
    return 'warmstart_library', f'//{package}:{stem.strip("_")}', path.name
  if src.startswith('tests/'):
    return 'warmstart_test', f'//{package}:{stem}', None
  return 'warmstart_binary', f'//{package}:{stem}', None


def _suggest_stanza(root: pathlib.Path, src: str,
                    owner: dict[str, str]) -> str:
  """Returns where and what to add so that `src` has its target."""
  kind, label, srcs = _target_for(root, src, {})
  package, name = label[2:].split(':', 1)
  build = _build_of(src)
  deps = []
  if kind == 'warmstart_library':
    deps = sorted({
        _relative(_target_for(root, f, owner)[1], package)
        for f in _imported_files(root, src)
        if f.startswith('warmstart/')
    }, key=_sort_key)
  lines = [f'{kind}(', f'    name = "{name}",']
  if kind == 'warmstart_test':
    lines.append('    size = "medium",')
  if srcs:
    lines.append(f'    srcs = ["{srcs}"],')
  if (kind == 'warmstart_library' and name == package.rsplit('/', 1)[-1]
      and package != 'warmstart'):
    lines.append('    visibility = ["//warmstart:__subpackages__"],')
  if len(deps) == 1:
    lines.append(f'    deps = ["{deps[0]}"],')
  elif deps:
    lines.append('    deps = [')
    lines.extend(f'        "{d}",' for d in deps)
    lines.append('    ],')
  lines.append(')')
  if len(lines) == 3:  # Only the name: one line.
    lines = [f'{kind}(name = "{name}")']
  where = f'# In {build} (keep it sorted by name):'
  if not (root / build).is_file():
    where = (f'# {build} does not exist: create it like the other '
             'packages\' (load the macros, package_files() and, under '
             'warmstart/, warmstart_modules() last), list its '
             '"package_files" in the data of //tests:build_coverage_test and '
             'its "modules" in the deps of //warmstart; then add:')
  return where + '\n' + '\n'.join(lines)


def _visibility_hint(needed: str, package: str) -> str:
  """Why Bazel may refuse a dep on another package's module, and the cure."""
  needed_package, name = needed[2:].split(':', 1)
  if (needed_package in (package, 'warmstart') or
      needed_package.rsplit('/', 1)[-1] == name or
      not needed_package.startswith('warmstart/')):
    return ''
  return (f' (a module of another package: Bazel allows it only if that '
          f'module\'s visibility names //{package}:__pkg__; the package\'s '
          f'interface, //{needed_package}, may be the better import)')


class BuildCoverageTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = _repo_root()
    cls.targets = _parse_builds(cls.root)
    cls.owner = {}
    for target in cls.targets.values():
      if target.kind in _PY_RULES:
        for src in target.srcs:
          cls.owner.setdefault(src, target.label)

  def _reachable(self, label: str) -> set[str]:
    """The targets `label` depends on, directly or not."""
    reachable, todo = set(), list(self.targets[label].deps)
    while todo:
      dep = todo.pop()
      if dep not in reachable and dep in self.targets:
        reachable.add(dep)
        todo.extend(self.targets[dep].deps)
    return reachable

  def test_finds_the_repository(self):
    self.assertTrue((self.root / 'BUILD').is_file(),
                    f'no BUILD file in {self.root}')
    self.assertIn(_THIS_TEST, self.targets)
    self.assertIn(_LIBRARY, self.targets)
    # Not an empty check: the files it covers are there (under Bazel too).
    covered = _covered_files(self.root)
    for src in ('warmstart/__init__.py', 'tests/build_coverage_test.py'):
      self.assertIn(src, covered)
    self.assertIn('warmstart/_sources/BUILD',
                  {t.build for t in self.targets.values()})

  def test_every_source_file_has_a_target(self):
    missing = [f for f in _covered_files(self.root) if f not in self.owner]
    if missing:
      stanzas = '\n\n'.join(
          _suggest_stanza(self.root, m, self.owner) for m in missing)
      self.fail(
          f"{len(missing)} file(s) in no BUILD target's srcs: "
          f"{', '.join(missing)}.\nAdd (tools/build_defs.bzl has the "
          f'macros; docs/bazel.md tells more):\n\n{stanzas}')

  def test_every_listed_source_exists(self):
    for target in self.targets.values():
      for src in target.srcs:
        with self.subTest(target=target.label, src=src):
          self.assertTrue(
              (self.root / src).is_file(),
              f'{target.build}: target {target.label} has {src} in its srcs '
              '(for warmstart_library, warmstart_test and warmstart_binary: '
              'derived from its name), which does not exist; remove the '
              'stanza or fix its name')

  def test_no_module_is_in_two_targets(self):
    holders = collections.defaultdict(list)
    for target in self.targets.values():
      if target.kind in _PY_RULES:
        for src in target.srcs:
          holders[src].append(target.label)
    for src, labels in sorted(holders.items()):
      if src.startswith('warmstart/'):
        with self.subTest(src=src):
          self.assertLen(labels, 1,
                         f'{src} is in the srcs of {", ".join(labels)}; keep '
                         'one target per module')

  def test_targets_depend_on_the_modules_they_import(self):
    for target in self.targets.values():
      if target.kind not in _PY_RULES:
        continue
      reachable = self._reachable(target.label)
      for src in target.srcs:
        if not src.endswith('.py') or not (self.root / src).is_file():
          continue
        for module in sorted(_imported_files(self.root, src)):
          needed = self.owner.get(module)
          if needed is None or needed == target.label:
            continue
          with self.subTest(target=target.label, module=module):
            package = target.label[2:].split(':')[0]
            self.assertTrue(
                needed in reachable,
                f'{src} imports {module}, but {target.label} does not depend '
                f'on {needed}; add "{_relative(needed, package)}" to its deps '
                f'in {target.build}{_visibility_hint(needed, package)}')

  def test_the_library_holds_every_module(self):
    reachable = self._reachable(_LIBRARY) | {_LIBRARY}
    for src in _covered_files(self.root):
      needed = self.owner.get(src)
      if not src.startswith('warmstart/') or needed is None:
        continue
      with self.subTest(src=src):
        package = needed[2:].split(':')[0]
        self.assertTrue(
            needed in reachable,
            f'{_LIBRARY}, what tests and examples depend on, does not hold '
            f'{needed} ({src}): in {package}/BUILD, declare it above '
            f'warmstart_modules(), and list "//{package}:modules" in the '
            'deps of //warmstart')

  def test_bazel_reads_every_build_file(self):
    # Under Bazel only the BUILD files in this test's data are there to read.
    data = set(self.targets[_THIS_TEST].data)
    builds = {t.build: t.label[2:].split(':')[0]
              for t in self.targets.values() if t.kind in _PY_RULES}
    for build, package in sorted(builds.items()):
      files = f'//{package}:package_files'
      with self.subTest(build=build):
        self.assertTrue(
            files in data,
            f'{build} declares Python targets, but {_THIS_TEST} does not '
            'read it under Bazel: call package_files() in it and add '
            f'"{files}" to that test\'s data in tests/BUILD')

if __name__ == '__main__':
  absltest.main()
