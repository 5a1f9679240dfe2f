"""Shared helpers of the warmstart tests: make a source checkpoint, read back.

Usage:

  prefix, values = test_util.save_checkpoint(self.get_temp_dir(), build_a)
  with tf.Graph().as_default() as g:
    ...build graph B, warm start...
    got = test_util.initialize(g)   # {name: value} after the initializers

  # Or in one call, which also builds graph B again under
  # warmstart.warm_start_scope(settings) and asserts it reads the same:
  got, plan = test_util.run_graph(
      build_b, settings=warmstart.WarmStartSettings(prefix, 'dnn/'))
"""

from __future__ import annotations

import dataclasses
import os
import unittest
from collections.abc import Callable, Iterator
from typing import Any, Optional

import numpy as np
import tensorflow as tf

import warmstart
from warmstart import _tf_compat


def _has_estimator() -> bool:
  try:
    _tf_compat.require_estimator('the tests')
  except ImportError:
    return False
  return True


#: Whether this TensorFlow has `tf.estimator` (TF <= 2.15 with
#: tensorflow-estimator). `make test-latest` runs TF 2.21, which has none.
HAS_ESTIMATOR = _has_estimator()
ESTIMATOR_REASON = 'needs tensorflow-estimator (TF < 2.16)'
#: Decorates a test method or class that needs Estimator.
requires_estimator = unittest.skipUnless(HAS_ESTIMATOR, ESTIMATOR_REASON)


def skip_module_without_estimator() -> None:
  """Skips the whole calling test module when there is no Estimator.

  Call at import time, before anything of Estimator is used. pytest reports
  the module as skipped, with `ESTIMATOR_REASON`.
  """
  if not HAS_ESTIMATOR:
    raise unittest.SkipTest(ESTIMATOR_REASON)


#: Whether `tf.keras` is Keras 2, whose layers make graph-mode variables:
#: TF <= 2.15, or TF >= 2.16 with tf_keras and TF_USE_LEGACY_KERAS=1 (the root
#: conftest.py sets it when tf_keras is installed). Keras 3 (`tf.keras` of TF
#: >= 2.16 by default, it has `keras.version()`) is not what these tests test.
GRAPH_KERAS = not hasattr(tf.keras, 'version')
GRAPH_KERAS_REASON = ('needs Keras 2 layers (TF < 2.16, or tf_keras with '
                      'TF_USE_LEGACY_KERAS=1)')
#: Decorates a test method or class that builds Keras or tf.compat.v1 layers.
requires_graph_keras = unittest.skipUnless(GRAPH_KERAS, GRAPH_KERAS_REASON)


def save_checkpoint(directory: str,
                    build: Callable[[], Any],
                    name: str = 'model.ckpt',
                    global_step: Optional[int] = None,
                    seed: int = 1,
                    steps: int = 0) -> tuple[str, dict[str, np.ndarray]]:
  """Builds a graph with `build()`, initializes it randomly and saves it.

  With `steps`, `build()` returns an op (or a list of ops, run one after the
  other) that is run `steps` times before saving: a training step, a moving
  average update.

  Args:
    directory: Where to write (created if missing).
    build: Creates the variables in the current (fresh) graph.
    name: Checkpoint file name inside `directory`.
    global_step: Passed to `Saver.save` (adds '-N' to the prefix).
    seed: Graph-level random seed, so values are random but reproducible.
    steps: How many times to run what `build()` returns before saving.

  Returns:
    The checkpoint prefix, and {tensor name in the checkpoint: value}.
  """
  os.makedirs(directory, exist_ok=True)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(seed)
    ops = build()
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for _ in range(steps):
        for op in ops if isinstance(ops, (list, tuple)) else [ops]:
          sess.run(op)
      prefix = saver.save(sess, os.path.join(directory, name),
                          global_step=global_step)
  return prefix, checkpoint_values(prefix)


def checkpoint_values(path: str) -> dict[str, np.ndarray]:
  """{tensor name: value} of a checkpoint prefix or a directory's latest."""
  reader = tf.train.load_checkpoint(path)
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def checkpoint_reads(graph: tf.Graph) -> list[tf.Operation]:
  """The warm start's read ops: batched RestoreV2 and streamed chunk reads."""
  return [op for op in graph.get_operations()
          if op.name.startswith('checkpoint_initializer') and
          (op.type == 'RestoreV2' or
           op.name.split('/')[-1].startswith('read_rows'))]


def initialize(graph: Optional[tf.Graph] = None,
               local: bool = True) -> dict[str, np.ndarray]:
  """Runs the graph's initializers; returns {variable name: value}.

  Partitioned variables are returned whole under their full name, and each
  part under its own name.
  """
  graph = graph or tf.compat.v1.get_default_graph()
  with graph.as_default():
    init = [tf.compat.v1.global_variables_initializer()]
    if local:
      init.append(tf.compat.v1.local_variables_initializer())
    fetches = {}
    for v in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES) + (
        graph.get_collection(tf.compat.v1.GraphKeys.LOCAL_VARIABLES)):
      fetches[v.op.name] = v.value() if hasattr(v, 'value') else v
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(init)
      values = sess.run(fetches)
  wholes: dict[str, list] = {}
  for v in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES):
    info = getattr(v, '_save_slice_info', None)
    if info is not None:
      wholes.setdefault(info.full_name, []).append(
          (tuple(info.var_offset), values[v.op.name]))
  for full_name, parts in wholes.items():
    parts.sort(key=lambda p: p[0])
    axis = next((i for i, o in enumerate(parts[-1][0]) if o), 0)
    values[full_name] = np.concatenate([p[1] for p in parts], axis=axis)
  return values


def configure_logical_cpus(num: int = 2) -> list[str]:
  """Splits the CPU into `num` logical devices, if the runtime allows it.

  Call at import time of a test module, before anything initializes the TF
  runtime (in one process running several test files, an earlier file may
  have done so: then the existing devices are kept).

  Returns:
    The names of the logical CPU devices now available (use these for a
    `tf.distribute.MirroredStrategy`).
  """
  try:
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices('CPU')[0],
        [tf.config.LogicalDeviceConfiguration()] * num)
  except RuntimeError:
    pass  # The runtime is already initialized.
  return [d.name for d in tf.config.list_logical_devices('CPU')]


def build_tf_docstring_source() -> None:
  """The source model of the example in TF's `init_from_checkpoint` docstring.

  Tensors old_scope_1/var1 [20, 2], old_scope_1/var2 [50, 4] and
  old_scope_2/var3 [100, 100].
  """
  with tf.compat.v1.variable_scope('old_scope_1'):
    tf.compat.v1.get_variable('var1', [20, 2])
    tf.compat.v1.get_variable('var2', [50, 4])
  with tf.compat.v1.variable_scope('old_scope_2'):
    tf.compat.v1.get_variable('var3', [100, 100])


def build_tf_docstring_target(unmapped: bool = False) -> dict[str, Any]:
  """The target model of TF's `init_from_checkpoint` docstring example.

  Zero-initialized new_scope_1/var1 [20, 2], new_scope_2/var2 [50, 4] and
  new_scope_2/var3 [100, 100] in 5 partitions.

  Args:
    unmapped: Also make `other/keep` [3] (initialized to 3.0), which no map
      of the example selects.

  Returns:
    {'var1': ..., 'var2': ..., 'var3': ...}: the variable objects.
  """
  zeros = tf.compat.v1.zeros_initializer()
  with tf.compat.v1.variable_scope('new_scope_1'):
    var1 = tf.compat.v1.get_variable('var1', shape=[20, 2], initializer=zeros)
  with tf.compat.v1.variable_scope('new_scope_2'):
    var2 = tf.compat.v1.get_variable('var2', shape=[50, 4], initializer=zeros)
    var3 = tf.compat.v1.get_variable(
        name='var3', shape=[100, 100], initializer=zeros,
        partitioner=lambda shape, dtype: [5, 1])
  if unmapped:
    tf.compat.v1.get_variable(
        'other/keep', [3], initializer=tf.compat.v1.constant_initializer(3.0))
  return {'var1': var1, 'var2': var2, 'var3': var3}


def initial_values(graph: tf.Graph) -> dict[str, np.ndarray]:
  """{variable name: its `initial_value`}, evaluated in a new session."""
  fetches = {}
  for v in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES) + (
      graph.get_collection(tf.compat.v1.GraphKeys.LOCAL_VARIABLES)):
    initial = getattr(v, 'initial_value', None)
    if isinstance(initial, tf.Tensor):
      fetches[v.op.name] = initial
  with tf.compat.v1.Session(graph=graph) as sess:
    return sess.run(fetches)


def stand_in_readers(graph: tf.Graph) -> list[str]:
  """The ops that still read a stand-in initial value (must be none)."""
  return [
      '%s reads %s' % (consumer.name, op.name)
      for op in graph.get_operations()
      if op.type == 'Placeholder' and op.name.endswith('/stand_in')
      for consumer in op.outputs[0].consumers()
  ]


def stand_ins(graph: tf.Graph) -> list[str]:
  """The variables that were given a stand-in (by their stand-in's scope)."""
  return [op.name[:-len('/Initializer/stand_in')]
          for op in graph.get_operations()
          if op.type == 'Placeholder' and op.name.endswith('/stand_in')]


@dataclasses.dataclass(frozen=True, eq=False)
class GraphRun:
  """What `run_graph` built and read; unpacks as `(values, result)`.

  Attributes:
    values: {variable name: value} after the initializers (as `initialize`).
    result: What `warm()` returned, or the plan `apply_settings(settings)`
      returned; None for a cold start.
    seed: The graph-level random seed graph B was built with.
    initial_values: {variable name: its `initial_value`} (as
      `initial_values`) when the run applied `settings`, else None.
    stand_ins: The variables given a stand-in when the same settings were
      applied under `warmstart.warm_start_scope` (`assert_same_under_scope`),
      or None when no such comparison ran.
  """

  values: dict[str, np.ndarray]
  result: Any
  seed: int
  initial_values: Optional[dict[str, np.ndarray]] = None
  stand_ins: Optional[tuple[str, ...]] = None

  def __iter__(self) -> Iterator[Any]:
    return iter((self.values, self.result))


def run_graph(build: Callable[[], Any],
              warm: Optional[Callable[[], Any]] = None,
              seed: int = 2,
              *,
              settings: Any = None,
              compare_under_scope: bool = True) -> GraphRun:
  """Builds a fresh graph (B), warm-starts it, and initializes it.

  Graph B is warm-started either by `warm()` (any code: TF's `warm_start`,
  `init_from_checkpoint`, settings naming variables of graph B by object) or
  by `warmstart.apply_settings(settings)`. With `settings`, the run is then
  compared with the same settings under `warmstart.warm_start_scope`
  (`assert_same_under_scope`) unless `compare_under_scope=False`.

  Example:

    ```python
    got, plan = test_util.run_graph(
        build, settings=warmstart.WarmStartSettings(prefix, 'dnn/'))
    fresh, _ = test_util.run_graph(build)  # Cold start, same seed.
    ```

  Args:
    build: Creates graph B's variables.
    warm: The warm start to test, called after `build()` (None: a cold start,
      or `settings`).
    seed: Graph-level random seed of graph B.
    settings: Warm-start settings to apply instead of `warm` (a
      `warmstart.WarmStartSettings`, a `tf.estimator.WarmStartSettings`, a
      checkpoint path, or a list of these). They are made before graph B
      exists, so they name variables by name; settings holding graph B's
      variables are made and applied in `warm`.
    compare_under_scope: With `settings`, whether to build graph B again
      under `warmstart.warm_start_scope(settings)` and assert it gives the
      same values, initial values and plan. Set False to make that
      comparison separately (`assert_same_under_scope`), e.g. to count the
      warnings of each run apart.

  Returns:
    A `GraphRun`; `values, result = run_graph(...)` unpacks it.

  Raises:
    ValueError: both `warm` and `settings`, or `compare_under_scope=False`
      without `settings`.
    AssertionError: the run under the scope differs.
  """
  if warm is not None and settings is not None:
    raise ValueError('run_graph warm-starts graph B by `warm` or by '
                     '`settings`, not both.')
  if settings is None and not compare_under_scope:
    raise ValueError('compare_under_scope=False only means something with '
                     '`settings`.')
  initial = None
  with tf.Graph().as_default() as graph:
    tf.compat.v1.set_random_seed(seed)
    build()
    if settings is not None:
      result = warmstart.apply_settings(settings)
    else:
      result = warm() if warm is not None else None
    values = initialize(graph)
    if settings is not None:
      initial = initial_values(graph)
  run = GraphRun(values, result, seed, initial)
  if settings is None or not compare_under_scope:
    return run
  return dataclasses.replace(
      run, stand_ins=assert_same_under_scope(build, settings, run))


def assert_same_under_scope(build: Callable[[], Any], settings: Any,
                            run: GraphRun) -> tuple[str, ...]:
  """Asserts `settings` under `warm_start_scope` give what `run` read.

  Builds graph B again with `run.seed`, `build()` inside
  `warmstart.warm_start_scope(settings)`: its values and initial values must
  equal `run`'s bit for bit, its plan must be `run.result` (same JSON), and
  no op may read a stand-in. Logging is left on: a test counting warnings
  counts those of this run apart.

  Args:
    build: What `run` built graph B with.
    settings: What `run` applied (`run_graph(..., settings=settings)`).
    run: The run to compare with (it holds the initial values).

  Returns:
    The variables given a stand-in under the scope.

  Raises:
    ValueError: `run` did not apply settings (no initial values recorded).
    AssertionError: any difference.
  """
  if run.initial_values is None:
    raise ValueError('assert_same_under_scope needs a run of '
                     'run_graph(..., settings=...).')
  with tf.Graph().as_default() as scoped:
    tf.compat.v1.set_random_seed(run.seed)
    with warmstart.warm_start_scope(settings) as scope:
      build()
    np.testing.assert_equal(stand_in_readers(scoped), [])
    _assert_same(run.values, initialize(scoped), 'value')
    _assert_same(run.initial_values, initial_values(scoped), 'initial value')
  if scope.plan.to_json() != run.result.to_json():
    raise AssertionError('warm_start_scope planned otherwise:\n%s\n%s' %
                         (scope.plan, run.result))
  return tuple(stand_ins(scoped))


def _assert_same(expected: dict[str, np.ndarray], got: dict[str, np.ndarray],
                 what: str) -> None:
  """Same names and bit-for-bit the same arrays, else an AssertionError."""
  assert sorted(expected) == sorted(got), (sorted(expected), sorted(got))
  for name in expected:
    np.testing.assert_array_equal(
        expected[name], got[name],
        err_msg='%s of %s under warm_start_scope' % (what, name))


class BuildingInitializersMixin:
  """Runs a test case's tests with `at_creation=False` (the path without
  stand-ins): `warmstart.wrap_model_fn` and `warmstart.wrap_estimator` build
  every initializer, the warm start replaces those it restores. Mix into a
  subclass of an Estimator test case to run its tests both ways.
  """

  def setUp(self):
    super().setUp()  # pytype: disable=attribute-error
    from unittest import mock  # pylint: disable=g-import-not-at-top
    import functools  # pylint: disable=g-import-not-at-top
    for name in ('wrap_model_fn', 'wrap_estimator'):
      real = getattr(warmstart, name)
      patch = mock.patch.object(warmstart, name,
                                functools.partial(real, at_creation=False))
      patch.start()
      self.addCleanup(patch.stop)  # pytype: disable=attribute-error


class ReadVariablesHook(tf.compat.v1.train.SessionRunHook):
  """Reads every global variable right after the session is created.

  What a warm start (or a restart's restore) left, before any step runs:
  `values` is {variable name without ':0': value}.
  """

  def __init__(self):
    self.values = None

  def after_create_session(self, session, coord):
    del coord
    variables = tf.compat.v1.global_variables()
    self.values = dict(zip([v.op.name for v in variables],
                           session.run(variables)))


class PrivateVariable(warmstart.CustomVariable):
  """A custom variable kept in a resource variable that no collection lists.

  Records each value handed to `restore_initializer` in `values`.
  """

  def __init__(self, name: str, shape: Any, dtype: tf.DType = tf.float32):
    self._name = name
    self._shape = tf.TensorShape(shape)
    self._dtype = dtype
    self.storage = tf.compat.v1.Variable(
        tf.zeros(shape, dtype), name=name + '_storage', collections=[],
        use_resource=True, trainable=False)
    self.values = []

  @property
  def name(self) -> str:
    return self._name

  @property
  def shape(self) -> tf.TensorShape:
    return self._shape

  @property
  def dtype(self) -> tf.DType:
    return self._dtype

  def restore_initializer(self, value: tf.Tensor) -> tf.Operation:
    self.values.append(value)
    return self.storage.assign(value, read_value=False)

  def read(self) -> tf.Tensor:
    return self.storage.read_value()
