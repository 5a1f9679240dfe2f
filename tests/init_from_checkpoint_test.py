"""End-to-end tests of warmstart.init_from_checkpoint, make_plan, apply_plan.

Each test saves a checkpoint from graph A, builds graph B in a fresh graph,
warm-starts it, runs the initializers and compares values; it also checks
that what the map does not select keeps its own initializer's value. TF's own
behaviour on the same inputs is pinned in `differential_test.py`.
"""

from __future__ import annotations

import json
import os
import re

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from warmstart import _errors
from tests import test_util

_ZEROS = tf.compat.v1.zeros_initializer()


def _const(value):
  return tf.compat.v1.constant_initializer(value)


# Initial values of the docstring target (what "unchanged" means).
_DOCSTRING_INITIAL = {
    'new_scope_1/var1': np.zeros([20, 2]),
    'new_scope_2/var2': np.zeros([50, 4]),
    'new_scope_2/var3': np.zeros([100, 100]),
    'other/keep': np.full([3], 3.0),
}


def _restore_ops(graph):
  return [op for op in graph.get_operations() if op.type == 'RestoreV2']


class InitFromCheckpointTest(tf.test.TestCase, parameterized.TestCase):

  def _dir(self):
    return self.create_tempdir().full_path

  def assertWarmStarted(self, got, ckpt, restored, initial):
    """Restored variables hold their tensor; all others their initial value."""
    for variable, tensor in restored.items():
      self.assertAllClose(ckpt[tensor], got[variable], msg=variable)
    for variable, value in initial.items():
      if variable not in restored:
        self.assertAllClose(value, got[variable], msg=variable)

  def test_variable_of_another_graph_is_refused_before_any_op(self):
    prefix, _ = test_util.save_checkpoint(self._dir(),
                                          test_util.build_tf_docstring_source)
    with tf.Graph().as_default():
      stranger = tf.compat.v1.get_variable('new_scope_1/var1', [20, 2])
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target()
      before = len(g.get_operations())
      for call in (warmstart.make_plan, warmstart.init_from_checkpoint):
        with self.assertRaisesRegex(
            warmstart.SettingsError,
            r"entry 'old_scope_1/var1: new_scope_1/var1:0'.*the variable "
            r"'new_scope_1/var1' belongs to another graph"):
          call(prefix, {'old_scope_1/var1': stranger})
      self.assertLen(g.get_operations(), before)

  def test_many_typos_give_a_short_message(self):
    # 1000 one-name entries, each with a typo, against 1000 alike tensors
    # (more than did-you-mean compares in full): the message lists
    # MAX_LISTED of them, each with its suggestion.
    names = ['layer_%d/kernel' % i for i in range(1000)]

    def build():
      for name in names:
        tf.compat.v1.get_variable(name, [2])

    prefix, _ = test_util.save_checkpoint(self._dir(), build)
    with tf.Graph().as_default():
      build()
      with self.assertRaises(warmstart.TensorNotFoundError) as caught:
        warmstart.make_plan(prefix, {n.replace('kernel', 'kernle'): n
                                     for n in names})
    message = str(caught.exception)
    # Counted with the checkpoint's path as a short name: the path of the
    # test's temporary directory (long under Bazel) is not the message's.
    self.assertLess(len(message.replace(prefix, '/m/model.ckpt')), 10000)
    self.assertLen(caught.exception.problems, 1000)
    self.assertIn("Did you mean: 'layer_0/kernel'", message)
    self.assertIn('... and %d more' % (1000 - _errors.MAX_LISTED), message)

  # --- Every assignment-map form of TF's docstring. -------------------------

  @parameterized.named_parameters(
      ('scope_to_scope', lambda v: {'old_scope_1/': 'new_scope_1/'},
       {'new_scope_1/var1': 'old_scope_1/var1'}),
      # TF defect 1: TF drops a character and raises 'not found'.
      ('scope_value_without_slash', lambda v: {'old_scope_1/': 'new_scope_1'},
       {'new_scope_1/var1': 'old_scope_1/var1'}),
      ('names', lambda v: {
          'old_scope_1/var1': 'new_scope_1/var1',
          'old_scope_1/var2': 'new_scope_2/var2'
      }, {
          'new_scope_1/var1': 'old_scope_1/var1',
          'new_scope_2/var2': 'old_scope_1/var2'
      }),
      ('name_with_output_suffix', lambda v: {
          'old_scope_1/var1': 'new_scope_1/var1:0'
      }, {'new_scope_1/var1': 'old_scope_1/var1'}),
      ('variable_objects', lambda v: {
          'old_scope_1/var1': v['var1'],
          'old_scope_1/var2': v['var2']
      }, {
          'new_scope_1/var1': 'old_scope_1/var1',
          'new_scope_2/var2': 'old_scope_1/var2'
      }),
      ('partitioned_by_name',
       lambda v: {'old_scope_2/var3': 'new_scope_2/var3'},
       {'new_scope_2/var3': 'old_scope_2/var3'}),
      ('list_of_parts', lambda v: {'old_scope_2/var3': list(v['var3'])},
       {'new_scope_2/var3': 'old_scope_2/var3'}),
      # TF defect 2: TF raises TypeError for a PartitionedVariable value.
      ('partitioned_variable_object', lambda v: {'old_scope_2/var3': v['var3']},
       {'new_scope_2/var3': 'old_scope_2/var3'}),
      ('list_of_pairs', lambda v: [('old_scope_1/var1', 'new_scope_1/var1'),
                                   ('old_scope_2/var3', v['var3'])], {
                                       'new_scope_1/var1': 'old_scope_1/var1',
                                       'new_scope_2/var3': 'old_scope_2/var3'
                                   }),
  )
  def test_docstring_example_form(self, make_map, restored):
    prefix, ckpt = test_util.save_checkpoint(self._dir(),
                                             test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      variables = test_util.build_tf_docstring_target(unmapped=True)
      plan = warmstart.init_from_checkpoint(prefix, make_map(variables))
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt, restored, _DOCSTRING_INITIAL)
    self.assertCountEqual(restored, [e.variable for e in plan.entries])
    for entry in plan.entries:
      self.assertEqual(restored[entry.variable], entry.tensor)
      self.assertEqual(prefix, entry.source)
    # One batched read, plus one streamed chunk per part of a partitioned
    # variable read from a tensor stored whole (each byte read once).
    reads = test_util.checkpoint_reads(g)
    streamed = sum(len(e.slices) for e in plan.entries if len(e.slices) > 1)
    self.assertLen([op for op in reads if op.type != 'RestoreV2'], streamed)
    self.assertLen(_restore_ops(g), 1 if len(plan.entries) > bool(streamed)
                   else 0)

  def test_docstring_example_all_calls_in_sequence(self):
    # The docstring's calls each claim other variables when run one at a time;
    # run the disjoint ones one after the other on one graph.
    prefix, ckpt = test_util.save_checkpoint(self._dir(),
                                             test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      v = test_util.build_tf_docstring_target(unmapped=True)
      warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'new_scope_1/'})
      warmstart.init_from_checkpoint(prefix, {'old_scope_1/var2': v['var2']})
      warmstart.init_from_checkpoint(prefix,
                                     {'old_scope_2/var3': list(v['var3'])})
      got = test_util.initialize(g)
    self.assertWarmStarted(
        got, ckpt, {
            'new_scope_1/var1': 'old_scope_1/var1',
            'new_scope_2/var2': 'old_scope_1/var2',
            'new_scope_2/var3': 'old_scope_2/var3',
        }, _DOCSTRING_INITIAL)
    for i in range(5):
      self.assertAllClose(ckpt['old_scope_2/var3'][20 * i:20 * (i + 1)],
                          got['new_scope_2/var3/part_%d' % i])

  def test_root_to_scope(self):

    def build_a():
      tf.compat.v1.get_variable('w', [3, 2])
      tf.compat.v1.get_variable('sub/b', [2])

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('student/w', [3, 2], initializer=_const(7.0))
      tf.compat.v1.get_variable('student/sub/b', [2], initializer=_const(7.0))
      tf.compat.v1.get_variable('teacher/w', [3, 2], initializer=_const(5.0))
      plan = warmstart.init_from_checkpoint(prefix, {'/': 'student/'})
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt, {
        'student/w': 'w',
        'student/sub/b': 'sub/b'
    }, {'teacher/w': np.full([3, 2], 5.0)})
    self.assertEqual(2, plan.num_restored)

  @test_util.requires_graph_keras
  def test_root_to_root_includes_tf_variable_and_keras_layer(self):
    # TF defect 3: TF's '/': '/' only sees get_variable's store and leaves
    # `foo` and the Keras layer at their initializers.

    def build_a():
      tf.compat.v1.get_variable('g', [4])
      tf.Variable(tf.random.normal([2, 2]), name='foo')
      dense = tf.keras.layers.Dense(
          2, name='dense', bias_initializer='random_normal')
      dense(tf.zeros([1, 3]))

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('g', [4], initializer=_ZEROS)
      tf.Variable(tf.zeros([2, 2]), name='foo')
      dense = tf.keras.layers.Dense(
          2, name='dense', kernel_initializer='ones', bias_initializer='ones')
      dense(tf.zeros([1, 3]))
      plan = warmstart.init_from_checkpoint(prefix, {'/': '/'})
      got = test_util.initialize(g)
    names = ['g', 'foo', 'dense/kernel', 'dense/bias']
    self.assertWarmStarted(got, ckpt, {n: n for n in names}, {})
    self.assertCountEqual(names, [e.variable for e in plan.entries])
    for name in ('foo', 'dense/bias'):  # Not vacuous: they had other values.
      self.assertNotAllClose(np.zeros_like(ckpt[name]), ckpt[name])
      self.assertNotAllClose(np.ones_like(ckpt[name]), ckpt[name])

  @test_util.requires_graph_keras
  def test_tf_variable_and_keras_variables_by_name_and_object(self):

    def build_a():
      tf.Variable(tf.random.normal([2]), name='foo')
      tf.keras.layers.Dense(2, name='dense')(tf.zeros([1, 3]))

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    with tf.Graph().as_default() as g:
      foo = tf.Variable(tf.zeros([2]), name='bar')
      dense = tf.keras.layers.Dense(
          2, name='head', kernel_initializer='ones', bias_initializer='ones')
      dense(tf.zeros([1, 3]))
      warmstart.init_from_checkpoint(prefix, {
          'foo': 'bar',
          'dense/kernel': dense.kernel
      })
      got = test_util.initialize(g)
    del foo
    self.assertWarmStarted(got, ckpt, {
        'bar': 'foo',
        'head/kernel': 'dense/kernel'
    }, {'head/bias': np.ones([2])})

  def test_one_tensor_into_two_variables(self):
    prefix, ckpt = test_util.save_checkpoint(self._dir(),
                                             test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)
      copy = tf.compat.v1.get_variable(
          'copy/var1', [20, 2], initializer=_const(1.0))
      plan = warmstart.init_from_checkpoint(
          prefix, [('old_scope_1/var1', 'new_scope_1/var1'),
                   ('old_scope_1/var1', copy)])
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt, {
        'new_scope_1/var1': 'old_scope_1/var1',
        'copy/var1': 'old_scope_1/var1'
    }, _DOCSTRING_INITIAL)
    self.assertEqual(2, plan.num_restored)
    [restore] = _restore_ops(g)
    # The tensor is read once for both variables (and counted once).
    names = restore.inputs[1].op.get_attr('value').string_val
    self.assertEqual(1, list(names).count(b'old_scope_1/var1'), names)
    self.assertEqual(
        [20 * 2 * 4, 0],
        [plan.entry(v).read_bytes for v in ('new_scope_1/var1', 'copy/var1')])

  def test_one_tensor_into_two_partitioned_variables_is_streamed_once(self):
    prefix, ckpt = test_util.save_checkpoint(
        self._dir(), lambda: tf.compat.v1.get_variable('w', [12, 3]))
    with tf.Graph().as_default() as g:
      for name, parts in (('a', 3), ('b', 4)):
        tf.compat.v1.get_variable(
            name, [12, 3], initializer=_const(1.0),
            partitioner=tf.compat.v1.fixed_size_partitioner(parts))
      plan = warmstart.init_from_checkpoint(prefix, [('w', 'a'), ('w', 'b')])
      got = test_util.initialize(g)
    self.assertAllEqual(ckpt['w'], got['a'])
    self.assertAllEqual(ckpt['w'], got['b'])
    reads = test_util.checkpoint_reads(g)
    # One stream: chunks cut at both variables' part bounds (0 3 4 6 8 9).
    self.assertLen(reads, 6)
    self.assertEqual([12 * 3 * 4, 0],
                     [plan.entry(v).read_bytes for v in ('a', 'b')])

  def test_single_part_object_restores_only_its_slice(self):
    prefix, ckpt = test_util.save_checkpoint(self._dir(),
                                             test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      v = test_util.build_tf_docstring_target(unmapped=True)
      part1 = list(v['var3'])[1]
      warmstart.init_from_checkpoint(prefix, {'old_scope_2/var3': part1})
      got = test_util.initialize(g)
    self.assertAllClose(ckpt['old_scope_2/var3'][20:40],
                        got['new_scope_2/var3/part_1'])
    for i in (0, 2, 3, 4):
      self.assertAllClose(np.zeros([20, 100]),
                          got['new_scope_2/var3/part_%d' % i])

  # --- Regression tests of TF's defects 4, 5, 6: errors at the call. --------

  def test_shape_mismatch_under_scope_map_raises_at_call(self):
    # TF defect 4: TF checks no shape under a scope map; the session fails.
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      var1 = tf.compat.v1.get_variable(
          'new_scope_1/var1', [20, 3], initializer=_ZEROS)
      initializer = var1.initializer
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"'new_scope_1/var1'.*'old_scope_1/var1'.*shape \(20, 2\) in the "
          r'checkpoint, \(20, 3\) in the graph'):
        warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'new_scope_1/'})
      self.assertEmpty(_restore_ops(g))
      self.assertIs(initializer, var1.initializer)
      got = test_util.initialize(g)
    self.assertAllClose(np.zeros([20, 3]), got['new_scope_1/var1'])

  def test_dtype_mismatch_raises_at_call(self):
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable(
          'new_scope_1/var1', [20, 2], dtype=tf.float64, initializer=_ZEROS)
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"'new_scope_1/var1'.*dtype float32 in the checkpoint, float64 in "
          r'the graph'):
        warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'new_scope_1/'})
      self.assertEmpty(_restore_ops(g))

  def test_scope_map_matching_nothing_raises(self):
    # TF defect 5: TF silently restores nothing.
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(
          warmstart.UnmatchedRuleError,
          r"'old_scope_1/: new_scope1/'.*no variable of the graph is under "
          r"scope 'new_scope1/'.* Did you mean: 'new_scope_1/'"):
        warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'new_scope1/'})
      self.assertEmpty(_restore_ops(g))

  def test_empty_map_raises_in_every_entry_point(self):
    # TF restores nothing and reports success.
    prefix, _ = test_util.save_checkpoint(
        self._dir(), test_util.build_tf_docstring_source)
    empty = r"The assignment map is empty: it selects no variable \(source "
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError, empty):
        warmstart.init_from_checkpoint(prefix, {})
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError, empty):
        warmstart.make_plan(prefix, [])
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError, empty):
        warmstart.apply_settings(
            warmstart.WarmStartSettings(prefix, assignment_map={}))
      self.assertEmpty(_restore_ops(g))

  def test_allow_unmatched(self):
    prefix, ckpt = test_util.save_checkpoint(self._dir(),
                                             test_util.build_tf_docstring_source)
    assignment_map = {
        'old_scope_1/': 'nowhere/',
        'old_scope_1/var1': 'new_scope_1/var1'
    }
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError, "'nowhere/'"):
        warmstart.init_from_checkpoint(prefix, assignment_map)
      plan = warmstart.init_from_checkpoint(
          prefix, assignment_map, allow_unmatched=True)
      got = test_util.initialize(g)
    self.assertEqual(['new_scope_1/var1'], [e.variable for e in plan.entries])
    self.assertWarmStarted(got, ckpt, {'new_scope_1/var1': 'old_scope_1/var1'},
                           _DOCSTRING_INITIAL)

  def test_two_calls_claiming_one_variable_raise_conflict(self):
    prefix1, ckpt1 = test_util.save_checkpoint(
        self._dir(), test_util.build_tf_docstring_source, seed=1)
    prefix2, _ = test_util.save_checkpoint(
        self._dir(), test_util.build_tf_docstring_source, seed=2)
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)
      warmstart.init_from_checkpoint(prefix1, {'old_scope_1/': 'new_scope_1/'})
      with self.assertRaisesRegex(
          warmstart.ConflictError,
          r"'new_scope_1/var1' is claimed twice: from %s tensor "
          r"'old_scope_1/var1' .*by an earlier warm start, and from %s tensor "
          r"'old_scope_1/var1'" % (re.escape(prefix1), re.escape(prefix2))):
        warmstart.init_from_checkpoint(prefix2,
                                       {'old_scope_1/var1': 'new_scope_1/var1'})
      self.assertLen(_restore_ops(g), 1)  # Only the first call's.
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt1, {'new_scope_1/var1': 'old_scope_1/var1'},
                           _DOCSTRING_INITIAL)

  def test_two_rules_of_one_map_claiming_one_variable_raise_conflict(self):
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(
          warmstart.ConflictError,
          r"'new_scope_1/var1' is claimed twice.*rule 'old_scope_1/var1: "
          r"new_scope_1/var1'.*rule 'old_scope_1/: new_scope_1/'"):
        warmstart.init_from_checkpoint(
            prefix, [('old_scope_1/var1', 'new_scope_1/var1'),
                     ('old_scope_1/', 'new_scope_1/')])
      self.assertEmpty(_restore_ops(g))

  def test_missing_variable_names_it_and_suggests(self):
    # TF defect 6: TF names no close match.
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(
          warmstart.VariableNotFoundError,
          r"the graph has no variable 'new_scope_1/varr1'.* Did you mean: "
          r"'new_scope_1/var1'"):
        warmstart.init_from_checkpoint(
            prefix, {'old_scope_1/var1': 'new_scope_1/varr1'})

  def test_missing_tensor_names_it_and_suggests(self):
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"'new_scope_1/var1'.*tensor 'old_scope_1/vr1' is not in checkpoint "
          r"%s.* Did you mean: 'old_scope_1/var1'" % re.escape(prefix)):
        warmstart.init_from_checkpoint(prefix,
                                       {'old_scope_1/vr1': 'new_scope_1/var1'})
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"tensor 'old_scope_3/var1' is not in checkpoint"):
        warmstart.init_from_checkpoint(prefix, {'old_scope_3/': 'new_scope_1/'})

  def test_missing_checkpoint_names_it_and_suggests(self):
    directory = self._dir()
    test_util.save_checkpoint(directory, test_util.build_tf_docstring_source, global_step=1)
    missing = os.path.join(directory, 'model.ckpt-2')
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(
          warmstart.CheckpointNotFoundError,
          r"No checkpoint at %s.* Did you mean: 'model.ckpt-1'" %
          re.escape(repr(missing))):
        warmstart.init_from_checkpoint(missing, {'/': '/'})
      empty = self._dir()
      with self.assertRaisesRegex(warmstart.CheckpointNotFoundError,
                                  r'Directory %s holds no checkpoint' %
                                  re.escape(repr(empty))):
        warmstart.init_from_checkpoint(empty, {'/': '/'})

  def test_every_problem_is_reported_at_once(self):
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('new_scope_1/var1', [20, 3])
      tf.compat.v1.get_variable('new_scope_1/var9', [2])
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"(?s)2 problems.*'new_scope_1/var1'.*shape.*'old_scope_1/var9' is "
          r'not in checkpoint'):
        warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'new_scope_1/'})

  def test_errors_are_value_errors_like_tf(self):
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(ValueError, 'nowhere/'):
        warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'nowhere/'})

  # --- skip_missing, skip_mismatched. --------------------------------------

  def _skip_source(self):

    def build_a():
      tf.compat.v1.get_variable('old/a', [2])
      tf.compat.v1.get_variable('old/c', [3])

    return test_util.save_checkpoint(self._dir(), build_a)

  def _skip_target(self):
    tf.compat.v1.get_variable('new/a', [2], initializer=_const(7.0))
    tf.compat.v1.get_variable('new/b', [2], initializer=_const(7.0))
    tf.compat.v1.get_variable('new/c', [4], initializer=_const(7.0))

  def test_skip_missing_and_mismatched(self):
    prefix, ckpt = self._skip_source()
    with tf.Graph().as_default() as g:
      self._skip_target()
      with self.assertRaisesRegex(warmstart.TensorNotFoundError,
                                  r"'new/b'.*'old/b' is not in checkpoint"):
        warmstart.init_from_checkpoint(prefix, {'old/': 'new/'})
      # skip_missing alone does not skip the mismatched shape.
      with self.assertRaisesRegex(warmstart.MismatchError,
                                  r"'new/c'.*shape \(3,\).*\(4,\)"):
        warmstart.init_from_checkpoint(prefix, {'old/': 'new/'},
                                       skip_missing=True)
      with self.assertRaisesRegex(warmstart.TensorNotFoundError, "'new/b'"):
        warmstart.init_from_checkpoint(prefix, {'old/': 'new/'},
                                       skip_mismatched=True)
      self.assertEmpty(_restore_ops(g))
      with self.assertLogs('absl', level='WARNING') as logs:
        plan = warmstart.init_from_checkpoint(
            prefix, {'old/': 'new/'},
            options=warmstart.Options(skip_missing=True),
            skip_mismatched=True)
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt, {'new/a': 'old/a'}, {
        'new/b': np.full([2], 7.0),
        'new/c': np.full([4], 7.0)
    })
    log = '\n'.join(logs.output)
    self.assertRegex(log, r"Not warm-starting new/b: tensor 'old/b' is not in")
    self.assertRegex(log, r"Not warm-starting new/c: tensor 'old/c' has shape")
    self.assertEqual(['new/a'], [e.variable for e in plan.restored])
    self.assertCountEqual(['new/b', 'new/c'],
                          [e.variable for e in plan.skipped])
    self.assertRegex(plan.entry('new/b').reason, "'old/b' is not in")
    self.assertRegex(plan.entry('new/c').reason, r'shape \(3,\)')

  def test_skipped_variable_can_be_claimed_by_a_later_call(self):
    prefix, ckpt = self._skip_source()
    with tf.Graph().as_default() as g:
      self._skip_target()
      warmstart.init_from_checkpoint(prefix, {'old/': 'new/'},
                                     skip_missing=True, skip_mismatched=True)
      warmstart.init_from_checkpoint(prefix, {'old/a': 'new/b'})
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt, {'new/a': 'old/a', 'new/b': 'old/a'},
                           {'new/c': np.full([4], 7.0)})

  # --- Several checkpoints into one model. ----------------------------------

  def _two_sources(self):

    def build_1():
      tf.compat.v1.get_variable('enc/w', [3, 2])
      tf.compat.v1.get_variable('enc/b', [2])

    def build_2():
      tf.compat.v1.get_variable('enc/w', [3, 2])
      tf.compat.v1.get_variable('dec/w', [2, 4])

    return (test_util.save_checkpoint(self._dir(), build_1, seed=1),
            test_util.save_checkpoint(self._dir(), build_2, seed=2))

  def _two_sources_target(self):
    tf.compat.v1.get_variable('enc/w', [3, 2], initializer=_const(7.0))
    tf.compat.v1.get_variable('enc/b', [2], initializer=_const(7.0))
    tf.compat.v1.get_variable('dec/w', [2, 4], initializer=_const(7.0))
    tf.compat.v1.get_variable('head/w', [4], initializer=_const(5.0))

  @parameterized.named_parameters(('repeated_calls', False),
                                  ('list_of_sources', True))
  def test_several_checkpoints(self, as_list):
    (prefix1, ckpt1), (prefix2, ckpt2) = self._two_sources()
    with tf.Graph().as_default() as g:
      self._two_sources_target()
      if as_list:
        plans = [warmstart.init_from_checkpoint([(prefix1, {'enc/': 'enc/'}),
                                                 (prefix2, {'dec/': 'dec/'})])]
      else:
        plans = [
            warmstart.init_from_checkpoint(prefix1, {'enc/': 'enc/'}),
            warmstart.init_from_checkpoint(prefix2, {'dec/': 'dec/'})
        ]
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt1, {'enc/w': 'enc/w', 'enc/b': 'enc/b'}, {})
    self.assertWarmStarted(got, ckpt2, {'dec/w': 'dec/w'},
                           {'head/w': np.full([4], 5.0)})
    self.assertNotAllClose(ckpt1['enc/w'], ckpt2['enc/w'])
    self.assertEqual((prefix1, prefix2),
                     sum((p.sources for p in plans), ()))
    self.assertLen(_restore_ops(g), 2)  # One per source.

  def test_conflict_across_list_of_sources(self):
    (prefix1, ckpt1), (prefix2, _) = self._two_sources()
    with tf.Graph().as_default() as g:
      self._two_sources_target()
      with self.assertRaisesRegex(
          warmstart.ConflictError,
          r"'enc/w' is claimed twice: from %s tensor 'enc/w' \(rule 'enc/: "
          r"enc/'\), and from %s tensor 'enc/w' \(rule 'enc/w: enc/w'\)" %
          (re.escape(prefix1), re.escape(prefix2))):
        warmstart.init_from_checkpoint([(prefix1, {'enc/': 'enc/'}),
                                        (prefix2, {'enc/w': 'enc/w'})])
      self.assertEmpty(_restore_ops(g))
      # Nothing was applied: the same variables can still be warm-started.
      warmstart.init_from_checkpoint(prefix1, {'enc/': 'enc/'})
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt1, {'enc/w': 'enc/w', 'enc/b': 'enc/b'},
                           {'dec/w': np.full([2, 4], 7.0)})

  def test_list_of_sources_with_a_map_argument_raises(self):
    (prefix1, _), _ = self._two_sources()
    with tf.Graph().as_default():
      self._two_sources_target()
      with self.assertRaisesRegex(warmstart.SettingsError,
                                  r'give each its own assignment map'):
        warmstart.init_from_checkpoint([(prefix1, {'enc/': 'enc/'})],
                                       {'enc/': 'enc/'})

  # --- Sources: SavedModel, directory pinning. ------------------------------

  def test_saved_model_directory(self):
    export_dir = os.path.join(self._dir(), 'export')
    with tf.Graph().as_default():
      tf.compat.v1.set_random_seed(3)
      w = tf.compat.v1.get_variable('w', [3, 2])
      b = tf.compat.v1.get_variable('b', [2], initializer=_const(2.5))
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        ckpt = sess.run({'w': w, 'b': b})
        builder = tf.compat.v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(
            sess, [tf.compat.v1.saved_model.tag_constants.SERVING])
        builder.save()
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('model/w', [3, 2], initializer=_ZEROS)
      tf.compat.v1.get_variable('model/b', [2], initializer=_ZEROS)
      tf.compat.v1.get_variable('other', [2], initializer=_const(7.0))
      plan = warmstart.init_from_checkpoint(export_dir, {'/': 'model/'})
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt, {'model/w': 'w', 'model/b': 'b'},
                           {'other': np.full([2], 7.0)})
    self.assertEqual((os.path.join(export_dir, 'variables', 'variables'),),
                     plan.sources)

  def test_directory_is_pinned_when_the_plan_is_built(self):
    directory = self._dir()

    def build_a():
      tf.compat.v1.get_variable('w', [3, 2])

    prefix1, ckpt1 = test_util.save_checkpoint(
        directory, build_a, global_step=1, seed=1)
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [3, 2], initializer=_ZEROS)
      plan = warmstart.init_from_checkpoint(directory, {'/': '/'})
      # A trainer writes a newer checkpoint before the session starts.
      prefix2, ckpt2 = test_util.save_checkpoint(
          directory, build_a, global_step=2, seed=2)
      self.assertEqual(prefix2, tf.train.latest_checkpoint(directory))
      got = test_util.initialize(g)
    self.assertNotAllClose(ckpt1['w'], ckpt2['w'])
    self.assertAllClose(ckpt1['w'], got['w'])
    self.assertEqual((prefix1,), plan.sources)

  # --- The returned Plan; make_plan then apply_plan. ------------------------

  def test_returned_plan(self):
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target(unmapped=True)
      plan = warmstart.init_from_checkpoint(prefix, {
          'old_scope_1/var1': 'new_scope_1/var1',
          'old_scope_2/var3': 'new_scope_2/var3',
      })
    self.assertIsInstance(plan, warmstart.Plan)
    self.assertEqual(len(_DOCSTRING_INITIAL), plan.num_variables)
    self.assertEqual(2, plan.num_restored)
    self.assertEqual(0, plan.num_skipped)
    self.assertEqual((prefix,), plan.sources)
    var3 = plan.entry('new_scope_2/var3')
    self.assertEqual('old_scope_2/var3', var3.tensor)
    self.assertEqual((100, 100), var3.shape)
    self.assertEqual('float32', var3.dtype)
    self.assertLen(var3.slices, 5)
    self.assertEqual('old_scope_2/var3: new_scope_2/var3', var3.rule)
    self.assertEqual(('',), plan.entry('new_scope_1/var1').slices)
    text = str(plan)
    for entry in plan.entries:
      self.assertIn(entry.variable, text)
      self.assertIn(entry.tensor, text)
    self.assertIn('in 5 parts', text)
    self.assertIn(
        'Warm-started 2 of %d variables from %s; 2 start cold; 1 checkpoint '
        'tensor unused.' % (len(_DOCSTRING_INITIAL), prefix), text)
    self.assertIn('Start cold (their own initializer): new_scope_2/var2, '
                  'other/keep', text)
    self.assertIn('Checkpoint tensors no variable reads: old_scope_1/var2',
                  text)
    data = json.loads(plan.to_json())
    self.assertEqual(2, data['num_restored'])
    self.assertEqual([prefix], data['sources'])
    self.assertEqual(['new_scope_1/var1', 'new_scope_2/var3'],
                     [e['variable'] for e in data['entries']])
    self.assertEqual(plan, warmstart.Plan.from_json(plan.to_json()))

  def test_make_plan_is_a_dry_run_and_apply_plan_applies_it(self):
    prefix, ckpt = test_util.save_checkpoint(self._dir(),
                                             test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      v = test_util.build_tf_docstring_target(unmapped=True)
      initializer = v['var1'].initializer
      num_ops = len(g.get_operations())
      plan = warmstart.make_plan(prefix, {'old_scope_1/': 'new_scope_1/'})
      self.assertLen(g.get_operations(), num_ops)
      self.assertIs(initializer, v['var1'].initializer)
      self.assertEqual(['new_scope_1/var1'], [e.variable for e in plan])
    # apply_plan into an explicit graph, from outside its context.
    warmstart.apply_plan(plan, graph=g)
    self.assertLen(_restore_ops(g), 1)
    self.assertIsNot(initializer, v['var1'].initializer)
    got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt, {'new_scope_1/var1': 'old_scope_1/var1'},
                           _DOCSTRING_INITIAL)

  def test_make_plan_sees_earlier_warm_starts(self):
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)
      warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'new_scope_1/'})
    with self.assertRaisesRegex(warmstart.ConflictError, "'new_scope_1/var1'"):
      warmstart.make_plan(prefix, {'old_scope_1/var1': 'new_scope_1/var1'},
                          graph=g)

  def test_options_object_and_keywords(self):
    prefix, _ = test_util.save_checkpoint(self._dir(), test_util.build_tf_docstring_source)
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target(unmapped=True)
      with self.assertRaisesRegex(warmstart.SettingsError,
                                  r'skip_mising.*Did you mean.*skip_missing'):
        warmstart.init_from_checkpoint(prefix, {'/': '/'}, skip_mising=True)
      with self.assertRaisesRegex(warmstart.SettingsError,
                                  r'needs an assignment map'):
        warmstart.init_from_checkpoint(prefix)

  # --- Where the call is made. -----------------------------------------------

  def test_called_under_control_dependencies(self):
    # The initializers must not wait for ops of the training step (TF's do:
    # see differential_test).
    prefix, ckpt = test_util.save_checkpoint(self._dir(),
                                             test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)
      step_input = tf.compat.v1.placeholder(tf.float32, [], name='step_input')
      with tf.control_dependencies([step_input]):
        warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'new_scope_1/'})
      got = test_util.initialize(g)  # Feeds nothing.
    self.assertWarmStarted(got, ckpt, {'new_scope_1/var1': 'old_scope_1/var1'},
                           _DOCSTRING_INITIAL)

  def test_called_inside_a_cond_branch(self):
    prefix, ckpt = test_util.save_checkpoint(self._dir(),
                                             test_util.build_tf_docstring_source)
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target(unmapped=True)

      def branch():
        warmstart.init_from_checkpoint(prefix, {'old_scope_1/': 'new_scope_1/'})
        return tf.constant(1)

      tf.cond(tf.compat.v1.placeholder(tf.bool, []), branch,
              lambda: tf.constant(0))
      self.assertLen(_restore_ops(g), 1)  # In the graph, not the branch.
      got = test_util.initialize(g)
    self.assertWarmStarted(got, ckpt, {'new_scope_1/var1': 'old_scope_1/var1'},
                           _DOCSTRING_INITIAL)

  # --- Optimizer slots. -------------------------------------------------------

  def _optimizer_source(self):

    def build_a():
      tf.compat.v1.get_variable('model/w', [3])

    return test_util.save_checkpoint(self._dir(), build_a)

  def test_optimizer_slots_made_after_the_warm_start_are_untouched(self):
    prefix, ckpt = self._optimizer_source()
    with tf.Graph().as_default() as g:
      w = tf.compat.v1.get_variable('model/w', [3], initializer=_const(7.0))
      global_step = tf.compat.v1.train.get_or_create_global_step()
      plan = warmstart.init_from_checkpoint(prefix, {'model/': 'model/'})
      tf.compat.v1.train.AdamOptimizer(beta1=0.8).minimize(
          tf.reduce_sum(w * w), global_step=global_step)
      got = test_util.initialize(g)
    self.assertEqual(['model/w'], [e.variable for e in plan.entries])
    self.assertWarmStarted(got, ckpt, {'model/w': 'model/w'}, {
        'model/w/Adam': np.zeros([3]),
        'model/w/Adam_1': np.zeros([3]),
        'beta1_power': 0.8,
        'beta2_power': 0.999,
        'global_step': 0,
    })

  def test_optimizer_slots_made_before_are_selected_by_a_scope_map(self):
    prefix, ckpt = self._optimizer_source()
    with tf.Graph().as_default() as g:
      w = tf.compat.v1.get_variable('model/w', [3], initializer=_const(7.0))
      tf.compat.v1.train.AdamOptimizer().minimize(tf.reduce_sum(w * w))
      # Like TF: the slots are under model/ too, and not in the checkpoint.
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"(?s)2 problems.*'model/w/Adam' is not in checkpoint.*"
          r"'model/w/Adam_1' is not in checkpoint"):
        warmstart.init_from_checkpoint(prefix, {'model/': 'model/'})
      plan = warmstart.init_from_checkpoint(prefix, {'model/': 'model/'},
                                            skip_missing=True)
      got = test_util.initialize(g)
    self.assertCountEqual(['model/w/Adam', 'model/w/Adam_1'],
                          [e.variable for e in plan.skipped])
    self.assertWarmStarted(got, ckpt, {'model/w': 'model/w'}, {
        'model/w/Adam': np.zeros([3]),
        'model/w/Adam_1': np.zeros([3]),
    })

  # --- global_step. ---------------------------------------------------------

  def test_global_step_only_restored_when_named(self):

    def build_a():
      tf.compat.v1.get_variable('w', [2])
      tf.compat.v1.get_variable(
          'global_step', [], dtype=tf.int64, initializer=_const(42),
          trainable=False,
          collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                       tf.compat.v1.GraphKeys.GLOBAL_STEP])

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    self.assertEqual(42, ckpt['global_step'])
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [2], initializer=_ZEROS)
      tf.compat.v1.train.get_or_create_global_step()
      plan = warmstart.init_from_checkpoint(prefix, {'/': '/'})
      got = test_util.initialize(g)
    self.assertEqual(['w'], [e.variable for e in plan.entries])
    self.assertAllClose(ckpt['w'], got['w'])
    self.assertEqual(0, got['global_step'])
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [2], initializer=_ZEROS)
      tf.compat.v1.train.get_or_create_global_step()
      warmstart.init_from_checkpoint(prefix, {'global_step': 'global_step'})
      got = test_util.initialize(g)
    self.assertEqual(42, got['global_step'])
    self.assertAllClose(np.zeros([2]), got['w'])

  def test_scope_maps_leave_local_variables_alone(self):
    # A Saver checkpoint never holds local variables (metrics, counters): a
    # root map over a graph with metrics must not ask the checkpoint for them.
    prefix, ckpt = test_util.save_checkpoint(
        self._dir(), lambda: tf.compat.v1.get_variable('w', [2]))
    with tf.Graph().as_default() as g:
      w = tf.compat.v1.get_variable('w', [2], initializer=_ZEROS)
      tf.compat.v1.metrics.mean(w)
      plan = warmstart.init_from_checkpoint(prefix, {'/': '/'})
      got = test_util.initialize(g)
    self.assertEqual(['w'], [e.variable for e in plan.entries])
    self.assertAllClose(ckpt['w'], got['w'])
    self.assertAllClose(0.0, got['mean/total'])
    self.assertAllClose(0.0, got['mean/count'])

  def test_local_variable_restored_when_named(self):
    prefix, ckpt = test_util.save_checkpoint(
        self._dir(), lambda: tf.compat.v1.get_variable('w', [2]))
    with tf.Graph().as_default() as g:
      local = tf.compat.v1.get_variable(
          'local_w', [2], initializer=_ZEROS,
          collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError,
                                  r"no variable of the graph is under scope"):
        warmstart.init_from_checkpoint(prefix, {'/': '/'})
      warmstart.init_from_checkpoint(prefix, {'w': 'local_w'})
      got = test_util.initialize(g)
    self.assertAllClose(ckpt['w'], got[local.op.name])

  # --- The Scaffold path. ---------------------------------------------------

  def _scaffold_source(self):

    def build_a():
      tf.compat.v1.get_variable('w', [3, 2])

    return test_util.save_checkpoint(self._dir(), build_a)

  def _scaffold_target(self):
    w = tf.compat.v1.get_variable('w', [3, 2], initializer=_const(7.0))
    b = tf.compat.v1.get_variable('b', [2], initializer=_const(7.0))
    tf.compat.v1.train.get_or_create_global_step()
    return w, b

  def _monitored_run(self, checkpoint_dir, fetches):
    with tf.compat.v1.train.MonitoredTrainingSession(
        checkpoint_dir=checkpoint_dir, save_summaries_steps=None,
        save_summaries_secs=None, log_step_count_steps=None) as sess:
      return sess.run(fetches)

  def test_monitored_training_session_on_a_fresh_dir_warm_starts(self):
    prefix, ckpt = self._scaffold_source()
    checkpoint_dir = self._dir()
    with tf.Graph().as_default():
      w, b = self._scaffold_target()
      warmstart.init_from_checkpoint(prefix, {'w': 'w'})
      got_w, got_b = self._monitored_run(checkpoint_dir, [w, b])
    self.assertAllClose(ckpt['w'], got_w)
    self.assertAllClose(np.full([2], 7.0), got_b)
    # The session's own checkpoint now holds the warm-started value.
    self.assertAllClose(ckpt['w'], tf.train.load_variable(checkpoint_dir, 'w'))

  def test_monitored_training_session_restoring_its_own_checkpoint(self):
    # On a restart MonitoredSession restores checkpoint_dir and runs no init
    # op: the warm start (an initializer) does not apply, by design.
    prefix, ckpt = self._scaffold_source()
    checkpoint_dir = self._dir()
    with tf.Graph().as_default():
      w, b = self._scaffold_target()
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run([w.assign(tf.fill([3, 2], 9.0)), b.assign([9.0, 9.0])])
        tf.compat.v1.train.Saver().save(
            sess, os.path.join(checkpoint_dir, 'model.ckpt'), global_step=5)
    with tf.Graph().as_default():
      w, b = self._scaffold_target()
      plan = warmstart.init_from_checkpoint(prefix, {'w': 'w'})
      got_w, got_b = self._monitored_run(checkpoint_dir, [w, b])
      # The warm start is installed: running the initializer would load it.
      with tf.compat.v1.Session() as sess:
        sess.run(w.initializer)
        initialized_w = sess.run(w)
    self.assertEqual(1, plan.num_restored)
    self.assertAllClose(ckpt['w'], initialized_w)
    self.assertAllClose(np.full([3, 2], 9.0), got_w)
    self.assertAllClose(np.full([2], 9.0), got_b)

  def test_exporting_the_meta_graph_does_not_warn(self):
    # Estimator and MonitoredSession export the meta graph at every save: the
    # warm start's bookkeeping must not make TF warn about it.
    prefix, _ = self._scaffold_source()
    with tf.Graph().as_default():
      self._scaffold_target()
      warmstart.init_from_checkpoint(prefix, {'w': 'w'})
      with self.assertNoLogs('tensorflow', level='WARNING'):
        tf.compat.v1.train.export_meta_graph()


if __name__ == '__main__':
  tf.test.main()
