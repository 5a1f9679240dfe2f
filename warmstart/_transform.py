"""Per-tensor transforms in an assignment map: declared, checked, their shapes.

`Transform(target, *ops)` is an assignment-map value: the map's key (a
checkpoint tensor, or a tuple of tensors for `concat`) becomes `target`
after the ops, applied left to right. The ops are data (no TensorFlow op is
built here); `output_shapes` works out every shape when the plan is made,
before any read, and names the op that does not fit.

* `transpose(perm)`: `np.transpose(x, perm)`.
* `reshape(shape)`: `np.reshape(x, shape)`, explicit (one -1 may stand for
  the rest); never implied when element counts happen to match.
* `take(start, stop, axis=0)`: `x[start:stop]` along `axis` (`stop=None`:
  to the end).
* `split(axis, sizes=None)`: the last op only; `np.split` into equal parts,
  one per target (or parts of `sizes`).
* `concat(axis)`: the first op only; the key is a tuple of tensor names,
  concatenated in that order (`np.concatenate`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from warmstart import _errors

Shape = tuple[int, ...]

TRANSPOSE = 'transpose'
RESHAPE = 'reshape'
TAKE = 'take'
SPLIT = 'split'
CONCAT = 'concat'


class TransformError(ValueError):
  """An op that does not fit its input shapes (the message says how)."""


def _ints(value: Any, what: str) -> tuple[int, ...]:
  if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
    raise _errors.SettingsError('%s must be a list of ints, got %r.' %
                                (what, value))
  if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
    raise _errors.SettingsError('%s must be a list of ints, got %r.' %
                                (what, value))
  return tuple(value)


def _int(value: Any, what: str) -> int:
  if not isinstance(value, int) or isinstance(value, bool):
    raise _errors.SettingsError('%s must be an int, got %r.' % (what, value))
  return value


def _axis(axis: int, rank: int, op: Op) -> int:
  if not -rank <= axis < rank:
    raise TransformError('axis %d is out of range for rank %d (%s)' %
                         (axis, rank, op.text))
  return axis % rank


@dataclasses.dataclass(frozen=True)
class Op:
  """One op of a `Transform`: its kind and arguments (JSON-compatible).

  Build them with `transpose`, `reshape`, `take`, `split`, `concat`.
  """

  kind: str
  args: tuple[Any, ...]

  @property
  def text(self) -> str:
    """How the plan shows it: 'transpose [1, 0]', 'split axis 1 -> 3'."""
    a = self.args
    if self.kind in (TRANSPOSE, RESHAPE):
      return '%s %s' % (self.kind, list(a[0]))
    if self.kind == TAKE:
      return 'take %d:%s axis %d' % (a[0], '' if a[1] is None else a[1], a[2])
    if self.kind == SPLIT:
      return 'split axis %d%s' % (a[0], '' if a[1] is None else
                                  ' sizes %s' % list(a[1]))
    return 'concat axis %d' % a[0]

  def to_json(self) -> dict[str, Any]:
    return {'op': self.kind,
            'args': [list(a) if isinstance(a, tuple) else a for a in self.args]}

  def shape(self, shapes: Sequence[Shape], parts: int = 1) -> list[Shape]:
    """The output shapes of this op on `shapes` (several only for concat
    in, split out; `parts`: how many targets a split fills).

    Raises:
      TransformError: the op does not fit, saying how.
    """
    if self.kind == CONCAT:
      return [self._concat(shapes)]
    (shape,) = shapes
    rank = len(shape)
    a = self.args
    if self.kind == TRANSPOSE:
      perm = a[0]
      if sorted(perm) != list(range(rank)):
        raise TransformError('%s is no permutation of the %d axes of %s' %
                             (self.text, rank, list(shape)))
      return [tuple(shape[i] for i in perm)]
    if self.kind == RESHAPE:
      return [self._reshape(shape)]
    if self.kind == TAKE:
      start, stop, axis = a
      axis = _axis(axis, rank, self)
      stop = shape[axis] if stop is None else stop
      if not 0 <= start < stop <= shape[axis]:
        raise TransformError(
            '%s needs 0 <= start < stop <= %d (axis %d of %s)' %
            (self.text, shape[axis], axis, list(shape)))
      return [shape[:axis] + (stop - start,) + shape[axis + 1:]]
    return self._split(shape, parts)

  def _reshape(self, shape: Shape) -> Shape:
    new = list(self.args[0])
    size = math.prod(shape)
    if new.count(-1) > 1 or any(d < -1 or d == 0 for d in new):
      raise TransformError('%s: dimensions must be positive, with at most '
                           'one -1' % self.text)
    if -1 in new:
      known = math.prod(d for d in new if d != -1)
      if size % known:
        raise TransformError('%s cannot hold the %d elements of %s' %
                             (self.text, size, list(shape)))
      new[new.index(-1)] = size // known
    if math.prod(new) != size:
      raise TransformError('%s holds %d elements, %s holds %d' %
                           (self.text, math.prod(new), list(shape), size))
    return tuple(new)

  def _split(self, shape: Shape, parts: int) -> list[Shape]:
    axis, sizes = self.args
    axis = _axis(axis, len(shape), self)
    if sizes is None:
      if shape[axis] % parts:
        raise TransformError(
            '%s: %d along axis %d of %s does not divide into %d equal parts'
            % (self.text, shape[axis], axis, list(shape), parts))
      sizes = (shape[axis] // parts,) * parts
    elif len(sizes) != parts or sum(sizes) != shape[axis]:
      raise TransformError(
          '%s: %d parts summing to %d for %d targets and %d along axis %d '
          'of %s' % (self.text, len(sizes), sum(sizes), parts, shape[axis],
                     axis, list(shape)))
    return [shape[:axis] + (s,) + shape[axis + 1:] for s in sizes]

  def _concat(self, shapes: Sequence[Shape]) -> Shape:
    first = shapes[0]
    axis = _axis(self.args[0], len(first), self)
    for shape in shapes[1:]:
      if len(shape) != len(first) or any(
          d != e for i, (d, e) in enumerate(zip(shape, first)) if i != axis):
        raise TransformError(
            '%s: shapes %s differ off axis %d' %
            (self.text, ', '.join(str(list(s)) for s in shapes), axis))
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]

  def split_bounds(self, shape: Shape, parts: int) -> list[tuple[int, int]]:
    """[start, stop) of each part along the split axis (split only)."""
    sizes = [s[self.args[0] % len(shape)] for s in self._split(shape, parts)]
    bounds, start = [], 0
    for size in sizes:
      bounds.append((start, start + size))
      start += size
    return bounds


def transpose(perm: Sequence[int]) -> Op:
  """Permutes the axes: `np.transpose(x, perm)`."""
  return Op(TRANSPOSE, (_ints(perm, 'transpose perm'),))


def reshape(shape: Sequence[int]) -> Op:
  """Reshapes, explicitly (one -1 may stand for the rest): `np.reshape`."""
  return Op(RESHAPE, (_ints(shape, 'reshape shape'),))


def take(start: int, stop: Optional[int] = None, axis: int = 0) -> Op:
  """Keeps `[start:stop]` along `axis` (`stop=None`: to the end)."""
  return Op(TAKE, (_int(start, 'take start'),
                   None if stop is None else _int(stop, 'take stop'),
                   _int(axis, 'take axis')))


def split(axis: int, sizes: Optional[Sequence[int]] = None) -> Op:
  """Splits into one part per target (the last op only): `np.split`."""
  return Op(SPLIT, (_int(axis, 'split axis'),
                    None if sizes is None else _ints(sizes, 'split sizes')))


def concat(axis: int) -> Op:
  """Concatenates the key's tensors, in order (the first op only)."""
  return Op(CONCAT, (_int(axis, 'concat axis'),))


class Transform:
  """An assignment-map value: `target` is the key's tensor(s) after `ops`.

  Example:

    ```python
    warmstart.init_from_checkpoint(ckpt, {
        'pt/dense/weight': warmstart.Transform(
            'tf/dense/kernel', warmstart.transpose([1, 0])),
        'qkv/kernel': warmstart.Transform(
            ['q/kernel', 'k/kernel', 'v/kernel'], warmstart.split(axis=1)),
        ('q/kernel', 'k/kernel', 'v/kernel'): warmstart.Transform(
            'qkv/kernel', warmstart.concat(axis=1)),
    })
    ```

  Attributes:
    target: What a map value is (a variable name, a variable, a partition
      list) or, with `split`, a list of them, one per part.
    ops: The ops, applied left to right.
  """

  def __init__(self, target: Any, *ops: Op):
    for i, op in enumerate(ops):
      if not isinstance(op, Op):
        raise _errors.SettingsError(
            'Transform op %d must be one of warmstart.transpose, reshape, '
            'take, split, concat; got %r.' % (i, op))
      if op.kind == SPLIT and i != len(ops) - 1:
        raise _errors.SettingsError(
            'Transform: split must be the last op (it makes one part per '
            'target); got it at position %d of %d.' % (i, len(ops)))
      if op.kind == CONCAT and i != 0:
        raise _errors.SettingsError(
            'Transform: concat must be the first op (it joins the key\'s '
            'tensors); got it at position %d.' % i)
    splits = bool(ops) and ops[-1].kind == SPLIT
    if splits and (isinstance(target, (str, bytes)) or
                   not isinstance(target, (list, tuple)) or not target):
      raise _errors.SettingsError(
          'Transform with split needs a list of targets, one per part; got '
          '%r.' % (target,))
    self.target = target
    self.ops = tuple(ops)

  @property
  def splits(self) -> bool:
    return bool(self.ops) and self.ops[-1].kind == SPLIT

  @property
  def concats(self) -> bool:
    return bool(self.ops) and self.ops[0].kind == CONCAT

  @property
  def targets(self) -> list[Any]:
    """One target per part (one unless the transform splits)."""
    return list(self.target) if self.splits else [self.target]

  @property
  def text(self) -> str:
    return '; '.join(op.text for op in self.ops) or 'as is'

  def __repr__(self) -> str:
    return 'Transform(%r, %s)' % (self.target, self.text)


def output_shapes(ops: Sequence[Op], shapes: Sequence[Shape],
                  parts: int = 1) -> list[Shape]:
  """The shape of each part after `ops` (one part unless the last splits).

  Raises:
    TransformError: an op does not fit; the message names it and the shapes.
  """
  shapes = [tuple(s) for s in shapes]
  if len(shapes) > 1 and (not ops or ops[0].kind != CONCAT):
    raise TransformError('%d tensors need concat as the first op' %
                         len(shapes))
  for op in ops:
    shapes = op.shape(shapes, parts if op.kind == SPLIT else 1)
  return shapes


@dataclasses.dataclass(frozen=True)
class Application:
  """One target's share of a `Transform`, as planned.

  Attributes:
    tensors: The checkpoint tensors read (several for concat).
    ops: The ops.
    part: Which part of a split this target takes (0 otherwise).
    parts: How many parts the last op splits into (1 otherwise).
  """

  tensors: tuple[str, ...]
  ops: tuple[Op, ...]
  part: int = 0
  parts: int = 1

  @property
  def text(self) -> str:
    text = '; '.join(op.text for op in self.ops) or 'as is'
    if self.parts > 1:
      text += ' -> %d (part %d)' % (self.parts, self.part)
    return text

  def output_shape(self, shapes: Sequence[Shape]) -> Shape:
    """This target's shape, from the shapes of `tensors`."""
    return output_shapes(self.ops, shapes, self.parts)[self.part]


def apply_numpy(values: Sequence[np.ndarray], ops: Sequence[Op],
                parts: int = 1) -> list[np.ndarray]:
  """`ops` on arrays, with numpy (what `merge_checkpoints` writes): one
  array per part. The shapes must have been checked (`output_shapes`)."""
  arrays = list(values)
  for op in ops:
    a = op.args
    if op.kind == CONCAT:
      arrays = [np.concatenate(arrays, axis=a[0])]
      continue
    (array,) = arrays
    if op.kind == TRANSPOSE:
      arrays = [np.ascontiguousarray(np.transpose(array, a[0]))]
    elif op.kind == RESHAPE:
      arrays = [np.reshape(array, op.shape([array.shape])[0])]
    elif op.kind == TAKE:
      start, stop, axis = a
      index = [slice(None)] * array.ndim
      index[axis % array.ndim] = slice(start, stop)
      arrays = [np.ascontiguousarray(array[tuple(index)])]
    else:
      axis = a[0] % array.ndim
      bounds = op.split_bounds(array.shape, parts)
      arrays = [np.ascontiguousarray(
          np.take(array, range(start, stop), axis=axis))
                for start, stop in bounds]
  return arrays
