"""Tests of warmstart._planning._rules: one source's rules, compiled once.

`RewriteTest`: the one name-or-scope rewrite of maps and merge's renames.
`TensorOfTest`: the decision for one variable, as the creation-time
predictor asks it. `AgreementTest`: for every variable of a real graph, the
rules' decision equals what the plan's selection (`_selection.select`) made
of the same rules: the predictor and the plan cannot drift apart.
"""

from __future__ import annotations

import os

from absl.testing import parameterized
import tensorflow as tf

from tests import test_util
import warmstart
from warmstart import _errors
from warmstart import _options
from warmstart import _sources
from warmstart import _variables
from warmstart._planning import _planner
from warmstart._planning import _rules
from warmstart._planning import _selection

Variable = _rules.Variable
WarmStartSettings = warmstart.WarmStartSettings


class RewriteTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ('name', 'old/w', 'new/w', 'old/w', 'new/w'),
      ('name_left_out', 'old/w', None, 'old/w', None),
      ('scope', 'old/', 'new/', 'old/a/w', 'new/a/w'),
      ('root_into_scope', '/', 'new/', 'a/w', 'new/a/w'),
      ('scope_to_root', 'old/', '/', 'old/a/w', 'a/w'),
      ('scope_left_out', 'old/', None, 'old/a/w', None),
  )
  def test_of_and_apply(self, key, value, name, expected):
    rewrite = _rules.Rewrite.of(key, value)
    self.assertTrue(rewrite.covers(name))
    self.assertEqual(expected, rewrite.apply(name))

  def test_covers(self):
    scope = _rules.Rewrite.of('old/', 'new/')
    self.assertTrue(scope.is_scope)
    self.assertFalse(scope.covers('older/w'))
    self.assertFalse(scope.covers('old'))
    name = _rules.Rewrite.of('old/w', 'new/w')
    self.assertFalse(name.is_scope)
    self.assertFalse(name.covers('old/w/Adam'))
    self.assertTrue(_rules.Rewrite.of('/', '/').covers('anything'))

  def test_scope_prefix(self):
    for text, expected in (('a', 'a/'), ('a/', 'a/'), ('a/b', 'a/b/'),
                           ('/', ''), ('', '')):
      self.assertEqual(expected, _rules.scope_prefix(text), text)


def _settings_rules(**fields):
  return _rules.Rules(WarmStartSettings('/nowhere/model.ckpt', **fields))


def _map_rules(assignment_map, **options):
  return _rules.Rules(_planner.MapSettings(
      '/nowhere/model.ckpt', assignment_map, _options.Options(**options)),
                      scope_maps_take_slots=True)


class TensorOfTest(parameterized.TestCase):

  def test_regex_string_takes_trainable_variables(self):
    rules = _settings_rules(vars_to_warm_start='dnn/')
    self.assertEqual('dnn/w', rules.tensor_of(Variable('dnn/w')))
    self.assertIsNone(rules.tensor_of(Variable('dnn/w', trainable=False)))
    self.assertIsNone(rules.tensor_of(Variable('head/w')))
    # re.match on a partition's name selects the whole variable.
    part = Variable('emb', parts=('emb/part_0', 'emb/part_1'))
    self.assertEqual(
        'emb', _settings_rules(vars_to_warm_start='emb/part_1').tensor_of(
            part))

  def test_list_of_regexes_takes_global_variables_but_no_step_or_slot(self):
    rules = _settings_rules(vars_to_warm_start=['.*'])
    self.assertEqual('bn/mean', rules.tensor_of(
        Variable('bn/mean', trainable=False)))
    step = Variable('global_step', trainable=False, global_step=True)
    slot = Variable('w/Adam', trainable=False, primary='w')
    self.assertIsNone(rules.tensor_of(step))
    self.assertIsNone(rules.tensor_of(slot))
    self.assertIn('include_global_step=True', rules.excluded(step))
    self.assertIn('include_slots=True', rules.excluded(slot))
    wider = _settings_rules(vars_to_warm_start=['.*'], include_slots=True,
                            include_global_step=True)
    self.assertEqual('global_step', wider.tensor_of(step))
    self.assertEqual('w/Adam', wider.tensor_of(slot))

  def test_renames_and_their_slots(self):
    rules = _settings_rules(vars_to_warm_start='new',
                            var_name_to_prev_var_name={'new': 'old'},
                            include_slots=True)
    self.assertEqual('old', rules.tensor_of(Variable('new')))
    # A slot follows its primary's tensor; the optimizer's own variable
    # reads its own name.
    self.assertEqual('old/Adam_1', rules.tensor_of(
        Variable('new/Adam_1', trainable=False, primary='new')))
    self.assertEqual('beta1_power', rules.tensor_of(
        Variable('beta1_power', trainable=False, primary='')))
    self.assertIsNone(rules.tensor_of(
        Variable('other/Adam', trainable=False, primary='other')))

  def test_vocabulary_only(self):
    info = warmstart.VocabInfo('/nowhere/new.txt', 3, 0, '/nowhere/old.txt')
    rules = _settings_rules(vars_to_warm_start=None,
                            var_name_to_vocab_info={'emb': info})
    self.assertEqual('emb', rules.tensor_of(Variable('emb')))
    self.assertIsNone(rules.tensor_of(Variable('w')))
    self.assertTrue(rules.remapped(Variable('emb')))
    self.assertTrue(rules.remapped(
        Variable('emb/Adagrad', trainable=False, primary='emb')))
    self.assertFalse(rules.remapped(Variable('w')))

  def test_assignment_map_entries(self):
    rules = _map_rules({'ckpt/': 'new/', 'old_step': 'train/step',
                        'x': 'new/w:0'})
    # A name entry beats a scope; ':0' is dropped.
    self.assertEqual('x', rules.tensor_of(Variable('new/w')))
    self.assertEqual('ckpt/a/v', rules.tensor_of(Variable('new/a/v')))
    self.assertIsNone(rules.tensor_of(Variable('other/v')))
    # Scopes never take the global step or local variables; a name does.
    self.assertIsNone(rules.tensor_of(Variable('new/step', global_step=True)))
    self.assertIsNone(rules.tensor_of(Variable('new/count', local=True)))
    self.assertEqual('old_step', rules.tensor_of(
        Variable('train/step', global_step=True)))
    # init_from_checkpoint's scopes take the slots under them (TF's).
    self.assertEqual('ckpt/w/Adam', rules.tensor_of(
        Variable('new/w/Adam', trainable=False, primary='new/w')))

  def test_settings_map_scopes_leave_slots_without_include_slots(self):
    slot = Variable('new/w/Adam', trainable=False, primary='new/w')
    plain = _settings_rules(assignment_map={'ckpt/': 'new/'})
    self.assertIsNone(plain.tensor_of(slot))
    with_slots = _settings_rules(assignment_map={'ckpt/': 'new/'},
                                 include_slots=True)
    self.assertEqual('ckpt/w/Adam', with_slots.tensor_of(slot))

  def test_vars_to_warm_start_narrows_a_map(self):
    rules = _settings_rules(assignment_map={'ckpt/': 'new/'},
                            vars_to_warm_start='(?!new/head/)')
    self.assertEqual('ckpt/body/w', rules.tensor_of(Variable('new/body/w')))
    self.assertIsNone(rules.tensor_of(Variable('new/head/w')))


def _graph_b():
  """Variables of every kind the rules tell apart."""
  step = tf.compat.v1.train.get_or_create_global_step()
  with tf.compat.v1.variable_scope('new'):
    kernel = tf.compat.v1.get_variable('dense/kernel', [3, 2])
    tf.compat.v1.get_variable('dense/bias', [2])
    emb = tf.compat.v1.get_variable(
        'emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
    tf.compat.v1.get_variable('bn/mean', [2], trainable=False)
    tf.compat.v1.get_variable(
        'count', [], collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])
  loss = tf.reduce_sum(kernel) + tf.reduce_sum(tf.concat(list(emb), 0))
  tf.compat.v1.train.AdamOptimizer(0.1).minimize(loss, global_step=step)


class AgreementTest(parameterized.TestCase, tf.test.TestCase):
  """The rules' decision for each variable is the plan's selection."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.prefix, _ = test_util.save_checkpoint(
        os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__),
        _graph_b)

  @parameterized.named_parameters(
      ('regex', dict(vars_to_warm_start='new/')),
      ('regex_list', dict(vars_to_warm_start=['new/', 'global'])),
      ('slots', dict(vars_to_warm_start='new/dense/', include_slots=True)),
      ('slots_and_step', dict(vars_to_warm_start=['new/d'],
                              include_slots=True, include_global_step=True)),
      ('part_name', dict(vars_to_warm_start='new/emb/part_1')),
      ('rename', dict(vars_to_warm_start='new/dense/kernel',
                      var_name_to_prev_var_name={
                          'new/dense/kernel': 'new/dense/bias'},
                      include_slots=True)),
      ('scope_map', dict(assignment_map={'new/': 'new/'})),
      ('scope_map_slots', dict(assignment_map={'/': '/'},
                               include_slots=True, include_global_step=True)),
      ('narrowed_map', dict(assignment_map={'new/': 'new/'},
                            vars_to_warm_start='new/(?!emb)')),
      ('name_map', dict(assignment_map={'global_step': 'global_step',
                                        'new/dense/bias': 'new/dense/kernel'})),
  )
  def test_settings(self, fields):
    self.assertAgree(_rules.Rules(WarmStartSettings(
        self.prefix, allow_unmatched=True, **fields)))

  @parameterized.named_parameters(
      ('root', {'/': '/'}),
      ('scope', {'new/dense/': 'new/dense'}),
      ('names', [('new/emb', 'new/emb'), ('new/bn/mean', 'new/bn/mean')]),
  )
  def test_init_from_checkpoint_maps(self, assignment_map):
    for include_slots in (False, True):
      self.assertAgree(_map_rules(assignment_map, include_slots=include_slots,
                                  allow_unmatched=True))

  def assertAgree(self, rules):
    with tf.Graph().as_default() as graph:
      _graph_b()
      targets = _variables.collect(graph)
      problems = _errors.Problems()
      pairs = _selection.select(rules, targets, graph, problems,
                                _sources.load(self.prefix))
      problems.raise_if_any()
      facts = _selection._Graph(targets, graph)  # pylint: disable=protected-access
      decided = {name: rules.tensor_of(facts.variable(target))
                 for name, target in targets.items()}
    selected = {pair.target.name: pair.tensor for pair in pairs}
    self.assertNotEmpty(selected)
    # The optimizer's own variables come with the slots of a selected
    # variable only; the rules alone say only that they may.
    optimizer = {name for name, tensor in decided.items()
                 if tensor is not None and name not in selected and
                 name.startswith('beta')}
    self.assertEqual(
        selected, {name: tensor for name, tensor in decided.items()
                   if tensor is not None and name not in optimizer})


if __name__ == '__main__':
  tf.test.main()
