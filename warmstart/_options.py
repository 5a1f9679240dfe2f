"""Every option of a warm start, declared once: default, help and validation.

`Options` is the one declaration. Everything else is derived from its fields:
the keyword options of `init_from_checkpoint` / `make_plan` / `warm_start`,
the option fields of `WarmStartSettings`, the absl flags `--warm_start_<name>`
(`warmstart.flags`), the options of `python -m warmstart plan` (and of
`merge`, for the options whose `merge` metadata says how merge takes them),
and the README's option table (`markdown_table`, checked by a test). Adding
an option is one field here plus the code that acts on it.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import warnings
from collections.abc import Mapping
from typing import Any, Optional

from absl import logging

from warmstart import _errors

#: Default bound on the bytes one batched RestoreV2 reads.
DEFAULT_CHUNK_BYTES = 64 << 20

#: The kinds of option value, each with its validation and its flag type.
BOOL = 'bool'
BYTES = 'bytes'
CHOICE = 'choice'  # One of the declaration's `choices` (a str).
STEP = 'step'  # 'reset', 'keep' or a step number (an int >= 0).
PATH = 'path'  # A directory (str or os.PathLike), or None for the default.

#: `optimizer_state`: what comes along of the optimizer.
OPTIMIZER_STATES = ('auto', 'none', 'matching', 'all')
#: `global_step`: the step the run starts at ('reset': 0; 'keep': the
#: checkpoint's), or a number.
GLOBAL_STEPS = ('reset', 'keep')


def _option(default: Any, kind: str, help_text: str, *,
            merge: Optional[str] = None, relaxes: bool = False,
            choices: tuple[str, ...] = (),
            alias_of: Optional[tuple[str, Any]] = None) -> Any:
  """Declares one option field.

  Args:
    default: Its default (strict).
    kind: `BOOL`, `BYTES`, `CHOICE`, `STEP` or `PATH`.
    help_text: One line: what it does. Shown by flags, CLI and README.
    merge: The `merge_checkpoints` argument it sets, if it applies to merge.
    relaxes: True for an option whose True turns an error into a warning
      (`plan` shows what would happen with all of them set).
    choices: The values of a `CHOICE` option.
    alias_of: For a deprecated boolean: (the option, its value) that True
      stands for. Kept working, left out of the docs' table.
  """
  return dataclasses.field(
      default=default,
      metadata={'kind': kind, 'help': help_text, 'merge': merge,
                'relaxes': relaxes, 'choices': choices,
                'alias_of': alias_of})


@dataclasses.dataclass(frozen=True)
class Options:
  """How strict a warm start is, what it selects beyond the rules, how it reads.

  Every entry point takes these, by the same names: keyword options of
  `init_from_checkpoint`, `make_plan` and `warm_start`, fields of
  `WarmStartSettings`, flags `--warm_start_<name>`, options of
  `python -m warmstart plan`.

  Attributes:
    skip_missing: Skip (with a warning) variables whose tensor is missing
      from the checkpoint, instead of raising `TensorNotFoundError`.
    skip_mismatched: Skip (with a warning) variables whose checkpoint tensor
      has another shape or dtype, instead of raising `MismatchError`.
    allow_unmatched: Allow a scope map, regex, rename or vocabulary key that
      selects nothing (with a warning), instead of raising
      `UnmatchedRuleError`.
    max_chunk_bytes: Upper bound on the bytes one batched RestoreV2 reads (a
      larger single tensor gets a read of its own). Bounds peak memory.
    include_slots: Also warm-start the optimizer slots (and other auxiliary
      variables named `<variable>/<suffix>`, such as moving averages) of the
      selected variables, from `<tensor>/<suffix>`, and the optimizer's own
      variables such as Adam's `beta1_power`. Without it, settings' regexes
      and scope maps leave them out; `init_from_checkpoint`'s scope maps, like
      TF's, take every variable under the scope, slots included.
    include_global_step: Also warm-start the global step. Without it, regexes
      and scope maps never select it (naming it explicitly still does).
    resize: A checkpoint tensor and its variable of the same rank but other
      shapes: the overlapping block (indices `0..min(old, new)-1` along every
      axis) comes from the checkpoint (only it is read), every other cell
      keeps the value the variable's own initializer gives it. Without it,
      a `MismatchError` (or a skip with `skip_mismatched`).
    cast: A float checkpoint tensor into a variable of another float dtype is
      cast to the variable's dtype (`tf.cast`). Integer, bool and string
      mismatches stay errors.
    use_moving_averages: Each variable reads
      `<tensor>/ExponentialMovingAverage` when the checkpoint holds it with
      the tensor's shape and dtype (as `Saver(ema.variables_to_restore())`),
      else its tensor; one warning lists the variables without an average.
    optimizer_state: Which optimizer state comes along ('auto', 'none',
      'matching', 'all'); see the option's help.
    global_step: The step the run starts at: 'reset', 'keep' or a number.
    cache_dir: Where foreign weights files (safetensors, npz, Keras HDF5)
      are staged as checkpoints; None: `$WARMSTART_CACHE_DIR`, else
      `$XDG_CACHE_HOME/warmstart`, else `~/.cache/warmstart`. In a cluster,
      a directory every task that restores sees.
  """

  skip_missing: bool = _option(
      False, BOOL, 'Skip (with a warning) variables whose tensor is missing '
      'from the checkpoint instead of failing.', relaxes=True)
  skip_mismatched: bool = _option(
      False, BOOL, 'Skip (with a warning) variables whose checkpoint tensor '
      'has another shape or dtype instead of failing.', relaxes=True)
  allow_unmatched: bool = _option(
      False, BOOL, 'Allow regexes, map entries and renames that select no '
      'variable (with a warning) instead of failing.',
      merge='allow_unmatched', relaxes=True)
  max_chunk_bytes: int = _option(
      DEFAULT_CHUNK_BYTES, BYTES, 'Upper bound on the bytes one batched '
      'checkpoint read (or merge write) holds in memory.',
      merge='max_batch_bytes')
  include_slots: bool = _option(
      False, BOOL, 'Deprecated: optimizer_state=\'matching\'.',
      alias_of=('optimizer_state', 'matching'))
  include_global_step: bool = _option(
      False, BOOL, 'Deprecated: global_step=\'keep\'.',
      alias_of=('global_step', 'keep'))
  resize: bool = _option(
      False, BOOL, 'Restore a tensor of the same rank but another shape into '
      'the overlapping block of its variable; the other cells keep the '
      'variable\'s own initial value.')
  cast: bool = _option(
      False, BOOL, 'Restore a float tensor into a variable of another float '
      'dtype (float16, bfloat16, float32, float64), cast as tf.cast does.')
  use_moving_averages: bool = _option(
      False, BOOL, 'Read each variable from <tensor>/ExponentialMovingAverage '
      'when the checkpoint holds it (same shape and dtype), else from its '
      'tensor, with one warning naming those without.')
  optimizer_state: str = _option(
      'auto', CHOICE, 'Which optimizer state comes along: auto (as TF: '
      'init_from_checkpoint\'s scope maps take the slots under them, '
      'settings\' regexes none), none (no optimizer variable but those named '
      'one by one), matching (the slots of each restored variable and the '
      'optimizer\'s own variables the checkpoint holds, resized or remapped '
      'with it; the rest start fresh), all (every optimizer variable of the '
      'graph, or an error naming each).', choices=OPTIMIZER_STATES)
  global_step: Any = _option(
      'reset', STEP, 'The step the run starts at: reset (0), keep (the '
      'checkpoint\'s), or a step number.')
  cache_dir: Optional[str] = _option(
      None, PATH, 'Where safetensors, npz and Keras HDF5 sources are staged '
      'as checkpoints (default: $WARMSTART_CACHE_DIR, else '
      '~/.cache/warmstart); in a cluster, one every task sees.',
      merge='cache_dir')

  def __new__(cls, *args: Any, **kwargs: Any) -> Options:
    # A mistyped option gets "Did you mean", not only Python's TypeError.
    check_names(kwargs, who='Options')
    del args  # The dataclass' __init__ takes them.
    return super().__new__(cls)

  def __post_init__(self):
    values = resolve({name: check(name, value)
                      for name, value in dataclasses.asdict(self).items()})
    for name, value in values.items():
      object.__setattr__(self, name, value)

  @property
  def slots(self) -> bool:
    """Whether the slots of selected variables come along."""
    return self.optimizer_state in ('matching', 'all')


@dataclasses.dataclass(frozen=True)
class Declaration:
  """One option as the entry points derive it.

  Attributes:
    name: The field name (`skip_missing`).
    default: Its default.
    kind: `BOOL` or `BYTES`.
    help: Its one-line help.
    merge: The `merge_checkpoints` argument it sets, or None.
  """

  name: str
  default: Any
  kind: str
  help: str
  merge: Optional[str]
  choices: tuple[str, ...] = ()
  alias_of: Optional[tuple[str, Any]] = None

  @property
  def deprecated(self) -> bool:
    return self.alias_of is not None

  @property
  def flag(self) -> str:
    """The absl flag (and CLI long option alias) name."""
    return 'warm_start_' + self.name


#: Every option, in declaration order.
DECLARATIONS: tuple[Declaration, ...] = tuple(
    Declaration(f.name, f.default, f.metadata['kind'], f.metadata['help'],
                f.metadata['merge'], f.metadata['choices'],
                f.metadata['alias_of']) for f in dataclasses.fields(Options))

#: Option names, in declaration order.
NAMES: tuple[str, ...] = tuple(d.name for d in DECLARATIONS)

#: The options whose True turns an error into a warning.
RELAXING: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Options) if f.metadata['relaxes'])

_KINDS = {d.name: d.kind for d in DECLARATIONS}
_BY_NAME = {d.name: d for d in DECLARATIONS}
#: The values of an option its deprecated alias's True stands within.
_IMPLIED_BY = {'optimizer_state': ('matching', 'all'),
               'global_step': ('keep',)}
_warned: set[str] = set()


def resolve(values: dict[str, Any], label: str = 'Option %s') -> dict[str, Any]:
  """`values` with each deprecated alias turned into what it stands for.

  `include_slots=True` is `optimizer_state='matching'`,
  `include_global_step=True` is `global_step='keep'` (one deprecation
  warning each, per process); afterwards both booleans say what the new
  options mean, so either can be read.

  Raises:
    SettingsError: an alias set together with another value of its option.
  """
  values = dict(values)
  for d in DECLARATIONS:
    if d.alias_of is None:
      continue
    target, meaning = d.alias_of
    implied = _IMPLIED_BY[target]
    if values.get(d.name) and values[target] not in implied:
      if values[target] != _BY_NAME[target].default:
        raise _errors.SettingsError(
            '%s=True means %s=%r, but %s=%r was given: keep %s only.' %
            (label % d.name, target, meaning, target, values[target],
             target))
      values[target] = meaning
      if d.name not in _warned:
        _warned.add(d.name)
        message = ('%s is deprecated: write %s=%r.' %
                   (d.name, target, meaning))
        warnings.warn(message, DeprecationWarning, stacklevel=4)
        logging.warning('warmstart: %s', message)
    values[d.name] = values[target] in implied
  return values


def check(name: str, value: Any, label: str = 'Option %s') -> Any:
  """Returns the validated (normalized) value of option `name`.

  Args:
    name: An option name.
    value: Its value.
    label: How the option is named in messages, with `%s` for its name.

  Raises:
    SettingsError: a bad value, naming the option and what is valid.
  """
  where = label % name
  if _KINDS[name] == BOOL:
    if not isinstance(value, bool):
      raise _errors.SettingsError('%s must be True or False, got %r.' %
                                  (where, value))
    return value
  if _KINDS[name] == CHOICE:
    choices = _BY_NAME[name].choices
    if value not in choices:
      raise _errors.SettingsError('%s must be one of %s, got %r.%s' % (
          where, ', '.join(repr(c) for c in choices), value,
          _errors.did_you_mean(str(value), choices)
          if isinstance(value, str) else ''))
    return value
  if _KINDS[name] == PATH:
    if value is None or value == '':
      return None
    if isinstance(value, os.PathLike):
      value = os.fspath(value)
    if not isinstance(value, str):
      raise _errors.SettingsError(
          '%s must be a directory path (str or os.PathLike) or None, got %r.'
          % (where, value))
    return value
  if _KINDS[name] == STEP:
    if isinstance(value, str) and value.strip().isdigit():
      value = int(value)  # A flag's or the command line's spelling.
    if value in GLOBAL_STEPS or (isinstance(value, numbers.Integral) and
                                 not isinstance(value, bool) and value >= 0):
      return value if isinstance(value, str) else int(value)
    raise _errors.SettingsError(
        "%s must be 'reset' (the run starts at 0), 'keep' (the checkpoint's "
        'step) or a step number >= 0, got %r.' % (where, value))
  # Any integer type (numpy's too, e.g. from a config), stored as an int.
  if (not isinstance(value, numbers.Integral) or isinstance(value, bool) or
      value <= 0):
    raise _errors.SettingsError('%s must be a positive int (bytes), got %r.' %
                                (where, value))
  return int(value)


def check_names(names: Any, valid: tuple[str, ...] = NAMES,
                who: Optional[str] = None) -> None:
  """Raises `SettingsError` naming every unknown option of `names`.

  Args:
    names: The option names given.
    valid: The names accepted.
    who: What was called, to start the message with (e.g. 'warm_start').
  """
  unknown = sorted(set(names) - set(valid))
  if unknown:
    raise _errors.SettingsError(
        '%s option(s) %s.%s Valid options: %s.' %
        ('%s got unknown' % who if who else 'Unknown', ', '.join(unknown),
         _errors.did_you_mean(unknown[0], valid), ', '.join(sorted(valid))))


def make(options: Any = None, **kwargs: Any) -> Options:
  """Returns `Options` from an `Options`, keyword overrides, or both.

  Raises:
    SettingsError: an unknown option name, or a bad value.
  """
  if options is not None and not isinstance(options, Options):
    raise _errors.SettingsError(
        'options must be a warmstart.Options, got %r.' % (options,))
  check_names(kwargs)
  return dataclasses.replace(options or Options(), **kwargs)


def as_dict(options: Options) -> dict[str, Any]:
  """{option name: value}, in declaration order."""
  return {name: getattr(options, name) for name in NAMES}


def merge_arguments(values: Mapping[str, Any]) -> dict[str, Any]:
  """The `merge_checkpoints` keyword arguments of the options that apply."""
  return {d.merge: values[d.name] for d in DECLARATIONS
          if d.merge and d.name in values}


def markdown_table() -> str:
  """The README's option table (`tests/readme_test.py` keeps them equal)."""
  lines = ['| option | flag | default | meaning |', '|---|---|---|---|']
  for d in DECLARATIONS:
    if d.deprecated:
      continue
    default = ('`%d` (%d MiB)' % (d.default, d.default >> 20)
               if d.kind == BYTES else '`%r`' % (d.default,))
    lines.append('| `%s` | `--%s` | %s | %s%s |' %
                 (d.name, d.flag, default, d.help,
                  ' Also `merge --%s`.' % d.name if d.merge else ''))
  return '\n'.join(lines)
