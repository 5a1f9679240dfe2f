"""One task (ps, chief or worker) of the cluster that ps_cluster_test starts.

A script, run as its own process with TF_CONFIG naming the task:

  TF_CONFIG=... python ps_cluster_worker.py SOURCE MODEL_DIR RESULT_DIR

Every task runs `tf.estimator.train_and_evaluate` with an Estimator whose
model_fn is wrapped by `warmstart.wrap_model_fn`: the ps serves (and never
returns), the chief and the worker train. The model has a partitioned
embedding (3 parts, placed on the ps by Estimator's replica device setter)
warm-started from SOURCE (saved with another partitioning) at learning rate
0. The chief and the worker each write `<task>.begin` to RESULT_DIR when
their hooks begin (graph built, no session yet), then `<task>.json` with what
they read from the ps right after their session was created, and when. The
chief then waits (bounded) until the worker has read too, so the worker
always reads while the chief is alive and training is not over.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
from absl import logging

from warmstart._session import _estimator
from warmstart import _settings

VOCAB, DIM, PARTS, MAX_STEPS = 10, 4, 3, 10
_WAIT_FOR_WORKER_SECS = 100
_READ_COLLECTION = 'ps_cluster_test_reads'


def model_fn(features, labels, mode):
  const = tf.compat.v1.constant_initializer(7.0)
  with tf.compat.v1.variable_scope('model'):
    embedding = tf.compat.v1.get_variable(
        'embedding', [VOCAB, DIM], initializer=const,
        partitioner=tf.compat.v1.fixed_size_partitioner(PARTS))
    w = tf.compat.v1.get_variable('w', [DIM, 1], initializer=const)
  predictions = tf.matmul(tf.nn.embedding_lookup(embedding, features), w)
  loss = tf.reduce_mean(tf.square(predictions - labels))
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
      loss, tf.compat.v1.train.get_global_step())
  # What the hook reads: built now, the graph is finalized later.
  tf.compat.v1.add_to_collection(_READ_COLLECTION, {
      'model/embedding': embedding.as_tensor(),
      'model/w': tf.identity(w),
  })
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn():
  ids = np.arange(8, dtype=np.int64) % VOCAB
  labels = np.ones([8, 1], np.float32)
  return tf.data.Dataset.from_tensors((ids, labels)).repeat()


class ReadHook(tf.compat.v1.train.SessionRunHook):
  """Writes what the session reads from the ps when it is created."""

  def __init__(self, path: str) -> None:
    self._path = path
    self._start = None

  def begin(self) -> None:
    self._start = time.time()
    _write(self._path[:-len('.json')] + '.begin', {'at': self._start})

  def after_create_session(self, session, coord) -> None:
    del coord
    graph = tf.compat.v1.get_default_graph()
    reads, = graph.get_collection(_READ_COLLECTION)
    values = session.run(reads)
    variables = tf.compat.v1.global_variables()
    result = {
        'values': {k: v.tolist() for k, v in values.items()},
        'variable_devices': {v.op.name: v.device for v in variables},
        'warm_start_restore_devices': [
            op.device for op in graph.get_operations()
            if op.type == 'RestoreV2' and op.name.startswith('checkpoint_initializer')
        ],
        # A tensor stored whole, read once for all parts (_restore/_stream).
        'warm_start_stream_devices': [
            op.device for op in graph.get_operations()
            if op.name.startswith('checkpoint_initializer') and
            op.name.split('/')[-1].startswith('read_rows')
        ],
        'began_at': self._start,
        'session_at': time.time(),
    }
    _write(self._path, result)


def _write(path: str, data) -> None:
  with open(path + '.tmp', 'w') as f:
    json.dump(data, f)
  os.rename(path + '.tmp', path)


class WaitForFileHook(tf.compat.v1.train.SessionRunHook):
  """After the first step, waits until `path` exists (bounded)."""

  def __init__(self, path: str, timeout: float) -> None:
    self._path = path
    self._timeout = timeout
    self._done = False

  def after_run(self, run_context, run_values) -> None:
    del run_context, run_values
    if self._done:
      return
    deadline = time.time() + self._timeout
    while not os.path.exists(self._path):
      if time.time() > deadline:
        raise RuntimeError('Timed out waiting for %s.' % self._path)
      time.sleep(0.1)
    self._done = True


def main(argv: list[str]) -> int:
  source, model_dir, result_dir = argv[1:4]
  logging.set_verbosity(logging.INFO)  # The warm start's log lines.
  config = tf.estimator.RunConfig(
      model_dir=model_dir, session_creation_timeout_secs=100,
      save_summary_steps=1000, log_step_count_steps=1000)
  estimator = tf.estimator.Estimator(
      _estimator.wrap_model_fn(
          model_fn, _settings.WarmStartSettings(source, 'model/.*')),
      config=config)
  hooks = []
  if config.task_type in ('chief', 'worker'):
    hooks.append(ReadHook(os.path.join(result_dir, config.task_type + '.json')))
  if config.task_type == 'chief':
    hooks.append(WaitForFileHook(os.path.join(result_dir, 'worker.json'),
                                 _WAIT_FOR_WORKER_SECS))
  tf.estimator.train_and_evaluate(
      estimator,
      tf.estimator.TrainSpec(input_fn, max_steps=MAX_STEPS, hooks=hooks),
      tf.estimator.EvalSpec(input_fn, steps=1))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
