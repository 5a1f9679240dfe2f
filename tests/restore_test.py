"""Tests of the restore engine (`warmstart._restore._apply`), end to end.

Repartitioning, ref and resource variables, every checkpoint dtype, batched
and chunked reads (counted as RestoreV2 ops in the graph), registered actions,
custom variables and the initializer semantics TF code relies on.
"""

from __future__ import annotations

import dataclasses
import gc
import math

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart._restore import _apply
from warmstart._restore import _assign
from warmstart import _tf_compat


def _const(value):
  return tf.compat.v1.constant_initializer(value)


def _restore_ops(graph):
  return [op for op in graph.get_operations() if op.type == 'RestoreV2']


def _read_names(op):
  """The tensor names one RestoreV2 op reads."""
  return [n.decode() for n in tf.get_static_value(op.inputs[1])]


def _partitioner(parts, axis=0):
  if parts is None:
    return None
  return tf.compat.v1.fixed_size_partitioner(parts, axis=axis)


_PrivateVariable = test_util.PrivateVariable


class _HashTableVariable(warmstart.CustomVariable):
  """A vector kept as row index -> value in a DenseHashTable."""

  def __init__(self, name, size):
    self._name = name
    self._size = size
    self.table = tf.lookup.experimental.DenseHashTable(
        key_dtype=tf.int64, value_dtype=tf.float32, default_value=-1.0,
        empty_key=-1, deleted_key=-2, name=name + '_table')
    self.values = []

  @property
  def name(self):
    return self._name

  @property
  def shape(self):
    return tf.TensorShape([self._size])

  @property
  def dtype(self):
    return tf.float32

  def restore_initializer(self, value):
    self.values.append(value)
    return self.table.insert(tf.range(self._size, dtype=tf.int64), value)

  def read(self):
    return self.table.lookup(tf.range(self._size, dtype=tf.int64))


class RestoreTest(tf.test.TestCase, parameterized.TestCase):

  def _dir(self):
    return self.create_tempdir().full_path

  # --- Repartitioning. ------------------------------------------------------

  @parameterized.named_parameters(
      ('4_parts_into_3', 4, 3, 0, tf.float32),
      ('4_parts_into_whole', 4, None, 0, tf.float32),
      ('whole_into_4_parts', None, 4, 0, tf.float32),
      ('whole_into_4_parts_int64', None, 4, 0, tf.int64),
      ('axis_1_3_parts_into_2', 3, 2, 1, tf.float32),
      ('axis_1_whole_into_3_parts', None, 3, 1, tf.float64),
      ('axis_0_into_axis_1', 4, 3, (0, 1), tf.float32),
  )
  def test_repartition(self, saved_parts, loaded_parts, axis, dtype):
    saved_axis, loaded_axis = axis if isinstance(axis, tuple) else (axis, axis)
    shape = [12, 6]
    if dtype.is_integer:
      initializer = tf.compat.v1.random_uniform_initializer(
          -1000, 1000, dtype=dtype)
    else:
      initializer = None

    def build_a():
      tf.compat.v1.get_variable(
          'old/p', shape, dtype=dtype, initializer=initializer,
          partitioner=_partitioner(saved_parts, saved_axis))

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    with tf.Graph().as_default() as g:
      new = tf.compat.v1.get_variable(
          'new/p', shape, dtype=dtype, initializer=_const(7),
          partitioner=_partitioner(loaded_parts, loaded_axis))
      keep = tf.compat.v1.get_variable(
          'new/keep', shape, dtype=dtype, initializer=_const(5),
          partitioner=_partitioner(loaded_parts, loaded_axis))
      plan = warmstart.init_from_checkpoint(prefix, {'old/p': 'new/p'})
      got = test_util.initialize(g)
    del new, keep
    self.assertAllEqual(ckpt['old/p'], got['new/p'])
    self.assertAllEqual(np.full(shape, 5), got['new/keep'])
    self.assertLen(plan.entry('new/p').slices, loaded_parts or 1)
    if loaded_parts:  # Each part holds its own slice.
      size = shape[loaded_axis] // loaded_parts
      for i in range(loaded_parts):
        expected = np.take(ckpt['old/p'], range(size * i, size * (i + 1)),
                           axis=loaded_axis)
        self.assertAllEqual(expected, got['new/p/part_%d' % i])
    # One batched RestoreV2; or, for a tensor stored whole (or in slices
    # along axis 0 that parts share) into several parts along axis 0, a
    # stream: chunks cut at the parts' and slices' bounds, each byte read
    # once.
    streamed = bool(loaded_parts) and loaded_axis == 0 and (
        not saved_parts or (saved_axis == 0 and saved_parts != loaded_parts))
    if streamed:
      self.assertEmpty(_restore_ops(g))
      self.assertLen(test_util.checkpoint_reads(g),
                     loaded_parts if not saved_parts else 6)  # 0 3 4 6 8 9.
    else:
      self.assertLen(test_util.checkpoint_reads(g), 1)

  # --- Ref and resource variables, every dtype. -----------------------------

  @parameterized.named_parameters(('resource', True), ('ref', False))
  def test_ref_and_resource_variables(self, use_resource):

    def build_a():
      tf.compat.v1.get_variable('w', [3, 2])
      tf.compat.v1.get_variable(
          'p', [6, 2], partitioner=_partitioner(3))

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    with tf.Graph().as_default() as g:
      w = tf.compat.v1.get_variable(
          'w', [3, 2], initializer=_const(7.0), use_resource=use_resource)
      p = tf.compat.v1.get_variable(
          'p', [6, 2], initializer=_const(7.0), partitioner=_partitioner(3),
          use_resource=use_resource)
      tf.compat.v1.get_variable(
          'keep', [2], initializer=_const(5.0), use_resource=use_resource)
      warmstart.init_from_checkpoint(prefix, {'w': 'w', 'p': 'p'})
      got = test_util.initialize(g)
    self.assertAllClose(ckpt['w'], got['w'])
    self.assertAllClose(ckpt['p'], got['p'])
    self.assertAllClose(np.full([2], 5.0), got['keep'])
    assign = 'AssignVariableOp' if use_resource else 'Assign'
    for variable in [w] + list(p):
      self.assertEqual(assign, variable.initializer.type)
    [restore] = _restore_ops(g)
    self.assertIn('CPU', restore.device)

  @parameterized.named_parameters(
      (name + ('_resource' if use_resource else '_ref'), dtype, make,
       use_resource)
      for name, dtype, make in (
          ('float16', tf.float16,
           lambda rng: rng.standard_normal([3, 2]).astype(np.float16)),
          ('bfloat16', tf.bfloat16,
           lambda rng: rng.standard_normal([3, 2]).astype(np.float32)),
          ('float64', tf.float64, lambda rng: rng.standard_normal([4])),
          ('int32', tf.int32,
           lambda rng: rng.integers(-1000, 1000, [2, 3]).astype(np.int32)),
          ('int64', tf.int64, lambda rng: rng.integers(-2**40, 2**40, [5])),
          ('bool', tf.bool, lambda rng: rng.random([6]) > 0.5),
          ('string', tf.string,
           lambda rng: np.array([b'a', b'bc', str(rng.random()).encode()])),
      ) for use_resource in (True, False))
  def test_dtype(self, dtype, make, use_resource):
    rng = np.random.default_rng(7)
    value, other = make(rng), make(rng)

    def build_a():
      tf.compat.v1.get_variable(
          'x', initializer=tf.constant(value, dtype=dtype),
          use_resource=use_resource)

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    initial = tf.zeros(value.shape, dtype=dtype).numpy()  # Eager, here.
    other = tf.constant(other, dtype=dtype).numpy()
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable(
          'y', initializer=tf.constant(initial, dtype=dtype),
          use_resource=use_resource)
      tf.compat.v1.get_variable(
          'keep', initializer=tf.constant(other, dtype=dtype),
          use_resource=use_resource)
      plan = warmstart.init_from_checkpoint(prefix, {'x': 'y'})
      got = test_util.initialize(g)
    self.assertEqual(dtype.name, plan.entry('y').dtype)
    as_numpy = lambda x: np.asarray(x).astype(  # bfloat16 -> float32
        np.float32) if dtype == tf.bfloat16 else np.asarray(x)
    self.assertAllEqual(as_numpy(tf.constant(value, dtype=dtype).numpy()),
                        as_numpy(got['y']))
    self.assertAllEqual(as_numpy(ckpt['x']), as_numpy(got['y']))
    self.assertAllEqual(as_numpy(other), as_numpy(got['keep']))
    self.assertNotAllEqual(as_numpy(initial), as_numpy(ckpt['x']))

  def assertNotAllEqual(self, a, b):
    self.assertFalse(np.array_equal(a, b), msg='%r == %r' % (a, b))

  # --- Batched, chunked reads. ----------------------------------------------

  def _many_source(self, count, shape):

    def build_a():
      for i in range(count):
        tf.compat.v1.get_variable('v%03d' % i, shape)

    return test_util.save_checkpoint(self._dir(), build_a)

  def _many_target(self, count, shape):
    return [
        tf.compat.v1.get_variable('v%03d' % i, shape, initializer=_const(7.0))
        for i in range(count)
    ]

  def test_one_read_for_everything_by_default(self):

    def build_a():
      tf.compat.v1.get_variable('a', [3, 2])
      tf.compat.v1.get_variable('p', [8, 3], partitioner=_partitioner(4))
      tf.compat.v1.get_variable('i', initializer=tf.constant([1, 2, 3]))
      tf.compat.v1.get_variable('s', initializer=tf.constant(['x', 'y']))
      tf.compat.v1.get_variable('d', [2], dtype=tf.float64)

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('a', [3, 2], initializer=_const(7.0))
      tf.compat.v1.get_variable(
          'p', [8, 3], initializer=_const(7.0), partitioner=_partitioner(4))
      tf.compat.v1.get_variable('i', initializer=tf.constant([0, 0, 0]))
      tf.compat.v1.get_variable('s', initializer=tf.constant(['', '']))
      tf.compat.v1.get_variable(
          'd', [2], dtype=tf.float64, initializer=_const(7))
      warmstart.init_from_checkpoint(prefix, {'/': '/'})
      [restore] = _restore_ops(g)
      got = test_util.initialize(g)
    # One read per variable part: the partitioned one is read as its 4
    # stored slices (parts sharing no slice: no stream).
    self.assertCountEqual(['a', 'p', 'p', 'p', 'p', 'i', 's', 'd'],
                          _read_names(restore))
    for name in ckpt:
      self.assertAllEqual(ckpt[name], got[name])

  def test_one_read_for_200_variables_where_tf_builds_200(self):
    count = 200
    prefix, ckpt = self._many_source(count, [2])
    with tf.Graph().as_default() as g:
      self._many_target(count, [2])
      plan = warmstart.init_from_checkpoint(prefix, {'/': '/'})
      self.assertLen(_restore_ops(g), 1)
      got = test_util.initialize(g)
    self.assertEqual(count, plan.num_restored)
    for name in ckpt:
      self.assertAllClose(ckpt[name], got[name])
    with tf.Graph().as_default() as g:
      self._many_target(count, [2])
      tf.compat.v1.train.init_from_checkpoint(prefix, {'/': '/'})
      self.assertLen(_restore_ops(g), count)

  @parameterized.named_parameters(('2_per_read', 128), ('3_per_read', 192),
                                  ('1_per_read', 64), ('all', 640))
  def test_max_chunk_bytes_bounds_each_read(self, max_chunk_bytes):
    count, shape = 10, [4, 4]
    nbytes = 4 * 4 * 4
    prefix, ckpt = self._many_source(count, shape)
    with tf.Graph().as_default() as g:
      self._many_target(count, shape)
      tf.compat.v1.get_variable('keep', [2], initializer=_const(5.0))
      warmstart.init_from_checkpoint(
          prefix, {'/': '/'},
          options=warmstart.Options(max_chunk_bytes=max_chunk_bytes,
                                    skip_missing=True))
      restores = _restore_ops(g)
      got = test_util.initialize(g)
    self.assertLen(restores, math.ceil(count * nbytes / max_chunk_bytes))
    for op in restores:
      self.assertLessEqual(len(_read_names(op)) * nbytes, max_chunk_bytes)
    self.assertCountEqual(sorted(ckpt),
                          sum((_read_names(op) for op in restores), []))
    for name in ckpt:
      self.assertAllClose(ckpt[name], got[name])
    self.assertAllClose(np.full([2], 5.0), got['keep'])

  def test_a_tensor_bigger_than_a_chunk_gets_its_own_read(self):

    def build_a():
      tf.compat.v1.get_variable('a', [4])
      tf.compat.v1.get_variable('big', [100, 10])
      tf.compat.v1.get_variable('b', [4])
      tf.compat.v1.get_variable('c', [4])

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    with tf.Graph().as_default() as g:
      for name, shape in (('a', [4]), ('big', [100, 10]), ('b', [4]),
                          ('c', [4])):
        tf.compat.v1.get_variable(name, shape, initializer=_const(7.0))
      warmstart.init_from_checkpoint(prefix, {'/': '/'}, max_chunk_bytes=32)
      reads = [_read_names(op) for op in _restore_ops(g)]
      got = test_util.initialize(g)
    self.assertIn(['big'], reads)
    self.assertCountEqual(['a', 'big', 'b', 'c'], sum(reads, []))
    self.assertLen(reads, 3)  # [a], [big], [b, c]
    for name in ckpt:
      self.assertAllClose(ckpt[name], got[name])

  def test_one_read_per_source_and_device_task(self):
    prefix, _ = self._many_source(4, [2])
    with tf.Graph().as_default() as g:
      for i in range(4):
        with tf.device('/job:ps/task:%d' % (i % 2)):
          tf.compat.v1.get_variable('v%03d' % i, [2], initializer=_const(7.0))
      warmstart.init_from_checkpoint(prefix, {'/': '/'})
      restores = _restore_ops(g)
    self.assertLen(restores, 2)
    by_device = {op.device: sorted(_read_names(op)) for op in restores}
    self.assertEqual(
        {
            '/job:ps/task:0/device:CPU:0': ['v000', 'v002'],
            '/job:ps/task:1/device:CPU:0': ['v001', 'v003'],
        }, by_device)

  def test_each_assign_on_its_variables_device(self):
    prefix, ckpt = self._many_source(6, [2])
    devices = ['/job:ps/task:0/device:CPU:0', '/job:ps/task:0/device:CPU:1',
               '/job:ps/task:0/device:CPU:1', None, '/job:ps/task:1',
               '/job:ps/task:0/device:CPU:0']
    with tf.Graph().as_default() as g:
      variables = []
      for i, device in enumerate(devices):
        with tf.device(device):
          # v003 is a ref variable between resource ones on other devices.
          variables.append(tf.compat.v1.get_variable(
              'v%03d' % i, [2], initializer=_const(7.0),
              use_resource=device is not None))
      warmstart.init_from_checkpoint(prefix, {'/': '/'})
      restores = _restore_ops(g)
    self.assertLen(restores, 3)  # ps task 0, ps task 1, local (v003).
    names = set()
    for v in variables:
      op = v.initializer
      self.assertTrue(op.name.startswith('checkpoint_initializer/'), op.name)
      self.assertIn(op.inputs[1].op, restores)
      self.assertNotIn(op.name, names)
      names.add(op.name)
      if v.op.type == 'VarHandleOp':
        self.assertEqual('AssignVariableOp', op.type)
        handle = op.inputs[0]
        self.assertEqual(v.handle.device, handle.device)
        if handle is not v.handle:  # A batched handle op aliasing v.
          self.assertEqual('_VarHandlesOp', handle.op.type)
          self.assertEqual(
              v.handle.op.get_attr('shared_name'),
              handle.op.get_attr('shared_names')[handle.value_index])
        self.assertEqual(v.handle.device, op.device)
      else:
        self.assertEqual('Assign', op.type)
        self.assertEqual(v.device, op.device)
    self.assertLen(ckpt, len(variables))

  # --- Garbage collection paused while building. ------------------------------

  @parameterized.named_parameters(
      ('resource', True, None), ('ref', False, None),
      ('partitioned', True, 2))
  def test_source_rewritten_with_other_shapes_fails_at_the_read(
      self, use_resource, parts):
    # Planned against w [4, 3]; before the session, the same prefix is
    # rewritten holding w [5, 3]. The read must fail naming the tensor, not
    # load a value of another shape.
    directory = self.create_tempdir().full_path
    partitioner = _partitioner(parts) if parts else None

    def build(rows):
      return lambda: tf.compat.v1.get_variable(
          'w', [rows, 3], use_resource=use_resource, partitioner=partitioner)

    prefix, _ = test_util.save_checkpoint(directory, build(4))
    with tf.Graph().as_default() as g:
      build(4)()
      warmstart.init_from_checkpoint(prefix, {'/': '/'})
      again, _ = test_util.save_checkpoint(directory, build(5), seed=3)
      self.assertEqual(prefix, again)
      with self.assertRaisesRegex(
          tf.errors.InvalidArgumentError,
          r'tensor_name = w; shape in shape_and_slice spec \[4,3\] does not '
          r'match the shape stored in checkpoint: \[5,3\]'):
        test_util.initialize(g)

  def test_source_rewritten_with_the_same_shapes_loads(self):
    # The plan pins the prefix and what it may hold, not its bytes.
    directory = self.create_tempdir().full_path
    build = lambda: tf.compat.v1.get_variable('w', [4, 3])
    prefix, _ = test_util.save_checkpoint(directory, build)
    with tf.Graph().as_default() as g:
      build()
      warmstart.init_from_checkpoint(prefix, {'/': '/'})
      _, values = test_util.save_checkpoint(directory, build, seed=3)
      self.assertAllClose(values['w'], test_util.initialize(g)['w'])

  def test_no_gc_restores_the_previous_state(self):
    self.addCleanup(gc.enable if gc.isenabled() else gc.disable)
    gc.enable()
    with _apply.no_gc():
      self.assertFalse(gc.isenabled())
    self.assertTrue(gc.isenabled())
    with self.assertRaisesRegex(RuntimeError, 'boom'):
      with _apply.no_gc():
        raise RuntimeError('boom')
    self.assertTrue(gc.isenabled())
    gc.disable()
    with _apply.no_gc():
      self.assertFalse(gc.isenabled())
    self.assertFalse(gc.isenabled())  # Not turned on behind the caller.

  def test_gc_paused_while_applying_and_restored_after_errors(self):
    prefix, _ = self._small_source()
    seen = []

    def builder(entry):
      seen.append((entry.variable, gc.isenabled()))
      _assign.assign_op(
          entry.target.parts[0], tf.zeros(entry.target.shape))

    _apply.register_action('gc_probe', builder)
    self.addCleanup(_apply._ACTION_BUILDERS.pop,  # pylint: disable=protected-access
                    'gc_probe')
    self.assertTrue(gc.isenabled())
    with tf.Graph().as_default():
      self._small_target()
      plan = warmstart.make_plan(prefix, {'w': 'w', 'u': 'u'})
      entry = dataclasses.replace(plan.entry('w'), action='gc_probe')
      warmstart.apply_plan(warmstart.Plan((plan.entry('u'), entry)))
      self.assertEqual([('w', False)], seen)
      self.assertTrue(gc.isenabled())
      bad = dataclasses.replace(plan.entry('u'), action='no_such_action')
      with self.assertRaisesRegex(warmstart.SettingsError, "'u'"):
        warmstart.apply_plan(warmstart.Plan((bad,)))
      self.assertTrue(gc.isenabled())
    with tf.Graph().as_default():
      self._small_target()
      with self.assertRaisesRegex(warmstart.Error, 'no_such_tensor'):
        warmstart.init_from_checkpoint(prefix, {'no_such_tensor': 'w'})
      self.assertTrue(gc.isenabled())

  # --- Plans that cannot be applied, registered actions. ---------------------

  def _small_source(self):

    def build_a():
      tf.compat.v1.get_variable('w', [3, 2])
      tf.compat.v1.get_variable('u', [2])

    return test_util.save_checkpoint(self._dir(), build_a)

  def _small_target(self):
    w = tf.compat.v1.get_variable('w', [3, 2], initializer=_const(7.0))
    u = tf.compat.v1.get_variable('u', [2], initializer=_const(7.0))
    return w, u

  def test_plan_from_json_cannot_be_applied(self):
    prefix, _ = self._small_source()
    with tf.Graph().as_default() as g:
      self._small_target()
      plan = warmstart.make_plan(prefix, {'w': 'w'})
      with self.assertRaisesRegex(
          warmstart.SettingsError,
          r"Plan entry 'w' has no variable object: plans read back from JSON"):
        warmstart.apply_plan(warmstart.Plan.from_json(plan.to_json()))
      self.assertEmpty(_restore_ops(g))

  def test_unregistered_action_raises(self):
    prefix, _ = self._small_source()
    with tf.Graph().as_default() as g:
      self._small_target()
      plan = warmstart.make_plan(prefix, {'w': 'w', 'u': 'u'})
      entry = dataclasses.replace(plan.entry('w'), action='no_such_action')
      with self.assertRaisesRegex(
          warmstart.SettingsError,
          r"'w' has action 'no_such_action', which no builder handles\. Known "
          r'actions: restore'):
        warmstart.apply_plan(warmstart.Plan((plan.entry('u'), entry)))
      self.assertEmpty(_restore_ops(g))

  def test_registered_action_builder_is_called(self):
    prefix, ckpt = self._small_source()
    calls = []

    def builder(entry):
      calls.append(entry)
      [part] = entry.target.parts
      with tf.device('/cpu:0'):
        value = tf.raw_ops.RestoreV2(
            prefix=entry.source, tensor_names=[entry.tensor],
            shape_and_slices=[''], dtypes=[tf.float32])[0]
      value = value * entry.action_params['factor']
      _tf_compat.set_initializer(
          part, part.assign(value, read_value=False), value)

    _apply.register_action('test_scale', builder)
    # pylint: disable-next=protected-access
    self.addCleanup(_apply._ACTION_BUILDERS.pop, 'test_scale', None)
    with tf.Graph().as_default() as g:
      self._small_target()
      plan = warmstart.make_plan(prefix, {'w': 'w', 'u': 'u'})
      scaled = dataclasses.replace(
          plan.entry('w'), action='test_scale', action_params={'factor': 3.0})
      warmstart.apply_plan(warmstart.Plan((scaled, plan.entry('u')), 2))
      self.assertLen(_restore_ops(g), 2)  # The builder's and the batched one.
      got = test_util.initialize(g)
    self.assertEqual([scaled], calls)
    self.assertIs(plan.entry('w').target, calls[0].target)
    self.assertAllClose(3.0 * ckpt['w'], got['w'])
    self.assertAllClose(ckpt['u'], got['u'])

  def test_built_in_actions_cannot_be_registered(self):
    for action in ('restore', 'skip'):
      with self.assertRaisesRegex(ValueError, "'%s' is built in" % action):
        _apply.register_action(action, lambda entry: None)

  # --- Custom variables. ----------------------------------------------------

  def _custom_source(self):

    def build_a():
      tf.compat.v1.get_variable('old/table', [5])
      tf.compat.v1.get_variable('old/w', [2])

    return test_util.save_checkpoint(self._dir(), build_a)

  def _run_with_tables(self, graph, fetches):
    with graph.as_default(), tf.compat.v1.Session() as sess:
      sess.run([tf.compat.v1.global_variables_initializer(),
                tf.compat.v1.tables_initializer()])
      sess.run(tf.compat.v1.get_collection(warmstart.CUSTOM_RESTORES))
      return sess.run(fetches)

  def test_custom_restore_is_not_a_table_initializer(self):
    prefix, ckpt = self._custom_source()
    with tf.Graph().as_default() as g:
      custom = _PrivateVariable('new/table', [5])
      warmstart.init_from_checkpoint(prefix, {'old/table': custom})
      self.assertEmpty(g.get_collection(
          tf.compat.v1.GraphKeys.TABLE_INITIALIZERS))
      self.assertLen(g.get_collection(warmstart.CUSTOM_RESTORES), 1)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.get_collection(warmstart.CUSTOM_RESTORES))
        self.assertAllClose(ckpt['old/table'], sess.run(custom.read()))

  def _train_custom_under_monitored_session(self, prefix, model_dir):
    """One MonitoredTrainingSession life: warm start in the graph, as in a
    model_fn, then a step that overwrites the table; returns what the session
    saw first."""
    with tf.Graph().as_default():
      step = tf.compat.v1.train.get_or_create_global_step()
      custom = _HashTableVariable('new/table', 5)
      warmstart.init_from_checkpoint(prefix, {'old/table': custom})
      train = tf.group(
          custom.table.insert(tf.range(5, dtype=tf.int64), tf.fill([5], 9.0)),
          step.assign_add(1))
      read = custom.read()
      with tf.compat.v1.train.MonitoredTrainingSession(
          checkpoint_dir=model_dir, save_checkpoint_steps=1,
          save_summaries_steps=None, log_step_count_steps=None) as sess:
        first = sess.run(read)
        sess.run(train)
    return first

  def test_custom_variable_restart_keeps_its_saved_state(self):
    # A model_fn calls init_from_checkpoint on every (re)start, like TF's;
    # the restart must resume the table from model_dir, not warm-start it.
    prefix, ckpt = self._custom_source()
    model_dir = self._dir()
    fresh = self._train_custom_under_monitored_session(prefix, model_dir)
    self.assertAllClose(ckpt['old/table'], fresh)
    self.assertIsNotNone(tf.train.latest_checkpoint(model_dir))
    restarted = self._train_custom_under_monitored_session(prefix, model_dir)
    self.assertAllClose(np.full([5], 9.0), restarted)

  @parameterized.named_parameters(('private_variable', _PrivateVariable),
                                  ('hash_table', _HashTableVariable))
  def test_custom_variable_by_object(self, custom_class):
    prefix, ckpt = self._custom_source()
    with tf.Graph().as_default() as g:
      custom = custom_class('new/table', 5)
      w = tf.compat.v1.get_variable('new/w', [2], initializer=_const(7.0))
      plan = warmstart.init_from_checkpoint(prefix, {'old/table': custom})
      self.assertLen(custom.values, 1)
      self.assertEqual([5], custom.values[0].shape.as_list())
      got, got_w = self._run_with_tables(g, [custom.read(), w])
    self.assertAllClose(ckpt['old/table'], got)
    self.assertAllClose(np.full([2], 7.0), got_w)
    self.assertEqual('new/table', plan.entry('new/table').variable)
    self.assertLen(_restore_ops(g), 1)

  @parameterized.named_parameters(('private_variable', _PrivateVariable),
                                  ('hash_table', _HashTableVariable))
  def test_registered_custom_variable_by_scope_map(self, custom_class):
    prefix, ckpt = self._custom_source()
    with tf.Graph().as_default() as g:
      custom = custom_class('new/table', 5)
      warmstart.register_custom_variable(custom)
      w = tf.compat.v1.get_variable('new/w', [2], initializer=_const(7.0))
      plan = warmstart.init_from_checkpoint(prefix, {'old/': 'new/'})
      got, got_w = self._run_with_tables(g, [custom.read(), w])
    self.assertCountEqual(['new/table', 'new/w'],
                          [e.variable for e in plan.entries])
    self.assertAllClose(ckpt['old/table'], got)
    self.assertAllClose(ckpt['old/w'], got_w)
    self.assertLen(_restore_ops(g), 1)

  def test_registered_custom_variable_survives_meta_graph_export(self):
    prefix, _ = self._custom_source()
    with tf.Graph().as_default():
      custom = _PrivateVariable('new/table', 5)
      warmstart.register_custom_variable(custom)
      warmstart.init_from_checkpoint(prefix, {'old/table': custom})
      meta = tf.compat.v1.train.export_meta_graph()
    with tf.Graph().as_default():
      tf.compat.v1.train.import_meta_graph(meta)  # Raised KeyError before.

  def test_custom_variable_restored_under_monitored_session(self):
    prefix, ckpt = self._custom_source()
    with tf.Graph().as_default():
      custom = _PrivateVariable('new/table', 5)
      warmstart.init_from_checkpoint(prefix, {'old/table': custom})
      read = custom.read()
      with tf.compat.v1.train.MonitoredSession() as sess:
        got = sess.run(read)
    self.assertAllClose(ckpt['old/table'], got)

  def test_custom_variable_shape_mismatch_raises(self):
    prefix, _ = self._custom_source()
    with tf.Graph().as_default() as g:
      custom = _PrivateVariable('new/table', 4)
      with self.assertRaisesRegex(warmstart.MismatchError,
                                  r"'new/table'.*shape \(5,\).*\(4,\)"):
        warmstart.init_from_checkpoint(prefix, {'old/table': custom})
      self.assertEmpty(custom.values)
      self.assertEmpty(_restore_ops(g))

  # --- Initializer semantics. -----------------------------------------------

  @parameterized.named_parameters(('resource', True), ('ref', False))
  def test_initializer_and_initial_value_reflect_the_checkpoint(
      self, use_resource):

    def build_a():
      tf.compat.v1.get_variable('v', [3, 2])
      tf.compat.v1.get_variable('p', [6, 2], partitioner=_partitioner(2))

    prefix, ckpt = test_util.save_checkpoint(self._dir(), build_a)
    with tf.Graph().as_default() as g:
      v = tf.compat.v1.get_variable(
          'v', [3, 2], initializer=_const(7.0), use_resource=use_resource)
      p = tf.compat.v1.get_variable(
          'p', [6, 2], initializer=_const(7.0), partitioner=_partitioner(3),
          use_resource=use_resource)
      warmstart.init_from_checkpoint(prefix, {'v': v, 'p': 'p'})
      # Variables made after the warm start from v's initial value see the
      # checkpoint. (Not from `v.initialized_value()`: TF 2.15 does not
      # implement it for resource variables, and for ref variables its cond
      # reads v before v's initializer has run, with TF's warm start too.)
      twice = tf.compat.v1.get_variable(
          'twice', initializer=2.0 * v.initial_value,
          use_resource=use_resource)
      self.assertEqual([3, 2], v.initial_value.shape.as_list())
      with tf.compat.v1.Session() as sess:
        sess.run(v.initializer)  # Only v's initializer.
        self.assertAllClose(ckpt['v'], sess.run(v))
        self.assertAllClose(ckpt['v'], sess.run(v.initial_value))
        parts = list(p)
        initial_parts = sess.run([part.initial_value for part in parts])
      self.assertEqual([[2, 2]] * 3,
                       [part.initial_value.shape.as_list() for part in parts])
      got = test_util.initialize(g)
    self.assertAllClose(ckpt['p'], np.concatenate(initial_parts))
    self.assertAllClose(2.0 * ckpt['v'], got['twice'])
    self.assertAllClose(ckpt['p'], got['p'])


if __name__ == '__main__':
  tf.test.main()
