"""Benchmarks warmstart against TF's warm-start paths, one process per run.

Each (scenario, method) measurement runs in a fresh Python process
(`benchmarks/_worker.py`): build the target graph (`new/vNNNNN` variables made
by `tf.compat.v1.get_variable`), apply the method, then the first
initialization in a `tf.compat.v1.Session()` with the default `ConfigProto`.
It reports wall time (model build, method call, first run), the CPU time of
the call + first run, peak RSS, and checks sampled restored values against the
checkpoint (a wrong value fails the run).

Two time metrics are judged: "total" (model build + call + first run) and
"call + first run" (what the method adds: the model's `get_variable` calls
cost the same for every method, and for thousands of variables they take
longer than anything else, which caps any total-time ratio).

Methods:
  cold                     the model's own initializers, no warm start.
  tf_init_from_checkpoint  tf.compat.v1.train.init_from_checkpoint, scope map
                           {'old/': 'new/'}.
  tf_warm_start            tf.compat.v1.train.warm_start('.*') with a rename
                           per variable (new/vN -> old/vN); TF 2.15 batches
                           the renamed variables into one init_from_checkpoint
                           call, so the renames add little.
  saver_restore            tf.compat.v1.train.Saver({'old/vN': var}) built
                           after the model, then saver.restore (instead of
                           the initializers).
  warmstart                warmstart.init_from_checkpoint, scope map.
  init_floor               (S1, S2) not a warm start: each variable's
                           initializer becomes one assign from one shared
                           constant, built as warmstart builds its assigns.
                           No method that gives every variable its own
                           initializer can add less graph, so its time bounds
                           what any ratio against TF can reach (printed with
                           the targets).
  floor                    (S3 only) read the checkpoint data file into memory.

Scenarios (source checkpoints are written once into --out_dir and reused):
  S0  200 x 16x16 float32 (smoke test).
  S1  3000 x 64x64 float32.
  S2  10000 x 16x16 float32 (and 1000 x 16x16 for the linearity check).
  S3  50 x 2048x2048 float32 (800 MiB).

Embedding scenarios (`_emb_worker.py`; `make bench-emb`), which also record
the bytes read (/proc/self/io) and the peak RSS over the worker's baseline
(`_probe.py`): one 2,000,000 x 64 float32 tensor `emb` (512 MB) restored
into a variable of `fixed_size_partitioner(P)`, P = 1 or 8:
  S4-1, S4-8  by name: tf_init_from_checkpoint, tf_warm_start (TF's
              warm_start(ckpt, 'emb')), warmstart (init_from_checkpoint).
  S5-1, S5-8  remapped by vocabulary (90% of the old tokens shuffled, 10% new,
              2 OOV buckets, zeros for new rows): tf_warm_start, warmstart
              (warmstart.warm_start), both with the same VocabInfo.
  E-emb       Estimator train(steps=1): E1's 1000 x 64x64 plus that
              embedding in 8 parts, remapped: warm_start_from, wrap_model_fn.
  S4s-*, S5s-*, E-embs: the same with 20,000 x 16 rows (smoke test).

Usage:
  python benchmarks/run.py --scenarios=S0,S1 --repeats=2
Prints one table per scenario, the target checks, and writes the results as
JSON and markdown (for the README).
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

from absl import app
from absl import flags

# Run as a script: its directory (benchmarks/) is on sys.path. (The worker
# module imports no TensorFlow at import time.)
import _emb_worker  # pylint: disable=g-bad-import-order

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
_WORKER = os.path.join(_HERE, '_worker.py')
_ESTIMATOR_WORKER = os.path.join(_HERE, '_estimator_worker.py')
_EMB_WORKER = os.path.join(_HERE, '_emb_worker.py')

GRAPH_METHODS = ('cold', 'tf_init_from_checkpoint', 'tf_warm_start',
                 'saver_restore', 'warmstart', 'warmstart_scope', 'init_floor',
                 'floor')
#: Estimator start-up (`_estimator_worker.py`): `train(steps=1)` from an empty
#: model_dir, cold, with Estimator's `warm_start_from`, `wrap_model_fn`
#: (stand-ins at creation), `wrap_model_fn(at_creation=False)`, the hook.
ESTIMATOR_METHODS = ('cold', 'warm_start_from', 'wrap_model_fn',
                     'wrap_model_fn_built', 'warm_start_hook')
ALL_METHODS = GRAPH_METHODS + tuple(m for m in ESTIMATOR_METHODS
                                    if m not in GRAPH_METHODS)
OURS = 'warmstart'
SCOPE = 'warmstart_scope'
INIT_FLOOR = 'init_floor'
_MANY_VARIABLE_METHODS = tuple(m for m in GRAPH_METHODS if m != 'floor')

# scenario -> method -> result row; what a target check reads.
Results = Mapping[str, Mapping[str, Mapping[str, Any]]]

#: Time metrics: the whole measured span; the part a warm start adds (the
#: method's call plus the first run; the model's variables cost the same for
#: every method); and the CPU time of that part (all threads), less sensitive
#: to other processes competing for the cores.
TIME_METRICS = (('total_s', 'total'), ('setup_s', 'call + first run'),
                ('setup_cpu_s', 'call + first run, CPU time'))


@dataclasses.dataclass(frozen=True)
class Check:
  """One target of the spec: a description and how to judge it.

  `judge(results, metric)` returns (passed or None if not measured, detail),
  for each metric of `metrics`.
  """
  description: str
  judge: Callable[[Results, str], tuple[Optional[bool], str]]
  metrics: tuple[tuple[str, str], ...] = TIME_METRICS


#: The metric of Estimator scenarios: `train(steps=1)`'s wall time.
TRAIN_METRICS = (('total_s', 'train(steps=1)'),)


@dataclasses.dataclass(frozen=True)
class Scenario:
  """A model to warm-start: `num_vars` float32 variables of `shape`.

  `kind` 'graph': the graph and first initialization of `_worker.py`;
  'estimator': `train(steps=1)` of `_estimator_worker.py`'s Estimator, with
  every `partitioned_every`-th variable split in two; 'emb': one embedding of
  `_emb_worker.py` (`num_vars` 0).

  `emb_rows` > 0 ('emb', and 'estimator' for E-emb): the checkpoint's `emb`
  of `emb_rows` x `emb_dim`, restored into a variable in `partitions` parts,
  by name or (`remap`) by vocabulary into `emb_rows` + 2 OOV rows. These runs
  also record the bytes read and the peak RSS over the worker's baseline.
  """
  name: str
  num_vars: int
  shape: tuple[int, ...]
  description: str
  methods: tuple[str, ...] = _MANY_VARIABLE_METHODS
  kind: str = 'graph'
  partitioned_every: int = 0
  checks: tuple[Check, ...] = ()
  # Helper scenarios run along with this one (e.g. S2's 1000-variable run).
  helpers: tuple[str, ...] = ()
  hidden: bool = False
  # Runs per method at least (cheap scenarios whose differences are small).
  min_repeats: int = 1
  emb_rows: int = 0
  emb_dim: int = 0
  partitions: int = 1
  remap: bool = False

  @property
  def nbytes(self) -> int:
    """Bytes of the checkpoint's tensors the warm start restores (float32)."""
    size = 4
    for dim in self.shape:
      size *= dim
    return size * self.num_vars + 4 * self.emb_rows * self.emb_dim

  @property
  def variable_bytes(self) -> int:
    """Bytes of the target model's warm-started variables (float32)."""
    return self.nbytes + (4 * _emb_worker.OOV_BUCKETS * self.emb_dim
                          if self.remap else 0)

  @property
  def measures_io(self) -> bool:
    """Whether the runs record bytes read and peak RSS over the baseline."""
    return self.emb_rows > 0


def _value(results: Results, scenario: str, method: str,
           metric: str) -> Optional[float]:
  """A method's best (least) `metric` over its runs."""
  row = results.get(scenario, {}).get(method)
  if row is None or 'error' in row:
    return None
  values = [v for v in row.get('all_' + metric) or [row.get(metric)]
            if v is not None]
  return min(values) if values else None


def _ours_and(results: Results, scenario: str, other: str, metric: str,
              ours: str = OURS) -> tuple[Optional[float], Optional[float]]:
  """(ours, other's) best `metric`, or (None, None) unless both ran."""
  mine, theirs = (_value(results, scenario, ours, metric),
                  _value(results, scenario, other, metric))
  if mine is None or theirs is None:
    return None, None
  return mine, theirs


def _faster_than(scenario: str, other: str, factor: float,
                 ours: str = OURS,
                 metrics: tuple[tuple[str, str], ...] = TIME_METRICS
                ) -> Check:
  """`ours` at least `factor` times faster than `other`."""
  def judge(results, metric):
    mine, theirs = _ours_and(results, scenario, other, metric, ours)
    if mine is None:
      return None, 'not measured'
    detail = '%s %.2f s / %s %.2f s = %.2fx' % (other, theirs, ours, mine,
                                                theirs / mine)
    floor = _value(results, scenario, INIT_FLOOR, metric)
    if floor and ours == OURS:
      detail += '; at best (%s) %.2fx' % (INIT_FLOOR, theirs / floor)
    return theirs >= factor * mine, detail
  who = '' if ours == OURS else ours + ' '
  if factor == 1:
    text = '%sfaster than %s' % (who, other)
  else:
    text = '%s>= %gx faster than %s' % (who, factor, other)
  return Check(text, judge, metrics)


def _at_most(scenario: str, method: str, other: str, factor: float,
             metrics: tuple[tuple[str, str], ...] = TRAIN_METRICS) -> Check:
  """`method`'s train(steps=1) at most `factor` times `other`'s."""
  def judge(results, metric):
    mine, theirs = _ours_and(results, scenario, other, metric, method)
    if mine is None:
      return None, 'not measured'
    return mine <= factor * theirs, '%s %.2f s / %s %.2f s = %.2fx' % (
        method, mine, other, theirs, mine / theirs)
  return Check('%s <= %gx %s' % (method, factor, other), judge, metrics)


def _grows_linearly(scenario: str, small: str, method: str,
                    factor: float) -> Check:
  """`method` on `scenario` at most `factor` times its time on `small`."""
  def judge(results, metric):
    big, little = (_value(results, scenario, method, metric),
                   _value(results, small, method, metric))
    if big is None or little is None:
      return None, 'not measured'
    detail = '%s %.2f s (%s) / %.2f s (%s) = %.2fx' % (
        method, big, scenario, little, small, big / little)
    cold = (_value(results, scenario, 'cold', metric),
            _value(results, small, 'cold', metric))
    if all(cold):
      detail += '; cold %.2fx' % (cold[0] / cold[1])
    return big <= factor * little, detail
  return Check('%s at most %gx its time with 10x fewer variables (%s)' %
               (method, factor, small), judge, TRAIN_METRICS)


def _as_fast_as(scenario: str, other: str) -> Check:
  def judge(results, metric):
    ours, theirs = _ours_and(results, scenario, other, metric)
    if ours is None:
      return None, 'not measured'
    return ours <= theirs, 'ours %.2f s, %s %.2f s' % (ours, other, theirs)
  # Wall time only: parallel reads spend more CPU to finish sooner.
  return Check('at least as fast as %s' % other, judge,
               metrics=TIME_METRICS[:2])


def _linear(scenario: str, small: str, factor: float) -> Check:
  def judge(results, metric):
    big, little = (_value(results, scenario, OURS, metric),
                   _value(results, small, OURS, metric))
    if big is None or little is None:
      return None, 'not measured'
    detail = 'ours %.2f s (%s) / %.2f s (%s) = %.2fx' % (
        big, scenario, little, small, big / little)
    floors = (_value(results, scenario, INIT_FLOOR, metric),
              _value(results, small, INIT_FLOOR, metric))
    if all(floors):
      detail += '; %s %.2fx' % (INIT_FLOOR, floors[0] / floors[1])
    return big <= factor * little, detail
  return Check('ours at most %gx our time with 10x fewer variables (%s)' %
               (factor, small), judge)


def _peak_rss_at_most(scenario: str, other: str, factor: float) -> Check:
  def judge(results, metric):
    ours, theirs = _ours_and(results, scenario, other, metric)
    if ours is None:
      return None, 'not measured'
    return (ours <= factor * theirs,
            'ours %.0f MiB, %s %.0f MiB = %.2fx' % (ours, other, theirs,
                                                    ours / theirs))
  return Check('peak RSS at most %gx that of %s' % (factor, other), judge,
               metrics=(('peak_rss_mb', 'whole process'),
                        ('rss_added_mb', 'over the RSS after import')))


#: The time of an embedding scenario: one variable, so the model build is
#: negligible and the whole span is what the warm start costs.
EMB_TIME_METRICS = (('total_s', 'total'),)
#: E-emb: train(steps=1), and its part up to the end of the first step
#: (without Estimator's final checkpoint, the same work for every method).
EMB_TRAIN_METRICS = TRAIN_METRICS + (('startup_s', 'to the first step'),)
#: The bytes a warm start may read, over those of the tensors it restores.
READ_FACTOR = 1.2
#: The peak RSS over the baseline a warm start may reach:
#: variables' bytes x RSS_VARIABLES_FACTOR + RSS_CHUNKS x max_chunk_bytes.
RSS_VARIABLES_FACTOR = 1.25
RSS_CHUNKS = 2
_MIB = float(2**20)


def _others(results: Results, scenario: str, ours: str, metric: str,
            fmt: Callable[[float], str]) -> str:
  """'; method value, ...' for the measured methods other than `ours`."""
  rows = results.get(scenario, {})
  parts = []
  for method in ALL_METHODS:
    value = (_value(results, scenario, method, metric)
             if method != ours and method in rows else None)
    if value is not None:
      parts.append('%s %s' % (method, fmt(value)))
  return '; ' + ', '.join(parts) if parts else ''


def _reads_at_most(scenario: str, factor: float = READ_FACTOR,
                   ours: str = OURS) -> Check:
  """`ours` reads at most `factor` times the bytes of the restored tensors."""
  def judge(results, metric):
    mine = _value(results, scenario, ours, metric)
    if mine is None:
      return None, 'not measured'
    restored = SCENARIOS[scenario].nbytes
    fmt = lambda b: '%.0f MiB = %.2fx' % (b / _MIB, b / restored)
    return mine <= factor * restored, '%s %s of the %.0f MiB restored%s' % (
        ours, fmt(mine), restored / _MIB,
        _others(results, scenario, ours, metric, fmt))
  return Check('%s reads <= %gx the restored tensors\' bytes' %
               (ours, factor), judge, (('rchar', 'rchar'),))


#: The peak RSS over the baseline: of the whole span, and (E-emb) up to the
#: session's creation, before Estimator's first checkpoint save.
PEAK_METRIC = ('peak_over_baseline_mb', 'peak RSS over the baseline')
STARTUP_PEAK_METRIC = ('startup_peak_over_baseline_mb',
                       'peak RSS over the baseline to the session')


def _rss_within_budget(scenario: str, ours: str = OURS,
                       metric: tuple[str, str] = PEAK_METRIC) -> Check:
  """`ours`' peak RSS over the baseline within the variables' budget."""
  def judge(results, metric):
    row = results.get(scenario, {}).get(ours)
    mine = _value(results, scenario, ours, metric)
    if mine is None:
      return None, 'not measured'
    chunk = row.get('max_chunk_bytes') or FLAGS.max_chunk_bytes or (64 << 20)
    variables = SCENARIOS[scenario].variable_bytes
    budget = (variables * RSS_VARIABLES_FACTOR + RSS_CHUNKS * chunk) / _MIB
    fmt = lambda mb: '%.0f MiB' % mb
    detail = ('%s %.0f MiB, budget %.0f MiB (variables %.0f MiB x %g + %d x '
              '%.0f MiB)%s' % (ours, mine, budget, variables / _MIB,
                               RSS_VARIABLES_FACTOR, RSS_CHUNKS, chunk / _MIB,
                               _others(results, scenario, ours, metric, fmt)))
    if row.get('peak_of') == 'process':
      detail += ' (peaks of the whole process: VmHWM could not be reset)'
    return mine <= budget, detail
  return Check('%s %s <= variables\' bytes x %g + %d x max_chunk_bytes' % (
      ours, metric[1], RSS_VARIABLES_FACTOR, RSS_CHUNKS), judge, (metric,))


def _rss_over_cold_within_budget(scenario: str, ours: str,
                                 metric: tuple[str, str]) -> Check:
  """`ours`' peak RSS within the budget over what a cold start holds
  besides its variables (E-emb: Estimator's graph, the other variables and
  their initial values, session state: more than the budget itself).

  A cold start holds the variables once; the warm start may add
  (RSS_VARIABLES_FACTOR - 1) x their bytes + RSS_CHUNKS x max_chunk_bytes.
  """
  def judge(results, metric_name):
    row = results.get(scenario, {}).get(ours)
    mine = _value(results, scenario, ours, metric_name)
    cold = _value(results, scenario, 'cold', metric_name)
    if mine is None or cold is None:
      return None, 'not measured (run %s and cold)' % ours
    chunk = row.get('max_chunk_bytes') or FLAGS.max_chunk_bytes or (64 << 20)
    variables = SCENARIOS[scenario].variable_bytes
    extra = (variables * (RSS_VARIABLES_FACTOR - 1) + RSS_CHUNKS * chunk) / _MIB
    fmt = lambda mb: '%.0f MiB' % mb
    return mine <= cold + extra, (
        '%s %.0f MiB = cold %.0f MiB + %.0f MiB, budget cold + %.0f MiB '
        '(variables %.0f MiB x %g + %d x %.0f MiB)%s' % (
            ours, mine, cold, mine - cold, extra, variables / _MIB,
            RSS_VARIABLES_FACTOR - 1, RSS_CHUNKS, chunk / _MIB,
            _others(results, scenario, ours, metric_name, fmt)))
  return Check('%s %s <= a cold start\'s + variables\' bytes x %g + %d x '
               'max_chunk_bytes' % (ours, metric[1], RSS_VARIABLES_FACTOR - 1,
                                    RSS_CHUNKS), judge, (metric,))


def _within_of(scenario: str, other_scenario: str, factor: float,
               ours: str = OURS,
               metrics: tuple[tuple[str, str], ...] = EMB_TIME_METRICS
              ) -> Check:
  """`ours` on `scenario` at most `factor` times its time on the other."""
  def judge(results, metric):
    mine = _value(results, scenario, ours, metric)
    base = _value(results, other_scenario, ours, metric)
    if mine is None or base is None:
      return None, 'not measured (run %s and %s)' % (scenario, other_scenario)
    return mine <= factor * base, '%s %.2f s (%s) / %.2f s (%s) = %.2fx' % (
        ours, mine, scenario, base, other_scenario, mine / base)
  return Check('%s within %gx of its time on %s' % (ours, factor,
                                                    other_scenario),
               judge, metrics)


def _emb_scenarios(suffix: str, rows: int, dim: int, num_vars: int,
                   shape: tuple[int, ...], note: str,
                   estimator_partitions: int = 8) -> list[Scenario]:
  """S4-1, S4-8, S5-1, S5-8 and E-emb (with `suffix`: their smaller twins).

  Args:
    suffix: Appended to 'S4', 'S5' and 'E-emb' ('s': the smoke test's).
    rows: Rows of the checkpoint's `emb` (and of the new vocabulary).
    dim: Its columns.
    num_vars: E-emb's other variables (E1's model), each of `shape`.
    shape: Their shape.
    note: Appended to each description.
    estimator_partitions: E-emb's partitions of `emb`.
  """
  emb = '`emb` %s x %d float32' % ('{:,}'.format(rows), dim)
  parts = lambda p: '%d partition%s' % (p, 's' if p > 1 else '')
  found = []
  for partitions in (1, 8):
    name = 'S4%s-%d' % (suffix, partitions)
    checks = [_reads_at_most(name), _rss_within_budget(name)]
    if partitions > 1:
      checks[:0] = [
          _faster_than(name, 'tf_init_from_checkpoint', 2.5,
                       metrics=EMB_TIME_METRICS),
          _faster_than(name, 'tf_warm_start', 2.5, metrics=EMB_TIME_METRICS),
          _within_of(name, 'S4%s-1' % suffix, 1.3)]
    found.append(Scenario(
        name, 0, (), '%s restored by name into %s%s' % (
            emb, parts(partitions), note),
        methods=('tf_init_from_checkpoint', 'tf_warm_start', OURS),
        kind='emb', emb_rows=rows, emb_dim=dim, partitions=partitions,
        checks=tuple(checks)))
  for partitions, factor in ((1, 3), (8, 10)):
    name = 'S5%s-%d' % (suffix, partitions)
    found.append(Scenario(
        name, 0, (), '%s remapped by vocabulary (10%% new tokens, 2 OOV '
        'buckets) into %s%s' % (emb, parts(partitions), note),
        methods=('tf_warm_start', OURS), kind='emb', emb_rows=rows,
        emb_dim=dim, partitions=partitions, remap=True,
        checks=(_faster_than(name, 'tf_warm_start', factor,
                             metrics=EMB_TIME_METRICS),
                _reads_at_most(name), _rss_within_budget(name))))
  name = 'E-emb' + suffix
  found.append(Scenario(
      name, num_vars, shape, 'Estimator, %d variables of %s plus %s '
      'remapped by vocabulary into %s%s' % (
          num_vars, 'x'.join(map(str, shape)), emb,
          parts(estimator_partitions), note),
      methods=('cold', 'warm_start_from', 'wrap_model_fn'),
      kind='estimator', emb_rows=rows, emb_dim=dim,
      partitions=estimator_partitions, remap=True,
      checks=(_at_most(name, 'wrap_model_fn', 'warm_start_from', 0.5,
                       EMB_TRAIN_METRICS),
              _reads_at_most(name, ours='wrap_model_fn'),
              _rss_over_cold_within_budget(name, 'wrap_model_fn',
                                           STARTUP_PEAK_METRIC))))
  return found


SCENARIOS = {
    s.name: s for s in (
        Scenario('S0', 200, (16, 16), '200 variables of 16x16 float32 '
                 '(smoke test)'),
        Scenario('S1', 3000, (64, 64),
                 '3000 variables of 64x64 float32, scope map',
                 checks=(_faster_than('S1', 'tf_init_from_checkpoint', 5),
                         _faster_than('S1', 'cold', 1),
                         _faster_than('S1', 'tf_init_from_checkpoint', 2.5,
                                      ours=SCOPE,
                                      metrics=TIME_METRICS[:1]))),
        Scenario('S2', 10000, (16, 16),
                 '10000 variables of 16x16 float32, scope map',
                 checks=(_faster_than('S2', 'tf_init_from_checkpoint', 5),
                         _linear('S2', 'S2_1k', 11)),
                 helpers=('S2_1k',)),
        Scenario('S2_1k', 1000, (16, 16),
                 '1000 variables of 16x16 float32 (for S2\'s linearity)',
                 methods=(OURS, INIT_FLOOR), hidden=True),
        Scenario('S3', 50, (2048, 2048),
                 '50 variables of 2048x2048 float32 (800 MiB), scope map',
                 methods=tuple(m for m in GRAPH_METHODS
                               if m not in (INIT_FLOOR, SCOPE)),
                 min_repeats=3,
                 checks=(_as_fast_as('S3', 'saver_restore'),
                         _peak_rss_at_most('S3', 'tf_init_from_checkpoint',
                                           1.1))),
        Scenario('E0', 50, (16, 16), 'Estimator, 50 variables of 16x16 '
                 '(every 10th partitioned; smoke test)',
                 methods=ESTIMATOR_METHODS, kind='estimator',
                 partitioned_every=10),
        Scenario('E1', 1000, (64, 64), 'Estimator, 1000 variables of 64x64',
                 methods=ESTIMATOR_METHODS, kind='estimator',
                 checks=(_at_most('E1', 'wrap_model_fn', 'cold', 0.75),
                         _at_most('E1', 'wrap_model_fn', 'warm_start_from',
                                  0.70))),
        Scenario('E3', 3000, (64, 64), 'Estimator, 3000 variables of 64x64',
                 methods=ESTIMATOR_METHODS, kind='estimator',
                 checks=(_at_most('E3', 'wrap_model_fn', 'cold', 0.75),
                         _at_most('E3', 'wrap_model_fn', 'warm_start_from',
                                  0.70))),
        Scenario('E10', 10000, (16, 16), 'Estimator, 10000 variables of '
                 '16x16, every 10th partitioned in two',
                 methods=ESTIMATOR_METHODS, kind='estimator',
                 partitioned_every=10,
                 checks=(_grows_linearly('E10', 'E1s', 'wrap_model_fn', 11),
                         _at_most('E10', 'wrap_model_fn', 'cold', 0.75),
                         _at_most('E10', 'wrap_model_fn', 'warm_start_from',
                                  0.70)),
                 helpers=('E1s',)),
        Scenario('E1s', 1000, (16, 16), 'Estimator, 1000 variables of 16x16, '
                 'every 10th partitioned in two (for E10\'s linearity)',
                 methods=ESTIMATOR_METHODS, kind='estimator',
                 partitioned_every=10, hidden=True),
        *_emb_scenarios('', 2_000_000, 64, 1000, (64, 64), ''),
        *_emb_scenarios('s', 20_000, 16, 50, (16, 16), ' (smoke test: its '
                        'targets mean nothing at this size)'),
    )
}

FLAGS = flags.FLAGS
flags.DEFINE_list('scenarios', ['S1', 'S2', 'S3', 'E1', 'E3', 'E10'],
                  'Scenarios to run: %s.' % ', '.join(
                      s for s in SCENARIOS if not SCENARIOS[s].hidden))
flags.DEFINE_list('methods', list(ALL_METHODS),
                  'Methods to measure (each scenario runs those it supports).')
flags.DEFINE_integer('repeats', 1, 'Runs per method; the fastest is kept. '
                     'S3 always runs at least 3 (its runs are short and its '
                     'methods close).', lower_bound=1)
flags.DEFINE_string('out_dir', os.path.join(_HERE, 'out'),
                    'Where source checkpoints and results go.')
flags.DEFINE_string('json', None, 'JSON results file (default '
                    'OUT_DIR/results.json).')
flags.DEFINE_string('markdown', None, 'Markdown results file (default '
                    'OUT_DIR/results.md).')
flags.DEFINE_integer('max_chunk_bytes', None,
                     'warmstart Options.max_chunk_bytes (default: the '
                     'library default).', lower_bound=1)
flags.DEFINE_integer('timeout', 1200, 'Seconds before a run is abandoned.')
flags.DEFINE_string('from_json', None,
                    'Measure nothing: print the report of an earlier run\'s '
                    'results file (and write its markdown).')
flags.DEFINE_string('reuse_json', None,
                    'A results file of an earlier run: the (scenario, method) '
                    'rows not measured now are taken from it (marked "(earlier '
                    'run)"), e.g. to compare a change of warmstart with TF\'s '
                    'slow paths without measuring those again.')
flags.DEFINE_string('warmstart_path', None,
                    'A directory holding another copy of the `warmstart` '
                    'package to measure instead of this repository\'s (put '
                    'first on the workers\' PYTHONPATH).')


def _worker(job: dict[str, Any], timeout: int,
            library_path: Optional[str] = None,
            script: str = _WORKER) -> dict[str, Any]:
  """Runs one job of `script` (a worker) in a fresh Python process."""
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join(
      p for p in (library_path, _REPO, env.get('PYTHONPATH')) if p)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as f:
    result_path = f.name
  try:
    proc = subprocess.run(
        [sys.executable, script, json.dumps(job), result_path],
        env=env, cwd=_REPO, capture_output=True, text=True, timeout=timeout,
        check=False)
    if proc.returncode != 0:
      tail = '\n'.join(proc.stderr.strip().splitlines()[-15:])
      return {'error': 'exit %d: %s' % (proc.returncode, tail)}
    with open(result_path) as f:
      return json.load(f)
  except subprocess.TimeoutExpired:
    return {'error': 'timed out after %d s' % timeout}
  finally:
    os.unlink(result_path)


def _checkpoint(scenario: Scenario, out_dir: str, timeout: int) -> str:
  """Returns the scenario's source checkpoint prefix, writing it if needed."""
  emb = ('emb%dx%d' % (scenario.emb_rows, scenario.emb_dim)
         if scenario.emb_rows else '')
  if scenario.kind == 'emb':  # S4 and S5 share it (and its vocabularies).
    name = emb
  else:
    name = '%s_%d_%s%s%s' % (
        'ckpt' if scenario.kind == 'graph' else 'estimator',
        scenario.num_vars, 'x'.join(map(str, scenario.shape)),
        '_p%d' % scenario.partitioned_every
        if scenario.partitioned_every else '', '_' + emb if emb else '')
  directory = os.path.join(out_dir, name)
  prefix = os.path.join(directory, 'model')
  if os.path.exists(prefix + '.index'):
    return prefix
  os.makedirs(directory, exist_ok=True)
  print('Writing the %s checkpoint (%.0f MiB) ...' %
        (scenario.name, scenario.nbytes / 2**20), flush=True)
  result = _worker(dict(_job_fields(scenario), mode='checkpoint',
                        prefix=prefix), timeout, script=_script(scenario))
  if 'error' in result:
    raise RuntimeError('Writing the %s checkpoint failed: %s' %
                       (scenario.name, result['error']))
  return prefix


def _script(scenario: Scenario) -> str:
  return {'graph': _WORKER, 'estimator': _ESTIMATOR_WORKER,
          'emb': _EMB_WORKER}[scenario.kind]


def _job_fields(scenario: Scenario) -> dict[str, Any]:
  """What a worker is told of the scenario."""
  return {'num_vars': scenario.num_vars, 'shape': list(scenario.shape),
          'partitioned_every': scenario.partitioned_every,
          'emb_rows': scenario.emb_rows, 'emb_dim': scenario.emb_dim,
          'partitions': scenario.partitions, 'remap': scenario.remap}


def _derive(row: dict[str, Any]) -> dict[str, Any]:
  """Adds the metrics computed from a worker's raw result."""
  if 'error' in row:
    return row
  if 'call_s' in row:
    row['setup_s'] = row['call_s'] + row['run_s']
  if 'rss_import_mb' in row:
    row['rss_added_mb'] = row['peak_rss_mb'] - row['rss_import_mb']
  if 'end_s' in row:
    row['startup_s'] = row['total_s'] - row['end_s']
  return row


#: Metrics of which every run is kept (`all_<metric>`): the targets judge
#: each metric's best run.
_KEPT_METRICS = ('total_s', 'setup_s', 'setup_cpu_s', 'startup_s', 'rchar',
                 'peak_over_baseline_mb')


def _io_summary(scenario: Scenario, result: Mapping[str, Any]) -> str:
  """', read N MiB (k x), peak RSS +M MiB over B MiB' of one run."""
  if not scenario.measures_io or result.get('rchar') is None:
    return ''
  return ', read %.0f MiB (%.2fx), peak RSS +%.0f MiB over %.0f MiB%s' % (
      result['rchar'] / _MIB, result['rchar'] / scenario.nbytes,
      result['peak_over_baseline_mb'], result['rss_baseline_mb'],
      '' if result['peak_of'] == 'section' else ' (process peak)')


def _warm_page_cache(directory: str) -> None:
  """Reads every file of `directory` once (the checkpoint, the vocabularies).

  So the first run of a scenario reads from the page cache like the others
  (a checkpoint written or evicted just before would otherwise make the
  first method pay for the disk alone).
  """
  for name in sorted(os.listdir(directory)):
    with open(os.path.join(directory, name), 'rb') as f:
      while f.read(64 << 20):
        pass


def run_scenario(scenario: Scenario, methods: Sequence[str], repeats: int,
                 out_dir: str, timeout: int, max_chunk_bytes: Optional[int],
                 library_path: Optional[str]) -> dict[str, dict[str, Any]]:
  """Measures each method `repeats` times (interleaved); keeps the fastest."""
  prefix = _checkpoint(scenario, out_dir, timeout)
  if scenario.measures_io:
    _warm_page_cache(os.path.dirname(prefix))
  methods = [m for m in methods if m in scenario.methods]
  runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
  for repeat in range(max(repeats, scenario.min_repeats)):
    for method in methods:
      job = dict(_job_fields(scenario), mode='measure', method=method,
                 prefix=prefix, max_chunk_bytes=max_chunk_bytes)
      model_dir = None
      if scenario.kind == 'estimator':
        # An empty model_dir of this run's own, removed after it.
        model_dir = job['model_dir'] = tempfile.mkdtemp(prefix='model_dir_',
                                                        dir=out_dir)
      try:
        result = _derive(_worker(job, timeout, library_path,
                                 _script(scenario)))
      finally:
        if model_dir:
          shutil.rmtree(model_dir, ignore_errors=True)
      if 'error' in result:
        print('  %s %s (run %d): FAILED %s' % (scenario.name, method,
                                               repeat + 1, result['error']),
              flush=True)
      elif scenario.kind == 'estimator':
        print('  %s %-20s run %d: train(steps=1) %7.2f s (model_fn %.2f, '
              'warm start %.2f, session %.2f, first step %.2f)%s' %
              (scenario.name, method, repeat + 1, result['total_s'],
               result['model_fn_s'], result['warm_start_s'],
               result['session_s'], result['first_step_s'],
               _io_summary(scenario, result)), flush=True)
      elif scenario.kind == 'emb':
        print('  %s %-24s run %d: total %7.2f s (CPU %6.2f s)%s' %
              (scenario.name, method, repeat + 1, result['total_s'],
               result['total_cpu_s'], _io_summary(scenario, result)),
              flush=True)
      else:
        print('  %s %-24s run %d: total %7.2f s, call + first run %6.2f s '
              '(CPU %6.2f s), peak RSS %6.0f MiB' %
              (scenario.name, method, repeat + 1, result['total_s'],
               result['setup_s'], result['setup_cpu_s'],
               result['peak_rss_mb']), flush=True)
      runs[method].append(result)
  # The run a row shows: train(steps=1)'s fastest (Estimator), the whole
  # span's (one embedding: the model build is negligible), else the fastest
  # call + first run (what a warm start is judged by first).
  key = 'setup_s' if scenario.kind == 'graph' else 'total_s'
  best = {}
  for method, results in runs.items():
    good = [r for r in results if 'error' not in r]
    if good:
      row = dict(min(good, key=lambda r: r[key]))
      for metric in _KEPT_METRICS:
        if metric in row:
          row['all_' + metric] = [r.get(metric) for r in good]
      best[method] = row
    else:
      best[method] = results[-1]
  return best


_COLUMNS = ('method', 'total s', 'model build s', 'call s', 'first run s',
            'call + run s', 'call + run CPU s', 'peak RSS MiB',
            'RSS added MiB', 'ops run', 'total / ours', 'call + run / ours')


def _ratio(row: Mapping[str, Any], ours: Optional[Mapping[str, Any]],
           metric: str) -> str:
  if not ours or 'error' in ours or not ours[metric]:
    return '-'
  return '%.2fx' % (row[metric] / ours[metric])


def _table_rows(rows: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
  ours = rows.get(OURS)
  table = []
  order = [m for m in ALL_METHODS if m in rows]
  for method, row in ((m, rows[m]) for m in order):
    label = method + (' (earlier run)' if 'reused_from' in row else '')
    if 'error' in row:
      table.append([label, 'FAILED'] + [''] * (len(_COLUMNS) - 2))
      continue
    table.append([
        label, '%.2f' % row['total_s'], '%.2f' % row['build_s'],
        '%.2f' % row['call_s'], '%.2f' % row['run_s'],
        '%.2f' % row['setup_s'], '%.2f' % row['setup_cpu_s'],
        '%.0f' % row['peak_rss_mb'],
        '%.0f' % row['rss_added_mb'],
        str(row['init_ops']) if row.get('init_ops') else '-',
        _ratio(row, ours, 'total_s'), _ratio(row, ours, 'setup_s')])
  return table


_ESTIMATOR_COLUMNS = ('method', 'train(steps=1) s', 'model_fn s',
                      'warm start s', 'session creation s', 'first step s',
                      'other s', 'CPU s', '/ cold', '/ warm_start_from')


#: Columns of the scenarios that measure bytes read and peak RSS.
_IO_COLUMNS = ('bytes read MiB', 'read / restored', 'from storage MiB',
               'RSS baseline MiB', 'peak RSS over baseline MiB')
#: E-emb's: the peak up to the session, before the first checkpoint save.
_STARTUP_COLUMNS = ('peak RSS to the session MiB',)


def _mib_cell(value: Optional[float]) -> str:
  return '-' if value is None else '%.0f' % value


def _io_cells(scenario: Scenario, row: Mapping[str, Any]) -> list[str]:
  """The `_IO_COLUMNS` of one row ('-' where not measured)."""
  def mib(value):
    return '-' if value is None else '%.0f' % (value / _MIB)
  rchar = row.get('rchar')
  peak = row.get('peak_over_baseline_mb')
  return [mib(rchar),
          '-' if rchar is None else '%.2fx' % (rchar / scenario.nbytes),
          mib(row.get('read_bytes')),
          '%.0f' % row['rss_baseline_mb'] if 'rss_baseline_mb' in row else '-',
          '-' if peak is None else '%.0f%s' % (
              peak, '' if row.get('peak_of') == 'section' else '*')]


def _estimator_table(
    rows: Mapping[str, Mapping[str, Any]],
    scenario: Scenario) -> tuple[list[list[str]], tuple[str, ...]]:
  """The Estimator table: train(steps=1) and its split, per method.

  Returns (rows, columns); E-emb adds `_IO_COLUMNS` and
  `_STARTUP_COLUMNS`.
  """
  def ratio(row, other):
    base = rows.get(other)
    if not base or 'error' in base:
      return '-'
    return '%.2fx' % (row['total_s'] / base['total_s'])

  columns: tuple[str, ...] = _ESTIMATOR_COLUMNS
  ratios: tuple[str, ...] = ('cold', 'warm_start_from')
  if scenario.measures_io:
    columns = (tuple(c for c in columns if c != '/ cold') + _IO_COLUMNS +
               _STARTUP_COLUMNS)
    ratios = ('warm_start_from',)
  table = []
  for method in [m for m in ESTIMATOR_METHODS if m in rows]:
    row = rows[method]
    label = method + (' (earlier run)' if 'reused_from' in row else '')
    if 'error' in row:
      table.append([label, 'FAILED'] + [''] * (len(columns) - 2))
      continue
    other = (row['total_s'] - row['model_fn_s'] - row['warm_start_s'] -
             row['session_s'] - row['first_step_s'])
    table.append([label] + ['%.2f' % v for v in (
        row['total_s'], row['model_fn_s'], row['warm_start_s'],
        row['session_s'], row['first_step_s'], other, row['total_cpu_s'])] +
                 [ratio(row, other) for other in ratios] +
                 (_io_cells(scenario, row) + [_mib_cell(
                     row.get('startup_peak_over_baseline_mb'))]
                  if scenario.measures_io else []))
  return table, columns


_EMB_COLUMNS = (('method', 'total s', 'model build s', 'call s',
                 'first run s', 'CPU s') + _IO_COLUMNS +
                ('ops run', 'total / ours'))


def _emb_rows(rows: Mapping[str, Mapping[str, Any]],
              scenario: Scenario) -> list[list[str]]:
  """The table of an embedding scenario (S4, S5): times, reads, RSS."""
  ours = rows.get(OURS)
  table = []
  for method in [m for m in ALL_METHODS if m in rows]:
    row = rows[method]
    label = method + (' (earlier run)' if 'reused_from' in row else '')
    if 'error' in row:
      table.append([label, 'FAILED'] + [''] * (len(_EMB_COLUMNS) - 2))
      continue
    table.append(
        [label] + ['%.2f' % row[k] for k in ('total_s', 'build_s', 'call_s',
                                             'run_s', 'total_cpu_s')] +
        _io_cells(scenario, row) +
        [str(row.get('init_ops') or '-'), _ratio(row, ours, 'total_s')])
  return table


def _text_table(table: list[list[str]],
                columns: Sequence[str] = _COLUMNS) -> str:
  widths = [max(len(r[i]) for r in [list(columns)] + table)
            for i in range(len(columns))]
  lines = ['  '.join(c.ljust(w) for c, w in zip(columns, widths))]
  for row in table:
    lines.append('  '.join(c.ljust(w) for c, w in zip(row, widths)))
  return '\n'.join(lines)


def _markdown_table(table: list[list[str]],
                    columns: Sequence[str] = _COLUMNS) -> str:
  lines = ['| ' + ' | '.join(columns) + ' |',
           '|' + '|'.join(['---'] + ['---:'] * (len(columns) - 1)) + '|']
  for row in table:
    lines.append('| ' + ' | '.join(row) + ' |')
  return '\n'.join(lines)


def _verdict(ok: Optional[bool]) -> str:
  return {True: 'PASS', False: 'FAIL', None: 'N/A'}[ok]


def _environment() -> str:
  try:
    tf_version = importlib.metadata.version('tensorflow')
  except importlib.metadata.PackageNotFoundError:
    tf_version = '?'
  return ('TensorFlow %s, Python %s, %d CPU cores, %s, %s' % (
      tf_version, platform.python_version(), os.cpu_count() or 0,
      platform.machine(), datetime.date.today().isoformat()))


_LEGEND = (
    'Each run is a fresh process (%s); each row is the run of a method '
    'with the fastest "call + run" (the number of runs is given per '
    'scenario); the targets compare each metric\'s best run. "total": from '
    'after '
    '`import tensorflow` to after the first initialization: the model\'s '
    '`get_variable` calls ("model build", the same for every method), the '
    'method\'s call (`saver_restore`: building the `Saver`), then '
    '`global_variables_initializer()`, `Session()` (default `ConfigProto`) '
    'and its first run (`saver_restore`: `saver.restore`). "call + run": '
    'what the method adds on top of the model build; "CPU": its CPU time '
    '(all threads). "ops run": ops in the '
    'fetched subgraph. "RSS added": peak RSS minus the RSS after importing '
    'TensorFlow. Ratios: that method\'s time over warmstart\'s. '
    '`warmstart_scope`: the model is built under `warmstart.warm_start_scope` '
    '(restored variables get stand-ins; "call" is the scope\'s exit). '
    'Estimator scenarios (E*): `estimator.train(input_fn, steps=1)` from an '
    'empty model_dir, wall time, split into the model_fn, the warm start '
    '(TF\'s `warm_start` for `warm_start_from`, the wrapper\'s work after '
    'the model_fn, the hook\'s `begin`), session creation (Scaffold, '
    'session, init op, to `after_create_session`), the first step and the '
    'rest (the final checkpoint); `wrap_model_fn_built` is '
    '`wrap_model_fn(at_creation=False)`. Embedding scenarios (S4, S5, '
    'E-emb): each row is the run with the fastest "total" (E-emb: '
    'train(steps=1)); "bytes read": the `rchar` delta of /proc/self/io over '
    'the measured span (every byte the process\'s threads read with '
    'read()/pread(), page-cache hits included), "read / restored": over the '
    'bytes of the checkpoint tensors restored, "from storage": the '
    '`read_bytes` delta (0 when the files are cached); "peak RSS over '
    'baseline": the peak RSS of the measured span (VmHWM, reset through '
    '/proc/self/clear_refs at its start; marked * where it could not be '
    'reset: the process\'s peak) minus "RSS baseline", the RSS after `import '
    'tensorflow` and an empty `Session()`, taken in the same process before '
    'the model is built; "peak RSS to the session" (E-emb): that peak up to '
    'the session\'s creation, where every method\'s warm start runs, before '
    'Estimator\'s first checkpoint save, which holds about the variables\' '
    'bytes again, cold or warm (the cold row shows it).')


def report(results: Results, names: Sequence[str]) -> tuple[str, str]:
  """Returns (text for the terminal, markdown for the README)."""
  text, md = [], []
  md.append(_LEGEND % _environment())
  for name in names:
    scenario = SCENARIOS[name]
    rows = results.get(name, {})
    if scenario.kind == 'estimator':
      table, columns = _estimator_table(rows, scenario)
    elif scenario.kind == 'emb':
      table, columns = _emb_rows(rows, scenario), _EMB_COLUMNS
    else:
      table, columns = _table_rows(rows), _COLUMNS
    runs = max([len(r.get('all_total_s', ())) for r in rows.values()] or [0])
    heading = '%s: %s (best of %d)' % (name, scenario.description, runs)
    text.append('\n== %s ==\n%s' % (heading, _text_table(table, columns)))
    md.append('\n### %s\n\n%s' % (heading, _markdown_table(table, columns)))
    for helper in scenario.helpers:
      for method, row in results.get(helper, {}).items():
        if 'error' in row:
          continue
        if SCENARIOS[helper].kind == 'estimator':
          line = '%s, %s: %s: train(steps=1) %.2f s' % (
              helper, SCENARIOS[helper].description, method, row['total_s'])
          text.append(line)
          md.append('\n%s' % line)
        else:
          line = ('%s, %s: %s: total %.2f s, call + first run %.2f s' %
                  (helper, SCENARIOS[helper].description, method,
                   row['total_s'], row['setup_s']))
          text.append(line)
          md.append('\n%s' % line)
    if scenario.checks:
      text.append('Targets:')
      md.append('\nTargets:\n')
      for check in scenario.checks:
        for metric, label in check.metrics:
          ok, detail = check.judge(results, metric)
          text.append('  %s  %s [%s]: %s' % (_verdict(ok), check.description,
                                             label, detail))
          md.append('- **%s** %s [%s]: %s' % (_verdict(ok), check.description,
                                              label, detail))
  return '\n'.join(text), '\n'.join(md) + '\n'


def _reuse(results: dict[str, dict[str, Any]], path: str) -> None:
  """Fills the rows not measured now from an earlier run's JSON file."""
  with open(path) as f:
    earlier = json.load(f)['results']
  for name, rows in results.items():
    for method, row in earlier.get(name, {}).items():
      if method not in rows:
        rows[method] = dict(row, reused_from=path)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  unknown = [s for s in FLAGS.scenarios if s not in SCENARIOS]
  if unknown:
    raise app.UsageError('Unknown scenario(s) %s; known: %s' % (
        ', '.join(unknown), ', '.join(SCENARIOS)))
  unknown = [m for m in FLAGS.methods if m not in ALL_METHODS]
  if unknown:
    raise app.UsageError('Unknown method(s) %s; known: %s' % (
        ', '.join(unknown), ', '.join(ALL_METHODS)))
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  names = list(dict.fromkeys(FLAGS.scenarios))
  if FLAGS.from_json:
    with open(FLAGS.from_json) as f:
      results = json.load(f)['results']
    text, markdown = report(results, [n for n in names if n in results])
    print(text)
    md_path = FLAGS.markdown or os.path.join(FLAGS.out_dir, 'results.md')
    with open(md_path, 'w') as f:
      f.write(markdown)
    print('\nWrote %s' % md_path)
    return
  to_run = []
  for name in names:
    to_run.append(name)
    to_run.extend(SCENARIOS[name].helpers)
  json_path = FLAGS.json or os.path.join(FLAGS.out_dir, 'results.json')
  md_path = FLAGS.markdown or os.path.join(FLAGS.out_dir, 'results.md')

  def write_json(results):
    with open(json_path, 'w') as f:
      json.dump({'environment': _environment(), 'repeats': FLAGS.repeats,
                 'max_chunk_bytes': FLAGS.max_chunk_bytes,
                 'warmstart_path': FLAGS.warmstart_path, 'results': results},
                f, indent=1, sort_keys=True)

  results: dict[str, dict[str, Any]] = {}
  for name in dict.fromkeys(to_run):
    scenario = SCENARIOS[name]
    print('%s: %s' % (name, scenario.description), flush=True)
    results[name] = run_scenario(scenario, FLAGS.methods, FLAGS.repeats,
                                 FLAGS.out_dir, FLAGS.timeout,
                                 FLAGS.max_chunk_bytes, FLAGS.warmstart_path)
    # A long run cut short keeps the scenarios it finished
    # (--from_json reports them).
    write_json(results)
  if FLAGS.reuse_json:
    _reuse(results, FLAGS.reuse_json)
  text, markdown = report(results, names)
  print(text)
  write_json(results)
  with open(md_path, 'w') as f:
    f.write(markdown)
  print('\nWrote %s and %s' % (json_path, md_path))
  failed = ['%s %s' % (name, method) for name, rows in results.items()
            for method, row in rows.items() if 'error' in row]
  if failed:
    # A run that crashed or restored a wrong value; missed targets are not
    # failures of the benchmark.
    raise SystemExit('Failed runs: %s' % ', '.join(failed))


if __name__ == '__main__':
  app.run(main)
