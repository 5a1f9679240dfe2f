"""Tests of `_session._scaffold`: the fresh-start check and Scaffold plumbing.

Graph A (random values) is saved; graph B's own initializers are constants
(7.0), so a restored value and an initialized one differ. Sessions come from
`ChiefSessionCreator`, as in Estimator: on an empty checkpoint_dir (a fresh
start) or on one holding a checkpoint (a restart).
"""

from __future__ import annotations

import os
import pathlib

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _plan
from warmstart._session import _scaffold

_INIT = 7.0
_TWO_PARTS = tf.compat.v1.fixed_size_partitioner(2)


def _build_a():
  tf.compat.v1.get_variable('w', [3, 2])
  tf.compat.v1.get_variable('p', [4, 2], partitioner=_TWO_PARTS)
  tf.compat.v1.get_variable('c', [2])


def _plan_b(prefix):
  """Graph B's variables and a plan: w, p (2 parts), custom c, skipped new."""
  const = tf.compat.v1.constant_initializer(_INIT)
  w = tf.compat.v1.get_variable('w', [3, 2], initializer=const)
  p = tf.compat.v1.get_variable('p', [4, 2], initializer=const,
                                partitioner=_TWO_PARTS)
  new = tf.compat.v1.get_variable('new', [2], initializer=const)
  custom = test_util.PrivateVariable('c', [2])
  plan = warmstart.make_plan(
      prefix, {'w': 'w', 'p': 'p', 'c': custom, 'missing': 'new'},
      skip_missing=True)
  return plan, w, list(p), new


def _step_and_w(init=_INIT):
  """The restart tests' model: a global step and w [2] (None: random)."""
  step = tf.compat.v1.train.get_or_create_global_step()
  w = tf.compat.v1.get_variable('w', [2], initializer=(
      None if init is None else tf.compat.v1.constant_initializer(init)))
  return step, w


def _create_session(scaffold, checkpoint_dir):
  """A session as a chief prepares it: init op, or restore of a checkpoint."""
  return tf.compat.v1.train.ChiefSessionCreator(
      scaffold=scaffold, checkpoint_dir=checkpoint_dir).create_session()


class ResumeCheckpointTest(tf.test.TestCase):

  def test_no_model_dir_or_no_checkpoint_is_fresh(self):
    empty = self.create_tempdir().full_path
    missing = os.path.join(empty, 'missing')
    with self.assertNoLogs('absl'):
      for model_dir in (None, '', empty, missing):
        self.assertIsNone(_scaffold.resume_checkpoint(model_dir, 'Who'))
    self.assertEqual(os.listdir(empty), [])
    self.assertFalse(os.path.exists(missing))

  def test_resumes_from_the_latest_checkpoint_and_logs_it(self):
    model_dir = self.create_tempdir().full_path
    test_util.save_checkpoint(model_dir, _build_a, global_step=1)
    latest, _ = test_util.save_checkpoint(model_dir, _build_a, global_step=2)
    before = {n: os.stat(os.path.join(model_dir, n)).st_mtime_ns
              for n in os.listdir(model_dir)}
    with self.assertLogs('absl', 'INFO') as logs:
      got = _scaffold.resume_checkpoint(pathlib.Path(model_dir), 'MyHook')
    self.assertEqual(got, latest)
    self.assertLen(logs.output, 1)
    self.assertIn('MyHook: not warm-starting, model_dir %s already holds '
                  'checkpoint %s' % (model_dir, latest), logs.output[0])
    self.assertEqual(before, {n: os.stat(os.path.join(model_dir, n)).st_mtime_ns
                              for n in os.listdir(model_dir)})


class RestoredPartsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.prefix, self.values = test_util.save_checkpoint(
        self.get_temp_dir(), _build_a)

  def test_restored_parts_are_the_variable_parts_of_restored_entries(self):
    with tf.Graph().as_default():
      plan, w, parts, _ = _plan_b(self.prefix)
      got = _scaffold.restored_parts(plan)
    # Neither the skipped `new` nor the custom variable `c`.
    self.assertEqual([(e.variable, part.name) for e, part in got],
                     [('w', 'w:0'), ('p', 'p/part_0:0'), ('p', 'p/part_1:0')])
    for (entry, part), variable in zip(got, [w] + parts):
      self.assertIs(part, variable)
      self.assertIs(entry, plan.entry(entry.variable))

  def test_restore_initializers_are_the_restores_after_apply_plan(self):
    with tf.Graph().as_default() as graph:
      plan, w, parts, new = _plan_b(self.prefix)
      original = {v.name: v.initializer for v in [w, new] + parts}
      warmstart.apply_plan(plan)
      inits = _scaffold.restore_initializers(plan)
      self.assertCountEqual(inits, ['w:0', 'p/part_0:0', 'p/part_1:0'])
      for v in [w] + parts:
        self.assertIs(inits[v.name], v.initializer)
        self.assertIsNot(inits[v.name], original[v.name])
      self.assertIs(new.initializer, original['new:0'])
      uninitialized = tf.compat.v1.report_uninitialized_variables()
      with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(list(inits.values()))
        self.assertAllClose(sess.run(w), self.values['w'])
        self.assertAllClose(np.concatenate(sess.run(parts)), self.values['p'])
        self.assertAllEqual(sess.run(uninitialized), [b'new'])
        sess.run(new.initializer)
        self.assertAllClose(sess.run(new), [_INIT] * 2)

  def test_part_names_include_skipped_and_custom_parts(self):
    with tf.Graph().as_default():
      plan, _, _, _ = _plan_b(self.prefix)
    self.assertEqual(_scaffold.part_names(plan.entries),
                     {'w:0', 'p/part_0:0', 'p/part_1:0', 'c', 'new:0'})
    self.assertEqual(_scaffold.part_names(plan.restored),
                     {'w:0', 'p/part_0:0', 'p/part_1:0', 'c'})
    self.assertEqual(_scaffold.part_names([]), frozenset())

  def test_entries_without_target_have_no_parts(self):
    with tf.Graph().as_default():
      plan, _, _, _ = _plan_b(self.prefix)
    read = _plan.Plan.from_json(plan.to_json())  # Targets are not serialized.
    self.assertEqual(read.num_restored, 3)
    self.assertEqual(_scaffold.restored_parts(read), [])
    self.assertEqual(_scaffold.restore_initializers(read), {})
    self.assertEqual(_scaffold.part_names(read.entries), frozenset())


class _RecordingSession:
  """Passes `run` to a session and records its fetches."""

  def __init__(self, session):
    self.session = session
    self.runs = []

  def run(self, fetches):
    self.runs.append(fetches)
    return self.session.run(fetches)


class InitFnAfterTest(tf.test.TestCase):

  def test_runs_the_restores_then_the_user_init_fn_on_each_call(self):
    with tf.Graph().as_default() as graph:
      _, w = _step_and_w()
      restore = w.assign([3.0, 3.0]).op
    seen = []
    init_fn = _scaffold.init_fn_after(
        (op for op in [restore]),  # Listed once: every call runs it.
        lambda session: seen.append((session, session.session.run(w))))
    with tf.compat.v1.Session(graph=graph) as sess:
      for _ in range(2):
        sess.run(w.initializer)
        recording = _RecordingSession(sess)
        init_fn('the Scaffold copy', recording)
        self.assertEqual(recording.runs, [[restore]])
        self.assertIs(seen[-1][0], recording)
        self.assertAllClose(seen[-1][1], [3.0, 3.0])

  def test_no_restores_runs_nothing(self):
    with tf.Graph().as_default() as graph:
      _step_and_w()
    seen = []
    with tf.compat.v1.Session(graph=graph) as sess:
      recording = _RecordingSession(sess)
      _scaffold.init_fn_after([])(None, recording)
      _scaffold.init_fn_after([], seen.append)(None, recording)
    self.assertEqual(recording.runs, [])
    self.assertEqual(seen, [recording])

  def test_a_failing_restore_stops_before_the_user_init_fn(self):
    with tf.Graph().as_default() as graph:
      fail = tf.debugging.Assert(False, ['restore failed'])
    seen = []
    init_fn = _scaffold.init_fn_after([fail], seen.append)
    with tf.compat.v1.Session(graph=graph) as sess:
      with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                  'restore failed'):
        init_fn(None, sess)
    self.assertEqual(seen, [])

  def test_a_scaffold_runs_it_after_an_existing_init_op(self):
    with tf.Graph().as_default():
      _, w = _step_and_w()
      users = []
      user = tf.compat.v1.train.Scaffold(
          init_op=tf.compat.v1.global_variables_initializer(),
          init_fn=lambda scaffold, session: users.append(
              (scaffold, session.run(w))))
      restore = w.assign([3.0, 3.0])  # Built after the init op, as a restore.
      scaffold = tf.compat.v1.train.Scaffold(
          init_fn=_scaffold.init_fn_after([restore], user.init_fn),
          copy_from_scaffold=user)
      sess = tf.compat.v1.train.ChiefSessionCreator(
          scaffold=scaffold).create_session()
      self.assertAllClose(sess.run(w), [3.0, 3.0])
      sess.close()
    self.assertLen(users, 1)
    self.assertIs(users[0][0], user)
    self.assertAllClose(users[0][1], [3.0, 3.0])


class CollectionInitOpTest(tf.test.TestCase):

  def test_only_a_single_init_op_counts(self):
    with tf.Graph().as_default() as graph:
      self.assertIsNone(_scaffold.collection_init_op(graph))
      first = tf.no_op(name='first')
      graph.add_to_collection(tf.compat.v1.GraphKeys.INIT_OP, first)
      self.assertIs(_scaffold.collection_init_op(graph), first)
      graph.add_to_collection(tf.compat.v1.GraphKeys.INIT_OP, tf.no_op())
      self.assertIsNone(_scaffold.collection_init_op(graph))
      self.assertLen(graph.get_collection(tf.compat.v1.GraphKeys.INIT_OP), 2)


class OnFreshStartTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('global_step_by_default', (), (), 'global_step'),
      ('first_preferred', ('b', 'a'), (), 'b'),
      ('preferred_global_only', ('local', 'b'), (), 'b'),
      ('avoided_preferred', ('b',), ('b',), 'global_step'),
      ('first_global_without_step', (), ('global_step',), 'a'),
  )
  def test_carrier(self, prefer, avoid, carrier):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable('a', [1])
      tf.compat.v1.get_variable('b', [1])
      tf.compat.v1.train.get_or_create_global_step()
      tf.compat.v1.get_variable(
          'local', [1], collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])
      by_name = {v.op.name: v for v in tf.compat.v1.global_variables() +
                 tf.compat.v1.local_variables()}
      before = {n: (v.initializer, v.initial_value) for n, v in by_name.items()}
      ran = _scaffold.on_fresh_start(
          graph, prefer=[by_name[n] for n in prefer],
          avoid=[by_name[n].name for n in avoid])
      self.assertEqual(ran.dtype, tf.bool)
      for name, variable in by_name.items():
        self.assertIs(variable.initial_value, before[name][1])
        if name == carrier:
          self.assertEqual(variable.initializer.name,
                           'warm_start_fresh_start/init')
        else:
          self.assertIs(variable.initializer, before[name][0], name)

  def test_no_carrier_builds_nothing(self):
    with tf.Graph().as_default() as graph:
      op = tf.no_op()
      num_ops = len(graph.get_operations())
      self.assertIsNone(_scaffold.on_fresh_start(graph, [op]))
      self.assertLen(graph.get_operations(), num_ops)
      w = tf.compat.v1.get_variable('w', [1])
      initializer = w.initializer
      num_ops = len(graph.get_operations())
      self.assertIsNone(_scaffold.on_fresh_start(graph, [op], avoid=[w.name]))
    self.assertLen(graph.get_operations(), num_ops)
    self.assertIs(w.initializer, initializer)

  def test_flag_has_no_device_and_a_name_of_its_own(self):
    with tf.Graph().as_default() as graph:
      with graph.device('/job:ps/task:0'):
        _step_and_w()
        ran = [_scaffold.on_fresh_start(graph) for _ in range(2)]
      handles = [op for op in graph.get_operations() if op.type == 'VarHandleOp'
                 and op.name.startswith('warm_start_fresh_start')]
    self.assertEqual([r.op.device for r in ran], ['', ''])
    self.assertEqual([h.device for h in handles], ['', ''])
    self.assertLen({h.get_attr('shared_name') for h in handles}, 2)

  def test_fresh_start_runs_the_ops_and_a_restart_does_not(self):
    model_dir = self.create_tempdir().full_path
    with tf.Graph().as_default() as graph:
      _, w = _step_and_w()
      with tf.control_dependencies([w.initializer]):
        assign = w.assign([3.0, 3.0])
      ran = _scaffold.on_fresh_start(graph, [assign])
      trained = w.assign([5.0, 5.0])
      scaffold = tf.compat.v1.train.Scaffold()
      fresh = _create_session(scaffold, model_dir)
      self.assertTrue(fresh.run(ran))
      self.assertAllClose(fresh.run(w), [3.0, 3.0])
      fresh.run(trained)
      scaffold.saver.save(fresh, os.path.join(model_dir, 'model.ckpt'))
      fresh.close()
      restart = _create_session(scaffold, model_dir)
      self.assertFalse(restart.run(ran))
      self.assertAllClose(restart.run(w), [5.0, 5.0])
      restart.close()
    # No collection lists the flag: neither saved nor restored.
    self.assertCountEqual([n for n, _ in tf.train.list_variables(model_dir)],
                          ['global_step', 'w'])

  def test_a_failing_op_fails_a_fresh_start_only(self):
    model_dir = self.create_tempdir().full_path
    with tf.Graph().as_default() as graph:
      _, w = _step_and_w()
      guard = tf.debugging.Assert(False, ['source unreadable'])
      ran = _scaffold.on_fresh_start(graph, [guard])
      scaffold = tf.compat.v1.train.Scaffold()
      with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                  'source unreadable'):
        _create_session(scaffold, model_dir)
      _, saved = test_util.save_checkpoint(
          model_dir, lambda: _step_and_w(init=None))
      restart = _create_session(scaffold, model_dir)
      self.assertFalse(restart.run(ran))
      self.assertAllClose(restart.run(w), saved['w'])
      restart.close()


if __name__ == '__main__':
  tf.test.main()
