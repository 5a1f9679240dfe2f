"""The names of variables in TF2 object-based checkpoints.

`tf.train.Checkpoint` and Keras `save_weights` store `dense/kernel` under a
key such as `model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`;
the checkpoint's object graph (the tensor `OBJECT_GRAPH_KEY`) records each
variable's name at save time (`full_name`). An optimizer slot (a key with
`.OPTIMIZER_SLOT/`, linked to its variable by the object graph's
`slot_variables`) is named `<variable>/<suffix>` like the slots of a graph:
its recorded name when it has that form (a TF1 optimizer run eagerly records
`w/Adam`, `w/Adam_1`), else `<variable>/<slot name>` (Keras optimizers:
`dense/kernel/m`), so `include_slots` finds it. The recorded name (Keras:
`Adam/dense/kernel/m`, as in a graph) is kept as a second name.

`names_of` reads that once per checkpoint; `resolve` turns a name into its
key, and is what every entry point's planning goes through
(`_planning.check_pairs`). A name that two tensors claim (two
`ShardedVariable`s, two objects saved with one name) resolves to neither, and
tensors without a name are reached by key only: `hint` says so in errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any

import tensorflow as tf
from google.protobuf import message

from warmstart import _errors
from warmstart._sources import _checkpoint
from warmstart import _tf_compat

#: The tensor holding the object graph of an object-based (TF2) checkpoint.
OBJECT_GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH'

_VARIABLE_VALUE = 'VARIABLE_VALUE'  # The attribute holding a variable's value.

#: How `resolve` notes a name it turned into a key (in a plan entry's rule).
RESOLVED = 'object-based checkpoint'


@dataclasses.dataclass(frozen=True)
class Names:
  """What the object graph of one checkpoint says about its tensors' names.

  Attributes:
    object_based: Whether the checkpoint has an object graph (all the rest is
      empty when not).
    name_of: {key: the variable's name}: its `full_name`, or
      `<variable>/<slot name>` for an optimizer slot whose `full_name` is not
      `<variable>/...` (see the module docstring).
    key_of: {name: key} of every name exactly one tensor claims: each
      `name_of` value, and the recorded `full_name` of a slot named
      otherwise (`Adam/dense/kernel/m`).
    ambiguous: {name: the keys claiming it}, for names two or more claim.
    unnamed: The keys of tensors without a name (a lookup table's
      `table-keys`), sorted; never the object graph itself.
    suggestions: What "Did you mean" offers for a missing tensor: the names
      of `key_of` and the keys of tensors that are reached by key only.
  """

  object_based: bool = False
  name_of: Mapping[str, str] = dataclasses.field(default_factory=dict)
  key_of: Mapping[str, str] = dataclasses.field(default_factory=dict)
  ambiguous: Mapping[str, tuple[str, ...]] = dataclasses.field(
      default_factory=dict)
  unnamed: tuple[str, ...] = ()
  suggestions: Collection[str] = ()

  def output_name(self, key: str) -> tuple[str, str]:
    """The name `key` gets in a name-based copy, and why it kept its key.

    Returns:
      (its variable name, '') when it alone claims that name; (key, '') in
      a name-based checkpoint; else (key, why): the object graph gives it no
      name, or gives its name to other tensors too.
    """
    if not self.object_based:
      return key, ''
    name = self.name_of.get(key)
    if name is None:
      return key, 'no variable name in the object graph'
    if name in self.ambiguous:
      return key, 'its name %r is claimed by %d tensors' % (
          name, len(self.ambiguous[name]))
    return name, ''


_NOT_OBJECT_BASED = Names()

# prefix -> (the `shapes` of the Checkpoint read, its Names); `_sources`
# caches one Checkpoint per file version, so a rewrite gives new `shapes`.
_cache: dict[str, tuple[Mapping[str, tuple[int, ...]], Names]] = {}


def _read_object_graph(checkpoint: _checkpoint.Checkpoint) -> Any:
  """Reads and parses the object graph of `checkpoint`.

  Raises:
    CheckpointNotFoundError: it cannot be read or parsed (a damaged data
      file that is long enough: its checksum does not match); of TF's class
      for the fault (TF's reader raises a plain OpError, DataLoss).
  """
  try:
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint.prefix)
    return _tf_compat.parse_object_graph(reader.get_tensor(OBJECT_GRAPH_KEY))
  except (tf.errors.OpError, message.DecodeError, IndexError) as e:
    error_class = (_errors.checkpoint_error_class(e) if isinstance(
        e, tf.errors.OpError) else _errors.CheckpointCorruptError)
    raise error_class(
        'Cannot read the object graph (tensor %r) of checkpoint %r: %s: %s. '
        'Its data file is damaged: copy the checkpoint again (its .index and '
        'every .data-* file) or pass another one.' %
        (OBJECT_GRAPH_KEY, checkpoint.prefix, type(e).__name__, e)) from e


def _read(checkpoint: _checkpoint.Checkpoint) -> Names:
  """Builds the `Names` of an object-based checkpoint from its object graph."""
  proto = _read_object_graph(checkpoint)
  # (node id, attribute, full_name, key) of each tensor the graph describes.
  attributes = [
      (node_id, attribute.name, attribute.full_name, attribute.checkpoint_key)
      for node_id, node in enumerate(proto.nodes)
      for attribute in node.attributes
      if attribute.checkpoint_key in checkpoint
  ]
  variables = {node_id: (full_name, key)
               for node_id, kind, full_name, key in attributes
               if kind == _VARIABLE_VALUE}
  name_of: dict[str, str] = {}
  claims: dict[str, list[str]] = {}

  def claim(name: str, key: str) -> None:
    keys = claims.setdefault(name, [])
    if key not in keys:
      keys.append(key)

  for node in proto.nodes:
    for slot in node.slot_variables:
      variable = variables.get(slot.original_variable_node_id, ('', ''))[0]
      full_name, key = variables.get(slot.slot_variable_node_id, ('', ''))
      if variable and key:
        if full_name.startswith(variable + '/'):
          name_of[key] = full_name  # A TF1 optimizer's: 'w/Adam', 'w/Adam_1'.
        else:
          name_of[key] = '%s/%s' % (variable, slot.slot_name)
          if full_name:
            claim(full_name, key)  # What TF's own warm_start maps.
  for _, _, full_name, key in attributes:
    if full_name:
      name_of.setdefault(key, full_name)
  for key, name in name_of.items():
    claim(name, key)
  key_of = {name: keys[0] for name, keys in claims.items() if len(keys) == 1}
  ambiguous = {name: tuple(sorted(keys)) for name, keys in claims.items()
               if len(keys) > 1}
  unnamed = tuple(sorted(set(checkpoint.shapes) - set(name_of) -
                         {OBJECT_GRAPH_KEY}))
  by_key_only = set(unnamed).union(*ambiguous.values())
  return Names(object_based=True, name_of=name_of, key_of=key_of,
               ambiguous=ambiguous, unnamed=unnamed,
               suggestions=sorted(set(key_of) | by_key_only))


def names_of(checkpoint: _checkpoint.Checkpoint) -> Names:
  """The `Names` of `checkpoint`, read once per checkpoint file version.

  Empty (`object_based` False) for a name-based checkpoint.
  """
  if OBJECT_GRAPH_KEY not in checkpoint:
    return _NOT_OBJECT_BASED
  cached = _cache.get(checkpoint.prefix)
  if cached is None or cached[0] is not checkpoint.shapes:
    cached = _cache[checkpoint.prefix] = (checkpoint.shapes, _read(checkpoint))
  return cached[1]


def resolve(checkpoint: _checkpoint.Checkpoint, tensor: str) -> tuple[str, str]:
  """The checkpoint key that `tensor` (a key or a variable name) stands for.

  Args:
    checkpoint: The source.
    tensor: A tensor name wanted from it.

  Returns:
    (key, how): `tensor` itself and '' when it is a key of the checkpoint or
    no name its object graph gives to exactly one tensor; else the key of
    the tensor it names and `RESOLVED`.
  """
  if tensor in checkpoint:
    return tensor, ''
  key = names_of(checkpoint).key_of.get(tensor)
  if key is None:
    return tensor, ''
  return key, RESOLVED


def suggestions(checkpoint: _checkpoint.Checkpoint) -> Collection[str]:
  """The names a missing tensor is compared with ("Did you mean").

  A name-based checkpoint's keys; an object-based checkpoint's names (those
  one tensor claims) and the keys reached by key only.
  """
  names = names_of(checkpoint)
  return names.suggestions if names.object_based else checkpoint.shapes


def hint(checkpoint: _checkpoint.Checkpoint, tensor: str,
         did_you_mean: Callable[[str, Collection[str]], str] = (
             _errors.did_you_mean)) -> str:
  """What to say after "tensor T is not in checkpoint C".

  Args:
    checkpoint: The source.
    tensor: The missing tensor name.
    did_you_mean: `_errors.did_you_mean`, or `Problems.did_you_mean` (which
      stops searching past the problems a message lists).

  Returns:
    For a name several tensors of an object-based checkpoint claim, those
    keys (to map instead); else ' Did you mean: ...?' over `suggestions`;
    with no close match in an object-based checkpoint, how its tensors are
    found and which keys have no name; or ''.
  """
  names = names_of(checkpoint)
  if not names.object_based:
    return did_you_mean(tensor, checkpoint.shapes)
  keys = names.ambiguous.get(tensor)
  if keys is not None:
    return (' Its object graph gives the name %r to %d tensors, %s: map the '
            'key of the one you mean instead.' % (
                tensor, len(keys), _errors.preview(keys, 5)))
  similar = did_you_mean(tensor, names.suggestions)
  if similar:
    return similar
  note = (' It is an object-based (TF2) checkpoint: a tensor is found by its '
          'key or by the variable name its object graph records (`python -m '
          'warmstart inspect` lists both).')
  if names.unnamed:
    note += ' Tensors with no name there (map them by key): %s.' % (
        _errors.preview(names.unnamed, 5))
  return note
