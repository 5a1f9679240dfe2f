"""One Estimator start-up measurement in a fresh process (run by `run.py`).

Usage: `python benchmarks/_estimator_worker.py JOB_JSON RESULT_JSON_PATH`.
The job has `mode` ('checkpoint' or 'measure'), `num_vars`, `shape`,
`partitioned_every` (every k-th variable is split in two; 0: none), `prefix`
(the source checkpoint) and, to measure, `method` and `model_dir` (empty).

The model: a `model_fn` making `num_vars` float32 variables
`model/vNNNNN` with `tf.compat.v1.get_variable` (default Glorot initializer),
a loss summing all of them and a `GradientDescentOptimizer(0.0)` step (so
the values after the step are the initial ones). What is measured is
`estimator.train(input_fn, steps=1)` from an empty model_dir, as a user waits
for it, and its split: model_fn, the warm start (TF's `warm_start` for
`warm_start_from`, the wrapper's work after model_fn, the hook's `begin`),
session creation (to `after_create_session`), first step, and the rest
(the final checkpoint). Sampled variables of the final checkpoint are
compared with the source (a wrong value fails the run).

With `emb_rows` (E-emb), the model also has an embedding `emb` of
`emb_rows` + 2 OOV buckets x `emb_dim` in `partitions` parts
(`fixed_size_partitioner`), remapped from the checkpoint's `emb` by the
vocabularies of `_emb_worker.py` (the loss looks up one row, so the step
stays small), and the run also records the bytes read and the peak RSS of
`train()` over the baseline (`_probe.py`); sampled rows of the final
checkpoint's `emb` are checked as `_emb_worker.py` checks them.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

# Run as a script: its directory (benchmarks/) is on sys.path.
import _emb_worker  # pylint: disable=g-bad-import-order
import _probe  # pylint: disable=g-bad-import-order
import _worker  # pylint: disable=g-bad-import-order

SCOPE = 'model'
METHODS = ('cold', 'warm_start_from', 'wrap_model_fn', 'wrap_model_fn_built',
           'warm_start_hook')


def var_name(index: int) -> str:
  return '%s/v%05d' % (SCOPE, index)


def _partitioned(job: dict[str, Any], index: int) -> bool:
  every = job.get('partitioned_every') or 0
  return bool(every) and index % every == every - 1


def make_checkpoint(job: dict[str, Any]) -> dict[str, Any]:
  """Writes `model/vNNNNN` (whole tensors, also for partitioned variables)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  names, values = [], []
  for i in range(job['num_vars']):
    names.append(var_name(i))
    values.append(np.random.default_rng(i).standard_normal(
        job['shape'], dtype=np.float32))
  names.append('global_step')
  values.append(np.int64(1000))
  if job.get('emb_rows'):
    # The vocabularies first: a checkpoint index means all is written.
    _emb_worker.write_vocabularies(job['prefix'], job['emb_rows'])
    names.append(_emb_worker.EMB)
    values.append(_emb_worker.embedding_values(job['emb_rows'],
                                               job['emb_dim']))
  tf.raw_ops.SaveV2(prefix=job['prefix'], tensor_names=names,
                    shape_and_slices=[''] * len(names), tensors=values)
  return {'seconds': time.perf_counter() - start}


class _Clock:
  """Named spans of one `train()` call."""

  def __init__(self):
    self.marks: dict[str, float] = {}
    self.spans: dict[str, float] = {}

  def mark(self, name: str) -> None:
    self.marks.setdefault(name, time.perf_counter())

  def add(self, name: str, seconds: float) -> None:
    self.spans[name] = self.spans.get(name, 0.0) + seconds


def _timed(fn: Any, clock: _Clock, span: str) -> Any:
  def wrapper(*args, **kwargs):
    start = time.perf_counter()
    try:
      return fn(*args, **kwargs)
    finally:
      clock.add(span, time.perf_counter() - start)
  return wrapper


def measure(job: dict[str, Any]) -> dict[str, Any]:
  """Times `train(steps=1)`; checks sampled values of the final checkpoint."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import warmstart  # pylint: disable=g-import-not-at-top

  method, prefix, model_dir = job['method'], job['prefix'], job['model_dir']
  num_vars, shape = job['num_vars'], job['shape']
  emb_rows = job.get('emb_rows') or 0
  clock = _Clock()
  vocab_infos, options, extra = {}, {}, {}
  section = None
  if emb_rows:
    vocab_infos = {_emb_worker.EMB: _emb_worker.vocab_info(prefix, emb_rows)}
    if job.get('max_chunk_bytes'):
      options['max_chunk_bytes'] = job['max_chunk_bytes']
    if hasattr(warmstart, 'Options'):
      extra['max_chunk_bytes'] = warmstart.Options(**options).max_chunk_bytes
    section = _probe.Section(_probe.baseline_rss_mb())

  def model_fn(features, labels, mode):
    del labels
    start = time.perf_counter()
    partitioner = tf.compat.v1.fixed_size_partitioner(2)
    with tf.compat.v1.variable_scope(SCOPE):
      variables = [
          tf.compat.v1.get_variable(
              'v%05d' % i, shape, tf.float32,
              partitioner=partitioner if _partitioned(job, i) else None)
          for i in range(num_vars)
      ]
    terms = [tf.reduce_sum(v) for v in variables]
    if emb_rows:
      emb = tf.compat.v1.get_variable(
          _emb_worker.EMB,
          [emb_rows + _emb_worker.OOV_BUCKETS, job['emb_dim']], tf.float32,
          partitioner=tf.compat.v1.fixed_size_partitioner(job['partitions']))
      terms.append(tf.reduce_sum(tf.compat.v1.nn.embedding_lookup(
          emb, [0], partition_strategy='div')))
    loss = tf.add_n(terms + [tf.reduce_sum(features)])
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
        loss, global_step=tf.compat.v1.train.get_or_create_global_step())
    clock.add('model_fn', time.perf_counter() - start)
    clock.mark('model_fn_end')
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  class TimingHook(tf.compat.v1.train.SessionRunHook):

    def begin(self):
      clock.mark('begin')

    def after_create_session(self, session, coord):
      clock.mark('session')

    def after_run(self, run_context, run_values):
      clock.mark('first_step')

  def input_fn():
    return tf.zeros([1, 1]), tf.zeros([1])

  settings = warmstart.WarmStartSettings(
      prefix, '.*', var_name_to_vocab_info=vocab_infos or None, **options)
  hooks = [TimingHook()]
  warm_start_from = None
  fn = model_fn
  if method == 'warm_start_from':
    warm_start_from = tf.estimator.WarmStartSettings(
        prefix, '.*', var_name_to_vocab_info=vocab_infos or None)
    # Estimator calls it as tf.compat.v1.train.warm_start after model_fn.
    tf.compat.v1.train.warm_start = _timed(tf.compat.v1.train.warm_start,
                                           clock, 'warm_start')
  elif method in ('wrap_model_fn', 'wrap_model_fn_built'):
    timed_inner = _timed(model_fn, clock, 'inner')

    def inner(features, labels, mode):
      return timed_inner(features, labels, mode)

    wrapped = _timed(warmstart.wrap_model_fn(
        inner, settings, at_creation=method == 'wrap_model_fn'), clock,
                     'outer')

    def fn(features, labels, mode, config):  # pylint: disable=function-redefined
      return wrapped(features=features, labels=labels, mode=mode,
                     config=config)
  elif method == 'warm_start_hook':
    hook = warmstart.WarmStartHook(settings)
    hook.begin = _timed(hook.begin, clock, 'warm_start')
    hooks.insert(0, hook)
  elif method != 'cold':
    raise ValueError('Unknown method %r; known: %s' % (method,
                                                       ', '.join(METHODS)))
  estimator = tf.estimator.Estimator(
      fn, model_dir=model_dir,
      config=tf.estimator.RunConfig(save_summary_steps=None,
                                    log_step_count_steps=None),
      warm_start_from=warm_start_from)
  if section:
    # The peak up to the session's creation (where every method's warm start
    # runs), before Estimator's first checkpoint: saving holds about the
    # variables' bytes again, cold or warm (the cold run shows it).
    saver_hook = tf.compat.v1.train.CheckpointSaverHook
    first_save = saver_hook.after_create_session

    def after_create_session(hook, session, coord):
      extra.setdefault('startup_peak_over_baseline_mb', section.peak_now_mb())
      return first_save(hook, session, coord)

    saver_hook.after_create_session = after_create_session
    section.start()
  start = time.perf_counter()
  cpu_start = time.process_time()
  estimator.train(input_fn, steps=1, hooks=hooks)
  end = time.perf_counter()
  cpu = time.process_time() - cpu_start
  if section:
    extra.update(section.stop())

  spans = clock.spans
  if 'outer' in spans:
    spans['warm_start'] = spans['outer'] - spans['inner']
  model_fn_s = spans['model_fn']
  warm_s = spans.get('warm_start', 0.0)
  # From the model_fn's return to the session: the warm start (every
  # method's runs there), the Scaffold, the session and its init op.
  session_s = clock.marks['session'] - clock.marks['model_fn_end'] - warm_s
  result = {
      'total_s': end - start,
      'model_fn_s': model_fn_s,
      'warm_start_s': warm_s,
      'before_model_fn_s': (clock.marks['model_fn_end'] - start) - model_fn_s,
      'session_s': session_s,
      'first_step_s': clock.marks['first_step'] - clock.marks['session'],
      'end_s': end - clock.marks['first_step'],
      'total_cpu_s': cpu,
      **extra,
  }

  # Not timed: the values train() left (a learning rate of 0: the initial).
  latest = tf.train.latest_checkpoint(model_dir)
  for i in sorted({0, num_vars // 2, num_vars - 1}):
    got = tf.train.load_variable(latest, var_name(i))
    stored = tf.train.load_variable(prefix, var_name(i))
    if method == 'cold':
      if np.array_equal(got, stored):
        raise RuntimeError('the cold start of %s has the source value' %
                           var_name(i))
    elif not np.array_equal(got, stored):
      raise RuntimeError('%s restored %s wrong: max |diff| %g' %
                         (method, var_name(i), np.max(np.abs(got - stored))))
  if emb_rows and method != 'cold':
    sample = _emb_worker.sample_rows(emb_rows, job['partitions'], True)
    got = tf.train.load_variable(latest, _emb_worker.EMB)
    _emb_worker.check_rows(method, {i: got[i] for i in sample},
                           _emb_worker.expected_rows(prefix, emb_rows, sample,
                                                     True))
  if tf.train.load_variable(latest, 'global_step') != 1:
    raise RuntimeError('global_step is not 1 after one step')
  return result


def main(argv: list[str]) -> None:
  _worker.run_job(argv, make_checkpoint, measure)


if __name__ == '__main__':
  main(sys.argv)
