"""Tests of warmstart._planner: validating pairs into one Plan."""

from __future__ import annotations

import os
import re

import tensorflow as tf

import warmstart
from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _options
from warmstart import _plan
from warmstart._planning import _checks
from warmstart._planning import _planner
from warmstart._sources import _checkpoint
from warmstart import _tf_compat
from warmstart import _variables
from tests import test_util

# Before anything initializes the TF runtime: two CPUs for MirroredStrategy.
_CPUS = test_util.configure_logical_cpus(2)

_STRICT = _options.Options()


def _build_a():
  tf.compat.v1.get_variable('scope/w', [2, 3])
  tf.compat.v1.get_variable('scope/b', [3])
  tf.compat.v1.get_variable('ids', [4], dtype=tf.int64,
                            initializer=tf.compat.v1.zeros_initializer())
  tf.compat.v1.train.get_or_create_global_step()


def _pair(graph, tensor, variable, rule='rule'):
  return _assignment_map.Pair(tensor, _variables.collect(graph)[variable],
                              rule)



def _plan_maps(sources, options, graph=None, earlier=()):
  """Plans `init_from_checkpoint`'s (checkpoint, assignment map) sources."""
  return _planner.plan(_planner.map_sources(sources, None, options), graph,
                       earlier)

class CheckPairTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.prefix, self.values = test_util.save_checkpoint(
        self.get_temp_dir(), _build_a)
    self.checkpoint = _checkpoint.load(self.prefix)

  def test_fitting_pair(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable(
          'new/w', [2, 3], partitioner=tf.compat.v1.fixed_size_partitioner(2))
      pair = _pair(g, 'scope/w', 'new/w', rule='scope/: new/')
    problems = _errors.Problems()
    entry = _checks.check_pair(pair, self.checkpoint, _STRICT, problems)
    self.assertFalse(problems)
    self.assertEqual(
        _plan.Entry(variable='new/w', shape=(2, 3), dtype='float32',
                    source=self.prefix, tensor='scope/w',
                    slices=('2 3 0,1:0,3', '2 3 1,1:0,3'),
                    action=_plan.RESTORE, rule='scope/: new/'), entry)
    self.assertIs(pair.target, entry.target)

  def test_missing_tensor(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('scope/bias', [3])
      pair = _pair(g, 'scope/bias', 'scope/bias', rule='scope/: scope/')
    problems = _errors.Problems()
    self.assertIsNone(
        _checks.check_pair(pair, self.checkpoint, _STRICT, problems))
    with self.assertRaisesRegex(
        warmstart.TensorNotFoundError,
        "Variable 'scope/bias' \\(rule 'scope/: scope/'\\): tensor "
        "'scope/bias' is not in checkpoint " + re.escape(self.prefix) +
        r"\. Did you mean: 'scope/b'"):
      problems.raise_if_any()

  def test_missing_tensor_skipped(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('scope/bias', [3])
      pair = _pair(g, 'scope/bias', 'scope/bias')
    problems = _errors.Problems()
    with self.assertLogs('absl', level='WARNING') as logs:
      entry = _checks.check_pair(
          pair, self.checkpoint, _options.Options(skip_missing=True),
          problems)
    self.assertFalse(problems)
    self.assertEqual(_plan.SKIP, entry.action)
    self.assertTrue(entry.skipped)
    self.assertEqual('scope/bias', entry.variable)
    self.assertEqual('scope/bias', entry.tensor)
    self.assertEqual(self.prefix, entry.source)
    self.assertRegex(entry.reason, "tensor 'scope/bias' is not in checkpoint")
    self.assertEqual((3,), entry.shape)
    self.assertIs(pair.target, entry.target)
    self.assertLen(logs.records, 1)
    self.assertEqual('WARNING', logs.records[0].levelname)
    self.assertRegex(logs.output[0],
                     "Not warm-starting scope/bias: tensor 'scope/bias'")

  def test_skip_mismatched_does_not_skip_missing(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('other', [3])
      pair = _pair(g, 'other', 'other')
    problems = _errors.Problems()
    _checks.check_pair(pair, self.checkpoint,
                        _options.Options(skip_mismatched=True), problems)
    with self.assertRaisesRegex(warmstart.TensorNotFoundError, "'other'"):
      problems.raise_if_any()

  def test_shape_mismatch(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('scope/w', [3, 2])
      pair = _pair(g, 'scope/w', 'scope/w')
    problems = _errors.Problems()
    self.assertIsNone(
        _checks.check_pair(pair, self.checkpoint, _STRICT, problems))
    with self.assertRaisesRegex(
        warmstart.MismatchError,
        r"Variable 'scope/w' \(rule 'rule'\): tensor 'scope/w' has shape "
        r"\(2, 3\) in the checkpoint, \(3, 2\) in the graph \(resize=True "
        r"restores the overlapping block\)\.$"):
      problems.raise_if_any()

  def test_rank_mismatch(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('flat', [6])
      pair = _pair(g, 'scope/w', 'flat')
    problems = _errors.Problems()
    _checks.check_pair(pair, self.checkpoint, _STRICT, problems)
    with self.assertRaisesRegex(warmstart.MismatchError,
                                "'flat'.*shape \\(2, 3\\).*\\(6,\\)"):
      problems.raise_if_any()

  def test_partially_known_shape_fits(self):
    with tf.Graph().as_default() as g:
      v = tf.compat.v1.Variable(
          tf.zeros([2, 3]), name='dyn',
          shape=tf.TensorShape([None, 3]))
      self.assertEqual([None, 3], v.shape.as_list())
      pair = _pair(g, 'scope/w', 'dyn')
    problems = _errors.Problems()
    entry = _checks.check_pair(pair, self.checkpoint, _STRICT, problems)
    self.assertFalse(problems)
    # The entry has the checkpoint's (full) shape.
    self.assertEqual((2, 3), entry.shape)

  def test_dtype_mismatch(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('ids', [4], dtype=tf.int32)
      pair = _pair(g, 'ids', 'ids')
    problems = _errors.Problems()
    _checks.check_pair(pair, self.checkpoint, _STRICT, problems)
    with self.assertRaisesRegex(
        warmstart.MismatchError,
        "Variable 'ids'.*dtype int64 in the checkpoint, int32 in the graph"):
      problems.raise_if_any()

  def test_shape_and_dtype_mismatch(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('scope/b', [4], dtype=tf.float64)
      pair = _pair(g, 'scope/b', 'scope/b')
    problems = _errors.Problems()
    _checks.check_pair(pair, self.checkpoint, _STRICT, problems)
    with self.assertRaisesRegex(
        warmstart.MismatchError,
        r"'scope/b'.*shape \(3,\) in the checkpoint, \(4,\) in the graph "
        r'\(resize=True restores the overlapping block\) and dtype float32 in '
        r'the checkpoint, float64 in the graph \(cast=True casts it\)'):
      problems.raise_if_any()

  def test_mismatch_skipped(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('ids', [4], dtype=tf.int32)
      pair = _pair(g, 'ids', 'ids')
    problems = _errors.Problems()
    with self.assertLogs('absl', level='WARNING') as logs:
      entry = _checks.check_pair(
          pair, self.checkpoint, _options.Options(skip_mismatched=True),
          problems)
    self.assertFalse(problems)
    self.assertEqual(_plan.SKIP, entry.action)
    self.assertRegex(entry.reason, "tensor 'ids' has dtype int64 in the "
                     'checkpoint, int32 in the graph')
    self.assertRegex(logs.output[0], 'Not warm-starting ids: ')

  def test_skip_missing_does_not_skip_mismatched(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('ids', [5], dtype=tf.int64)
      pair = _pair(g, 'ids', 'ids')
    problems = _errors.Problems()
    _checks.check_pair(pair, self.checkpoint,
                        _options.Options(skip_missing=True), problems)
    with self.assertRaisesRegex(warmstart.MismatchError, "'ids'"):
      problems.raise_if_any()

  def test_resource_variable_under_a_scope_map_with_another_shape(self):
    # TF defect 4: TF only checks shapes of one-to-one entries; a resource
    # variable under a scope map fails only when the session runs.
    with tf.Graph().as_default() as g:
      with tf.compat.v1.variable_scope('scope', use_resource=True):
        w = tf.compat.v1.get_variable('w', [3, 2])
        tf.compat.v1.get_variable('b', [3])
      self.assertEqual('VarHandleOp', w.op.type)
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"^Variable 'scope/w' \(rule 'scope/: scope/'\): tensor 'scope/w' "
          r'has shape \(2, 3\) in the checkpoint, \(3, 2\) in the graph'):
        _plan_maps([(self.prefix, {'scope/': 'scope/'})], _STRICT, g)


class CheckConflictsTest(tf.test.TestCase):

  def _entry(self, variable, source, tensor, rule, action=_plan.RESTORE):
    return _plan.Entry(variable=variable, shape=(1,), dtype='float32',
                       source=source, tensor=tensor, rule=rule, action=action)

  def test_no_conflict(self):
    problems = _errors.Problems()
    _checks.check_conflicts(
        [self._entry('a', '/c1', 'a', 'r'), self._entry('b', '/c1', 'b', 'r')],
        problems, earlier=[self._entry('c', '/c0', 'c', 'r0')])
    self.assertFalse(problems)

  def test_same_variable_twice(self):
    problems = _errors.Problems()
    _checks.check_conflicts(
        [self._entry('dense/w', '/ckpt/one', 'old/w', '/: /'),
         self._entry('dense/w', '/ckpt/two', 'w', 'w: dense/w')], problems)
    with self.assertRaisesRegex(
        warmstart.ConflictError,
        r"^Variable 'dense/w' is claimed twice: from /ckpt/one tensor 'old/w' "
        r"\(rule '/: /'\), and from /ckpt/two tensor 'w' \(rule 'w: dense/w'\)"
        r'\. Restrict one of the rules\.$'):
      problems.raise_if_any()

  def test_earlier_warm_start(self):
    problems = _errors.Problems()
    _checks.check_conflicts(
        [self._entry('dense/w', '/ckpt/two', 'w', 'w: dense/w')], problems,
        earlier=[self._entry('dense/w', '/ckpt/one', 'old/w', 'old/: dense/')])
    with self.assertRaisesRegex(
        warmstart.ConflictError,
        r"'dense/w' is claimed twice: from /ckpt/one tensor 'old/w' "
        r"\(rule 'old/: dense/'\) by an earlier warm start, and from "
        r"/ckpt/two tensor 'w'"):
      problems.raise_if_any()

  def test_skipped_entries_do_not_conflict(self):
    problems = _errors.Problems()
    _checks.check_conflicts(
        [self._entry('v', '/c1', 'v', 'r1', action=_plan.SKIP),
         self._entry('v', '/c2', 'v', 'r2')], problems)
    self.assertFalse(problems)

  def test_three_claims_are_two_problems(self):
    problems = _errors.Problems()
    _checks.check_conflicts(
        [self._entry('v', '/c1', 't1', 'r1'),
         self._entry('v', '/c2', 't2', 'r2'),
         self._entry('v', '/c3', 't3', 'r3')], problems)
    with self.assertRaisesRegex(
        warmstart.ConflictError,
        "2 problems(.|\n)*/c1 tensor 't1'(.|\n)*/c2 tensor 't2'(.|\n)*"
        "/c1 tensor 't1'(.|\n)*/c3 tensor 't3'"):
      problems.raise_if_any()


class SourcesOfTest(tf.test.TestCase):

  def test_one_source(self):
    self.assertEqual([('/ckpt', {'/': '/'})],
                     list(_planner.sources_of('/ckpt', {'/': '/'})))

  def test_list_of_sources(self):
    sources = [('/a', {'a/': 'x/'}), ['/b', [('b', 'y')]]]
    self.assertEqual([('/a', {'a/': 'x/'}), ('/b', [('b', 'y')])],
                     list(_planner.sources_of(sources, None)))
    self.assertEqual([('/a', {'a/': 'x/'})],
                     list(_planner.sources_of((('/a', {'a/': 'x/'}),), None)))

  def test_list_with_an_assignment_map(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'no assignment_map argument'):
      _planner.sources_of([('/a', {'/': '/'})], {'/': '/'})

  def test_list_of_non_pairs(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                r"pairs, got '/a'\."):
      _planner.sources_of(['/a'], None)
    with self.assertRaisesRegex(warmstart.SettingsError,
                                r"got \('/a', \{\}, 3\)"):
      _planner.sources_of([('/a', {}, 3)], None)

  def test_empty_list(self):
    with self.assertRaisesRegex(warmstart.SettingsError, 'list of sources is '
                                'empty'):
      _planner.sources_of([], None)

  def test_missing_assignment_map(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                "needs an assignment map.*'/ckpt/model'"):
      _planner.sources_of('/ckpt/model', None)


def _layers(scope, count, leaf='w'):
  """Variables SCOPE/layerNNN/LEAF for NNN < count."""
  for i in range(count):
    tf.compat.v1.get_variable('%s/layer%03d/%s' % (scope, i, leaf), [2])


class MovedScopeHintTest(tf.test.TestCase):

  def _hint(self, missing, held):
    checkpoint = _checkpoint.Checkpoint(
        prefix='/ckpt/model', origin='/ckpt/model',
        shapes={name: (1,) for name in held},
        dtypes={name: tf.float32 for name in held})
    # pylint: disable-next=protected-access
    return _checks._moved_scope_hint(missing, checkpoint)

  def test_scope_explaining_most(self):
    self.assertEqual(
        " The checkpoint holds 3 of the first 4 under 'old/' instead of "
        "'new/' (e.g. 'old/enc/a' for 'new/enc/a'): did you mean that scope?",
        self._hint(['new/enc/a', 'new/enc/b', 'new/enc/c', 'new/enc/zz'],
                   ['old/enc/a', 'old/enc/b', 'old/enc/c', 'old/head/w']))

  def test_root_scope(self):
    self.assertIn("under '/' instead of 'new/'",
                  self._hint(['new/a', 'new/b'], ['a', 'b']))

  def test_no_hint_below_half(self):
    self.assertEqual('', self._hint(
        ['new/a', 'new/b', 'new/c', 'new/d', 'new/e'], ['old/a', 'old/b']))

  def test_no_hint_without_any_match(self):
    self.assertEqual('', self._hint(['new/a', 'new/b'], ['old/x']))


class ManyMissingTensorsTest(tf.test.TestCase):
  """A wrong scope on a large model: one problem per rule, quickly."""

  _NUM = 300

  def setUp(self):
    super().setUp()
    self.prefix, _ = test_util.save_checkpoint(
        self.create_tempdir().full_path, lambda: _layers('old', self._NUM))

  def _graph(self, scope='new'):
    _layers(scope, self._NUM)

  def test_wrong_scope_is_one_problem_naming_the_right_scope(self):
    with tf.Graph().as_default() as g:
      self._graph()
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"^Rule 'new/: new/': 300 of the 300 tensors it needs are not in "
          r"checkpoint .*: 'new/layer000/w', 'new/layer001/w', .*\(295 more\) "
          r"\(for variables 'new/layer000/w', .*\)\. The checkpoint holds 50 "
          r"of the first 50 under 'old/' instead of 'new/' \(e\.g\. "
          r"'old/layer000/w' for 'new/layer000/w'\): did you mean that "
          r'scope\?$') as cm:
        _plan_maps([(self.prefix, {'new/': 'new/'})], _STRICT, g)
    self.assertLen(cm.exception.problems, 1)

  def test_part_of_a_scope_missing(self):
    with tf.Graph().as_default() as g:
      self._graph(scope='old')
      _layers('old/extra', 12)
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"^Rule 'old/: old/': 12 of the 312 tensors it needs are not in "
          r"checkpoint .*'old/extra/layer000/w'"):
        _plan_maps([(self.prefix, {'old/': 'old/'})], _STRICT, g)

  def test_a_few_missing_are_listed_one_by_one_with_suggestions(self):
    with tf.Graph().as_default() as g:
      self._graph(scope='old')
      _layers('old', 9, leaf='v')
      with self.assertRaises(warmstart.TensorNotFoundError) as cm:
        _plan_maps([(self.prefix, {'old/': 'old/'})], _STRICT, g)
    self.assertLen(cm.exception.problems, 9)
    self.assertRegex(
        cm.exception.problems[0],
        r"^Variable 'old/layer000/v' \(rule 'old/: old/'\): tensor "
        r"'old/layer000/v' is not in checkpoint .*\. Did you mean: "
        r"'old/layer000/w'")

  def test_suggestions_only_for_the_listed_problems(self):
    # One explicit name per rule: no grouping; past MAX_LISTED problems the
    # costly "Did you mean" search stops, every problem is still reported.
    with tf.Graph().as_default() as g:
      self._graph()
      assignment_map = {'new/layer%03d/w' % i: 'new/layer%03d/w' % i
                        for i in range(self._NUM)}
      with self.assertRaises(warmstart.TensorNotFoundError) as cm:
        _plan_maps([(self.prefix, assignment_map)], _STRICT, g)
    problems = cm.exception.problems
    self.assertLen(problems, self._NUM)
    self.assertIn("Did you mean: 'old/layer000/w'", problems[0])
    self.assertIn('Did you mean', problems[_errors.MAX_LISTED - 1])
    self.assertNotIn('Did you mean', problems[_errors.MAX_LISTED])
    self.assertIn("'new/layer299/w'", problems[-1])
    self.assertIn('... and %d more' % (self._NUM - _errors.MAX_LISTED),
                  str(cm.exception))

  def test_scope_hint_counts_each_missing_tensor_once(self):

    def build_two_copies():
      _layers('b', 12)
      _layers('a', 12)

    prefix, _ = test_util.save_checkpoint(self.create_tempdir().full_path,
                                          build_two_copies)
    with tf.Graph().as_default() as g:
      _layers('new', 12)
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"holds 12 of the first 12 under 'a/' instead of 'new/' \(e\.g\. "
          r"'a/layer000/w' for 'new/layer000/w'\)"):
        _plan_maps([(prefix, {'new/': 'new/'})], _STRICT, g)

  def test_no_scope_hint_without_a_common_scope(self):
    with tf.Graph().as_default() as g:
      for i in range(12):
        tf.compat.v1.get_variable('new/unrelated%02d' % i, [2])
      with self.assertRaises(warmstart.TensorNotFoundError) as cm:
        _plan_maps([(self.prefix, {'new/': 'new/'})], _STRICT, g)
    self.assertRegex(str(cm.exception),
                     r"^Rule 'new/: new/': 12 of the 12 tensors it needs")
    self.assertNotIn('did you mean that scope', str(cm.exception))

  def test_many_unknown_variable_names(self):
    with tf.Graph().as_default() as g:
      self._graph()
      assignment_map = {'old/layer%03d/w' % i: 'nwe/layer%03d/w' % i
                        for i in range(self._NUM)}
      with self.assertRaises(warmstart.VariableNotFoundError) as cm:
        _plan_maps([(self.prefix, assignment_map)], _STRICT, g)
    problems = cm.exception.problems
    self.assertLen(problems, self._NUM)
    self.assertRegex(problems[0], r"no variable 'nwe/layer000/w' .*Did you "
                     r"mean: 'new/layer000/w'")
    self.assertNotIn('Did you mean', problems[-1])
    self.assertIn("'nwe/layer299/w'", problems[-1])

  def test_settings_regex_groups_too(self):
    with tf.Graph().as_default():
      self._graph()
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"300 of the 300 tensors it needs .* under 'old/' instead of "
          r"'new/'") as cm:
        warmstart.make_settings_plan(
            warmstart.WarmStartSettings(self.prefix, 'new/.*'))
    self.assertLen(cm.exception.problems, 1)


class MakePlanTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.prefix_a, self.values_a = test_util.save_checkpoint(
        self.create_tempdir().full_path, _build_a)

    def build_b():
      tf.compat.v1.get_variable('head/w', [3, 1])

    self.prefix_b, _ = test_util.save_checkpoint(
        self.create_tempdir().full_path, build_b, seed=2)

  def _graph_b(self):
    tf.compat.v1.get_variable('enc/w', [2, 3])
    tf.compat.v1.get_variable('enc/b', [3])
    tf.compat.v1.get_variable('out/w', [3, 1])
    tf.compat.v1.get_variable('fresh', [2])
    tf.compat.v1.train.get_or_create_global_step()

  def test_two_sources(self):
    with tf.Graph().as_default() as g:
      self._graph_b()
      plan = _plan_maps(
          [(self.prefix_a, {'scope/': 'enc/'}),
           (self.prefix_b, {'head/w': 'out/w'})], _STRICT, g)
    self.assertEqual([('enc/w', 'scope/w', self.prefix_a),
                      ('enc/b', 'scope/b', self.prefix_a),
                      ('out/w', 'head/w', self.prefix_b)],
                     [(e.variable, e.tensor, e.source) for e in plan])
    self.assertEqual((self.prefix_a, self.prefix_b), plan.sources)
    self.assertEqual(5, plan.num_variables)
    self.assertEqual(3, plan.num_restored)
    self.assertIsNone(_plan_entry_or_none(plan, 'fresh'))
    self.assertIsNone(_plan_entry_or_none(plan, 'global_step'))
    self.assertEqual(['enc/w', 'enc/b', 'out/w'],
                     [_variables.var_name(e.target.parts[0]) for e in plan])

  def test_default_graph_and_directory_source(self):
    with tf.Graph().as_default():
      self._graph_b()
      plan = _plan_maps(
          [(os.path.dirname(self.prefix_a), {'scope/w': 'enc/w'})], _STRICT)
    self.assertEqual([('enc/w', self.prefix_a)],
                     [(e.variable, e.source) for e in plan])

  def test_two_sources_claiming_one_variable(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [3, 1])
      with self.assertRaisesRegex(
          warmstart.ConflictError,
          "'w' is claimed twice: from %s tensor 'head/w' \\(rule 'head/w: w'"
          "\\), and from %s tensor 'head/w' \\(rule 'head/: /'\\)" %
          (re.escape(self.prefix_b), re.escape(self.prefix_b))):
        _plan_maps([(self.prefix_b, {'head/w': 'w'}),
                            (self.prefix_b, {'head/': '/'})], _STRICT, g)

  def test_earlier_entries(self):
    with tf.Graph().as_default() as g:
      self._graph_b()
      first = _plan_maps([(self.prefix_b, {'head/w': 'out/w'})],
                                 _STRICT, g)
      with self.assertRaisesRegex(
          warmstart.ConflictError,
          "'out/w' is claimed twice: from %s tensor 'head/w' .*by an earlier "
          'warm start' % re.escape(self.prefix_b)):
        _plan_maps([(self.prefix_b, {'head/': 'out/'})], _STRICT, g,
                           earlier=first.entries)

  def test_every_problem_at_once(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('scope/w', [4, 4])      # shape mismatch
      tf.compat.v1.get_variable('scope/extra', [1])     # missing tensor
      tf.compat.v1.get_variable('ids', [4], dtype=tf.float32)  # dtype
      tf.compat.v1.get_variable('scope/b', [3])
      with self.assertRaisesRegex(
          warmstart.UnmatchedRuleError,
          "^6 problems with this warm start:\n"
          "  - Assignment map entry 'nope/: nothing/'.*\n"
          "  - Assignment map entry 'x: missing_var'.*'missing_var'.*\n"
          "  - Variable 'scope/w' .*shape \\(2, 3\\).*\\(4, 4\\).*\n"
          "  - Variable 'scope/extra' .*'scope/extra' is not in checkpoint.*\n"
          "  - Variable 'ids' .*dtype int64 in the checkpoint, float32.*\n"
          "  - Variable 'scope/b' is claimed twice.*$"):
        _plan_maps(
            [(self.prefix_a, [('scope/', 'scope/'), ('nope/', 'nothing/'),
                              ('ids', 'ids'), ('x', 'missing_var'),
                              ('scope/b', 'scope/b')])], _STRICT, g)

  def test_skips_in_the_plan(self):
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('scope/w', [4, 4])
      tf.compat.v1.get_variable('scope/extra', [1])
      tf.compat.v1.get_variable('scope/b', [3])
      with self.assertLogs('absl', level='WARNING') as logs:
        plan = _plan_maps(
            [(self.prefix_a, {'scope/': 'scope/'})],
            _options.Options(skip_missing=True, skip_mismatched=True), g)
    self.assertEqual(['scope/b'], [e.variable for e in plan.restored])
    self.assertEqual(['scope/w', 'scope/extra'],
                     [e.variable for e in plan.skipped])
    self.assertLen(logs.output, 2)
    self.assertIn('scope/w', logs.output[0])
    self.assertIn('scope/extra', logs.output[1])

  def test_allow_unmatched(self):
    with tf.Graph().as_default() as g:
      self._graph_b()
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError,
                                  "'nothing/'"):
        _plan_maps([(self.prefix_a, {'x/': 'nothing/'})], _STRICT, g)
      plan = _plan_maps([(self.prefix_a, {'x/': 'nothing/'})],
                                _options.Options(allow_unmatched=True), g)
    self.assertEmpty(plan.entries)

  def test_missing_checkpoint(self):
    missing = self.prefix_a + '-typo'
    with tf.Graph().as_default() as g:
      self._graph_b()
      with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                  re.escape(repr(missing))):
        _plan_maps([(missing, {'/': '/'})], _STRICT, g)

  def test_mirrored_variables(self):
    with tf.Graph().as_default() as g:
      strategy = tf.distribute.MirroredStrategy(_CPUS)
      with strategy.scope():
        tf.Variable(tf.zeros([2, 3]), name='scope/w')
        tf.compat.v1.get_variable('scope/b', [3])
      plan = _plan_maps([(self.prefix_a, {'scope/': 'scope/'})],
                                _STRICT, g)
    self.assertCountEqual(['scope/w', 'scope/b'], [e.variable for e in plan])
    for entry in plan:
      (part,) = entry.target.parts
      self.assertTrue(_tf_compat.is_distributed(part), entry.variable)


def _plan_entry_or_none(plan, variable):
  try:
    return plan.entry(variable)
  except KeyError:
    return None


if __name__ == '__main__':
  tf.test.main()
