"""Tests of the public API of warmstart: what `import warmstart` offers.

The list below is pinned on purpose: adding a public name is an API decision,
made by editing it here too.
"""

from __future__ import annotations

import __future__
import importlib
import inspect
import types

from absl.testing import absltest
import tensorflow as tf

import warmstart

_FLAGS_PUBLIC = [
    'DEFAULT_VARS',
    'EXCLUDE',
    'FLAG_NAMES',
    'FROM',
    'MAP',
    'MAP_FILE',
    'MAP_SYNTAX',
    'MapEntry',
    'OPTION_FLAGS',
    'POLICIES',
    'VARS',
    'define_flags',
    'maps_by_source',
    'parse_map_entry',
    'settings_from_flags',
    'settings_from_strings',
    'vars_regex',
]

_PUBLIC = [
    'CUSTOM_RESTORES',
    'CheckpointNotFoundError',
    'ConflictError',
    'CustomVariable',
    'Entry',
    'Error',
    'MismatchError',
    'Options',
    'OutOfSpaceError',
    'Plan',
    'SCAFFOLD_INIT_COLLECTION',
    'SettingsError',
    'SourceFormatError',
    'TensorNotFoundError',
    'Transform',
    'UnmatchedRuleError',
    'VariableNotFoundError',
    'VocabInfo',
    'WarmStartHook',
    'WarmStartScope',
    'WarmStartSettings',
    'apply_plan',
    'apply_settings',
    'concat',
    'flags',
    'init_from_checkpoint',
    'make_plan',
    'make_settings_plan',
    'merge_checkpoints',
    'read_plan',
    'register_custom_variable',
    'reshape',
    'split',
    'take',
    'transpose',
    'warm_start',
    'warm_start_scope',
    'wrap_estimator',
    'wrap_model_fn',
    'write_plan',
]


class ApiTest(absltest.TestCase):

  def test_all_is_pinned_and_sorted(self):
    self.assertEqual(_PUBLIC, list(warmstart.__all__))
    self.assertEqual(sorted(warmstart.__all__), list(warmstart.__all__))
    self.assertLen(set(warmstart.__all__), len(warmstart.__all__))

  def test_every_public_name_is_importable(self):
    namespace = {}
    exec('from warmstart import *', namespace)  # pylint: disable=exec-used
    for name in _PUBLIC:
      self.assertIn(name, namespace)
      self.assertIs(getattr(warmstart, name), namespace[name])
      value = getattr(warmstart, name)
      if isinstance(value, str):  # A constant: a graph collection key.
        self.assertTrue(name.isupper(), name)
        continue
      # Defined in the package (not re-exported from TF or absl).
      if inspect.ismodule(value):
        self.assertEqual('warmstart.' + name, value.__name__)
      else:
        self.assertStartsWith(value.__module__, 'warmstart.')
      self.assertTrue(value.__doc__, '%s has no docstring' % name)

  def test_nothing_private_leaks(self):
    allowed = set(_PUBLIC) | {'__version__'}
    for name in dir(warmstart):
      if name.startswith('__') and name.endswith('__'):
        continue
      if name in allowed:
        continue
      value = getattr(warmstart, name)
      if value is __future__.annotations:
        continue  # Bound by `from __future__ import annotations`; no API.
      # Only the package's own private submodules may appear (Python binds a
      # submodule as an attribute of its package once it is imported).
      self.assertTrue(name.startswith('_'),
                      'Public name %r is not in warmstart.__all__.' % name)
      self.assertIsInstance(value, types.ModuleType,
                            'Private name %r leaks into warmstart.' % name)
      self.assertEqual('warmstart.' + name, value.__name__)

  def test_private_modules_are_private(self):
    for name in dir(warmstart):
      value = getattr(warmstart, name)
      if isinstance(value, types.ModuleType) and name not in _PUBLIC:
        self.assertStartsWith(name, '_')
        self.assertIs(value, importlib.import_module('warmstart.' + name))

  def test_flags_all_is_pinned_and_sorted(self):
    ws_flags = warmstart.flags
    self.assertEqual(_FLAGS_PUBLIC, ws_flags.__all__)
    namespace = {}
    exec('from warmstart.flags import *', namespace)  # pylint: disable=exec-used
    for name in _FLAGS_PUBLIC:
      self.assertIs(getattr(ws_flags, name), namespace[name])
    for name in dir(ws_flags):
      if not name.startswith('_') and name not in _FLAGS_PUBLIC:
        value = getattr(ws_flags, name)
        # Only imported modules and typing helpers may be public otherwise.
        self.assertTrue(
            inspect.ismodule(value) or name in ('annotations', 'Optional'),
            'warmstart.flags.%s is public but not in its __all__.' % name)

  def test_version(self):
    self.assertRegex(warmstart.__version__, r'^\d+\.\d+\.\d+')

  def test_errors_are_value_errors(self):
    # But a full disk, which is an OSError (ENOSPC, EDQUOT) as Python's own.
    self.assertTrue(issubclass(warmstart.OutOfSpaceError, OSError))
    for name in _PUBLIC:
      value = getattr(warmstart, name)
      if inspect.isclass(value) and issubclass(value, warmstart.Error):
        if value not in (warmstart.Error, warmstart.OutOfSpaceError):
          self.assertTrue(issubclass(value, ValueError), name)


if __name__ == '__main__':
  tf.test.main()
