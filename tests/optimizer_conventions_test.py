"""Tests of optimizer state across conventions (issue 22), and of the plan's
per-variable view of it.

Each optimizer (SGD, Momentum, Adagrad, Adam, FTRL, a centered RMSProp with
momentum) trains 3 steps of one tiny model on a fixed input, and is saved in
each convention: a TF1 graph (`Saver`), and, written once by eager code in a
subprocess, a TF2 checkpoint of the TF1 optimizer run eagerly, of a Keras
legacy optimizer and of a Keras 2.11+ one. Graph B (renamed, `grow/kernel`
resized from 4 to 6 rows) runs the TF1 optimizer of the same family and is
warm-started under each `optimizer_state`: values are compared with the
source's (a numpy reference for the resized ones) and with graph B's own
initial values for what starts fresh; `'auto'` with TF's own functions on
the same graph; and a training step after the warm start with the step TF
takes when it resumes the same state.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart import _cli
from warmstart import _report

OPTIMIZERS = ('sgd', 'momentum', 'adagrad', 'adam', 'ftrl', 'rmsprop')
_TF1 = {
    'sgd': lambda: tf.compat.v1.train.GradientDescentOptimizer(0.1),
    'momentum': lambda: tf.compat.v1.train.MomentumOptimizer(0.1, 0.9),
    'adagrad': lambda: tf.compat.v1.train.AdagradOptimizer(0.1),
    'adam': lambda: tf.compat.v1.train.AdamOptimizer(0.1),
    'ftrl': lambda: tf.compat.v1.train.FtrlOptimizer(0.1),
    'rmsprop': lambda: tf.compat.v1.train.RMSPropOptimizer(
        0.1, momentum=0.5, centered=True),
}
WEIGHTS = ('grow/kernel', 'grow/bias', 'keep/kernel')
#: Each TF1 optimizer's slots as a graph names them (`w/Adam`), and their
#: names in a TF2 checkpoint of the same optimizer run eagerly ('m').
_TF1_SLOTS = {'sgd': {}, 'momentum': {'Momentum': 'momentum'},
              'adagrad': {'Adagrad': 'accumulator'},
              'adam': {'Adam': 'm', 'Adam_1': 'v'},
              'ftrl': {'Ftrl': 'accum', 'Ftrl_1': 'linear'},
              'rmsprop': {'RMSProp': 'rms', 'RMSProp_1': 'mg',
                          'RMSProp_2': 'momentum'}}
#: The Keras slot each TF1 slot is restored from (Momentum: none is the
#: same quantity).
_KERAS_LEGACY_SLOTS = {'Adagrad': 'accumulator', 'Adam': 'm', 'Adam_1': 'v',
                       'Ftrl': 'accumulator', 'Ftrl_1': 'linear',
                       'RMSProp': 'rms', 'RMSProp_1': 'mg',
                       'RMSProp_2': 'momentum'}
_KERAS_SLOTS = {'Adagrad': 'Adagrad/accumulator', 'Adam': 'Adam/m',
                'Adam_1': 'Adam/v', 'Ftrl': 'Ftrl/accumulator',
                'Ftrl_1': 'Ftrl/linear', 'RMSProp': 'RMSprop/velocity',
                'RMSProp_1': 'RMSprop/average_gradient',
                'RMSProp_2': 'RMSprop/momentum'}


def model(scope: str, optimizer: str, rows: int = 4) -> tf.Operation:
  """`scope`/grow (kernel [rows, 3], bias) then `scope`/keep/kernel [3, 2]
  on a fixed input; returns the TF1 optimizer's training op."""
  step = tf.compat.v1.train.get_or_create_global_step()
  with tf.compat.v1.variable_scope(scope):
    grow_w = tf.compat.v1.get_variable('grow/kernel', [rows, 3])
    grow_b = tf.compat.v1.get_variable('grow/bias', [3])
    keep_w = tf.compat.v1.get_variable('keep/kernel', [3, 2])
  x = tf.constant(np.linspace(-1.0, 1.0, 2 * rows,
                              dtype=np.float32).reshape(2, rows))
  out = tf.matmul(tf.matmul(x, grow_w) + grow_b, keep_w)
  return _TF1[optimizer]().minimize(tf.reduce_sum(tf.square(out - 1.0)),
                                    global_step=step)


def slots_of(optimizer: str) -> list[str]:
  """Graph B's optimizer variables with `optimizer` (scope 'new')."""
  names = ['new/%s/%s' % (w, s) for w in WEIGHTS for s in _TF1_SLOTS[optimizer]]
  return names + (['beta1_power', 'beta2_power'] if optimizer == 'adam' else
                  [])


def overlaid(cold: np.ndarray, value: np.ndarray) -> np.ndarray:
  """`cold` with its leading block replaced by `value` (a resized restore)."""
  result = np.array(cold, copy=True)
  result[tuple(slice(0, d) for d in np.shape(value))] = value
  return result


def step_after(build, prepare) -> dict[str, np.ndarray]:
  """Every variable after one training step of graph B.

  Args:
    build: Builds graph B, returns its training op.
    prepare: Called once graph B is built (a warm start); may return a
      function of the session run after the initializers (a restore).
  """
  with tf.Graph().as_default() as graph:
    tf.compat.v1.set_random_seed(2)
    train = build()
    restore = prepare()
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      if restore is not None:
        restore(sess)
      sess.run(train)
      return sess.run({v.op.name: v for v in tf.compat.v1.global_variables()})


# Eager TF2 code, run as `python -c CODE OUT_DIR`: trains each optimizer 3
# steps in each TF2 convention, writes OUT_DIR/<convention>/<optimizer>/ckpt
# and the values it saved (by variable name, slots as '<variable>/<slot>')
# to OUT_DIR/values.json.
_WRITE = r'''
import json, os, sys
import numpy as np
import tensorflow as tf
out = sys.argv[1]
values = {}
x = tf.constant(np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(2, 4))
rng = np.random.default_rng(3)
init = {'grow/kernel': rng.normal(size=(4, 3)), 'grow/bias': rng.normal(size=3),
        'keep/kernel': rng.normal(size=(3, 2))}

def train(variables, optimizer, forward):
  for _ in range(3):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(forward() - 1.0))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

def save(name, named, **objects):
  tf.train.Checkpoint(**objects).write(os.path.join(out, name, 'ckpt'))
  values[name] = {n: np.asarray(v.numpy()).tolist() for n, v in named.items()}

def tf1(name, optimizer):
  module = tf.Module()
  module.vars = [tf.Variable(init[n].astype(np.float32), name='old/' + n)
                 for n in ('grow/kernel', 'grow/bias', 'keep/kernel')]
  grow_w, grow_b, keep_w = module.vars
  train(module.vars, optimizer,
        lambda: tf.matmul(tf.matmul(x, grow_w) + grow_b, keep_w))
  named = {v.name[:-2]: v for v in module.vars}
  for v in module.vars:
    for slot in optimizer.get_slot_names():
      named['%s/%s' % (v.name[:-2], slot)] = optimizer.get_slot(v, slot)
  named.update((v.name[:-2], v) for v in optimizer.variables()
               if 'power' in v.name)
  save(name, named, model=module, optimizer=optimizer)

def keras(name, optimizer):
  model = tf.keras.Sequential([tf.keras.layers.Dense(3, name='grow'),
                               tf.keras.layers.Dense(2, use_bias=False,
                                                     name='keep')])
  model.build((None, 4))
  model.set_weights([init['grow/kernel'], init['grow/bias'],
                     init['keep/kernel']])
  train(model.trainable_variables, optimizer, lambda: model(x))
  named = {v.name[:-2]: v for v in model.weights}
  if hasattr(optimizer, 'get_slot_names'):
    for v in model.weights:
      for slot in optimizer.get_slot_names():
        named['%s/%s' % (v.name[:-2], slot)] = optimizer.get_slot(v, slot)
  else:
    named.update((v.name[:-2], v) for v in optimizer.variables())
  named['iterations'] = optimizer.iterations
  save(name, named, model=model, optimizer=optimizer)

v1, legacy = tf.compat.v1.train, tf.keras.optimizers.legacy
tf1('tf1_eager/sgd', v1.GradientDescentOptimizer(0.1))
tf1('tf1_eager/momentum', v1.MomentumOptimizer(0.1, 0.9))
tf1('tf1_eager/adagrad', v1.AdagradOptimizer(0.1))
tf1('tf1_eager/adam', v1.AdamOptimizer(0.1))
tf1('tf1_eager/ftrl', v1.FtrlOptimizer(0.1))
tf1('tf1_eager/rmsprop', v1.RMSPropOptimizer(0.1, momentum=0.5,
                                             centered=True))
# A second Adam of the process: its slots are named 'w/Adam_2', 'w/Adam_3'.
tf1('tf1_eager/adam_again', v1.AdamOptimizer(0.1))
for module, convention in ((legacy, 'keras_legacy'),
                           (tf.keras.optimizers, 'keras')):
  keras(convention + '/sgd', module.SGD(0.1))
  keras(convention + '/momentum', module.SGD(0.1, momentum=0.9))
  keras(convention + '/adagrad', module.Adagrad(0.1))
  keras(convention + '/adam', module.Adam(0.1))
  keras(convention + '/ftrl', module.Ftrl(0.1))
  keras(convention + '/rmsprop', module.RMSprop(0.1, momentum=0.5,
                                                centered=True))
# Another beta_1 than graph B's Adam (a Keras legacy optimizer records it).
keras('keras_legacy/adam_beta', legacy.Adam(0.1, beta_1=0.8))
with open(os.path.join(out, 'values.json'), 'w') as f:
  json.dump(values, f)
'''


def _write_tf2_checkpoints(out: str) -> dict[str, dict[str, np.ndarray]]:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  done = subprocess.run([sys.executable, '-c', _WRITE, out], env=env,
                        capture_output=True, text=True, timeout=600,
                        check=False)
  if done.returncode:
    raise AssertionError('Writing the TF2 checkpoints failed:\n%s' %
                         done.stderr[-3000:])
  with open(os.path.join(out, 'values.json')) as f:
    return {name: {n: np.array(v, dtype=np.float32 if n != 'iterations' else
                               np.int64) for n, v in by_name.items()}
            for name, by_name in json.load(f).items()}


class GraphModeTest(parameterized.TestCase, tf.test.TestCase):
  """TF1 optimizers in a graph, saved by a `Saver`."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    base = os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__)
    cls.ckpt, cls.values = {}, {}
    for name in OPTIMIZERS:
      cls.ckpt[name], cls.values[name] = test_util.save_checkpoint(
          os.path.join(base, name), lambda name=name: model('old', name),
          steps=3)

  @parameterized.parameters(*OPTIMIZERS)
  def test_matching_restores_each_slot_resized_with_its_variable(self, name):
    build = lambda: model('new', name, rows=6)
    cold, _ = test_util.run_graph(build)
    got, plan = test_util.run_graph(build, lambda: (
        warmstart.init_from_checkpoint(self.ckpt[name], {'old/': 'new/'},
                                       optimizer_state='matching',
                                       resize=True)))
    restored = slots_of(name) + ['new/' + w for w in WEIGHTS]
    for variable in restored:  # 'new/x' from 'old/x', 'beta1_power' as is.
      tensor = re.sub('^new/', 'old/', variable)
      self.assertAllEqual(overlaid(cold[variable], self.values[name][tensor]),
                          got[variable], msg=variable)
    self.assertEqual(0, got['global_step'])
    self.assertCountEqual(restored, [e.variable for e in plan.restored])
    if name != 'sgd':
      self.assertTrue(all(tensor for _, tensor, _ in
                          plan.optimizer_state_of('new/grow/kernel')))

  @parameterized.parameters(*OPTIMIZERS)
  def test_auto_is_tf_init_from_checkpoint(self, name):
    build = lambda: model('new', name)
    expected, _ = test_util.run_graph(build, lambda: (
        tf.compat.v1.train.init_from_checkpoint(self.ckpt[name],
                                                {'old/': 'new/'})))
    got, plan = test_util.run_graph(build, lambda: (
        warmstart.init_from_checkpoint(self.ckpt[name], {'old/': 'new/'})))
    self.assertCountEqual(expected, got)
    for variable, value in expected.items():
      self.assertAllEqual(value, got[variable], msg=variable)
    # TF's scope map takes the slots under it, not the beta powers above it.
    self.assertCountEqual([v for v in slots_of(name) if v.startswith('new/')]
                          + ['new/' + w for w in WEIGHTS],
                          [e.variable for e in plan.restored])

  @parameterized.parameters(*OPTIMIZERS)
  def test_auto_is_tf_warm_start(self, name):
    build = lambda: model('new', name)
    renames = {'new/' + w: 'old/' + w for w in WEIGHTS}
    expected, _ = test_util.run_graph(build, lambda: (
        tf.compat.v1.train.warm_start(self.ckpt[name], 'new/',
                                      var_name_to_prev_var_name=renames)))
    got, plan = test_util.run_graph(build, lambda: warmstart.warm_start(
        self.ckpt[name], 'new/', var_name_to_prev_var_name=renames))
    self.assertCountEqual(expected, got)
    for variable, value in expected.items():
      self.assertAllEqual(value, got[variable], msg=variable)
    self.assertCountEqual(['new/' + w for w in WEIGHTS],
                          [e.variable for e in plan.restored])

  @parameterized.parameters(*OPTIMIZERS)
  def test_none_leaves_every_optimizer_variable_at_its_initializer(self,
                                                                   name):
    build = lambda: model('new', name, rows=6)
    cold, _ = test_util.run_graph(build)
    got, plan = test_util.run_graph(build, lambda: (
        warmstart.init_from_checkpoint(self.ckpt[name], {'old/': 'new/'},
                                       optimizer_state='none', resize=True)))
    for variable in slots_of(name):
      self.assertAllEqual(cold[variable], got[variable], msg=variable)
    self.assertCountEqual(['new/' + w for w in WEIGHTS],
                          [e.variable for e in plan.restored])
    self.assertAllEqual(self.values[name]['old/keep/kernel'],
                        got['new/keep/kernel'])

  @parameterized.parameters(*OPTIMIZERS)
  def test_all_names_every_optimizer_variable_sgd_did_not_train(self, name):
    missing = slots_of(name)
    with tf.Graph().as_default():
      model('new', name, rows=6)
      if not missing:  # SGD into SGD: nothing to miss.
        warmstart.make_plan(self.ckpt['sgd'], {'old/': 'new/'},
                            optimizer_state='all', resize=True)
        return
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"optimizer_state='all': %d optimizer variable\(s\) of the graph "
          r'are not restored: %s\.' % (len(missing), re.escape(', '.join(
              repr(n) for n in sorted(missing))))):
        warmstart.make_plan(self.ckpt['sgd'], {'old/': 'new/'},
                            optimizer_state='all', resize=True)
      # From its own optimizer's checkpoint, everything is there.
      plan = warmstart.make_plan(self.ckpt[name], {'old/': 'new/'},
                                 optimizer_state='all', resize=True)
    self.assertContainsSubset(missing, [e.variable for e in plan.restored])

  @parameterized.parameters(*OPTIMIZERS)
  def test_a_step_after_the_warm_start_is_the_step_tf_resumes_with(self,
                                                                   name):
    build = lambda: model('new', name)

    def saver():  # Every variable, as TF resumes a run.
      names = {v.op.name: v for v in tf.compat.v1.global_variables()}
      saver = tf.compat.v1.train.Saver({
          'old/' + n[4:] if n.startswith('new/') else n: v
          for n, v in names.items()})
      return lambda sess: saver.restore(sess, self.ckpt[name])

    def warm():
      warmstart.warm_start(
          self.ckpt[name], 'new/',
          var_name_to_prev_var_name={'new/' + w: 'old/' + w for w in WEIGHTS},
          optimizer_state='matching', global_step='keep')

    expected = step_after(build, saver)
    got = step_after(build, warm)
    self.assertEqual(4, got['global_step'])
    self.assertCountEqual(expected, got)
    for variable, value in expected.items():
      self.assertAllEqual(value, got[variable], msg=variable)


_CONVENTIONS = ('tf1_eager', 'keras_legacy', 'keras')


def _counterpart(convention: str, weight: str, suffix: str):
  """The name the subprocess saved the counterpart of graph B's slot
  `new/<weight>/<suffix>` under, or None when it has none."""
  if convention == 'tf1_eager':
    slots = {s: t for o in _TF1_SLOTS.values() for s, t in o.items()}
    return 'old/%s/%s' % (weight, slots[suffix])
  if convention == 'keras_legacy':
    slot = _KERAS_LEGACY_SLOTS.get(suffix)
    return slot and '%s/%s' % (weight, slot)
  slot = _KERAS_SLOTS.get(suffix)
  return slot and '%s/%s' % (slot, weight)


class Tf2CheckpointTest(parameterized.TestCase, tf.test.TestCase):
  """TF2 checkpoints: TF1 optimizers run eagerly, Keras legacy and 2.11+."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__)
    cls.values = _write_tf2_checkpoints(cls.root)

  def ckpt(self, name: str) -> str:
    return os.path.join(self.root, name, 'ckpt')

  def settings(self, convention: str, name: str, **options):
    """Settings that warm-start graph B's weights (renamed) from a source."""
    prefix = 'old/' if convention == 'tf1_eager' else ''
    return warmstart.WarmStartSettings(
        self.ckpt('%s/%s' % (convention, name)), 'new/',
        var_name_to_prev_var_name={'new/' + w: prefix + w for w in WEIGHTS},
        **options)

  @parameterized.product(convention=_CONVENTIONS, name=OPTIMIZERS)
  def test_matching(self, convention, name):
    build = lambda: model('new', name, rows=6)
    cold, _ = test_util.run_graph(build)
    got, plan = test_util.run_graph(build, settings=self.settings(
        convention, name, optimizer_state='matching', resize=True))
    source = self.values['%s/%s' % (convention, name)]
    prefix = 'old/' if convention == 'tf1_eager' else ''
    for weight in WEIGHTS:
      self.assertAllEqual(overlaid(cold['new/' + weight],
                                   source[prefix + weight]),
                          got['new/' + weight], msg=weight)
      for suffix, slot in _TF1_SLOTS[name].items():
        variable = 'new/%s/%s' % (weight, suffix)
        counterpart = _counterpart(convention, weight, suffix)
        entry = plan.entry(variable)
        if counterpart is None:  # Keras SGD's momentum: not the same.
          self.assertAllEqual(cold[variable], got[variable])
          self.assertRegex(
              entry.reason,
              r"^no counterpart, it starts fresh: .*the checkpoint's Keras "
              r"(legacy|2\.11\+) SGD (momentum|m) \(.*\) is not TF1 Momentum "
              r'momentum: Keras SGD keeps -learning_rate times what TF1 '
              r'Momentum accumulates$')
          continue
        self.assertAllEqual(overlaid(cold[variable], source[counterpart]),
                            got[variable], msg=variable)
        if convention != 'tf1_eager':  # Its names say it (no note).
          keras_slot = counterpart.split('/')[
              -1 if convention == 'keras_legacy' else 1]
          optimizer = {'adagrad': 'Adagrad', 'adam': 'Adam', 'ftrl': 'Ftrl',
                       'rmsprop': 'RMSprop'}[name]
          self.assertStartsWith(entry.reason, '%s %s %s as TF1 %s %s' % (
              'Keras legacy' if convention == 'keras_legacy' else
              'Keras 2.11+', optimizer, keras_slot,
              suffix.split('_')[0], slot))
    if name == 'adam':
      for which, beta in ((1, 0.9), (2, 0.999)):
        power = 'beta%d_power' % which
        if convention == 'tf1_eager':
          self.assertAllEqual(source[power], got[power])
        else:  # Keras counts 3 steps: TF1 Adam would hold beta^4.
          self.assertEqual(3, source['iterations'])
          self.assertAllClose(beta ** 4, got[power], rtol=1e-6)
          self.assertEqual('set', plan.entry(power).action)
          self.assertRegex(plan.entry(power).reason,
                           r'^beta%d\^\(iterations\+1\) = %g\^4 from the step '
                           r'count of the Keras' % (which, beta))

  def test_a_second_tf1_adam_of_a_process_is_found_by_kind(self):
    # Run eagerly after another Adam, its slots are named 'w/Adam_2' and
    # 'w/Adam_3': the keys' slot names ('m', 'v') decide, not the names.
    got, plan = test_util.run_graph(
        lambda: model('new', 'adam'),
        settings=self.settings('tf1_eager', 'adam_again',
                               optimizer_state='matching'))
    source = self.values['tf1_eager/adam_again']
    for weight in WEIGHTS:
      for suffix, slot in (('Adam', 'm'), ('Adam_1', 'v')):
        variable = 'new/%s/%s' % (weight, suffix)
        self.assertAllEqual(source['old/%s/%s' % (weight, slot)],
                            got[variable], msg=variable)
        self.assertEqual('TF1 eager Adam %s as TF1 Adam %s' % (slot, slot),
                         plan.entry(variable).reason)

  @parameterized.product(convention=_CONVENTIONS, name=OPTIMIZERS)
  def test_all(self, convention, name):
    with tf.Graph().as_default():
      model('new', name, rows=6)
      settings = self.settings(convention, name, optimizer_state='all',
                               resize=True)
      if not (name == 'momentum' and convention != 'tf1_eager'):
        plan = warmstart.make_settings_plan(settings)
        self.assertContainsSubset(slots_of(name),
                                  [e.variable for e in plan.restored])
        return
      missing = slots_of(name)
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"(?s)Variable 'new/grow/kernel/Momentum' .*is not TF1 Momentum "
          r"momentum.*optimizer_state='all': 3 optimizer variable\(s\) of "
          r'the graph are not restored: %s\.' % re.escape(', '.join(
              repr(n) for n in sorted(missing)))):
        warmstart.make_settings_plan(settings)

  @parameterized.product(convention=_CONVENTIONS, name=OPTIMIZERS)
  def test_none_and_auto_take_the_weights_only(self, convention, name):
    build = lambda: model('new', name, rows=6)
    cold, _ = test_util.run_graph(build)
    for policy in ('none', 'auto'):
      got, plan = test_util.run_graph(build, settings=self.settings(
          convention, name, optimizer_state=policy, resize=True))
      self.assertCountEqual(['new/' + w for w in WEIGHTS],
                            [e.variable for e in plan.restored])
      for variable in slots_of(name):
        self.assertAllEqual(cold[variable], got[variable], msg=variable)

  def test_a_keras_adam_of_another_beta_leaves_its_power_fresh(self):
    build = lambda: model('new', 'adam')
    cold, _ = test_util.run_graph(build)
    got, plan = test_util.run_graph(build, settings=self.settings(
        'keras_legacy', 'adam_beta', optimizer_state='matching'))
    source = self.values['keras_legacy/adam_beta']
    self.assertAllEqual(source['grow/kernel/m'], got['new/grow/kernel/Adam'])
    self.assertAllEqual(cold['beta1_power'], got['beta1_power'])
    self.assertRegex(
        plan.entry('beta1_power').reason,
        r"^no counterpart, it starts fresh: tensor 'beta1_power' is not in "
        r'checkpoint .*; its Keras legacy Adam ran with beta_1=0\.8, the '
        r'graph with 0\.9: not the same bias correction$')
    self.assertAllClose(0.999 ** 4, got['beta2_power'], rtol=1e-6)

  def test_auto_scope_map_takes_slots_by_name_as_tf(self):
    # As TF's init_from_checkpoint: the slots under the scope, by name.
    with tf.Graph().as_default():
      model('new', 'adam')
      with self.assertRaisesRegex(
          warmstart.TensorNotFoundError,
          r"tensor 'grow/kernel/Adam' is not in checkpoint .*Did you mean: "
          r"'grow/kernel/m'"):
        warmstart.make_plan(self.ckpt('keras_legacy/adam'),
                            {'grow/': 'new/grow/', 'keep/': 'new/keep/'})
      plan = warmstart.make_plan(self.ckpt('keras_legacy/adam'),
                                 {'grow/': 'new/grow/', 'keep/': 'new/keep/'},
                                 optimizer_state='matching')
    self.assertContainsSubset(slots_of('adam'),
                              [e.variable for e in plan.restored])

  @parameterized.parameters('keras_legacy', 'keras')
  def test_a_step_after_a_keras_adam_is_tf1_adams_from_the_same_state(
      self, convention):
    source = self.values[convention + '/adam']
    state = {'beta1_power': np.float32(0.9)**4,  # After Keras' 3 steps.
             'beta2_power': np.float32(0.999)**4}
    for weight in WEIGHTS:
      state['new/' + weight] = source[weight]
      for suffix in ('Adam', 'Adam_1'):
        state['new/%s/%s' % (weight, suffix)] = source[_counterpart(
            convention, weight, suffix)]

    def by_hand():  # TF1 Adam's state, assigned.
      variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
      assigns = [variables[n].assign(value) for n, value in state.items()]
      return lambda sess: sess.run(assigns)

    def warm():
      warmstart.apply_settings(self.settings(convention, 'adam',
                                             optimizer_state='matching'))

    expected = step_after(lambda: model('new', 'adam'), by_hand)
    got = step_after(lambda: model('new', 'adam'), warm)
    self.assertCountEqual(expected, got)
    for variable, value in expected.items():
      self.assertAllClose(value, got[variable], rtol=1e-6, msg=variable)


class PlanViewTest(tf.test.TestCase):
  """Where each restored variable's optimizer state comes from, shown."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.prefix, _ = test_util.save_checkpoint(
        os.path.join(tf.compat.v1.test.get_temp_dir(), cls.__name__),
        lambda: model('old', 'adam'), steps=3)

  def plan(self, **options):
    with tf.Graph().as_default():
      model('new', 'adam')
      return warmstart.make_settings_plan(warmstart.WarmStartSettings(
          self.prefix, 'new/grow/kernel',
          var_name_to_prev_var_name={'new/grow/kernel': 'old/grow/kernel'},
          **options))

  def test_optimizer_state_of_each_variable(self):
    plan = self.plan(optimizer_state='matching')
    self.assertEqual(
        [('new/grow/kernel/Adam', 'old/grow/kernel/Adam', 'restored'),
         ('new/grow/kernel/Adam_1', 'old/grow/kernel/Adam_1', 'restored')],
        plan.optimizer_state_of('new/grow/kernel'))
    self.assertEqual([('beta1_power', 'beta1_power', 'restored'),
                      ('beta2_power', 'beta2_power', 'restored')],
                     plan.optimizer_state_of(''))
    self.assertEqual([], plan.optimizer_state_of('new/grow/bias'))
    lines = plan.table().splitlines()
    start = lines.index('Optimizer state:')
    self.assertEqual(
        ['  new/grow/kernel: Adam <- old/grow/kernel/Adam; Adam_1 <- '
         'old/grow/kernel/Adam_1',
         "  the optimizer's own: beta1_power <- beta1_power; beta2_power <- "
         'beta2_power'], lines[start + 1:start + 3])
    # Settings' regexes take no optimizer state by default: it is said.
    fresh = self.plan().optimizer_state()
    self.assertEqual(
        ['new/grow/kernel: Adam fresh (not restored: it starts from its '
         'initializer); Adam_1 fresh (not restored: it starts from its '
         'initializer)',
         "the optimizer's own: beta1_power fresh (not restored: it starts "
         'from its initializer); beta2_power fresh (not restored: it starts '
         'from its initializer)'], fresh)

  def test_json_markdown_and_the_plan_command(self):
    plan = self.plan(optimizer_state='matching')
    data = plan.to_dict()['optimizer_state']
    self.assertEqual(['new/grow/kernel', ''], list(data))
    self.assertEqual({'variable': 'new/grow/kernel/Adam',
                      'tensor': 'old/grow/kernel/Adam', 'reason': 'restored'},
                     data['new/grow/kernel'][0])
    back = warmstart.Plan.from_json(plan.to_json())
    self.assertEqual(plan.to_json(), back.to_json())
    self.assertEqual(plan.optimizer_state_of('new/grow/kernel'),
                     back.optimizer_state_of('new/grow/kernel'))
    self.assertEqual(plan.table(), back.table())
    self.assertIn('\n**Optimizer state**\n\n* new/grow/kernel: Adam <- '
                  'old/grow/kernel/Adam; Adam_1 <- old/grow/kernel/Adam_1\n',
                  _report.markdown(plan))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      status = _cli.main(['plan', '--from', self.prefix, '--target',
                          self.prefix, '--optimizer_state', 'matching'])
    self.assertEqual(0, status)
    self.assertIn('\nOptimizer state:\n  old/grow/kernel: Adam <- '
                  'old/grow/kernel/Adam; Adam_1 <- old/grow/kernel/Adam_1\n',
                  out.getvalue())


if __name__ == '__main__':
  tf.test.main()
