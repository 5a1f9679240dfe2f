"""A PyTorch-layout model's safetensors file into a TF1 Estimator model.

The "PyTorch" model is written with numpy alone, as `safetensors` files
hold it: dotted names (`encoder.layer.0.attention.qkv.weight`), `Linear`
weights `[out, in]`, and attention blocks whose query, key and value
projections are one fused `[3 * d, d]` weight. The TF1 model keeps kernels
`[in, out]` under its own scopes (`layer_0/attention/q/kernel`) and separate
q/k/v kernels. The warm start maps one onto the other with renames,
transposes and a split (`warmstart.Transform`); the safetensors file is
staged once into a checkpoint in the cache (never embedded in the graph).
Both models then run on the same input, and their outputs must agree.

Run: python examples/from_pytorch.py [--work_dir=DIR]
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Union

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from safetensors import numpy as safetensors_numpy

import warmstart

_WORK_DIR = flags.DEFINE_string(
    'work_dir', None, 'Where to write the files (default: a new temporary '
    'directory).')

_VOCAB, _DIM, _LAYERS, _CLASSES = 20, 8, 2, 3


def _pytorch_weights(seed: int = 0) -> dict[str, np.ndarray]:
  """The state_dict of the "PyTorch" model, in its own layout."""
  rng = np.random.default_rng(seed)

  def normal(*shape: int) -> np.ndarray:
    return (rng.normal(size=shape) / np.sqrt(shape[-1])).astype(np.float32)

  weights = {'embeddings.word_embeddings.weight': normal(_VOCAB, _DIM)}
  for i in range(_LAYERS):
    layer = 'encoder.layer.%d.attention.' % i
    weights.update({
        layer + 'qkv.weight': normal(3 * _DIM, _DIM),  # [out, in], fused
        layer + 'qkv.bias': normal(3 * _DIM),
        layer + 'output.dense.weight': normal(_DIM, _DIM),  # [out, in]
        layer + 'output.dense.bias': normal(_DIM),
    })
  weights['classifier.weight'] = normal(_CLASSES, _DIM)  # [out, in]
  weights['classifier.bias'] = normal(_CLASSES)
  return weights


def _softmax(x: np.ndarray) -> np.ndarray:
  e = np.exp(x - x.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)


def pytorch_forward(w: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray:
  """The "PyTorch" model's forward pass, in numpy: logits per example.

  `Linear(x) = x @ weight.T + bias`, as torch.nn.Linear computes it.
  """
  x = w['embeddings.word_embeddings.weight'][ids]  # [batch, seq, d]
  for i in range(_LAYERS):
    layer = 'encoder.layer.%d.attention.' % i
    qkv = x @ w[layer + 'qkv.weight'].T + w[layer + 'qkv.bias']
    q, k, v = np.split(qkv, 3, axis=-1)
    attention = _softmax(q @ np.swapaxes(k, 1, 2) / np.sqrt(_DIM))
    x = x + (attention @ v) @ w[layer + 'output.dense.weight'].T + w[
        layer + 'output.dense.bias']
  return x.mean(axis=1) @ w['classifier.weight'].T + w['classifier.bias']


def _dense(inputs: tf.Tensor, units: int, name: str) -> tf.Tensor:
  """A dense layer of TF1: kernel [in, out]."""
  with tf.compat.v1.variable_scope(name):
    kernel = tf.compat.v1.get_variable('kernel', [inputs.shape[-1], units])
    bias = tf.compat.v1.get_variable('bias', [units])
    return tf.tensordot(inputs, kernel, 1) + bias


def model_fn(features: Any, labels: Any, mode: str) -> Any:
  """The TF1 model: kernels [in, out], separate q, k and v."""
  del labels
  embedding = tf.compat.v1.get_variable('embedding', [_VOCAB, _DIM])
  x = tf.nn.embedding_lookup(embedding, features)
  for i in range(_LAYERS):
    with tf.compat.v1.variable_scope('layer_%d/attention' % i):
      q, k, v = (_dense(x, _DIM, name) for name in ('q', 'k', 'v'))
      scores = tf.matmul(q, k, transpose_b=True) / np.sqrt(_DIM)
      x = x + _dense(tf.matmul(tf.nn.softmax(scores), v), _DIM, 'output')
  logits = _dense(tf.reduce_mean(x, axis=1), _CLASSES, 'classifier')
  return tf.estimator.EstimatorSpec(mode, predictions=logits)


def assignment_map() -> dict[str, Union[str, warmstart.Transform]]:
  """The PyTorch names -> the TF1 variables: renames, transposes, a split."""
  transpose = warmstart.transpose([1, 0])  # [out, in] -> [in, out]
  mapping: dict[str, Union[str, warmstart.Transform]] = {
      'embeddings.word_embeddings.weight': 'embedding',
      'classifier.weight': warmstart.Transform('classifier/kernel',
                                               transpose),
      'classifier.bias': 'classifier/bias',
  }
  for i in range(_LAYERS):
    source = 'encoder.layer.%d.attention.' % i
    target = 'layer_%d/attention/' % i
    qkv = [target + part for part in ('q/', 'k/', 'v/')]
    mapping.update({
        # [3d, d] -> transpose -> [d, 3d] -> split along axis 1: q, k, v.
        source + 'qkv.weight': warmstart.Transform(
            [t + 'kernel' for t in qkv], transpose, warmstart.split(axis=1)),
        source + 'qkv.bias': warmstart.Transform(
            [t + 'bias' for t in qkv], warmstart.split(axis=0)),
        source + 'output.dense.weight': warmstart.Transform(
            target + 'output/kernel', transpose),
        source + 'output.dense.bias': target + 'output/bias',
    })
  return mapping


def main(argv: list[str]) -> None:
  del argv
  work_dir = _WORK_DIR.value or tempfile.mkdtemp(prefix='from_pytorch_')
  os.makedirs(work_dir, exist_ok=True)
  weights = _pytorch_weights()
  path = os.path.join(work_dir, 'model.safetensors')
  safetensors_numpy.save_file(weights, path)

  # Checked before any model is built: every name exists, every transform
  # fits its target.
  settings = warmstart.WarmStartSettings(
      path, assignment_map=assignment_map(),
      cache_dir=os.path.join(work_dir, 'cache'))
  estimator = tf.estimator.Estimator(
      warmstart.wrap_model_fn(model_fn, settings),
      model_dir=os.path.join(work_dir, 'model'))
  ids = np.random.default_rng(1).integers(0, _VOCAB, size=(4, 6))
  predict = tf.compat.v1.estimator.inputs.numpy_input_fn(
      ids, batch_size=4, shuffle=False)
  got = np.stack(list(estimator.predict(predict)))
  expected = pytorch_forward(weights, ids)
  np.testing.assert_allclose(expected, got, rtol=1e-4, atol=1e-5)
  print('The TF1 model computes what the PyTorch one does: max |diff| %.2e' %
        np.abs(expected - got).max())
  with open(os.path.join(work_dir, 'result.json'), 'w') as f:
    json.dump({'max_abs_diff': float(np.abs(expected - got).max()),
               'tensors': len(weights)}, f)


if __name__ == '__main__':
  app.run(main)
