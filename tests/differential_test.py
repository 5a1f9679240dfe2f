"""Differential tests: warmstart against TF's `init_from_checkpoint`.

Where TF is correct (scope values with a trailing slash, `get_variable`
variables only), generated models and maps are warm-started twice, once by
each implementation, and every variable must come out bit for bit the same,
including the ones the map leaves to their random initializers.

Where TF is wrong, a test asserts TF's actual behaviour (so a TF fix is
noticed) next to warmstart doing the right thing.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Optional

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util

_NUM_CASES = 36
_SCOPES = ('enc', 'dec', 'head', 'enc/layer0', 'enc/layer1', 'emb', 'x_1')
_DTYPES = (tf.float32, tf.float32, tf.float64)


@dataclasses.dataclass
class _Var:
  name: str
  shape: list[int]
  dtype: tf.DType
  parts: Optional[int]  # None: a whole variable.


@dataclasses.dataclass
class _Case:
  """A generated target graph, its source checkpoint and assignment map."""

  target: list[_Var]
  source: list[_Var]
  make_map: Callable[[dict[str, Any]], Any]
  expected: dict[str, str]  # Target variable -> checkpoint tensor.
  description: str


def _random_var(rng, name):
  rank = int(rng.integers(1, 4))
  shape = [int(d) for d in rng.integers(1, 6, size=rank)]
  parts = None
  if rng.random() < 0.35:
    shape[0] = int(rng.integers(2, 7))
    parts = int(rng.integers(2, shape[0] + 1))
  return _Var(name, shape, _DTYPES[int(rng.integers(len(_DTYPES)))], parts)


def _saved_parts(rng, var):
  """How the source checkpoint partitions a variable: maybe differently."""
  if var.shape[0] < 2 or rng.random() < 0.5:
    return var.parts if rng.random() < 0.5 else None
  return int(rng.integers(2, var.shape[0] + 1))


def _generate(seed):
  """Builds one random case in the forms where TF is correct."""
  rng = np.random.default_rng(seed)
  target = []
  for scope in rng.permutation(_SCOPES)[:int(rng.integers(2, 5))]:
    for i in range(int(rng.integers(1, 4))):
      target.append(_random_var(rng, '%s/v%d' % (scope, i)))
  for i in range(int(rng.integers(0, 3))):
    target.append(_random_var(rng, 'top%d' % i))
  by_name = {v.name: v for v in target}
  claimed: dict[str, str] = {}
  rules = []  # (key, value kind, value) in map order.
  source_names = iter('src%d/' % i for i in range(100))

  if rng.random() < 0.1:  # '/': '/' claims everything.
    rules.append(('/', 'name', '/'))
    claimed.update({v.name: v.name for v in target})
  else:
    scopes = sorted({v.name.rsplit('/', 1)[0] for v in target if '/' in v.name})
    for scope in rng.permutation(scopes)[:int(rng.integers(0, 3))]:
      members = [v.name for v in target if v.name.startswith(scope + '/')]
      if any(m in claimed for m in members):
        continue
      if rng.random() < 0.3:
        rules.append(('/', 'name', scope + '/'))
        prefix = ''
      else:
        prefix = next(source_names)
        rules.append((prefix, 'name', scope + '/'))
      claimed.update({m: prefix + m[len(scope) + 1:] for m in members})
      if not prefix:
        break  # One rule from the root: its tensor names are unprefixed.
    free = [v.name for v in target if v.name not in claimed]
    for name in rng.permutation(free)[:int(rng.integers(0, len(free) + 1))]:
      if any(name.startswith(s) for _, _, s in rules if s.endswith('/')):
        continue
      tensor = next(source_names) + 'renamed_' + name.replace('/', '_')
      kind = ('name', 'object')[int(rng.integers(2))]
      rules.append((tensor, kind, name))
      claimed[name] = tensor

  source = []
  for name, tensor in claimed.items():
    var = by_name[name]
    source.append(_Var(tensor, var.shape, var.dtype, _saved_parts(rng, var)))
  source.append(_random_var(rng, 'unused/noise'))

  as_dict = bool(rng.random() < 0.5)

  def make_map(variables):
    assignment_map = []
    for key, kind, value in rules:
      if kind == 'object':  # The variable, or the list of its parts.
        obj = variables[value]
        value = list(obj) if by_name[value].parts else obj
      assignment_map.append((key, value))
    return dict(assignment_map) if as_dict else assignment_map

  description = 'seed %d: map %r over %s' % (
      seed, [(k, v) for k, _, v in rules],
      ['%s%s%s' % (v.name, v.shape, '/%d' % v.parts if v.parts else '')
       for v in target])
  return _Case(target, source, make_map, dict(claimed), description)


def _build(variables, initializer=None):
  made = {}
  for var in variables:
    partitioner = None
    if var.parts:
      partitioner = tf.compat.v1.fixed_size_partitioner(var.parts)
    made[var.name] = tf.compat.v1.get_variable(
        var.name, var.shape, dtype=var.dtype, initializer=initializer,
        partitioner=partitioner)
  return made


def _warm_started(case, prefix, init_from_checkpoint):
  """Builds the target graph, warm-starts it, returns every value."""
  with tf.Graph().as_default() as g:
    tf.compat.v1.set_random_seed(1234)
    made = _build(case.target)
    init_from_checkpoint(prefix, case.make_map(made))
    return test_util.initialize(g)


def _restore_ops(graph):
  return [op for op in graph.get_operations() if op.type == 'RestoreV2']


class GeneratedDifferentialTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(range(_NUM_CASES))
  def test_same_values_as_tf(self, seed):
    case = _generate(seed)
    prefix, ckpt = test_util.save_checkpoint(
        self.create_tempdir().full_path, lambda: _build(case.source), seed=99)
    theirs = _warm_started(case, prefix,
                           tf.compat.v1.train.init_from_checkpoint)
    ours = _warm_started(case, prefix, warmstart.init_from_checkpoint)
    self.assertCountEqual(theirs, ours)
    for name in theirs:
      np.testing.assert_array_equal(
          theirs[name], ours[name],
          err_msg='%s differs from TF; %s' % (name, case.description))
    for name, tensor in case.expected.items():
      np.testing.assert_array_equal(ckpt[tensor], ours[name],
                                    err_msg=case.description)
    for var in case.target:  # The rest kept their (random) initial values.
      if var.name not in case.expected:
        self.assertFalse(np.array_equal(ours[var.name], np.zeros(var.shape)))

  def test_generated_cases_cover_every_form(self):
    cases = [_generate(seed) for seed in range(_NUM_CASES)]
    maps = [case.make_map({v.name: _Placeholder(v) for v in case.target})
            for case in cases]
    pairs = [p for m in maps for p in (m.items() if isinstance(m, dict) else m)]
    keys = [k for k, _ in pairs]
    self.assertIn(('/', '/'), [(k, v) for k, v in pairs if isinstance(v, str)])
    self.assertTrue(any(k == '/' and v != '/' for k, v in pairs))
    self.assertTrue(any(k.endswith('/') and k != '/' for k in keys))
    self.assertTrue(any(isinstance(v, str) and not v.endswith('/')
                        for _, v in pairs))
    self.assertTrue(any(isinstance(v, _Placeholder) for _, v in pairs))
    self.assertTrue(any(isinstance(v, list) for _, v in pairs))
    self.assertTrue(any(isinstance(m, dict) for m in maps))
    self.assertTrue(any(isinstance(m, list) for m in maps))
    self.assertTrue(any(v.parts for c in cases for v in c.target))
    outside = sum(len(c.target) - len(c.expected) for c in cases)
    self.assertGreater(outside, _NUM_CASES)
    repartitioned = 0
    for case in cases:
      saved = {v.name: v.parts for v in case.source}
      for var in case.target:
        if var.name in case.expected:
          repartitioned += saved[case.expected[var.name]] != var.parts
    self.assertGreater(repartitioned, 3)


class _Placeholder:
  """Stands for a variable object when only the map's form is checked."""

  def __init__(self, var):
    self.var = var

  def __iter__(self):
    return iter([self] * (self.var.parts or 1))


# --- TF's defects, pinned, next to warmstart's behaviour. -------------------


class TfDefectsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.prefix, self.ckpt = test_util.save_checkpoint(
        self.create_tempdir().full_path, test_util.build_tf_docstring_source)

  def test_defect_1_scope_value_without_trailing_slash(self):
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target()
      with self.assertRaisesRegex(
          ValueError,
          r'Tensor old_scope_1/ew_scope_1/var1 \(ew_scope_1/var1 in '
          r'old_scope_1/\) is not found in .* checkpoint'):
        tf.compat.v1.train.init_from_checkpoint(
            self.prefix, {'old_scope_1/': 'new_scope_1'})
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target()
      warmstart.init_from_checkpoint(self.prefix,
                                     {'old_scope_1/': 'new_scope_1'})
      got = test_util.initialize(g)
    self.assertAllClose(self.ckpt['old_scope_1/var1'], got['new_scope_1/var1'])
    self.assertAllClose(np.zeros([50, 4]), got['new_scope_2/var2'])

  def test_defect_2_partitioned_variable_object(self):
    with tf.Graph().as_default():
      v = test_util.build_tf_docstring_target()
      with self.assertRaisesRegex(
          TypeError, re.escape("unsupported operand type(s) for +: "
                               "'PartitionedVariable' and 'str'")):
        tf.compat.v1.train.init_from_checkpoint(
            self.prefix, {'old_scope_2/var3': v['var3']})
    with tf.Graph().as_default() as g:
      v = test_util.build_tf_docstring_target()
      warmstart.init_from_checkpoint(self.prefix,
                                     {'old_scope_2/var3': v['var3']})
      got = test_util.initialize(g)
    self.assertAllClose(self.ckpt['old_scope_2/var3'], got['new_scope_2/var3'])

  @test_util.requires_graph_keras
  def test_defect_3_tf_variable_and_keras_are_invisible_to_tf(self):

    def build_a():
      tf.compat.v1.get_variable('g', [3])
      tf.Variable(1.5, name='foo')
      tf.keras.layers.Dense(
          2, name='dense', bias_initializer='ones')(tf.zeros([1, 3]))

    prefix, ckpt = test_util.save_checkpoint(self.create_tempdir().full_path,
                                             build_a)

    def build_b():
      tf.compat.v1.get_variable(
          'g', [3], initializer=tf.compat.v1.zeros_initializer())
      tf.Variable(0.0, name='foo')
      tf.keras.layers.Dense(2, name='dense', kernel_initializer='zeros',
                            bias_initializer='zeros')(tf.zeros([1, 3]))

    with tf.Graph().as_default() as g:
      build_b()
      tf.compat.v1.train.init_from_checkpoint(prefix, {'/': '/'})
      theirs = test_util.initialize(g)
    with tf.Graph().as_default() as g:
      build_b()
      with self.assertRaisesRegex(
          ValueError, r"Assignment map with scope only name  should map to "
          r"scope only foo\. Should be 'scope/': 'other_scope/'\."):
        tf.compat.v1.train.init_from_checkpoint(prefix, {'foo': 'foo'})
    with tf.Graph().as_default() as g:
      build_b()
      warmstart.init_from_checkpoint(prefix, {'/': '/'})
      ours = test_util.initialize(g)
    self.assertAllClose(ckpt['g'], theirs['g'])
    self.assertEqual(0.0, theirs['foo'])  # TF leaves it at its initializer.
    self.assertAllClose(np.zeros([3, 2]), theirs['dense/kernel'])
    self.assertAllClose(np.zeros([2]), theirs['dense/bias'])
    for name in ('g', 'foo', 'dense/kernel', 'dense/bias'):
      self.assertAllClose(ckpt[name], ours[name])
    self.assertEqual(1.5, ours['foo'])

  def test_defect_4_shape_mismatch_under_a_scope_map(self):
    # Resource variable: TF loads a [20, 2] value into a [20, 3] variable.
    with tf.Graph().as_default() as g:
      v = tf.compat.v1.get_variable('new_scope_1/var1', [20, 3])
      tf.compat.v1.train.init_from_checkpoint(self.prefix,
                                              {'old_scope_1/': 'new_scope_1/'})
      theirs = test_util.initialize(g)
    self.assertEqual([20, 3], v.shape.as_list())
    self.assertEqual((20, 2), theirs['new_scope_1/var1'].shape)
    # Ref variable: no error at the call, the session fails.
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('new_scope_1/var1', [20, 3], use_resource=False)
      tf.compat.v1.train.init_from_checkpoint(self.prefix,
                                              {'old_scope_1/': 'new_scope_1/'})
      with self.assertRaisesRegex(
          tf.errors.InvalidArgumentError,
          r'Assign requires shapes of both tensors to match\. lhs shape= '
          r'\[20,3\] rhs shape= \[20,2\]'):
        test_util.initialize(g)
    for use_resource in (True, False):
      with tf.Graph().as_default() as g:
        tf.compat.v1.get_variable('new_scope_1/var1', [20, 3],
                                  use_resource=use_resource)
        with self.assertRaisesRegex(warmstart.MismatchError,
                                    r"'new_scope_1/var1'.*shape \(20, 2\)"):
          warmstart.init_from_checkpoint(self.prefix,
                                         {'old_scope_1/': 'new_scope_1/'})
        self.assertEmpty(_restore_ops(g))

  def test_defect_5_scope_map_matching_nothing(self):
    with tf.Graph().as_default() as g:
      test_util.build_tf_docstring_target()
      tf.compat.v1.train.init_from_checkpoint(self.prefix,
                                              {'old_scope_1/': 'new_scope3/'})
      self.assertEmpty(_restore_ops(g))  # Silently nothing.
      theirs = test_util.initialize(g)
    self.assertAllClose(np.zeros([20, 2]), theirs['new_scope_1/var1'])
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target()
      with self.assertRaisesRegex(warmstart.UnmatchedRuleError,
                                  r"'new_scope3/'.*Did you mean"):
        warmstart.init_from_checkpoint(self.prefix,
                                       {'old_scope_1/': 'new_scope3/'})

  def test_defect_6_missing_tensor_message(self):
    with tf.Graph().as_default():
      test_util.build_tf_docstring_target()
      # TF dumps the checkpoint's whole name -> shape map, suggests nothing.
      with self.assertRaisesRegex(
          ValueError,
          r"Tensor old_scope_1/vr1 is not found in .* checkpoint \{.*"
          r"'old_scope_2/var3': \[100, 100\]") as tf_error:
        tf.compat.v1.train.init_from_checkpoint(
            self.prefix, {'old_scope_1/vr1': 'new_scope_1/var1'})
      self.assertNotIn('Did you mean', str(tf_error.exception))
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"'old_scope_1/vr1' is not in checkpoint.* Did you mean: "
          r"'old_scope_1/var1'"):
        warmstart.init_from_checkpoint(self.prefix,
                                       {'old_scope_1/vr1': 'new_scope_1/var1'})

  def test_initializers_built_under_the_callers_control_dependencies(self):
    # TF's restore initializer waits for the ops the call was made under:
    # here a placeholder, so initializing needs a feed.
    got = {}
    for name, init in (('tf', tf.compat.v1.train.init_from_checkpoint),
                       ('ours', warmstart.init_from_checkpoint)):
      with tf.Graph().as_default() as g:
        test_util.build_tf_docstring_target()
        step_input = tf.compat.v1.placeholder(tf.float32, [], name='step_input')
        with tf.control_dependencies([step_input]):
          init(self.prefix, {'old_scope_1/': 'new_scope_1/'})
        if name == 'tf':
          with self.assertRaisesRegex(
              tf.errors.InvalidArgumentError,
              r"You must feed a value for placeholder tensor 'step_input'"):
            test_util.initialize(g)
        else:
          got = test_util.initialize(g)
    self.assertAllClose(self.ckpt['old_scope_1/var1'], got['new_scope_1/var1'])

  def test_global_step_tf_restores_it_under_root_map_warmstart_does_not(self):

    def build_a():
      tf.compat.v1.get_variable('w', [2])
      tf.compat.v1.get_variable(
          'global_step', [], dtype=tf.int64,
          initializer=tf.compat.v1.constant_initializer(42), trainable=False,
          collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                       tf.compat.v1.GraphKeys.GLOBAL_STEP])

    prefix, _ = test_util.save_checkpoint(self.create_tempdir().full_path,
                                          build_a)
    got = {}
    for name, init in (('tf', tf.compat.v1.train.init_from_checkpoint),
                       ('ours', warmstart.init_from_checkpoint)):
      with tf.Graph().as_default() as g:
        tf.compat.v1.get_variable('w', [2])
        tf.compat.v1.train.get_or_create_global_step()
        init(prefix, {'/': '/'})
        got[name] = test_util.initialize(g)['global_step']
    self.assertEqual(42, got['tf'])
    self.assertEqual(0, got['ours'])


class ValidateShapeFalseTest(tf.test.TestCase, parameterized.TestCase):
  """Variables made with `validate_shape=False` take any checkpoint shape."""

  def _source(self):

    def build_a():
      tf.compat.v1.get_variable('grown', [2, 3])
      tf.compat.v1.get_variable('fixed', [4])
      tf.compat.v1.get_variable('other', [3], dtype=tf.float64)

    return test_util.save_checkpoint(self.create_tempdir().full_path, build_a)

  def _target(self, use_resource):
    grown = tf.compat.v1.get_variable(
        'grown', initializer=tf.zeros([5, 5]), validate_shape=False,
        use_resource=use_resource)
    fixed = tf.compat.v1.get_variable('fixed', [4], use_resource=use_resource,
                                      initializer=tf.constant_initializer(7.0))
    return grown, fixed

  @parameterized.named_parameters(('resource', True), ('ref', False))
  def test_same_values_as_tf(self, use_resource):
    # A scope map: TF's name map refuses the declared [5, 5] of a resource
    # variable at the call, its scope map loads the checkpoint's [2, 3].
    prefix, ckpt = self._source()
    got = {}
    for name, init in (('tf', tf.compat.v1.train.init_from_checkpoint),
                       ('ours', warmstart.init_from_checkpoint)):
      with tf.Graph().as_default() as g:
        self._target(use_resource)
        init(prefix, {'/': '/'})
        got[name] = test_util.initialize(g)
    self.assertEqual((2, 3), got['tf']['grown'].shape)
    for variable in ('grown', 'fixed'):
      self.assertAllEqual(got['tf'][variable], got['ours'][variable])
      self.assertAllClose(ckpt[variable], got['ours'][variable])

  @parameterized.named_parameters(('resource', True), ('ref', False))
  def test_name_map_loads_what_tf_refuses(self, use_resource):
    prefix, ckpt = self._source()
    with tf.Graph().as_default() as g:
      self._target(use_resource)
      warmstart.init_from_checkpoint(prefix, {'grown': 'grown'})
      got = test_util.initialize(g)
    self.assertAllClose(ckpt['grown'], got['grown'])
    self.assertAllClose(np.full([4], 7.0), got['fixed'])

  @parameterized.named_parameters(('resource', True), ('ref', False))
  def test_plan_shows_the_checkpoint_shape(self, use_resource):
    prefix, ckpt = self._source()
    with tf.Graph().as_default() as g:
      grown, _ = self._target(use_resource)
      plan = warmstart.init_from_checkpoint(prefix, {'/': '/'})
      got = test_util.initialize(g)
    self.assertEqual((2, 3), plan.entry('grown').shape)
    self.assertEqual('restore', plan.entry('grown').action)
    self.assertAllClose(ckpt['grown'], got['grown'])
    self.assertAllClose(ckpt['fixed'], got['fixed'])
    self.assertFalse(warmstart.Plan.from_json(plan.to_json()).entry(
        'grown').skipped)
    if use_resource:
      self.assertEqual([5, 5], grown.shape.as_list())  # As after TF's restore.

  def test_dtype_is_still_checked(self):
    prefix, _ = self._source()
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('other', initializer=tf.zeros([3]),
                                validate_shape=False)
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"'other'.*dtype float64 in the checkpoint, float32 in the graph"):
        warmstart.init_from_checkpoint(prefix, {'other': 'other'})
      self.assertEmpty(_restore_ops(g))

  def test_a_validating_variable_still_rejects_another_shape(self):
    prefix, _ = self._source()
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('grown', [5, 5])
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"'grown'.*shape \(2, 3\) in the checkpoint, \(5, 5\) in the graph"):
        warmstart.init_from_checkpoint(prefix, {'grown': 'grown'})
      self.assertEmpty(_restore_ops(g))


if __name__ == '__main__':
  tf.test.main()
