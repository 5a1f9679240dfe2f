"""Macros of warmstart's BUILD files: a short stanza per module, test, example.

A target is named after its file, and its srcs are derived from the name:

    warmstart_library(name = "plan")       srcs = ["_plan.py"]
    warmstart_library(name = "_sources")   srcs = ["__init__.py"]: a
        package's own module is named after the package, so that
        `//warmstart/_sources` (short for `//warmstart/_sources:_sources`)
        means the package's interface, and `//warmstart` the whole library.
    warmstart_test(name = "plan_test")     srcs = main = "plan_test.py"
    warmstart_binary(name = "transfer_learning")
                                           srcs = main = "transfer_learning.py"

Modules whose file does not follow the `_x.py` pattern (`flags.py`,
`__main__.py`) name their srcs. Everything is Python 3 (the toolchain is the
project's .venv: tools/python/). See docs/bazel.md.

tests/build_coverage_test.py reads the BUILD files and derives srcs and
implicit deps exactly as these macros do: change both together.
"""

# What every test and every example depends on, besides its own deps.
_LIBRARY = "//warmstart"
_TEST_UTILS = "//tests:test_utils"

def _module_srcs(name):
    """`plan` -> `_plan.py`; the package's own name -> `__init__.py`."""
    if name == native.package_name().split("/")[-1]:
        return ["__init__.py"]
    return ["_%s.py" % name]

def _with(deps, implicit):
    return implicit + [d for d in deps if d not in implicit]

def warmstart_library(name, srcs = None, deps = [], **kwargs):
    """A module of the warmstart package (py_library).

    Args:
      name: the module's name without its leading underscore (`_plan.py` ->
        "plan"), or the package's own name for its `__init__.py`.
      srcs: only for a file that does not follow the naming (`flags.py`).
      deps: the targets of the warmstart modules the file imports: a module
        of the same package (":checks"), a module of the top package
        ("//warmstart:errors"), another package's interface
        ("//warmstart/_sources").
      **kwargs: any other py_library attribute (visibility, data, ...).
    """
    native.py_library(
        name = name,
        srcs = srcs if srcs != None else _module_srcs(name),
        srcs_version = "PY3",
        deps = deps,
        **kwargs
    )

def warmstart_modules(name = "modules", visibility = ["//warmstart:__pkg__"]):
    """Every py_library declared above it in this BUILD file, as one target.

    Call it after the package's modules. //warmstart (the whole library)
    depends on each package's `modules`, so that a new module needs one
    stanza only.

    Args:
      name: the target's name.
      visibility: who may depend on it: the top package, by default.
    """
    native.py_library(
        name = name,
        deps = sorted([
            ":" + rule["name"]
            for rule in native.existing_rules().values()
            if rule["kind"] == "py_library" and rule["name"] != name
        ]),
        visibility = visibility,
    )

def warmstart_test(
        name,
        deps = [],
        size = "medium",
        **kwargs):
    """A test file of tests/ (py_test), which also runs under pytest.

    Depends on the whole library and on the test helpers (tests/*.py that are
    not tests) in any case.

    Args:
      name: the file's name without `.py` ("plan_test").
      deps: further deps, if any.
      size: Bazel's size (its timeout): "small", "medium" (default), "large"
        or "enormous".
      **kwargs: any other py_test attribute, kept as given: tags (e.g.
        "ci_pytest_only", which CI's Bazel run leaves to pytest), data,
        timeout, shard_count, env, args, flaky, local...
    """
    native.py_test(
        name = name,
        size = size,
        srcs = [name + ".py"],
        main = name + ".py",
        python_version = "PY3",
        srcs_version = "PY3",
        deps = _with(deps, [_TEST_UTILS, _LIBRARY]),
        **kwargs
    )

def warmstart_binary(name, deps = [], **kwargs):
    """A program (py_binary) that uses the library, e.g. an example.

    Args:
      name: the file's name without `.py`.
      deps: further deps, besides //warmstart.
      **kwargs: any other py_binary attribute (data, args, visibility...).
    """
    native.py_binary(
        name = name,
        srcs = [name + ".py"],
        main = name + ".py",
        python_version = "PY3",
        srcs_version = "PY3",
        deps = _with(deps, [_LIBRARY]),
        **kwargs
    )

def package_files(name = "package_files", include = ["**/*.py"]):
    """This package's BUILD file and Python files, for the BUILD check.

    tests/build_coverage_test.py lists every package's `package_files` in its
    data, so that under Bazel it reads the same files as under pytest.

    Args:
      name: the target's name.
      include: glob patterns of the files beside BUILD.
    """
    native.filegroup(
        name = name,
        srcs = ["BUILD"] + native.glob(include),
        visibility = ["//tests:__pkg__"],
    )
