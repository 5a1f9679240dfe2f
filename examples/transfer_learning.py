"""Transfer learning with warmstart: the README demo (`make demo`).

With no flags, this example makes everything it needs (synthetic data, seeded):

1. It trains a *source* Estimator: a word embedding and a hidden layer under
   `source/`, and a 10-class head, on a vocabulary of 200 words.
2. It warm-starts a *target* Estimator through the flags of
   `warmstart.flags` (it points them at the source it just trained when you
   give none): the layers are renamed (`source/` to `target/`), the
   vocabulary grows (the 200 old words in another order plus 20 new ones,
   remapped by token with a `VocabInfo`), and the 10-class head grows to 12
   classes: `--warm_start_resize` restores its 10 old classes from the source
   and the 2 new ones start from the head's own initializer (zeros).
3. It trains the same target cold, for the same steps, on the same data, and
   prints the plan (with what starts cold and which checkpoint tensors no
   variable reads, such as the source's optimizer slots) and both losses:
   the warm start begins far lower.

The plan stays in the target's model_dir (`warm_start_plan.json`, and a text
summary for TensorBoard: `tensorboard --logdir WORK_DIR/warm`). It takes
about 10 s on 2 cores.

Run: python examples/transfer_learning.py [--work_dir=DIR] [--steps=N]
Another source: --warm_start_from=DIR
  --warm_start_map=source/hidden/=target/hidden/ ... (see --helpfull).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

import warmstart
from warmstart import flags as warmstart_flags

warmstart_flags.define_flags()
_WORK_DIR = flags.DEFINE_string(
    'work_dir', None, 'Where the models go (default: a new temporary '
    'directory).')
_STEPS = flags.DEFINE_integer('steps', 200, 'Training steps of the target '
                              '(warm and cold alike).', lower_bound=10)
_SOURCE_STEPS = flags.DEFINE_integer('source_steps', 600, 'Training steps of '
                                     'the source model.', lower_bound=1)
_REMAP_VOCAB = flags.DEFINE_bool(
    'remap_vocab', True, 'Remap target/embedding/weights by token from the '
    'source vocabulary (VocabInfo) when warm-starting from source 0.')

FLAGS = flags.FLAGS

_OLD_WORDS = ['w%03d' % i for i in range(200)]
_NEW_WORDS = ['n%02d' % i for i in range(20)]
_LATENT = 6  # Hidden properties of a word that both tasks depend on.
_DENSE = 6  # Dense features per example.
_EMBEDDING = 8
_HIDDEN = 32
_BATCH = 32
_SEED = 7


@dataclasses.dataclass(frozen=True)
class Task:
  """One synthetic classification task."""

  scope: str
  vocab_file: str
  vocab: tuple[str, ...]
  num_classes: int
  features: dict
  labels: np.ndarray


def _make_tasks(work_dir: str) -> tuple[Task, Task]:
  """The source and target tasks: related labels over shared word properties.

  Every word has hidden properties; a label is the category whose score (a
  projection of the word's properties and of the dense features) is highest.
  The source has 10 categories; the target has the same 10 and 2 more, for
  old and new words.
  """
  rng = np.random.default_rng(_SEED)
  words = _OLD_WORDS + _NEW_WORDS
  latent = dict(zip(words, rng.normal(size=(len(words), _LATENT))))
  project_words = rng.normal(size=(_LATENT, 12)) * 3
  project_dense = rng.normal(size=(_DENSE, 12)) * 0.5
  # The 2 new categories are the rarer ones (they score lower).
  project_words[:, 10:] *= 0.5
  project_dense[:, 10:] *= 0.5
  target_vocab = tuple(rng.permutation(_OLD_WORDS).tolist()) + tuple(
      _NEW_WORDS)

  def task(scope, vocab, num_examples, num_classes):
    tokens = rng.choice(vocab, size=num_examples)
    dense = rng.normal(size=(num_examples, _DENSE)).astype(np.float32)
    scores = (np.stack([latent[t] for t in tokens]) @ project_words +
              dense @ project_dense)[:, :num_classes]
    index = {w: i for i, w in enumerate(vocab)}
    vocab_file = os.path.join(work_dir, '%s_vocab.txt' % scope)
    with open(vocab_file, 'w') as f:
      f.write('\n'.join(vocab) + '\n')
    features = {
        'word': np.array([index[t] for t in tokens], np.int32),
        'dense': dense,
    }
    return Task(scope, vocab_file, tuple(vocab), num_classes, features,
                np.argmax(scores, axis=1).astype(np.int32))

  return (task('source', tuple(_OLD_WORDS), 20000, 10),
          task('target', target_vocab, 2000, 12))


def _dense(inputs, units, name, initializer=None):
  with tf.compat.v1.variable_scope(name):
    kernel = tf.compat.v1.get_variable('kernel', [inputs.shape[-1], units],
                                       initializer=initializer)
    bias = tf.compat.v1.get_variable(
        'bias', [units], initializer=tf.compat.v1.zeros_initializer())
    return tf.matmul(inputs, kernel) + bias


def model_fn(features, labels, mode, params):
  """An embedding of the word and the dense features, a hidden layer, a head."""
  with tf.compat.v1.variable_scope(params['scope']):
    embedding = tf.compat.v1.get_variable(
        'embedding/weights', [params['vocab_size'], _EMBEDDING],
        initializer=tf.compat.v1.truncated_normal_initializer(stddev=0.1))
    words = tf.nn.embedding_lookup(embedding, features['word'])
    hidden = tf.nn.relu(_dense(tf.concat([words, features['dense']], 1),
                               _HIDDEN, 'hidden'))
    # A new head starts at zero: no random logits on top of learned features.
    logits = _dense(hidden, params['num_classes'], 'head',
                    tf.compat.v1.zeros_initializer())
  loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
  train_op = tf.compat.v1.train.MomentumOptimizer(0.1, 0.9).minimize(
      loss, global_step=tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


class _LossRecorder(tf.compat.v1.train.SessionRunHook):
  """Records the training loss of every step."""

  def __init__(self):
    self.losses = []
    self._loss = None

  def begin(self):
    self._loss = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.LOSSES)[0]

  def before_run(self, run_context):
    return tf.compat.v1.train.SessionRunArgs(self._loss)

  def after_run(self, run_context, run_values):
    self.losses.append(float(run_values.results))


def _train(task: Task, model_dir: str, steps: int, wrap=None) -> list[float]:
  """Trains `task` in `model_dir`; returns the loss of every step."""

  def input_fn():
    data = tf.data.Dataset.from_tensor_slices((task.features, task.labels))
    return data.shuffle(4096, seed=_SEED).repeat().batch(_BATCH)

  estimator = tf.estimator.Estimator(
      model_fn=wrap(model_fn) if wrap else model_fn,
      model_dir=model_dir,
      params={'scope': task.scope, 'vocab_size': len(task.vocab),
              'num_classes': task.num_classes},
      config=tf.estimator.RunConfig(tf_random_seed=_SEED,
                                    save_checkpoints_steps=steps,
                                    log_step_count_steps=None))
  recorder = _LossRecorder()
  estimator.train(input_fn, steps=steps, hooks=[recorder])
  return recorder.losses


def _settings(source: Task, target: Task,
              source_dir: str) -> tuple[warmstart.WarmStartSettings, ...]:
  """The warm-start settings, from the flags (defaults: our source)."""
  if not FLAGS.warm_start_from:
    # The flags' validators run on each assignment: sources first.
    setattr(FLAGS, 'warm_start_from', [source_dir])
    setattr(FLAGS, 'warm_start_map', [
        'source/embedding/=target/embedding/',
        'source/hidden/=target/hidden/',
        'source/head/=target/head/',
    ])
    # The head has 12 classes where the source has 10.
    setattr(FLAGS, 'warm_start_resize', True)
  settings = warmstart_flags.settings_from_flags()
  if settings is None:  # No source: --warm_start_from was set just above.
    raise app.UsageError('--warm_start_from names no checkpoint.')
  if _REMAP_VOCAB.value:
    vocab_info = warmstart.VocabInfo(
        new_vocab=target.vocab_file, new_vocab_size=len(target.vocab),
        num_oov_buckets=0, old_vocab=source.vocab_file,
        backup_initializer=tf.compat.v1.truncated_normal_initializer(
            stddev=0.1))
    first = dataclasses.replace(
        settings[0],
        var_name_to_vocab_info={'target/embedding/weights': vocab_info})
    settings = (first,) + settings[1:]
  return settings


def run(work_dir: str, steps: int, source_steps: int) -> dict[str, Any]:
  """Runs the demo in `work_dir`; returns its summary (also in result.json)."""
  used = [d for d in ('source', 'warm', 'cold')
          if os.path.exists(os.path.join(work_dir, d))]
  if used:
    # Estimators would resume from the checkpoints there: no fair comparison.
    raise app.UsageError('--work_dir %s already holds a run (%s); give a new '
                         'or empty directory.' % (work_dir, ', '.join(used)))
  os.makedirs(work_dir, exist_ok=True)
  source, target = _make_tasks(work_dir)
  source_dir = os.path.join(work_dir, 'source')
  source_losses = _train(source, source_dir, source_steps)
  print('Source model: %d steps, loss %.3f -> %.3f' %
        (source_steps, source_losses[0], np.mean(source_losses[-20:])))

  settings = _settings(source, target, source_dir)
  warm_dir = os.path.join(work_dir, 'warm')
  warm = _train(target, warm_dir, steps,
                wrap=lambda fn: warmstart.wrap_model_fn(fn, settings))
  cold = _train(target, os.path.join(work_dir, 'cold'), steps)

  plan_file = os.path.join(warm_dir, 'warm_start_plan.json')
  with open(plan_file) as f:
    plan = warmstart.Plan.from_json(f.read())
  print('\nWarm-start plan (%s):\n%s\n' % (plan_file, plan.table()))

  start = max(1, steps // 5)
  summary: dict[str, Any] = {
      'steps': steps,
      'start_steps': start,
      'warm_loss_start': float(np.mean(warm[:start])),
      'cold_loss_start': float(np.mean(cold[:start])),
      'warm_loss_end': float(np.mean(warm[-start:])),
      'cold_loss_end': float(np.mean(cold[-start:])),
      'plan_file': plan_file,
      'num_restored': plan.num_restored,
      'unused_tensors': [u.tensor for u in plan.unused_tensors],
  }
  window = max(1, steps // 10)
  print('Target training loss, mean of every %d steps:' % window)
  for name, losses in (('warm', warm), ('cold', cold)):
    print('  %s  %s' % (name, ' '.join(
        '%.2f' % np.mean(losses[i:i + window])
        for i in range(0, len(losses), window))))
  print('First %d steps: warm %.3f, cold %.3f. Last %d steps: warm %.3f, '
        'cold %.3f.' % (start, summary['warm_loss_start'],
                        summary['cold_loss_start'], start,
                        summary['warm_loss_end'], summary['cold_loss_end']))
  print('The plan is in %s; tensorboard --logdir %s shows it too.' %
        (plan_file, warm_dir))
  with open(os.path.join(work_dir, 'result.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  return summary


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  work_dir = _WORK_DIR.value or tempfile.mkdtemp(prefix='warmstart_demo_')
  print('Working in %s' % work_dir)
  logging.set_verbosity(logging.WARNING)
  tf.get_logger().setLevel('ERROR')  # TF's deprecation notices.
  run(work_dir, _STEPS.value, _SOURCE_STEPS.value)


if __name__ == '__main__':
  app.run(main)
