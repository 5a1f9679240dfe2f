"""Measures how a call walks through warmstart's modules, layer by layer.

Records, with `sys.setprofile` (and `threading.setprofile`), every call and
return of a Python function whose code lives under the `warmstart/` package,
for two walks:

* `settings`: a `warmstart.WarmStartSettings` (one source checkpoint, a
  `vars_to_warm_start` regex, one `var_name_to_prev_var_name` entry) through
  `warmstart.wrap_model_fn` and `tf.estimator.Estimator.train(steps=1)` from
  an empty model_dir;
* `assignment_map`: an assignment map with a scope entry through
  `warmstart.init_from_checkpoint` in a `tf.Graph`, then
  `global_variables_initializer` run in a session.

Consecutive frames of one module are collapsed: a call is a module-to-module
call (a descent) when its caller, the nearest enclosing warmstart frame,
belongs to another module; a return changes module likewise. A climb back up
is a call into a module of a HIGHER layer than its caller's (`LAYERS`); it
is a callback when the callee's module is already on the stack (a function
handed down, such as a closure, called back). Every count is also given with
the leaf layer left out: leaf frames are then ignored, and a call's caller is
its nearest enclosing non-leaf frame.
Module bodies run at import are no function calls (every warmstart module is
imported before the walks); a generator counts a call per resumption.

Usage, from the repository root:

  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python tools/walk.py [--json]
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import importlib
import json
import os
import pathlib
import pkgutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Optional

_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import warmstart
# pylint: enable=g-import-not-at-top,wrong-import-position

#: Module path prefix (relative to warmstart/, no '.py', '/' between
#: components) -> layer. A prefix names a module or a package: '_session'
#: covers '_session/__init__' and every '_session/...' module (never
#: '_sessions'). The longest matching prefix wins; a module that none
#: matches is a leaf (`LEAF`).
LAYERS: dict[str, str] = {
    '__init__': 'edges',
    '__main__': 'edges',
    'flags': 'edges',
    '_cli': 'edges',
    '_init_from_checkpoint': 'entry points',
    '_warm_start': 'entry points',
    '_session': 'integration',
    '_scope': 'integration',
    '_restore': 'restore',
    '_planning': 'planning',
    '_sources': 'sources',
}
#: The leaf layer: declarations and leaves (`_settings`, `_errors`, ...).
LEAF = 'declarations and leaves'
#: Layers, top to bottom.
LAYER_ORDER: tuple[str, ...] = ('edges', 'entry points', 'integration',
                                'restore', 'planning', 'sources', LEAF)

_JSON = flags.DEFINE_bool('json', False, 'Print JSON instead of tables.')

_PACKAGE_DIR = pathlib.Path(warmstart.__file__).resolve().parent
_OUTSIDE = ''  # The module name of code that is not warmstart's.


def module_of(filename: str) -> str:
  """The module path of a code file relative to warmstart/ ('' if outside).

  Args:
    filename: A code object's `co_filename`.

  Returns:
    E.g. '_planning/_checks' or '__init__'; '' for a file outside warmstart/.
  """
  try:
    relative = pathlib.Path(filename).resolve().relative_to(_PACKAGE_DIR)
  except (ValueError, OSError):
    return _OUTSIDE
  if relative.suffix != '.py':
    return _OUTSIDE
  return relative.with_suffix('').as_posix()


def layer_of(module: str, layers: Optional[dict[str, str]] = None) -> str:
  """The layer of a module path: its longest prefix in `layers`, else `LEAF`."""
  layers = LAYERS if layers is None else layers
  parts = module.split('/')
  for n in range(len(parts), 0, -1):
    layer = layers.get('/'.join(parts[:n]))
    if layer is not None:
      return layer
  return LEAF


def _rank(module: str) -> int:
  return LAYER_ORDER.index(layer_of(module))


@dataclasses.dataclass(frozen=True)
class Event:
  """A call or return of a warmstart function.

  Attributes:
    kind: 'call' or 'return'.
    module: The function's module.
    stack: The modules of the enclosing warmstart frames, innermost first
      (the caller's module first; empty when called from outside).
  """

  kind: str
  module: str
  stack: tuple[str, ...]


class Recorder:
  """Records `Event`s of warmstart functions while it is installed."""

  def __init__(self):
    self.events: list[Event] = []
    self._modules: dict[str, str] = {}

  def _module(self, code: Any) -> str:
    filename = code.co_filename
    module = self._modules.get(filename)
    if module is None:
      module = self._modules[filename] = module_of(filename)
    return module if module and code.co_name != '<module>' else _OUTSIDE

  def profile(self, frame: Any, event: str, arg: Any) -> None:
    """The `sys.setprofile` function: records calls and returns."""
    del arg  # Unused.
    if event != 'call' and event != 'return':
      return
    module = self._module(frame.f_code)
    if not module:
      return
    stack = []
    outer = frame.f_back
    while outer is not None:
      outer_module = self._module(outer.f_code)
      if outer_module and (not stack or stack[-1] != outer_module):
        stack.append(outer_module)
      outer = outer.f_back
    self.events.append(Event(event, module, tuple(stack)))

  @contextlib.contextmanager
  def installed(self) -> Iterator[None]:
    """Records in this thread and in the threads started meanwhile."""
    threading.setprofile(self.profile)
    sys.setprofile(self.profile)
    try:
      yield
    finally:
      sys.setprofile(None)
      threading.setprofile(None)


def summarize(events: Sequence[Event], leaves: bool = True) -> dict[str, Any]:
  """Counts a walk's modules, module-to-module calls, returns and climbs.

  Args:
    events: What a `Recorder` recorded.
    leaves: False to leave the leaf layer out.

  Returns:
    A JSON-compatible dict: 'modules' (in order of first visit, each with its
    layer, 'calls_into' from another module or from outside warmstart, and
    'function_calls', every call of one of its functions), 'descents',
    'module_returns', 'climbs', 'callbacks' (the climbs into a module on the
    stack), 'calls_from_outside' and 'climbed' (per (from, to) pair: the
    climbs and the callbacks among them).
  """
  function_calls: dict[str, int] = collections.Counter()
  calls_into: dict[str, int] = collections.Counter()
  order: dict[str, None] = {}
  climbed: dict[tuple[str, str], list[int]] = collections.defaultdict(
      lambda: [0, 0])
  descents = returns = outside = 0
  leaf = {m: layer_of(m) == LEAF
          for e in events for m in (e.module,) + e.stack}
  for event in events:
    module, stack = event.module, event.stack
    if not leaves:
      if leaf[module]:
        continue
      stack = tuple(m for m in stack if not leaf[m])
    caller = stack[0] if stack else _OUTSIDE
    if event.kind == 'return':
      returns += bool(caller) and caller != module
      continue
    order.setdefault(module)
    function_calls[module] += 1
    if caller == module:
      continue
    calls_into[module] += 1
    if not caller:
      outside += 1
      continue
    descents += 1
    if _rank(module) < _rank(caller):
      climbed[caller, module][0] += 1
      climbed[caller, module][1] += module in stack
  return {
      'modules': [{'module': m, 'layer': layer_of(m),
                   'calls_into': calls_into[m],
                   'function_calls': function_calls[m]} for m in order],
      'descents': descents,
      'module_returns': returns,
      'climbs': sum(n for n, _ in climbed.values()),
      'callbacks': sum(b for _, b in climbed.values()),
      'calls_from_outside': outside,
      'climbed': [{'from': f, 'to': t, 'calls': n, 'callbacks': b}
                  for (f, t), (n, b) in sorted(
                      climbed.items(), key=lambda i: (-i[1][0], i[0]))],
  }


def stage_of(module: str) -> str:
  """The unit a module belongs to: its package ('_planning'), else itself."""
  return module.split('/', 1)[0]


def by_stage(events: Sequence[Event]) -> list[Event]:
  """The events with each module replaced by its stage (`stage_of`)."""
  staged = []
  for event in events:
    stack = []
    for module in event.stack:
      stage = stage_of(module)
      if not stack or stack[-1] != stage:
        stack.append(stage)
    staged.append(Event(event.kind, stage_of(event.module), tuple(stack)))
  return staged


def _dense_model(features: tf.Tensor, head: str) -> tf.Tensor:
  """Two dense layers: 'hidden' (8 units) and `head` (1 unit)."""
  hidden = tf.compat.v1.layers.dense(features, 8, tf.nn.relu, name='hidden')
  return tf.compat.v1.layers.dense(hidden, 1, name=head)


_X = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)
_Y = np.array([[1.0], [-1.0], [0.5], [2.0]], np.float32)


def _save_source(directory: str) -> str:
  """Saves the source model (hidden, logits) and returns its prefix."""
  with tf.Graph().as_default():
    _dense_model(tf.constant(_X), 'logits')
    tf.compat.v1.train.get_or_create_global_step()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      return tf.compat.v1.train.Saver().save(
          sess, os.path.join(directory, 'source', 'model.ckpt'))


def _model_fn(features: tf.Tensor, labels: tf.Tensor, mode: str) -> Any:
  """The warm-started model: its head is 'output', named 'logits' before."""
  loss = tf.compat.v1.losses.mean_squared_error(
      labels, _dense_model(features, 'output'))
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def walk_settings(prefix: str, directory: str) -> Callable[[], None]:
  """Walk (a): returns the call that wraps the model_fn and trains a step."""
  settings = warmstart.WarmStartSettings(
      prefix, vars_to_warm_start='hidden/.*|output/kernel',
      var_name_to_prev_var_name={'output/kernel': 'logits/kernel'})

  def call() -> None:
    estimator = tf.estimator.Estimator(
        warmstart.wrap_model_fn(_model_fn, settings),
        model_dir=os.path.join(directory, 'model_dir'))
    estimator.train(
        lambda: tf.data.Dataset.from_tensors((_X, _Y)).repeat(), steps=1)

  return call


def walk_assignment_map(prefix: str) -> None:
  """Walk (b): `init_from_checkpoint` with a scope entry, then initializers."""
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.variable_scope('student'):
      _dense_model(tf.constant(_X), 'logits')
    warmstart.init_from_checkpoint(prefix, {'hidden/': 'student/hidden/'})
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())


def _import_all() -> None:
  """Imports every warmstart module, so no module body runs during a walk."""
  for info in pkgutil.walk_packages(warmstart.__path__, 'warmstart.'):
    if not info.name.endswith('__main__'):
      importlib.import_module(info.name)


def measure() -> dict[str, Any]:
  """Runs both walks; returns {walk: its description, time and summaries}."""
  _import_all()
  results = {}
  with tempfile.TemporaryDirectory() as directory:
    prefix = _save_source(directory)
    walks = {
        'settings': ('WarmStartSettings through wrap_model_fn, '
                     'Estimator.train(steps=1)',
                     walk_settings(prefix, directory)),
        'assignment_map': ('assignment map with a scope entry through '
                           'init_from_checkpoint, global_variables_initializer',
                           lambda: walk_assignment_map(prefix)),
    }
    for name, (description, call) in walks.items():
      recorder = Recorder()
      start = time.perf_counter()
      with recorder.installed():
        call()
      results[name] = {
          'description': description,
          'seconds': round(time.perf_counter() - start, 2),
          'all': summarize(recorder.events),
          'without_leaves': summarize(recorder.events, leaves=False),
          'stages': summarize(by_stage(recorder.events)),
          'stages_without_leaves': summarize(by_stage(recorder.events),
                                             leaves=False),
      }
  return results


_COUNTS = (('modules visited', None), ('module-to-module calls', 'descents'),
           ('module-changing returns', 'module_returns'),
           ('climbs back up', 'climbs'),
           ('  of which callbacks', 'callbacks'),
           ('calls from outside warmstart', 'calls_from_outside'))


def format_walk(name: str, result: dict[str, Any]) -> str:
  """A walk's result as readable tables."""
  every, above = result['all'], result['without_leaves']
  above_calls = {m['module']: m['calls_into'] for m in above['modules']}
  width = max([len('module')] + [len(m['module']) for m in every['modules']])
  lines = ['Walk %s: %s (%.1f s profiled)' % (name, result['description'],
                                              result['seconds']), '',
           '  %3s  %-*s  %-23s  %10s  %16s  %14s' % (
               '#', width, 'module', 'layer', 'calls into',
               'into, w/o leaves', 'function calls')]
  for i, m in enumerate(every['modules'], 1):
    lines.append('  %3d  %-*s  %-23s  %10d  %16s  %14d' % (
        i, width, m['module'], m['layer'], m['calls_into'],
        above_calls.get(m['module'], '-'), m['function_calls']))
  lines += ['', '  %-30s  %11s  %14s' % ('', 'all modules', 'without leaves')]
  for label, key in _COUNTS:
    got = [len(s['modules']) if key is None else s[key] for s in (every, above)]
    lines.append('  %-30s  %11d  %14d' % (label, got[0], got[1]))
  stages, staged = result['stages'], result['stages_without_leaves']
  lines += ['', '  by stage (a package counts once): %d visited (%d without '
            'leaves): %s' % (len(stages['modules']), len(staged['modules']),
                             ' -> '.join(m['module']
                                         for m in stages['modules'])),
            '  %-30s  %11d  %14d' % ('stage-to-stage calls',
                                     stages['descents'], staged['descents']),
            '  %-30s  %11d  %14d' % ('climbs back up', stages['climbs'],
                                     staged['climbs'])]
  for title, summary in (('climbs', every), ('climbs without leaves', above)):
    lines += ['', '  %s (from -> to: calls):' % title]
    lines += ['    %s (%s) -> %s (%s): %d%s' % (
        c['from'], layer_of(c['from']), c['to'], layer_of(c['to']),
        c['calls'], ', %d callbacks' % c['callbacks'] if c['callbacks'] else '')
              for c in summary['climbed']] or ['    none']
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments: %r' % argv[1:])
  logging.set_verbosity(logging.WARNING)
  warnings.filterwarnings('ignore', r'`tf\.layers\.dense` is deprecated')
  tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
  results = measure()
  if _JSON.value:
    print(json.dumps({'layers': LAYERS, 'layer_order': LAYER_ORDER,
                      'walks': results}, indent=2))
  else:
    print('\n\n'.join(format_walk(n, r) for n, r in results.items()))


if __name__ == '__main__':
  app.run(main)
