"""`wrap_estimator`: warm-starts any Estimator, canned ones included.

Like `tf.estimator.add_metrics`, it builds a new Estimator around the given
one's `model_fn` (bound to its params), with the same `model_dir`, `config`
and `params`; the new model_fn is `wrap_model_fn`'s wrapper of it, so
everything `wrap_model_fn` guarantees holds (problems raised before
anything is written, restarts resume from `model_dir`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Optional

import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart._session import _estimator
from warmstart._session import _start_step
from warmstart import _tf_compat

# TF >= 2.16 ships no Estimator: the module still imports (wrap_estimator
# then raises the ImportError of `_tf_compat.require_estimator`).
_HAS_ESTIMATOR = hasattr(tf, 'estimator')


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
  checkpoint). Its `train` warns, before any session exists, when a kept or
  set global step starts the run at or past `max_steps`.

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
  estimator_class = (_WarmStartedEstimator
                     if isinstance(estimator, tf.estimator.Estimator) else
                     _WarmStartedEstimatorV1)
  return estimator_class(
      model_fn=wrapped,
      model_dir=estimator.model_dir,
      config=estimator.config,
      params=estimator.params)


@contextlib.contextmanager
def _export_checkpoint(estimator: Any, checkpoint_path: Optional[str],
                       receivers: Mapping[str, Callable[[], Any]]
                      ) -> Iterator[Optional[str]]:
  """The checkpoint an export reads: the one given, model_dir's latest, or,
  on a fresh model_dir, the warm start written to a temporary checkpoint.

  Estimator's export looks for a checkpoint before it calls any model_fn, so
  the wrapper cannot warm-start it: here the graph of the first mode
  exported (TRAIN, EVAL, PREDICT: the one whose variables Estimator saves)
  is built with the wrapping model_fn, its session created (the restores
  run), and its variables saved. The temporary directory is removed after
  the export.
  """
  if checkpoint_path or estimator.latest_checkpoint():
    yield checkpoint_path
    return
  mode = next(m for m in _estimator.DEFAULT_MODES if receivers.get(m))
  with tempfile.TemporaryDirectory(prefix='warmstart-export-') as directory:
    with tf.Graph().as_default():
      tf.compat.v1.random.set_random_seed(estimator.config.tf_random_seed)
      tf.compat.v1.train.get_or_create_global_step()
      receiver = receivers[mode]()
      spec = estimator.model_fn(receiver.features,
                                getattr(receiver, 'labels', None), mode,
                                estimator.config)
      creator = tf.compat.v1.train.ChiefSessionCreator(
          scaffold=spec.scaffold, config=estimator.config.session_config)
      with creator.create_session() as session:
        path = spec.scaffold.saver.save(
            session, os.path.join(directory, 'model.ckpt'))
    logging.info('Exporting the warm start (model_dir %s holds no checkpoint '
                 'yet).', estimator.model_dir)
    yield path


class _ExportsTheWarmStart:
  """Exports the warm start from a fresh model_dir, as
  `Estimator(warm_start_from=...)` would, and checks the start step against
  `train`'s `max_steps` (a mixin of an Estimator class)."""

  def train(self, input_fn, hooks=None, steps=None, max_steps=None,
            saving_listeners=None):
    with _start_step.training_until(max_steps):
      return super().train(input_fn, hooks, steps, max_steps,
                           saving_listeners)

  def export_saved_model(self, export_dir_base, serving_input_receiver_fn,
                         assets_extra=None, as_text=False,
                         checkpoint_path=None,
                         experimental_mode=_estimator.ModeKeys.PREDICT):
    with _export_checkpoint(self, checkpoint_path,
                            {experimental_mode: serving_input_receiver_fn}
                           ) as path:
      return super().export_saved_model(
          export_dir_base, serving_input_receiver_fn, assets_extra, as_text,
          path, experimental_mode)

  def experimental_export_all_saved_models(self, export_dir_base,
                                           input_receiver_fn_map,
                                           assets_extra=None, as_text=False,
                                           checkpoint_path=None):
    with _export_checkpoint(self, checkpoint_path,
                            input_receiver_fn_map) as path:
      return super().experimental_export_all_saved_models(
          export_dir_base, input_receiver_fn_map, assets_extra, as_text, path)


class _ExportsTheWarmStartV1(_ExportsTheWarmStart):
  """`_ExportsTheWarmStart` with the v1 Estimator's `export_savedmodel`."""

  def export_savedmodel(self, export_dir_base, serving_input_receiver_fn,
                        assets_extra=None, as_text=False,
                        checkpoint_path=None, strip_default_attrs=False):
    with _export_checkpoint(
        self, checkpoint_path,
        {_estimator.ModeKeys.PREDICT: serving_input_receiver_fn}) as path:
      return super().export_savedmodel(
          export_dir_base, serving_input_receiver_fn, assets_extra, as_text,
          path, strip_default_attrs)


# Estimator refuses a subclass that overrides its members in its own body
# (`_assert_members_are_not_overridden` reads the class' own __dict__): the
# overrides live in the mixins above.
class _WarmStartedEstimator(
    _ExportsTheWarmStart,
    tf.estimator.Estimator if _HAS_ESTIMATOR else object):
  """The `tf.estimator.Estimator` `wrap_estimator` returns."""


class _WarmStartedEstimatorV1(
    _ExportsTheWarmStartV1,
    tf.compat.v1.estimator.Estimator if _HAS_ESTIMATOR else object):
  """The `tf.compat.v1.estimator.Estimator` `wrap_estimator` returns."""
