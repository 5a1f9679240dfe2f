"""Every code block of README.md and docs/ runs here: the docs are tests.

Each ```python block of README.md and of every page under docs/ runs in a
fresh graph, a fresh namespace (with `tf` and `warmstart` imported) and a
fresh working directory; a renamed option, a changed signature or a changed
output fails here instead of failing a reader. An HTML comment on the lines
before a fence tells how (docs/writing_docs.md documents it):

    <!-- test: setup=base,student -->    fixtures first (below: `_FIXTURES`)
    <!-- test: raises=MismatchError -->  the block must raise this error
    <!-- test: continue -->              same namespace, graph and folder as
                                         the block before it on the page
    <!-- test: output -->                (on a ```text block) what the block
                                         before it prints, `...` matching
                                         anything; after a `raises` block
                                         the last line is `Error: message`
    <!-- test: file=train.py -->         write the block to this file (a
                                         program a ```sh block runs)
    <!-- test: run -->                   (on a ```sh block) run its commands
                                         (`python` is this interpreter)
    <!-- test: skip reason="..." -->     not run, with the reason

Keys combine in one comment. Paths under `/models/` name the fixtures'
checkpoints: the block runs with `/models/` moved into its working
directory, and printed paths are moved back. Blocks that use Estimator
(`tf.estimator`, `wrap_model_fn`, `wrap_estimator`) skip where TensorFlow has
none (tests/test_util.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import io
import os
import pathlib
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any, Optional

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util

# ---------------------------------------------------------------------------
# The pages and their blocks.

_MARKER = re.compile(r'^\s*<!--\s*test:(.*?)-->\s*$')
_FENCE = re.compile(r'^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*'
                    r'(?P<lang>[\w+-]*)[^`]*$')
#: Languages a fence may name; python blocks run, sh blocks run when marked.
_LANGUAGES = frozenset({'python', 'sh', 'text', 'json', 'toml', 'yaml',
                        'starlark'})
_KEYS = frozenset({'setup', 'raises', 'continue', 'output', 'file', 'run',
                   'skip', 'reason'})
_USES_ESTIMATOR = re.compile(r'\btf\.estimator\b|\bwrap_model_fn\b|'
                             r'\bwrap_estimator\b')
_MODELS = '/models/'


def _root() -> pathlib.Path:
  srcdir = os.environ.get('TEST_SRCDIR')
  if srcdir:
    root = pathlib.Path(srcdir) / os.environ.get('TEST_WORKSPACE', 'warmstart')
    if (root / 'README.md').is_file():
      return root
  return pathlib.Path(__file__).resolve().parent.parent


def pages(root: pathlib.Path) -> list[str]:
  """README.md and every page of docs/, as paths from the root."""
  return ['README.md'] + sorted(p.relative_to(root).as_posix()
                                for p in (root / 'docs').rglob('*.md'))


@dataclasses.dataclass
class Block:
  """One fenced block of a page, with the marker before it (if any)."""

  page: str
  line: int  # Of the opening fence, from 1.
  lang: str
  code: str
  marker: dict[str, str]
  marker_line: Optional[int] = None

  @property
  def where(self) -> str:
    return '%s:%d' % (self.page, self.line)

  @property
  def runs(self) -> bool:
    return 'skip' not in self.marker and (
        (self.lang == 'python' and 'file' not in self.marker) or
        (self.lang == 'sh' and 'run' in self.marker))


def parse_marker(text: str) -> dict[str, str]:
  """'setup=a,b raises=X continue' -> {'setup': 'a,b', 'raises': 'X', ...}."""
  marker = {}
  for word in shlex.split(text):
    key, _, value = word.partition('=')
    marker[key] = value
  return marker


def parse(page: str, text: str) -> tuple[list[Block], list[str]]:
  """The fenced blocks of a page, and the problems found on the way."""
  blocks, problems = [], []
  marker, marker_line = None, None
  lines = text.splitlines()
  i = 0
  while i < len(lines):
    line = lines[i]
    found = _MARKER.match(line)
    fence = _FENCE.match(line)
    if found:
      if marker is not None:
        problems.append('%s:%d: two markers before one block' %
                        (page, i + 1))
      marker, marker_line = parse_marker(found.group(1)), i + 1
    elif fence:
      indent, mark = fence.group('indent'), fence.group('fence')
      start, body, i = i + 1, [], i + 1
      while i < len(lines):
        close = lines[i].strip()
        if close.startswith(mark[0] * len(mark)) and not close.strip(
            mark[0]):
          break
        body.append(lines[i][len(indent):] if lines[i].startswith(indent)
                    else lines[i].lstrip())
        i += 1
      else:
        problems.append('%s:%d: a fence that never closes' % (page, i))
      blocks.append(Block(page, start, fence.group('lang'),
                          '\n'.join(body) + '\n', marker or {}, marker_line))
      marker, marker_line = None, None
    elif line.strip() and marker is not None:
      problems.append('%s:%d: a test marker not followed by a code block' %
                      (page, marker_line))
      marker, marker_line = None, None
    i += 1
  if marker is not None:
    problems.append('%s:%d: a test marker at the end of the page' %
                    (page, marker_line))
  return blocks, problems


def _error_class(name: str) -> Optional[type]:
  for space in (warmstart, tf.errors, __builtins__):
    found = (space.get(name) if isinstance(space, dict)
             else getattr(space, name, None))
    if isinstance(found, type) and issubclass(found, BaseException):
      return found
  return None


@dataclasses.dataclass
class Chain:
  """Blocks that run together: a block and the `continue` ones after it."""

  blocks: list[Block]
  outputs: dict[int, Block]  # Index in `blocks` -> its `output` block.

  @property
  def name(self) -> str:
    first = self.blocks[0]
    return re.sub(r'\W', '_', '%s_L%d' % (first.page[:-3], first.line))


def chains(root: pathlib.Path) -> list[Chain]:
  """Every page's runnable blocks, grouped in chains."""
  found = []
  for page in pages(root):
    blocks, _ = parse(page, (root / page).read_text(encoding='utf-8'))
    last = None  # The last block that runs, or writes a file.
    for block in blocks:
      if 'output' in block.marker and last is not None:
        last.outputs[len(last.blocks) - 1] = block
        continue
      if not (block.runs or 'file' in block.marker):
        continue
      if 'continue' in block.marker and last is not None:
        last.blocks.append(block)
      else:
        last = Chain([block], {})
        found.append(last)
  return found


# ---------------------------------------------------------------------------
# Fixtures: the checkpoints, graphs and names the examples use.


@dataclasses.dataclass
class Context:
  """What fixtures and blocks share: the folder, the namespace, the graph."""

  work: str
  namespace: dict[str, Any]
  graph: tf.Graph

  def models(self, *parts: str) -> str:
    return os.path.join(self.work, 'models', *parts)


def _dense(inputs: tf.Tensor, units: int, scope: str,
           dtype: tf.DType = tf.float32) -> tf.Tensor:
  with tf.compat.v1.variable_scope(scope):
    kernel = tf.compat.v1.get_variable('kernel', [inputs.shape[-1], units],
                                       dtype=dtype)
    bias = tf.compat.v1.get_variable(
        'bias', [units], dtype=dtype,
        initializer=tf.compat.v1.zeros_initializer())
    return tf.matmul(inputs, kernel) + bias


def build_encoder(words: tf.Tensor, scope: str = 'encoder',
                  vocab_size: int = 20,
                  dtype: tf.DType = tf.float32) -> tf.Tensor:
  """An embedding of 4 and two dense layers of 8, under `scope`."""
  with tf.compat.v1.variable_scope(scope):
    embedding = tf.compat.v1.get_variable('embedding', [vocab_size, 4],
                                          dtype=dtype)
    hidden = tf.nn.embedding_lookup(embedding, words)
    for i in range(2):
      hidden = tf.nn.relu(_dense(hidden, 8, 'layer_%d' % i, dtype))
    return hidden


def build_model(words: tf.Tensor, encoder: str = 'encoder',
                head: str = 'logits', vocab_size: int = 20,
                num_classes: int = 10,
                dtype: tf.DType = tf.float32) -> tf.Tensor:
  """The examples' model: `build_encoder` and a dense head; the logits."""
  return _dense(build_encoder(words, encoder, vocab_size, dtype),
                num_classes, head, dtype)


_OLD_WORDS = ['w%02d' % i for i in range(20)]
_NEW_WORDS = _OLD_WORDS[::-1] + ['n%d' % i for i in range(4)]


def _features() -> tf.Tensor:
  return tf.constant([0, 3, 7, 11, 19, 2, 5, 8], tf.int32)


def _train_and_save(prefix: str, build: Callable[[tf.Tensor], tf.Tensor],
                    num_classes: int = 10, moving_averages: bool = True,
                    step: int = 100) -> str:
  """Builds, trains 2 steps (Momentum slots, a moving average), saves."""
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(1)
    logits = build(_features())
    labels = tf.constant([i % num_classes for i in range(8)])
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    global_step = tf.compat.v1.train.get_or_create_global_step()
    train = tf.compat.v1.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
    ops = [train]
    if moving_averages:
      ema = tf.compat.v1.train.ExponentialMovingAverage(0.9)
      with tf.control_dependencies([train]):
        ops = [ema.apply(tf.compat.v1.trainable_variables())]
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(global_step.assign(step))
      for _ in range(2):
        sess.run(ops)
      return saver.save(sess, prefix, global_step=global_step)


def _write_lines(path: str, lines: list[str]) -> None:
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')


def _base(ctx: Context) -> None:
  """/models/base: `build_model()` trained (slots, moving averages, step
  100), with old_vocab.txt (its 20 words) and new_vocab.txt (24 words: the
  20 in another order, 4 new) in the working directory."""
  _train_and_save(ctx.models('base', 'model.ckpt'), build_model)
  _write_lines(os.path.join(ctx.work, 'old_vocab.txt'), _OLD_WORDS)
  _write_lines(os.path.join(ctx.work, 'new_vocab.txt'), _NEW_WORDS)


def _towers(ctx: Context) -> None:
  """/models/text and /models/image: two models with an `encoder/` each."""
  for seed, name in enumerate(('text', 'image')):
    _train_and_save(ctx.models(name, 'model.ckpt'),
                    lambda w, s=seed: build_model(w, head='logits_%d' % s),
                    moving_averages=False)


def _old_names(ctx: Context) -> None:
  """/models/base under `old/` (old/encoder/..., old/head/...)."""
  _train_and_save(
      ctx.models('base', 'model.ckpt'),
      lambda w: build_model(w, encoder='old/encoder', head='old/head'),
      moving_averages=False)


def _batch_norm(ctx: Context) -> None:
  """/models/base: `bn/gamma`, `bn/beta` and, not trainable,
  `bn/moving_mean`, `bn/moving_variance`; the graph has the same."""

  def build() -> None:
    for name, trainable in (('gamma', True), ('beta', True),
                            ('moving_mean', False),
                            ('moving_variance', False)):
      tf.compat.v1.get_variable('bn/' + name, [8], trainable=trainable)

  test_util.save_checkpoint(ctx.models('base'), build)
  with ctx.graph.as_default():
    build()


def _fused(ctx: Context) -> None:
  """/models/pt: `attn/qkv/kernel` [8, 24] (fused q, k, v), `attn/qkv/bias`
  [24], `dense/weight` [5, 3] ([out, in]), `pos_emb` [20, 6] and
  `split/q`, `split/k`, `split/v` [8, 8]; the graph:
  `q/kernel`, `k/kernel`, `v/kernel` [8, 8], `dense/kernel` [3, 5] and
  `pos_emb` [12, 6]."""

  def source() -> None:
    get = tf.compat.v1.get_variable
    get('attn/qkv/kernel', [8, 24])
    get('attn/qkv/bias', [24])
    get('dense/weight', [5, 3])
    get('pos_emb', [20, 6])
    for name in 'qkv':
      get('split/%s' % name, [8, 8])

  test_util.save_checkpoint(ctx.models('pt'), source)
  with ctx.graph.as_default():
    for name in 'qkv':
      tf.compat.v1.get_variable('%s/kernel' % name, [8, 8])
    tf.compat.v1.get_variable('dense/kernel', [3, 5])
    tf.compat.v1.get_variable('pos_emb', [12, 6])


def _tf2(ctx: Context) -> None:
  """/models/keras/ckpt-5: a TF2 object-based checkpoint (eager) holding
  variables named dense/kernel, dense/bias, dense_1/kernel, dense_1/bias."""

  class Dense(tf.Module):

    def __init__(self, name: str, inputs: int, units: int):
      super().__init__(name=name)
      with self.name_scope:
        self.kernel = tf.Variable(tf.ones([inputs, units]), name='kernel')
        self.bias = tf.Variable(tf.zeros([units]), name='bias')

  model = tf.Module()
  model.layers = [Dense('dense', 4, 8), Dense('dense_1', 8, 2)]
  tf.train.Checkpoint(model=model).write(ctx.models('keras', 'ckpt-5'))


def _student(ctx: Context) -> None:
  """The graph: `student/encoder/...` and a `head/` of 10 classes."""
  build_model(_features(), encoder='student/encoder', head='head')


def _same_model(ctx: Context) -> None:
  """The graph: `build_model()`, the model /models/base holds."""
  build_model(_features())


def _training_graph(ctx: Context) -> None:
  """The graph: `build_model()` with its training op (Momentum slots) and a
  global step, as /models/base was trained."""
  logits = build_model(_features())
  loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(
      tf.constant([i % 10 for i in range(8)]), logits)
  tf.compat.v1.train.MomentumOptimizer(0.1, 0.9).minimize(
      loss, global_step=tf.compat.v1.train.get_or_create_global_step())


def _bigger_head(ctx: Context) -> None:
  """The graph: `build_model()` with 12 classes instead of 10."""
  build_model(_features(), num_classes=12)


def _bfloat16(ctx: Context) -> None:
  """The graph: `build_model()` in bfloat16."""
  build_model(_features(), dtype=tf.bfloat16)


def _new_names(ctx: Context) -> None:
  """The graph: `new/encoder/...` and `new/head/...`."""
  build_model(_features(), encoder='new/encoder', head='new/head')


def _two_towers(ctx: Context) -> None:
  """The graph: `text_tower/` and `image_tower/` encoders."""
  build_encoder(_features(), 'text_tower')
  build_encoder(_features(), 'image_tower')


def _student_dense(ctx: Context) -> None:
  """The graph: `student/dense/...`, `student/dense_1/...` (graph mode)."""
  for name, shape in (('dense', [4, 8]), ('dense_1', [8, 2])):
    with tf.compat.v1.variable_scope('student/' + name):
      tf.compat.v1.get_variable('kernel', shape)
      tf.compat.v1.get_variable('bias', shape[-1:])


def _names(ctx: Context) -> None:
  """`features` (8 word ids, a numpy array: any graph takes it) and
  `build_model(features, ...)` in the block's namespace."""
  ctx.namespace['features'] = np.array([0, 3, 7, 11, 19, 2, 5, 8], np.int32)
  ctx.namespace['build_model'] = build_model


def _input_fn() -> tf.data.Dataset:
  words = np.arange(64, dtype=np.int32) % 20
  return tf.data.Dataset.from_tensor_slices(
      ({'words': words}, words % 10)).batch(8)


def _model_fn(vocab_size: int) -> Callable[..., Any]:
  """An Estimator model_fn of `build_model`, trained with Momentum."""

  def my_model_fn(features, labels, mode):
    logits = build_model(features['words'], vocab_size=vocab_size)
    predictions = {'class': tf.argmax(logits, 1)}
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.compat.v1.train.MomentumOptimizer(0.01, 0.9).minimize(
        loss, global_step=tf.compat.v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      predictions=predictions)

  return my_model_fn


def _estimator(ctx: Context) -> None:
  """`my_model_fn` (`build_model` of `features['words']`, with a vocabulary
  of 25: new_vocab.txt and one OOV bucket) and `input_fn` (8 batches of 8
  word ids)."""
  ctx.namespace['my_model_fn'] = _model_fn(vocab_size=len(_NEW_WORDS) + 1)
  ctx.namespace['input_fn'] = _input_fn


def _canned(ctx: Context) -> None:
  """/models/base: a `DNNClassifier([256, 64])` trained one step;
  `feature_columns` and `input_fn` to build and train another."""
  feature_columns = [tf.feature_column.numeric_column('x', shape=[4])]

  def input_fn():
    x = np.arange(32, dtype=np.float32).reshape(8, 4) / 32
    return tf.data.Dataset.from_tensor_slices(
        ({'x': x}, np.arange(8) % 2)).batch(4)

  classifier = tf.estimator.DNNClassifier(
      [256, 64], feature_columns, model_dir=ctx.models('base'))
  classifier.train(input_fn, steps=1)
  ctx.namespace['feature_columns'] = feature_columns
  ctx.namespace['input_fn'] = input_fn


def _my_project(ctx: Context) -> None:
  """my_project/model.py in the working directory: `build_graph()` builds
  the `student` graph (what `--model my_project.model:build_graph` runs);
  `my_model_fn`, a model_fn a program wraps and never calls."""
  package = os.path.join(ctx.work, 'my_project')
  os.makedirs(package)
  _write_lines(os.path.join(package, '__init__.py'), [])
  with open(os.path.join(package, 'model.py'), 'w') as f:
    f.write('import tensorflow as tf\n\n\n'
            'def build_graph():\n'
            '  words = tf.constant([1, 2, 3])\n'
            "  with tf.compat.v1.variable_scope('student/encoder'):\n"
            "    tf.compat.v1.get_variable('embedding', [20, 4])\n"
            "    tf.compat.v1.get_variable('layer_0/kernel', [4, 8])\n"
            "    tf.compat.v1.get_variable('layer_0/bias', [8])\n"
            "    tf.compat.v1.get_variable('layer_1/kernel', [8, 8])\n"
            "    tf.compat.v1.get_variable('layer_1/bias', [8])\n"
            "  tf.compat.v1.get_variable('head/kernel', [8, 10])\n"
            "  tf.compat.v1.get_variable('head/bias', [10])\n"
            '  del words\n\n\n'
            'def my_model_fn(features, labels, mode):\n'
            '  del features, labels, mode  # The docs only wrap it.\n'
            "  raise NotImplementedError('a model_fn for the docs')\n")


#: name -> (what it makes, whether it needs Estimator).
_FIXTURES: dict[str, tuple[Callable[[Context], None], bool]] = {
    'base': (_base, False),
    'towers': (_towers, False),
    'old_names': (_old_names, False),
    'batch_norm': (_batch_norm, False),
    'tf2': (_tf2, False),
    'fused': (_fused, False),
    'student': (_student, False),
    'same_model': (_same_model, False),
    'training_graph': (_training_graph, False),
    'bigger_head': (_bigger_head, False),
    'bfloat16': (_bfloat16, False),
    'new_names': (_new_names, False),
    'two_towers': (_two_towers, False),
    'student_dense': (_student_dense, False),
    'names': (_names, False),
    'estimator': (_estimator, True),
    'canned': (_canned, True),
    'my_project': (_my_project, False),
}
#: Fixtures that make files (run outside the block's graph, eager where
#: TF2 is); the others build into the block's graph.
_FILE_FIXTURES = frozenset({'base', 'towers', 'old_names', 'tf2', 'canned',
                            'my_project'})


# ---------------------------------------------------------------------------
# Running a chain.


def _moved(code: str, ctx: Context) -> str:
  return code.replace(_MODELS, os.path.join(ctx.work, 'models') + '/')


def _moved_back(text: str, ctx: Context) -> str:
  return text.replace(os.path.join(ctx.work, 'models') + '/', _MODELS)


@contextlib.contextmanager
def _in_directory(path: str) -> Iterator[None]:
  before = os.getcwd()
  os.chdir(path)
  try:
    yield
  finally:
    os.chdir(before)


def _run_python(block: Block, ctx: Context) -> str:
  """Runs a python block; returns what it printed (and raised)."""
  out = io.StringIO()
  expected = block.marker.get('raises')
  code = compile(_moved(block.code, ctx), block.where, 'exec')
  try:
    with ctx.graph.as_default(), contextlib.redirect_stdout(out):
      exec(code, ctx.namespace)  # pylint: disable=exec-used
  except Exception as e:  # pylint: disable=broad-except
    if not expected:
      raise AssertionError('%s raised %s: %s' % (block.where,
                                                 type(e).__name__, e)) from e
    cls = _error_class(expected)
    if not isinstance(e, cls):
      raise AssertionError('%s raised %s, not %s: %s' % (
          block.where, type(e).__name__, expected, e)) from e
    out.write('%s: %s\n' % (type(e).__name__, e))
  else:
    if expected:
      raise AssertionError('%s raised no %s' % (block.where, expected))
  return _moved_back(out.getvalue(), ctx)


def _run_sh(block: Block, ctx: Context) -> str:
  """Runs a sh block's commands (bash -e); returns their stdout."""
  python = 'python() { %s "$@"; }\n' % shlex.quote(sys.executable)
  paths = [str(_root()), ctx.work] + [p for p in [os.environ.get('PYTHONPATH')]
                                      if p]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths),
             TF_CPP_MIN_LOG_LEVEL='3')
  done = subprocess.run(['bash', '-e', '-c', python + _moved(block.code, ctx)],
                        cwd=ctx.work, env=env, capture_output=True, text=True,
                        timeout=600, check=False)
  if done.returncode:
    raise AssertionError('%s exited %d:\n%s\n%s' % (
        block.where, done.returncode, done.stdout[-3000:],
        done.stderr[-3000:]))
  return _moved_back(done.stdout, ctx)


def _rules(text: str) -> str:
  """A table's ----- rules shortened: their width follows the temporary
  folder's path."""
  return re.sub(r'-{3,}', '--', text)


def _check_output(block: Block, expected: Block, got: str) -> None:
  checker = doctest.OutputChecker()
  flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
  if not checker.check_output(_rules(expected.code), _rules(got), flags):
    raise AssertionError(
        '%s printed what %s does not show:\n%s' % (
            block.where, expected.where,
            checker.output_difference(doctest.Example('', expected.code),
                                      got, flags)))


def run_chain(chain: Chain, work: str) -> None:
  """Runs the blocks of `chain` in `work`, with their fixtures."""
  ctx = Context(work, {'tf': tf, 'warmstart': warmstart,
                       '__name__': '__docs__'}, tf.Graph())
  with _in_directory(work):
    for index, block in enumerate(chain.blocks):
      setups = [s for s in block.marker.get('setup', '').split(',') if s]
      for name in setups:
        if name in _FILE_FIXTURES:
          _FIXTURES[name][0](ctx)
      with ctx.graph.as_default():
        tf.compat.v1.set_random_seed(0)
        for name in setups:
          if name not in _FILE_FIXTURES:
            _FIXTURES[name][0](ctx)
      if 'file' in block.marker:
        with open(block.marker['file'], 'w') as f:
          f.write(block.code)
        compile(block.code, block.where, 'exec')
        got = ''
      elif block.lang == 'python':
        got = _run_python(block, ctx)
      else:
        got = _run_sh(block, ctx)
      if index in chain.outputs:
        _check_output(block, chain.outputs[index], got)


def _needs_estimator(chain: Chain) -> bool:
  for block in chain.blocks:
    setups = block.marker.get('setup', '').split(',')
    if _USES_ESTIMATOR.search(block.code) or any(
        _FIXTURES.get(s, (None, False))[1] for s in setups):
      return True
  return False


_CHAINS = chains(_root())


class DocsCodeTest(parameterized.TestCase):

  @parameterized.named_parameters(
      (chain.name, chain) for chain in _CHAINS)
  def test_block(self, chain: Chain):
    if _needs_estimator(chain) and not test_util.HAS_ESTIMATOR:
      self.skipTest(test_util.ESTIMATOR_REASON)
    run_chain(chain, self.create_tempdir().full_path)


class MarkersTest(absltest.TestCase):
  """The blocks and their markers are well formed (a typo runs nothing)."""

  def setUp(self):
    super().setUp()
    self.root = _root()
    self.blocks = []
    self.problems = []
    for page in pages(self.root):
      blocks, problems = parse(page,
                               (self.root / page).read_text(encoding='utf-8'))
      self.blocks.extend(blocks)
      self.problems.extend(problems)

  def test_finds_the_blocks(self):
    self.assertIn('README.md', {b.page for b in self.blocks})
    self.assertGreater(len([b for b in self.blocks if b.runs]), 40)

  def test_markers_and_fences_are_well_formed(self):
    self.assertEqual([], self.problems)

  def test_every_fence_names_a_known_language(self):
    for block in self.blocks:
      with self.subTest(block.where):
        self.assertIn(block.lang, _LANGUAGES,
                      '%s: a fence needs one of %s' % (
                          block.where, sorted(_LANGUAGES)))

  def test_markers_use_known_keys_and_values(self):
    for block in self.blocks:
      marker = block.marker
      with self.subTest(block.where):
        self.assertEqual(set(), set(marker) - _KEYS, block.where)
        for name in marker.get('setup', '').split(','):
          if name:
            self.assertIn(name, _FIXTURES, '%s: no fixture %r' %
                          (block.where, name))
        if 'raises' in marker:
          self.assertIsNotNone(_error_class(marker['raises']), block.where)
          self.assertEqual('python', block.lang, block.where)
        if 'skip' in marker:
          self.assertTrue(marker.get('reason'),
                          '%s: skip needs reason="..."' % block.where)
        if 'reason' in marker:
          self.assertIn('skip', marker, block.where)
        if 'run' in marker:
          self.assertEqual('sh', block.lang, block.where)
        if 'file' in marker:
          self.assertEqual('python', block.lang, block.where)
        if 'output' in marker:
          self.assertNotEqual('python', block.lang, block.where)

  def test_every_output_follows_a_block_that_runs(self):
    owned = {b.where for chain in _CHAINS for b in chain.outputs.values()}
    for block in self.blocks:
      if 'output' in block.marker:
        self.assertIn(block.where, owned, '%s: an output block after no '
                      'block that runs' % block.where)

  def test_python_blocks_run_or_say_why_not(self):
    for block in self.blocks:
      if block.lang == 'python':
        with self.subTest(block.where):
          self.assertTrue(block.runs or 'file' in block.marker or
                          block.marker.get('reason'), block.where)
    skipped = [b.where for b in self.blocks if 'skip' in b.marker]
    self.assertLessEqual(len(skipped), 3, 'skip is for the rare block that '
                         'cannot run here: %s' % skipped)


if __name__ == '__main__':
  absltest.main()
