"""Foreign weights files staged as checkpoints: the cache and its guarantees.

Files are written with `numpy.savez`, `safetensors.numpy.save_file` and
Keras' own `save_weights`; graph B is warm-started from them through the
entry points and compared with numpy. The cache is tested by injecting the
faults: a child process staging a file is SIGKILLed before each step of the
conversion, and two processes stage one file at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import zipfile
from unittest import mock

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart._sources import _stage
from warmstart._sources import _writer

try:
  from safetensors import numpy as safetensors_numpy
except ImportError:  # pragma: no cover - a test pin.
  safetensors_numpy = None

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _weights():
  rng = np.random.RandomState(0)
  return {
      'encoder.dense.weight': rng.randn(5, 3).astype(np.float32),  # [out, in]
      'encoder.dense.bias': rng.randn(5).astype(np.float32),
      'embeddings.word': rng.randn(12, 4).astype(np.float32),
  }


class StageTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.cache = os.path.join(self.create_tempdir().full_path, 'cache')
    self.weights = _weights()

  def _safetensors(self, name='model.safetensors', weights=None):
    path = os.path.join(self.dir, name)
    safetensors_numpy.save_file(weights or self.weights, path)
    return path

  def _entries(self):
    staged = os.path.join(self.cache, 'staged')
    if not os.path.isdir(staged):
      return []
    return sorted(n for n in os.listdir(staged)
                  if not n.endswith('.lock') and not n.startswith('.tmp-'))

  def _restore(self, path, mapping, parts=1, **options):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable(
          'dense/kernel', [5, 3],
          initializer=tf.compat.v1.zeros_initializer())
      tf.compat.v1.get_variable('dense/bias', [5])
      tf.compat.v1.get_variable(
          'emb', [12, 4], partitioner=(
              tf.compat.v1.fixed_size_partitioner(parts) if parts > 1 else
              None))
      plan = warmstart.init_from_checkpoint(path, mapping,
                                            cache_dir=self.cache, **options)
      return plan, test_util.initialize(graph)

  def test_safetensors_npz_and_keras_through_init_from_checkpoint(self):
    mapping = {'encoder.dense.weight': 'dense/kernel',
               'encoder.dense.bias': 'dense/bias', 'embeddings.word': 'emb'}
    plan, got = self._restore(self._safetensors(), mapping, parts=3)
    self.assertAllEqual(self.weights['encoder.dense.weight'],
                        got['dense/kernel'])
    self.assertAllEqual(self.weights['embeddings.word'], got['emb'])
    self.assertIn('model.safetensors (staged as %s' % self.cache,
                  plan.summary())
    self.assertIn('[staged]', str(plan))
    self.assertEqual(os.path.join(self.dir, 'model.safetensors'),
                     dict(plan.staged_sources)[plan.entries[0].source])
    self.assertIn('staged_sources', json.loads(plan.to_json()))

    npz = os.path.join(self.dir, 'weights.dat')  # Found by content.
    with open(npz, 'wb') as f:
      np.savez(f, **{'dense/kernel': self.weights['encoder.dense.weight']})
    _, got = self._restore(npz, {'dense/kernel': 'dense/kernel'})
    self.assertAllEqual(self.weights['encoder.dense.weight'],
                        got['dense/kernel'])

    model = tf.keras.Sequential([tf.keras.layers.Dense(5, input_shape=(3,),
                                                       name='d')])
    h5 = os.path.join(self.dir, 'keras.h5')
    model.save_weights(h5)
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable('dense/kernel', [3, 5])
      tf.compat.v1.get_variable('dense/bias', [5])
      warmstart.init_from_checkpoint(h5, {'d/': 'dense/'},
                                     cache_dir=self.cache)
      got = test_util.initialize(graph)
    kernel, bias = model.get_weights()
    self.assertAllEqual(kernel, got['dense/kernel'])
    self.assertAllEqual(bias, got['dense/bias'])

  def test_warm_start_settings_and_the_env_default(self):
    path = self._safetensors()
    with mock.patch.dict(os.environ, {_stage.CACHE_DIR_ENV: self.cache}):
      with tf.Graph().as_default() as graph:
        tf.compat.v1.get_variable('emb', [12, 4])
        warmstart.warm_start(path, 'emb', var_name_to_prev_var_name={
            'emb': 'embeddings.word'})
        got = test_util.initialize(graph)
    self.assertAllEqual(self.weights['embeddings.word'], got['emb'])
    self.assertLen(self._entries(), 1)

  def test_dtypes_and_cast(self):
    path = self._safetensors(weights={
        'half': np.arange(6, dtype=np.float16).reshape(2, 3),
        'bf': np.arange(6, dtype=tf.bfloat16.as_numpy_dtype).reshape(2, 3)})
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable('bf', [2, 3], dtype=tf.bfloat16)
      tf.compat.v1.get_variable('half', [2, 3], dtype=tf.float32)
      warmstart.init_from_checkpoint(path, {'bf': 'bf', 'half': 'half'},
                                     cache_dir=self.cache, cast=True)
      got = test_util.initialize(graph)
    self.assertAllEqual(np.arange(6).reshape(2, 3), got['bf'].astype(float))
    self.assertAllEqual(np.arange(6, dtype=np.float32).reshape(2, 3),
                        got['half'])
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('half', [2, 3], dtype=tf.float32)
      with self.assertRaisesRegex(warmstart.MismatchError,
                                  'half.*float16.*float32'):
        warmstart.init_from_checkpoint(path, {'half': 'half'},
                                       cache_dir=self.cache)

  def test_reused_unchanged_converted_again_when_changed(self):
    path = self._safetensors()
    mapping = {'embeddings.word': 'emb'}
    self._restore(path, mapping)
    self.assertLen(self._entries(), 1)
    with mock.patch.object(_writer, 'save_batch',
                           side_effect=AssertionError('converted again')):
      _, got = self._restore(path, mapping)
    self.assertAllEqual(self.weights['embeddings.word'], got['emb'])
    changed = {k: v + 1 for k, v in self.weights.items()}
    self._safetensors(weights=changed)  # Same size, other values.
    _, got = self._restore(path, mapping)
    self.assertAllEqual(changed['embeddings.word'], got['emb'])
    self.assertLen(self._entries(), 2)

  def test_never_writes_beside_the_source(self):
    path = self._safetensors()
    before = sorted(os.listdir(self.dir))
    os.chmod(self.dir, stat.S_IRUSR | stat.S_IXUSR)
    self.addCleanup(os.chmod, self.dir, stat.S_IRWXU)
    _, got = self._restore(path, {'embeddings.word': 'emb'})
    self.assertAllEqual(self.weights['embeddings.word'], got['emb'])
    self.assertEqual(before, sorted(os.listdir(self.dir)))

  def test_a_damaged_entry_is_staged_again(self):
    path = self._safetensors()
    plan, _ = self._restore(path, {'embeddings.word': 'emb'})
    prefix = plan.entries[0].source
    os.remove(prefix + '.data-00000-of-00001')
    _, got = self._restore(path, {'embeddings.word': 'emb'})
    self.assertAllEqual(self.weights['embeddings.word'], got['emb'])

  def test_a_cache_that_cannot_be_made_is_named(self):
    path = self._safetensors()
    blocker = os.path.join(self.dir, 'file')
    with open(blocker, 'w') as f:
      f.write('x')
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('emb', [12, 4])
      with self.assertRaisesRegex(
          warmstart.SettingsError, 'Cannot create the staging cache %r.*'
          'cache_dir option' % os.path.join(blocker, 'cache')):
        warmstart.init_from_checkpoint(path, {'embeddings.word': 'emb'},
                                       cache_dir=os.path.join(blocker,
                                                              'cache'))

  def test_pickles_and_malformed_files_are_refused_naming_the_file(self):
    torch_file = os.path.join(self.dir, 'pytorch_model.bin')
    with zipfile.ZipFile(torch_file, 'w') as z:
      z.writestr('archive/data.pkl', b'\x80\x02}q\x00.')
    bad = os.path.join(self.dir, 'bad.safetensors')
    with open(bad, 'wb') as f:
      f.write((10 ** 6).to_bytes(8, 'little') + b'{"a": 1}')
    with tf.Graph().as_default():
      tf.compat.v1.get_variable('emb', [12, 4])
      with self.assertRaisesRegex(warmstart.SourceFormatError,
                                  "(?s)%r.*never unpickle.*save_file" %
                                  torch_file):
        warmstart.init_from_checkpoint(torch_file, {'a': 'emb'},
                                       cache_dir=self.cache)
      with self.assertRaisesRegex(warmstart.SourceFormatError, '%r' % bad):
        warmstart.init_from_checkpoint(bad, {'a': 'emb'}, cache_dir=self.cache)
    self.assertEmpty(self._entries())


# A child that stages one file, SIGKILLing itself before step KILL_AT (0:
# never), counting every file step of the conversion; prints the prefix.
_CHILD = textwrap.dedent('''
    import os, signal, sys, time
    sys.path.insert(0, %(root)r)
    from warmstart._sources import _stage, _writer
    path, fmt, cache, kill_at, trace = sys.argv[1:6]
    kill_at = int(kill_at)
    count = [0]

    def counted(owner, name):
      real = getattr(owner, name)
      def step(*args, **kwargs):
        count[0] += 1
        with open(trace, 'a') as f:
          f.write('%%d %%s\\n' %% (os.getpid(), name))
        if count[0] == kill_at:
          os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
      setattr(owner, name, step)

    for owner, name in ((_writer, 'save_batch'), (_writer, 'join_shards'),
                        (os, 'mkdir'), (os, 'rename'), (_stage, '_fsync')):
      counted(owner, name)
    barrier = os.environ.get('STAGE_BARRIER')
    if barrier:
      while not os.path.exists(barrier):
        time.sleep(0.01)
    print(_stage.stage(path, fmt, cache, max_chunk_bytes=200))
''') % {'root': _ROOT}


class StageFaultsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.cache = os.path.join(self.dir, 'cache')
    self.path = os.path.join(self.dir, 'm.safetensors')
    self.weights = _weights()
    safetensors_numpy.save_file(self.weights, self.path)
    self.script = os.path.join(self.dir, 'child.py')
    with open(self.script, 'w') as f:
      f.write(_CHILD)

  def _child(self, kill_at, trace, env=None):
    return subprocess.Popen(
        [sys.executable, self.script, self.path, 'safetensors', self.cache,
         str(kill_at), trace],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **(env or {})))

  def _complete_entries(self):
    staged = os.path.join(self.cache, 'staged')
    return [n for n in os.listdir(staged)
            if not n.startswith('.tmp-') and not n.endswith('.lock')]

  def _check_values(self, prefix):
    reader = tf.train.load_checkpoint(prefix)
    for name, value in self.weights.items():
      self.assertAllEqual(value, reader.get_tensor(name))

  def test_sigkill_before_each_step_leaves_no_complete_entry(self):
    trace = os.path.join(self.dir, 'steps')
    done = self._child(0, trace)
    out, err = done.communicate(timeout=120)
    self.assertEqual(0, done.returncode, err)
    steps = len(open(trace).read().splitlines())
    self.assertGreaterEqual(steps, 6)  # mkdir, 3+ batches, join, fsyncs, rename
    os.remove(trace)
    shutil.rmtree(self.cache)
    kills = 0
    for kill_at in range(1, steps + 1):
      if os.path.exists(trace):
        os.remove(trace)
      child = self._child(kill_at, trace)
      child.communicate(timeout=120)
      if child.returncode == 0:
        break  # Fewer steps than the first run (its folders exist now).
      self.assertEqual(-signal.SIGKILL, child.returncode, kill_at)
      kills += 1
      done_steps = [line.split()[1] for line in open(trace)]
      staged = os.path.join(self.cache, 'staged')
      if 'rename' in done_steps[:-1]:
        # Killed after the commit point (the rename): a whole entry.
        entry, = self._complete_entries()
        self._check_values(os.path.join(staged, entry, 'weights'))
        shutil.rmtree(os.path.join(staged, entry))
      elif os.path.isdir(staged):
        self.assertEmpty(self._complete_entries(), done_steps)
    self.assertGreaterEqual(kills, 6)
    # A rerun succeeds, with the right values, and removes the leftovers.
    shutil.rmtree(os.path.join(self.cache, 'staged'))
    child = self._child(kill_at, trace)
    child.communicate(timeout=120)  # Killed again, or done: either way...
    child = self._child(0, trace)
    out, err = child.communicate(timeout=120)
    self.assertEqual(0, child.returncode, err)
    prefix = out.strip().splitlines()[-1]
    self._check_values(prefix)
    staged = os.path.join(self.cache, 'staged')
    self.assertEmpty([n for n in os.listdir(staged) if n.startswith('.tmp-')])
    self.assertLen(self._complete_entries(), 1)

  def test_two_processes_at_once_convert_once(self):
    trace = os.path.join(self.dir, 'steps')
    barrier = os.path.join(self.dir, 'go')
    children = [self._child(0, trace, {'STAGE_BARRIER': barrier})
                for _ in range(2)]
    with open(barrier, 'w'):
      pass
    prefixes = []
    for child in children:
      out, err = child.communicate(timeout=180)
      self.assertEqual(0, child.returncode, err)
      prefixes.append(out.strip().splitlines()[-1])
    self.assertEqual(prefixes[0], prefixes[1])
    self._check_values(prefixes[0])
    writers = {line.split()[0] for line in open(trace).read().splitlines()
               if line.split()[1] == 'save_batch'}
    self.assertLen(writers, 1)  # One process converted; the other reused.


if __name__ == '__main__':
  tf.test.main()
