"""`wrap_model_fn`: warm-starts an Estimator by wrapping its model_fn.

The wrapper calls the user's model_fn, then (in the chosen modes, on a fresh
start) plans, validates and applies the warm start in the graph the model_fn
built, and returns its spec with the Scaffold that runs the restores. Nothing
of Estimator is copied or patched: any Estimator built from a model_fn
(`tf.estimator.Estimator`, `TPUEstimator`; under a distribution strategy or
in a parameter-server cluster) takes the wrapper as its model_fn, with
`warm_start_from=None`. Canned Estimators take no model_fn: `wrap_estimator`
wraps theirs.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional

import tensorflow as tf

from warmstart import _errors
from warmstart import _plan
from warmstart import _planning
from warmstart import _scope
from warmstart._session import _plan_hook
from warmstart._session import _scaffold
from warmstart._session import _start_step
from warmstart import _settings
from warmstart import _tf_compat
from warmstart import _variables

try:
  ModeKeys = tf.estimator.ModeKeys
except AttributeError:  # TF >= 2.16 ships no Estimator: the core still imports.

  class ModeKeys:  # pylint: disable=invalid-name
    """tf.estimator.ModeKeys' values, for TF versions without Estimator."""
    TRAIN = 'train'
    EVAL = 'eval'
    PREDICT = 'infer'

#: The arguments Estimator passes to a model_fn (by keyword, if accepted).
MODEL_FN_ARGS = ('features', 'labels', 'mode', 'params', 'config')

_MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)

#: The modes in which `wrap_model_fn` and `wrap_estimator` warm-start: every
#: one, as `Estimator(warm_start_from=...)` does on a fresh model_dir.
DEFAULT_MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)

#: The spec field that holds the hooks of each mode.
_HOOKS_FIELD = {
    ModeKeys.TRAIN: 'training_hooks',
    ModeKeys.EVAL: 'evaluation_hooks',
    ModeKeys.PREDICT: 'prediction_hooks',
}


def _name(fn: Any) -> str:
  if isinstance(fn, functools.partial):
    return 'functools.partial(%s)' % _name(fn.func)
  name = getattr(fn, '__qualname__', None) or getattr(fn, '__name__', None)
  return name or repr(fn)


def model_fn_args(model_fn: Any) -> frozenset[str]:
  """Returns the Estimator arguments `model_fn` accepts, checking them.

  Like Estimator, only named parameters count (`*args` and `**kwargs` are
  given nothing); arguments already bound by `functools.partial` are not
  passed again.

  Raises:
    TypeError: `model_fn` is not callable, or has no readable signature.
    ValueError: it takes no `features`, or an argument Estimator never
      passes.
  """
  if not callable(model_fn):
    raise TypeError('wrap_model_fn needs a callable model_fn, got %r of type '
                    '%s.' % (model_fn, type(model_fn).__name__))
  try:
    signature = inspect.signature(model_fn)
  except (TypeError, ValueError) as e:
    raise TypeError('Cannot read the arguments of model_fn %s: %s' %
                    (_name(model_fn), e)) from None
  bound = set(model_fn.keywords) if isinstance(model_fn,
                                               functools.partial) else set()
  names = [
      p.name for p in signature.parameters.values()
      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and
      p.name not in bound
  ]
  if 'features' not in names:
    raise ValueError(
        'model_fn %s must take a features argument (it takes %s); Estimator '
        'passes every argument by name.' %
        (_name(model_fn), ', '.join(repr(n) for n in names) or 'none'))
  unknown = [n for n in names if n not in MODEL_FN_ARGS]
  if unknown:
    raise ValueError(
        'model_fn %s takes argument(s) %s, which Estimator never passes: a '
        'model_fn takes features and any of labels, mode, params, config.%s' %
        (_name(model_fn), ', '.join(repr(n) for n in unknown),
         _errors.did_you_mean(unknown[0], MODEL_FN_ARGS)))
  return frozenset(names)


def _check_modes(modes: Any) -> frozenset[str]:
  if isinstance(modes, (str, bytes)) or not isinstance(modes, Iterable):
    raise _errors.SettingsError(
        'wrap_model_fn modes must be a collection of tf.estimator.ModeKeys, '
        'e.g. (ModeKeys.TRAIN, ModeKeys.PREDICT); got %r.' % (modes,))
  modes = tuple(modes)
  if not modes:
    raise _errors.SettingsError(
        'wrap_model_fn modes is empty: the warm start would never run. Valid '
        'modes: %s.' % ', '.join(_MODES))
  for mode in modes:
    if mode not in _MODES:
      raise _errors.SettingsError(
          'wrap_model_fn modes holds %r, which is no tf.estimator.ModeKeys.%s '
          'Valid modes: %s.' %
          (mode, _errors.did_you_mean(str(mode), _MODES), ', '.join(_MODES)))
  return frozenset(modes)


def _is_tpu_spec(spec: Any) -> bool:
  """True for a `TPUEstimatorSpec` (it carries a scaffold_fn, no Scaffold)."""
  return (not isinstance(spec, tf.estimator.EstimatorSpec) and
          hasattr(spec, 'scaffold_fn') and hasattr(spec, '_replace'))


def _warm_scaffold(scaffold: tf.compat.v1.train.Scaffold,
                   sources: Sequence[_planning.Source],
                   stand_ins: Optional[_scope.StandIns]
                  ) -> tuple[_plan.Plan, tf.compat.v1.train.Scaffold]:
  """Applies the warm start; returns its plan and the Scaffold that runs it.

  The restores are the variables' new initializers, so the default init op
  (built by `Scaffold.finalize()`, after this) runs them, and `scaffold` is
  returned as is. An init op that exists already (the user's Scaffold's, or
  the `INIT_OP` collection's) runs the original initializers instead: then
  the restores run right after it, from the `init_fn` of a copy of the
  Scaffold (which still calls the user's `init_fn` afterwards). Everything
  else of the user's Scaffold is kept.
  """
  graph = tf.compat.v1.get_default_graph()
  init_op = scaffold.init_op
  if init_op is None:
    init_op = _scaffold.collection_init_op(graph)

  # In a replica context (MirroredStrategy) this goes through merge_call:
  # built once, for every replica.
  custom_before = len(graph.get_collection(_variables.CUSTOM_RESTORES))
  plan = _scope.plan_and_apply(sources, graph, stand_ins=stand_ins)
  if init_op is not None:
    # Nor does it run the custom variables' restores of this warm start.
    custom = graph.get_collection(_variables.CUSTOM_RESTORES)[custom_before:]
    scaffold = tf.compat.v1.train.Scaffold(
        init_fn=_scaffold.init_fn_after(
            list(_scaffold.restore_initializers(plan).values()) + custom,
            scaffold.init_fn),
        copy_from_scaffold=scaffold)
  return plan, scaffold


def _with_hook(spec: Any, mode: str, hook: Any) -> dict[str, Any]:
  field = _HOOKS_FIELD[mode]
  return {field: tuple(getattr(spec, field) or ()) + (hook,)}


def _warm_started(spec: Any, sources: Sequence[_planning.Source],
                  mode: str, config: Any, who: str,
                  stand_ins: Optional[_scope.StandIns]) -> Any:
  """Returns `spec` with the warm start applied (on a fresh start)."""
  model_dir = getattr(config, 'model_dir', None)
  report_dir = None
  if mode == ModeKeys.TRAIN and model_dir and getattr(config, 'is_chief',
                                                      True):
    report_dir = model_dir
  check = _plan_hook.PlanHook(who, report_dir)
  if _is_tpu_spec(spec):
    user_scaffold_fn = spec.scaffold_fn

    def scaffold_fn() -> tf.compat.v1.train.Scaffold:
      # On TPU the model_fn runs in the TPU computation; scaffold_fn runs on
      # the CPU, where restore ops belong.
      scaffold = (user_scaffold_fn() if user_scaffold_fn is not None else
                  tf.compat.v1.train.Scaffold())
      if not isinstance(scaffold, tf.compat.v1.train.Scaffold):
        raise TypeError('%s: TPUEstimatorSpec.scaffold_fn returned %r, not a '
                        'tf.compat.v1.train.Scaffold.' % (who, scaffold))
      plan, scaffold = _warm_scaffold(scaffold, sources, stand_ins)
      check.record(plan)
      if mode == ModeKeys.TRAIN:
        _start_step.announce(plan, tf.compat.v1.get_default_graph(), who)
      return scaffold

    return spec._replace(scaffold_fn=scaffold_fn,
                         **_with_hook(spec, mode, check))
  if not isinstance(spec, tf.estimator.EstimatorSpec):
    if stand_ins is not None:
      stand_ins.release()
    raise TypeError('%s must return a tf.estimator.EstimatorSpec or a '
                    'TPUEstimatorSpec, got %r of type %s.' %
                    (who, spec, type(spec).__name__))
  plan, scaffold = _warm_scaffold(spec.scaffold, sources, stand_ins)
  check.record(plan)
  if mode == ModeKeys.TRAIN:
    _start_step.announce(plan, tf.compat.v1.get_default_graph(), who)
  return spec._replace(scaffold=scaffold, **_with_hook(spec, mode, check))


def _signature_of(call: Callable[..., Any], takes_labels: bool,
                  takes_params: bool) -> Callable[..., Any]:
  """A function with exactly the arguments Estimator should pass to `call`.

  Estimator reads a model_fn's arguments to decide what to pass, and checks
  them: it refuses labels a model_fn does not take and params it does not
  declare. The wrapper declares what the user's model_fn declares, plus mode
  and config, which the warm start needs, so those checks still hold.
  """
  # pylint: disable=function-redefined
  if takes_labels and takes_params:

    def model_fn(features, labels, mode, params, config):
      return call(features, labels, mode, params, config)
  elif takes_labels:

    def model_fn(features, labels, mode, config):
      return call(features, labels, mode, None, config)
  elif takes_params:

    def model_fn(features, mode, params, config):
      return call(features, None, mode, params, config)
  else:

    def model_fn(features, mode, config):
      return call(features, None, mode, None, config)
  # pylint: enable=function-redefined
  return model_fn


def wrap_model_fn(
    model_fn: Callable[..., Any],
    settings: Any,
    *,
    modes: Iterable[str] = DEFAULT_MODES,
    at_creation: bool = True,
    **options: Any) -> Callable[..., Any]:
  """Returns a model_fn that warm-starts the graph `model_fn` builds.

  Pass the result to any `tf.estimator.Estimator` (with `warm_start_from`
  left None). In each of `modes`, after `model_fn` has built the graph:

  * if `config.model_dir` holds a checkpoint, the run resumes from it: no
    restore op is built, and one info line says so;
  * otherwise `model_fn` runs under `warmstart.warm_start_scope`: the
    variables the warm start will restore never build their initializers
    (identical results, less to build and start; `at_creation=False` builds
    them as a model_fn alone does). Then the warm start is planned and
    validated (every problem,
    including a variable claimed by two sources, is raised here, before
    anything is written to model_dir), its restore initializers are
    installed, and the returned spec's Scaffold runs them when the session
    is created. The user's Scaffold is kept (saver, init_fn, ready ops,
    local init op, feed dicts, summary op); a user `init_op` runs first,
    then the restores. In TRAIN mode, once the session is created, the
    chief writes the plan to `model_dir` (`warm_start_plan.json` and a
    TensorBoard text summary, see `write_plan`). One info line gives the
    plan's summary; the per-variable table is logged at debug level.

  A `TPUEstimatorSpec` gets a `scaffold_fn` that does the same on the CPU.
  Under `MirroredStrategy` (model_fn in replica context) the warm start is
  built once, in `merge_call`, and fills every replica. In a parameter-server
  cluster the chief restores; workers wait for it as usual.

  Do not also pass `warm_start_from` to the Estimator for the same
  variables: Estimator warm-starts after the model_fn returns, replacing the
  initializers; the wrapper detects that when the session starts (before
  any step or checkpoint) and raises `ConflictError` naming the variables.
  Disjoint selections work (each variable is warm-started once).

  Example:

    ```python
    estimator = tf.estimator.Estimator(
        warmstart.wrap_model_fn(
            model_fn,
            warmstart.WarmStartSettings(
                '/models/base', vars_to_warm_start='dnn/.*',
                var_name_to_prev_var_name={'dnn/logits/kernel': 'head/w'})),
        model_dir='/models/new')
    estimator.train(input_fn, max_steps=1000)
    ```

  Args:
    model_fn: The model function; it takes `features` and any of `labels`,
      `mode`, `params`, `config` (by name; only these are passed to it).
    settings: A `warmstart.WarmStartSettings`, a
      `tf.estimator.WarmStartSettings`, a checkpoint path, or a list of these
      (one per source checkpoint). Validated now.
    modes: The `tf.estimator.ModeKeys` in which to warm-start; by default
      every mode, as `Estimator(warm_start_from=...)`: `train`, `evaluate`
      and `predict` on a model_dir without a checkpoint start from the warm
      start. A `checkpoint_path` given to `predict`/`evaluate` wins: the
      session restores it and never runs the restores. `export_saved_model`
      looks for a checkpoint before it calls any model_fn, so a model_fn
      cannot warm-start it: use `wrap_estimator`, whose Estimator exports
      the warm start from a fresh model_dir.
    at_creation: Give the variables the warm start restores a stand-in
      initial value when they are created (see `warm_start_scope`), so their
      initializers are never built. False: the model_fn builds every
      initializer, the warm start replaces those it restores.
    **options: Options of `warmstart.Options` (e.g. `skip_mismatched=True`,
      `max_chunk_bytes=...`), for every source; they override the settings'.

  Returns:
    The wrapping model_fn. It takes `features`, `mode`, `config`, and
    `labels` and `params` if `model_fn` does.

  Raises:
    ImportError: this TensorFlow has no `tf.estimator` (TF >= 2.16).
    TypeError: `model_fn` is not callable.
    ValueError: `model_fn` takes no `features` or an unknown argument.
    SettingsError: malformed settings, options, modes or at_creation.
  """
  _tf_compat.require_estimator('wrap_model_fn')
  accepted = model_fn_args(model_fn)
  sources = _planning.settings_sources(
      _settings.normalize(settings, **options))
  modes = _check_modes(modes)
  if not isinstance(at_creation, bool):
    raise _errors.SettingsError(
        'wrap_model_fn at_creation must be True or False, got %r.' %
        (at_creation,))
  name = _name(model_fn)
  who = 'wrap_model_fn(%s)' % name

  def call(features, labels, mode, params, config):
    given = {'labels': labels, 'mode': mode, 'params': params,
             'config': config}
    kwargs = {k: v for k, v in given.items() if k in accepted}
    if mode not in modes or _scaffold.resume_checkpoint(
        getattr(config, 'model_dir', None), who):
      return model_fn(features=features, **kwargs)
    stand_ins = _scope.StandIns(sources) if at_creation else None
    with stand_ins or contextlib.nullcontext():
      spec = model_fn(features=features, **kwargs)
    return _warm_started(spec, sources, mode, config, who, stand_ins)

  wrapped = _signature_of(call, 'labels' in accepted, 'params' in accepted)
  wrapped.__name__ = 'warm_started_%s' % getattr(model_fn, '__name__',
                                                 'model_fn')
  wrapped.__qualname__ = wrapped.__name__
  wrapped.__doc__ = 'Warm-starting wrapper of %s (see wrap_model_fn).' % name
  return wrapped
