"""Two models' checkpoints into one model, two ways, with the same result.

A "text" model and an "image" model were trained apart; both name their
variables `encoder/...`. A new two-tower model wants them as `text/encoder/...`
and `image/encoder/...`, plus a new `fusion/` head. This example warm-starts it

1. from two sources at once: one `WarmStartSettings` per checkpoint, each
   with its own assignment map; and
2. from one checkpoint written by `warmstart.merge_checkpoints` (the library
   side of `python -m warmstart merge`), which renames as it merges,

and shows that every variable gets the same value both ways.

Run: python examples/merge_two_models.py [--work_dir=DIR]
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

import warmstart

_WORK_DIR = flags.DEFINE_string(
    'work_dir', None, 'Where to write the checkpoints (default: a new '
    'temporary directory).')

_RENAMES = ({'encoder/': 'text/encoder/'}, {'encoder/': 'image/encoder/'})


def _dense(inputs: tf.Tensor, units: int, name: str) -> tf.Tensor:
  with tf.compat.v1.variable_scope(name):
    kernel = tf.compat.v1.get_variable('kernel', [inputs.shape[-1], units])
    bias = tf.compat.v1.get_variable(
        'bias', [units], initializer=tf.compat.v1.zeros_initializer())
    return tf.matmul(inputs, kernel) + bias


def _tower(scope: str, inputs: tf.Tensor) -> tf.Tensor:
  """One encoder, a two-layer MLP: the same in both models."""
  with tf.compat.v1.variable_scope(scope):
    return _dense(tf.nn.relu(_dense(inputs, 16, 'hidden')), 8, 'output')


def _save_model(directory: str, seed: int) -> str:
  """Builds and trains a few steps of a one-tower model; returns its prefix."""
  os.makedirs(directory, exist_ok=True)
  rng = np.random.default_rng(seed)
  features = rng.normal(size=(64, 10)).astype(np.float32)
  targets = rng.normal(size=(64, 8)).astype(np.float32)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(seed)
    loss = tf.reduce_mean(tf.square(_tower('encoder', features) - targets))
    step = tf.compat.v1.train.get_or_create_global_step()
    train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=step)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for _ in range(20):
        sess.run(train)
      return saver.save(sess, os.path.join(directory, 'model.ckpt'),
                        global_step=step)


def _two_tower_model() -> None:
  """The new model: both towers under new scopes, and a new head."""
  inputs = tf.compat.v1.placeholder(tf.float32, [None, 10])
  both = tf.concat([_tower('text/encoder', inputs),
                    _tower('image/encoder', inputs)], axis=1)
  _dense(both, 2, 'fusion/logits')
  tf.compat.v1.train.get_or_create_global_step()


def _warm_started_values(settings) -> tuple[dict[str, np.ndarray],
                                            warmstart.Plan]:
  """Builds the new model, warm-starts it, returns its initial values."""
  with tf.Graph().as_default() as graph:
    tf.compat.v1.set_random_seed(0)  # Same initial values of the new head.
    _two_tower_model()
    plan = warmstart.apply_settings(settings)
    variables = graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      values = sess.run({v.op.name: v for v in variables})
  return values, plan


def run(work_dir: str) -> dict:
  """Runs the example in `work_dir`; returns its summary."""
  text = _save_model(os.path.join(work_dir, 'text_model'), seed=1)
  image = _save_model(os.path.join(work_dir, 'image_model'), seed=2)

  # 1. Two sources, one assignment map each.
  two_sources = [
      warmstart.WarmStartSettings(text, assignment_map=_RENAMES[0]),
      warmstart.WarmStartSettings(image, assignment_map=_RENAMES[1]),
  ]
  values_1, plan_1 = _warm_started_values(two_sources)
  print('1. Warm start from two sources:\n%s\n' % plan_1.table())

  # 2. One merged checkpoint. Same as:
  #   python -m warmstart merge TEXT IMAGE --output MERGED \
  #     --map 0:encoder/=text/encoder/ --map 1:encoder/=image/encoder/ \
  #     --exclude 'global_step$'
  merged = os.path.join(work_dir, 'merged', 'model.ckpt')
  result = warmstart.merge_checkpoints(
      [(text, _RENAMES[0]), (image, _RENAMES[1])], merged,
      exclude='global_step$', overwrite=True)
  print('2. Merged checkpoint:\n%s\n' % result.table())
  values_2, plan_2 = _warm_started_values(
      warmstart.WarmStartSettings(merged, '(text|image)/encoder/'))
  print('   Warm start from the merged checkpoint:\n%s\n' % plan_2.table())

  differing = sorted(n for n in values_1
                     if not np.array_equal(values_1[n], values_2[n]))
  summary = {
      'equal': not differing and set(values_1) == set(values_2),
      'differing': differing,
      'num_variables': len(values_1),
      'restored_from_two_sources': plan_1.num_restored,
      'restored_from_merged': plan_2.num_restored,
      'merged_checkpoint': merged,
  }
  with open(os.path.join(work_dir, 'result.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  if summary['equal']:
    print('Both ways give every one of the %d variables the same value '
          '(%d warm-started, the fusion head and global step fresh).' %
          (len(values_1), plan_1.num_restored))
  else:
    print('The two ways differ in: %s' % ', '.join(differing))
  return summary


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  work_dir = _WORK_DIR.value or tempfile.mkdtemp(prefix='warmstart_merge_')
  print('Working in %s\n' % work_dir)
  return 0 if run(work_dir)['equal'] else 1


if __name__ == '__main__':
  app.run(main)
