"""What a merge writes (or would write), and how it is shown.

`MergeResult` lists every output tensor with where it comes from, and every
tensor left out with why; `table()` and `to_json()` are what
`python -m warmstart merge` prints.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

from warmstart import _inspect
from warmstart import _table
from warmstart import _transform


@dataclasses.dataclass(frozen=True)
class MergedTensor:
  """One tensor of the merged checkpoint and where it comes from.

  Attributes:
    name: Its name in the output.
    source: The checkpoint prefix it is read from.
    source_name: Its name in that checkpoint.
    shape: Its shape.
    dtype: Its dtype name.
    num_bytes: Its size in bytes (a string element counts 64).
    rule: The rename that produced `name` ('' when it kept its name).
    note: Why a tensor of an object-based (TF2) checkpoint is written under
      its key rather than a variable name ('' otherwise, also when `name`
      is the key of a name-based checkpoint).
  """

  name: str
  source: str
  source_name: str
  shape: tuple[int, ...]
  dtype: str
  num_bytes: int
  rule: str = ''
  note: str = ''
  #: For a tensor a `warmstart.Transform` makes: its share (the tensors read,
  #: the ops, the part); `source_name` then joins the tensors with '+'.
  transform: Optional[_transform.Application] = dataclasses.field(
      default=None, compare=False)


@dataclasses.dataclass(frozen=True)
class MergeResult:
  """What a merge wrote (or, for `plan_merge`, would write).

  Attributes:
    output: The output checkpoint prefix ('' for a plan given no output).
    tensors: Every tensor of the output, in write order.
    dropped: (source prefix, tensor name, why) of every tensor left out.
    dry_run: True for `plan_merge` (nothing written), False for a merge.
  """

  output: str
  tensors: tuple[MergedTensor, ...]
  dropped: tuple[tuple[str, str, str], ...] = ()
  dry_run: bool = False

  @property
  def num_bytes(self) -> int:
    """The bytes of every output tensor."""
    return sum(t.num_bytes for t in self.tensors)

  @property
  def sources(self) -> tuple[str, ...]:
    """The source prefixes that give tensors, in order."""
    return tuple(dict.fromkeys(t.source for t in self.tensors))

  def summary(self) -> str:
    """One line: how many tensors and bytes, from what, into what."""
    line = '%s %d tensors (%s) from %d checkpoints' % (
        'Would merge' if self.dry_run else 'Merged', len(self.tensors),
        _inspect.format_bytes(self.num_bytes), len(self.sources))
    if self.output:
      line += ' into %s' % self.output
    if self.dropped:
      line += ' (%d left out)' % len(self.dropped)
    return line + '.'

  def to_dict(self) -> dict[str, Any]:
    """The result as plain types (what `--json` prints)."""
    return {
        'output': self.output,
        'dry_run': self.dry_run,
        'num_tensors': len(self.tensors),
        'num_bytes': self.num_bytes,
        'tensors': [dataclasses.asdict(t) | {
            'shape': list(t.shape),
            'transform': t.transform.text if t.transform else ''}
                    for t in self.tensors],
        'dropped': [{'source': s, 'tensor': n, 'reason': r}
                    for s, n, r in self.dropped],
    }

  def to_json(self, indent: Optional[int] = 2) -> str:
    """`to_dict()` as JSON."""
    return json.dumps(self.to_dict(), indent=indent)

  def table(self) -> str:
    """Returns one line per output tensor and where it comes from."""
    rows = [('tensor', 'shape', 'dtype', 'from', 'source')]
    for t in self.tensors:
      rows.append((t.name, _table.format_shape(t.shape), t.dtype,
                   t.source_name, t.source))
    lines = _table.format_table(rows)
    for t in self.tensors:
      if t.transform is not None:
        lines.append('transformed: %s from %s (%s)' % (
            t.name, ' + '.join(t.transform.tensors), t.transform.text))
      if t.note:
        lines.append('kept its key: %s from %s (%s)' % (t.source_name,
                                                       t.source, t.note))
    for source, name, reason in self.dropped:
      lines.append('left out: %s from %s (%s)' % (name, source, reason))
    return '\n'.join(lines + [self.summary()])
