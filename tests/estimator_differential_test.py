"""Differential tests of warm starts at creation: the same Estimator both ways.

Each model trains one step from an empty model_dir, wrapped by
`wrap_model_fn` with `at_creation=True` (restored variables get stand-ins,
`warm_start_scope`) and with `at_creation=False` (every initializer built,
the warm start replaces those it restores), with the same graph seed. A hook
reads every variable right after the session is created: both ways must
agree bit for bit (restored values, the cold variables' seeded initial
values, slots, the global step), write the same plan, and the first way
must have used stand-ins and left no op reading one.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _report

test_util.skip_module_without_estimator()

ModeKeys = tf.estimator.ModeKeys

_X = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0) / 10.0
_Y = np.array([[1.0], [-1.0], [0.5], [2.0]], np.float32)
_OLD_VOCAB = ['a', 'b', 'c', 'd']
_NEW_VOCAB = ['c', 'a', 'e']


def _input_fn():
  return tf.data.Dataset.from_tensors((_X, _Y)).repeat()


def _model(features, *, classes=2, emb_dtype=tf.float32, extra=False,
           averages=False):
  """Default (Glorot) initializers: random, seeded by RunConfig."""
  with tf.compat.v1.variable_scope('linear'):
    w = tf.compat.v1.get_variable('w', [3, 1])
    b = tf.compat.v1.get_variable('b', [1])
  table = tf.compat.v1.get_variable(
      'emb/table', [4, 2], dtype=emb_dtype,
      partitioner=tf.compat.v1.fixed_size_partitioner(2))
  # TF's Glorot (Keras' own draws from Python's random module when unseeded:
  # not reproducible by a graph seed, so not comparable across runs).
  glorot = tf.compat.v1.glorot_uniform_initializer()
  hidden = tf.compat.v1.layers.dense(features, 4, name='dense',
                                     kernel_initializer=glorot)
  logits = tf.compat.v1.layers.dense(hidden, classes, name='head',
                                     kernel_initializer=glorot)
  terms = [tf.matmul(features, w) + b,
           0.0 * tf.reduce_sum(tf.cast(table.as_tensor(), tf.float32)),
           0.0 * tf.reduce_sum(logits)]
  if extra:
    terms.append(0.0 * tf.reduce_sum(tf.compat.v1.get_variable('new/x', [5])))
  predictions = sum(terms[1:], terms[0])
  # Dropout-like random ops after the variables: their op seeds come from
  # the graph seed and how many random ops were built before.
  noise = tf.random.uniform(tf.shape(predictions), seed=None)
  return predictions + 0.0 * noise, averages


def _make_model_fn(**kwargs):

  def model_fn(features, labels, mode):
    predictions, averages = _model(features, **kwargs)
    loss = tf.reduce_mean(tf.square(predictions - labels))
    step = tf.compat.v1.train.get_global_step()
    train_op = tf.compat.v1.train.AdamOptimizer(0.0).minimize(loss, step)
    if averages:
      ema = tf.compat.v1.train.ExponentialMovingAverage(0.5)
      with tf.control_dependencies([train_op]):
        train_op = ema.apply(tf.compat.v1.trainable_variables())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  return model_fn


class _GraphHook(tf.compat.v1.train.SessionRunHook):
  """Keeps the graph and what in it reads or is a stand-in."""

  def begin(self):
    graph = tf.compat.v1.get_default_graph()
    self.stand_ins = test_util.stand_ins(graph)
    self.readers = test_util.stand_in_readers(graph)


class EstimatorDifferentialTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    root = tf.compat.v1.test.get_temp_dir()
    source_dir = os.path.join(root, 'source')
    tf.estimator.Estimator(
        _make_model_fn(), model_dir=source_dir,
        config=tf.estimator.RunConfig(tf_random_seed=11)).train(
            _input_fn, steps=2)
    cls.prefix = tf.train.latest_checkpoint(source_dir)
    cls.ckpt = {name: tf.train.load_variable(cls.prefix, name)
                for name, _ in tf.train.list_variables(cls.prefix)}
    cls.old_vocab = os.path.join(root, 'old_vocab.txt')
    cls.new_vocab = os.path.join(root, 'new_vocab.txt')
    for path, tokens in ((cls.old_vocab, _OLD_VOCAB),
                         (cls.new_vocab, _NEW_VOCAB)):
      with open(path, 'w') as f:
        f.write('\n'.join(tokens) + '\n')

  def _train(self, model_fn, settings, at_creation, seed=5, **options):
    model_dir = self.create_tempdir().full_path
    reader, graph = test_util.ReadVariablesHook(), _GraphHook()
    tf.estimator.Estimator(
        warmstart.wrap_model_fn(model_fn, settings, at_creation=at_creation,
                                **options),
        model_dir=model_dir,
        config=tf.estimator.RunConfig(tf_random_seed=seed,
                                      save_summary_steps=1000,
                                      log_step_count_steps=1000)).train(
                                          _input_fn, steps=1,
                                          hooks=[reader, graph])
    return reader.values, graph, _report.read_plan(model_dir)

  def assertBothWays(self, model_fn, settings, unordered=(), **options):
    """Trains both ways; returns (values, plan, stand-in names).

    `unordered`: variables whose value without stand-ins depends on the
    order the initializers run in (not compared).
    """
    got, graph, plan = self._train(model_fn, settings, True, **options)
    expected, built, built_plan = self._train(model_fn, settings, False,
                                              **options)
    self.assertEqual([], graph.readers)
    self.assertEqual([], built.stand_ins)
    self.assertNotEmpty(graph.stand_ins)
    self.assertCountEqual(expected, got)
    for name in expected:
      if name not in unordered:
        np.testing.assert_array_equal(expected[name], got[name],
                                      err_msg=name)
    self.assertEqual(built_plan.to_json(), plan.to_json())
    return got, plan, graph.stand_ins

  def test_default_regex_restores_trainable_and_seeds_the_rest_alike(self):
    got, plan, stand_ins = self.assertBothWays(
        _make_model_fn(extra=True),
        warmstart.WarmStartSettings(self.prefix, '.*', skip_missing=True))
    for name in ('linear/w', 'linear/b', 'dense/kernel', 'head/kernel'):
      self.assertAllClose(self.ckpt[name], got[name], msg=name)
    self.assertAllClose(self.ckpt['emb/table'],
                        np.concatenate([got['emb/table/part_0'],
                                        got['emb/table/part_1']]))
    self.assertIn('linear/w', stand_ins)
    self.assertIn('emb/table/part_1', stand_ins)
    # The variable the checkpoint lacks starts cold, its seeded value the
    # same both ways; so do Adam's slots and the global step.
    self.assertEqual(['new/x'], [e.variable for e in plan.skipped])
    self.assertNotIn('new/x', stand_ins)
    self.assertAllClose(np.zeros([3, 1]), got['linear/w/Adam'])
    self.assertEqual(0, got['global_step'])

  def test_resize_cast_and_vocab_remap(self):
    vocab = warmstart.VocabInfo(
        new_vocab=self.new_vocab, new_vocab_size=len(_NEW_VOCAB),
        num_oov_buckets=1, old_vocab=self.old_vocab)
    got, plan, stand_ins = self.assertBothWays(
        _make_model_fn(classes=3, emb_dtype=tf.float64),
        warmstart.WarmStartSettings(
            self.prefix, ['linear/.*', 'head/.*', 'dense/.*', 'emb/.*'],
            resize=True, cast=True))
    self.assertEqual({'head/kernel': 'resize', 'head/bias': 'resize',
                      'emb/table': 'cast'},
                     {e.variable: e.action for e in plan.restored
                      if e.action != 'restore'})
    # The grown head keeps the checkpoint's block; its new column is the
    # seeded initial value (equal both ways, checked above). A resized
    # variable needs its initializer: no stand-in.
    self.assertAllClose(self.ckpt['head/kernel'], got['head/kernel'][:, :2])
    self.assertNotIn('head/kernel', stand_ins)
    self.assertIn('dense/kernel', stand_ins)
    # A cast fills the whole variable: stand-ins (float64 parts).
    self.assertIn('emb/table/part_0', stand_ins)
    self.assertAllClose(self.ckpt['emb/table'],
                        np.concatenate([got['emb/table/part_0'],
                                        got['emb/table/part_1']]))
    vocab_got, vocab_plan, _ = self.assertBothWays(
        _make_model_fn(),
        warmstart.WarmStartSettings(
            self.prefix, ['linear/.*', 'emb/.*'], var_name_to_vocab_info={
                'emb/table': vocab}))
    self.assertEqual('vocab_remap', [
        e.action for e in vocab_plan.restored
        if e.variable == 'emb/table'][0])
    table = np.concatenate([vocab_got['emb/table/part_0'],
                            vocab_got['emb/table/part_1']])
    self.assertAllClose(self.ckpt['emb/table'][2], table[0])
    self.assertAllClose(self.ckpt['emb/table'][0], table[1])

  def test_moving_averages_start_at_the_restored_values(self):
    # Without stand-ins a shadow starts at the restored value only if the
    # primary's restore ran first (else at the Glorot value it replaced):
    # not compared.
    shadows = ['linear/w/ExponentialMovingAverage',
               'linear/b/ExponentialMovingAverage']
    got, _, stand_ins = self.assertBothWays(
        _make_model_fn(averages=True),
        warmstart.WarmStartSettings(self.prefix, 'linear/.*'),
        unordered=shadows)
    self.assertIn('linear/w', stand_ins)
    # The shadow's initial value is the primary's initialized value: the
    # restored one (not a stand-in, nor the Glorot value it replaced).
    for shadow in shadows:
      self.assertAllClose(self.ckpt[shadow.split('/Exp')[0]], got[shadow])

  def test_assignment_map_and_two_sources(self):
    other_dir = self.create_tempdir().full_path
    tf.estimator.Estimator(
        _make_model_fn(), model_dir=other_dir,
        config=tf.estimator.RunConfig(tf_random_seed=12)).train(
            _input_fn, steps=1)
    other = tf.train.latest_checkpoint(other_dir)
    got, plan, _ = self.assertBothWays(_make_model_fn(), [
        warmstart.WarmStartSettings(self.prefix,
                                    assignment_map={'linear/': 'linear/'}),
        warmstart.WarmStartSettings(other, ['dense/.*']),
    ])
    self.assertAllClose(self.ckpt['linear/w'], got['linear/w'])
    self.assertAllClose(tf.train.load_variable(other, 'dense/kernel'),
                        got['dense/kernel'])
    self.assertLen({e.source for e in plan.restored}, 2)

  def test_canned_estimator_both_ways(self):
    columns = [tf.feature_column.numeric_column('x', shape=[3])]

    def input_fn():
      return tf.data.Dataset.from_tensors(({'x': _X}, _Y)).repeat()

    def canned(model_dir, seed):
      return tf.estimator.DNNRegressor(
          [4], columns, model_dir=model_dir,
          config=tf.estimator.RunConfig(tf_random_seed=seed))

    source = self.create_tempdir().full_path
    canned(source, 3).train(input_fn, steps=2)
    values = []
    for at_creation in (True, False):
      reader = test_util.ReadVariablesHook()
      warmstart.wrap_estimator(
          canned(self.create_tempdir().full_path, 4),
          warmstart.WarmStartSettings(source, 'dnn/hiddenlayer_0/.*'),
          at_creation=at_creation).train(input_fn, steps=1, hooks=[reader])
      values.append(reader.values)
    self.assertCountEqual(values[1], values[0])
    for name in values[1]:
      np.testing.assert_array_equal(values[1][name], values[0][name],
                                    err_msg=name)
    self.assertAllClose(
        tf.train.load_variable(source, 'dnn/hiddenlayer_0/kernel'),
        values[0]['dnn/hiddenlayer_0/kernel'])

  def test_at_creation_must_be_a_bool(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'at_creation must be True or False.*yes'):
      warmstart.wrap_model_fn(_make_model_fn(), self.prefix,
                              at_creation='yes')


if __name__ == '__main__':
  tf.test.main()
