"""The restore plan: what is loaded into which variable, from where, and how.

A `Plan` is built and validated before any restore op exists. It can be read
as a table (`str(plan)`) or JSON (`plan.to_json()`), written next to a run,
and applied (`warmstart.apply_plan`) to build the restore initializers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional

from warmstart import _table

#: Entry actions: a batched restore, a skip, a vocabulary remap
#: (`_vocab_remap`). Extensions may register their own with
#: `_restore.register_action`.
RESTORE = 'restore'
SKIP = 'skip'
VOCAB_REMAP = 'vocab_remap'
#: A restore into a variable of another shape (the overlapping block) and/or
#: another float dtype; `action_params` holds the checkpoint's shape and
#: dtype. Read in the same batched reads as `RESTORE`.
RESIZE = 'resize'
CAST = 'cast'
BATCHED = (RESTORE, RESIZE, CAST)
#: A restore through per-tensor ops (`warmstart.Transform`): `action_params`
#: holds the tensors read, the ops, the part of a split taken, and the
#: checkpoint's shapes and dtype (`_restore._transform` builds it).
TRANSFORM = 'transform'
#: A value set rather than read (`global_step=N`: the run starts at step N);
#: `action_params['value']`.
SET = 'set'

#: The kinds of an unused checkpoint tensor (`UnusedTensor.kind`): a weight a
#: user may have forgotten, or an auxiliary one warm starts usually leave.
WEIGHT = 'weight'
SLOT = 'optimizer slot'
OPTIMIZER = 'optimizer variable'
GLOBAL_STEP = 'global step'

#: `Plan.optimizer_state_of`'s reason for a slot read as it is, and for one
#: no entry fills.
RESTORED = 'restored'
NOT_RESTORED = 'not restored: it starts from its initializer'


@dataclasses.dataclass(frozen=True)
class Entry:
  """One planned restore (or skip) of one logical variable.

  Attributes:
    variable: The variable's full name in the graph.
    shape: Its full shape (None for an unknown dimension).
    dtype: Its dtype name, e.g. 'float32'.
    source: The checkpoint prefix read from ('' when skipped before reading).
    tensor: The tensor name in the checkpoint.
    slices: Per part, the RestoreV2 slice spec ('' for a whole variable).
    action: `RESTORE`, `SKIP`, or an adapter's action (e.g. 'vocab_remap').
    rule: The assignment-map entry, regex or rename that selected it.
    reason: Why it is skipped, or what the adapter does.
    action_params: The parameters of a non-batched action, such as the
      vocabulary files of a remap (JSON-compatible values).
    target: The graph object(s) to fill; not serialized, not compared.
    read_bytes: The bytes of checkpoint data its restore reads (0 for a
      skip or a set value): a tensor's bytes once when it is read whole or
      streamed, once per part where each part's read reads it whole.
  """

  variable: str
  shape: tuple[Optional[int], ...]
  dtype: str
  source: str
  tensor: str
  slices: tuple[str, ...] = ('',)
  action: str = RESTORE
  rule: str = ''
  reason: str = ''
  action_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  target: Any = dataclasses.field(
      default=None, repr=False, compare=False, hash=False)
  read_bytes: int = dataclasses.field(default=0, compare=False)

  @property
  def skipped(self) -> bool:
    return self.action == SKIP

  def to_dict(self) -> dict[str, Any]:
    """Returns the JSON-compatible fields (everything but `target`)."""
    return {
        'variable': self.variable,
        'shape': list(self.shape),
        'dtype': self.dtype,
        'source': self.source,
        'tensor': self.tensor,
        'slices': list(self.slices),
        'action': self.action,
        'rule': self.rule,
        'reason': self.reason,
        'action_params': dict(self.action_params),
        'read_bytes': self.read_bytes,
    }

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> Entry:
    """Inverse of `to_dict` (the result has no `target`)."""
    return cls(
        variable=data['variable'],
        shape=tuple(data['shape']),
        dtype=data['dtype'],
        source=data['source'],
        tensor=data['tensor'],
        slices=tuple(data.get('slices', ('',))),
        action=data.get('action', RESTORE),
        rule=data.get('rule', ''),
        reason=data.get('reason', ''),
        # 'options': the key's name in plans written by warmstart 0.1.
        action_params=dict(
            data.get('action_params', data.get('options', {}))),
        read_bytes=int(data.get('read_bytes', 0)))


@dataclasses.dataclass(frozen=True)
class UnusedTensor:
  """A tensor of a source checkpoint that no variable of the plan reads.

  Attributes:
    source: The checkpoint prefix.
    tensor: The tensor name.
    kind: `WEIGHT`, `SLOT` (also other `<tensor>/<suffix>` auxiliaries such as
      moving averages), `OPTIMIZER` or `GLOBAL_STEP`.
  """

  source: str
  tensor: str
  kind: str = WEIGHT


@dataclasses.dataclass(frozen=True)
class Plan:
  """Every planned restore of a warm start, validated.

  Attributes:
    entries: One `Entry` per variable considered, in plan order.
    num_variables: How many variables the graph had (for the summary line).
    cold_variables: Every variable of the graph that starts from its own
      initializer: new, skipped, or not selected (and not filled by an
      earlier warm start).
    unused_tensors: The tensors of the sources that no variable reads, each
      with its kind (`unused_weights` are what a user may have forgotten).
    start_step: The step the run starts at when the plan restores or sets
      the global step (`global_step='keep'` or N), else None (the step is
      the graph's own: 0 on a fresh start).
    staged_sources: (staged checkpoint prefix, the original file) for each
      source that is a foreign weights file (safetensors, npz, Keras HDF5)
      read through its staged copy; entries' `source` is the staged prefix.
    optimizer_slots: (optimizer variable, its variable) for each optimizer
      slot of a variable the plan has an entry for ('' as the variable for
      the optimizer's own, such as Adam's `beta1_power`), grouped by
      variable: what `optimizer_state_of` reports on.
  """

  entries: tuple[Entry, ...] = ()
  num_variables: int = 0
  cold_variables: tuple[str, ...] = ()
  unused_tensors: tuple[UnusedTensor, ...] = ()
  start_step: Optional[int] = None
  staged_sources: tuple[tuple[str, str], ...] = ()
  optimizer_slots: tuple[tuple[str, str], ...] = ()

  def __iter__(self) -> Iterator[Entry]:
    return iter(self.entries)

  def __len__(self) -> int:
    return len(self.entries)

  @property
  def restored(self) -> tuple[Entry, ...]:
    """The entries that load a value (every action but `SKIP`)."""
    return tuple(e for e in self.entries if not e.skipped)

  @property
  def skipped(self) -> tuple[Entry, ...]:
    return tuple(e for e in self.entries if e.skipped)

  @property
  def num_restored(self) -> int:
    return len(self.restored)

  @property
  def num_skipped(self) -> int:
    return len(self.skipped)

  @property
  def unused_weights(self) -> tuple[UnusedTensor, ...]:
    """The unused tensors that are no slot, optimizer variable or step."""
    return tuple(u for u in self.unused_tensors if u.kind == WEIGHT)

  @property
  def read_bytes(self) -> int:
    """The bytes of checkpoint data the restores read, all entries."""
    return sum(e.read_bytes for e in self.entries)

  @property
  def sources(self) -> tuple[str, ...]:
    """The checkpoint prefixes read, in first-use order."""
    return tuple(dict.fromkeys(e.source for e in self.entries if e.source))

  def source_label(self, source: str) -> str:
    """`source` as shown: a staged copy as its original file, noted."""
    original = dict(self.staged_sources).get(source)
    return '%s (staged as %s)' % (original, source) if original else source

  def entry(self, variable: str) -> Entry:
    """Returns the entry of `variable`; KeyError if the plan has none."""
    for e in self.entries:
      if e.variable == variable:
        return e
    raise KeyError('The plan has no entry for %r.' % variable)

  def summary(self) -> str:
    """One line: 'Warm-started R of N variables from S (K skipped); ...'.

    '; C start cold' and '; U checkpoint tensors unused' (weights only) are
    added when not zero, '; the run starts at step N' when the plan restores
    or sets the step.
    """
    sources = ', '.join(self.source_label(s) for s in self.sources) or (
        '(no source)')
    line = 'Warm-started %d of %d variables from %s' % (
        self.num_restored, self.num_variables, sources)
    if self.num_skipped:
      line += ' (%d skipped)' % self.num_skipped
    cold = len(self.cold_variables)
    if cold:
      line += '; %d start%s cold' % (cold, 's' if cold == 1 else '')
    unused = len(self.unused_weights)
    if unused:
      line += '; %d checkpoint tensor%s unused' % (unused,
                                                   '' if unused == 1 else 's')
    if self.start_step is not None:
      line += '; the run starts at step %d' % self.start_step
    return line + '.'

  def to_dict(self) -> dict[str, Any]:
    return {
        'num_variables': self.num_variables,
        'num_restored': self.num_restored,
        'num_skipped': self.num_skipped,
        'sources': list(self.sources),
        'entries': [e.to_dict() for e in self.entries],
        'cold_variables': list(self.cold_variables),
        'unused_tensors': [dataclasses.asdict(u) for u in self.unused_tensors],
        'start_step': self.start_step,
        'read_bytes': self.read_bytes,
        'staged_sources': dict(self.staged_sources),
        'optimizer_state': {
            variable: [{'variable': slot, 'tensor': tensor, 'reason': reason}
                       for slot, tensor, reason in state]
            for variable, state in self._optimizer_states().items()},
    }

  def to_json(self, indent: Optional[int] = 2) -> str:
    return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

  @classmethod
  def from_json(cls, text: str) -> Plan:
    data = json.loads(text)
    return cls(
        entries=tuple(Entry.from_dict(e) for e in data['entries']),
        num_variables=data.get('num_variables', 0),
        cold_variables=tuple(data.get('cold_variables', ())),
        unused_tensors=tuple(
            UnusedTensor(**u) for u in data.get('unused_tensors', ())),
        start_step=data.get('start_step'),
        staged_sources=tuple(data.get('staged_sources', {}).items()),
        optimizer_slots=tuple(
            (slot['variable'], variable)
            for variable, slots in data.get('optimizer_state', {}).items()
            for slot in slots))

  def merged(self, other: Plan) -> Plan:
    """Returns this plan followed by `other` (no conflict check).

    A variable is cold when neither plan fills it; unused tensors are those
    of either plan; the start step is `other`'s if it has one.
    """
    filled = {e.variable for e in self.restored + other.restored}
    cold = dict.fromkeys(self.cold_variables + other.cold_variables)
    return Plan(self.entries + other.entries,
                max(self.num_variables, other.num_variables),
                tuple(name for name in cold if name not in filled),
                tuple(dict.fromkeys(self.unused_tensors +
                                    other.unused_tensors)),
                (other.start_step if other.start_step is not None else
                 self.start_step),
                tuple(dict(self.staged_sources + other.staged_sources)
                      .items()),
                tuple(dict(self.optimizer_slots + other.optimizer_slots)
                      .items()))

  def table(self) -> str:
    """Returns the plan as a fixed-width text table.

    One row per entry, then the cold variables and the unused checkpoint
    tensors (weights one by one, auxiliary ones counted by kind), then the
    summary line.
    """
    header = ('variable', 'shape', 'dtype', 'action', 'tensor', 'source',
              'reads', 'note')
    rows = [header]
    for e in self.entries:
      shape = _table.format_shape(e.shape)
      if len(e.slices) > 1:
        shape += ' in %d parts' % len(e.slices)
      source = dict(self.staged_sources).get(e.source)
      rows.append((e.variable, shape, e.dtype, e.action, e.tensor,
                   '%s [staged]' % source if source else e.source,
                   _table.format_bytes(e.read_bytes) if e.read_bytes else '',
                   e.reason))
    lines = _table.format_table(rows)
    state = self.optimizer_state()
    if state:
      lines.append('Optimizer state:')
      lines.extend('  ' + line for line in state)
    lines.extend(self.not_warm_started())
    return '\n'.join(lines + [self.summary()])

  def optimizer_state_of(self, variable: str
                        ) -> list[tuple[str, Optional[str], str]]:
    """Where the optimizer state of `variable` starts from.

    Args:
      variable: A variable of the plan ('' for the optimizer's own
        variables, such as Adam's beta powers).

    Returns:
      One (optimizer variable, tensor, reason) per slot of `variable` (see
      `optimizer_slots`): the tensor it is read from (or computed from, for
      an entry that sets a value) and `RESTORED` or what the restore does
      ('Keras legacy Adam m as TF1 Adam m'); or None and why it starts
      fresh.
    """
    return self._optimizer_states().get(variable, [])

  def _optimizer_states(
      self) -> dict[str, list[tuple[str, Optional[str], str]]]:
    """{variable: `optimizer_state_of(variable)`} for every variable of
    `optimizer_slots`, in one pass over the entries."""
    entries: dict[str, list[Entry]] = {}
    for e in self.entries:
      entries.setdefault(e.variable, []).append(e)
    states: dict[str, list[tuple[str, Optional[str], str]]] = {}
    for slot, primary in self.optimizer_slots:
      own = entries.get(slot, [])
      restored = [e for e in own if not e.skipped]
      states.setdefault(primary, []).append(
          (slot, restored[-1].tensor, restored[-1].reason or RESTORED)
          if restored else
          (slot, None, own[-1].reason if own else NOT_RESTORED))
    return states

  def optimizer_state(self) -> list[str]:
    """Per restored variable with optimizer slots, where they start from.

    One line each ('w: Adam <- old/w/Adam; Adam_1 <- old/w/Adam_1'), then
    one for the optimizer's own variables; empty when no restored variable
    has slots.
    """
    restored = {e.variable for e in self.restored}
    states = self._optimizer_states()
    primaries = [p for p in states if p in restored]
    if primaries and '' in states:
      primaries.append('')
    lines = []
    for primary in primaries:
      items = []
      for slot, tensor, reason in states[primary]:
        if primary and slot.startswith(primary + '/'):
          slot = slot[len(primary) + 1:]
        if tensor is None:
          items.append('%s fresh (%s)' % (slot, reason.replace(
              'no counterpart, it starts fresh: ', 'no counterpart: ')))
        else:
          items.append('%s <- %s%s' % (slot, tensor, '' if reason == RESTORED
                                       else ' (%s)' % reason))
      lines.append('%s: %s' % (primary or "the optimizer's own",
                               '; '.join(items)))
    return lines

  def not_warm_started(self) -> list[str]:
    """Lines that say what starts cold and what the sources hold unused."""
    lines = []
    if self.cold_variables:
      lines.append('Start cold (their own initializer): %s' %
                   _preview(self.cold_variables))
    weights = [u for u in self.unused_tensors if u.kind == WEIGHT]
    if weights:
      lines.append('Checkpoint tensors no variable reads: %s' % _preview(
          ['%s (%s)' % (u.tensor, u.source) if len(self.sources) > 1 else
           u.tensor for u in weights]))
    by_kind = {kind: 0 for kind in (SLOT, OPTIMIZER, GLOBAL_STEP)}
    for u in self.unused_tensors:
      if u.kind != WEIGHT:
        by_kind[u.kind] = by_kind.get(u.kind, 0) + 1
    by_kind = {kind: n for kind, n in by_kind.items() if n}
    if by_kind:
      lines.append('Also not read: %s.' % ', '.join(
          '%d %s%s' % (n, kind, '' if n == 1 else 's')
          for kind, n in by_kind.items()))
    return lines

  def __str__(self) -> str:
    return self.table()


def _preview(names: Iterable[str], limit: int = 20) -> str:
  names = list(names)
  shown = ', '.join(names[:limit])
  if len(names) > limit:
    shown += ', ... (%d more)' % (len(names) - limit)
  return shown


def concat(plans: Iterable[Plan]) -> Plan:
  """Concatenates plans (see `Plan.merged`)."""
  result = Plan()
  for plan in plans:
    result = result.merged(plan)
  return result
