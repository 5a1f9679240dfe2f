"""Tests of `wrap_model_fn` with real Estimators: A trains, B warm-starts.

A source Estimator trains a small model (a linear part, an embedding over a
vocabulary, a `tf.compat.v1.layers.dense`) a few steps and saves. Target
Estimators wrap a model_fn whose own initializers are constants (7.0), so a
value that equals the checkpoint's was warm-started and one that is 7.0 was
not. With learning rate 0, the saved values after `train(steps=1)` are the
warm-started ones; with learning rate 0.1 they follow one gradient step
computed here in numpy.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import types
from unittest import mock

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
try:
  from tensorflow_estimator.python.estimator import util as estimator_util
except ImportError:  # TF >= 2.16: no Estimator; the module skips (below).
  estimator_util = None

import warmstart
from warmstart import _report
from warmstart._session import _estimator
from warmstart import _settings
from warmstart import _tf_compat
from tests import test_util

test_util.skip_module_without_estimator()

ModeKeys = tf.estimator.ModeKeys
WarmStartSettings = _settings.WarmStartSettings

_X = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0) / 10.0
_Y = np.array([[1.0], [-1.0], [0.5], [2.0]], np.float32)
_INIT = 7.0
_OLD_VOCAB = ['a', 'b', 'c', 'd']
_NEW_VOCAB = ['c', 'a', 'e']  # Plus one OOV bucket: 4 rows.


def _train_input_fn():
  return tf.data.Dataset.from_tensors((_X, _Y)).repeat()


def _once_input_fn():
  return tf.data.Dataset.from_tensors((_X, _Y))


def _config(model_dir, **kwargs):
  return tf.estimator.RunConfig(
      model_dir=model_dir, tf_random_seed=3, save_summary_steps=1000,
      log_step_count_steps=1000, **kwargs)


def _build(features, *, scope='linear', init=_INIT, graphs=None):
  """Builds the model's variables; returns its predictions."""
  if graphs is not None:
    graphs.append(tf.compat.v1.get_default_graph())
  const = {} if init is None else {
      'initializer': tf.compat.v1.constant_initializer(init)}
  with tf.compat.v1.variable_scope(scope):
    w = tf.compat.v1.get_variable('w', [3, 1], **const)
    b = tf.compat.v1.get_variable('b', [1], **const)
  table = tf.compat.v1.get_variable('emb/table', [4, 2], **const)
  dense_init = {} if init is None else {
      'kernel_initializer': tf.compat.v1.constant_initializer(init),
      'bias_initializer': tf.compat.v1.constant_initializer(init)}
  hidden = tf.compat.v1.layers.dense(features, 2, name='dense', **dense_init)
  predictions = (tf.matmul(features, w) + b +
                 0.0 * (tf.reduce_sum(table) + tf.reduce_sum(hidden)))
  return predictions


def make_model_fn(lr=0.0, scope='linear', init=_INIT, graphs=None,
                  scaffold_fn=None):
  """A model_fn (features, labels, mode) of the test model."""

  def model_fn(features, labels, mode):
    predictions = _build(features, scope=scope, init=init, graphs=graphs)
    if mode == ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    loss = tf.reduce_mean(tf.square(predictions - labels))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(lr).minimize(
        loss, tf.compat.v1.train.get_global_step())
    scaffold = scaffold_fn() if scaffold_fn else None
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=train_op, scaffold=scaffold)

  return model_fn


def _warm_start_restores(graph):
  return [op.name for op in graph.get_operations()
          if op.type == 'RestoreV2' and
          op.name.startswith('checkpoint_initializer')]


def _variables_named(graph, *names):
  """The named global variables of `graph`."""
  variables = {v.op.name: v for v in graph.get_collection(
      tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)}
  return [variables[n] for n in names]


def _read(session, *names):
  """Values of the named global variables of the session's graph."""
  return session.run(_variables_named(session.graph, *names))


def _write_vocab(path, tokens):
  with open(path, 'w') as f:
    f.write('\n'.join(tokens) + '\n')
  return path


class EstimatorTest(tf.test.TestCase, parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(prefix='estimator_test_')
    cls.src = {}
    cls.ckpt = {}
    for name, seed in (('src1', 1), ('src2', 2)):
      model_dir = os.path.join(cls.root, name)
      tf.estimator.Estimator(
          make_model_fn(lr=0.1, init=None),
          config=tf.estimator.RunConfig(
              model_dir=model_dir, tf_random_seed=seed)).train(
                  _train_input_fn, steps=2)
      cls.src[name] = tf.train.latest_checkpoint(model_dir)
      cls.ckpt[name] = test_util.checkpoint_values(model_dir)
    cls.old_vocab = _write_vocab(os.path.join(cls.root, 'old.txt'), _OLD_VOCAB)
    cls.new_vocab = _write_vocab(os.path.join(cls.root, 'new.txt'), _NEW_VOCAB)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def _train(self, model_fn, steps=1, model_dir=None, **kwargs):
    model_dir = model_dir or self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        model_fn, config=_config(model_dir, **kwargs.pop('config', {})),
        **kwargs)
    estimator.train(_train_input_fn, steps=steps)
    return estimator, test_util.checkpoint_values(model_dir)

  def assertNotWarmStarted(self, values, names):
    for name in names:
      self.assertAllClose(np.full_like(values[name], _INIT), values[name],
                          msg=name)

  def test_settings_are_normalized_once_and_rules_compiled_once(self):
    # One WarmStartSettings through wrap_model_fn: normalized at the public
    # boundary, each source's rules compiled once (the predictor and the
    # plan ask the same compiled rules).
    from warmstart._planning import _rules  # pylint: disable=g-import-not-at-top
    settings = WarmStartSettings(self.src['src1'], 'linear/.*')
    with mock.patch.object(_settings, 'normalize',
                           wraps=_settings.normalize) as normalize, \
        mock.patch.object(_rules, 'Rules', wraps=_rules.Rules) as rules:
      _, values = self._train(_estimator.wrap_model_fn(make_model_fn(),
                                                       settings))
    self.assertEqual(1, normalize.call_count)
    self.assertEqual(1, rules.call_count)
    self.assertAllClose(self.ckpt['src1']['linear/b'], values['linear/b'])

  def test_sources_differ_from_initial_values(self):
    # What every other test relies on to tell restored from initialized.
    for name in ('linear/w', 'linear/b', 'emb/table', 'dense/kernel'):
      self.assertFalse(np.allclose(self.ckpt['src1'][name], _INIT))
      self.assertFalse(
          np.allclose(self.ckpt['src1'][name], self.ckpt['src2'][name]))

  def test_regex_and_rename(self):
    settings = WarmStartSettings(
        self.src['src1'], 'new_linear/.*',
        var_name_to_prev_var_name={'new_linear/w': 'linear/w',
                                   'new_linear/b': 'linear/b'})
    _, got = self._train(
        _estimator.wrap_model_fn(make_model_fn(scope='new_linear'), settings))
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['new_linear/w'])
    self.assertAllClose(self.ckpt['src1']['linear/b'], got['new_linear/b'])
    self.assertNotWarmStarted(got, ['emb/table', 'dense/kernel', 'dense/bias'])
    self.assertEqual(1, got['global_step'])

  def test_assignment_map(self):
    settings = WarmStartSettings(
        self.src['src1'], assignment_map={'linear/': 'new_linear/',
                                          'dense/kernel': 'dense/kernel'})
    _, got = self._train(
        _estimator.wrap_model_fn(make_model_fn(scope='new_linear'), settings))
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['new_linear/w'])
    self.assertAllClose(self.ckpt['src1']['linear/b'], got['new_linear/b'])
    self.assertAllClose(self.ckpt['src1']['dense/kernel'], got['dense/kernel'])
    self.assertNotWarmStarted(got, ['emb/table', 'dense/bias'])

  def test_first_step_follows_the_update_rule(self):
    lr = 0.1
    _, got = self._train(
        _estimator.wrap_model_fn(
            make_model_fn(lr=lr), WarmStartSettings(self.src['src1'],
                                                    'linear/.*')))
    w0, b0 = self.ckpt['src1']['linear/w'], self.ckpt['src1']['linear/b']
    error = _X @ w0 + b0 - _Y
    grad_w = 2.0 / len(_X) * _X.T @ error
    grad_b = 2.0 / len(_X) * error.sum(axis=0)
    self.assertAllClose(w0 - lr * grad_w, got['linear/w'], atol=1e-5)
    self.assertAllClose(b0 - lr * grad_b, got['linear/b'], atol=1e-5)
    self.assertEqual(1, got['global_step'])

  def test_global_step_restarts(self):
    # The source saved global_step=2; a warm start does not carry it over.
    self.assertEqual(2, self.ckpt['src1']['global_step'])
    _, got = self._train(
        _estimator.wrap_model_fn(make_model_fn(), self.src['src1']), steps=3)
    self.assertEqual(3, got['global_step'])
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['linear/w'])

  def test_a_kept_or_set_step_is_where_the_run_starts_and_is_said(self):
    for global_step, start in (('keep', 2), (7, 7)):
      with self.assertLogs(level='INFO') as logs:
        estimator, got = self._train(_estimator.wrap_model_fn(
            make_model_fn(), self.src['src1'], global_step=global_step),
                                     steps=3)
      self.assertEqual(start + 3, got['global_step'])
      self.assertAllClose(self.ckpt['src1']['linear/w'], got['linear/w'])
      said = [line for line in logs.output
              if 'the run starts at step %d' % start in line]
      self.assertLen(said, 1, logs.output)
      self.assertRegex(said[0], r'^INFO.*Warm-started 6 of 6 variables')
      plan = _report.read_plan(estimator.model_dir)
      self.assertEqual(start, plan.start_step)
      self.assertIn('the run starts at step %d.' % start, str(plan))
    # The default: the graph's own step, which the plan does not touch.
    estimator, got = self._train(
        _estimator.wrap_model_fn(make_model_fn(), self.src['src1']))
    self.assertEqual(1, got['global_step'])
    plan = _report.read_plan(estimator.model_dir)
    self.assertIsNone(plan.start_step)
    self.assertNotIn('the run starts', str(plan))

  @parameterized.named_parameters(
      ('regex_string', '.*', None, None, 'linear',
       ['linear/w', 'linear/b', 'emb/table', 'dense/kernel', 'dense/bias'],
       []),
      ('regex_list', ['linear/w', 'emb/.*'], None, None, 'linear',
       ['linear/w', 'emb/table'], ['linear/b', 'dense/kernel']),
      ('vocab_only', None, 'vocab', None, 'linear', [],
       ['linear/w', 'linear/b', 'dense/kernel']),
      ('rename', 'new_linear/.*', None,
       {'new_linear/w': 'linear/w', 'new_linear/b': 'linear/b'}, 'new_linear',
       ['new_linear/w', 'new_linear/b'], ['emb/table', 'dense/kernel']),
  )
  def test_same_values_as_estimator_warm_start_from(
      self, vars_to_warm_start, vocab, renames, scope, restored, kept):
    vocab_info = None
    if vocab:
      vocab_info = {'emb/table': tf.estimator.VocabInfo(
          new_vocab=self.new_vocab, new_vocab_size=len(_NEW_VOCAB),
          num_oov_buckets=1, old_vocab=self.old_vocab)}
    settings = tf.estimator.WarmStartSettings(
        ckpt_to_initialize_from=self.src['src1'],
        vars_to_warm_start=vars_to_warm_start,
        var_name_to_vocab_info=vocab_info,
        var_name_to_prev_var_name=renames)
    _, ours = self._train(
        _estimator.wrap_model_fn(make_model_fn(scope=scope), settings))
    _, tfs = self._train(make_model_fn(scope=scope), warm_start_from=settings)
    self.assertCountEqual(tfs, ours)
    for name in tfs:
      self.assertAllClose(tfs[name], ours[name], msg=name)
    for name in restored:
      source_name = 'linear/' + name.split('/')[1] if name.startswith(
          'new_linear/') else name
      self.assertAllClose(self.ckpt['src1'][source_name], ours[name],
                          msg=name)
    self.assertNotWarmStarted(ours, kept)
    if vocab:
      # Row i of the new table is the old row of token i; 'e' and the OOV
      # bucket are new (zeros, TF's default backup initializer).
      old = self.ckpt['src1']['emb/table']
      self.assertAllClose(old[_OLD_VOCAB.index('c')], ours['emb/table'][0])
      self.assertAllClose(old[_OLD_VOCAB.index('a')], ours['emb/table'][1])
      self.assertAllClose(np.zeros([2, 2]), ours['emb/table'][2:])

  def test_restart_resumes_from_model_dir(self):
    model_dir = self.create_tempdir().full_path
    self._train(
        _estimator.wrap_model_fn(make_model_fn(),
                                 WarmStartSettings(self.src['src1'])),
        model_dir=model_dir)
    graphs = []
    # Another source now: a restart must ignore it.
    with self.assertLogs(level='INFO') as logs:
      _, got = self._train(
          _estimator.wrap_model_fn(make_model_fn(graphs=graphs),
                                   WarmStartSettings(self.src['src2'])),
          model_dir=model_dir)
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['linear/w'])
    self.assertAllClose(self.ckpt['src1']['dense/kernel'], got['dense/kernel'])
    self.assertEqual(2, got['global_step'])
    self.assertEmpty(_warm_start_restores(graphs[0]))
    self.assertTrue(
        any(re.search('not warm-starting, model_dir .* already holds '
                      'checkpoint .*; the run resumes from it', line)
            for line in logs.output), logs.output)
    # The first run's graph had restore ops: what the check above relies on.
    first = []
    self._train(
        _estimator.wrap_model_fn(make_model_fn(graphs=first),
                                 WarmStartSettings(self.src['src1'])))
    self.assertNotEmpty(_warm_start_restores(first[0]))

  def test_restart_does_not_need_the_source(self):
    # Sources are cleaned up once a run is under way: a restart resumes from
    # model_dir and never opens the source.
    source_dir = self.create_tempdir().full_path
    prefix = os.path.join(source_dir, os.path.basename(self.src['src1']))
    for name in os.listdir(os.path.dirname(self.src['src1'])):
      if name.startswith(os.path.basename(self.src['src1']) + '.'):
        shutil.copy(os.path.join(os.path.dirname(self.src['src1']), name),
                    source_dir)
    model_fn = _estimator.wrap_model_fn(make_model_fn(lr=0.1),
                                        WarmStartSettings(prefix, 'linear/.*'))
    model_dir = self.create_tempdir().full_path
    _, first = self._train(model_fn, model_dir=model_dir)
    self.assertFalse(np.allclose(self.ckpt['src1']['linear/w'],
                                 first['linear/w']))
    shutil.rmtree(source_dir)
    graphs = []
    _, second = self._train(
        _estimator.wrap_model_fn(make_model_fn(lr=0.0, graphs=graphs),
                                 WarmStartSettings(prefix, 'linear/.*')),
        model_dir=model_dir)
    for name, value in first.items():
      if name != 'global_step':
        self.assertAllClose(value, second[name], msg=name)
    self.assertEqual(2, second['global_step'])
    self.assertEmpty(_warm_start_restores(graphs[0]))

  def test_several_sources(self):
    settings = [WarmStartSettings(self.src['src1'], 'linear/.*'),
                WarmStartSettings(self.src['src2'], 'dense/.*')]
    _, got = self._train(_estimator.wrap_model_fn(make_model_fn(), settings))
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['linear/w'])
    self.assertAllClose(self.ckpt['src2']['dense/kernel'], got['dense/kernel'])
    self.assertAllClose(self.ckpt['src2']['dense/bias'], got['dense/bias'])
    self.assertNotWarmStarted(got, ['emb/table'])

  def test_conflict_raises_before_anything_is_written(self):
    settings = [WarmStartSettings(self.src['src1'], 'linear/.*'),
                WarmStartSettings(self.src['src2'], 'linear/w')]
    model_dir = os.path.join(self.create_tempdir().full_path, 'model')
    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(make_model_fn(), settings),
        config=_config(model_dir))
    with self.assertRaisesRegex(
        warmstart.ConflictError,
        r"'linear/w'.*%s.*%s" % (re.escape(self.src['src1']),
                                 re.escape(self.src['src2']))):
      estimator.train(_train_input_fn, steps=1)
    self.assertIsNone(tf.train.latest_checkpoint(model_dir))
    self.assertFalse(
        os.path.exists(model_dir) and os.listdir(model_dir),
        os.listdir(model_dir) if os.path.exists(model_dir) else None)

  def test_predict_from_warm_start(self):
    settings = WarmStartSettings(self.src['src1'], 'linear/.*')
    w, b = self.ckpt['src1']['linear/w'], self.ckpt['src1']['linear/b']
    model_dir = self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(make_model_fn(), settings,
                                 modes=(ModeKeys.TRAIN, ModeKeys.PREDICT)),
        config=_config(model_dir))
    got = list(estimator.predict(_once_input_fn, yield_single_examples=False))
    self.assertLen(got, 1)
    self.assertAllClose(_X @ w + b, got[0], atol=1e-5)
    self.assertIsNone(tf.train.latest_checkpoint(model_dir))
    # Without PREDICT in modes, prediction runs the initializers (PREDICT is
    # in the default modes, as warm_start_from warm-starts predict).
    plain = tf.estimator.Estimator(
        _estimator.wrap_model_fn(make_model_fn(), settings,
                                 modes=(ModeKeys.TRAIN,)),
        config=_config(self.create_tempdir().full_path))
    got = list(plain.predict(_once_input_fn, yield_single_examples=False))
    self.assertAllClose(_X @ np.full([3, 1], _INIT) + _INIT, got[0])

  def test_evaluate_from_warm_start(self):
    settings = WarmStartSettings(self.src['src1'], 'linear/.*')
    w, b = self.ckpt['src1']['linear/w'], self.ckpt['src1']['linear/b']
    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(make_model_fn(), settings,
                                 modes=(ModeKeys.EVAL,)),
        config=_config(self.create_tempdir().full_path))
    metrics = estimator.evaluate(_once_input_fn)
    self.assertAllClose(np.mean((_X @ w + b - _Y)**2), metrics['loss'],
                        rtol=1e-5)
    self.assertEqual(0, metrics['global_step'])

  def test_user_scaffold_is_kept(self):
    calls = []

    def scaffold_fn():
      return tf.compat.v1.train.Scaffold(
          saver=tf.compat.v1.train.Saver(max_to_keep=1),
          init_fn=lambda scaffold, session: calls.append(scaffold))

    model_dir = self.create_tempdir().full_path
    _, got = self._train(
        _estimator.wrap_model_fn(make_model_fn(scaffold_fn=scaffold_fn),
                                 WarmStartSettings(self.src['src1'],
                                                   'linear/.*')),
        steps=3, model_dir=model_dir,
        config={'save_checkpoints_steps': 1})
    self.assertLen(calls, 1)
    self.assertIsInstance(calls[0], tf.compat.v1.train.Scaffold)
    state = tf.train.get_checkpoint_state(model_dir)
    self.assertLen(state.all_model_checkpoint_paths, 1)  # max_to_keep=1
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['linear/w'])
    self.assertNotWarmStarted(got, ['dense/kernel'])

  def test_user_init_op_runs_before_the_restores(self):
    calls = []

    def scaffold_fn():
      return tf.compat.v1.train.Scaffold(
          init_op=tf.compat.v1.global_variables_initializer(),
          init_fn=lambda scaffold, session: calls.append(1))

    _, got = self._train(
        _estimator.wrap_model_fn(make_model_fn(scaffold_fn=scaffold_fn),
                                 WarmStartSettings(self.src['src1'],
                                                   'linear/.*')))
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['linear/w'])
    self.assertAllClose(self.ckpt['src1']['linear/b'], got['linear/b'])
    self.assertNotWarmStarted(got, ['dense/kernel', 'emb/table'])
    self.assertLen(calls, 1)

  def test_scaffold_fields_are_kept(self):
    settings = WarmStartSettings(self.src['src1'], 'linear/.*')
    model_dir = self.create_tempdir().full_path
    for with_init_op in (False, True):
      with tf.Graph().as_default() as graph:
        tf.compat.v1.train.get_or_create_global_step()
        user = {}
        calls = []

        def scaffold_fn():
          local = tf.compat.v1.get_variable(
              'local', [], collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])
          placeholder = tf.compat.v1.placeholder_with_default(1.0, [])
          user.update(
              saver=tf.compat.v1.train.Saver(max_to_keep=2),
              ready_op=tf.constant([], tf.string, name='ready'),
              ready_for_local_init_op=tf.constant([], tf.string,
                                                  name='ready_local'),
              local_init_op=local.initializer,
              init_feed_dict={placeholder: 2.0},
              local_init_feed_dict={placeholder: 3.0},
              summary_op=tf.constant('', name='summary'),
              init_fn=lambda scaffold, session: calls.append(scaffold))
          if with_init_op:
            user['init_op'] = tf.compat.v1.global_variables_initializer()
          return tf.compat.v1.train.Scaffold(**user)

        wrapped = _estimator.wrap_model_fn(
            make_model_fn(scaffold_fn=scaffold_fn), settings)
        spec = wrapped(features=tf.constant(_X), labels=tf.constant(_Y),
                       mode=ModeKeys.TRAIN, config=_config(model_dir))
        scaffold = spec.scaffold
        for field, value in user.items():
          if field != 'init_fn':
            self.assertIs(value, getattr(scaffold, field), field)
        if not with_init_op:
          self.assertIsNone(scaffold.init_op)
        init_op = scaffold.init_op
        if init_op is None:
          init_op = tf.compat.v1.global_variables_initializer()
        # What SessionManager does on a fresh start: init_op, then init_fn.
        with tf.compat.v1.Session(graph=graph) as session:
          session.run(init_op)
          scaffold.init_fn(session)
          w, bias = _read(session, 'linear/w', 'dense/bias')
        self.assertAllClose(self.ckpt['src1']['linear/w'], w)
        self.assertAllClose(np.full([2], _INIT), bias)
        self.assertLen(calls, 1)
        self.assertIsInstance(calls[0], tf.compat.v1.train.Scaffold)

  def test_user_init_op_is_followed_by_the_custom_restores(self):
    # An init op built by the model_fn runs neither the variables' new
    # initializers nor warmstart.CUSTOM_RESTORES: init_fn must run both.
    with tf.Graph().as_default() as graph:
      tf.compat.v1.train.get_or_create_global_step()
      tables = []

      def scaffold_fn():
        tables.append(test_util.PrivateVariable('custom/w', [3, 1]))
        warmstart.register_custom_variable(tables[0])
        return tf.compat.v1.train.Scaffold(
            init_op=tf.compat.v1.global_variables_initializer())

      settings = WarmStartSettings(
          self.src['src1'], ['linear/w', 'custom/w'],
          var_name_to_prev_var_name={'custom/w': 'linear/w'})
      spec = _estimator.wrap_model_fn(
          make_model_fn(scaffold_fn=scaffold_fn), settings)(
              features=tf.constant(_X), labels=tf.constant(_Y),
              mode=ModeKeys.TRAIN, config=None)
      read = tables[0].read()
      with tf.compat.v1.Session(graph=graph) as session:
        session.run(spec.scaffold.init_op)
        spec.scaffold.init_fn(session)
        custom, w = session.run([read] + _variables_named(graph, 'linear/w'))
    self.assertAllClose(self.ckpt['src1']['linear/w'], custom)
    self.assertAllClose(self.ckpt['src1']['linear/w'], w)

  def test_collection_init_op_is_followed_by_the_restores(self):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.train.get_or_create_global_step()

      def scaffold_fn():
        tf.compat.v1.add_to_collection(
            tf.compat.v1.GraphKeys.INIT_OP,
            tf.compat.v1.global_variables_initializer())
        return None

      spec = _estimator.wrap_model_fn(
          make_model_fn(scaffold_fn=scaffold_fn),
          WarmStartSettings(self.src['src1'], 'linear/.*'))(
              features=tf.constant(_X), labels=tf.constant(_Y),
              mode=ModeKeys.TRAIN, config=None)
      self.assertIsNone(spec.scaffold.init_op)
      with tf.compat.v1.Session(graph=graph) as session:
        session.run(graph.get_collection(tf.compat.v1.GraphKeys.INIT_OP))
        spec.scaffold.init_fn(session)
        w, = _read(session, 'linear/w')
      self.assertAllClose(self.ckpt['src1']['linear/w'], w)

  def test_estimator_warm_start_from_on_the_same_variable_raises(self):
    model_dir = self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(make_model_fn(),
                                 WarmStartSettings(self.src['src1'],
                                                   'linear/.*')),
        config=_config(model_dir),
        warm_start_from=tf.estimator.WarmStartSettings(self.src['src2'],
                                                       'linear/w'))
    with self.assertRaisesRegex(
        warmstart.ConflictError,
        r"'linear/w' from %s.*warm_start_from" % re.escape(self.src['src1'])):
      estimator.train(_train_input_fn, steps=1)
    self.assertIsNone(tf.train.latest_checkpoint(model_dir))
    self.assertFalse(os.path.exists(_report.plan_path(model_dir)))

  def test_estimator_warm_start_from_on_other_variables(self):
    _, got = self._train(
        _estimator.wrap_model_fn(
            make_model_fn(), WarmStartSettings(self.src['src1'], 'linear/.*')),
        warm_start_from=tf.estimator.WarmStartSettings(self.src['src2'],
                                                       'dense/.*'))
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['linear/w'])
    self.assertAllClose(self.ckpt['src2']['dense/kernel'], got['dense/kernel'])
    self.assertNotWarmStarted(got, ['emb/table'])

  def test_model_fn_with_params_and_config(self):
    seen = {}

    def model_fn(features, labels, mode, params, config):
      seen.update(params=params, config=config)
      return make_model_fn(lr=params['lr'])(features, labels, mode)

    _, got = self._train(
        _estimator.wrap_model_fn(model_fn,
                                 WarmStartSettings(self.src['src1'],
                                                   'linear/.*')),
        params={'lr': 0.0})
    self.assertEqual({'lr': 0.0}, seen['params'])
    self.assertIsInstance(seen['config'], tf.estimator.RunConfig)
    self.assertAllClose(self.ckpt['src1']['linear/w'], got['linear/w'])

  def test_model_fn_of_features_and_mode_predicts(self):
    w, b = self.ckpt['src1']['linear/w'], self.ckpt['src1']['linear/b']

    def model_fn(features, mode):
      return tf.estimator.EstimatorSpec(
          mode, predictions=_build(features))

    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(model_fn,
                                 WarmStartSettings(self.src['src1'],
                                                   'linear/.*'),
                                 modes=(ModeKeys.PREDICT,)),
        config=_config(self.create_tempdir().full_path))
    got = list(estimator.predict(
        lambda: tf.data.Dataset.from_tensors(_X), yield_single_examples=False))
    self.assertAllClose(_X @ w + b, got[0], atol=1e-5)

  def test_estimator_still_refuses_labels_the_model_fn_does_not_take(self):
    def model_fn(features, mode):
      del features
      return tf.estimator.EstimatorSpec(mode, predictions=tf.constant(1.0))

    estimator = tf.estimator.Estimator(
        _estimator.wrap_model_fn(model_fn, self.src['src1']),
        config=_config(self.create_tempdir().full_path))
    with self.assertRaisesRegex(ValueError, 'does not take labels'):
      estimator.train(_train_input_fn, steps=1)

  def test_tpu_estimator_spec_gets_a_scaffold_fn(self):
    for user_saver in (False, True):
      with tf.Graph().as_default() as graph:
        tf.compat.v1.train.get_or_create_global_step()
        saver = []

        def model_fn(features, labels, mode):
          spec = make_model_fn()(features, labels, mode)
          scaffold_fn = None
          if user_saver:
            def scaffold_fn():
              saver.append(tf.compat.v1.train.Saver(max_to_keep=1))
              return tf.compat.v1.train.Scaffold(saver=saver[0])
          return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
              mode, loss=spec.loss, train_op=spec.train_op,
              scaffold_fn=scaffold_fn)

        spec = _estimator.wrap_model_fn(
            model_fn, WarmStartSettings(self.src['src1'], 'linear/.*'))(
                features=tf.constant(_X), labels=tf.constant(_Y),
                mode=ModeKeys.TRAIN, config=None)
        self.assertIsInstance(spec, tf.compat.v1.estimator.tpu.TPUEstimatorSpec)
        # Nothing is built before scaffold_fn runs (on TPU: on the CPU).
        self.assertEmpty(_warm_start_restores(graph))
        scaffold = spec.scaffold_fn()
        self.assertIsInstance(scaffold, tf.compat.v1.train.Scaffold)
        if user_saver:
          self.assertIs(saver[0], scaffold.saver)
        self.assertNotEmpty(_warm_start_restores(graph))
        with tf.compat.v1.Session(graph=graph) as session:
          session.run(tf.compat.v1.global_variables_initializer())
          w, bias = _read(session, 'linear/w', 'dense/bias')
        self.assertAllClose(self.ckpt['src1']['linear/w'], w)
        self.assertAllClose(np.full([2], _INIT), bias)

  def test_tpu_estimator_spec_on_restart_is_untouched(self):
    model_dir = os.path.dirname(self.src['src1'])  # Holds a checkpoint.
    with tf.Graph().as_default():
      tf.compat.v1.train.get_or_create_global_step()
      user_scaffold_fn = tf.compat.v1.train.Scaffold

      def model_fn(features, labels, mode):
        spec = make_model_fn()(features, labels, mode)
        return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
            mode, loss=spec.loss, train_op=spec.train_op,
            scaffold_fn=user_scaffold_fn)

      spec = _estimator.wrap_model_fn(model_fn, self.src['src2'])(
          features=tf.constant(_X), labels=tf.constant(_Y),
          mode=ModeKeys.TRAIN, config=_config(model_dir))
      self.assertIs(user_scaffold_fn, spec.scaffold_fn)

  def test_writes_the_plan_on_the_chief_only(self):
    settings = WarmStartSettings(self.src['src1'], 'linear/.*')
    model_dir = self.create_tempdir().full_path
    self._train(_estimator.wrap_model_fn(make_model_fn(), settings),
                model_dir=model_dir)
    plan = _report.read_plan(model_dir)
    self.assertEqual(['linear/w', 'linear/b'],
                     [e.variable for e in plan.restored])
    self.assertEqual((self.src['src1'],), plan.sources)

    class Config:
      model_dir = None
      is_chief = True

    for is_chief in (False, True):
      Config.model_dir = self.create_tempdir().full_path
      Config.is_chief = is_chief
      with tf.Graph().as_default():
        tf.compat.v1.train.get_or_create_global_step()
        spec = _estimator.wrap_model_fn(make_model_fn(), settings)(
            features=tf.constant(_X), labels=tf.constant(_Y),
            mode=ModeKeys.TRAIN, config=Config())
      self.assertEmpty(os.listdir(Config.model_dir))  # Not before a session.
      for hook in spec.training_hooks:
        hook.after_create_session(None, None)
      self.assertEqual(is_chief,
                       os.path.exists(_report.plan_path(Config.model_dir)))


def _record(seen, **fixed):
  """Returns what a model_fn records of its arguments."""
  seen.append(fixed)
  return tf.estimator.EstimatorSpec(ModeKeys.PREDICT,
                                    predictions=tf.constant(1.0))


def _fn_features_labels_mode(features, labels, mode, seen):
  return _record(seen, features=features, labels=labels, mode=mode)


class _Callable:

  def __init__(self):
    self.seen = []

  def __call__(self, features, mode, config):
    return _record(self.seen, features=features, mode=mode, config=config)


class _Model:

  def __init__(self):
    self.seen = []

  def model_fn(self, features, labels, params):
    return _record(self.seen, features=features, labels=labels, params=params)


def _call_like_estimator(model_fn, features, labels, mode, params, config):
  """What Estimator._call_model_fn does: pass the arguments fn_args lists."""
  args = estimator_util.fn_args(model_fn)
  given = {'labels': labels, 'mode': mode, 'params': params, 'config': config}
  return model_fn(features=features,
                  **{k: v for k, v in given.items() if k in args})


class SignatureTest(tf.test.TestCase, parameterized.TestCase):

  def _forms(self):
    seen = []
    model = _Model()
    callable_object = _Callable()
    return {
        'features_labels_mode': (
            lambda features, labels, mode: _record(
                seen, features=features, labels=labels, mode=mode), seen,
            {'features', 'labels', 'mode'}),
        'all_five': (
            lambda features, labels, mode, params, config: _record(
                seen, features=features, labels=labels, mode=mode,
                params=params, config=config), seen,
            {'features', 'labels', 'mode', 'params', 'config'}),
        'features_mode': (
            lambda features, mode: _record(seen, features=features,
                                           mode=mode), seen,
            {'features', 'mode'}),
        'features_only': (
            lambda features: _record(seen, features=features), seen,
            {'features'}),
        'keyword_only': (
            lambda features, *, labels, config: _record(
                seen, features=features, labels=labels, config=config), seen,
            {'features', 'labels', 'config'}),
        'partial_binds_params': (
            functools.partial(
                lambda features, labels, params: _record(
                    seen, features=features, labels=labels, params=params),
                params='bound'), seen, {'features', 'labels'}),
        'bound_method': (model.model_fn, model.seen,
                         {'features', 'labels', 'params'}),
        'callable_object': (callable_object, callable_object.seen,
                            {'features', 'mode', 'config'}),
        'extra_positional_in_partial': (
            functools.partial(_fn_features_labels_mode, seen=seen), seen,
            {'features', 'labels', 'mode'}),
    }

  @parameterized.named_parameters(
      ('features_labels_mode', 'features_labels_mode'),
      ('all_five', 'all_five'),
      ('features_mode', 'features_mode'),
      ('features_only', 'features_only'),
      ('keyword_only', 'keyword_only'),
      ('partial_binds_params', 'partial_binds_params'),
      ('bound_method', 'bound_method'),
      ('callable_object', 'callable_object'),
      ('extra_positional_in_partial', 'extra_positional_in_partial'),
  )
  def test_forwards_exactly_the_accepted_arguments(self, form):
    model_fn, seen, accepted = self._forms()[form]
    # Called in PREDICT mode, which warm-starts by default: this test is
    # about the arguments, so the source (never read) is TRAIN's only.
    wrapped = _estimator.wrap_model_fn(model_fn, '/no/such/ckpt/is/read',
                                       modes=(ModeKeys.TRAIN,))
    args = set(estimator_util.fn_args(wrapped))
    # The wrapper declares what the model_fn declares, plus mode and config.
    self.assertEqual(
        {'features', 'mode', 'config'} | (accepted & {'labels', 'params'}),
        args)
    config = tf.estimator.RunConfig()
    with tf.Graph().as_default():
      _call_like_estimator(wrapped, 'F', 'L', ModeKeys.PREDICT, {'p': 1},
                           config)
    self.assertLen(seen, 1)
    expected = {'features': 'F', 'labels': 'L', 'mode': ModeKeys.PREDICT,
                'params': {'p': 1}, 'config': config}
    expected = {k: expected[k] for k in accepted}
    if form == 'partial_binds_params':
      expected['params'] = 'bound'  # Bound by the partial, not passed again.
    self.assertEqual(expected, seen[0])

  @parameterized.named_parameters(
      ('not_callable', 'model_fn', TypeError,
       r"callable model_fn, got 'model_fn' of type str"),
      ('unknown_argument', lambda features, labels, hparams: None, ValueError,
       r"model_fn .*<lambda> takes argument\(s\) 'hparams'.*Did you mean: "
       r"'params'"),
      ('no_features', lambda inputs, labels: None, ValueError,
       r"model_fn .*<lambda> must take a features argument \(it takes "
       r"'inputs', 'labels'\)"),
  )
  def test_bad_model_fn_raises_naming_it(self, model_fn, error, regex):
    with self.assertRaisesRegex(error, regex):
      _estimator.wrap_model_fn(model_fn, '/ckpt')

  def test_bad_model_fn_method_is_named(self):
    class Model:

      def build(self, features, label):
        del features, label

    with self.assertRaisesRegex(ValueError, r'Model\.build.*\'label\''):
      _estimator.wrap_model_fn(Model().build, '/ckpt')

  @parameterized.named_parameters(
      ('string', 'train', r"modes must be a collection.*'train'"),
      ('unknown', ('train', 'serve'), r"modes holds 'serve'"),
      ('empty', (), r'modes is empty'),
  )
  def test_bad_modes_raise(self, modes, regex):
    with self.assertRaisesRegex(warmstart.SettingsError, regex):
      _estimator.wrap_model_fn(lambda features: None, '/ckpt', modes=modes)

  def test_tensorflow_without_estimator_names_the_extra(self):
    tf_2_21 = types.SimpleNamespace(__version__='2.21.0')  # No `estimator`.
    with mock.patch.object(_tf_compat, 'tf', tf_2_21):
      with self.assertRaisesRegex(
          ImportError, r'^wrap_model_fn needs tf\.estimator.*'
          r'pip install "warmstart\[estimator\]"'):
        _estimator.wrap_model_fn(make_model_fn(), '/models/base')

  def test_bad_settings_raise_at_wrap_time(self):
    with self.assertRaisesRegex(warmstart.SettingsError,
                                'vars_to_warm_start'):
      _estimator.wrap_model_fn(lambda features: None,
                               tf.estimator.WarmStartSettings('/ckpt', 5))
    with self.assertRaisesRegex(warmstart.SettingsError, r'\[1\].*got 3'):
      _estimator.wrap_model_fn(lambda features: None, ['/ckpt', 3])

  def test_model_fn_returning_no_spec_raises_naming_it(self):
    def model_fn(features):
      del features
      return {'loss': 1.0}

    wrapped = _estimator.wrap_model_fn(model_fn, '/ckpt')
    with tf.Graph().as_default():
      with self.assertRaisesRegex(
          TypeError, r'wrap_model_fn\(.*model_fn\) must return a '
          r'tf.estimator.EstimatorSpec.*dict'):
        wrapped(features=1, mode=ModeKeys.TRAIN, config=None)


class EstimatorBuildingInitializersTest(test_util.BuildingInitializersMixin,
                                        EstimatorTest):
  """Every test of EstimatorTest on the path without stand-ins.

  `wrap_model_fn(..., at_creation=False)`: the model_fn builds every
  initializer, as before `warm_start_scope`; both paths must pass.
  """


if __name__ == '__main__':
  tf.test.main()
