"""Weights files as sources through every entry point, and the staging cache.

Files are written by their own tools: `safetensors.numpy.save_file`,
`numpy.savez`, and Keras 2's `model.save_weights('x.h5')` and
`model.save('x.h5')`. Graph B is warm-started from each through every entry
point (`init_from_checkpoint`, `make_plan` + `apply_plan`, `warm_start`,
`WarmStartSettings` applied and under `warm_start_scope`, `wrap_model_fn` in
an Estimator, `WarmStartHook`, the flags, the command line's `inspect` and
`plan`, `merge_checkpoints`) and compared with numpy; it also checks what
must not change (a variable no rule names, the global step).

The cache is tested by injecting the faults: a worker process converting a
file is SIGKILLed before each step of the conversion; two workers stage one
file at once; entries are damaged by hand; a cache another user owns cannot
be written (the process then runs as `nobody` when the tests run as root,
since root writes through any mode). tests/stage_test.py holds the first,
shorter tests of the same features.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import select
import shutil
import stat
import signal
import subprocess
import sys
import tempfile
import textwrap
import warnings
import zipfile
from typing import Any, Optional
from unittest import mock

from absl import flags as absl_flags
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import __main__ as cli
from warmstart import _report
from warmstart import flags as ws_flags
from warmstart._sources import _foreign
from warmstart._sources import _stage
from warmstart._sources import _writer

try:
  from safetensors import numpy as safetensors_numpy
except ImportError:  # pragma: no cover - a test pin (requirements-test.txt).
  safetensors_numpy = None
try:
  import h5py
except ImportError:  # pragma: no cover - TF brings it.
  h5py = None

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INIT = 7.0
_X = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)
_Y = np.ones([4, 4], np.float32)

#: The model's weights, by their TF names; the files hold them under keys of
#: their own (`_key`).
_NAMES = ('hidden/kernel', 'hidden/bias', 'out/kernel', 'out/bias')
_SHAPES = {'hidden/kernel': (3, 12), 'hidden/bias': (12,),
           'out/kernel': (12, 4), 'out/bias': (4,)}
SAFETENSORS, NPZ = 'safetensors', 'npz'
KERAS_WEIGHTS, KERAS_MODEL = 'keras_save_weights', 'keras_save'
_FORMATS = (SAFETENSORS, NPZ, KERAS_WEIGHTS, KERAS_MODEL)
_EACH_FORMAT = parameterized.named_parameters((f, f) for f in _FORMATS)


def _values(seed: int = 0) -> dict[str, np.ndarray]:
  rng = np.random.RandomState(seed)
  return {n: rng.randn(*_SHAPES[n]).astype(np.float32) for n in _NAMES}


def _key(fmt: str, name: str) -> str:
  """The file's key of weight `name`: dotted, as PyTorch names, or Keras'."""
  if fmt in (SAFETENSORS, NPZ):
    return 'model.' + name.replace('/', '.')
  return name  # Keras records the variables' names: 'hidden/kernel:0'.


def _keras_model(values: dict[str, np.ndarray]) -> Any:
  model = tf.keras.Sequential([
      tf.keras.layers.Dense(12, input_shape=(3,), name='hidden'),
      tf.keras.layers.Dense(4, name='out')])
  model.set_weights([values[n] for n in _NAMES])
  return model


def write_source(fmt: str, directory: str,
                 values: dict[str, np.ndarray]) -> str:
  """Writes `values` as a file of format `fmt` with its own tool."""
  os.makedirs(directory, exist_ok=True)
  if fmt == SAFETENSORS:
    path = os.path.join(directory, 'model.safetensors')
    safetensors_numpy.save_file({_key(fmt, n): v for n, v in values.items()},
                                path)
  elif fmt == NPZ:
    path = os.path.join(directory, 'model.npz')
    np.savez(path, **{_key(fmt, n): v for n, v in values.items()})
  elif fmt == KERAS_WEIGHTS:
    path = os.path.join(directory, 'weights.h5')
    _keras_model(values).save_weights(path)
  else:
    path = os.path.join(directory, 'model.h5')
    model = _keras_model(values)
    model.compile(optimizer='adam', loss='mse')
    model.fit(_X, _Y, epochs=1, verbose=0)  # Optimizer state too.
    model.set_weights([values[n] for n in _NAMES])
    with mock.patch('warnings.warn'):  # "HDF5 ... is legacy".
      model.save(path)
  return path


def _target(partitions: int = 3) -> dict[str, Any]:
  """Graph B: `student/...` (out/kernel in parts), and what no rule names."""
  const = tf.compat.v1.constant_initializer(_INIT)
  variables = {}
  with tf.compat.v1.variable_scope('student'):
    for name in _NAMES:
      variables[name] = tf.compat.v1.get_variable(
          name, _SHAPES[name], initializer=const,
          partitioner=(tf.compat.v1.fixed_size_partitioner(partitions)
                       if name == 'out/kernel' and partitions > 1 else None))
    variables['untouched'] = tf.compat.v1.get_variable(
        'untouched', [2], initializer=const)
  tf.compat.v1.train.get_or_create_global_step()
  return variables


def _assignment_map(fmt: str) -> dict[str, str]:
  return {_key(fmt, n): 'student/' + n for n in _NAMES}


def _prev_names(fmt: str) -> dict[str, str]:
  return {'student/' + n: _key(fmt, n) for n in _NAMES}


_VARS = 'student/(hidden|out)/'


def _train_op(features: tf.Tensor, labels: tf.Tensor) -> tf.Operation:
  """A training step of graph B with learning rate 0: values stay put."""
  v = _target()
  hidden = tf.matmul(features, v['hidden/kernel']) + v['hidden/bias']
  kernel = tf.concat(list(v['out/kernel']), axis=0)
  logits = tf.matmul(hidden, kernel) + v['out/bias']
  loss = tf.reduce_mean(tf.square(logits - labels)) + 0.0 * tf.reduce_sum(
      v['untouched'])
  return tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
      loss, tf.compat.v1.train.get_global_step())


def _model_fn(features, labels, mode):
  train_op = _train_op(features, labels)
  return tf.estimator.EstimatorSpec(
      mode, loss=tf.constant(0.0), train_op=train_op)


def _input_fn():
  return tf.data.Dataset.from_tensors((_X, _Y)).repeat()


def _parse_flags(*argv: str) -> absl_flags.FlagValues:
  flag_values = absl_flags.FlagValues()
  ws_flags.define_flags(flag_values)
  flag_values(['prog'] + list(argv))
  return flag_values


def _run_cli(*argv: str) -> tuple[int, str, str]:
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = cli.main(list(argv))
  return status, out.getvalue(), err.getvalue()


def _entries(cache: str) -> list[str]:
  """The complete-looking entries of a cache (no lock, no `.tmp-` folder)."""
  staged = os.path.join(cache, 'staged')
  if not os.path.isdir(staged):
    return []
  return sorted(n for n in os.listdir(staged)
                if not n.endswith('.lock') and not n.startswith('.tmp-'))


def _sha256(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


_TARGET_MODULE = '''
import tensorflow as tf

def build():
  with tf.compat.v1.variable_scope('student'):
    for name, shape in %r:
      tf.compat.v1.get_variable(name, shape)
''' % ([(n, _SHAPES[n]) for n in _NAMES],)


class _FormatsTestCase(parameterized.TestCase, tf.test.TestCase):
  """Writes one file per format (of the same values) once per class."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.files_dir = tempfile.mkdtemp(prefix='staging_test_')
    cls.values = _values()
    cls.paths = {}

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.files_dir, ignore_errors=True)
    super().tearDownClass()

  def setUp(self):
    super().setUp()
    self.cache = os.path.join(self.create_tempdir().full_path, 'cache')

  def source(self, fmt: str) -> str:
    """The file of format `fmt` (written on first use), or a skip."""
    if fmt in (KERAS_WEIGHTS, KERAS_MODEL) and not test_util.GRAPH_KERAS:
      # Keras 3 writes `.weights.h5` only: foreign_formats_test reads those.
      self.skipTest(test_util.GRAPH_KERAS_REASON)
    if fmt not in self.paths:
      self.paths[fmt] = write_source(
          fmt, os.path.join(self.files_dir, fmt), self.values)
    return self.paths[fmt]

  def assert_warm_started(self, got: dict[str, np.ndarray]) -> None:
    for name in _NAMES:
      self.assertAllEqual(self.values[name], got['student/' + name], name)
    self.assertAllEqual([_INIT, _INIT], got['student/untouched'])
    self.assertEqual(0, got['global_step'])

  def assert_staged_once(self, path: str,
                         plan: Optional[warmstart.Plan] = None) -> str:
    """One entry in the cache, staged from `path`; returns its prefix."""
    entry, = _entries(self.cache)
    prefix = os.path.join(self.cache, 'staged', entry, _stage.PREFIX_NAME)
    self.assertEqual(os.path.realpath(path),
                     os.path.realpath(_stage.manifest(prefix)['source']))
    if plan is not None:
      self.assertEqual(((prefix, path),), plan.staged_sources)
    return prefix


class EntryPointsTest(_FormatsTestCase):
  """Every format through every entry point, values compared with numpy."""

  @_EACH_FORMAT
  def test_init_from_checkpoint_with_renames(self, fmt):
    path = self.source(fmt)
    with tf.Graph().as_default() as graph:
      _target()
      plan = warmstart.init_from_checkpoint(path, _assignment_map(fmt),
                                            cache_dir=self.cache)
      got = test_util.initialize(graph)
    self.assert_warm_started(got)
    prefix = self.assert_staged_once(path, plan)
    self.assertEqual({prefix}, {e.source for e in plan.restored})
    self.assertEqual(3, len(plan.entry('student/out/kernel').slices))

  @_EACH_FORMAT
  def test_make_plan_builds_nothing_then_apply_plan(self, fmt):
    path = self.source(fmt)
    with tf.Graph().as_default() as graph:
      _target()
      ops = len(graph.get_operations())
      plan = warmstart.make_plan(path, _assignment_map(fmt),
                                 cache_dir=self.cache)
      self.assertLen(graph.get_operations(), ops)
      self.assertEqual(4, plan.num_restored)
      warmstart.apply_plan(plan)
      got = test_util.initialize(graph)
    self.assert_warm_started(got)
    self.assert_staged_once(path, plan)

  @_EACH_FORMAT
  def test_warm_start_regex_and_prev_names(self, fmt):
    path = self.source(fmt)
    with tf.Graph().as_default() as graph:
      _target()
      plan = warmstart.warm_start(path, _VARS,
                                  var_name_to_prev_var_name=_prev_names(fmt),
                                  cache_dir=self.cache)
      got = test_util.initialize(graph)
    self.assert_warm_started(got)
    self.assert_staged_once(path, plan)

  @_EACH_FORMAT
  def test_settings_applied_and_under_warm_start_scope(self, fmt):
    path = self.source(fmt)
    settings = warmstart.WarmStartSettings(
        path, _VARS, var_name_to_prev_var_name=_prev_names(fmt),
        cache_dir=self.cache)
    # Applied, then again under warm_start_scope: the same values, initial
    # values and plan, and no op reads a stand-in.
    run = test_util.run_graph(_target, settings=settings)
    self.assert_warm_started(run.values)
    self.assertIn('student/hidden/kernel', run.stand_ins)
    self.assert_staged_once(path, run.result)

  @test_util.requires_estimator
  @_EACH_FORMAT
  def test_wrap_model_fn_in_an_estimator(self, fmt):
    path = self.source(fmt)
    settings = warmstart.WarmStartSettings(
        path, assignment_map=_assignment_map(fmt), cache_dir=self.cache)
    model_dir = self.create_tempdir().full_path
    estimator = tf.estimator.Estimator(
        warmstart.wrap_model_fn(_model_fn, settings), model_dir=model_dir)
    estimator.train(_input_fn, steps=1)
    got = test_util.checkpoint_values(model_dir)
    for name in _NAMES:
      self.assertAllEqual(self.values[name], got['student/' + name], name)
    self.assertAllEqual([_INIT, _INIT], got['student/untouched'])
    self.assertEqual(1, got['global_step'])
    # The plan kept next to the run names the original file.
    self.assert_staged_once(path, warmstart.read_plan(model_dir))

  @_EACH_FORMAT
  def test_warm_start_hook(self, fmt):
    path = self.source(fmt)
    hook = warmstart.WarmStartHook(warmstart.WarmStartSettings(
        path, assignment_map=_assignment_map(fmt), cache_dir=self.cache))
    model_dir = self.create_tempdir().full_path
    with tf.Graph().as_default():
      train_op = _train_op(tf.constant(_X), tf.constant(_Y))
      with tf.compat.v1.train.MonitoredTrainingSession(
          checkpoint_dir=model_dir, hooks=[hook], save_summaries_steps=None,
          save_summaries_secs=None, log_step_count_steps=None) as session:
        session.run(train_op)
    got = test_util.checkpoint_values(model_dir)
    for name in _NAMES:
      self.assertAllEqual(self.values[name], got['student/' + name], name)
    self.assertAllEqual([_INIT, _INIT], got['student/untouched'])
    self.assert_staged_once(path, hook.plan)

  @_EACH_FORMAT
  def test_flags(self, fmt):
    path = self.source(fmt)
    argv = ['--warm_start_from=' + path,
            '--warm_start_cache_dir=' + self.cache]
    argv += ['--warm_start_map=%s=%s' % item
             for item in _assignment_map(fmt).items()]
    settings = ws_flags.settings_from_flags(_parse_flags(*argv))
    self.assertEqual(self.cache, settings[0].cache_dir)
    with tf.Graph().as_default() as graph:
      _target()
      plan = warmstart.apply_settings(settings)
      got = test_util.initialize(graph)
    self.assert_warm_started(got)
    self.assert_staged_once(path, plan)

  @_EACH_FORMAT
  def test_command_line_inspect_and_plan(self, fmt):
    path = self.source(fmt)
    # inspect has no --cache_dir: the environment names the cache.
    with mock.patch.dict(os.environ, {_stage.CACHE_DIR_ENV: self.cache}):
      status, out, err = _run_cli('inspect', '--json', path)
    self.assertEqual(0, status, err)
    listing = json.loads(out)
    self.assertEqual(path, listing['origin'])
    shapes = {t['name']: tuple(t['shape']) for t in listing['tensors']}
    for name in _NAMES:
      self.assertEqual(_SHAPES[name], shapes[_key(fmt, name)])
    self.assertEqual(self.assert_staged_once(path), listing['prefix'])

    modules = self.create_tempdir().full_path
    with open(os.path.join(modules, 'staging_test_target.py'), 'w') as f:
      f.write(_TARGET_MODULE)
    self.addCleanup(sys.modules.pop, 'staging_test_target', None)
    other_cache = os.path.join(self.create_tempdir().full_path, 'cache')
    argv = ['plan', '--from', path, '--model', 'staging_test_target:build',
            '--cache_dir', other_cache]
    for key, name in _assignment_map(fmt).items():
      argv += ['--map', '%s=%s' % (key, name)]
    with mock.patch.object(sys, 'path', [modules] + sys.path):
      status, out, err = _run_cli(*argv)
      self.assertEqual(0, status, err)
      self.assertRegex(out, r'(?m)^student/hidden/kernel +\[3,12\] .* restore '
                       r'+%s +%s \[staged\]' % (re.escape(_key(fmt, 'hidden/'
                                                                'kernel')),
                                                re.escape(path)))
      self.assertIn('Warm-started 4 of 4 variables from %s (staged as %s' %
                    (path, other_cache), out)
      status, out, err = _run_cli(*(argv + ['--json']))
    self.assertEqual(0, status, err)
    staged = json.loads(out)['plan']['staged_sources']
    self.assertEqual([path], list(staged.values()))
    self.assertTrue(next(iter(staged)).startswith(other_cache))

  @_EACH_FORMAT
  def test_merge_checkpoints_with_a_checkpoint(self, fmt):
    path = self.source(fmt)
    prefix, teacher = test_util.save_checkpoint(
        self.create_tempdir().full_path,
        lambda: tf.compat.v1.get_variable('teacher/w', [2, 3]))
    output = os.path.join(self.create_tempdir().full_path, 'merged', 'ckpt')
    warmstart.merge_checkpoints([(path, _assignment_map(fmt)), prefix],
                                output, cache_dir=self.cache)
    got = test_util.checkpoint_values(output)
    for name in _NAMES:
      self.assertAllEqual(self.values[name], got['student/' + name], name)
      self.assertNotIn(_key(fmt, name), got)  # Renamed, not copied.
    self.assertAllEqual(teacher['teacher/w'], got['teacher/w'])
    self.assert_staged_once(path)
    # The merged checkpoint is an ordinary one: TF's own function reads it.
    with tf.Graph().as_default() as graph:
      _target(partitions=1)
      tf.compat.v1.train.init_from_checkpoint(output, {
          'student/hidden/': 'student/hidden/', 'student/out/': 'student/out/'})
      self.assert_warm_started(test_util.initialize(graph))


class DtypesTest(_FormatsTestCase):
  """Dtypes as the file holds them; fp16 and bf16 into float32 by `cast`."""

  _DTYPES = (np.float16, tf.bfloat16.as_numpy_dtype, np.float32, np.float64,
             np.int8, np.int32, np.int64, np.uint8, np.bool_)

  def _arrays(self):
    arrays = {}
    for dtype in self._DTYPES:
      name = tf.as_dtype(dtype).name
      arrays[name] = (np.arange(-6, 6).reshape(4, 3) % 3 - 1).astype(dtype)
    return arrays

  @parameterized.named_parameters((SAFETENSORS, SAFETENSORS), (NPZ, NPZ))
  def test_each_dtype_into_a_variable_of_its_own(self, fmt):
    arrays = self._arrays()
    if fmt == NPZ:
      del arrays['bfloat16']  # numpy.savez cannot write ml_dtypes' bfloat16.
    directory = self.create_tempdir().full_path
    path = os.path.join(directory, 'dtypes.' + fmt)
    if fmt == SAFETENSORS:
      safetensors_numpy.save_file(arrays, path)
    else:
      np.savez(path, **arrays)
    with tf.Graph().as_default() as graph:
      for name, value in arrays.items():
        tf.compat.v1.get_variable(
            'v/' + name, value.shape, dtype=tf.as_dtype(value.dtype),
            initializer=tf.compat.v1.zeros_initializer(),
            # Partitioned where the variable's dtype allows it.
            partitioner=(tf.compat.v1.fixed_size_partitioner(2)
                         if name in ('bfloat16', 'float16') else None))
      plan = warmstart.init_from_checkpoint(path, {'/': 'v/'},
                                            cache_dir=self.cache)
      got = test_util.initialize(graph)
    self.assertEqual(len(arrays), plan.num_restored)
    for name, value in arrays.items():
      self.assertEqual(value.dtype, got['v/' + name].dtype, name)
      self.assertAllEqual(value, got['v/' + name], name)

  def test_bf16_and_fp16_into_float32_with_cast(self):
    values = _values()
    path = os.path.join(self.create_tempdir().full_path, 'half.safetensors')
    safetensors_numpy.save_file({
        'model.hidden.kernel': values['hidden/kernel'].astype(
            tf.bfloat16.as_numpy_dtype),
        'model.out.kernel': values['out/kernel'].astype(np.float16)}, path)
    with tf.Graph().as_default() as graph:
      _target()
      plan = warmstart.init_from_checkpoint(
          path, {'model.hidden.kernel': 'student/hidden/kernel',
                 'model.out.kernel': 'student/out/kernel'},
          cache_dir=self.cache, cast=True)
      got = test_util.initialize(graph)
    self.assertEqual('cast', plan.entry('student/hidden/kernel').action)
    self.assertAllEqual(
        values['hidden/kernel'].astype(tf.bfloat16.as_numpy_dtype).astype(
            np.float32), got['student/hidden/kernel'])
    self.assertAllEqual(values['out/kernel'].astype(np.float16).astype(
        np.float32), got['student/out/kernel'])
    self.assertAllEqual([_INIT] * 12, got['student/hidden/bias'])

  def test_without_cast_a_mismatch_names_the_dtypes(self):
    path = os.path.join(self.create_tempdir().full_path, 'half.safetensors')
    safetensors_numpy.save_file(
        {'model.out.bias': np.ones(4, tf.bfloat16.as_numpy_dtype)}, path)
    with tf.Graph().as_default():
      _target()
      with self.assertRaisesRegex(
          warmstart.MismatchError,
          'student/out/bias.*bfloat16.*float32.*cast=True'):
        warmstart.init_from_checkpoint(path, {'model.out.bias':
                                              'student/out/bias'},
                                       cache_dir=self.cache)


class ChangedModelsTest(_FormatsTestCase):
  """`resize` and transforms apply to a weights file as to a checkpoint."""

  @_EACH_FORMAT
  def test_resize_into_larger_and_smaller_partitioned_variables(self, fmt):
    path = self.source(fmt)
    kernel = self.values['out/kernel']  # [12, 4]
    with tf.Graph().as_default() as graph:
      const = tf.compat.v1.constant_initializer(_INIT)
      tf.compat.v1.get_variable(
          'larger', [14, 6], initializer=const,
          partitioner=tf.compat.v1.fixed_size_partitioner(2))
      tf.compat.v1.get_variable('smaller', [10, 3], initializer=const)
      key = _key(fmt, 'out/kernel')
      plan = warmstart.init_from_checkpoint(
          path, [(key, 'larger'), (key, 'smaller')], cache_dir=self.cache,
          resize=True)
      got = test_util.initialize(graph)
    self.assertEqual('resize [12, 4] -> [14, 6]',
                     plan.entry('larger').reason)
    expected = np.full([14, 6], _INIT, np.float32)
    expected[:12, :4] = kernel
    self.assertAllEqual(expected, got['larger'])
    self.assertAllEqual(kernel[:10, :3], got['smaller'])

  def test_transpose_of_a_linear_weight(self):
    rng = np.random.RandomState(3)
    weight = rng.randn(5, 3).astype(np.float32)  # Linear: [out, in].
    bias = rng.randn(5).astype(np.float32)
    path = os.path.join(self.create_tempdir().full_path, 'linear.safetensors')
    safetensors_numpy.save_file({'encoder.linear.weight': weight,
                                 'encoder.linear.bias': bias}, path)
    assignment_map = {
        'encoder.linear.weight': warmstart.Transform(
            'dense/kernel', warmstart.transpose([1, 0])),
        'encoder.linear.bias': 'dense/bias'}
    with tf.Graph().as_default() as graph:
      features = tf.constant(_X)
      with warnings.catch_warnings():  # "tf.layers.dense is deprecated".
        warnings.simplefilter('ignore', UserWarning)
        output = tf.compat.v1.layers.dense(
            features, 5, name='dense',
            kernel_initializer=tf.compat.v1.constant_initializer(_INIT))
      plan = warmstart.init_from_checkpoint(path, assignment_map,
                                            cache_dir=self.cache)
      got = test_util.initialize(graph)
      with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        computed = session.run(output)
    self.assertEqual('transpose [1, 0]', plan.entry('dense/kernel').reason)
    self.assertAllEqual(weight.T, got['dense/kernel'])
    # The layer computes what PyTorch's Linear does: x @ W.T + b.
    self.assertAllClose(_X @ weight.T + bias, computed)


class CacheTest(_FormatsTestCase):
  """Where the cache is, reuse, invalidation, and what it never touches."""

  def _warm(self, path, fmt=SAFETENSORS, **options):
    with tf.Graph().as_default() as graph:
      _target()
      plan = warmstart.init_from_checkpoint(path, _assignment_map(fmt),
                                            **options)
      return plan, test_util.initialize(graph)

  def test_the_option_then_the_environment_then_xdg_then_home(self):
    path = self.source(SAFETENSORS)
    env_cache = os.path.join(self.create_tempdir().full_path, 'env')
    with mock.patch.dict(os.environ, {_stage.CACHE_DIR_ENV: env_cache}):
      self._warm(path, cache_dir=self.cache)
      self.assertLen(_entries(self.cache), 1)
      self.assertEmpty(_entries(env_cache))
      _, got = self._warm(path)
      self.assert_warm_started(got)
      self.assertLen(_entries(env_cache), 1)
    home = self.create_tempdir().full_path
    with mock.patch.dict(os.environ, {'HOME': home, 'XDG_CACHE_HOME': ''}):
      os.environ.pop(_stage.CACHE_DIR_ENV, None)
      self.assertEqual(os.path.join(home, '.cache', 'warmstart'),
                       _stage.default_cache_dir())
      os.environ['XDG_CACHE_HOME'] = os.path.join(home, 'xdg')
      self.assertEqual(os.path.join(home, 'xdg', 'warmstart'),
                       _stage.default_cache_dir())

  def test_an_unchanged_file_is_reused_without_being_read(self):
    path = self.source(NPZ)
    plan, _ = self._warm(path, NPZ, cache_dir=self.cache)
    prefix = self.assert_staged_once(path, plan)
    data = prefix + '.data-00000-of-00001'
    written = os.stat(data).st_mtime_ns
    refuse = AssertionError('converted again')
    with mock.patch.object(_writer, 'save_batch', side_effect=refuse), \
        mock.patch.object(_foreign, 'open_reader', side_effect=refuse):
      plan, got = self._warm(path, NPZ, cache_dir=self.cache)
    self.assert_warm_started(got)
    self.assertEqual(prefix, self.assert_staged_once(path, plan))
    self.assertEqual(written, os.stat(data).st_mtime_ns)

  def test_a_changed_file_is_converted_again(self):
    directory = self.create_tempdir().full_path
    path = write_source(SAFETENSORS, directory, self.values)
    size = os.path.getsize(path)
    self._warm(path, cache_dir=self.cache)
    # Rewritten in place: same name, same size, other values.
    changed = {n: v + 1.0 for n, v in self.values.items()}
    write_source(SAFETENSORS, directory, changed)
    self.assertEqual(size, os.path.getsize(path))
    _, got = self._warm(path, cache_dir=self.cache)
    for name in _NAMES:
      self.assertAllEqual(changed[name], got['student/' + name])
    self.assertLen(_entries(self.cache), 2)  # Never evicted.
    # Replaced by a rename (a new inode), as downloads and savers do.
    replacement = os.path.join(self.create_tempdir().full_path, 'new')
    again = {n: v * 2.0 for n, v in self.values.items()}
    os.replace(write_source(SAFETENSORS, replacement, again), path)
    _, got = self._warm(path, cache_dir=self.cache)
    self.assertAllEqual(again['out/kernel'], got['student/out/kernel'])
    self.assertLen(_entries(self.cache), 3)

  def test_never_writes_beside_the_source(self):
    formats = _FORMATS if test_util.GRAPH_KERAS else (SAFETENSORS, NPZ)
    for fmt in formats:
      path = self.source(fmt)
      directory = self.create_tempdir().full_path
      copy = os.path.join(directory, os.path.basename(path))
      shutil.copyfile(path, copy)
      digest, listing = _sha256(copy), sorted(os.listdir(directory))
      # Read-only (root writes anyway: the listing, the folder's mtime, which
      # any file made and removed there changes, and the bytes are checked).
      os.chmod(directory, 0o555)
      self.addCleanup(os.chmod, directory, 0o755)
      mtime = os.stat(directory).st_mtime_ns
      _, got = self._warm(copy, fmt, cache_dir=self.cache)
      self.assert_warm_started(got)
      self.assertEqual(listing, sorted(os.listdir(directory)), fmt)
      self.assertEqual(mtime, os.stat(directory).st_mtime_ns, fmt)
      self.assertEqual(digest, _sha256(copy), fmt)

  def test_as_an_unprivileged_user(self):
    """A read-only source folder works; a read-only cache is named."""
    # The child warms up as root, then imports lazily from the checkout
    # (and its .venv) as nobody: it must be open to other users.
    place = _ROOT
    while place != os.path.dirname(place):
      if not os.stat(place).st_mode & stat.S_IXOTH:
        self.skipTest('%s is closed to other users: nobody cannot import '
                      'this checkout' % place)
      place = os.path.dirname(place)
    path = self.source(SAFETENSORS)
    # A folder of our own that `nobody` can enter (not under root's).
    work = tempfile.mkdtemp(prefix='staging_test_user_')
    self.addCleanup(shutil.rmtree, work, ignore_errors=True)
    os.chmod(work, 0o777)
    source_dir = os.path.join(work, 'source')
    os.mkdir(source_dir)
    copy = os.path.join(source_dir, 'model.safetensors')
    shutil.copyfile(path, copy)
    os.chmod(copy, 0o644)
    os.chmod(source_dir, 0o555)
    self.addCleanup(os.chmod, source_dir, 0o755)
    writable = os.path.join(work, 'writable')
    read_only = os.path.join(work, 'read_only')
    os.makedirs(os.path.join(read_only, 'staged'))
    os.chmod(os.path.join(read_only, 'staged'), 0o555)
    self.addCleanup(os.chmod, os.path.join(read_only, 'staged'), 0o755)
    script = textwrap.dedent('''
        import json, os, sys
        sys.path.insert(0, %(root)r)
        import numpy as np
        import tensorflow as tf
        import warmstart
        from safetensors.numpy import save_file
        work, copy, writable, read_only = sys.argv[1:5]
        # Root's Python lives under /root: load what staging uses lazily by
        # staging a file once before giving up root.
        warm_up = os.path.join(work, 'warm_up.safetensors')
        save_file({'a': np.ones(2, np.float32)}, warm_up)
        warmstart._sources.load(warm_up, os.path.join(work, 'warm_up'))
        if os.geteuid() == 0:
          try:
            os.setgid(65534)
            os.setuid(65534)
          except OSError as e:  # A sandbox (Bazel's) maps no such user.
            print(json.dumps({'skip': 'cannot become nobody here: %%s' %% e}))
            sys.exit(0)
        result = {}
        try:
          open(os.path.join(os.path.dirname(copy), 'probe'), 'w')
          result['source_dir'] = 'writable'
        except PermissionError:
          result['source_dir'] = 'read-only'
        checkpoint = warmstart._sources.load(copy, writable)
        reader = tf.train.load_checkpoint(checkpoint.prefix)
        result['prefix'] = checkpoint.prefix
        result['kernel'] = reader.get_tensor('model.out.kernel').tolist()
        try:
          warmstart._sources.load(copy, read_only)
        except warmstart.Error as e:
          result['read_only'] = '%%s: %%s' %% (type(e).__name__, e)
        print(json.dumps(result))
        ''') % {'root': _ROOT}
    done = subprocess.run(
        [sys.executable, '-c', script, work, copy, writable, read_only],
        capture_output=True, text=True, timeout=300, check=False,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    self.assertEqual(0, done.returncode, done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if 'skip' in result:
      self.skipTest(result['skip'])
    self.assertEqual('read-only', result['source_dir'])
    self.assertTrue(result['prefix'].startswith(writable))
    self.assertAllEqual(self.values['out/kernel'], result['kernel'])
    self.assertEqual(['model.safetensors'], os.listdir(source_dir))
    self.assertRegex(
        result['read_only'], r"^SettingsError: Cannot write to the staging "
        r"cache %r \(Permission denied: .*\.lock\): set the cache_dir "
        r"option or \$WARMSTART_CACHE_DIR" % read_only)
    self.assertEmpty(_entries(read_only))

  def test_a_cache_that_cannot_be_created_is_named(self):
    path = self.source(SAFETENSORS)
    blocker = os.path.join(self.create_tempdir().full_path, 'a_file')
    with open(blocker, 'w') as f:
      f.write('not a folder')
    cache = os.path.join(blocker, 'cache')
    message = (r'Cannot create the staging cache %r \(Not a directory\): set '
               r'the cache_dir option or \$WARMSTART_CACHE_DIR' % cache)
    settings = warmstart.WarmStartSettings(
        path, assignment_map=_assignment_map(SAFETENSORS), cache_dir=cache)
    with tf.Graph().as_default():
      _target()
      with self.assertRaisesRegex(warmstart.SettingsError, message):
        warmstart.apply_settings(settings)
    with self.assertRaisesRegex(warmstart.SettingsError, message):
      warmstart.merge_checkpoints(
          [path], os.path.join(self.create_tempdir().full_path, 'out'),
          cache_dir=cache)
    with mock.patch.dict(os.environ, {_stage.CACHE_DIR_ENV: cache}):
      status, _, err = _run_cli('inspect', path)
    self.assertEqual(2, status)  # A settings error, as a bad command line.
    self.assertRegex(err, message)

  @parameterized.named_parameters(
      ('data_file_removed', '.data-00000-of-00001', 'remove'),
      ('data_file_cut_short', '.data-00000-of-00001', 'truncate'),
      ('index_removed', '.index', 'remove'),
      ('manifest_removed', None, 'remove'))
  def test_a_damaged_entry_is_staged_again(self, suffix, damage):
    path = self.source(SAFETENSORS)
    plan, _ = self._warm(path, cache_dir=self.cache)
    prefix = self.assert_staged_once(path, plan)
    victim = (prefix + suffix if suffix else
              os.path.join(os.path.dirname(prefix), _stage.MANIFEST_NAME))
    if damage == 'remove':
      os.remove(victim)
    else:
      os.truncate(victim, os.path.getsize(victim) // 2)
    plan, got = self._warm(path, cache_dir=self.cache)
    self.assert_warm_started(got)
    self.assertEqual(prefix, self.assert_staged_once(path, plan))
    self.assertEmpty([n for n in os.listdir(os.path.dirname(
        os.path.dirname(prefix))) if n.startswith('.tmp-')])

  def test_the_plan_names_the_file_and_its_staged_copy(self):
    path = self.source(SAFETENSORS)
    plan, _ = self._warm(path, cache_dir=self.cache)
    prefix = self.assert_staged_once(path, plan)
    self.assertEqual(
        'Warm-started 4 of 6 variables from %s (staged as %s); 2 start cold.'
        % (path, prefix), plan.summary())
    self.assertRegex(str(plan), r'(?m)^student/out/bias .* %s \[staged\]' %
                     re.escape(path))
    self.assertNotIn(prefix + ' ', str(plan).replace(plan.summary(), ''))
    data = json.loads(plan.to_json())
    self.assertEqual({prefix: path}, data['staged_sources'])
    self.assertEqual(plan.staged_sources,
                     warmstart.Plan.from_json(plan.to_json()).staged_sources)
    self.assertIn('| %s (staged as %s) |' % (path, prefix),
                  _report.markdown(plan))
    model_dir = self.create_tempdir().full_path
    warmstart.write_plan(plan, model_dir)
    self.assertEqual(plan.staged_sources,
                     warmstart.read_plan(model_dir).staged_sources)


# The worker server: imports warmstart once (TF takes seconds), then forks a
# worker per request. A worker counts each step of a conversion (every
# `_writer.save_batch` and `join_shards`, `os.mkdir`, `os.rename`, the
# manifest's `open` and every `_fsync`) in `trace` and SIGKILLs itself
# before step `kill_at` (0: never). With `workers` > 1 they start together
# once the file `barrier` exists, and each conversion step sleeps a little,
# so that they overlap.
_SERVER = textwrap.dedent('''
    import json, os, signal, sys, time, traceback
    sys.path.insert(0, %(root)r)
    from warmstart._sources import _stage, _writer

    def instrument(kill_at, trace, pause):
      count = [0]
      real_open = open

      def counted(name, real):
        def step(*args, **kwargs):
          if name == 'open' and 'w' not in (args[1:2] or ('r',))[0]:
            return real(*args, **kwargs)  # Only the manifest's write.
          count[0] += 1
          with real_open(trace, 'a') as f:
            f.write('%%d %%s %%s\\n' %% (os.getpid(), name, os.path.basename(
                str(args[0])) if args else ''))
          if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
          time.sleep(pause)
          return real(*args, **kwargs)
        return step

      for owner, name in ((_writer, 'save_batch'), (_writer, 'join_shards'),
                          (os, 'mkdir'), (os, 'rename'), (_stage, '_fsync')):
        setattr(owner, name, counted(name, getattr(owner, name)))
      # A module global shadows the builtin: _stage's own `open` calls.
      _stage.open = counted('open', real_open)

    def work(request, result):
      os.dup2(2, 1)  # Our stdout carries the replies.
      instrument(request['kill_at'], request['trace'], request['pause'])
      barrier = request.get('barrier')
      while barrier and not os.path.exists(barrier):
        time.sleep(0.005)
      started = time.time()
      prefix = _stage.stage(request['path'], 'safetensors', request['cache'],
                            max_chunk_bytes=200)
      with open(result, 'w') as f:
        json.dump({'prefix': prefix, 'started': started,
                   'returned': time.time()}, f)

    print('ready', flush=True)
    for line in sys.stdin:
      request = json.loads(line)
      pids = []
      for index in range(request['workers']):
        pid = os.fork()
        if pid == 0:
          code = 0
          try:
            work(request, '%%s.%%d' %% (request['trace'], index))
          except BaseException:
            traceback.print_exc()
            code = 3
          sys.stderr.flush()
          os._exit(code)
        pids.append(pid)
      if request.get('barrier'):
        with open(request['barrier'], 'w'):
          pass
      statuses = [os.waitpid(pid, 0)[1] for pid in pids]
      print(json.dumps([{
          'signal': os.WTERMSIG(s) if os.WIFSIGNALED(s) else None,
          'exit': os.WEXITSTATUS(s) if os.WIFEXITED(s) else None}
                        for s in statuses]), flush=True)
''') % {'root': _ROOT}

_TIMEOUT = 300


class _Server:
  """The process that forks (and kills) staging workers."""

  def __init__(self, log_path: str):
    self._log = open(log_path, 'w')
    self.log_path = log_path
    self._process = subprocess.Popen(
        [sys.executable, '-c', _SERVER], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=self._log, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    self._ready = False

  def _line(self) -> str:
    ready, _, _ = select.select([self._process.stdout], [], [], _TIMEOUT)
    line = self._process.stdout.readline() if ready else ''
    if not line:
      self._log.flush()
      with open(self.log_path) as f:
        raise RuntimeError('The staging server gave no answer; its log:\n%s'
                           % f.read()[-4000:])
    return line.strip()

  def run(self, **request: Any) -> list[dict[str, Any]]:
    if not self._ready:
      self.assert_line('ready')
      self._ready = True
    request.setdefault('workers', 1)
    request.setdefault('pause', 0.0)
    self._process.stdin.write(json.dumps(request) + '\n')
    self._process.stdin.flush()
    return json.loads(self._line())

  def assert_line(self, expected: str) -> None:
    line = self._line()
    if line != expected:
      raise RuntimeError('Expected %r from the server, got %r' % (expected,
                                                                  line))

  def close(self) -> None:
    self._process.stdin.close()
    try:
      self._process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      self._process.kill()
      self._process.wait()
    self._log.close()


class CrashAndConcurrencyTest(tf.test.TestCase):
  """SIGKILL before each step of a conversion; two workers at once."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.server_dir = tempfile.mkdtemp(prefix='staging_server_')
    cls.server = _Server(os.path.join(cls.server_dir, 'log'))

  @classmethod
  def tearDownClass(cls):
    cls.server.close()
    shutil.rmtree(cls.server_dir, ignore_errors=True)
    super().tearDownClass()

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.values = _values()
    self.path = write_source(SAFETENSORS, os.path.join(self.dir, 'src'),
                             self.values)
    self.cache = os.path.join(self.dir, 'cache')
    self.staged = os.path.join(self.cache, 'staged')
    self.trace = os.path.join(self.dir, 'trace')

  def _steps(self) -> list[tuple[int, str, str]]:
    if not os.path.exists(self.trace):
      return []
    with open(self.trace) as f:
      return [tuple(line.split(' ', 2)) for line in f.read().splitlines()]

  def _check(self, prefix: str) -> None:
    values = test_util.checkpoint_values(prefix)
    self.assertCountEqual([_key(SAFETENSORS, n) for n in _NAMES], values)
    for name in _NAMES:
      self.assertAllEqual(self.values[name],
                          values[_key(SAFETENSORS, name)])

  def test_sigkill_before_each_step_leaves_no_complete_entry(self):
    replies = self.server.run(path=self.path, cache=self.cache,
                              trace=self.trace, kill_at=0)
    self.assertEqual([{'signal': None, 'exit': 0}], replies,
                     self.server.log_path)
    steps = [name for _, name, _ in self._steps()]
    # The cache's folders and the entry's, 3 batches of at most 200 bytes,
    # their join (3 data files kept), the manifest, fsyncs (the index, 3 data
    # files, the manifest, the folder), the rename (the commit point) and
    # the fsync of the folder it is in.
    self.assertEqual(['mkdir'] * 3 + ['save_batch'] * 3 +
                     ['join_shards', 'open'] + ['_fsync'] * 6 +
                     ['rename', '_fsync'], steps)
    key, = _entries(self.cache)
    for kill_at in range(1, len(steps) + 1):
      shutil.rmtree(self.cache)
      os.remove(self.trace)
      reply, = self.server.run(path=self.path, cache=self.cache,
                               trace=self.trace, kill_at=kill_at)
      self.assertEqual(signal.SIGKILL, reply['signal'], kill_at)
      done = [name for _, name, _ in self._steps()][:-1]
      if 'rename' in done:  # Killed after the commit point: a whole entry.
        self.assertEqual([key], _entries(self.cache), done)
        self._check(os.path.join(self.staged, key, _stage.PREFIX_NAME))
      else:
        self.assertEmpty(_entries(self.cache), done)
        leftovers = [n for n in (os.listdir(self.staged) if os.path.isdir(
            self.staged) else []) if not n.endswith('.lock')]
        # The entry's work folder, once made, stays until the next
        # conversion of the same key removes it.
        self.assertLen(leftovers, 1 if done.count('mkdir') == 3 else 0, done)
        for name in leftovers:
          self.assertTrue(name.startswith('.tmp-%s-' % key), (done, name))
      # A rerun succeeds, with the right values, and leaves nothing else.
      prefix = _stage.stage(self.path, 'safetensors', self.cache)
      self._check(prefix)
      self.assertEqual([key], _entries(self.cache))
      self.assertEqual(sorted([key, key + '.lock']),
                       sorted(os.listdir(self.staged)), kill_at)

  def test_two_workers_at_once_convert_once(self):
    barrier = os.path.join(self.dir, 'go')
    replies = self.server.run(path=self.path, cache=self.cache,
                              trace=self.trace, kill_at=0, workers=2,
                              barrier=barrier, pause=0.05)
    self.assertEqual([{'signal': None, 'exit': 0}] * 2, replies,
                     self.server.log_path)
    results = []
    for index in range(2):
      with open('%s.%d' % (self.trace, index)) as f:
        results.append(json.load(f))
    prefix, = {r['prefix'] for r in results}
    # They ran at the same time: each started before the other returned.
    self.assertLess(max(r['started'] for r in results),
                    min(r['returned'] for r in results))
    self._check(prefix)
    converters = {pid for pid, name, _ in self._steps()
                  if name == 'save_batch'}
    self.assertLen(converters, 1)  # One converted; the other waited.
    self.assertLen(_entries(self.cache), 1)
    self.assertEqual(sorted([os.path.basename(os.path.dirname(prefix)),
                             os.path.basename(os.path.dirname(prefix)) +
                             '.lock']), sorted(os.listdir(self.staged)))


def _safetensors_bytes(header: Any, data: bytes = b'') -> bytes:
  text = header if isinstance(header, bytes) else json.dumps(header).encode()
  return len(text).to_bytes(8, 'little') + text + data


def _write_malformed(kind: str, directory: str) -> str:
  """Writes a malformed weights file of `kind`; returns its path."""
  if kind == 'truncated_npz':
    path = os.path.join(directory, 'weights.npz')
    np.savez(path, w=np.arange(1000, dtype=np.float32))
    os.truncate(path, os.path.getsize(path) - 300)
    return path
  if kind == 'object_array_in_npz':  # Would need unpickling to read.
    path = os.path.join(directory, 'objects.npz')
    np.savez(path, w=np.array([{'a': 1}], dtype=object))
    return path
  if kind == 'hdf5_without_weights':
    path = os.path.join(directory, 'empty.h5')
    with h5py.File(path, 'w') as f:
      f.attrs['note'] = 'no dataset here'
      f.create_group('layers')
    return path
  content = {
      'header_past_the_file': (10 ** 6).to_bytes(8, 'little') + b'{"w": 1}',
      'offsets_out_of_the_file': _safetensors_bytes(
          {'w': {'dtype': 'F32', 'shape': [4], 'data_offsets': [0, 16]}},
          bytes(8)),
      'overlapping_offsets': _safetensors_bytes(
          {'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},
           'v': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}},
          bytes(8)),
      'unknown_dtype': _safetensors_bytes(
          {'w': {'dtype': 'X9', 'shape': [2], 'data_offsets': [0, 2]}},
          bytes(2)),
      'json_bomb': _safetensors_bytes(b'{"w": ' + b'[' * 1_000_000),
  }[kind]
  path = os.path.join(directory, 'model.safetensors')
  with open(path, 'wb') as f:
    f.write(content)
  return path


_MALFORMED = ('header_past_the_file', 'offsets_out_of_the_file',
              'overlapping_offsets', 'unknown_dtype', 'json_bomb',
              'truncated_npz', 'object_array_in_npz', 'hdf5_without_weights')


def _pickle_payload(marker: str) -> bytes:
  """A pickle that would create `marker` if anything unpickled it."""

  class _Trap:

    def __reduce__(self):
      return (os.mkdir, (marker,))

  return pickle.dumps({'weight': _Trap()}, protocol=2)


class MalformedFilesTest(_FormatsTestCase):
  """Each reaches the user as `SourceFormatError` naming the file.

  The readers' every case is in foreign_formats_test; here, representative
  ones through the entry points.
  """

  def _file(self, name: str, content: bytes) -> str:
    path = os.path.join(self.create_tempdir().full_path, name)
    with open(path, 'wb') as f:
      f.write(content)
    return path

  @parameterized.named_parameters((kind, kind) for kind in _MALFORMED)
  def test_through_init_from_checkpoint(self, kind):
    if kind == 'hdf5_without_weights' and h5py is None:
      self.skipTest('needs h5py')
    path = _write_malformed(kind, self.create_tempdir().full_path)
    with tf.Graph().as_default() as graph:
      _target()
      ops = len(graph.get_operations())
      with self.assertRaisesRegex(warmstart.SourceFormatError,
                                  re.escape(path)):
        warmstart.init_from_checkpoint(path, {'w': 'student/out/bias'},
                                       cache_dir=self.cache)
      self.assertLen(graph.get_operations(), ops)  # Before any op.
    self.assertEmpty(_entries(self.cache))
    staged = os.path.join(self.cache, 'staged')
    self.assertEmpty([n for n in os.listdir(staged) if n.startswith('.tmp-')]
                     if os.path.isdir(staged) else [])

  def test_through_the_other_entry_points(self):
    path = self._file('model.safetensors',
                      (10 ** 6).to_bytes(8, 'little') + b'{"a": 1}')
    fault = re.escape(path)
    settings = warmstart.WarmStartSettings(path, cache_dir=self.cache)
    with tf.Graph().as_default():
      _target()
      with self.assertRaisesRegex(warmstart.SourceFormatError, fault):
        warmstart.make_plan(path, {'/': 'student/'}, cache_dir=self.cache)
      with self.assertRaisesRegex(warmstart.SourceFormatError, fault):
        warmstart.apply_settings(settings)
      with self.assertRaisesRegex(warmstart.SourceFormatError, fault):
        warmstart.apply_settings(ws_flags.settings_from_flags(_parse_flags(
            '--warm_start_from=' + path,
            '--warm_start_cache_dir=' + self.cache)))
    with self.assertRaisesRegex(warmstart.SourceFormatError, fault):
      warmstart.merge_checkpoints(
          [path], os.path.join(self.create_tempdir().full_path, 'out'),
          cache_dir=self.cache)
    with mock.patch.dict(os.environ, {_stage.CACHE_DIR_ENV: self.cache}):
      status, out, err = _run_cli('inspect', path)
    self.assertEqual((1, ''), (status, out))
    self.assertRegex(err, '(?m)^warmstart inspect: error: .*%s' % fault)
    self.assertNotIn('Traceback', err)
    self.assertEmpty(_entries(self.cache))

  def test_pytorch_pickles_are_refused_never_unpickled(self):
    marker = os.path.join(self.create_tempdir().full_path, 'unpickled')
    payload = _pickle_payload(marker)
    torch_zip = os.path.join(self.create_tempdir().full_path,
                             'pytorch_model.bin')
    with zipfile.ZipFile(torch_zip, 'w') as archive:  # As torch.save writes.
      archive.writestr('archive/data.pkl', payload)
      archive.writestr('archive/data/0', b'\0' * 16)
      archive.writestr('archive/version', b'3\n')
    raw = self._file('model.pt', payload)  # Legacy torch.save, protocol 2.
    for path in (torch_zip, raw):
      with tf.Graph().as_default():
        _target()
        with self.assertRaisesRegex(
            warmstart.SourceFormatError,
            r"(?s)^%r is .*warmstart never unpickles a file.*"
            r"save_file\(torch.load\(%r, weights_only=True\), "
            r"'model.safetensors'\)" % (path, path)):
          warmstart.init_from_checkpoint(path, {'weight': 'student/out/bias'},
                                         cache_dir=self.cache)
    self.assertFalse(os.path.exists(marker))
    self.assertEmpty(_entries(self.cache))


if __name__ == '__main__':
  tf.test.main()
