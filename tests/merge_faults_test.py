"""Fault injection for warmstart's merge: SIGKILL at every step, and at random.

The merges run in a child process that imports warmstart once (TF takes
seconds to import), then forks one worker per merge. The worker counts its
file steps (every `tf.io.gfile` rename, remove, rmtree, mkdir and makedirs,
and each SaveV2 and MergeV2Checkpoints call) and SIGKILLs itself at the
requested one, before the step runs; or the child SIGKILLs it after a
delay. After each kill the test checks, from this process:

* the output is no checkpoint (a new output only) or a whole checkpoint
  whose every tensor equals the old checkpoint's or the new one's;
* every input file has the bytes it had (sha256);
* rerunning the same merge succeeds, leaves only the output's index and its
  data files (no staging folder, no stray data file) and yields the new
  values.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import itertools
import json
import os
import random
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional
from unittest import mock

import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _merge
from warmstart._merge import _staging
from warmstart._merge import _write

# The child process. Each request is one merge, in a forked worker.
_CHILD = r'''
import json, os, signal, sys, time, traceback
import tensorflow as tf
from warmstart import _merge
from warmstart._merge import _write

_STEPS = ((tf.io.gfile, ('rename', 'remove', 'rmtree', 'mkdir', 'makedirs')),
          (_write, ('_save_batch', '_join_shards')))


def _instrument(kill_at, trace):
  count = [0]

  def wrap(owner, name):
    real = getattr(owner, name)

    def step(*args, **kwargs):
      count[0] += 1
      with open(trace, 'a') as f:
        f.write('%s(%s)\n' % (name, ', '.join(
            os.path.basename(a) for a in args if isinstance(a, str))))
      if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
      return real(*args, **kwargs)

    setattr(owner, name, step)

  for owner, names in _STEPS:
    for name in names:
      wrap(owner, name)


def _work(request):
  os.dup2(2, 1)  # Our stdout carries the replies.
  _instrument(request['kill_at'], request['trace'])
  _merge.merge_checkpoints(
      [tuple(s) for s in request['sources']], request['output'],
      **request['kwargs'])


print('ready', flush=True)
for line in sys.stdin:
  request = json.loads(line)
  started = time.monotonic()
  pid = os.fork()
  if pid == 0:
    code = 0
    try:
      _work(request)
    except BaseException:
      traceback.print_exc()
      code = 3
    sys.stderr.flush()
    os._exit(code)
  if request['kill_after'] is not None:
    time.sleep(request['kill_after'])
    os.kill(pid, signal.SIGKILL)
  _, status = os.waitpid(pid, 0)  # Reaped: its pid is gone when we reply.
  print(json.dumps({
      'signal': os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
      'exit': os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
      'seconds': time.monotonic() - started}), flush=True)
'''

_TIMEOUT = 300

_child: Optional['_Child'] = None


class _Child:
  """The child process that runs (and kills) merges."""

  def __init__(self, log_path: str):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(
        warmstart.__file__)))
    env['PYTHONPATH'] = os.pathsep.join(
        [root] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    self.log_path = log_path
    self._log = open(log_path, 'w')
    self._process = subprocess.Popen(
        [sys.executable, '-c', _CHILD], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=self._log, env=env, text=True)
    self._ready = False

  def _line(self) -> str:
    ready, _, _ = select.select([self._process.stdout], [], [], _TIMEOUT)
    line = self._process.stdout.readline() if ready else ''
    if not line:
      raise RuntimeError('The merge child gave no answer; its log:\n%s' %
                         self.log_tail())
    return line.strip()

  def log_tail(self) -> str:
    self._log.flush()
    with open(self.log_path) as f:
      return f.read()[-4000:]

  def run(self, sources: list[tuple[str, Any]], output: str,
          kwargs: dict[str, Any], trace: str, kill_at: Optional[int] = None,
          kill_after: Optional[float] = None) -> dict[str, Any]:
    """Runs one merge in a worker; returns its signal, exit code and time."""
    if not self._ready:
      ready = self._line()
      if ready != 'ready':
        raise RuntimeError('Unexpected first line %r' % ready)
      self._ready = True
    self._process.stdin.write(json.dumps({
        'sources': sources, 'output': output, 'kwargs': kwargs,
        'trace': trace, 'kill_at': kill_at, 'kill_after': kill_after}) + '\n')
    self._process.stdin.flush()
    return json.loads(self._line())

  def close(self, remove_log: bool = False) -> None:
    self._process.stdin.close()
    try:
      self._process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      self._process.kill()
      self._process.wait()
    self._log.close()
    if remove_log:  # Failures quote its tail.
      os.remove(self.log_path)


def _read(prefix: str) -> dict[str, np.ndarray]:
  reader = tf.compat.v1.train.NewCheckpointReader(prefix)
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def _digests(values: dict[str, np.ndarray]) -> dict[str, tuple[str, str]]:
  """{name: (dtype, sha256 of shape and bytes)}: compares values exactly."""
  return {
      n: (str(v.dtype), hashlib.sha256(
          repr(v.shape).encode() + (repr(v.tolist()).encode()
                                    if v.dtype == object else
                                    v.tobytes())).hexdigest())
      for n, v in values.items()}


def _renamed(values: dict[str, np.ndarray], scope: str,
             keep: Optional[set[str]] = None) -> dict[str, np.ndarray]:
  return {scope + n: v for n, v in values.items()
          if keep is None or n in keep}


def _hash_tree(directory: str) -> dict[str, str]:
  """sha256 of every file under `directory`, by relative path."""
  result = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      digest = hashlib.sha256()
      with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
          digest.update(block)
      result[os.path.relpath(path, directory)] = digest.hexdigest()
  return result


def _small_a():
  tf.compat.v1.get_variable('w', [64, 32])
  tf.compat.v1.get_variable('b', [32])
  tf.compat.v1.get_variable('vocab', initializer=np.array([b'a', b'bb', b'c']))
  tf.compat.v1.get_variable('mask', initializer=np.array([True, False, True]))
  tf.compat.v1.train.get_or_create_global_step()


def _small_b():
  tf.compat.v1.get_variable('w', [32, 16])
  tf.compat.v1.get_variable('count', initializer=np.int64(41))


def _big(num: int, rows: int):
  def build():
    for i in range(num):
      tf.compat.v1.get_variable('t%d' % i, [rows, 1024])
  return build


class _FaultTestCase(tf.test.TestCase):
  """Runs merges in the child and checks what each kill left."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    global _child
    if _child is None:  # One for the whole file: it imports TF once.
      kept = os.environ.get('TEST_UNDECLARED_OUTPUTS_DIR')  # Bazel keeps it.
      log = tempfile.NamedTemporaryFile(
          prefix='merge_faults_child.', suffix='.log', delete=False, dir=kept)
      log.close()
      _child = _Child(log.name)
      atexit.register(_child.close, remove_log=not kept)
    cls.child = _child
    cls.root = tempfile.mkdtemp(dir=os.environ.get('TEST_TMPDIR'))
    cls.inputs = os.path.join(cls.root, 'inputs')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def setUp(self):
    super().setUp()
    self.out_dir = os.path.join(self.root, 'out-' + self.id().split('.')[-1])
    self.output = os.path.join(self.out_dir, 'merged.ckpt')
    self.trace = os.path.join(self.root, 'trace')
    self.inputs_before = _hash_tree(self.inputs)

  def tearDown(self):
    self.assertEqual(_hash_tree(self.inputs), self.inputs_before)
    super().tearDown()

  def run_child(self, sources, kwargs, **kill) -> tuple[dict[str, Any],
                                                        list[str]]:
    if os.path.exists(self.trace):
      os.remove(self.trace)
    reply = self.child.run(sources, self.output, kwargs, self.trace, **kill)
    if reply['signal'] is None and reply['exit'] != 0:
      self.fail('The merge failed in the child: %s' % self.child.log_tail())
    steps = []
    if os.path.exists(self.trace):
      with open(self.trace) as f:
        steps = f.read().splitlines()
    return reply, steps

  def assert_whole(self, old: Optional[dict[str, tuple[str, str]]],
                   new: dict[str, tuple[str, str]], when: str) -> None:
    """The output is nothing (if `old` is None), or all of `old` or `new`."""
    if not os.path.exists(self.output + '.index'):
      self.assertIsNone(old, 'No checkpoint at the output %s, but it held '
                        'one before.' % when)
      return
    try:
      got = _digests(_read(self.output))
    except tf.errors.OpError as e:
      self.fail('The output is not a whole checkpoint %s: %s; files: %s' %
                (when, e, sorted(os.listdir(self.out_dir))))
    if got != new:
      self.assertEqual(got, old, 'The output is neither the old nor the new '
                       'checkpoint %s.' % when)

  def assert_new_and_clean(self, new: dict[str, tuple[str, str]],
                           when: str) -> None:
    """The output is `new`, and only its files are in its directory."""
    self.assertEqual(_digests(_read(self.output)), new, when)
    names = sorted(os.listdir(self.out_dir))
    data = [n for n in names if n.startswith('merged.ckpt.data-')]
    count = len(data)
    self.assertEqual(
        names, sorted(['merged.ckpt.index'] +
                      ['merged.ckpt.data-%05d-of-%05d' % (i, count)
                       for i in range(count)]),
        'Files left %s.' % when)

  def assert_inputs_unchanged(self, when: str) -> None:
    self.assertEqual(_hash_tree(self.inputs), self.inputs_before,
                     'An input changed %s.' % when)

  def restore(self, state: Optional[str]) -> None:
    """Makes the output directory a copy of `state` (None: no directory)."""
    shutil.rmtree(self.out_dir, ignore_errors=True)
    if state is not None:
      shutil.copytree(state, self.out_dir, symlinks=True)

  def save_state(self, name: str) -> str:
    """Copies the output directory (hidden folders included) aside."""
    state = os.path.join(self.root, 'state-%s-%s' %
                         (self.id().split('.')[-1], name))
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(self.out_dir, state, symlinks=True)
    return state


class RandomKillTest(_FaultTestCase):
  """SIGKILLs at random moments of a 100 MB merge over another one."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    # Two sources of 5 tensors of 10 MiB each.
    cls.a, a_values = test_util.save_checkpoint(
        os.path.join(cls.inputs, 'big_a'), _big(5, 2560), seed=3)
    cls.b, b_values = test_util.save_checkpoint(
        os.path.join(cls.inputs, 'big_b'), _big(5, 2560), seed=4)
    cls.merges = []
    for scope in ('x', 'y'):
      cls.merges.append((
          [(cls.a, {'/': scope + 'a/'}), (cls.b, {'/': scope + 'b/'})],
          _digests(_renamed(a_values, scope + 'a/') |
                   _renamed(b_values, scope + 'b/'))))
    del a_values, b_values

  def test_random_kills(self):
    seed = int(os.environ.get('MERGE_FAULTS_SEED', time.time()))
    rng = random.Random(seed)
    kwargs = {'overwrite': True, 'max_batch_bytes': 32 << 20}
    (x, x_values), _ = self.merges
    started = time.monotonic()
    _merge.merge_checkpoints(x, self.output, **kwargs)
    seconds = time.monotonic() - started  # About what a merge takes here.
    old_values, killed = x_values, 0
    # At least three merges, and more (up to eight) until one was killed:
    # the first merge's time (warm-up included) overstates a later one's,
    # so a delay drawn late in it may find the child done.
    for i in range(8):
      if i >= 3 and killed:
        break
      sources, new_values = self.merges[(i + 1) % 2]
      delay = rng.uniform(0.05, 1.0 if i < 3 else 0.3) * seconds
      reply, _ = self.run_child(sources, kwargs, kill_after=delay)
      killed += reply['signal'] == signal.SIGKILL
      when = 'after a kill at %.2f s (a merge takes about %.2f s; seed %d)' % (
          delay, seconds, seed)
      self.assert_whole(old_values, new_values, when)
      self.assert_inputs_unchanged(when)
      _merge.merge_checkpoints(sources, self.output, **kwargs)
      self.assert_new_and_clean(new_values, 'after the rerun ' + when)
      old_values = new_values
    self.assertGreater(killed, 0)


class CrashAtEveryStepTest(_FaultTestCase):
  """A SIGKILL before each file step of the merge, one step per run."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.a, a_values = test_util.save_checkpoint(
        os.path.join(cls.inputs, 'a'), _small_a, seed=1)
    cls.b, b_values = test_util.save_checkpoint(
        os.path.join(cls.inputs, 'b'), _small_b, seed=2)
    cls.both = [(cls.a, {'/': 'a/'}), (cls.b, {'/': 'b/'})]
    cls.both_values = _digests(
        _renamed(a_values, 'a/') | _renamed(b_values, 'b/'))
    cls.old_sources = [(cls.b, {'/': 'old/'})]
    cls.old_values = _digests(_renamed(b_values, 'old/'))
    cls.one_tensor = [(cls.a, {'/': 'a/'})]
    cls.one_tensor_values = _digests(_renamed(a_values, 'a/', keep={'w'}))

  def _old_output(self) -> str:
    """A directory holding the old checkpoint (one data file)."""
    _merge.merge_checkpoints(self.old_sources, self.output)
    return self.save_state('old')

  def crash_at_every_step(self, sources, kwargs, start: Optional[str],
                          old, new) -> list[str]:
    """Kills the merge before step 1, 2, ... until it completes.

    Args:
      sources: The merge's sources.
      kwargs: Its other arguments.
      start: The output directory before each run (None: no directory).
      old: The digests of the checkpoint at the output before (None: none).
      new: The digests of the merge's result.

    Returns:
      The steps of the merge.
    """
    for n in itertools.count(1):
      self.restore(start)
      reply, steps = self.run_child(sources, kwargs, kill_at=n)
      if reply['signal'] is None:
        self.assert_new_and_clean(new, 'after the merge completed')
        self.assertLen(steps, n - 1)
        return steps
      self.assertEqual(reply['signal'], signal.SIGKILL)
      when = 'after a kill before step %d, %s' % (n, steps[-1])
      self.assert_whole(old, new, when)
      self.assert_inputs_unchanged(when)
      _merge.merge_checkpoints(sources, self.output, **kwargs)
      self.assert_new_and_clean(new, 'after the rerun ' + when)
      self.assert_inputs_unchanged('in the rerun ' + when)

  def test_new_output(self):
    steps = self.crash_at_every_step(
        self.both, {'max_batch_bytes': 4096}, None, None, self.both_values)
    self.assertGreaterEqual(
        len([s for s in steps if s.startswith('_save_batch')]), 2)

  def test_overwrite_with_another_shard_count(self):
    steps = self.crash_at_every_step(
        self.both, {'overwrite': True, 'max_batch_bytes': 4096},
        self._old_output(), self.old_values, self.both_values)
    self.assertIn('remove(merged.ckpt.data-00000-of-00001)', steps)

  def test_overwrite_cutting_a_batch_to_change_the_shard_count(self):
    # One batch would be one data file, as the old checkpoint has: cut in two.
    steps = self.crash_at_every_step(
        self.both, {'overwrite': True}, self._old_output(), self.old_values,
        self.both_values)
    self.assertLen([s for s in steps if s.startswith('_save_batch')], 2)

  def test_overwrite_slicing_a_tensor_to_change_the_shard_count(self):
    # One tensor, one data file, as the old checkpoint: two slices of it.
    steps = self.crash_at_every_step(
        self.one_tensor, {'overwrite': True, 'exclude': '(?!w$)'},
        self._old_output(), self.old_values, self.one_tensor_values)
    self.assertLen([s for s in steps if s.startswith('_save_batch')], 2)

  def test_rerun_after_a_kill_is_crash_safe_too(self):
    # Debris of a kill just before, and just after, the commit point: the
    # rerun (which first removes it) is killed at each of its own steps.
    kwargs = {'overwrite': True}
    old = self._old_output()
    _, steps = self.run_child(self.both, kwargs)
    commit = steps.index('rename(merged.index, merged.ckpt.index)') + 1
    for kill_at, holds in ((commit, self.old_values),
                           (commit + 1, self.both_values)):
      self.restore(old)
      reply, _ = self.run_child(self.both, kwargs, kill_at=kill_at)
      self.assertEqual(reply['signal'], signal.SIGKILL)
      self.assertNotEmpty(_staging.find(self.output))
      debris = self.save_state('debris-%d' % kill_at)
      self.assertEqual(_digests(_read(self.output)), holds)
      steps = self.crash_at_every_step(self.both, kwargs, debris, holds,
                                       self.both_values)
      self.assertIn('rmtree(%s)' % os.path.basename(
          _staging.find(os.path.join(debris, 'merged.ckpt'))[0].path),
                    steps)

  def test_kill_mid_write_leaves_debris_the_rerun_removes(self):
    _, steps = self.run_child(self.both, {'max_batch_bytes': 4096})
    join = [s.startswith('_join_shards') for s in steps].index(True) + 1
    self.restore(None)
    reply, _ = self.run_child(self.both, {'max_batch_bytes': 4096},
                              kill_at=join)
    self.assertEqual(reply['signal'], signal.SIGKILL)
    folders = _staging.find(self.output)
    self.assertLen(folders, 1)
    self.assertNotEmpty(os.listdir(folders[0].path))  # The staged shards.
    self.assertFalse(os.path.exists(self.output + '.index'))
    with self.assertLogs('absl', 'WARNING') as logs:
      _merge.merge_checkpoints(self.both, self.output, max_batch_bytes=4096)
    self.assertIn('Removing %s, left by a merge that did not finish' %
                  folders[0].path, '\n'.join(logs.output))
    self.assert_new_and_clean(self.both_values, 'after the rerun')

  def test_after_a_kill_past_the_commit_point_only_the_same_merge_reruns(self):
    # A new output was committed, then the merge died before removing its
    # staging folder: the same command reruns; another one is refused.
    _, steps = self.run_child(self.both, {})
    self.restore(None)
    reply, _ = self.run_child(self.both, {}, kill_at=len(steps))
    self.assertEqual(reply['signal'], signal.SIGKILL)
    self.assertTrue(steps[-1].startswith('rmtree('), steps)
    self.assertEqual(_digests(_read(self.output)), self.both_values)
    debris = self.save_state('committed')
    with self.assertRaisesRegex(FileExistsError,
                                r"merged.ckpt' exists .*overwrite=True"):
      _merge.merge_checkpoints(self.old_sources, self.output)
    self.restore(debris)
    _merge.merge_checkpoints(self.both, self.output)
    self.assert_new_and_clean(self.both_values, 'after the rerun')


class StagingFolderTest(tf.test.TestCase):
  """Who owns a staging folder, and what a merge does with others' folders."""

  def setUp(self):
    super().setUp()
    root = self.create_tempdir().full_path
    self.source, _ = test_util.save_checkpoint(
        os.path.join(root, 'in'), _small_b)
    self.output = os.path.join(root, 'out', 'merged.ckpt')
    os.makedirs(os.path.dirname(self.output))

  def _folder(self, pid: int, start: str, host: Optional[str] = None) -> str:
    name = '.merged.ckpt.merge-%s-%d-%s-%s@%s' % (
        'f' * 12, pid, start, '0' * 8, host or _staging._host())
    path = os.path.join(os.path.dirname(self.output), name)
    os.makedirs(path)
    return path

  def test_a_live_merge_into_the_same_output_stops_the_merge(self):
    sleeper = subprocess.Popen([sys.executable, '-c',
                                'import time; time.sleep(60)'])
    try:
      stat = _staging._proc_stat(sleeper.pid)
      folder = self._folder(sleeper.pid, stat[1] if stat else '0')
      with self.assertRaisesRegex(
          FileExistsError, r"Another merge into '.*merged.ckpt' is running "
          r"\(pid %d on host .*%s" % (sleeper.pid, os.path.basename(folder))):
        _merge.merge_checkpoints([self.source], self.output)
      self.assertTrue(os.path.isdir(folder))
    finally:
      sleeper.kill()
      sleeper.wait()
    _merge.merge_checkpoints([self.source], self.output)
    self.assertFalse(os.path.exists(folder))

  def test_a_merge_started_meanwhile_stops_the_commit(self):
    _merge.merge_checkpoints([self.source], self.output)
    before = _hash_tree(os.path.dirname(self.output))
    real_write = _write.write
    stat = _staging._proc_stat(os.getppid())
    made = []

    def write_while_another_starts(*args):
      made.append(self._folder(os.getppid(), stat[1] if stat else '0'))
      return real_write(*args)

    with mock.patch.object(_write, 'write', write_while_another_starts):
      with self.assertRaisesRegex(
          FileExistsError, r'Another merge into .* is running \(pid %d' %
          os.getppid()):
        _merge.merge_checkpoints([self.source], self.output, overwrite=True)
    shutil.rmtree(made[0])
    self.assertEqual(_hash_tree(os.path.dirname(self.output)), before)

  def test_a_folder_of_another_host_stops_the_merge(self):
    folder = self._folder(1, '0', host='elsewhere.example')
    with self.assertRaisesRegex(
        FileExistsError, r'on host elsewhere.example.*if it is not running, '
        'delete that folder'):
      _merge.merge_checkpoints([self.source], self.output)
    self.assertTrue(os.path.isdir(folder))

  def test_a_reused_pid_is_not_taken_for_the_writer(self):
    stat = _staging._proc_stat(os.getppid())
    if stat is None:
      self.skipTest('No /proc: process start times are unknown.')
    folder = self._folder(os.getppid(), str(int(stat[1]) + 1))  # Not it.
    _merge.merge_checkpoints([self.source], self.output)
    self.assertFalse(os.path.exists(folder))

  def test_a_folder_of_this_process_no_merge_uses_is_stale(self):
    folder = self._folder(os.getpid(), _staging._own_start())
    _merge.merge_checkpoints([self.source], self.output)
    self.assertFalse(os.path.exists(folder))

  def test_folders_of_earlier_versions_are_named_and_kept(self):
    legacy = os.path.join(os.path.dirname(self.output),
                          '.merged.ckpt.merge-0123456789ab')
    os.makedirs(os.path.join(legacy, 'previous'))
    with self.assertLogs('absl', 'WARNING') as logs:
      _merge.merge_checkpoints([self.source], self.output)
    self.assertRegex('\n'.join(logs.output),
                     r'Found .*merge-0123456789ab, left by an earlier '
                     r'warmstart version.*previous')
    self.assertTrue(os.path.isdir(os.path.join(legacy, 'previous')))

  def test_folders_of_other_outputs_are_left_alone(self):
    other = os.path.join(os.path.dirname(self.output),
                         '.merged.ckpt2.merge-%s-1-0-%s@%s' %
                         ('f' * 12, '0' * 8, _staging._host()))
    os.makedirs(other)
    _merge.merge_checkpoints([self.source], self.output)
    self.assertTrue(os.path.isdir(other))

  def test_unreferenced_data_files_stay_without_a_dead_merge(self):
    # Without a staging folder, nothing says a merge left them: refused.
    stray = self.output + '.data-00000-of-00002'
    with open(stray, 'wb') as f:
      f.write(b'not ours')
    with self.assertRaisesRegex(FileExistsError,
                                r'exists \(merged.ckpt.data-00000-of-00002\)'):
      _merge.merge_checkpoints([self.source], self.output)
    with open(stray, 'rb') as f:
      self.assertEqual(f.read(), b'not ours')
    _merge.merge_checkpoints([self.source], self.output, overwrite=True)
    self.assertFalse(os.path.exists(stray))

  def test_an_unreadable_index_keeps_its_data_files(self):
    # A dead merge's debris next to an index this cannot read: its data
    # files are left alone (named in a warning), the merge still replaces it.
    _merge.merge_checkpoints([self.source], self.output)
    with open(self.output + '.index', 'wb') as f:
      f.write(b'damaged')
    folder = self._folder(2 ** 22 + 7, '0')  # No process has this pid.
    with self.assertLogs('absl', 'WARNING') as logs:
      _merge.merge_checkpoints([self.source], self.output, overwrite=True)
    self.assertIn('Left the data files of %s alone' % self.output,
                  '\n'.join(logs.output))
    self.assertFalse(os.path.exists(folder))
    self.assertEqual(sorted(os.listdir(os.path.dirname(self.output))), [
        'merged.ckpt.data-00000-of-00002', 'merged.ckpt.data-00001-of-00002',
        'merged.ckpt.index'])

# Runs in a mount namespace of its own (`unshare`), after the shell there
# mounted what the test asked for. Each request is one merge; the reply says
# what it raised and what it left.
_IN_NAMESPACE = r'''
import json, os, sys
import tensorflow as tf
from warmstart import _merge


def tree(directory):
  found = {}
  for root, dirs, files in os.walk(directory):
    for name in dirs + files:
      path = os.path.join(root, name)
      found[os.path.relpath(path, directory)] = (
          None if os.path.isdir(path) else os.path.getsize(path))
  return found


replies = []
for request in json.loads(sys.argv[1]):
  reply = {'realpath': os.path.realpath(os.path.dirname(request['output']))}
  before = tree(request['watch'])
  try:
    _merge.merge_checkpoints([tuple(s) for s in request['sources']],
                             request['output'], **request['kwargs'])
    reply['error'] = None
  except Exception as e:
    reply['error'] = {'mro': [c.__name__ for c in type(e).__mro__],
                      'errno': getattr(e, 'errno', None),
                      'num_bytes': getattr(e, 'num_bytes', None),
                      'message': str(e)}
  reply['before'], reply['after'] = before, tree(request['watch'])
  if os.path.exists(request['output'] + '.index'):
    reader = tf.compat.v1.train.NewCheckpointReader(request['output'])
    reply['values'] = {n: repr(reader.get_tensor(n).tolist())
                       for n in reader.get_variable_to_shape_map()}
  replies.append(reply)
print('REPLIES ' + json.dumps(replies))
'''


class RealFilesystemTest(tf.test.TestCase):
  """A real bind mount and a real full filesystem, in a mount namespace.

  `unshare --mount --map-root-user` gives a child process mounts of its own
  (no root needed where user namespaces are allowed); the mounts end with
  it. Where it cannot (no `unshare`, a sandbox), the tests skip.
  """

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.inputs = os.path.join(self.root, 'inputs')
    self.a, self.a_values = test_util.save_checkpoint(
        os.path.join(self.inputs, 'a'), _small_a, seed=1)
    self.b, self.b_values = test_util.save_checkpoint(
        os.path.join(self.inputs, 'b'), _small_b, seed=2)
    self.inputs_before = _hash_tree(self.inputs)

  def tearDown(self):
    self.assertEqual(_hash_tree(self.inputs), self.inputs_before)
    super().tearDown()

  def in_namespace(self, mount: str, requests: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """Runs `mount` (shell), then each merge of `requests`, in a namespace."""
    unshare = shutil.which('unshare')
    if unshare is None:
      self.skipTest('No unshare command: cannot make a mount namespace.')
    probe_dir = os.path.join(self.root, 'probe')
    os.makedirs(probe_dir, exist_ok=True)
    probe = subprocess.run(
        [unshare, '--mount', '--map-root-user', 'sh', '-c',
         'mount -t tmpfs -o size=64k tmpfs "$0" && mount --bind "$0" "$0"',
         probe_dir], capture_output=True, text=True, timeout=60, check=False)
    if probe.returncode != 0:
      self.skipTest('Cannot mount in a mount namespace here (unshare '
                    '--mount --map-root-user: %s): a bind mount and a small '
                    'filesystem need that (or root).' %
                    probe.stderr.strip()[-300:])
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(
        warmstart.__file__)))
    env['PYTHONPATH'] = os.pathsep.join(
        [root] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    done = subprocess.run(
        [unshare, '--mount', '--map-root-user', 'sh', '-c',
         'set -e; %s; exec "$0" -c "$1" "$2"' % mount, sys.executable,
         _IN_NAMESPACE, json.dumps(requests)],
        capture_output=True, text=True, timeout=_TIMEOUT, env=env,
        check=False)
    replies = [line for line in done.stdout.splitlines()
               if line.startswith('REPLIES ')]
    if done.returncode != 0 or not replies:
      self.fail('The merges in the mount namespace failed (%d): %s' %
                (done.returncode, done.stderr[-4000:]))
    return json.loads(replies[0][len('REPLIES '):])

  def test_output_reaching_a_source_through_a_bind_mount(self):
    alias = os.path.join(self.root, 'alias')
    os.makedirs(alias)
    source_dir = os.path.dirname(self.a)
    through = os.path.join(alias, os.path.basename(self.a))
    other = os.path.join(alias, 'other.ckpt')
    replies = self.in_namespace(
        'mount --bind %s %s' % (shlex.quote(source_dir), shlex.quote(alias)),
        [{'sources': [(self.a, {'/': 'a/'}), (self.b, {'/': 'b/'})],
          'output': through, 'kwargs': {'overwrite': overwrite},
          'watch': source_dir} for overwrite in (True, False)] +
        [{'sources': [(self.b, None)], 'output': other, 'kwargs': {},
          'watch': source_dir}])
    stat = os.stat(source_dir)
    for reply in replies[:2]:
      # The path does not tell: realpath stops at the mount point.
      self.assertEqual(reply['realpath'], alias)
      self.assertEqual(reply['error']['mro'][:2], ['SettingsError', 'Error'])
      self.assertRegex(
          reply['error']['message'],
          r'^Output %s is one of the sources: %s\. Their directories %s and '
          r'%s are the same directory \(device %d, inode %d\), reached by two '
          r'paths \(a bind mount' %
          (re.escape(repr(through)), re.escape(repr(self.a)),
           re.escape(repr(alias)), re.escape(repr(source_dir)), stat.st_dev,
           stat.st_ino))
      self.assertEqual(reply['after'], reply['before'])
    # Another name through the mount is fine, and lands in the source's
    # directory: the mount was real.
    self.assertIsNone(replies[2]['error'])
    self.assertEqual(_digests(_read(os.path.join(source_dir, 'other.ckpt'))),
                     _digests(self.b_values))
    for name in os.listdir(source_dir):
      if name.startswith('other.ckpt'):
        os.remove(os.path.join(source_dir, name))

  def test_full_filesystem(self):
    big, big_values = test_util.save_checkpoint(
        os.path.join(self.root, 'big'), _big(1, 256), seed=5)  # 1 MiB.
    num_bytes = sum(v.nbytes for v in big_values.values())
    small_bytes = _merge.plan_merge([self.b]).num_bytes
    tiny = os.path.join(self.root, 'tiny')
    os.makedirs(tiny)
    new = os.path.join(tiny, 'new', 'merged.ckpt')
    old = os.path.join(tiny, 'old', 'merged.ckpt')
    replies = self.in_namespace(
        'mount -t tmpfs -o size=512k tmpfs %s' % shlex.quote(tiny),
        [{'sources': [(big, None)], 'output': new, 'kwargs': {},
          'watch': tiny},
         {'sources': [(self.b, None)], 'output': old, 'kwargs': {},
          'watch': tiny},
         {'sources': [(big, None)], 'output': old,
          'kwargs': {'overwrite': True}, 'watch': tiny}])
    full_new, small, full_old = replies
    self.assertIsNone(small['error'])
    for reply, output, overwrite in ((full_new, new, False),
                                     (full_old, old, True)):
      error = reply['error']
      self.assertIsNotNone(error, output)
      self.assertEqual(error['mro'][:3], ['OutOfSpaceError', 'Error', 'OSError'])
      self.assertEqual((error['errno'], error['num_bytes']),
                       (errno.ENOSPC, num_bytes))
      self.assertRegex(
          error['message'],
          r'^No space left on device \(ENOSPC\) while merging into %s: the '
          r'merge writes %d bytes \(1\.0 MiB in 1 tensor, .*\) plus its '
          r'index; \d+ bytes \(.*\) are free there now\. Nothing of it was '
          r'left \(no staging folder, no partial output\)%s\.' %
          (re.escape(repr(output)), num_bytes,
           '; the checkpoint that was at the output is unchanged'
           if overwrite else ''))
      self.assertEqual(reply['after'], reply['before'], output)
    self.assertNotIn('new', full_new['after'])  # The directory it made too.
    self.assertEqual(full_old['values'], small['values'])
    self.assertEqual(
        {n: repr(np.asarray(v).tolist()) for n, v in self.b_values.items()},
        full_old['values'])
    self.assertLess(small_bytes, num_bytes)


if __name__ == '__main__':
  tf.test.main()
