"""Tests of `WarmStartSettings` validation and `normalize`.

Settings are checked when they are built, with messages naming the field,
what is allowed and what was given. No checkpoint is read here;
`warm_start_test.py` covers what the settings select.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
import pickle
import re

from absl.testing import parameterized
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _settings
from warmstart import _vocab_info

WSS = _settings.WarmStartSettings


def _tf_vocab(**overrides):
  fields = dict(new_vocab='new.txt', new_vocab_size=3, num_oov_buckets=1,
                old_vocab='old.txt')
  fields.update(overrides)
  return tf.compat.v1.train.VocabInfo(**fields)


class WarmStartSettingsTest(tf.test.TestCase, parameterized.TestCase):

  def test_defaults_are_tfs(self):
    s = WSS('/ckpt')
    self.assertEqual('/ckpt', s.ckpt_to_initialize_from)
    self.assertEqual('.*', s.vars_to_warm_start)
    self.assertEqual({}, s.var_name_to_vocab_info)
    self.assertEqual({}, s.var_name_to_prev_var_name)
    self.assertIsNone(s.assignment_map)
    for field in ('skip_missing', 'skip_mismatched', 'allow_unmatched',
                  'include_slots', 'include_global_step'):
      self.assertIs(False, getattr(s, field), field)
    self.assertEqual(warmstart.Options(), s.options)

  def test_tf_fields_are_positional_the_rest_keyword_only(self):
    s = WSS('/ckpt', 'dnn/.*', None, {'a': 'b'})
    self.assertEqual('dnn/.*', s.vars_to_warm_start)
    self.assertEqual({'a': 'b'}, s.var_name_to_prev_var_name)
    with self.assertRaisesRegex(TypeError, 'positional'):
      WSS('/ckpt', '.*', None, None, None)  # pylint: disable=too-many-function-args

  def test_options_property(self):
    s = WSS('/ckpt', skip_missing=True, skip_mismatched=True,
            allow_unmatched=True)
    self.assertEqual(
        warmstart.Options(skip_missing=True, skip_mismatched=True,
                          allow_unmatched=True), s.options)

  def test_frozen_copied_and_comparable(self):
    renames = {'a': 'b'}
    s = WSS('/ckpt', var_name_to_prev_var_name=renames)
    renames['c'] = 'd'
    self.assertEqual({'a': 'b'}, s.var_name_to_prev_var_name)
    with self.assertRaises(dataclasses.FrozenInstanceError):
      s.vars_to_warm_start = 'x'  # pytype: disable=not-writable
    self.assertEqual(WSS('/ckpt', var_name_to_prev_var_name={'a': 'b'}), s)
    replaced = dataclasses.replace(s, skip_missing=True)
    self.assertTrue(replaced.skip_missing)
    self.assertEqual({'a': 'b'}, replaced.var_name_to_prev_var_name)
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'WarmStartSettings.include_slots'):
      dataclasses.replace(s, include_slots='yes')
    # Estimators copy their configuration.
    self.assertEqual(s, copy.deepcopy(s))
    self.assertEqual(s, pickle.loads(pickle.dumps(s)))

  # --- ckpt_to_initialize_from ---------------------------------------------

  def test_checkpoint_path_forms(self):
    self.assertEqual('/a/b', WSS(pathlib.Path('/a/b')).ckpt_to_initialize_from)
    self.assertEqual('/a/b', WSS(b'/a/b').ckpt_to_initialize_from)

  @parameterized.named_parameters(
      ('empty', '', "''"), ('none', None, 'None'), ('int', 42, '42'),
      ('list', ['/a'], re.escape("['/a']")))
  def test_bad_checkpoint_path(self, value, shown):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r'WarmStartSettings.ckpt_to_initialize_from must be a non-empty '
        r'checkpoint path .*got %s\.' % shown):
      WSS(value)

  # --- vars_to_warm_start ---------------------------------------------------

  def test_vars_forms(self):
    self.assertEqual('dnn/', WSS('/c', 'dnn/').vars_to_warm_start)
    self.assertEqual(('a', 'b'), WSS('/c', ['a', 'b']).vars_to_warm_start)
    self.assertEqual(('a',), WSS('/c', ('a',)).vars_to_warm_start)
    with tf.Graph().as_default():
      v = tf.compat.v1.get_variable('v', [1])
      p = tf.compat.v1.get_variable(
          'p', [4, 1], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      self.assertEqual((v, p), WSS('/c', [v, p]).vars_to_warm_start)
    s = WSS('/c', None, {'emb': _tf_vocab()})
    self.assertIsNone(s.vars_to_warm_start)

  @parameterized.named_parameters(
      ('int', 42, r'must be a regex string .*got 42 of type int\.'),
      ('dict', {'a': 1}, r".*got \{'a': 1\} of type dict\."),
      ('bad_regex', 'dnn/(', r"holds the invalid regex 'dnn/\(': missing \)"),
      ('bad_regex_in_list', ['a', '[b'],
       r"holds the invalid regex '\[b': unterminated"),
      ('empty_list', [], r'is an empty list, which selects nothing; pass None'),
      ('empty_regex', '',
       r"holds an empty regex.*write '\.\*'"),
      ('empty_regex_in_list', ['dnn/.*', ''],
       r'holds an empty regex'),
      ('mixed', ['a', 1],
       r'must be all regex strings or all variables, got elements of types '
       r'int, str\.'))
  def test_bad_vars(self, value, message):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'WarmStartSettings.vars_to_warm_start ' +
                                message):
      WSS('/c', value)

  def test_single_variable_needs_a_list(self):
    with tf.Graph().as_default():
      v = tf.compat.v1.get_variable('v', [1])
      with self.assertRaisesRegex(
          warmstart.SettingsError,
          r"vars_to_warm_start must be .*got <tf.Variable 'v:0'.* \(wrap a "
          'single variable in a list\\)'):
        WSS('/c', v)

  def test_none_without_vocabulary(self):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        'WarmStartSettings.vars_to_warm_start is None, which selects only the '
        'variables of var_name_to_vocab_info, but var_name_to_vocab_info is '
        'empty'):
      WSS('/c', None)

  # --- var_name_to_vocab_info ----------------------------------------------

  def test_tf_vocab_info_is_converted(self):
    tf_info = _tf_vocab(backup_initializer=tf.compat.v1.ones_initializer())
    s = WSS('/c', var_name_to_vocab_info={'emb:0': tf_info})
    info = s.var_name_to_vocab_info['emb']
    self.assertIsInstance(info, _vocab_info.VocabInfo)
    self.assertEqual(tuple(tf_info), tuple(info))

  @parameterized.named_parameters(
      ('not_a_dict', ['emb'],
       r"var_name_to_vocab_info must be a dict from variable names \(str\), "
       r"got \['emb'\] of type list\."),
      ('bad_key', {3: None},
       r'var_name_to_vocab_info keys must be non-empty variable names \(str\), '
       r'got 3\.'),
      ('not_vocab_info', {'emb': ('new.txt', 3, 1, 'old.txt')},
       r"var_name_to_vocab_info\['emb'\] must be a VocabInfo \(warmstart."
       r"VocabInfo or tf.estimator.VocabInfo\), got \('new.txt', 3, 1, "
       r"'old.txt'\) of type tuple\."),
      ('bad_field', {'emb': _tf_vocab(new_vocab_size=0)},
       r"var_name_to_vocab_info\['emb'\]: VocabInfo.new_vocab_size must be a "
       r'positive int, got 0\.'))
  def test_bad_vocab_info(self, value, message):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'WarmStartSettings.' + message):
      WSS('/c', var_name_to_vocab_info=value)

  # --- var_name_to_prev_var_name -------------------------------------------

  def test_renames_strip_colon_zero(self):
    s = WSS('/c', var_name_to_prev_var_name={'a:0': 'old/a:0'})
    self.assertEqual({'a': 'old/a'}, s.var_name_to_prev_var_name)

  @parameterized.named_parameters(
      ('not_a_dict', 'a', r" must be a dict from variable names \(str\), got "
       r"'a' of type str\."),
      ('bad_value', {'a': 3}, r"\['a'\] must be a checkpoint tensor name "
       r'\(non-empty str\), got 3\.'),
      ('empty_value', {'a': ''}, r"\['a'\] must be a checkpoint tensor name "
       r"\(non-empty str\), got ''\."),
      ('empty_key', {'': 'a'}, r" keys must be non-empty variable names \(str\)"
       r", got ''\."))
  def test_bad_renames(self, value, message):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        'WarmStartSettings.var_name_to_prev_var_name' + message):
      WSS('/c', var_name_to_prev_var_name=value)

  # --- flags ----------------------------------------------------------------

  @parameterized.parameters('skip_missing', 'skip_mismatched',
                            'allow_unmatched', 'include_slots',
                            'include_global_step')
  def test_flags_must_be_bool(self, field):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r'WarmStartSettings.%s must be True or False, got 1\.' % field):
      WSS('/c', **{field: 1})

  # --- assignment_map -------------------------------------------------------

  def test_assignment_map_forms(self):
    self.assertEqual({'a/': 'b/'},
                     WSS('/c', assignment_map={'a/': 'b/'}).assignment_map)
    self.assertEqual((('a', 'x'), ('a', 'y')),
                     WSS('/c', assignment_map=[('a', 'x'), ['a', 'y']]
                        ).assignment_map)
    with tf.Graph().as_default():
      v = tf.compat.v1.get_variable('v', [1])
      p = tf.compat.v1.get_variable(
          'p', [4, 1], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      s = WSS('/c', assignment_map={'v': v, 'p': p, 'q': list(p)})
      self.assertIs(v, s.assignment_map['v'])
    s = WSS('/c', var_name_to_vocab_info={'emb': _tf_vocab()},
            assignment_map={'/': '/'}, include_slots=True)
    self.assertEqual({'/': '/'}, s.assignment_map)
    self.assertIn('emb', s.var_name_to_vocab_info)

  @parameterized.named_parameters(
      ('string', 'a/', r'is malformed: An assignment map must be a dict or a '
       r"list of \(checkpoint name, variable\) pairs, got 'a/'\."),
      ('not_pairs', [('a', 'b', 'c')], r'is malformed: An assignment map given '
       r"as a list must hold \(checkpoint name, variable\) pairs, got "
       r"\('a', 'b', 'c'\)\."),
      ('bad_key', {1: 'a'}, r'is malformed: Assignment map keys are checkpoint '
       r'names \(str\), got 1 of type int\.'),
      ('bad_value', {'a': 3}, r"entry 'a': values must be variable or scope "
       r'names \(str\), variables, .*got 3 of type int\.'))
  def test_bad_assignment_map(self, value, message):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'WarmStartSettings.assignment_map ' + message):
      WSS('/c', assignment_map=value)

  def test_assignment_map_excludes_selection_fields(self):
    # A regex narrows the map (tests/changed_models_test.py); None or
    # variables cannot.
    self.assertEqual('dnn/', WSS('/c', 'dnn/', assignment_map={'/': '/'})
                     .vars_to_warm_start)
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"WarmStartSettings.assignment_map selects the variables; "
        r"vars_to_warm_start can only narrow them, with a regex or a list of "
        r"regexes.*got vars_to_warm_start=None\."):
      WSS('/c', None, {'emb': _tf_vocab()}, assignment_map={'/': '/'})
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r'WarmStartSettings.assignment_map names the checkpoint tensors, so '
        r"var_name_to_prev_var_name must be empty; got \{'a': 'b'\}\."):
      WSS('/c', var_name_to_prev_var_name={'a': 'b'},
          assignment_map={'/': '/'})


class NormalizeTest(tf.test.TestCase):

  def test_ours(self):
    s = WSS('/c', 'x')
    self.assertEqual((s,), _settings.normalize(s))

  @test_util.requires_estimator
  def test_tf_estimator_settings(self):
    info = _tf_vocab()
    tf_settings = tf.estimator.WarmStartSettings(
        '/c', ['a', 'b'], {'emb': info}, {'a': 'old_a'})
    self.assertTrue(_settings.is_tf_settings(tf_settings))
    (s,) = _settings.normalize(tf_settings)
    self.assertEqual(
        WSS('/c', ['a', 'b'], {'emb': info}, {'a': 'old_a'}), s)
    # TF's settings default to {} for the dicts; None means vocabulary only.
    (s,) = _settings.normalize(tf.estimator.WarmStartSettings('/c'))
    self.assertEqual(WSS('/c'), s)

  def test_paths(self):
    self.assertEqual((WSS('/c'),), _settings.normalize('/c'))
    self.assertEqual((WSS('/c'),), _settings.normalize(pathlib.Path('/c')))

  @test_util.requires_estimator
  def test_several_sources(self):
    tf_settings = tf.estimator.WarmStartSettings('/b', 'x')
    for container in (list, tuple):
      got = _settings.normalize(
          container([WSS('/a'), tf_settings, '/c', pathlib.Path('/d')]))
      self.assertEqual(
          (WSS('/a'), WSS('/b', 'x'), WSS('/c'), WSS('/d')), got)

  def test_empty_list(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'The list of warm-start settings is empty'):
      _settings.normalize([])

  def test_bad_types(self):
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r'Warm-start settings must be a warmstart.WarmStartSettings, a '
        r'tf.estimator.WarmStartSettings, a checkpoint path .*got 42 of type '
        r'int\.'):
      _settings.normalize(42)
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"Warm-start settings \[1\] must be .*got \['/b'\] of type list\."):
      _settings.normalize(['/a', ['/b']])
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        r"Warm-start settings must be .*got \{'ckpt_to_initialize_from': "
        r"'/a'\} of type dict\."):
      _settings.normalize({'ckpt_to_initialize_from': '/a'})

  def test_other_namedtuples_are_not_tf_settings(self):
    self.assertFalse(_settings.is_tf_settings(('/c', '.*', {}, {})))
    self.assertFalse(_settings.is_tf_settings(_tf_vocab()))


if __name__ == '__main__':
  tf.test.main()
