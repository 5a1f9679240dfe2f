"""Tests of warmstart._assignment_map: every assignment-map form and error."""

from __future__ import annotations

import re
import types

from absl.testing import parameterized
import tensorflow as tf

import warmstart
from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _options
from warmstart._planning import _planner
from warmstart._planning import _rules
from warmstart._planning import _selection
from warmstart import _variables


def _build_graph():
  """Builds graph B's variables; returns them by name."""
  variables = {
      'w': tf.compat.v1.get_variable('new_scope_1/w', [2, 3]),
      'b': tf.compat.v1.get_variable('new_scope_1/b', [3]),
      # Shares the prefix 'new_scope_1' but is not under 'new_scope_1/'.
      'w10': tf.compat.v1.get_variable('new_scope_10/w', [1]),
      'deep': tf.compat.v1.Variable([1.0], name='outer/inner/v'),
      'emb': tf.compat.v1.get_variable(
          'emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(3)),
      'step': tf.compat.v1.train.get_or_create_global_step(),
  }
  return variables


def _expand(assignment_map, graph, **options):
  """Returns ([(tensor, variable)], problems) of `assignment_map` on `graph`:
  the pairs the rules of an `init_from_checkpoint` source select."""
  problems = _errors.Problems()
  rules = _rules.Rules(
      _planner.MapSettings('src', assignment_map, _options.Options(**options)),
      scope_maps_take_slots=True)
  pairs = _selection.select(rules, _variables.collect(graph), graph,
                            problems, types.SimpleNamespace(prefix='src'))
  return pairs, problems


_ALL_BUT_STEP = ('new_scope_1/w', 'new_scope_1/b', 'new_scope_10/w',
                 'outer/inner/v', 'emb')


class FormsTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ('scope_with_slash', lambda v: {'old/': 'new_scope_1/'},
       [('old/w', 'new_scope_1/w'), ('old/b', 'new_scope_1/b')]),
      # TF defect 1: TF treats 'new_scope_1' (no slash) as the root scope.
      ('scope_without_slash_in_value', lambda v: {'old/': 'new_scope_1'},
       [('old/w', 'new_scope_1/w'), ('old/b', 'new_scope_1/b')]),
      ('scope_other_depth', lambda v: {'ckpt/a/b/': 'outer/'},
       [('ckpt/a/b/inner/v', 'outer/inner/v')]),
      ('nested_scope', lambda v: {'x/': 'outer/inner'},
       [('x/v', 'outer/inner/v')]),
      ('root_to_scope', lambda v: {'/': 'new_scope_1/'},
       [('w', 'new_scope_1/w'), ('b', 'new_scope_1/b')]),
      ('scope_to_root', lambda v: {'ckpt/': '/'},
       [('ckpt/' + n, n) for n in _ALL_BUT_STEP]),
      ('root_to_root', lambda v: {'/': '/'},
       [(n, n) for n in _ALL_BUT_STEP]),
      ('name', lambda v: {'old/w': 'new_scope_1/w'},
       [('old/w', 'new_scope_1/w')]),
      ('name_with_output_suffix', lambda v: {'old/w': 'new_scope_1/w:0'},
       [('old/w', 'new_scope_1/w')]),
      ('name_of_partitioned_variable', lambda v: {'old_emb': 'emb'},
       [('old_emb', 'emb')]),
      ('global_step_by_name', lambda v: {'global_step': 'global_step'},
       [('global_step', 'global_step')]),
      ('variable_object', lambda v: {'old/w': v['w']},
       [('old/w', 'new_scope_1/w')]),
      # TF defect 2: TF does not accept a PartitionedVariable object.
      ('partitioned_variable_object', lambda v: {'old_emb': v['emb']},
       [('old_emb', 'emb')]),
      ('list_of_parts', lambda v: {'old_emb': list(v['emb'])},
       [('old_emb', 'emb')]),
      ('list_of_pairs',
       lambda v: [('old/w', 'new_scope_1/w'), ('old/b', v['b'])],
       [('old/w', 'new_scope_1/w'), ('old/b', 'new_scope_1/b')]),
      ('tuple_of_lists',
       lambda v: (['a', 'new_scope_1/w'], ['c/', 'outer/inner/']),
       [('a', 'new_scope_1/w'), ('c/v', 'outer/inner/v')]),
      ('several_rules_in_map_order',
       lambda v: {'z': 'outer/inner/v', 'a/': 'new_scope_10/'},
       [('z', 'outer/inner/v'), ('a/w', 'new_scope_10/w')]),
  )
  def test_form(self, make_map, expected):
    with tf.Graph().as_default() as g:
      variables = _build_graph()
      pairs, problems = _expand(make_map(variables), g)
    problems.raise_if_any()
    self.assertFalse(problems)
    self.assertEqual(expected, [(p.tensor, p.target.name) for p in pairs])
    targets = _variables.collect(g)
    for pair in pairs:
      self.assertEqual(targets[pair.target.name].parts, pair.target.parts)

  def test_partitioned_target_keeps_its_parts(self):
    with tf.Graph().as_default() as g:
      variables = _build_graph()
      for value in (variables['emb'], list(variables['emb']), 'emb'):
        pairs, problems = _expand({'e': value}, g)
        self.assertFalse(problems)
        (pair,) = pairs
        self.assertEqual(tuple(variables['emb']), pair.target.parts)
        self.assertTrue(pair.target.is_partitioned)
        self.assertEqual([6, 2], pair.target.shape.as_list())

  def test_rules_name_key_and_value(self):
    with tf.Graph().as_default() as g:
      variables = _build_graph()
      pairs, _ = _expand(
          [('old/', 'new_scope_1'), ('a', variables['w']),
           ('e', list(variables['emb']))], g)
    self.assertEqual(['old/: new_scope_1', 'old/: new_scope_1',
                      'a: new_scope_1/w:0', 'e: list'],
                     [p.rule for p in pairs])

  def test_scope_maps_skip_global_step(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [1])
      tf.compat.v1.train.get_or_create_global_step()
      with tf.compat.v1.variable_scope('train'):
        # A custom global step, known from the GLOBAL_STEP collection.
        tf.compat.v1.Variable(
            0, name='my_step', trainable=False, dtype=tf.int64,
            collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                         tf.compat.v1.GraphKeys.GLOBAL_STEP])
        tf.compat.v1.get_variable('v', [1])
      pairs, problems = _expand({'/': '/'}, g)
      self.assertFalse(problems)
      self.assertEqual(['w', 'train/v'], [p.target.name for p in pairs])
      pairs, problems = _expand({'t/': 'train/'}, g)
      self.assertFalse(problems)
      self.assertEqual([('t/v', 'train/v')],
                       [(p.tensor, p.target.name) for p in pairs])
      # Named explicitly, the global step is restored.
      pairs, problems = _expand({'step': 'train/my_step'}, g)
      self.assertFalse(problems)
      self.assertEqual(['train/my_step'], [p.target.name for p in pairs])

  def test_custom_variable_under_a_scope(self):

    class Table(warmstart.CustomVariable):
      name = 'lookup/table'
      shape = tf.TensorShape([2])
      dtype = tf.float32

      def restore_initializer(self, value):
        return tf.no_op()

    with tf.Graph().as_default() as g:
      table = Table()
      warmstart.register_custom_variable(table)
      pairs, problems = _expand({'old/': 'lookup/'}, g)
      self.assertFalse(problems)
      self.assertEqual([('old/table', 'lookup/table')],
                       [(p.tensor, p.target.name) for p in pairs])
      self.assertIs(table, pairs[0].target.parts[0])
      pairs, problems = _expand({'t': table}, g)
      self.assertFalse(problems)
      self.assertIs(table, pairs[0].target.parts[0])


class ErrorsTest(parameterized.TestCase, tf.test.TestCase):

  def test_scope_matching_nothing(self):
    with tf.Graph().as_default() as g:
      _build_graph()
      pairs, problems = _expand({'old/': 'new_scope/'}, g)
    self.assertEmpty(pairs)
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        "'old/: new_scope/'.*no variable.*under scope 'new_scope/'.*"
        "Did you mean: 'new_scope_1/'.*Scopes in the graph: "
        "'new_scope_1/', 'new_scope_10/', 'outer/', 'outer/inner/'"):
      problems.raise_if_any()

  def test_scope_hint_names_enclosing_scopes(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('model/encoder/layer_0/kernel', [1])
      tf.compat.v1.get_variable('model/encoder/layer_1/kernel', [1])
      _, problems = _expand({'old/': 'model/encodr/'}, g)
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        re.escape("Did you mean: 'model/encoder/'") + '.*' +
        re.escape("Scopes in the graph: 'model/', 'model/encoder/', "
                  "'model/encoder/layer_0/', 'model/encoder/layer_1/'.")):
      problems.raise_if_any()

  def test_scope_without_slash_matching_only_a_longer_scope(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('new_scope_10/w', [1])
      _, problems = _expand({'old/': 'new_scope_1'}, g)
    with self.assertRaisesRegex(warmstart.UnmatchedRuleError,
                                "scope 'new_scope_1/'"):
      problems.raise_if_any()

  def test_empty_map_is_an_unmatched_rule(self):
    for empty in ({}, []):
      with tf.Graph().as_default() as g:
        _build_graph()
        pairs, problems = _expand(empty, g)
        self.assertEqual([], pairs)
        with self.assertRaisesRegex(
            warmstart.UnmatchedRuleError,
            "The assignment map is empty: it selects no variable "
            r"\(source src\)\. Map '/': '/' to warm-start every variable"):
          problems.raise_if_any()
        pairs, problems = _expand(empty, g, allow_unmatched=True)
        self.assertFalse(problems)

  def test_allow_unmatched(self):
    with tf.Graph().as_default() as g:
      _build_graph()
      pairs, problems = _expand(
          {'old/': 'new_scope/', 'x/': 'outer/'}, g, allow_unmatched=True)
    self.assertFalse(problems)
    self.assertEqual([('x/inner/v', 'outer/inner/v')],
                     [(p.tensor, p.target.name) for p in pairs])

  def test_allow_unmatched_does_not_allow_unknown_names(self):
    with tf.Graph().as_default() as g:
      _build_graph()
      _, problems = _expand({'old/w': 'new_scope_1/ww'}, g,
                            allow_unmatched=True)
    with self.assertRaisesRegex(warmstart.VariableNotFoundError,
                                "'new_scope_1/ww'"):
      problems.raise_if_any()

  def test_name_naming_no_variable(self):
    with tf.Graph().as_default() as g:
      _build_graph()
      pairs, problems = _expand({'old/w': 'new_scope_1/ww:0'}, g)
    self.assertEmpty(pairs)
    with self.assertRaisesRegex(
        warmstart.VariableNotFoundError,
        r"'old/w: new_scope_1/ww:0'.*no variable 'new_scope_1/ww' "
        r"\(source src\).*Did you mean: 'new_scope_1/w'"):
      problems.raise_if_any()

  def test_name_of_a_partition_is_not_a_variable(self):
    with tf.Graph().as_default() as g:
      _build_graph()
      _, problems = _expand({'e': 'emb/part_0'}, g)
    with self.assertRaisesRegex(warmstart.VariableNotFoundError,
                                "no variable 'emb/part_0'"):
      problems.raise_if_any()

  def test_scope_key_with_a_variable_value(self):
    with tf.Graph().as_default() as g:
      variables = _build_graph()
      pairs, problems = _expand({'old/': variables['w']}, g)
    self.assertEmpty(pairs)
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        "checkpoint scope 'old/' to the variable 'new_scope_1/w'"):
      problems.raise_if_any()

  def test_single_tensor_key_with_a_scope_value(self):
    with tf.Graph().as_default() as g:
      _build_graph()
      pairs, problems = _expand({'old/w': 'new_scope_1/'}, g)
    self.assertEmpty(pairs)
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        "single tensor 'old/w' to the scope 'new_scope_1/'.*write 'old/w/'"):
      problems.raise_if_any()

  @parameterized.named_parameters(
      ('int', 3, 'int'),
      ('tensor', lambda v: tf.constant(1.0, name='c'), 'Tensor'),
      ('mixed_list', lambda v: [v['w'], v['b']], 'new_scope_1/w'),
      ('list_of_names', ['new_scope_1/w'], 'parts of one partitioned'),
  )
  def test_bad_value(self, value, pattern):
    with tf.Graph().as_default() as g:
      variables = _build_graph()
      if callable(value):
        value = value(variables)
      pairs, problems = _expand({'old/w': value}, g)
    self.assertEmpty(pairs)
    with self.assertRaisesRegex(warmstart.SettingsError,
                                "entry 'old/w: .*" + pattern):
      problems.raise_if_any()

  @parameterized.named_parameters(
      ('none', None, 'None'),
      ('string', 'old/: new/', 'old/: new/'),
      ('bytes', b'old/', 'old/'),
      ('int', 3, '3'),
      ('list_of_strings', ['old/'], "'old/'"),
      ('list_of_triples', [('a', 'b', 'c')], "'a', 'b', 'c'"),
  )
  def test_bad_map_type(self, assignment_map, pattern):
    with tf.Graph().as_default() as g:
      _build_graph()
      with self.assertRaisesRegex(TypeError, re.escape(pattern)):
        _expand(assignment_map, g)

  @parameterized.named_parameters(
      ('int_key', {1: 'new_scope_1/w'}, '1 of type int'),
      ('bytes_key', {b'old/w': 'new_scope_1/w'}, "b'old/w' of type bytes"),
      ('pair_with_int_key', [(2, 'new_scope_1/w')], '2 of type int'),
  )
  def test_non_str_keys(self, assignment_map, pattern):
    with tf.Graph().as_default() as g:
      _build_graph()
      with self.assertRaisesRegex(TypeError, re.escape(pattern)):
        _expand(assignment_map, g)

  def test_every_problem_is_recorded(self):
    with tf.Graph().as_default() as g:
      variables = _build_graph()
      pairs, problems = _expand(
          [('a/', 'nothing/'), ('b', 'missing_var'), ('c/', variables['b']),
           ('d', 'outer/'), ('ok', 'outer/inner/v')], g)
    self.assertEqual([('ok', 'outer/inner/v')],
                     [(p.tensor, p.target.name) for p in pairs])
    with self.assertRaisesRegex(
        warmstart.UnmatchedRuleError,
        "4 problems(.|\n)*'nothing/'(.|\n)*'missing_var'(.|\n)*"
        "'new_scope_1/b'(.|\n)*'outer/'"):
      problems.raise_if_any()


class ItemsTest(tf.test.TestCase):

  def test_dict_and_pairs(self):
    self.assertEqual([('a', 'b'), ('c/', 'd/')],
                     _assignment_map.items({'a': 'b', 'c/': 'd/'}))
    self.assertEqual([('a', 'b'), ('a', 'c')],
                     _assignment_map.items([('a', 'b'), ['a', 'c']]))
    self.assertEqual([('a', 'b')],
                     _assignment_map.items(iter([('a', 'b')])))
    self.assertEqual([], _assignment_map.items({}))


if __name__ == '__main__':
  tf.test.main()
