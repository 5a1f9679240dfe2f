"""Tests of warmstart._options: strict defaults and validation."""

from __future__ import annotations

import dataclasses

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from warmstart import _options

_BOOL_FIELDS = ('skip_missing', 'skip_mismatched', 'allow_unmatched')


class OptionsTest(parameterized.TestCase):

  def test_defaults_are_strict(self):
    options = warmstart.Options()
    self.assertIs(options.skip_missing, False)
    self.assertIs(options.skip_mismatched, False)
    self.assertIs(options.allow_unmatched, False)
    self.assertEqual(64 * 1024 * 1024, options.max_chunk_bytes)
    self.assertEqual(_options.DEFAULT_CHUNK_BYTES, options.max_chunk_bytes)
    self.assertIs(warmstart.Options, _options.Options)

  def test_frozen(self):
    options = warmstart.Options()
    with self.assertRaises(dataclasses.FrozenInstanceError):
      options.skip_missing = True  # pytype: disable=not-writable

  def test_valid_values(self):
    options = warmstart.Options(skip_missing=True, skip_mismatched=True,
                                allow_unmatched=True, max_chunk_bytes=1)
    self.assertTrue(options.skip_missing)
    self.assertTrue(options.skip_mismatched)
    self.assertTrue(options.allow_unmatched)
    self.assertEqual(1, options.max_chunk_bytes)
    self.assertEqual(options, warmstart.Options(True, True, True, 1))

  @parameterized.product(
      field=_BOOL_FIELDS, value=[1, 0, 'yes', None, np.bool_(True)])
  def test_non_bool(self, field, value):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        'Option %s must be True or False, got %s' % (field, repr(value))):
      warmstart.Options(**{field: value})

  @parameterized.named_parameters(('numpy_int64', np.int64(4096)),
                                  ('numpy_int32', np.int32(4096)))
  def test_numpy_int_chunk_bytes_stored_as_int(self, value):
    options = warmstart.Options(max_chunk_bytes=value)
    self.assertEqual(4096, options.max_chunk_bytes)
    self.assertIs(type(options.max_chunk_bytes), int)
    self.assertEqual(warmstart.Options(max_chunk_bytes=4096), options)

  @parameterized.named_parameters(
      ('zero', 0), ('negative', -5), ('bool', True), ('float', 1024.0),
      ('string', '64M'), ('none', None), ('numpy_zero', np.int64(0)),
      ('numpy_bool', np.bool_(True)), ('numpy_float', np.float32(1024)))
  def test_bad_chunk_bytes(self, value):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        'Option max_chunk_bytes must be a positive int.*got %s' %
        repr(value)):
      warmstart.Options(max_chunk_bytes=value)

  def test_errors_are_value_errors(self):
    with self.assertRaisesRegex(ValueError, 'skip_missing'):
      warmstart.Options(skip_missing='no')


class MakeTest(absltest.TestCase):

  def test_defaults(self):
    self.assertEqual(warmstart.Options(), _options.make())
    self.assertEqual(warmstart.Options(), _options.make(None))

  def test_options_object_is_kept(self):
    options = warmstart.Options(skip_missing=True, max_chunk_bytes=10)
    self.assertEqual(options, _options.make(options))

  def test_overrides(self):
    self.assertEqual(warmstart.Options(skip_mismatched=True),
                     _options.make(skip_mismatched=True))
    base = warmstart.Options(skip_missing=True, max_chunk_bytes=10)
    made = _options.make(base, allow_unmatched=True, max_chunk_bytes=20)
    self.assertEqual(
        warmstart.Options(skip_missing=True, allow_unmatched=True,
                          max_chunk_bytes=20), made)
    # The base object is unchanged.
    self.assertEqual(10, base.max_chunk_bytes)
    self.assertFalse(base.allow_unmatched)

  def test_override_is_validated(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'skip_missing must be True or False'):
      _options.make(warmstart.Options(), skip_missing=1)
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'max_chunk_bytes.*got -1'):
      _options.make(max_chunk_bytes=-1)

  def test_unknown_option(self):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"Unknown option\(s\) skip_mising\. Did you mean: 'skip_missing'.*"
        'Valid options: allow_unmatched, include_global_step, include_slots, '
        'max_chunk_bytes, skip_mismatched, skip_missing'):
      _options.make(skip_mising=True)

  def test_unknown_options_are_all_named(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                r'Unknown option\(s\) bar, foo\.'):
      _options.make(foo=1, bar=2, skip_missing=True)

  def test_options_of_wrong_type(self):
    for value in ({'skip_missing': True}, True, 'strict'):
      with self.assertRaisesRegex(
          warmstart.SettingsError,
          'options must be a warmstart.Options, got %s' % repr(value)):
        _options.make(value)


if __name__ == '__main__':
  tf.test.main()
