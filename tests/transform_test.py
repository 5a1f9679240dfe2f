"""Tests of per-tensor transforms in assignment maps (`warmstart.Transform`).

Graph A is saved; graph B is warm-started through transforms; every value
is compared with numpy's (`np.transpose`, `reshape`, slicing, `np.split`,
`np.concatenate`) bit for bit, partitioned targets too; what no entry
restores keeps its own initial value. Every error is raised when the plan
is made, before any op, naming the entry, the op and the shapes.
"""

from __future__ import annotations

import json
import os
import re

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart as ws
from tests import test_util
from warmstart import _map_syntax


def _build_a():
  """The source: a fused qkv [8, 12], split q/k/v [8, 4], a [out, in]
  weight, a long position table, an attention output."""
  get = tf.compat.v1.get_variable
  get('old/attn/qkv/kernel', [8, 12])
  for name in ('q', 'k', 'v'):
    get('old/%s/kernel' % name, [8, 4])
  get('pt/dense/weight', [5, 3])
  get('old/pos_emb', [20, 6])
  get('old/attn/out', [8, 12])
  get('other/w', [3])


_ZERO = tf.compat.v1.zeros_initializer()


def _partitioned(name, shape, parts):
  return tf.compat.v1.get_variable(
      name, shape, initializer=_ZERO,
      partitioner=tf.compat.v1.fixed_size_partitioner(parts))


class _SourceTestCase(parameterized.TestCase, tf.test.TestCase):
  """Graph A saved once per test class: `prefix` and its values `ckpt`."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.prefix, cls.ckpt = test_util.save_checkpoint(
        os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__),
        _build_a)


class TransformTest(_SourceTestCase):

  def run_b(self, build, assignment_map, **options):
    return test_util.run_graph(
        build, lambda: ws.init_from_checkpoint(self.prefix, assignment_map,
                                               **options))

  def test_transpose(self):
    got, plan = self.run_b(
        lambda: tf.compat.v1.get_variable('tf/dense/kernel', [3, 5]),
        {'pt/dense/weight': ws.Transform('tf/dense/kernel',
                                         ws.transpose([1, 0]))})
    np.testing.assert_array_equal(
        np.transpose(self.ckpt['pt/dense/weight'], [1, 0]),
        got['tf/dense/kernel'])
    entry = plan.entry('tf/dense/kernel')
    self.assertEqual('transform', entry.action)
    self.assertEqual('transpose [1, 0]', entry.reason)
    self.assertIn('transpose [1, 0]', str(plan))
    self.assertNotIn('pt/dense/weight',
                     [u.tensor for u in plan.unused_tensors])

  @parameterized.parameters(1, 2)
  def test_split_a_fused_tensor_into_three_partitioned_or_not(self, parts):
    def build():
      for name in ('q', 'k', 'v'):
        _partitioned('new/%s/kernel' % name, [8, 4], parts)

    got, plan = self.run_b(build, {
        'old/attn/qkv/kernel': ws.Transform(
            ['new/q/kernel', 'new/k/kernel', 'new/v/kernel'],
            ws.split(axis=1))})
    expected = np.split(self.ckpt['old/attn/qkv/kernel'], 3, axis=1)
    for name, value in zip('qkv', expected):
      np.testing.assert_array_equal(value, got['new/%s/kernel' % name])
    self.assertEqual('split axis 1 -> 3 (part 2)',
                     plan.entry('new/v/kernel').reason)

  def test_a_split_tensor_is_read_once(self):
    with tf.Graph().as_default() as graph:
      for name in ('q', 'k', 'v'):
        tf.compat.v1.get_variable('new/%s/kernel' % name, [8, 4])
      ws.init_from_checkpoint(self.prefix, {
          'old/attn/qkv/kernel': ws.Transform(
              ['new/q/kernel', 'new/k/kernel', 'new/v/kernel'],
              ws.split(axis=1))})
      reads = [op for op in graph.get_operations() if op.type == 'RestoreV2']
    self.assertLen(reads, 1)
    self.assertEqual([b'old/attn/qkv/kernel'],
                     list(reads[0].inputs[1].op.get_attr('value').string_val))

  def test_split_with_sizes(self):
    def build():
      tf.compat.v1.get_variable('a', [8, 2])
      tf.compat.v1.get_variable('b', [8, 10])

    got, _ = self.run_b(build, {'old/attn/qkv/kernel': ws.Transform(
        ['a', 'b'], ws.split(axis=1, sizes=[2, 10]))})
    a, b = np.split(self.ckpt['old/attn/qkv/kernel'], [2], axis=1)
    np.testing.assert_array_equal(a, got['a'])
    np.testing.assert_array_equal(b, got['b'])

  def test_concat_three_into_one_partitioned(self):
    got, plan = self.run_b(
        lambda: _partitioned('new/qkv/kernel', [8, 12], 3),
        {('old/q/kernel', 'old/k/kernel', 'old/v/kernel'): ws.Transform(
            'new/qkv/kernel', ws.concat(axis=1))})
    expected = np.concatenate([self.ckpt['old/%s/kernel' % n]
                               for n in 'qkv'], axis=1)
    np.testing.assert_array_equal(expected, got['new/qkv/kernel'])
    unused = [u.tensor for u in plan.unused_tensors]
    for name in 'qkv':
      self.assertNotIn('old/%s/kernel' % name, unused)

  def test_take_rows(self):
    got, _ = self.run_b(
        lambda: tf.compat.v1.get_variable('new/pos_emb', [12, 6]),
        {'old/pos_emb': ws.Transform('new/pos_emb', ws.take(0, 12))})
    np.testing.assert_array_equal(self.ckpt['old/pos_emb'][:12],
                                  got['new/pos_emb'])
    got, _ = self.run_b(
        lambda: tf.compat.v1.get_variable('cols', [20, 2]),
        {'old/pos_emb': ws.Transform('cols', ws.take(4, None, axis=1))})
    np.testing.assert_array_equal(self.ckpt['old/pos_emb'][:, 4:],
                                  got['cols'])

  def test_chain_reshape_then_transpose(self):
    got, plan = self.run_b(
        lambda: _partitioned('new/attn/out', [12, 2, 4], 2),
        {'old/attn/out': ws.Transform('new/attn/out', ws.reshape([2, 4, 12]),
                                      ws.transpose([2, 0, 1]))})
    expected = np.transpose(
        np.reshape(self.ckpt['old/attn/out'], [2, 4, 12]), [2, 0, 1])
    np.testing.assert_array_equal(expected, got['new/attn/out'])
    self.assertEqual('reshape [2, 4, 12]; transpose [2, 0, 1]',
                     plan.entry('new/attn/out').reason)

  def test_cast_after_the_transform(self):
    got, plan = self.run_b(
        lambda: tf.compat.v1.get_variable('k', [3, 5], tf.bfloat16),
        {'pt/dense/weight': ws.Transform('k', ws.transpose([1, 0]))},
        cast=True)
    np.testing.assert_array_equal(
        tf.cast(self.ckpt['pt/dense/weight'].T, tf.bfloat16).numpy(),
        got['k'])
    self.assertEqual('transpose [1, 0]; cast float32 -> bfloat16',
                     plan.entry('k').reason)

  @parameterized.parameters(1, 2)
  def test_resize_after_the_transform(self, parts):
    init = tf.compat.v1.constant_initializer(7.0)

    def build():
      tf.compat.v1.get_variable(
          'k', [4, 6], initializer=init,
          partitioner=tf.compat.v1.fixed_size_partitioner(parts))

    got, plan = self.run_b(
        build, {'pt/dense/weight': ws.Transform('k', ws.transpose([1, 0]))},
        resize=True)
    expected = np.full([4, 6], 7.0, np.float32)
    expected[:3, :5] = self.ckpt['pt/dense/weight'].T
    np.testing.assert_array_equal(expected, got['k'])
    self.assertEqual('transpose [1, 0]; resize [3, 5] -> [4, 6]',
                     plan.entry('k').reason)

  def test_in_warm_start_settings_and_with_other_entries(self):
    def build():
      tf.compat.v1.get_variable('tf/dense/kernel', [3, 5])
      tf.compat.v1.get_variable('other/w', [3])
      tf.compat.v1.get_variable('cold', [2], initializer=_ZERO)

    settings = ws.WarmStartSettings(self.prefix, assignment_map={
        'pt/dense/weight': ws.Transform('tf/dense/kernel',
                                        ws.transpose([1, 0])),
        'other/': 'other/'})
    # Also under warm_start_scope, compared bit for bit: a transformed
    # variable restored whole gets a stand-in like any other.
    run = test_util.run_graph(build, settings=settings)
    got, plan = run
    self.assertIn('tf/dense/kernel', run.stand_ins)
    self.assertNotIn('cold', run.stand_ins)
    np.testing.assert_array_equal(self.ckpt['pt/dense/weight'].T,
                                  got['tf/dense/kernel'])
    np.testing.assert_array_equal(self.ckpt['other/w'], got['other/w'])
    np.testing.assert_array_equal([0.0, 0.0], got['cold'])
    self.assertEqual(('cold',), plan.cold_variables)

  def test_split_into_partitioned_targets_under_the_scope(self):
    def build():
      for name in ('q', 'k', 'v'):
        _partitioned('new/%s/kernel' % name, [8, 4], 2)

    run = test_util.run_graph(build, settings=ws.WarmStartSettings(
        self.prefix, assignment_map={'old/attn/qkv/kernel': ws.Transform(
            ['new/q/kernel', 'new/k/kernel', 'new/v/kernel'],
            ws.split(axis=1))}))
    expected = np.split(self.ckpt['old/attn/qkv/kernel'], 3, axis=1)
    for name, value in zip('qkv', expected):
      np.testing.assert_array_equal(value, run.values['new/%s/kernel' % name])
    self.assertLen([s for s in run.stand_ins if '/kernel/part_' in s], 6)

  def test_variable_objects_as_targets(self):
    def warm():
      kernel = [v for v in tf.compat.v1.global_variables()
                if v.op.name == 'tf/dense/kernel'][0]
      return ws.init_from_checkpoint(self.prefix, {
          'pt/dense/weight': ws.Transform(kernel, ws.transpose([1, 0]))})

    got, _ = test_util.run_graph(
        lambda: tf.compat.v1.get_variable('tf/dense/kernel', [3, 5]), warm)
    np.testing.assert_array_equal(self.ckpt['pt/dense/weight'].T,
                                  got['tf/dense/kernel'])


class TransformErrorsTest(_SourceTestCase):

  def plan(self, build, assignment_map, **options):
    with tf.Graph().as_default() as graph:
      build()
      try:
        return ws.init_from_checkpoint(self.prefix, assignment_map, **options)
      finally:
        self.assertEqual(
            [], [op for op in graph.get_operations()
                 if op.type in ('RestoreV2', 'AssignVariableOp', 'Assign')
                 and op.name.startswith('checkpoint_initializer')])

  @parameterized.named_parameters(
      ('perm_of_another_rank', [3, 5], ws.transpose([0, 1, 2]),
       r'transpose \[0, 1, 2\] is no permutation of the 2 axes of \[5, 3\]'),
      ('reshape_of_another_size', [3, 5], ws.reshape([4, 4]),
       r'reshape \[4, 4\] holds 16 elements, \[5, 3\] holds 15'),
      ('take_past_the_end', [3, 3], ws.take(3, 6),
       r'take 3:6 axis 0 needs 0 <= start < stop <= 5'),
      ('result_of_another_shape', [5, 3], ws.transpose([1, 0]),
       r'transpose \[1, 0\] gives shape \[3, 5\], the variable has \(5, 3\) '
       r'\(resize=True restores the overlapping block\)'),
  )
  def test_misfit_names_the_entry_the_op_and_the_shapes(self, shape, op,
                                                          message):
    with self.assertRaisesRegex(
        ws.MismatchError,
        r"Variable 'k' \(rule 'pt/dense/weight: k, .*'\): .*" + message):
      self.plan(lambda: tf.compat.v1.get_variable('k', shape),
                {'pt/dense/weight': ws.Transform('k', op)})

  def test_a_split_that_does_not_divide(self):
    def build():
      for name in 'abcde':
        tf.compat.v1.get_variable(name, [8, 2])

    with self.assertRaisesRegex(
        ws.MismatchError,
        r'split axis 1: 12 along axis 1 of \[8, 12\] does not divide into 5 '
        r'equal parts'):
      self.plan(build, {'old/attn/qkv/kernel': ws.Transform(
          ['a', 'b', 'c', 'd', 'e'], ws.split(axis=1))})

  def test_every_problem_at_once_and_skip_mismatched(self):
    def build():
      tf.compat.v1.get_variable('k', [5, 3])
      tf.compat.v1.get_variable('p', [99, 6])

    assignment_map = {
        'pt/dense/weight': ws.Transform('k', ws.transpose([1, 0])),
        'old/pos_emb': ws.Transform('p', ws.take(0, 99)),
        'nope': ws.Transform('k', ws.transpose([1, 0])),
    }
    with self.assertRaisesRegex(
        ws.Error, r"3 problems(.|\n)*'k'(.|\n)*take 0:99(.|\n)*'nope'"):
      self.plan(build, assignment_map)
    plan = self.plan(build, {k: v for k, v in assignment_map.items()
                             if k != 'nope'}, skip_mismatched=True)
    self.assertEqual(['k', 'p'], [e.variable for e in plan.skipped])

  def test_missing_tensor_of_a_concat(self):
    with self.assertRaisesRegex(
        ws.TensorNotFoundError,
        r"Variable 'qkv' .*: tensor 'old/x/kernel' not in checkpoint"):
      self.plan(lambda: tf.compat.v1.get_variable('qkv', [8, 12]),
                {('old/q/kernel', 'old/x/kernel', 'old/v/kernel'):
                 ws.Transform('qkv', ws.concat(axis=1))})

  @parameterized.named_parameters(
      ('split_not_last', lambda: ws.Transform(['a', 'b'], ws.split(1),
                                              ws.transpose([1, 0])),
       ws.SettingsError, 'split must be the last op'),
      ('concat_not_first', lambda: ws.Transform('a', ws.transpose([1, 0]),
                                                ws.concat(1)),
       ws.SettingsError, 'concat must be the first op'),
      ('split_one_target', lambda: ws.Transform('a', ws.split(1)),
       ws.SettingsError, 'split needs a list of targets'),
      ('not_an_op', lambda: ws.Transform('a', np.transpose),
       ws.SettingsError, 'op 0 must be one of warmstart.transpose'),
      ('perm_of_strings', lambda: ws.transpose('10'), ws.SettingsError,
       "transpose perm must be a list of ints, got '10'"),
      ('take_float', lambda: ws.take(0.5), ws.SettingsError,
       'take start must be an int, got 0.5'),
  )
  def test_malformed_transforms(self, make, error, message):
    with self.assertRaisesRegex(error, message):
      make()

  def test_concat_needs_a_tuple_key_and_a_tuple_key_needs_concat(self):
    build = lambda: tf.compat.v1.get_variable('qkv', [8, 12])
    with self.assertRaisesRegex(TypeError, 'the key must be a tuple'):
      self.plan(build, {'old/q/kernel': ws.Transform('qkv', ws.concat(1))})
    with self.assertRaisesRegex(TypeError,
                                'must be a Transform whose first op is'):
      self.plan(build, {('old/q/kernel', 'old/k/kernel'): ws.Transform(
          'qkv', ws.transpose([1, 0]))})


class SpellingTest(_SourceTestCase):
  """The string spelling flags and the command line share."""

  def test_flags_warm_start_through_transforms(self):
    from absl import flags  # pylint: disable=g-import-not-at-top
    values = flags.FlagValues()
    ws.flags.define_flags(values)
    values([
        'prog', '--warm_start_from=' + self.prefix,
        '--warm_start_map=pt/dense/weight=tk|transpose([1, 0])',
        '--warm_start_map=old/attn/qkv/kernel=q,k,v|split(axis=1)',
        '--warm_start_map=old/q/kernel+old/k/kernel=qk|concat(axis=1)',
        '--warm_start_map=old/attn/out=o|reshape([2, 4, 12])|'
        'transpose([2, 0, 1])',
        '--warm_start_map=old/pos_emb=p|take(0, 12)'])
    (settings,) = ws.flags.settings_from_flags(values)

    def build():
      get = tf.compat.v1.get_variable
      get('tk', [3, 5])
      for name in 'qkv':
        get(name, [8, 4])
      get('qk', [8, 8])
      get('o', [12, 2, 4])
      get('p', [12, 6])

    got, _ = test_util.run_graph(build, settings=settings)
    ckpt = self.ckpt
    np.testing.assert_array_equal(ckpt['pt/dense/weight'].T, got['tk'])
    for name, value in zip('qkv', np.split(ckpt['old/attn/qkv/kernel'], 3,
                                           axis=1)):
      np.testing.assert_array_equal(value, got[name])
    np.testing.assert_array_equal(np.concatenate(
        [ckpt['old/q/kernel'], ckpt['old/k/kernel']], axis=1), got['qk'])
    np.testing.assert_array_equal(np.transpose(np.reshape(
        ckpt['old/attn/out'], [2, 4, 12]), [2, 0, 1]), got['o'])
    np.testing.assert_array_equal(ckpt['old/pos_emb'][:12], got['p'])

  @parameterized.named_parameters(
      ('unknown_op', 'x=y|transpos([1, 0])',
       r"unknown op 'transpos'\. Did you mean: 'transpose'"),
      ('code', 'x=y|take(__import__("os"))',
       'op arguments are numbers, None or lists of numbers'),
      ('no_call', 'x=y|transpose', "'transpose' is no op"),
      ('plus_without_concat', 'a+b=y|transpose([1, 0])',
       'its first op must be concat'),
      ('comma_without_split', 'x=a,b|transpose([1, 0])',
       'only a last split'),
      ('bad_argument', 'x=y|split(axis=1, parts=3)',
       r"split\(\.\.\.\): .*parts"),
      ('split_not_last', 'x=a,b|split(1)|transpose([1, 0])',
       'split must be the last op'),
  )
  def test_spelling_errors_name_the_entry(self, entry, message):
    with self.assertRaisesRegex(ValueError,
                                r'Map entry %s.*%s' % (re.escape(repr(entry)),
                                                       message)):
      ws.flags.parse_map_entry(entry)

  def test_a_json_map_file_for_flags_and_the_command_line(self):
    from absl import flags  # pylint: disable=g-import-not-at-top
    from warmstart import _cli  # pylint: disable=g-import-not-at-top
    path = os.path.join(self.create_tempdir().full_path, 'map.json')
    with open(path, 'w') as f:
      json.dump(['pt/dense/weight=tk|transpose([1, 0])',
                 {'key': 'old/attn/qkv/kernel', 'value': ['q', 'k', 'v'],
                  'ops': ['split(axis=1)']},
                 {'key': ['old/q/kernel', 'old/k/kernel'], 'value': 'qk',
                  'ops': ['concat(axis=1)'], 'source': 0}], f)
    values = flags.FlagValues()
    ws.flags.define_flags(values)
    values(['prog', '--warm_start_from=' + self.prefix,
            '--warm_start_map_file=' + path])
    (settings,) = ws.flags.settings_from_flags(values)

    def build():
      tf.compat.v1.get_variable('tk', [3, 5])
      for name in 'qkv':
        tf.compat.v1.get_variable(name, [8, 4])
      tf.compat.v1.get_variable('qk', [8, 8])

    got, _ = test_util.run_graph(build, settings=settings)
    np.testing.assert_array_equal(self.ckpt['pt/dense/weight'].T, got['tk'])
    np.testing.assert_array_equal(
        np.split(self.ckpt['old/attn/qkv/kernel'], 3, axis=1)[1], got['k'])
    np.testing.assert_array_equal(np.concatenate(
        [self.ckpt['old/q/kernel'], self.ckpt['old/k/kernel']], axis=1),
                                  got['qk'])
    output = os.path.join(self.create_tempdir().full_path, 'out')
    self.assertEqual(0, _cli.main(['merge', self.prefix, '-o', output,
                                   '--map_file', path]))
    np.testing.assert_array_equal(self.ckpt['pt/dense/weight'].T,
                                  tf.train.load_variable(output, 'tk'))

  def test_malformed_map_files_name_the_file_and_the_entry(self):
    directory = self.create_tempdir().full_path
    cases = [
        ('{"not": "a list"}', r'must hold a JSON list of map entries, got a '
         'dict'),
        ('[1, 2', r'is not a JSON list of map entries'),
        ('[{"key": "a"}]', r'entry 0: an object entry has "key" and "value"'),
        ('["a=b", {"key": "a", "value": "b", "ops": "split(1)"}]',
         r'entry 1: "ops" is a list of op strings'),
        ('["a=b|transpos([1, 0])"]', r"entry 0: Map entry .*unknown op"),
        ('[{"key": "a", "value": "b", "source": -1}]',
         r'entry 0: "source" is a source index'),
    ]
    for i, (text, message) in enumerate(cases):
      path = os.path.join(directory, 'map%d.json' % i)
      with open(path, 'w') as f:
        f.write(text)
      with self.assertRaisesRegex(ValueError,
                                  'Map file %s.*%s' % (re.escape(path),
                                                       message)):
        _map_syntax.read_map_file(path)
    with self.assertRaisesRegex(ValueError, 'cannot be read'):
      _map_syntax.read_map_file(os.path.join(directory, 'missing.json'))

  def test_cli_merge_writes_the_transformed_tensors(self):
    from warmstart import _cli  # pylint: disable=g-import-not-at-top
    output = os.path.join(self.create_tempdir().full_path, 'out')
    status = _cli.main(['merge', self.prefix, '-o', output,
                        '--map', 'pt/dense/weight=tf/k|transpose([1, 0])',
                        '--map', 'old/attn/qkv/kernel=q,k,v|split(axis=1)'])
    self.assertEqual(0, status)
    np.testing.assert_array_equal(
        self.ckpt['pt/dense/weight'].T, tf.train.load_variable(output, 'tf/k'))
    np.testing.assert_array_equal(
        np.split(self.ckpt['old/attn/qkv/kernel'], 3, axis=1)[2],
        tf.train.load_variable(output, 'v'))


def _bert_fused():
  """A BERT-like attention layer with a fused QKV projection."""
  get = tf.compat.v1.get_variable
  get('layer/attention/qkv/kernel', [8, 24])
  get('layer/attention/qkv/bias', [24])
  get('layer/attention/output/kernel', [8, 8])


def _bert_split():
  """The same layer with separate q, k and v projections."""
  get = tf.compat.v1.get_variable
  for name in 'qkv':
    get('layer/attention/%s/kernel' % name, [8, 8])
    get('layer/attention/%s/bias' % name, [8])
  get('layer/attention/output/kernel', [8, 8])


def _per_head():
  """The target: per-head projections (hidden, heads, head_dim), as
  EinsumDense keeps them, and the output per head (heads, head_dim, out)."""
  get = tf.compat.v1.get_variable
  for name in 'qkv':
    get('bert/%s/kernel' % name, [8, 2, 4])
    get('bert/%s/bias' % name, [2, 4])
  get('bert/output/kernel', [2, 4, 8])


class BertLayerTest(tf.test.TestCase):
  """A BERT-like layer warm-started from a fused and from a split
  checkpoint, each compared with a numpy rebuild."""

  def test_from_fused_and_from_split(self):
    base = os.path.join(tf.compat.v1.test.get_temp_dir(), 'BertLayerTest')
    fused_prefix, fused = test_util.save_checkpoint(
        os.path.join(base, 'fused'), _bert_fused)
    # The split checkpoint holds the same weights, split.
    split = {}
    for name, kernel, bias in zip(
        'qkv', np.split(fused['layer/attention/qkv/kernel'], 3, axis=1),
        np.split(fused['layer/attention/qkv/bias'], 3)):
      split['layer/attention/%s/kernel' % name] = kernel
      split['layer/attention/%s/bias' % name] = bias
    split['layer/attention/output/kernel'] = fused[
        'layer/attention/output/kernel']
    with tf.Graph().as_default():
      _bert_split()
      variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
      with tf.compat.v1.Session() as sess:
        for name, value in split.items():
          variables[name].load(value, sess)
        split_prefix = tf.compat.v1.train.Saver().save(
            sess, os.path.join(base, 'split', 'model.ckpt'))

    targets = ['bert/q/%s', 'bert/k/%s', 'bert/v/%s']
    from_fused = {
        'layer/attention/qkv/kernel': ws.Transform(
            [t % 'kernel' for t in targets], ws.reshape([8, 6, 4]),
            ws.split(axis=1)),
        'layer/attention/qkv/bias': ws.Transform(
            [t % 'bias' for t in targets], ws.reshape([6, 4]),
            ws.split(axis=0)),
        'layer/attention/output/kernel': ws.Transform(
            'bert/output/kernel', ws.reshape([2, 4, 8])),
    }
    from_split = {'layer/attention/output/kernel': ws.Transform(
        'bert/output/kernel', ws.reshape([2, 4, 8]))}
    for name in 'qkv':
      from_split['layer/attention/%s/kernel' % name] = ws.Transform(
          'bert/%s/kernel' % name, ws.reshape([8, 2, 4]))
      from_split['layer/attention/%s/bias' % name] = ws.Transform(
          'bert/%s/bias' % name, ws.reshape([2, 4]))

    got_fused, plan = test_util.run_graph(
        _per_head, lambda: ws.init_from_checkpoint(fused_prefix, from_fused))
    self.assertEqual((), plan.cold_variables)
    self.assertEqual((), plan.unused_tensors)
    got_split, _ = test_util.run_graph(
        _per_head, lambda: ws.init_from_checkpoint(split_prefix, from_split))
    # The numpy rebuild, from the fused weights.
    qkv = fused['layer/attention/qkv/kernel']
    bias = fused['layer/attention/qkv/bias']
    for i, name in enumerate('qkv'):
      kernel = qkv[:, 8 * i:8 * (i + 1)].reshape(8, 2, 4)
      head_bias = bias[8 * i:8 * (i + 1)].reshape(2, 4)
      for got in (got_fused, got_split):
        np.testing.assert_array_equal(kernel, got['bert/%s/kernel' % name])
        np.testing.assert_array_equal(head_bias, got['bert/%s/bias' % name])
    for got in (got_fused, got_split):
      np.testing.assert_array_equal(
          fused['layer/attention/output/kernel'].reshape(2, 4, 8),
          got['bert/output/kernel'])
    # The layer computes the same attention scores as the fused one.
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(3, 8)
    q_fused = x @ qkv[:, :8] + bias[:8]
    q_heads = np.einsum('bh,hnd->bnd', x, got_fused['bert/q/kernel']) + (
        got_fused['bert/q/bias'])
    np.testing.assert_allclose(q_fused.reshape(3, 2, 4), q_heads, atol=1e-6)


if __name__ == '__main__':
  tf.test.main()
