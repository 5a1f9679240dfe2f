"""One embedding benchmark measurement in a fresh process (run by `run.py`).

Usage: `python benchmarks/_emb_worker.py JOB_JSON RESULT_JSON_PATH`. The job
has `mode` ('checkpoint' or 'measure'), `emb_rows`, `emb_dim`, `prefix` (the
source checkpoint) and, to measure, `method`, `partitions` and `remap`
(whether the rows are remapped by vocabulary).

The source checkpoint holds one unpartitioned float32 tensor `emb` of
`emb_rows` x `emb_dim`; next to it, `old_vocab.txt` (its `emb_rows` tokens,
one per line) and `new_vocab.txt` (`emb_rows` tokens: 90% of the old ones and
10% new ones, shuffled with a fixed seed).

The target graph is one variable `emb` made by `tf.compat.v1.get_variable`
with `fixed_size_partitioner(partitions)`: `emb_rows` x `emb_dim` restored by
name (S4), or `emb_rows` + 2 OOV buckets remapped from the old vocabulary to
the new one, zeros for new tokens and OOV rows (S5). Times, bytes read and
the peak RSS over the baseline (`_probe.py`) cover the model build, the
method's call, `Session()` and the first initialization. Sampled rows are
then compared with the checkpoint (a wrong value fails the run).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

# Run as a script: its directory (benchmarks/) is on sys.path.
import _probe  # pylint: disable=g-bad-import-order
import _worker  # pylint: disable=g-bad-import-order

EMB = 'emb'
OOV_BUCKETS = 2
#: The share of the new vocabulary that is not in the old one.
NEW_TOKEN_FRACTION = 0.1
_VOCAB_SEED = 2020
_VALUES_SEED = 0

METHODS = ('tf_init_from_checkpoint', 'tf_warm_start', 'warmstart')


def vocab_paths(prefix: str) -> tuple[str, str]:
  """(old, new) vocabulary files next to the checkpoint `prefix`."""
  directory = os.path.dirname(prefix)
  return (os.path.join(directory, 'old_vocab.txt'),
          os.path.join(directory, 'new_vocab.txt'))


def write_vocabularies(prefix: str, rows: int) -> None:
  """Writes the old vocabulary (`rows` tokens) and the new one (see above)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  old_path, new_path = vocab_paths(prefix)
  rng = np.random.default_rng(_VOCAB_SEED)
  new_tokens = int(rows * NEW_TOKEN_FRACTION)
  kept = rng.permutation(rows)[:rows - new_tokens]
  tokens = ['old%07d' % i for i in kept] + ['new%07d' % i
                                            for i in range(new_tokens)]
  order = rng.permutation(rows)
  with open(old_path, 'w') as f:
    f.write(''.join('old%07d\n' % i for i in range(rows)))
  with open(new_path, 'w') as f:
    f.write(''.join(tokens[i] + '\n' for i in order))


def embedding_values(rows: int, dim: int) -> Any:
  import numpy as np  # pylint: disable=g-import-not-at-top
  return np.random.default_rng(_VALUES_SEED).standard_normal(
      (rows, dim), dtype=np.float32)


def make_checkpoint(job: dict[str, Any]) -> dict[str, Any]:
  """Writes the vocabularies, then the checkpoint (its index comes last)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  write_vocabularies(job['prefix'], job['emb_rows'])
  values = embedding_values(job['emb_rows'], job['emb_dim'])
  tf.raw_ops.SaveV2(prefix=job['prefix'], tensor_names=[EMB],
                    shape_and_slices=[''], tensors=[values])
  return {'seconds': time.perf_counter() - start}


def vocab_info(prefix: str, rows: int) -> Any:
  """TF's VocabInfo of the remap (old vocabulary -> new, 2 OOV buckets)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  old_path, new_path = vocab_paths(prefix)
  return tf.compat.v1.train.VocabInfo(
      new_vocab=new_path, new_vocab_size=rows, num_oov_buckets=OOV_BUCKETS,
      old_vocab=old_path,
      backup_initializer=tf.compat.v1.zeros_initializer())


def sample_rows(rows: int, partitions: int, remap: bool) -> list[int]:
  """Rows to check: spread evenly, each partition's edges, the OOV rows."""
  total = rows + (OOV_BUCKETS if remap else 0)
  sample = {round(k * (total - 1) / 199) for k in range(200)}
  # fixed_size_partitioner: the first `total % partitions` parts hold one
  # row more.
  base, extra = divmod(total, partitions)
  edge = 0
  for part in range(partitions):
    sample.update((edge, max(edge - 1, 0)))
    edge += base + (part < extra)
  sample.update(range(rows, total))
  return sorted(sample)


def expected_rows(prefix: str, rows: int, sample: Sequence[int],
                  remap: bool) -> dict[int, Any]:
  """{row: its expected value}, read from the checkpoint (and vocabularies)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  stored = tf.train.load_variable(prefix, EMB)
  if not remap:
    return {i: stored[i] for i in sample}
  old_path, new_path = vocab_paths(prefix)
  wanted = set(sample)
  tokens = {}
  with open(new_path) as f:
    for i, line in enumerate(f):
      if i in wanted:
        tokens[i] = line.rstrip('\n')
  if len(tokens) != len([i for i in sample if i < rows]):
    raise RuntimeError('%s has fewer than %d lines' % (new_path, rows))
  wanted_tokens = set(tokens.values())
  old_index = {}
  with open(old_path) as f:
    for i, line in enumerate(f):
      token = line.rstrip('\n')
      if token in wanted_tokens:
        old_index[token] = i
  zeros = np.zeros(stored.shape[1:], stored.dtype)
  expected, new_token = {}, set()
  for i in sample:
    old = old_index.get(tokens[i]) if i < rows else None  # None: OOV row.
    if i < rows:
      new_token.add(old is None)
    expected[i] = zeros if old is None else stored[old]
  if new_token != {True, False}:
    raise RuntimeError('the sampled rows do not hold both old and new '
                       'tokens: the check would miss one of them')
  return expected


def check_rows(method: str, got: dict[int, Any],
               expected: dict[int, Any]) -> None:
  """Raises at the first sampled row whose value differs."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  for i, want in sorted(expected.items()):
    if not np.array_equal(got[i], want):
      raise RuntimeError(
          '%s restored %s row %d wrong: max |diff| %g' %
          (method, EMB, i, np.max(np.abs(got[i] - want))))


def _read_rows(sess: Any, variable: Any, sample: Sequence[int]) -> dict:
  """{row: value} of a partitioned variable, gathered part by part."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  parts = list(variable)
  fetches, start = [], 0
  for part in parts:
    end = start + part.shape[0]
    local = [i for i in sample if start <= i < end]
    if local:
      fetches.append((local, tf.gather(part, [i - start for i in local])))
    start = end
  values = sess.run([t for _, t in fetches])
  got: dict[int, Any] = {}
  for (local, _), value in zip(fetches, values):
    got.update(zip(local, value))
  return got


def measure(job: dict[str, Any]) -> dict[str, Any]:
  """Times build + method + first run, with bytes read and peak RSS."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  method, prefix = job['method'], job['prefix']
  rows, dim, partitions = job['emb_rows'], job['emb_dim'], job['partitions']
  remap = job['remap']
  import_extra = 0.0
  result: dict[str, Any] = {}
  if method == 'warmstart':
    start = time.perf_counter()
    import warmstart  # pylint: disable=g-import-not-at-top
    import_extra = time.perf_counter() - start
    options = {}
    if job.get('max_chunk_bytes'):
      options['max_chunk_bytes'] = job['max_chunk_bytes']
    if hasattr(warmstart, 'Options'):
      result['max_chunk_bytes'] = warmstart.Options(**options).max_chunk_bytes
  elif method not in METHODS:
    raise ValueError('Unknown method %r; known: %s' % (method,
                                                       ', '.join(METHODS)))
  elif method == 'tf_init_from_checkpoint' and remap:
    raise ValueError('tf_init_from_checkpoint cannot remap a vocabulary')
  section = _probe.Section(_probe.baseline_rss_mb())
  info = vocab_info(prefix, rows) if remap else None

  graph = tf.Graph()
  with graph.as_default():
    section.start()
    t0, c0 = time.perf_counter(), time.process_time()
    emb = tf.compat.v1.get_variable(
        EMB, [rows + (OOV_BUCKETS if remap else 0), dim], tf.float32,
        partitioner=tf.compat.v1.fixed_size_partitioner(partitions))
    t1, c1 = time.perf_counter(), time.process_time()
    if method == 'tf_init_from_checkpoint':
      tf.compat.v1.train.init_from_checkpoint(prefix, {EMB: EMB})
    elif method == 'tf_warm_start':
      tf.compat.v1.train.warm_start(
          prefix, EMB, var_name_to_vocab_info={EMB: info} if remap else None)
    elif remap:
      warmstart.warm_start(prefix, EMB, var_name_to_vocab_info={EMB: info},
                           **options)
    else:
      warmstart.init_from_checkpoint(prefix, {EMB: EMB}, **options)
    t2 = time.perf_counter()
    init = tf.compat.v1.global_variables_initializer()
    sess = tf.compat.v1.Session()
    sess.run(init)
    t3, c3 = time.perf_counter(), time.process_time()
    result.update(section.stop())

    # Not measured: graph size and correctness.
    result['graph_ops'] = len(graph.get_operations())
    result['init_ops'] = _worker.init_subgraph_size(init)
    sample = sample_rows(rows, partitions, remap)
    check_rows(method, _read_rows(sess, emb, sample),
               expected_rows(prefix, rows, sample, remap))
    sess.close()
  result.update({
      'total_s': t3 - t0, 'build_s': t1 - t0, 'call_s': t2 - t1,
      'run_s': t3 - t2, 'total_cpu_s': c3 - c0, 'setup_cpu_s': c3 - c1,
      'import_extra_s': import_extra})
  return result


def main(argv: list[str]) -> None:
  _worker.run_job(argv, make_checkpoint, measure)


if __name__ == '__main__':
  main(sys.argv)
