"""Tests of warmstart._sources._object_graph: TF2 checkpoints as sources.

The checkpoints are written once, by real eager TF2 code in a subprocess (a
`tf.Module` with a TF1 optimizer's slots, a Keras `Sequential` after one
`fit` step saved with `save_weights` and with `tf.train.Checkpoint`, two
objects saved under one name plus a lookup table, and `ShardedVariable`s of
a `ParameterServerStrategy` on an in-process cluster), which also saves the
values it wrote. Each test then works in graph mode, through every entry
point: `init_from_checkpoint` / `make_plan` (every map form), `warm_start`,
`inspect`, `merge` and the `plan` command.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _cli
from warmstart import _inspect
from warmstart import _merge
from warmstart._sources import _object_graph

# Eager TF2 code, run as `python -c CODE OUT_DIR`: writes the checkpoints
# under OUT_DIR and the values it saved to OUT_DIR/values.json.
_WRITE_CHECKPOINTS = r'''
import json, os, sys
import numpy as np
import tensorflow as tf
out = sys.argv[1]
rng = np.random.default_rng(7)
values = {}

def numpy_of(variables):
  return {v.name.split(':')[0]: v.numpy().tolist() for v in variables}

# A tf.Module, one step of a TF1 optimizer (slots 'dense/kernel/Adam', ...).
module = tf.Module()
module.kernel = tf.Variable(rng.normal(size=(2, 3)).astype(np.float32),
                            name='dense/kernel')
module.bias = tf.Variable(rng.normal(size=3).astype(np.float32),
                          name='dense/bias')
module.embedding = tf.Variable(rng.normal(size=(3, 2)).astype(np.float32),
                               name='words/embedding')
optimizer = tf.compat.v1.train.AdamOptimizer(0.1)
with tf.GradientTape() as tape:
  loss = tf.reduce_sum(module.kernel ** 2) + tf.reduce_sum(module.bias)
trained = [module.kernel, module.bias]
optimizer.apply_gradients(zip(tape.gradient(loss, trained), trained))
tf.train.Checkpoint(model=module, optimizer=optimizer).write(
    os.path.join(out, 'module', 'ckpt'))
values['module'] = numpy_of(
    [module.kernel, module.bias, module.embedding] + optimizer.variables())

# Keras after one fit step of a Keras (legacy) Adam: .OPTIMIZER_SLOT keys.
model = tf.keras.Sequential([tf.keras.layers.Dense(3, input_shape=(2,)),
                             tf.keras.layers.Dense(1)])
adam = tf.keras.optimizers.legacy.Adam(0.1)
model.compile(optimizer=adam, loss='mse')
model.fit(rng.normal(size=(4, 2)), rng.normal(size=(4, 1)), batch_size=4,
          epochs=1, verbose=0)
model.save_weights(os.path.join(out, 'keras_weights', 'weights'),
                   save_format='tf')
tf.train.Checkpoint(model=model).write(os.path.join(out, 'keras', 'ckpt'))
values['keras'] = numpy_of(model.weights)
for layer in model.layers:
  for weight in layer.weights:
    for slot in ('m', 'v'):
      values['keras']['%s/%s' % (weight.name.split(':')[0], slot)] = (
          adam.get_slot(weight, slot).numpy().tolist())

# Two objects saved with one name, and a lookup table (no name at all).
table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1)
table.insert(tf.constant(['a']), tf.constant([1], tf.int64))
first, second = tf.Variable(1.5, name='x'), tf.Variable(2.5, name='x')
tf.train.Checkpoint(first=first, second=second, table=table,
                    step=tf.Variable(7, dtype=tf.int64, name='step')).write(
                        os.path.join(out, 'odd', 'ckpt'))

with open(os.path.join(out, 'values.json'), 'w') as f:
  json.dump(values, f)
'''

# Two ShardedVariables (both named 'ShardedVariable' in the object graph).
_WRITE_SHARDED = r'''
import json, os, socket, sys
import numpy as np
import tensorflow as tf
out = sys.argv[1]

def port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]

spec = tf.train.ClusterSpec({'worker': ['localhost:%d' % port()],
                             'ps': ['localhost:%d' % port() for _ in range(2)]})
servers = [tf.distribute.Server(spec, job_name=job, task_index=i,
                                protocol='grpc', start=True)
           for job, i in (('worker', 0), ('ps', 0), ('ps', 1))]
strategy = tf.distribute.experimental.ParameterServerStrategy(
    tf.distribute.cluster_resolver.SimpleClusterResolver(spec,
                                                         rpc_layer='grpc'),
    variable_partitioner=(
        tf.distribute.experimental.partitioners.FixedShardsPartitioner(2)))
with strategy.scope():
  embedding = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3),
                          name='embedding')
  other = tf.Variable(np.ones((6, 2), dtype=np.float32), name='other')
assert [v.name for v in embedding.variables] == [
    'embedding/part_0:0', 'embedding/part_1:0'], embedding.variables
tf.train.Checkpoint(embedding=embedding, other=other).write(
    os.path.join(out, 'sharded', 'ckpt'))
with open(os.path.join(out, 'sharded_values.json'), 'w') as f:
  json.dump({'embedding': embedding.numpy().tolist()}, f)
'''

_KEY = '/.ATTRIBUTES/VARIABLE_VALUE'


def _run_eager(code: str, out: str) -> None:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  done = subprocess.run([sys.executable, '-c', code, out], env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)
  if done.returncode:
    raise AssertionError('Writing the TF2 checkpoints failed:\n%s' %
                         done.stderr[-3000:])


# The directory the subprocesses wrote, once for every test class.
_written: list[str] = []


def _written_root() -> str:
  if not _written:
    root = tempfile.mkdtemp(prefix='object_graph_test_')
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    _run_eager(_WRITE_CHECKPOINTS, root)
    _run_eager(_WRITE_SHARDED, root)
    _written.append(root)
  return _written[0]


class _Tf2TestCase(tf.test.TestCase):
  """Tests that build graphs and read the TF2 checkpoints (written once)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = _written_root()
    with open(os.path.join(cls.root, 'values.json')) as f:
      values = json.load(f)
    with open(os.path.join(cls.root, 'sharded_values.json')) as f:
      values['sharded'] = json.load(f)
    cls.values = {
        source: {name: np.array(value) for name, value in by_name.items()}
        for source, by_name in values.items()}
    cls.ckpt = {name: os.path.join(cls.root, name, 'ckpt')
                for name in ('module', 'keras', 'odd', 'sharded')}
    cls.ckpt['keras_weights'] = os.path.join(cls.root, 'keras_weights',
                                             'weights')

  def keras_value(self, name: str) -> np.ndarray:
    return self.values['keras'][name]


def _dense(scope: str = 'dense', shapes=((2, 3), (3,)), **kwargs):
  kernel = tf.compat.v1.get_variable(scope + '/kernel', shapes[0], **kwargs)
  bias = tf.compat.v1.get_variable(scope + '/bias', shapes[1], **kwargs)
  return kernel, bias


class InitFromCheckpointTest(_Tf2TestCase):
  """Every map form finds tensors by the names the object graph records."""

  def test_root_map(self):
    with tf.Graph().as_default() as graph:
      _dense()
      plan = warmstart.init_from_checkpoint(self.ckpt['module'], {'/': '/'})
      got = test_util.initialize(graph)
    for name in ('dense/kernel', 'dense/bias'):
      self.assertAllClose(self.values['module'][name], got[name])
    entry = plan.entry('dense/kernel')
    self.assertEqual('model/kernel' + _KEY, entry.tensor)
    self.assertEqual('/: /, object-based checkpoint', entry.rule)

  def test_scope_map_keras_checkpoint(self):
    with tf.Graph().as_default() as graph:
      _dense('student/dense')
      _dense('student/dense_1', ((3, 1), (1,)))
      warmstart.init_from_checkpoint(self.ckpt['keras'],
                                     {'dense/': 'student/dense/',
                                      'dense_1/': 'student/dense_1/'})
      got = test_util.initialize(graph)
    for name in ('dense/kernel', 'dense/bias', 'dense_1/kernel',
                 'dense_1/bias'):
      self.assertAllClose(self.keras_value(name), got['student/' + name])

  def test_name_and_object_maps_keras_save_weights(self):
    with tf.Graph().as_default() as graph:
      head = tf.compat.v1.get_variable('head/kernel', [3, 1])
      bias = tf.Variable(tf.zeros([1]), name='head/bias')
      warmstart.init_from_checkpoint(self.ckpt['keras_weights'], {
          'dense_1/kernel': 'head/kernel', 'dense_1/bias': bias})
      got = test_util.initialize(graph)
    self.assertAllClose(self.keras_value('dense_1/kernel'),
                        got[head.op.name])
    self.assertAllClose(self.keras_value('dense_1/bias'), got['head/bias'])

  def test_partition_list_by_name(self):
    with tf.Graph().as_default() as graph:
      kernel = tf.compat.v1.get_variable(
          'kernel', [2, 3],
          partitioner=tf.compat.v1.fixed_size_partitioner(2))
      warmstart.init_from_checkpoint(self.ckpt['module'],
                                     {'dense/kernel': list(kernel)})
      got = test_util.initialize(graph)
    self.assertAllClose(self.values['module']['dense/kernel'], got['kernel'])

  def test_sharded_variable_by_key_into_a_partitioned_variable(self):
    key = 'embedding' + _KEY
    with tf.Graph().as_default() as graph:
      embedding = tf.compat.v1.get_variable(
          'embedding', [4, 3],
          partitioner=tf.compat.v1.fixed_size_partitioner(2))
      plan = warmstart.init_from_checkpoint(self.ckpt['sharded'],
                                            {key: embedding})
      got = test_util.initialize(graph)
    self.assertAllClose(self.values['sharded']['embedding'], got['embedding'])
    self.assertEqual(key, plan.entry('embedding').tensor)

  def test_raw_keys_keep_working(self):
    with tf.Graph().as_default() as graph:
      _dense()
      plan = warmstart.init_from_checkpoint(
          self.ckpt['keras'],
          {'model/layer_with_weights-0/kernel' + _KEY: 'dense/kernel',
           'model/layer_with_weights-0/bias' + _KEY: 'dense/bias'})
      got = test_util.initialize(graph)
    self.assertAllClose(self.keras_value('dense/kernel'), got['dense/kernel'])
    self.assertNotIn('object-based', plan.entry('dense/kernel').rule)

  def test_include_slots_reads_keras_slots_as_variable_slash_slot(self):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable('student/kernel', [2, 3])
      for slot in ('m', 'v'):
        tf.compat.v1.get_variable('student/kernel/' + slot, [2, 3],
                                  trainable=False)
      warmstart.init_from_checkpoint(self.ckpt['keras'],
                                     {'dense/kernel': 'student/kernel'},
                                     include_slots=True)
      got = test_util.initialize(graph)
    for slot in ('', '/m', '/v'):
      self.assertAllClose(self.keras_value('dense/kernel' + slot),
                          got['student/kernel' + slot])

  def test_tf1_optimizer_slots_match_a_graph_mode_adam(self):
    # A TF1 optimizer run eagerly records the graph's slot names.
    with tf.Graph().as_default() as graph:
      kernel, bias = _dense()
      tf.compat.v1.train.AdamOptimizer(0.1).minimize(
          tf.reduce_sum(kernel) + tf.reduce_sum(bias))
      plan = warmstart.init_from_checkpoint(
          self.ckpt['module'], {'dense/kernel': 'dense/kernel'},
          include_slots=True)
      got = test_util.initialize(graph)
    saved = self.values['module']
    for name in ('dense/kernel', 'dense/kernel/Adam', 'dense/kernel/Adam_1',
                 'beta1_power', 'beta2_power'):
      self.assertAllClose(saved[name], got[name], msg=name)
    self.assertEqual('model/kernel/.OPTIMIZER_SLOT/optimizer/m' + _KEY,
                     plan.entry('dense/kernel/Adam').tensor)
    self.assertNotIn('dense/bias', [e.variable for e in plan.entries])

  def test_graph_mode_adam_slots_read_keras_slots_by_kind(self):
    # A Keras Adam's m and v are a TF1 Adam's `Adam` and `Adam_1`, its step
    # count gives the beta powers (optimizer_conventions_test: the rest).
    with tf.Graph().as_default() as graph:
      kernel, _ = _dense()
      tf.compat.v1.train.AdamOptimizer(0.1).minimize(tf.reduce_sum(kernel))
      plan = warmstart.init_from_checkpoint(
          self.ckpt['keras'], {'dense/kernel': 'dense/kernel'},
          optimizer_state='all')
      got = test_util.initialize(graph)
    for suffix, slot in (('Adam', 'm'), ('Adam_1', 'v')):
      self.assertAllClose(self.keras_value('dense/kernel/' + slot),
                          got['dense/kernel/' + suffix])
      self.assertEqual('Keras legacy Adam %s as TF1 Adam %s' % (slot, slot),
                       plan.entry('dense/kernel/' + suffix).reason)
    self.assertAllClose(0.9 ** 2, got['beta1_power'])  # After one step.
    self.assertAllClose(0.999 ** 2, got['beta2_power'])

  def test_warm_start_regex_and_vocabulary(self):
    directory = self.create_tempdir().full_path
    old_vocab = os.path.join(directory, 'old.txt')
    new_vocab = os.path.join(directory, 'new.txt')
    with open(old_vocab, 'w') as f:
      f.write('a\nb\nc\n')
    with open(new_vocab, 'w') as f:
      f.write('c\na\nd\n')
    with tf.Graph().as_default() as graph:
      _dense()
      tf.compat.v1.get_variable('words/embedding', [3, 2])
      plan = warmstart.warm_start(
          self.ckpt['module'], '(dense|words)/',
          var_name_to_vocab_info={'words/embedding': warmstart.VocabInfo(
              new_vocab, 3, 0, old_vocab,
              backup_initializer=tf.compat.v1.zeros_initializer())})
      got = test_util.initialize(graph)
    saved = self.values['module']
    self.assertAllClose(saved['dense/kernel'], got['dense/kernel'])
    old = saved['words/embedding']
    self.assertAllClose([old[2], old[0], [0.0, 0.0]], got['words/embedding'])
    self.assertEqual('model/embedding' + _KEY,
                     plan.entry('words/embedding').tensor)


class PlanErrorsTest(_Tf2TestCase):
  """A name no tensor or several tensors claim: the error names the keys."""

  def test_name_two_objects_claim(self):
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('x', [])
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"gives the name 'x' to 2 tensors, 'first/\.ATTRIBUTES/"
          r"VARIABLE_VALUE', 'second/\.ATTRIBUTES/VARIABLE_VALUE': map the "
          r"key of the one you mean"):
        warmstart.make_plan(self.ckpt['odd'], {'x': 'x'})
      plan = warmstart.make_plan(self.ckpt['odd'],
                                 {'second' + _KEY: 'x'})
      self.assertEqual('second' + _KEY, plan.entry('x').tensor)

  def test_two_sharded_variables_claim_one_name(self):
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('embedding', [4, 3])
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"'ShardedVariable' to 2 tensors, 'embedding/\.ATTRIBUTES/"
          r"VARIABLE_VALUE', 'other/\.ATTRIBUTES/VARIABLE_VALUE'"):
        warmstart.make_plan(self.ckpt['sharded'],
                            {'ShardedVariable': 'embedding'})

  def test_tensor_without_a_name_lists_the_keys_to_map(self):
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('table_keys', [1], dtype=tf.string)
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"tensor 'table' is not in checkpoint .* object-based \(TF2\) "
          r"checkpoint.* Tensors with no name there \(map them by key\): "
          r"'table/\.ATTRIBUTES/table-keys', 'table/\.ATTRIBUTES/"
          r"table-values'"):
        warmstart.make_plan(self.ckpt['odd'], {'table': 'table_keys'})

  def test_did_you_mean_offers_variable_names(self):
    with tf.Graph().as_default():
      _dense('dense_2')
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"tensor 'dense_2/kernel' is not in checkpoint .*Did you mean: "
          r"'dense_1/kernel'"):
        warmstart.make_plan(self.ckpt['keras'], {'/': '/'})

  def test_settings_error_names_the_same_keys(self):
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('x', [])
      with self.assertRaisesRegex(warmstart.TensorNotFoundError,
                                  r"'first/\.ATTRIBUTES/VARIABLE_VALUE'"):
        warmstart.make_settings_plan(warmstart.WarmStartSettings(
            self.ckpt['odd'], 'x'))


class InspectTest(_Tf2TestCase):

  def test_listing_gives_each_key_its_variable_name(self):
    listing = _inspect.describe(self.ckpt['keras'])
    self.assertTrue(listing.object_based)
    by_key = {t.name: t.variable for t in listing.tensors}
    self.assertEqual('dense/kernel',
                     by_key['model/layer_with_weights-0/kernel' + _KEY])
    self.assertEqual(
        'dense/kernel/m', by_key['model/layer_with_weights-0/kernel/'
                                 '.OPTIMIZER_SLOT/model/optimizer/m' + _KEY])
    self.assertIsNone(by_key[_object_graph.OBJECT_GRAPH_KEY])
    table = listing.table().splitlines()
    self.assertEqual(['tensor', 'variable', 'shape', 'dtype', 'size'],
                     table[0].split())
    self.assertTrue(any(re.match(
        r'model/layer_with_weights-1/bias/\.ATTRIBUTES/VARIABLE_VALUE +'
        r'dense_1/bias +\[1\] ', line) for line in table), table)
    self.assertIn('Object-based (TF2) checkpoint', table[-1])

  def test_match_selects_by_variable_name_too(self):
    listing = _inspect.describe(self.ckpt['keras_weights'],
                                match='^dense_1/(kernel|bias)$')
    self.assertEqual(['dense_1/bias', 'dense_1/kernel'],
                     sorted(t.variable for t in listing.tensors))

  def test_cli_json_and_ambiguous_and_unnamed_tensors(self):
    status, out, err = _run_cli('inspect', '--json', self.ckpt['odd'])
    self.assertEqual(0, status, err)
    data = json.loads(out)
    self.assertTrue(data['object_based'])
    self.assertEqual({'x': ['first' + _KEY, 'second' + _KEY]},
                     data['ambiguous'])
    by_key = {t['name']: t['variable'] for t in data['tensors']}
    self.assertEqual('step', by_key['step' + _KEY])
    self.assertEqual('x', by_key['first' + _KEY])
    self.assertIsNone(by_key['table/.ATTRIBUTES/table-keys'])
    status, out, err = _run_cli('inspect', self.ckpt['odd'])
    self.assertEqual(0, status, err)
    self.assertIn("'x' names 2 tensors (use their keys); 2 tensors have no "
                  'name (use their keys).', out)

  def test_name_based_listing_is_unchanged(self):
    prefix, _ = test_util.save_checkpoint(self.create_tempdir().full_path,
                                          _dense)
    listing = _inspect.describe(prefix)
    self.assertFalse(listing.object_based)
    self.assertEqual(['tensor', 'shape', 'dtype', 'size'],
                     listing.table().splitlines()[0].split())
    self.assertEqual([None, None], [t.variable for t in listing.tensors])


class MergeTest(_Tf2TestCase):

  def test_writes_variable_names_with_renames(self):
    output = os.path.join(self.create_tempdir().full_path, 'merged')
    result = warmstart.merge_checkpoints(
        [(self.ckpt['keras'], {'dense/': 'student/dense/'})], output)
    reader = tf.compat.v1.train.NewCheckpointReader(output)
    names = set(reader.get_variable_to_shape_map())
    expected = {'student/dense/kernel', 'student/dense/bias',
                'student/dense/kernel/m', 'student/dense/kernel/v',
                'student/dense/bias/m', 'student/dense/bias/v',
                'dense_1/kernel', 'dense_1/bias', 'dense_1/kernel/m',
                'dense_1/kernel/v', 'dense_1/bias/m', 'dense_1/bias/v'}
    self.assertContainsSubset(expected, names)
    self.assertNotIn(_object_graph.OBJECT_GRAPH_KEY, names)
    self.assertEmpty([n for n in names if '.ATTRIBUTES' in n])
    for name in expected:
      self.assertAllClose(self.keras_value(name.replace('student/', '')),
                          reader.get_tensor(name), msg=name)
    tensor = [t for t in result.tensors if t.name == 'student/dense/kernel']
    self.assertEqual('model/layer_with_weights-0/kernel' + _KEY,
                     tensor[0].source_name)
    # A TF1 Saver reads the merged checkpoint by name.
    with tf.Graph().as_default():
      kernel = tf.compat.v1.get_variable('student/dense/kernel', [2, 3])
      saver = tf.compat.v1.train.Saver([kernel])
      with tf.compat.v1.Session() as sess:
        saver.restore(sess, output)
        self.assertAllClose(self.keras_value('dense/kernel'),
                            sess.run(kernel))

  def test_tensors_without_a_unique_name_keep_their_key(self):
    output = os.path.join(self.create_tempdir().full_path, 'merged')
    result = _merge.merge_checkpoints([(self.ckpt['odd'], {'step': 'steps'})],
                                      output)
    reader = tf.compat.v1.train.NewCheckpointReader(output)
    self.assertCountEqual(
        ['steps', 'first' + _KEY, 'second' + _KEY,
         'table/.ATTRIBUTES/table-keys', 'table/.ATTRIBUTES/table-values'],
        reader.get_variable_to_shape_map())
    self.assertEqual(7, reader.get_tensor('steps'))
    notes = {t.name: t.note for t in result.tensors}
    self.assertEqual('', notes['steps'])
    self.assertEqual("its name 'x' is claimed by 2 tensors",
                     notes['first' + _KEY])
    self.assertEqual('no variable name in the object graph',
                     notes['table/.ATTRIBUTES/table-keys'])
    self.assertIn('kept its key: table/.ATTRIBUTES/table-keys from %s (no '
                  'variable name in the object graph)' % self.ckpt['odd'],
                  result.table())
    data = json.loads(result.to_json())
    self.assertIn({'source': self.ckpt['odd'],
                   'tensor': _object_graph.OBJECT_GRAPH_KEY,
                   'reason': 'object graph of one model'}, data['dropped'])
    self.assertEqual("its name 'x' is claimed by 2 tensors", {
        t['name']: t['note'] for t in data['tensors']}['second' + _KEY])

  def test_exclude_matches_the_name_or_the_key(self):
    # By key: the optimizer's own variables; by name: the slots.
    result = _merge.plan_merge([self.ckpt['keras']],
                               exclude=['model/optimizer/', '.*/[mv]$'])
    self.assertCountEqual(
        ['dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias'],
        [t.name for t in result.tensors])


class PlanCommandTest(_Tf2TestCase):

  def test_plan_from_a_tf2_checkpoint(self):
    target, _ = test_util.save_checkpoint(
        self.create_tempdir().full_path,
        lambda: (_dense(), _dense('dense_1', ((3, 1), (1,)))))
    status, out, err = _run_cli('plan', '--from', self.ckpt['keras'],
                                '--target', target, '--json')
    self.assertEqual(0, status, err)
    data = json.loads(out)
    self.assertTrue(data['ok'])
    entries = {e['variable']: e for e in data['plan']['entries']}
    self.assertEqual('model/layer_with_weights-1/kernel' + _KEY,
                     entries['dense_1/kernel']['tensor'])
    self.assertEqual('restore', entries['dense_1/kernel']['action'])
    status, out, err = _run_cli('plan', '--from', self.ckpt['keras_weights'],
                                '--map', 'dense_1/=dense_1/', '--target',
                                target)
    self.assertEqual(0, status, err)
    self.assertRegex(out, r'(?m)^dense_1/kernel .* layer_with_weights-1/'
                     r'kernel/\.ATTRIBUTES/VARIABLE_VALUE ')

  def test_plan_against_a_tf2_target_uses_its_variable_names(self):
    # The target's variables are made under the names its object graph
    # records, so a name-based source maps onto them by name.
    source, _ = test_util.save_checkpoint(
        self.create_tempdir().full_path,
        lambda: (_dense(), _dense('dense_1', ((3, 1), (1,)))))
    status, out, err = _run_cli('plan', '--from', source, '--target',
                                self.ckpt['keras'], '--vars', 'dense',
                                '--json')
    self.assertEqual(0, status, err)
    data = json.loads(out)
    restored = {e['variable']: e['tensor'] for e in data['plan']['entries']
                if e['action'] == 'restore'}
    self.assertEqual('dense_1/kernel', restored['dense_1/kernel'])
    self.assertNotIn('model/layer_with_weights-1/kernel' + _KEY, restored)


def _run_cli(*argv: str) -> tuple[int, str, str]:
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = _cli.main(list(argv))
  return status, out.getvalue(), err.getvalue()


if __name__ == '__main__':
  tf.test.main()
