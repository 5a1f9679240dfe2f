"""`wrap_estimator`: warm-starts any Estimator, canned ones included.

Like `tf.estimator.add_metrics`, it builds a new Estimator around the given
one's `model_fn` (bound to its params), with the same `model_dir`, `config`
and `params`; the new model_fn is `wrap_model_fn`'s wrapper of it, so
everything `wrap_model_fn` guarantees holds (problems raised before
anything is written, restarts resume from `model_dir`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import tensorflow as tf

from warmstart import _errors
from warmstart._session import _estimator
from warmstart import _tf_compat


def wrap_estimator(estimator: Any,
                   settings: Any,
                   *,
                   modes: Iterable[str] = _estimator.DEFAULT_MODES,
                   at_creation: bool = True,
                   **options: Any) -> Any:
  """Returns a new Estimator that warm-starts `estimator`'s model.

  For Estimators that take no model_fn: the canned ones
  (`LinearRegressor`, `DNNClassifier`, `DNNLinearCombinedClassifier`, ...,
  `tf.estimator` and `tf.compat.v1.estimator` alike). The result has the
  same `model_dir`, `config` and `params`, and its model_fn is
  `wrap_model_fn(estimator.model_fn, settings, modes=modes, **options)`;
  it is a `tf.estimator.Estimator` for a `tf.estimator` Estimator and a
  `tf.compat.v1.estimator.Estimator` otherwise. Use the result in place of
  `estimator` (train, evaluate, export); the warm start behaves as
  described in `wrap_model_fn`: validated when the graph is built, before
  anything is written, and skipped on a restart (model_dir holds a
  checkpoint).

  Example:

    ```python
    estimator = warmstart.wrap_estimator(
        tf.estimator.DNNClassifier(hidden_units=[256, 64],
                                   feature_columns=columns,
                                   model_dir='/models/new'),
        warmstart.WarmStartSettings('/models/base', 'dnn/hiddenlayer_.*'))
    estimator.train(input_fn, max_steps=1000)
    ```

  Args:
    estimator: A `tf.estimator.Estimator` (or v1 Estimator), built without
      `warm_start_from`.
    settings: As for `wrap_model_fn`: a `warmstart.WarmStartSettings`, a
      `tf.estimator.WarmStartSettings`, a checkpoint path, or a list of
      these (one per source checkpoint). Validated now.
    modes: The `tf.estimator.ModeKeys` in which to warm-start (see
      `wrap_model_fn`).
    at_creation: Whether restored variables skip building their initializers
      (see `wrap_model_fn`).
    **options: Options of `warmstart.Options`, for every source; they
      override the settings'.

  Returns:
    The new Estimator.

  Raises:
    ImportError: this TensorFlow has no `tf.estimator` (TF >= 2.16).
    TypeError: `estimator` is not an Estimator, or is a `TPUEstimator`
      (give `wrap_model_fn`'s wrapper to the TPUEstimator instead).
    SettingsError: `estimator` has `warm_start_from` set, or the settings,
      options or modes are malformed.
  """
  _tf_compat.require_estimator('wrap_estimator')
  if not isinstance(estimator, tf.compat.v1.estimator.Estimator):
    raise TypeError(
        'wrap_estimator takes a tf.estimator.Estimator (a canned one such as '
        'DNNClassifier, or any other), got %r of type %s.%s' %
        (estimator, type(estimator).__name__,
         ' For a model_fn, use wrap_model_fn.' if callable(estimator) else ''))
  tpu_estimator = getattr(getattr(tf.compat.v1.estimator, 'tpu', None),
                          'TPUEstimator', None)
  if tpu_estimator is not None and isinstance(estimator, tpu_estimator):
    raise TypeError(
        'wrap_estimator builds a plain Estimator, which cannot run a '
        "TPUEstimator's model_fn (it needs TPUEstimator's own loop): build "
        'the TPUEstimator with model_fn=warmstart.wrap_model_fn(model_fn, '
        'settings) instead.')
  earlier = _tf_compat.estimator_warm_start_settings(estimator)
  if earlier is not None:
    raise _errors.SettingsError(
        'wrap_estimator: the estimator already warm-starts from %r '
        '(warm_start_from=%r), which the new Estimator would either drop, '
        'or run after the wrapper, replacing its restores. Build the '
        'estimator without warm_start_from and pass its settings to '
        'wrap_estimator as '
        'another source: wrap_estimator(estimator, [settings, '
        'tf.estimator.WarmStartSettings(%r, ...)]).' %
        (earlier.ckpt_to_initialize_from, earlier,
         earlier.ckpt_to_initialize_from))
  bound = estimator.model_fn  # Bound to the estimator's params.

  def model_fn(features, labels, mode, params, config):
    del params  # The same as the estimator's, which `bound` passes itself.
    return bound(features, labels, mode, config)

  model_fn.__qualname__ = '%s.model_fn' % type(estimator).__name__
  wrapped = _estimator.wrap_model_fn(model_fn, settings, modes=modes,
                                     at_creation=at_creation, **options)
  estimator_class = (tf.estimator.Estimator
                     if isinstance(estimator, tf.estimator.Estimator) else
                     tf.compat.v1.estimator.Estimator)
  return estimator_class(
      model_fn=wrapped,
      model_dir=estimator.model_dir,
      config=estimator.config,
      params=estimator.params)
