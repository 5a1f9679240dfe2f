"""Predicts, as a variable is created, whether the warm start will restore it.

`warm_start_scope` asks before a variable's initializer is built: from the
settings (the same rules `_selection` applies after the fact, for one name)
and the checkpoint's index (the tensor is there, with the variable's shape,
and a dtype that restores or casts into it). A prediction is only a bet on
cost: a wrong "yes" makes the variable's initializer be built later from its
kept callable, a wrong "no" builds it now as without the scope; the plan
made after the block decides what is restored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

import tensorflow as tf

from warmstart import _assignment_map
from warmstart import _errors
from warmstart import _names
from warmstart import _settings
from warmstart import _sources

#: The name `tf.compat.v1.train.get_or_create_global_step` gives the step.
_GLOBAL_STEP = 'global_step'


class _Source:
  """One source's rules, compiled for one name at a time."""

  def __init__(self, settings: _settings.WarmStartSettings,
               checkpoint: _sources.Checkpoint):
    self.settings = settings
    self.checkpoint = checkpoint
    self.scopes: list[tuple[str, str]] = []  # (variable scope, tensor prefix)
    self.names: dict[str, str] = {}  # variable name -> tensor
    if settings.assignment_map is not None:
      for key, value in _assignment_map.items(settings.assignment_map):
        if not isinstance(value, str):
          continue  # A variable object: none exists before it is created.
        if key.endswith('/') or key == '':
          scope = '' if value in ('/', '') else value.rstrip('/') + '/'
          self.scopes.append((scope, '' if key in ('/', '') else key))
        elif not value.endswith('/'):
          self.names.setdefault(_names.strip_output(value), key)
    spec = settings.vars_to_warm_start
    self.patterns: Optional[list[re.Pattern]] = None
    self.trainable_only = isinstance(spec, str)
    if isinstance(spec, str):
      self.patterns = [re.compile(spec)]
    elif spec is not None and all(isinstance(p, str) for p in spec):
      self.patterns = [re.compile(p) for p in spec]

  def _selects(self, names: Sequence[str], trainable: bool) -> bool:
    """A pattern matches one of `names` (the variable's, a part's)."""
    if self.patterns is None:
      return False
    if self.trainable_only and not trainable:
      return False
    return any(p.match(n) for p in self.patterns for n in names)

  def tensor_of(self, name: str, trainable: bool,
                part: Optional[str] = None) -> Optional[str]:
    """The tensor the rules give variable `name` (`part`: a part's name)."""
    s = self.settings
    names = (name,) if part is None else (name, part)
    if name in s.var_name_to_vocab_info:
      return None  # A remap needs the initializer (new rows).
    step = name == _GLOBAL_STEP and not s.include_global_step
    if s.assignment_map is None:
      if step or not self._selects(names, trainable):
        tensor = None
      else:
        tensor = s.var_name_to_prev_var_name.get(name, name)
    elif (s.vars_to_warm_start != _settings.DEFAULT_VARS and
          not self._selects(names, True)):
      tensor = None
    else:
      # A name map may take the global step; a scope map never does.
      tensor = self.names.get(name)
      if tensor is None and not step:
        tensor = next((prefix + name[len(scope):]
                       for scope, prefix in self.scopes
                       if name.startswith(scope)), None)
    if tensor is None and s.include_slots and '/' in name:
      # A slot (or auxiliary variable) follows its primary: <tensor>/<slot>.
      primary, slot = name.rsplit('/', 1)
      tensor = self.tensor_of(primary, True)
      if tensor is not None:
        tensor = '%s/%s' % (tensor, slot)
    return tensor

  def restores_whole(self, name: str, shape: Sequence[int], dtype: tf.DType,
                     trainable: bool, part: Optional[str] = None) -> bool:
    tensor = self.tensor_of(name, trainable, part)
    if tensor is None:
      return False
    checkpoint = self.checkpoint
    tensor, _ = _sources.resolve(checkpoint, tensor)
    if tensor not in checkpoint:
      return False
    if tuple(checkpoint.shapes[tensor]) != tuple(shape):
      return False  # A mismatch, or a resize (which needs the initializer).
    saved = checkpoint.dtypes[tensor].base_dtype
    return saved == dtype or (self.settings.cast and saved.is_floating and
                              dtype.is_floating)


class Predictor:
  """Whether any source will restore a variable whole (restore or cast)."""

  def __init__(self, settings: Sequence[_settings.WarmStartSettings]):
    """Reads every source's checkpoint index.

    A source that cannot be read predicts nothing: the plan, made after the
    variables exist, raises its error as without stand-ins.
    """
    self._sources = []
    for s in settings:
      try:
        checkpoint = _sources.load(s.ckpt_to_initialize_from)
      except _errors.Error:
        continue
      self._sources.append(_Source(s, checkpoint))

  def restores_whole(self, name: str, shape: Sequence[int], dtype: tf.DType,
                     trainable: bool = True,
                     part: Optional[str] = None) -> bool:
    """True if a source would fill all of variable `name` from a tensor.

    Args:
      name: The variable's full name (of the whole variable when it is
        partitioned), without ':0'.
      shape: Its full shape (every dimension known).
      dtype: Its base dtype.
      trainable: Whether it will be trainable.
      part: The name of the part being created, when partitioned (a regex
        may match it rather than the full name).
    """
    return any(
        s.restores_whole(name, shape, dtype, trainable, part)
        for s in self._sources)
