"""A real parameter-server cluster on loopback, warm-started by wrap_model_fn.

The test starts a ps, a chief and a worker as separate processes
(`tests/ps_cluster_worker.py`, TF_CONFIG naming each task, addresses on
127.0.0.1 with ports picked free at run time). Estimator's replica device
setter puts the partitioned embedding on the ps; the source checkpoint has
another partitioning. The worker starts first and builds its graph; the
chief starts only then. The worker's session waits until the chief's init op
(with the warm start) has initialized the variables on the ps (TF's
WorkerSessionCreator polls every 30 s, hence this test's ~45 s). Both read
the ps right after their session is created, and must see the checkpoint's
values. Every wait is bounded, and every process is reaped, the ps (which
serves until killed) included.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from tests import test_util
from warmstart import _report

# The processes train an Estimator (train_and_evaluate) with wrap_model_fn.
test_util.skip_module_without_estimator()

_WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              'ps_cluster_worker.py')
# Bound on the whole cluster run (TF start-up of three processes included).
_DEADLINE_SECS = 150
_VOCAB, _DIM, _MAX_STEPS = 10, 4, 10


def _free_ports(count):
  """Ports free on 127.0.0.1 now (all held open until all are chosen)."""
  with contextlib.ExitStack() as stack:
    ports = []
    for _ in range(count):
      sock = stack.enter_context(
          socket.socket(socket.AF_INET, socket.SOCK_STREAM))
      sock.bind(('127.0.0.1', 0))
      ports.append(sock.getsockname()[1])
  return ports


def _build_source(parts=2):
  with tf.compat.v1.variable_scope('model'):
    tf.compat.v1.get_variable(
        'embedding', [_VOCAB, _DIM],
        partitioner=(tf.compat.v1.fixed_size_partitioner(parts)
                     if parts > 1 else None))
    tf.compat.v1.get_variable('w', [_DIM, 1])


def _tail(path, lines=40):
  if not os.path.exists(path):
    return '(no log)'
  with open(path, errors='replace') as f:
    return ''.join(f.readlines()[-lines:])


class PsClusterTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    root = self.create_tempdir().full_path
    self.prefix, self.ckpt = test_util.save_checkpoint(
        os.path.join(root, 'source'), _build_source)
    self.model_dir = os.path.join(root, 'model')
    self.result_dir = os.path.join(root, 'results')
    self.log_dir = os.path.join(root, 'logs')
    os.makedirs(self.result_dir)
    os.makedirs(self.log_dir)

  def _start(self, cluster, task_type):
    env = dict(os.environ)
    env['TF_CONFIG'] = json.dumps({
        'cluster': cluster, 'task': {'type': task_type, 'index': 0}})
    env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    log = open(os.path.join(self.log_dir, task_type + '.log'), 'w')
    self.addCleanup(log.close)
    return subprocess.Popen(
        [sys.executable, _WORKER_SCRIPT, self.prefix, self.model_dir,
         self.result_dir],
        env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)

  def _logs(self):
    return '\n'.join('--- %s ---\n%s' % (task, _tail(
        os.path.join(self.log_dir, task + '.log')))
                     for task in ('ps', 'chief', 'worker'))

  def _run_cluster(self):
    ps_port, chief_port, worker_port = _free_ports(3)
    cluster = {
        'ps': ['127.0.0.1:%d' % ps_port],
        'chief': ['127.0.0.1:%d' % chief_port],
        'worker': ['127.0.0.1:%d' % worker_port],
    }
    processes = {}
    deadline = time.time() + _DEADLINE_SECS
    try:
      for task_type in ('ps', 'worker'):
        processes[task_type] = self._start(cluster, task_type)
      # The chief starts once the worker's graph is built: the worker must
      # wait for the chief to initialize.
      began = os.path.join(self.result_dir, 'worker.begin')
      while not os.path.exists(began):
        if time.time() > deadline or processes['worker'].poll() is not None:
          self.fail('The worker did not build its graph within %d s.\n%s' %
                    (_DEADLINE_SECS, self._logs()))
        time.sleep(0.1)
      processes['chief'] = self._start(cluster, 'chief')
      for task_type in ('chief', 'worker'):
        try:
          code = processes[task_type].wait(
              timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
          self.fail('The %s did not finish within %d s.\n%s' %
                    (task_type, _DEADLINE_SECS, self._logs()))
        self.assertEqual(0, code, 'The %s failed (exit code %s).\n%s' %
                         (task_type, code, self._logs()))
      # The ps serves until it is killed; it must still be serving.
      self.assertIsNone(processes['ps'].poll(), self._logs())
    finally:
      for process in processes.values():
        if process.poll() is None:
          process.terminate()
      for process in processes.values():
        try:
          process.wait(timeout=5)
        except subprocess.TimeoutExpired:
          process.kill()
          process.wait(timeout=5)

  def _result(self, task_type):
    with open(os.path.join(self.result_dir, task_type + '.json')) as f:
      return json.load(f)

  def test_a_tensor_stored_whole_is_streamed_by_the_chief(self):
    # The source's embedding is one tensor: its 3 parts on the ps are filled
    # from one stream of its rows, read by the chief (which planned and
    # sees the checkpoint), not by the ps.
    self.prefix, self.ckpt = test_util.save_checkpoint(
        os.path.join(self.create_tempdir().full_path, 'whole'),
        lambda: _build_source(parts=1))
    self._run_cluster()
    for task_type in ('chief', 'worker'):
      self.assertAllClose(
          self.ckpt['model/embedding'],
          np.array(self._result(task_type)['values']['model/embedding']),
          msg='read by the %s' % task_type)
    chief = self._result('chief')
    # One chunk per part (chunks are cut at the parts' bounds).
    self.assertLen(chief['warm_start_stream_devices'], 3)
    for device in chief['warm_start_stream_devices']:
      self.assertIn('/job:chief/task:0', device)
    # The unpartitioned w is still read on the ps, next to it.
    for device in chief['warm_start_restore_devices']:
      self.assertIn('/job:ps/task:0', device)
    self.assertAllClose(
        self.ckpt['model/embedding'],
        tf.train.load_variable(self.model_dir, 'model/embedding'))

  def test_chief_restores_and_the_worker_sees_it(self):
    self._run_cluster()
    expected = {'model/embedding': self.ckpt['model/embedding'],
                'model/w': self.ckpt['model/w']}
    self.assertFalse(np.allclose(expected['model/embedding'], 7.0))
    for task_type in ('chief', 'worker'):
      result = self._result(task_type)
      for name, value in expected.items():
        self.assertAllClose(value, np.array(result['values'][name]),
                            msg='%s read by the %s' % (name, task_type))
      parts = {n: d for n, d in result['variable_devices'].items()
               if n.startswith('model/embedding/part_')}
      self.assertLen(parts, 3)
      for name, device in parts.items():
        self.assertIn('/job:ps/task:0', device, name)
    chief, worker = self._result('chief'), self._result('worker')
    # The worker was first, and got its session only once the chief had one.
    self.assertLess(worker['began_at'], chief['began_at'])
    self.assertGreaterEqual(worker['session_at'], chief['session_at'])
    with open(os.path.join(self.log_dir, 'chief.log')) as f:
      self.assertIn('Warm-started 2 of 3 variables from %s; 1 starts cold' %
                    self.prefix, f.read())
    # The chief read the checkpoint on the ps, next to the variables.
    self.assertNotEmpty(chief['warm_start_restore_devices'])
    for device in chief['warm_start_restore_devices']:
      self.assertIn('/job:ps/task:0', device)
    # Learning rate 0: the trained checkpoint still holds the warm start.
    self.assertAllClose(
        self.ckpt['model/embedding'],
        tf.train.load_variable(self.model_dir, 'model/embedding'))
    # Two tasks train asynchronously: both may step past max_steps a little.
    self.assertGreaterEqual(
        tf.train.load_variable(self.model_dir, 'global_step'), _MAX_STEPS)
    plan = _report.read_plan(self.model_dir)
    embedding = plan.entry('model/embedding')
    self.assertEqual(self.prefix, embedding.source)
    self.assertLen(embedding.slices, 3)


if __name__ == '__main__':
  tf.test.main()
