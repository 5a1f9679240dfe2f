"""Tests of warmstart.flags: define_flags, validators, settings_from_flags."""

from __future__ import annotations

import re
import importlib
import os

import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from absl.testing import parameterized

from tests import test_util
from warmstart import _errors
from warmstart import _settings
from warmstart import _warm_start
from warmstart import flags as ws_flags


def _parse(*argv: str) -> flags.FlagValues:
  flag_values = flags.FlagValues()
  ws_flags.define_flags(flag_values)
  flag_values(['prog'] + list(argv))
  return flag_values


def _source_graph():
  tf.compat.v1.get_variable('dense/kernel', [3, 2])
  tf.compat.v1.get_variable('dense/bias', [2])
  tf.compat.v1.get_variable('logits/kernel', [2, 4])
  tf.compat.v1.train.get_or_create_global_step()


class DefineFlagsTest(tf.test.TestCase):

  def test_importing_defines_nothing(self):
    before = set(flags.FLAGS)
    importlib.reload(ws_flags)  # Runs the module's top level again.
    self.assertEqual(set(flags.FLAGS), before)

  def test_defines_exactly_its_flags_on_a_fresh_flag_values(self):
    flag_values = flags.FlagValues()
    ws_flags.define_flags(flag_values)
    self.assertCountEqual(list(flag_values), ws_flags.FLAG_NAMES)
    flag_values(['prog'])
    self.assertIsNone(flag_values.warm_start_from)
    self.assertEqual(flag_values.warm_start_vars, '.*')
    for name in ws_flags.POLICIES:
      self.assertFalse(flag_values[name].value, name)

  def test_define_again_is_a_no_op(self):
    flag_values = flags.FlagValues()
    ws_flags.define_flags(flag_values)
    ws_flags.define_flags(flag_values)
    self.assertCountEqual(list(flag_values), ws_flags.FLAG_NAMES)

  def test_settings_from_flags_needs_parsed_flags(self):
    flag_values = flags.FlagValues()
    ws_flags.define_flags(flag_values)
    with self.assertRaisesRegex(flags.UnparsedFlagAccessError,
                                'warm_start_from'):
      ws_flags.settings_from_flags(flag_values)

  def test_settings_from_flags_needs_define_flags(self):
    with self.assertRaisesRegex(KeyError, 'call warmstart.flags.define_flags'):
      ws_flags.settings_from_flags(flags.FlagValues())


class SettingsFromFlagsTest(parameterized.TestCase, tf.test.TestCase):

  def test_none_without_warm_start_from(self):
    self.assertIsNone(ws_flags.settings_from_flags(_parse()))

  def test_one_source_defaults_are_tfs(self):
    settings = ws_flags.settings_from_flags(_parse('--warm_start_from=/ckpt'))
    self.assertEqual(settings, (_settings.WarmStartSettings('/ckpt'),))

  def test_repeated_sources_keep_their_order(self):
    settings = ws_flags.settings_from_flags(
        _parse('--warm_start_from=/a', '--warm_start_from=/b',
               '--warm_start_from=/c'))
    self.assertEqual([s.ckpt_to_initialize_from for s in settings],
                     ['/a', '/b', '/c'])

  def test_vars(self):
    (settings,) = ws_flags.settings_from_flags(
        _parse('--warm_start_from=/a', '--warm_start_vars=dense/.*'))
    self.assertEqual(settings.vars_to_warm_start, 'dense/.*')
    self.assertIsNone(settings.assignment_map)

  @parameterized.named_parameters(
      ('skip_missing', 'warm_start_skip_missing', 'skip_missing'),
      ('skip_mismatched', 'warm_start_skip_mismatched', 'skip_mismatched'),
      ('allow_unmatched', 'warm_start_allow_unmatched', 'allow_unmatched'),
      ('include_slots', 'warm_start_include_slots', 'include_slots'),
      ('include_global_step', 'warm_start_include_global_step',
       'include_global_step'),
  )
  def test_policy(self, flag, field):
    settings = ws_flags.settings_from_flags(
        _parse('--warm_start_from=/a', '--warm_start_from=/b', '--' + flag))
    for s in settings:  # Every source gets it; the others stay False.
      self.assertTrue(getattr(s, field))
      for other in ws_flags.POLICIES.values():
        if other != field:
          self.assertFalse(getattr(s, other), other)

  def test_map_with_one_source_needs_no_index(self):
    (settings,) = ws_flags.settings_from_flags(
        _parse('--warm_start_from=/a', '--warm_start_map=enc/=student/enc/',
               '--warm_start_map=0:logits/w=head/w'))
    self.assertEqual(settings.assignment_map,
                     {'enc/': 'student/enc/', 'logits/w': 'head/w'})

  def test_maps_go_to_their_source_by_index(self):
    settings = ws_flags.settings_from_flags(
        _parse('--warm_start_from=/a', '--warm_start_from=/b',
               '--warm_start_from=/c', '--warm_start_map=1:enc/=student/enc/',
               '--warm_start_map= 2 : / = teacher/ ',
               '--warm_start_map=1:w=v'))
    self.assertIsNone(settings[0].assignment_map)
    self.assertEqual(settings[0].vars_to_warm_start, '.*')
    self.assertEqual(settings[1].assignment_map,
                     {'enc/': 'student/enc/', 'w': 'v'})
    self.assertEqual(settings[2].assignment_map, {'/': 'teacher/'})

  def test_exclude_builds_a_negative_lookahead(self):
    (settings,) = ws_flags.settings_from_flags(
        _parse('--warm_start_from=/a', '--warm_start_vars=dense/.*',
               '--warm_start_exclude=dense/bias$',
               '--warm_start_exclude=.*/Adam'))
    # Names are matched with ':0' (TF's rule); an exclusion's end anchor
    # also matches before it.
    self.assertEqual(settings.vars_to_warm_start,
                     '(?!(?:dense/bias(?=(?::0)?$))|(?:.*/Adam))(?:dense/.*)')
    pattern = re.compile(settings.vars_to_warm_start)
    self.assertIsNone(pattern.match('dense/bias:0'))
    self.assertIsNone(pattern.match('dense/kernel/Adam:0'))
    self.assertIsNotNone(pattern.match('dense/kernel:0'))
    self.assertIsNotNone(pattern.match('dense/bias_2:0'))

  def test_exclude_applies_to_every_source(self):
    settings = ws_flags.settings_from_flags(
        _parse('--warm_start_from=/a', '--warm_start_from=/b',
               '--warm_start_map=1:x=y', '--warm_start_exclude=dense/'))
    self.assertEqual(settings[0].vars_to_warm_start, '(?!(?:dense/))(?:.*)')
    self.assertEqual(settings[1].assignment_map, {'x': 'y'})
    # With a map, the regex narrows what the map selects.
    self.assertEqual(settings[1].vars_to_warm_start, '(?!(?:dense/))(?:.*)')

  def test_global_flags_with_flagsaver(self):
    ws_flags.define_flags()  # On flags.FLAGS, as a training binary does.
    with flagsaver.as_parsed(warm_start_from=['/ckpt'],
                             warm_start_vars='dense/'):
      (settings,) = ws_flags.settings_from_flags()
      self.assertEqual(settings.vars_to_warm_start, 'dense/')
    self.assertIsNone(ws_flags.settings_from_flags())

  def test_defaults_set_after_parsing_are_validated(self):
    flag_values = _parse()
    saved = flagsaver.save_flag_values(flag_values)
    try:
      flag_values.set_default('warm_start_from', ['/made/by/me'])
      flag_values.set_default('warm_start_map', ['a/=b/'])
      (settings,) = ws_flags.settings_from_flags(flag_values)
      self.assertEqual(settings.ckpt_to_initialize_from, '/made/by/me')
      self.assertEqual(settings.assignment_map, {'a/': 'b/'})
      with self.assertRaisesRegex(flags.IllegalFlagValueError, 'no "="'):
        flag_values.warm_start_map = ['nope']
    finally:
      flagsaver.restore_flag_values(saved, flag_values)
    self.assertIsNone(ws_flags.settings_from_flags(flag_values))


class ValidatorTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ('bad_vars_regex', ['--warm_start_from=/a', '--warm_start_vars=dense/['],
       r"--warm_start_vars.*'dense/\[' is not a valid regex"),
      ('empty_vars_regex', ['--warm_start_from=/a', '--warm_start_vars='],
       r'--warm_start_vars.*An empty regex for the variables to warm-start'),
      ('empty_exclude_regex',
       ['--warm_start_from=/a', '--warm_start_exclude='],
       r'--warm_start_exclude.*An empty regex for the variables not to '
       r'warm-start matches every name'),
      ('bad_exclude_regex',
       ['--warm_start_from=/a', '--warm_start_exclude=(bias'],
       r"'\(bias' is not a valid regex for the variables not to warm-start"),
      ('map_without_equals', ['--warm_start_from=/a', '--warm_start_map=enc/'],
       r"Map entry 'enc/' has no \"=\": write \[SOURCE_INDEX:\]"),
      ('map_with_two_equals',
       ['--warm_start_from=/a', '--warm_start_map=a=b=c'],
       r"'a=b=c' has more than one"),
      ('map_empty_side', ['--warm_start_from=/a', '--warm_start_map==x/'],
       r"'=x/' has an empty left side"),
      ('map_bad_index', ['--warm_start_from=/a', '--warm_start_map=one:a=b'],
       r"'one:a=b': 'one:a' is no checkpoint name .* must be a number"),
      ('map_without_source', ['--warm_start_map=enc/=student/'],
       r'--warm_start_map=enc/=student/ needs --warm_start_from'),
      ('index_out_of_range',
       ['--warm_start_from=/a', '--warm_start_from=/b',
        '--warm_start_map=2:a=b'],
       r"'2:a=b' reads source 2, but the sources are 0 to 1"),
      ('index_out_of_range_one_source',
       ['--warm_start_from=/a', '--warm_start_map=1:a=b'],
       r"reads source 1, but the only source is 0"),
      ('index_needed',
       ['--warm_start_from=/a', '--warm_start_from=/b', '--warm_start_map=a=b'],
       r"'a=b' does not say which of the 2 sources .* \"0:a=b\" or \"1:a=b\""),
      ('mapped_twice',
       ['--warm_start_from=/a', '--warm_start_map=a=b',
        '--warm_start_map=0:a=c'],
       r"'0:a=c' maps 'a' of source 0 again"),
      ('empty_source', ['--warm_start_from='],
       r'non-empty path'),
      ('vars_without_source', ['--warm_start_vars=dense/'],
       r'--warm_start_vars=dense/ has no effect without --warm_start_from'),
      ('exclude_without_source', ['--warm_start_exclude=dense/'],
       r'--warm_start_exclude=dense/ has no effect without'),
      ('policy_without_source', ['--warm_start_skip_missing'],
       r'--warm_start_skip_missing has no effect without --warm_start_from'),
  )
  def test_rejected_when_parsed(self, argv, message):
    with self.assertRaisesRegex(flags.IllegalFlagValueError, message):
      _parse(*argv)

  def test_settings_from_strings_raises_settings_error(self):
    with self.assertRaisesRegex(_errors.SettingsError, 'has no "="'):
      ws_flags.settings_from_strings(['/a'], ['nope'])
    with self.assertRaisesRegex(_errors.SettingsError, 'No warm-start source'):
      ws_flags.settings_from_strings([])


class WarmStartThroughFlagsTest(tf.test.TestCase):
  """The flags' settings drive a real warm start."""

  def setUp(self):
    super().setUp()
    self.prefix, self.values = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'source'), _source_graph)

  def _target(self, scope=''):
    with tf.compat.v1.variable_scope(scope or tf.compat.v1.get_variable_scope()):
      initial = tf.compat.v1.constant_initializer(7.0)
      tf.compat.v1.get_variable('dense/kernel', [3, 2], initializer=initial)
      tf.compat.v1.get_variable('dense/bias', [2], initializer=initial)
      tf.compat.v1.get_variable('logits/kernel', [2, 4], initializer=initial)
    tf.compat.v1.train.get_or_create_global_step()

  def test_exclude_keeps_excluded_variables_and_global_step(self):
    settings = ws_flags.settings_from_flags(
        _parse('--warm_start_from=' + self.prefix,
               '--warm_start_exclude=dense/bias$',
               '--warm_start_exclude=logits/'))
    with tf.Graph().as_default() as graph:
      self._target()
      plan = _warm_start.apply_settings(settings)
      got = test_util.initialize(graph)
    self.assertEqual([e.variable for e in plan.restored], ['dense/kernel'])
    self.assertAllClose(got['dense/kernel'], self.values['dense/kernel'])
    self.assertAllClose(got['dense/bias'], [7.0, 7.0])
    self.assertAllClose(got['logits/kernel'], 7.0 * tf.ones([2, 4]))
    self.assertEqual(got['global_step'], 0)

  def test_scope_map_and_include_global_step(self):
    settings = ws_flags.settings_from_flags(
        _parse('--warm_start_from=' + self.prefix,
               '--warm_start_map=dense/=student/dense/',
               '--warm_start_map=global_step=global_step',
               '--warm_start_include_global_step'))
    with tf.Graph().as_default() as graph:
      self._target('student')
      _warm_start.apply_settings(settings)
      got = test_util.initialize(graph)
    self.assertAllClose(got['student/dense/kernel'],
                        self.values['dense/kernel'])
    self.assertAllClose(got['student/dense/bias'], self.values['dense/bias'])
    self.assertAllClose(got['student/logits/kernel'], 7.0 * tf.ones([2, 4]))
    self.assertEqual(got['global_step'], self.values['global_step'])

  def test_two_sources(self):
    other, other_values = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'other'), _source_graph, seed=5)
    settings = ws_flags.settings_from_flags(
        _parse('--warm_start_from=' + self.prefix,
               '--warm_start_from=' + other,
               '--warm_start_map=0:dense/=dense/',
               '--warm_start_map=1:logits/=logits/'))
    with tf.Graph().as_default() as graph:
      self._target()
      plan = _warm_start.apply_settings(settings)
      got = test_util.initialize(graph)
    self.assertEqual(plan.sources, (self.prefix, other))
    self.assertAllClose(got['dense/kernel'], self.values['dense/kernel'])
    self.assertAllClose(got['logits/kernel'], other_values['logits/kernel'])
    self.assertNotAllClose(got['logits/kernel'], self.values['logits/kernel'])

  def test_skip_mismatched_flag_reaches_the_plan(self):
    argv = ['--warm_start_from=' + self.prefix, '--warm_start_vars=dense/']
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('dense/kernel', [5, 2])  # Grown.
      tf.compat.v1.get_variable('dense/bias', [2])
      with self.assertRaisesRegex(_errors.MismatchError, "'dense/kernel'"):
        _warm_start.make_settings_plan(
            ws_flags.settings_from_flags(_parse(*argv)))
      plan = _warm_start.make_settings_plan(ws_flags.settings_from_flags(
          _parse(*argv, '--warm_start_skip_mismatched')))
    self.assertEqual([e.variable for e in plan.skipped], ['dense/kernel'])
    self.assertEqual([e.variable for e in plan.restored], ['dense/bias'])


if __name__ == '__main__':
  tf.test.main()
