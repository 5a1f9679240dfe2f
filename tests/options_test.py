"""Tests of warmstart._options: strict defaults and validation."""

from __future__ import annotations

import dataclasses
import re

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from absl import flags
from tests import test_util
from warmstart import _cli
from warmstart import _options
from warmstart import flags as ws_flags

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
        re.escape(repr(value))):
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
        'Valid options: %s' % ', '.join(sorted(_options.NAMES))):
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



def _other_value(declaration: _options.Declaration):
  """A valid value of the option other than its default."""
  if declaration.kind == _options.BOOL:
    return not declaration.default
  if declaration.kind == _options.CHOICE:
    return [c for c in declaration.choices if c != declaration.default][0]
  if declaration.kind == _options.PATH:
    return '/tmp/warmstart-cache'
  return 12345


class DeclarationTest(parameterized.TestCase):
  """Each option is declared once and reachable from every entry point."""

  def test_declarations_are_the_fields(self):
    self.assertEqual(
        [f.name for f in dataclasses.fields(warmstart.Options)],
        list(_options.NAMES))
    for declaration in _options.DECLARATIONS:
      self.assertEqual(declaration.default,
                       getattr(warmstart.Options(), declaration.name))
      self.assertTrue(declaration.help.endswith('.'), declaration.name)
      self.assertEqual('warm_start_' + declaration.name, declaration.flag)

  @parameterized.named_parameters(
      (d.name, d) for d in _options.DECLARATIONS)
  def test_settings_field(self, declaration):
    value = _other_value(declaration)
    settings = warmstart.WarmStartSettings('/c', **{declaration.name: value})
    self.assertEqual(value, getattr(settings, declaration.name))
    self.assertEqual(value, getattr(settings.options, declaration.name))
    self.assertEqual(declaration.default,
                     getattr(warmstart.WarmStartSettings('/c'),
                             declaration.name))
    # Keyword-only, and in the signature (help(), IDEs).
    import inspect  # pylint: disable=g-import-not-at-top
    parameter = inspect.signature(
        warmstart.WarmStartSettings).parameters[declaration.name]
    self.assertEqual(inspect.Parameter.KEYWORD_ONLY, parameter.kind)
    self.assertEqual(declaration.default, parameter.default)

  @parameterized.named_parameters(
      (d.name, d) for d in _options.DECLARATIONS)
  def test_flag(self, declaration):
    flag_values = flags.FlagValues()
    ws_flags.define_flags(flag_values)
    value = _other_value(declaration)
    argv = ['prog', '--warm_start_from=/a', '--warm_start_from=/b']
    argv.append('--%s' % declaration.flag if value is True else
                '--no%s' % declaration.flag if value is False else
                '--%s=%s' % (declaration.flag, value))
    flag_values(argv)
    settings = ws_flags.settings_from_flags(flag_values)
    self.assertLen(settings, 2)
    for s in settings:
      self.assertEqual(value, getattr(s, declaration.name))

  @parameterized.named_parameters(
      (d.name, d) for d in _options.DECLARATIONS)
  def test_plan_command(self, declaration):
    value = _other_value(declaration)
    for spelling in (declaration.name, declaration.flag):
      argv = ['plan', '--from', '/a', '--target', '/t']
      argv += (['--' + spelling] if value is True else
               ['--' + spelling, str(value)])
      args = _cli._parser().parse_args(argv)  # pylint: disable=protected-access
      given = _cli._given_options(args, _options.DECLARATIONS)  # pylint: disable=protected-access
      self.assertEqual(value, given[declaration.name], spelling)
      # Options resolve a deprecated alias (include_slots=True is
      # optimizer_state='matching'): compare them resolved.
      self.assertEqual(
          _options.as_dict(warmstart.Options(**{declaration.name: value})),
          _options.as_dict(warmstart.Options(**given)))

  @parameterized.named_parameters(
      (d.name, d) for d in _options.DECLARATIONS)
  def test_keyword_of_every_function(self, declaration):
    value = _other_value(declaration)
    def build():
      tf.compat.v1.get_variable('w', [2])
      tf.compat.v1.train.get_or_create_global_step()

    prefix, _ = test_util.save_checkpoint(self.create_tempdir().full_path,
                                          build)
    kwargs = {declaration.name: value}
    for call in (
        lambda: warmstart.make_plan(prefix, {'/': '/'}, **kwargs),
        lambda: warmstart.init_from_checkpoint(prefix, {'/': '/'}, **kwargs),
        lambda: warmstart.warm_start(prefix, **kwargs),
        lambda: warmstart.WarmStartHook(prefix, **kwargs)):
      with tf.Graph().as_default():
        build()
        call()

  def test_bad_value_is_named_at_every_entry_point(self):
    for call in (
        lambda: warmstart.make_plan('/c', {'/': '/'}, max_chunk_bytes=0),
        lambda: warmstart.warm_start('/c', max_chunk_bytes=0),
        lambda: warmstart.WarmStartSettings('/c', max_chunk_bytes=0),
        lambda: warmstart.WarmStartHook('/c', max_chunk_bytes=0)):
      with self.assertRaisesRegex(warmstart.SettingsError,
                                  'max_chunk_bytes must be a positive int'):
        call()

  def test_unknown_option_is_named_at_every_entry_point(self):
    for call in (
        lambda: warmstart.make_plan('/c', {'/': '/'}, skip_mising=True),
        lambda: warmstart.warm_start('/c', skip_mising=True),
        lambda: warmstart.WarmStartSettings('/c', skip_mising=True),
        lambda: warmstart.WarmStartHook('/c', skip_mising=True)):
      with self.assertRaisesRegex(
          warmstart.SettingsError,
          "nknown option.*skip_mising.*Did you mean: 'skip_missing'"):
        call()

  def test_readme_table_lists_every_option(self):
    table = _options.markdown_table()
    lines = table.splitlines()
    # Deprecated aliases (include_slots, include_global_step) keep working
    # but leave the table.
    listed = [d for d in _options.DECLARATIONS if not d.deprecated]
    self.assertLen(lines, 2 + len(listed))
    self.assertNotIn('include_slots', table)
    for declaration, line in zip(listed, lines[2:]):
      self.assertIn('`%s`' % declaration.name, line)
      self.assertIn(declaration.help, line)


class OptionEffectTest(tf.test.TestCase):
  """The options that select more, and the chunk bound, through each door."""

  def _save_trained(self):
    """A checkpoint of w, b, their Adam slots, beta powers and the step.

    Two training steps make every slot and the step non-zero, so that a
    restore is told from a cold start.
    """

    def build():
      w = tf.compat.v1.get_variable('w', [3, 2])
      b = tf.compat.v1.get_variable('b', [2])
      step = tf.compat.v1.train.get_or_create_global_step()
      return tf.compat.v1.train.AdamOptimizer(0.1).minimize(
          tf.reduce_sum(w * w) + tf.reduce_sum(b), global_step=step)

    prefix, values = test_util.save_checkpoint(
        self.create_tempdir().full_path, build, steps=2)
    self.assertEqual(2, values['global_step'])
    self.assertNotAllClose(np.zeros([3, 2]), values['w/Adam'])
    return prefix, values

  def _target(self, scope=''):
    with tf.compat.v1.variable_scope(scope or tf.compat.v1.get_variable_scope()):
      w = tf.compat.v1.get_variable('w', [3, 2])
      b = tf.compat.v1.get_variable('b', [2])
    step = tf.compat.v1.train.get_or_create_global_step()
    tf.compat.v1.train.AdamOptimizer(0.1).minimize(
        tf.reduce_sum(w) + tf.reduce_sum(b), global_step=step)

  def test_init_from_checkpoint_include_slots_adds_renamed_slots(self):
    prefix, ckpt = self._save_trained()
    with tf.Graph().as_default() as g:
      self._target('new')
      plain = warmstart.make_plan(prefix, {'w': 'new/w'})
      self.assertEqual(['new/w'], [e.variable for e in plain])
      plan = warmstart.init_from_checkpoint(prefix, {'w': 'new/w'},
                                            include_slots=True)
      got = test_util.initialize(g)
    self.assertCountEqual(
        ['new/w', 'new/w/Adam', 'new/w/Adam_1', 'beta1_power', 'beta2_power'],
        [e.variable for e in plan])
    self.assertEqual('w/Adam', plan.entry('new/w/Adam').tensor)
    for variable, tensor in (('new/w', 'w'), ('new/w/Adam', 'w/Adam'),
                             ('new/w/Adam_1', 'w/Adam_1'),
                             ('beta1_power', 'beta1_power')):
      self.assertAllClose(ckpt[tensor], got[variable], msg=variable)
    # Not selected: b's slots and the step keep their initial values.
    self.assertAllClose(np.zeros([2]), got['new/b/Adam'])
    self.assertEqual(0, got['global_step'])

  def test_init_from_checkpoint_include_global_step(self):
    prefix, ckpt = self._save_trained()
    with tf.Graph().as_default() as g:
      self._target()
      plain = warmstart.make_plan(prefix, {'/': '/'})
      self.assertNotIn('global_step', [e.variable for e in plain])
      plan = warmstart.init_from_checkpoint(prefix, {'/': '/'},
                                            include_global_step=True)
      got = test_util.initialize(g)
    self.assertIn('global_step', [e.variable for e in plan])
    self.assertEqual(ckpt['global_step'], got['global_step'])
    self.assertNotEqual(0, got['global_step'])

  def test_max_chunk_bytes_through_settings(self):
    prefix, ckpt = self._save_trained()

    def restores(max_chunk_bytes):
      with tf.Graph().as_default() as g:
        self._target()
        warmstart.apply_settings(warmstart.WarmStartSettings(
            prefix, max_chunk_bytes=max_chunk_bytes))
        got = test_util.initialize(g)
        ops = [op for op in g.get_operations() if op.type == 'RestoreV2']
      self.assertAllClose(ckpt['w'], got['w'])
      self.assertAllClose(ckpt['b'], got['b'])
      return len(ops)

    self.assertEqual(1, restores(warmstart.Options().max_chunk_bytes))
    # w (24 bytes) and b (8 bytes) in a read each.
    self.assertEqual(2, restores(8))


if __name__ == '__main__':
  tf.test.main()
