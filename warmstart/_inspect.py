"""Lists what a checkpoint holds: tensor names, shapes, dtypes and sizes.

The library half of `python -m warmstart inspect`: `describe(path)` reads the
checkpoint's index (never its data) through `_sources`, so a prefix,
a checkpoint directory and a SavedModel directory all work. For an
object-based (TF2) checkpoint it also reads the object graph, and gives each
tensor the variable name it had when saved (`_object_graph`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any, Optional

from warmstart import _errors
from warmstart import _sources
from warmstart import _table


@dataclasses.dataclass(frozen=True)
class Tensor:
  """One tensor of a checkpoint, as its index describes it.

  Attributes:
    name: The tensor's name in the checkpoint.
    shape: Its shape.
    dtype: Its dtype name, e.g. 'float32'.
    num_bytes: Its size in bytes (a string element counts as 64 bytes).
    variable: In an object-based checkpoint, the variable's name at save time
      (`<variable>/<slot>` for an optimizer slot); None when the object
      graph gives it none, and in a name-based checkpoint (where `name` is
      the variable's name).
  """

  name: str
  shape: tuple[int, ...]
  dtype: str
  num_bytes: int
  variable: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Listing:
  """Every tensor of one checkpoint, sorted by name.

  Attributes:
    prefix: The checkpoint prefix that was read.
    origin: The path the caller gave (a directory, SavedModel or prefix).
    tensors: The tensors, sorted by name.
    object_based: Whether the checkpoint is object-based (TF2).
    ambiguous: {variable name: the keys of the tensors claiming it}, for
      names the object graph gives to several tensors (plans take neither).
  """

  prefix: str
  origin: str
  tensors: tuple[Tensor, ...]
  object_based: bool = False
  ambiguous: Mapping[str, tuple[str, ...]] = dataclasses.field(
      default_factory=dict)

  @property
  def num_bytes(self) -> int:
    return sum(t.num_bytes for t in self.tensors)

  def to_dict(self) -> dict[str, Any]:
    return {
        'prefix': self.prefix,
        'origin': self.origin,
        'num_tensors': len(self.tensors),
        'num_bytes': self.num_bytes,
        'object_based': self.object_based,
        'ambiguous': {name: list(keys)
                      for name, keys in sorted(self.ambiguous.items())},
        'tensors': [dataclasses.asdict(t) | {'shape': list(t.shape)}
                    for t in self.tensors],
    }

  def to_json(self, indent: Optional[int] = 2) -> str:
    return json.dumps(self.to_dict(), indent=indent)

  def table(self) -> str:
    """Returns a fixed-width table with one line per tensor and a total.

    An object-based checkpoint's table has a `variable` column after the
    tensor's key, and a last line on how its tensors are found.
    """
    names = ('variable',) if self.object_based else ()
    rows = [('tensor',) + names + ('shape', 'dtype', 'size')]
    for t in self.tensors:
      if self.object_based:
        names = (t.variable or '-',)
      rows.append((t.name,) + names + (_table.format_shape(t.shape), t.dtype,
                                        format_bytes(t.num_bytes)))
    lines = _table.format_table(rows, right_aligned=(len(rows[0]) - 1,))
    lines.append('%d tensors, %s, in checkpoint %s' %
                 (len(self.tensors), format_bytes(self.num_bytes), self.prefix))
    if self.object_based:
      note = ('Object-based (TF2) checkpoint: maps and plans find a tensor by '
              'its key or its variable name')
      for name, keys in sorted(self.ambiguous.items()):
        note += '; %r names %d tensors (use their keys)' % (name, len(keys))
      unnamed = sum(t.variable is None for t in self.tensors
                    if t.name != _sources.OBJECT_GRAPH_KEY)
      if unnamed:
        note += '; %d tensors have no name (use their keys)' % unnamed
      lines.append(note + '.')
    return '\n'.join(lines)

  def __str__(self) -> str:
    return self.table()


#: A size for people: '812 B', '3.1 KiB', '2.0 GiB'.
format_bytes = _table.format_bytes


def describe(path: _sources.PathLike, match: Optional[str] = None) -> Listing:
  """Lists the tensors of the checkpoint at `path`.

  Example:

    ```python
    print(warmstart._inspect.describe('/models/base'))
    ```

  Args:
    path: A checkpoint prefix, one of its files, a checkpoint directory (its
      latest checkpoint) or a SavedModel directory.
    match: Only list the tensors whose name (or variable name, in an
      object-based checkpoint) this regex matches anywhere (`re.search`);
      all when None.

  Returns:
    The `Listing`.

  Raises:
    CheckpointNotFoundError: `path` holds no readable checkpoint.
    SettingsError: `match` is not a valid regex.
  """
  pattern = None
  if match is not None:
    try:
      pattern = re.compile(match)
    except re.error as e:
      raise _errors.SettingsError(
          'Invalid regex %r for the tensors to list: %s.' % (match, e)) from e
  checkpoint = _sources.load(path)
  names = _sources.names_of(checkpoint)
  tensors = []
  for name in sorted(checkpoint.shapes):
    variable = names.name_of.get(name)
    if pattern is None or pattern.search(name) or (
        variable is not None and pattern.search(variable)):
      tensors.append(Tensor(
          name=name, shape=tuple(int(d) for d in checkpoint.shapes[name]),
          dtype=checkpoint.dtypes[name].name,
          num_bytes=checkpoint.num_bytes(name), variable=variable))
  return Listing(prefix=checkpoint.prefix, origin=checkpoint.origin,
                 tensors=tuple(tensors), object_based=names.object_based,
                 ambiguous=names.ambiguous)
