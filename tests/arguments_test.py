"""Arguments of the wrong type or name are refused, naming the argument.

Every public entry point and constructor, called as a user mistyping it
would: a keyword option with a typo gets "Did you mean", an argument of the
wrong type an error naming the argument, what it must be and what it got,
before anything is built.
"""

from __future__ import annotations

import os

from absl.testing import parameterized
import tensorflow as tf

import warmstart
from tests import test_util

_SOURCE = '/nowhere/model.ckpt'


class MistypedOptionsTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ('Options', lambda: warmstart.Options(skip_mising=True)),
      ('WarmStartSettings',
       lambda: warmstart.WarmStartSettings(_SOURCE, skip_mising=True)),
      ('init_from_checkpoint',
       lambda: warmstart.init_from_checkpoint(_SOURCE, {'/': '/'},
                                              skip_mising=True)),
      ('make_plan',
       lambda: warmstart.make_plan(_SOURCE, {'/': '/'}, skip_mising=True)),
      ('warm_start', lambda: warmstart.warm_start(_SOURCE, skip_mising=True)),
      ('warm_start_scope',
       lambda: warmstart.warm_start_scope(_SOURCE, skip_mising=True)),
      ('WarmStartHook',
       lambda: warmstart.WarmStartHook(_SOURCE, skip_mising=True)),
  )
  def test_did_you_mean(self, call):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"skip_mising\. Did you mean: 'skip_missing'.* Valid options: "
        r'allow_unmatched, '):
      call()

  def test_options_still_take_every_field(self):
    options = warmstart.Options(skip_missing=True, max_chunk_bytes=1 << 20)
    self.assertTrue(options.skip_missing)
    self.assertEqual(1 << 20, options.max_chunk_bytes)
    self.assertEqual(options, warmstart.Options(True, max_chunk_bytes=1 << 20))


class WrongTypesTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ('hook_model_dir', lambda: warmstart.WarmStartHook(_SOURCE,
                                                         model_dir=123),
       r"WarmStartHook model_dir must be the run's model directory \(str or "
       r'os\.PathLike\) or None, got 123 of type int'),
      ('hook_is_chief', lambda: warmstart.WarmStartHook(_SOURCE,
                                                        is_chief='yes'),
       r"WarmStartHook is_chief must be True or False, got 'yes'"),
      ('write_plan_plan', lambda: warmstart.write_plan({}, '/tmp'),
       r'write_plan takes a warmstart\.Plan .*got \{\} of type dict'),
      ('write_plan_dir', lambda: warmstart.write_plan(
          warmstart.Plan(()), 123),
       r'write_plan model_dir must be a directory path .*got 123 of type int'),
      ('read_plan_dir', lambda: warmstart.read_plan(None),
       r'read_plan model_dir must be a directory path .*got None of type '
       'NoneType'),
      ('apply_plan_plan', lambda: warmstart.apply_plan('plan.json'),
       r"apply_plan takes a warmstart\.Plan .*got 'plan\.json' of type str"),
      ('apply_plan_options', lambda: warmstart.apply_plan(
          warmstart.Plan(()), {'max_chunk_bytes': 1}),
       r'apply_plan options must be a warmstart\.Options, got .* of type dict'),
      ('make_plan_graph', lambda: warmstart.make_plan(
          _SOURCE, {'/': '/'}, graph='default'),
       r"graph must be a tf\.Graph \(or None: the default graph\), got "
       r"'default' of type str"),
      ('make_settings_plan_graph', lambda: warmstart.make_settings_plan(
          _SOURCE, graph=tf.compat.v1.Session),
       r'graph must be a tf\.Graph'),
      ('settings_vars', lambda: warmstart.WarmStartSettings(_SOURCE, 5),
       r'WarmStartSettings\.vars_to_warm_start must be a regex string'),
      ('settings_path', lambda: warmstart.WarmStartSettings(5),
       r'WarmStartSettings\.ckpt_to_initialize_from must be a non-empty '
       r'checkpoint path'),
      ('vocab_size', lambda: warmstart.VocabInfo('/a', 'x', 0, '/b'),
       r"VocabInfo\.new_vocab_size must be a positive int, got 'x'"),
      ('max_chunk_bytes', lambda: warmstart.Options(max_chunk_bytes='64M'),
       r"Option max_chunk_bytes must be a positive int \(bytes\), got '64M'"),
  )
  def test_names_the_argument(self, call, message):
    with tf.Graph().as_default() as graph:
      with self.assertRaisesRegex(warmstart.SettingsError, message):
        call()
      self.assertEqual([], graph.get_operations())

  def test_hook_takes_a_bytes_or_pathlike_model_dir(self):
    prefix, _ = test_util.save_checkpoint(
        self.create_tempdir().full_path,
        lambda: tf.compat.v1.get_variable('w', [2]))
    model_dir = self.create_tempdir().full_path
    for given in (os.fsencode(model_dir), __import__('pathlib').Path(
        model_dir)):
      hook = warmstart.WarmStartHook(prefix, model_dir=given)
      with tf.Graph().as_default():
        tf.compat.v1.get_variable('w', [2])
        hook.begin()
        self.assertIsNotNone(hook.plan)


if __name__ == '__main__':
  tf.test.main()
