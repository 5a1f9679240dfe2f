"""One benchmark measurement in a fresh process (run by `benchmarks/run.py`).

Usage: `python benchmarks/_worker.py JOB_JSON RESULT_JSON_PATH`, where the job
is a dict with `mode` ('checkpoint' or 'measure'), `num_vars`, `shape`,
`prefix` (the source checkpoint prefix) and, to measure, `method`. The result
(a JSON dict) is written to RESULT_JSON_PATH. A wrong restored value raises,
so a fast but broken path never reaches the table.

Each measurement builds the same target graph: `num_vars` float32 variables
`new/vNNNNN` made by `tf.compat.v1.get_variable` (its default initializer and
variable kind; resource variables under TF2), applies one method, creates a
`tf.compat.v1.Session()` with the default `ConfigProto` and runs the first
initialization. Times start after `import tensorflow` (and after `import
warmstart` for our method, whose import is reported apart).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

#: Scope of the checkpoint's tensors, and of the target graph's variables.
OLD_SCOPE = 'old'
NEW_SCOPE = 'new'

METHODS = ('cold', 'tf_init_from_checkpoint', 'tf_warm_start', 'saver_restore',
           'warmstart', 'warmstart_scope', 'init_floor', 'floor')

#: The value `init_floor` assigns to every variable.
FLOOR_VALUE = 0.25


def _install_floor_initializers(variables: list[Any]) -> None:
  """Makes each variable's initializer one assign from one shared constant.

  The least graph any method that gives every variable its own restoring
  initializer can add: one `AssignVariableOp` per variable (built as
  warmstart builds its assigns, from one batched handle op), no checkpoint
  read at all. Its first run is the floor of such a method's first run.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from warmstart import _tf_compat  # pylint: disable=g-import-not-at-top
  with tf.init_scope(), tf.name_scope('init_floor'):
    value = tf.constant(FLOOR_VALUE, tf.float32, variables[0].shape)
    handles = (_tf_compat.batched_handles([v.handle for v in variables]) or
               [v.handle for v in variables])
    for variable, handle in zip(variables, handles):
      _tf_compat.set_initializer(
          variable, _tf_compat.assign_variable(handle, value), value)


def var_name(scope: str, index: int) -> str:
  return '%s/v%05d' % (scope, index)


def _rss_mb() -> float:
  """The current resident set size, in MiB (Linux /proc)."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmRSS:'):
        return int(line.split()[1]) / 1024.0
  return float('nan')


def _peak_rss_mb() -> float:
  """The peak resident set size so far, in MiB (ru_maxrss is KiB on Linux)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _data_files(prefix: str) -> list[str]:
  directory, base = os.path.split(prefix)
  return sorted(
      os.path.join(directory, f) for f in os.listdir(directory)
      if f.startswith(base + '.data-'))


def make_checkpoint(job: dict[str, Any]) -> dict[str, Any]:
  """Writes the source checkpoint: `old/vNNNNN`, seeded normal values."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  names, values = [], []
  for i in range(job['num_vars']):
    rng = np.random.default_rng(i)
    names.append(var_name(OLD_SCOPE, i))
    values.append(rng.standard_normal(job['shape'], dtype=np.float32))
  tf.raw_ops.SaveV2(
      prefix=job['prefix'], tensor_names=names,
      shape_and_slices=[''] * len(names), tensors=values)
  return {'seconds': time.perf_counter() - start,
          'bytes': sum(os.path.getsize(f) for f in _data_files(job['prefix']))}


def init_subgraph_size(fetch: Any) -> int:
  """Number of ops the first run needs (fetch and its transitive inputs)."""
  seen = set()
  stack = [fetch if hasattr(fetch, 'inputs') else fetch.op]
  while stack:
    op = stack.pop()
    if op in seen:
      continue
    seen.add(op)
    stack.extend(t.op for t in op.inputs)
    stack.extend(op.control_inputs)
  return len(seen)


def _measure_floor(job: dict[str, Any]) -> dict[str, Any]:
  """Reads every data file of the checkpoint into memory."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top,unused-import
  rss_import = _rss_mb()
  start = time.perf_counter()
  cpu_start = time.process_time()
  blobs = []
  for path in _data_files(job['prefix']):
    with open(path, 'rb') as f:
      blobs.append(f.read())
  seconds = time.perf_counter() - start
  cpu = time.process_time() - cpu_start
  peak = _peak_rss_mb()
  size = sum(len(b) for b in blobs)
  expected = sum(os.path.getsize(p) for p in _data_files(job['prefix']))
  if size != expected:
    raise RuntimeError('floor read %d bytes, the data files hold %d' %
                       (size, expected))
  return {'total_s': seconds, 'build_s': 0.0, 'call_s': 0.0,
          'run_s': seconds, 'peak_rss_mb': peak, 'rss_import_mb': rss_import,
          'import_extra_s': 0.0, 'graph_ops': 0, 'init_ops': 0,
          'total_cpu_s': cpu, 'setup_cpu_s': cpu, 'bytes_read': size}


def measure(job: dict[str, Any]) -> dict[str, Any]:
  """Times graph build + method + first initializer run; checks values."""
  method = job['method']
  if method == 'floor':
    return _measure_floor(job)
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import_extra = 0.0
  if method in ('warmstart', 'warmstart_scope', 'init_floor'):
    start = time.perf_counter()
    import warmstart  # pylint: disable=g-import-not-at-top
    import_extra = time.perf_counter() - start
  rss_import = _rss_mb()
  prefix, num_vars, shape = job['prefix'], job['num_vars'], job['shape']
  assignment_map = {OLD_SCOPE + '/': NEW_SCOPE + '/'}

  graph = tf.Graph()
  with graph.as_default():
    scope = None
    if method == 'warmstart_scope':
      # The model is built in the scope: restored variables get stand-ins.
      scope = warmstart.warm_start_scope(
          warmstart.WarmStartSettings(prefix, assignment_map=assignment_map))
    t0 = time.perf_counter()
    c0 = time.process_time()
    if scope is not None:
      scope.__enter__()
    with tf.compat.v1.variable_scope(NEW_SCOPE):
      variables = [
          tf.compat.v1.get_variable('v%05d' % i, shape, tf.float32)
          for i in range(num_vars)
      ]
    t1 = time.perf_counter()
    c1 = time.process_time()
    saver = None
    if method == 'cold':
      pass
    elif method == 'tf_init_from_checkpoint':
      tf.compat.v1.train.init_from_checkpoint(prefix, assignment_map)
    elif method == 'tf_warm_start':
      tf.compat.v1.train.warm_start(
          prefix, vars_to_warm_start='.*',
          var_name_to_prev_var_name={
              var_name(NEW_SCOPE, i): var_name(OLD_SCOPE, i)
              for i in range(num_vars)})
    elif method == 'saver_restore':
      saver = tf.compat.v1.train.Saver(
          {var_name(OLD_SCOPE, i): v for i, v in enumerate(variables)})
    elif method == 'warmstart':
      options = {}
      if job.get('max_chunk_bytes'):
        options['max_chunk_bytes'] = job['max_chunk_bytes']
      warmstart.init_from_checkpoint(prefix, assignment_map, **options)
    elif method == 'warmstart_scope':
      scope.__exit__(None, None, None)  # Plans and applies.
    elif method == 'init_floor':
      _install_floor_initializers(variables)
    else:
      raise ValueError('Unknown method %r; known: %s' %
                       (method, ', '.join(METHODS)))
    t2 = time.perf_counter()
    c2 = time.process_time()
    if saver is None:
      init = tf.compat.v1.global_variables_initializer()
    sess = tf.compat.v1.Session()
    if saver is not None:
      saver.restore(sess, prefix)
    else:
      sess.run(init)
    t3 = time.perf_counter()
    c3 = time.process_time()
    peak = _peak_rss_mb()

    # Not timed: graph size and correctness.
    graph_ops = len(graph.get_operations())
    if saver is not None:
      init_ops = init_subgraph_size(
          graph.get_operation_by_name(saver.saver_def.restore_op_name))
    else:
      init_ops = init_subgraph_size(init)
    for i in sorted({0, num_vars // 2, num_vars - 1}):
      value = sess.run(variables[i])
      stored = tf.train.load_variable(prefix, var_name(OLD_SCOPE, i))
      if method == 'init_floor':
        if not np.all(value == FLOOR_VALUE):
          raise RuntimeError('init_floor did not assign %s' % variables[i].name)
      elif method == 'cold':
        if np.array_equal(value, stored) or not np.all(np.isfinite(value)):
          raise RuntimeError('cold start of %s has the checkpoint value' %
                             variables[i].name)
      elif not np.array_equal(value, stored):
        raise RuntimeError(
            '%s restored %s wrong: max |diff| %g' %
            (method, variables[i].name, np.max(np.abs(value - stored))))
    sess.close()
  return {'total_s': t3 - t0, 'build_s': t1 - t0, 'call_s': t2 - t1,
          'run_s': t3 - t2, 'peak_rss_mb': peak, 'rss_import_mb': rss_import,
          'import_extra_s': import_extra, 'graph_ops': graph_ops,
          'init_ops': init_ops, 'total_cpu_s': c3 - c0,
          'setup_cpu_s': c3 - c1}


def run_job(argv: list[str],
            make_checkpoint_fn: Callable[[dict[str, Any]], dict[str, Any]],
            measure_fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
  """A worker's command line: `JOB_JSON RESULT_JSON_PATH`.

  Runs the job's `mode` ('checkpoint': `make_checkpoint_fn`, 'measure':
  `measure_fn`) and writes its result as JSON.
  """
  if len(argv) != 3:
    raise SystemExit('usage: %s JOB_JSON RESULT_JSON_PATH' % argv[0])
  job = json.loads(argv[1])
  modes = {'checkpoint': make_checkpoint_fn, 'measure': measure_fn}
  if job['mode'] not in modes:
    raise SystemExit('Unknown mode %r' % job['mode'])
  result = modes[job['mode']](job)
  with open(argv[2], 'w') as f:
    json.dump(result, f)


def main(argv: list[str]) -> None:
  run_job(argv, make_checkpoint, measure)


if __name__ == '__main__':
  main(sys.argv)
