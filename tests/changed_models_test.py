"""Warm starts of models that changed: resize, cast, moving averages, what
was not warm-started, and filters that narrow a map.

Each test saves graph A, warm-starts graph B and compares values with a
numpy reference: the overlapping block from the checkpoint, every other cell
from B's own initializer (computed by a cold start of B with the same seed).
"""

from __future__ import annotations


from absl import logging
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util

_SEED = 7


def _overlap(old: np.ndarray, cold: np.ndarray) -> np.ndarray:
  """The reference: `cold` with the overlapping block taken from `old`."""
  block = tuple(slice(0, min(a, b)) for a, b in zip(old.shape, cold.shape))
  expected = cold.copy()
  expected[block] = old[block].astype(cold.dtype)
  return expected


def _partitioner(parts):
  return tf.compat.v1.fixed_size_partitioner(parts) if parts else None


class ResizeTest(parameterized.TestCase, tf.test.TestCase):

  def _warm(self, old_shape, new_shape, old_parts=None, new_parts=None,
            dtype=tf.float32, old_dtype=tf.float32, **options):
    directory = self.create_tempdir().full_path
    prefix, ckpt = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable(
            'w', old_shape, old_dtype, partitioner=_partitioner(old_parts)))

    def build():
      tf.compat.v1.get_variable(
          'w', new_shape, dtype, partitioner=_partitioner(new_parts),
          initializer=tf.compat.v1.random_uniform_initializer(5.0, 6.0))

    cold, _ = test_util.run_graph(build, seed=_SEED)
    got, plan = test_util.run_graph(
        build, lambda: warmstart.init_from_checkpoint(
            prefix, {'/': '/'}, **options), seed=_SEED)
    return ckpt['w'], cold['w'], got['w'], plan

  @parameterized.named_parameters(
      ('grow_1d', [5], [8]),
      ('shrink_1d', [8], [5]),
      ('grow_rows', [4, 3], [6, 3]),
      ('shrink_rows', [6, 3], [4, 3]),
      ('grow_cols', [4, 3], [4, 5]),
      ('shrink_cols', [4, 5], [4, 3]),
      ('grow_one_shrink_other', [4, 5], [6, 3]),
      ('grow_3d', [2, 3, 4], [3, 4, 5]),
      ('shrink_3d', [3, 4, 5], [2, 3, 4]),
      ('mixed_3d', [3, 2, 4], [2, 4, 4]),
  )
  def test_values_match_numpy(self, old_shape, new_shape):
    old, cold, got, plan = self._warm(old_shape, new_shape, resize=True)
    self.assertAllClose(_overlap(old, cold), got)
    entry = plan.entry('w')
    self.assertEqual('resize', entry.action)
    self.assertEqual('resize %s -> %s' % (old_shape, new_shape), entry.reason)
    self.assertIn('resize %s -> %s' % (old_shape, new_shape), str(plan))
    self.assertEqual(tuple(new_shape), entry.shape)
    self.assertEqual(old_shape, entry.action_params['checkpoint_shape'])

  @parameterized.named_parameters(
      ('new_side', [6, 3], [9, 3], None, 3),
      ('old_side', [6, 3], [9, 3], 2, None),
      ('repartitioned', [6, 3], [9, 3], 2, 3),
      ('shrunk_repartitioned', [9, 3], [4, 3], 3, 2),
      # A part of B lies wholly past the checkpoint: it keeps its values.
      ('part_outside', [2, 3], [9, 3], None, 3),
  )
  def test_partitioned(self, old_shape, new_shape, old_parts, new_parts):
    old, cold, got, _ = self._warm(old_shape, new_shape, old_parts, new_parts,
                                   resize=True)
    self.assertAllClose(_overlap(old, cold), got)

  def test_shrunk_variable_reads_only_the_overlap(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [1000, 8]))
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('w', [10, 8])
      warmstart.init_from_checkpoint(prefix, {'/': '/'}, resize=True)
      (restore,) = [op for op in g.get_operations() if op.type == 'RestoreV2']
      specs = tf.get_static_value(restore.inputs[2])
      self.assertEqual([b'1000 8 0,10:0,8'], list(specs))
      self.assertEqual([10, 8], restore.outputs[0].shape.as_list())

  def test_with_settings_and_a_rename(self):
    directory = self.create_tempdir().full_path
    prefix, ckpt = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('old/head', [4, 10]))
    build = lambda: tf.compat.v1.get_variable('new/head', [4, 12])
    cold, _ = test_util.run_graph(build, seed=_SEED)
    settings = warmstart.WarmStartSettings(
        prefix, 'new/.*', var_name_to_prev_var_name={'new/head': 'old/head'},
        resize=True)
    got, plan = test_util.run_graph(build, seed=_SEED, settings=settings)
    self.assertAllClose(_overlap(ckpt['old/head'], cold['new/head']),
                        got['new/head'])
    self.assertEqual('resize', plan.entry('new/head').action)

  def test_initializer_and_initial_value_hold_the_warm_start(self):
    directory = self.create_tempdir().full_path
    prefix, ckpt = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [2, 2]))
    with tf.Graph().as_default():
      w = tf.compat.v1.get_variable(
          'w', [3, 2], initializer=tf.compat.v1.ones_initializer())
      warmstart.init_from_checkpoint(prefix, {'/': '/'}, resize=True)
      with tf.compat.v1.Session() as sess:
        sess.run(w.initializer)
        expected = np.ones([3, 2], np.float32)
        expected[:2] = ckpt['w']
        self.assertAllClose(expected, sess.run(w))
        self.assertAllClose(expected, sess.run(w.initial_value))

  def test_without_resize_is_an_error_that_says_how(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [4, 3]))
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('w', [5, 3])
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"'w'.*shape \(4, 3\) in the checkpoint, \(5, 3\) in the graph "
          r'\(resize=True restores the overlapping block\)'):
        warmstart.make_plan(prefix, {'/': '/'})

  def test_rank_change_stays_an_error(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [4, 3]))
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('w', [12])
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"'w'.*shape \(4, 3\) in the checkpoint, \(12,\) in the graph "
          r'\(resize keeps the rank: it cannot change it\)'):
        warmstart.make_plan(prefix, {'/': '/'}, resize=True)

  def test_skip_mismatched_still_skips_rank_changes(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [4, 3]))
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('w', [12])
      plan = warmstart.make_plan(prefix, {'/': '/'}, resize=True,
                                 skip_mismatched=True)
    self.assertEqual('skip', plan.entry('w').action)


class CastTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(
      old=['float16', 'bfloat16', 'float32', 'float64'],
      new=['float16', 'bfloat16', 'float32', 'float64'])
  def test_float_to_float_equals_tf_cast(self, old, new):
    if old == new:
      return
    old_dtype, new_dtype = tf.as_dtype(old), tf.as_dtype(new)
    directory = self.create_tempdir().full_path
    prefix, ckpt = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [3, 4], old_dtype))
    build = lambda: tf.compat.v1.get_variable('w', [3, 4], new_dtype)
    got, plan = test_util.run_graph(build, lambda: warmstart.init_from_checkpoint(
        prefix, {'/': '/'}, cast=True))
    expected = tf.cast(tf.constant(ckpt['w'], old_dtype), new_dtype).numpy()
    self.assertEqual(new_dtype.as_numpy_dtype, got['w'].dtype)
    np.testing.assert_array_equal(expected, got['w'])
    self.assertEqual('cast', plan.entry('w').action)
    self.assertIn('cast %s -> %s' % (old, new), str(plan))

  def test_resize_and_cast_combine(self):
    directory = self.create_tempdir().full_path
    prefix, ckpt = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [4, 3]))
    build = lambda: tf.compat.v1.get_variable('w', [6, 2], tf.bfloat16)
    cold, _ = test_util.run_graph(build, seed=_SEED)
    got, plan = test_util.run_graph(
        build, seed=_SEED,
        settings=warmstart.WarmStartSettings(prefix, resize=True, cast=True))
    expected = cold['w'].copy()
    expected[:4, :2] = tf.cast(ckpt['w'][:4, :2], tf.bfloat16).numpy()
    np.testing.assert_array_equal(expected, got['w'])
    self.assertEqual('resize [4, 3] -> [6, 2]; cast float32 -> bfloat16',
                     plan.entry('w').reason)

  @parameterized.named_parameters(
      ('int_to_float', tf.int32, tf.float32),
      ('float_to_int', tf.float32, tf.int64),
      ('bool_to_float', tf.bool, tf.float32),
      ('string_to_float', tf.string, tf.float32),
  )
  def test_non_float_stays_an_error_naming_both(self, old, new):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable(
            'w', [2], old, initializer=tf.compat.v1.zeros_initializer()))
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('w', [2], new)
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r"dtype %s in the checkpoint, %s in the graph \(only float dtypes "
          r'are cast\)' % (old.name, new.name)):
        warmstart.make_plan(prefix, {'/': '/'}, cast=True)

  def test_without_cast_is_an_error_that_says_how(self):
    directory = self.create_tempdir().full_path
    prefix, _ = test_util.save_checkpoint(
        directory, lambda: tf.compat.v1.get_variable('w', [2]))
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('w', [2], tf.float16)
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          r'dtype float32 in the checkpoint, float16 in the graph \(cast=True '
          r'casts it\)'):
        warmstart.make_plan(prefix, {'/': '/'})


class MovingAveragesTest(tf.test.TestCase):

  def _save_with_averages(self):
    """w and b with moving averages (after two updates), c without."""

    def build():
      w = tf.compat.v1.get_variable('w', [3, 2])
      b = tf.compat.v1.get_variable('b', [2])
      tf.compat.v1.get_variable('c', [4])
      update = tf.compat.v1.train.ExponentialMovingAverage(0.5).apply([w, b])
      bump = tf.group(w.assign_add(tf.ones_like(w)), b.assign_add(b))
      return [bump, update]

    prefix, _ = test_util.save_checkpoint(self.create_tempdir().full_path,
                                          build, steps=2)
    return prefix

  def _build(self):
    tf.compat.v1.get_variable('w', [3, 2])
    tf.compat.v1.get_variable('b', [2])
    tf.compat.v1.get_variable('c', [4])

  def test_same_values_as_tfs_saver_of_variables_to_restore(self):
    prefix = self._save_with_averages()
    with tf.Graph().as_default():
      self._build()
      ema = tf.compat.v1.train.ExponentialMovingAverage(0.5)
      by_name = {v.op.name: v for v in tf.compat.v1.global_variables()}
      # TF's way: the averaged variables from their averages, c by name.
      saver = tf.compat.v1.train.Saver(ema.variables_to_restore(
          moving_avg_variables=[by_name['w'], by_name['b']]))
      with tf.compat.v1.Session() as sess:
        saver.restore(sess, prefix)
        expected = {v.op.name: sess.run(v)
                    for v in tf.compat.v1.global_variables()}
    settings = warmstart.WarmStartSettings(prefix, use_moving_averages=True)
    # The plain run's warnings, counted apart from those under the scope.
    with self.assertLogs(level='WARNING') as logs:
      run = test_util.run_graph(self._build, settings=settings,
                                compare_under_scope=False)
    got, plan = run
    for name in ('w', 'b', 'c'):
      np.testing.assert_array_equal(expected[name], got[name], err_msg=name)
    self.assertEqual('w/ExponentialMovingAverage', plan.entry('w').tensor)
    self.assertEqual('c', plan.entry('c').tensor)
    # One warning names the variable without an average.
    warnings = [r for r in logs.output if 'no moving average' in r]
    self.assertLen(warnings, 1)
    self.assertIn("'c'", warnings[0])
    self.assertNotIn("'w'", warnings[0])
    # The raw tensors an average replaced are not "unused".
    self.assertEqual([], [u.tensor for u in plan.unused_weights])
    # Under warm_start_scope: the same values, plan and warnings.
    with self.assertLogs(level='WARNING') as scope_logs:
      test_util.assert_same_under_scope(self._build, settings, run)
    self.assertEqual(logs.output, scope_logs.output)

  def test_through_init_from_checkpoint_and_a_scope_map(self):
    prefix = self._save_with_averages()
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)

    def build():
      with tf.compat.v1.variable_scope('new'):
        self._build()

    got, plan = test_util.run_graph(
        build, lambda: warmstart.init_from_checkpoint(
            prefix, {'/': 'new/'}, use_moving_averages=True))
    self.assertAllClose(reader.get_tensor('w/ExponentialMovingAverage'),
                        got['new/w'])
    self.assertAllClose(reader.get_tensor('c'), got['new/c'])
    self.assertIn('moving average', plan.entry('new/w').rule)

  def test_average_of_another_shape_is_not_taken(self):
    directory = self.create_tempdir().full_path

    def build_a():
      tf.compat.v1.get_variable('w', [2])
      tf.compat.v1.get_variable('w/ExponentialMovingAverage', [3],
                                trainable=False)

    prefix, ckpt = test_util.save_checkpoint(directory, build_a)
    got, plan = test_util.run_graph(
        lambda: tf.compat.v1.get_variable('w', [2]),
        lambda: warmstart.init_from_checkpoint(prefix, {'w': 'w'},
                                               use_moving_averages=True))
    self.assertAllClose(ckpt['w'], got['w'])
    self.assertEqual('w', plan.entry('w').tensor)


class NotWarmStartedTest(tf.test.TestCase):

  def _save(self):
    def build():
      w = tf.compat.v1.get_variable('enc/w', [3, 2])
      tf.compat.v1.get_variable('enc/forgotten', [2])
      tf.compat.v1.get_variable('bn/moving_mean', [2], trainable=False)
      step = tf.compat.v1.train.get_or_create_global_step()
      tf.compat.v1.train.AdamOptimizer().minimize(tf.reduce_sum(w),
                                                  global_step=step)

    return test_util.save_checkpoint(self.create_tempdir().full_path, build)

  def test_plan_lists_cold_variables_and_unused_tensors(self):
    prefix, _ = self._save()
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('enc/w', [3, 2])
      tf.compat.v1.get_variable('head/w', [2, 5])
      plan = warmstart.make_plan(prefix, {'enc/w': 'enc/w'})
    self.assertEqual(('head/w',), plan.cold_variables)
    by_kind = {}
    for unused in plan.unused_tensors:
      self.assertEqual(prefix, unused.source)
      by_kind.setdefault(unused.kind, []).append(unused.tensor)
    self.assertEqual(['bn/moving_mean', 'enc/forgotten'], by_kind['weight'])
    self.assertEqual(['enc/w/Adam', 'enc/w/Adam_1'],
                     by_kind['optimizer slot'])
    self.assertEqual(['beta1_power', 'beta2_power'],
                     by_kind['optimizer variable'])
    self.assertEqual(['global_step'], by_kind['global step'])
    self.assertEqual(
        'Warm-started 1 of 2 variables from %s; 1 starts cold; 2 checkpoint '
        'tensors unused.' % prefix, plan.summary())
    text = str(plan)
    self.assertIn('Start cold (their own initializer): head/w', text)
    self.assertIn('Checkpoint tensors no variable reads: bn/moving_mean, '
                  'enc/forgotten', text)
    self.assertIn('Also not read: 2 optimizer slots, 2 optimizer variables, '
                  '1 global step.', text)
    back = warmstart.Plan.from_json(plan.to_json())
    self.assertEqual(plan.cold_variables, back.cold_variables)
    self.assertEqual(plan.unused_tensors, back.unused_tensors)
    self.assertEqual(plan.summary(), back.summary())

  def test_skipped_variables_are_cold_and_their_tensors_not_unused(self):
    prefix, _ = self._save()
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('enc/w', [4, 2])
      tf.compat.v1.get_variable('enc/forgotten', [2])
      plan = warmstart.make_plan(prefix, {'enc/': 'enc/'},
                                 skip_mismatched=True)
    self.assertEqual(('enc/w',), plan.cold_variables)
    self.assertEqual(['bn/moving_mean'],
                     [u.tensor for u in plan.unused_weights])

  def test_earlier_warm_starts_are_not_cold(self):
    prefix, _ = self._save()
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('enc/w', [3, 2])
      tf.compat.v1.get_variable('enc/forgotten', [2])
      warmstart.init_from_checkpoint(prefix, {'enc/w': 'enc/w'})
      plan = warmstart.make_plan(prefix, {'enc/forgotten': 'enc/forgotten'})
    self.assertEqual((), plan.cold_variables)

  def test_no_cold_warning_for_slots_include_slots_restores(self):
    # A string regex with include_slots=True: the slots come with their
    # variable, so the warning must not say they start cold (nor advise a
    # list of regexes, which would change the selection).

    def build_a():
      kernel = tf.compat.v1.get_variable('enc/w', [3, 2])
      tf.compat.v1.get_variable('bn/moving_mean', [2], trainable=False)
      return tf.compat.v1.train.AdamOptimizer(0.1).minimize(
          tf.reduce_sum(kernel))

    prefix, ckpt = test_util.save_checkpoint(
        self.create_tempdir().full_path, build_a, steps=1)
    settings = warmstart.WarmStartSettings(prefix, 'enc/', include_slots=True)
    with self.assertLogs(level='WARNING') as logs:
      got, plan = test_util.run_graph(build_a, settings=settings,
                                      compare_under_scope=False)
      logging.warning('(one warning, so that assertLogs has one)')
    self.assertIn('enc/w/Adam', [e.variable for e in plan.restored])
    self.assertAllClose(ckpt['enc/w/Adam'], got['enc/w/Adam'])
    self.assertEqual([], [r for r in logs.output if 'start cold' in r])

  def test_trainable_only_regex_warns_of_non_trainable_tensors(self):
    prefix, ckpt = self._save()

    def build():
      tf.compat.v1.get_variable('enc/w', [3, 2])
      tf.compat.v1.get_variable('bn/moving_mean', [2], trainable=False)
      # Not in the checkpoint: no warning for it.
      tf.compat.v1.get_variable('bn/counter', [], trainable=False)

    settings = warmstart.WarmStartSettings(prefix, '.*')
    # The plain run's warnings, counted apart from those under the scope.
    with self.assertLogs(level='WARNING') as logs:
      run = test_util.run_graph(build, settings=settings,
                                compare_under_scope=False)
    got, plan = run
    self.assertEqual(('bn/moving_mean', 'bn/counter'), plan.cold_variables)
    warnings = [r for r in logs.output if 'non-trainable' in r]
    self.assertLen(warnings, 1)
    self.assertIn("'bn/moving_mean'", warnings[0])
    self.assertNotIn('bn/counter', warnings[0])
    self.assertIn("vars_to_warm_start=['.*']", warnings[0])
    with self.assertLogs(level='WARNING') as scope_logs:
      test_util.assert_same_under_scope(build, settings, run)
    self.assertEqual(logs.output, scope_logs.output)
    # As the warning says: a list of regexes takes them.
    got, _ = test_util.run_graph(build, settings=warmstart.WarmStartSettings(
        prefix, ['.*'], skip_missing=True))
    self.assertAllClose(ckpt['bn/moving_mean'], got['bn/moving_mean'])

  def test_cli_plan_shows_them(self):
    from warmstart import _cli  # pylint: disable=g-import-not-at-top
    import contextlib  # pylint: disable=g-import-not-at-top
    import io  # pylint: disable=g-import-not-at-top
    import json  # pylint: disable=g-import-not-at-top
    prefix, _ = self._save()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      status = _cli.main(['plan', '--from', prefix, '--target', prefix,
                          '--vars', 'enc/w:0$', '--json'])
    self.assertEqual(0, status)
    data = json.loads(out.getvalue())
    self.assertIn('enc/forgotten', data['plan']['cold_variables'])
    self.assertIn({'source': prefix, 'tensor': 'enc/forgotten',
                   'kind': 'weight'}, data['plan']['unused_tensors'])


class FilterNarrowsMapTest(tf.test.TestCase):

  def _save(self):
    def build():
      tf.compat.v1.get_variable('old/enc/w', [3, 2])
      tf.compat.v1.get_variable('old/head/w', [2, 4])

    return test_util.save_checkpoint(self.create_tempdir().full_path, build)

  def _build(self):
    tf.compat.v1.get_variable(
        'new/enc/w', [3, 2], initializer=tf.compat.v1.zeros_initializer())
    tf.compat.v1.get_variable(
        'new/head/w', [2, 4], initializer=tf.compat.v1.zeros_initializer())

  def test_everything_but_the_head(self):
    prefix, ckpt = self._save()
    settings = warmstart.WarmStartSettings(
        prefix, vars_to_warm_start='(?!new/head/)',
        assignment_map={'old/': 'new/'})
    got, plan = test_util.run_graph(self._build, settings=settings)
    self.assertEqual(['new/enc/w'], [e.variable for e in plan])
    self.assertAllClose(ckpt['old/enc/w'], got['new/enc/w'])
    self.assertAllClose(np.zeros([2, 4]), got['new/head/w'])

  def test_list_of_regexes(self):
    prefix, _ = self._save()
    settings = warmstart.WarmStartSettings(
        prefix, vars_to_warm_start=['new/head/', 'nothing'],
        assignment_map={'old/': 'new/'})
    _, plan = test_util.run_graph(self._build, settings=settings)
    self.assertEqual(['new/head/w'], [e.variable for e in plan])

  def test_flags_and_cli(self):
    prefix, ckpt = self._save()
    from absl import flags  # pylint: disable=g-import-not-at-top
    from warmstart import flags as ws_flags  # pylint: disable=g-import-not-at-top
    flag_values = flags.FlagValues()
    ws_flags.define_flags(flag_values)
    flag_values(['prog', '--warm_start_from=' + prefix,
                 '--warm_start_map=old/=new/',
                 '--warm_start_exclude=new/head/'])
    settings = ws_flags.settings_from_flags(flag_values)
    got, plan = test_util.run_graph(self._build, settings=settings)
    self.assertEqual(['new/enc/w'], [e.variable for e in plan])
    self.assertAllClose(ckpt['old/enc/w'], got['new/enc/w'])

  def test_filter_leaving_nothing_is_an_unmatched_rule(self):
    prefix, _ = self._save()
    settings = warmstart.WarmStartSettings(
        prefix, vars_to_warm_start='typo/', assignment_map={'old/': 'new/'})
    with tf.Graph().as_default():
      self._build()
      with self.assertRaisesRegex(
          warmstart.UnmatchedRuleError,
          r"vars_to_warm_start='typo/' leaves none of the 2 variables the "
          r"assignment map selects \('new/enc/w', 'new/head/w'\)"):
        warmstart.make_settings_plan(settings)

  def test_variables_cannot_narrow_a_map(self):
    with tf.Graph().as_default():
      v = tf.compat.v1.get_variable('v', [1])
    with self.assertRaisesRegex(
        warmstart.SettingsError,
        'vars_to_warm_start can only narrow them, with a regex or a list of '
        'regexes'):
      warmstart.WarmStartSettings('/c', [v], assignment_map={'/': '/'})



@test_util.requires_estimator
class EstimatorTest(parameterized.TestCase, tf.test.TestCase):
  """Each new option through wrap_model_fn: what the first step starts from."""

  def _model_fn(self, shape, dtype):

    def model_fn(features, labels, mode):
      del labels
      with tf.compat.v1.variable_scope('new'):
        w = tf.compat.v1.get_variable(
            'w', shape, dtype,
            initializer=tf.compat.v1.constant_initializer(9.0))
        tf.compat.v1.get_variable('head', [2], dtype)
      loss = tf.reduce_sum(tf.cast(w, tf.float32)) * tf.reduce_sum(
          features['x'])
      # A learning rate of 0: the saved step-1 checkpoint holds the warm start.
      train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
          loss, global_step=tf.compat.v1.train.get_or_create_global_step())
      return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    return model_fn

  def _train(self, model_fn, settings, **options):
    model_dir = self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        warmstart.wrap_model_fn(model_fn, settings, **options),
        model_dir=model_dir)
    estimator.train(
        lambda: tf.data.Dataset.from_tensors(({'x': [1.0]}, [0.0])).repeat(),
        steps=1)
    reader = tf.compat.v1.train.NewCheckpointReader(
        tf.train.latest_checkpoint(model_dir))
    plan = warmstart.read_plan(model_dir)
    return reader, plan

  def _source(self, ema=False):

    def build():
      with tf.compat.v1.variable_scope('old'):
        w = tf.compat.v1.get_variable('w', [4, 3])
        tf.compat.v1.get_variable('head', [2])
      update = (tf.compat.v1.train.ExponentialMovingAverage(0.5).apply([w])
                if ema else tf.no_op())
      return [w.assign_add(tf.ones_like(w)), update]

    prefix, _ = test_util.save_checkpoint(self.create_tempdir().full_path,
                                          build, seed=3, steps=1)
    return prefix, tf.compat.v1.train.NewCheckpointReader(prefix)

  def test_resize(self):
    prefix, source = self._source()
    reader, plan = self._train(
        self._model_fn([6, 2], tf.float32),
        warmstart.WarmStartSettings(prefix, assignment_map={'old/': 'new/'}),
        resize=True)
    expected = np.full([6, 2], 9.0, np.float32)
    expected[:4] = source.get_tensor('old/w')[:, :2]
    self.assertAllClose(expected, reader.get_tensor('new/w'))
    self.assertEqual('resize', plan.entry('new/w').action)

  def test_cast(self):
    prefix, source = self._source()
    reader, plan = self._train(
        self._model_fn([4, 3], tf.float16),
        warmstart.WarmStartSettings(prefix, assignment_map={'old/': 'new/'},
                                    cast=True))
    np.testing.assert_array_equal(
        source.get_tensor('old/w').astype(np.float16),
        reader.get_tensor('new/w'))
    self.assertEqual('cast', plan.entry('new/w').action)

  def test_use_moving_averages(self):
    prefix, source = self._source(ema=True)
    reader, plan = self._train(
        self._model_fn([4, 3], tf.float32),
        warmstart.WarmStartSettings(prefix, assignment_map={'old/': 'new/'}),
        use_moving_averages=True)
    self.assertAllClose(source.get_tensor('old/w/ExponentialMovingAverage'),
                        reader.get_tensor('new/w'))
    self.assertNotAllClose(source.get_tensor('old/w'),
                           reader.get_tensor('new/w'))
    self.assertEqual('old/w/ExponentialMovingAverage',
                     plan.entry('new/w').tensor)

  def test_filter_narrows_the_map_and_plan_lists_the_rest(self):
    prefix, source = self._source()
    reader, plan = self._train(
        self._model_fn([4, 3], tf.float32),
        warmstart.WarmStartSettings(prefix, '(?!new/head)',
                                    assignment_map={'old/': 'new/'}))
    self.assertAllClose(source.get_tensor('old/w'), reader.get_tensor('new/w'))
    self.assertNotAllClose(source.get_tensor('old/head'),
                           reader.get_tensor('new/head'))
    self.assertIn('new/head', plan.cold_variables)
    self.assertIn('old/head', [u.tensor for u in plan.unused_weights])


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)
  tf.test.main()
