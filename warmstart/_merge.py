"""Merges several checkpoints into one new checkpoint, never touching the inputs.

`merge_checkpoints([a, (b, {'encoder/': 'teacher/encoder/'})], out)` writes
`out.index` and `out.data-*` holding every tensor of `a` and of `b` (renamed).

How, and why this way:

* Bounded memory: tensors are read one at a time with the checkpoint reader
  and written in batches of at most `max_batch_bytes` with `SaveV2`, each batch
  a shard of its own under a temporary directory next to the output.
* The shards are joined with `MergeV2Checkpoints`, on our temporary shards
  only: that op moves its inputs' data files and deletes their index even with
  `delete_old_dirs=False`, so it must never see a user's checkpoint.
* Atomic: the finished checkpoint is renamed to the output name, data files
  first and the `.index` last, so a crash never leaves a readable half
  checkpoint under the output name. An existing output (only replaced with
  `overwrite=True`) is moved aside first and put back if the merge fails.
* Strict: a tensor name produced twice (by two sources, or two renames) is a
  `ConflictError` naming both; a rename or exclude pattern that matches
  nothing is an `UnmatchedRuleError` (unless `allow_unmatched`).

Renames map checkpoint names to output names, in the forms of assignment-map
keys: `'old/': 'new/'` renames a scope, `'/': 'new/'` puts every tensor under
`new/`, `'old/': '/'` strips a scope, `'old': 'new'` renames one tensor and
`'old': None` (or `'old/': None`) drops it. One-tensor rules beat scope rules;
among scopes the longest wins. Tensors no rule matches keep their name. The
object graph of TF2 checkpoints (`_CHECKPOINTABLE_OBJECT_GRAPH`) describes one
model only and is always left out: the result is a name-based checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _inspect
from warmstart import _sources

#: The TF2 object-graph tensor; it describes one model, so it is never merged.
OBJECT_GRAPH = '_CHECKPOINTABLE_OBJECT_GRAPH'

#: Default upper bound on the bytes held in memory and written by one SaveV2.
DEFAULT_BATCH_BYTES = 64 << 20

#: Default number of tensors between two progress lines.
DEFAULT_LOG_EVERY = 1000

#: A progress line is also logged each time this many more bytes were read.
LOG_EVERY_BYTES = 1 << 30

Renames = Mapping[str, Optional[str]]
Source = Union[_sources.PathLike, tuple[_sources.PathLike, Optional[Renames]]]


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
  """

  name: str
  source: str
  source_name: str
  shape: tuple[int, ...]
  dtype: str
  num_bytes: int
  rule: str = ''


@dataclasses.dataclass(frozen=True)
class MergeResult:
  """What a merge wrote (or, for `plan_merge`, would write).

  Attributes:
    output: The output checkpoint prefix ('' for a plan).
    tensors: Every tensor of the output, in write order.
    dropped: (source prefix, tensor name, why) of every tensor left out.
  """

  output: str
  tensors: tuple[MergedTensor, ...]
  dropped: tuple[tuple[str, str, str], ...] = ()

  @property
  def num_bytes(self) -> int:
    return sum(t.num_bytes for t in self.tensors)

  @property
  def sources(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.source for t in self.tensors))

  def summary(self) -> str:
    line = 'Merged %d tensors (%s) from %d checkpoints' % (
        len(self.tensors), _inspect.format_bytes(self.num_bytes),
        len(self.sources))
    if self.output:
      line += ' into %s' % self.output
    if self.dropped:
      line += ' (%d left out)' % len(self.dropped)
    return line + '.'

  def to_dict(self) -> dict[str, Any]:
    return {
        'output': self.output,
        'num_tensors': len(self.tensors),
        'num_bytes': self.num_bytes,
        'tensors': [dataclasses.asdict(t) | {'shape': list(t.shape)}
                    for t in self.tensors],
        'dropped': [{'source': s, 'tensor': n, 'reason': r}
                    for s, n, r in self.dropped],
    }

  def to_json(self, indent: Optional[int] = 2) -> str:
    return json.dumps(self.to_dict(), indent=indent)

  def table(self) -> str:
    """Returns one line per output tensor and where it comes from."""
    rows = [('tensor', 'shape', 'dtype', 'from', 'source')]
    for t in self.tensors:
      rows.append((t.name, '[' + ','.join(str(d) for d in t.shape) + ']',
                   t.dtype, t.source_name, t.source))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    for source, name, reason in self.dropped:
      lines.append('left out: %s from %s (%s)' % (name, source, reason))
    return '\n'.join(lines + [self.summary()])


@dataclasses.dataclass(frozen=True)
class _Rule:
  key: str
  value: Optional[str]

  @property
  def text(self) -> str:
    return '%s=%s' % (self.key, '' if self.value is None else self.value)

  @property
  def is_scope(self) -> bool:
    return self.key.endswith('/')

  def apply(self, name: str) -> Optional[str]:
    if self.value is None:
      return None
    if not self.is_scope:
      return self.value
    rest = name if self.key == '/' else name[len(self.key):]
    return ('' if self.value == '/' else self.value) + rest


def _rules(renames: Optional[Renames], source: str) -> list[_Rule]:
  """Validates one source's renames."""
  if renames is None:
    return []
  if not isinstance(renames, Mapping):
    raise TypeError('The renames of source %s must be a dict from checkpoint '
                    'names or scopes to new names, got %r.' % (source, renames))
  rules = []
  for key, value in renames.items():
    if not isinstance(key, str) or not key:
      raise _errors.SettingsError(
          'Rename keys of source %s must be non-empty checkpoint names or '
          'scopes, got %r.' % (source, key))
    if value is not None and (not isinstance(value, str) or not value):
      raise _errors.SettingsError(
          'Rename %r of source %s: the new name must be a non-empty string (or '
          'None to leave the tensor out), got %r.' % (key, source, value))
    if value is not None and key.endswith('/') != value.endswith('/'):
      fixed = (key + '/', value) if value.endswith('/') else (key, value + '/')
      raise _errors.SettingsError(
          'Rename %s=%s of source %s maps a %s to a %s: scopes end with "/", '
          'write %s=%s to rename the scope.' %
          (key, value, source, 'scope' if key.endswith('/') else 'tensor',
           'scope' if value.endswith('/') else 'tensor', fixed[0], fixed[1]))
    rules.append(_Rule(key, value))
  return rules


def _rule_for(name: str, rules: Sequence[_Rule]) -> Optional[_Rule]:
  """The rule that renames `name`: exact names first, then longest scope."""
  best = None
  for rule in rules:
    if not rule.is_scope:
      if rule.key == name:
        return rule
      continue
    if rule.key == '/' or name.startswith(rule.key):
      if best is None or len(rule.key) > len(best.key):
        best = rule
  return best


def _patterns(exclude: Union[str, Iterable[str]]) -> list[re.Pattern[str]]:
  if isinstance(exclude, str):
    exclude = [exclude]
  patterns = []
  for regex in exclude:
    try:
      patterns.append(re.compile(regex))
    except re.error as e:
      raise _errors.SettingsError(
          'Invalid exclude regex %r: %s.' % (regex, e)) from e
  return patterns


def _sources_of(sources: Sequence[Source]) -> list[tuple[Any, Any]]:
  if isinstance(sources, (str, os.PathLike)) or not isinstance(
      sources, Sequence):
    raise TypeError('merge_checkpoints takes a list of sources (paths or '
                    '(path, renames) pairs), got %r.' % (sources,))
  if not sources:
    raise _errors.SettingsError('merge_checkpoints needs at least one source.')
  pairs = []
  for source in sources:
    if isinstance(source, (tuple, list)):
      if len(source) != 2:
        raise _errors.SettingsError(
            'A source is a path or a (path, renames) pair, got %r.' %
            (source,))
      pairs.append(tuple(source))
    else:
      pairs.append((source, None))
  return pairs


def plan_merge(sources: Sequence[Source],
               *,
               exclude: Union[str, Iterable[str]] = (),
               allow_unmatched: bool = False) -> MergeResult:
  """Works out which tensor of which source goes where, and checks it.

  Reads only the sources' indexes. See the module docstring for the rules.

  Args:
    sources: Paths (prefix, checkpoint directory or SavedModel), or (path,
      renames) pairs.
    exclude: Regex(es) of source tensor names to leave out, matched at the
      start of the name (`re.match`, like `vars_to_warm_start`).
    allow_unmatched: Allow a rename or exclude pattern that matches nothing.

  Returns:
    A `MergeResult` without output.

  Raises:
    CheckpointNotFoundError: a source holds no checkpoint.
    ConflictError: two tensors would get the same output name.
    UnmatchedRuleError: a rename or exclude pattern matches nothing.
    SettingsError: malformed renames or patterns.
  """
  pairs = _sources_of(sources)
  patterns = _patterns(exclude)
  problems = _errors.Problems('merge')
  add = problems.add

  tensors: list[MergedTensor] = []
  dropped: list[tuple[str, str, str]] = []
  excluded = set()
  by_name: dict[str, MergedTensor] = {}
  for path, renames in pairs:
    checkpoint = _sources.load(path)
    rules = _rules(renames, checkpoint.prefix)
    used = set()
    for name in sorted(checkpoint.shapes):
      if name == OBJECT_GRAPH:
        dropped.append((checkpoint.prefix, name, 'object graph of one model'))
        continue
      hits = [p.pattern for p in patterns if p.match(name)]
      if hits:
        excluded.update(hits)
        dropped.append((checkpoint.prefix, name, 'excluded by %r' % hits[0]))
        continue
      rule = _rule_for(name, rules)
      new_name = name
      if rule is not None:
        used.add(rule)
        new_name = rule.apply(name)
        if new_name is None:
          dropped.append((checkpoint.prefix, name, 'dropped by %s' % rule.text))
          continue
      tensor = MergedTensor(
          name=new_name, source=checkpoint.prefix, source_name=name,
          shape=tuple(int(d) for d in checkpoint.shapes[name]),
          dtype=checkpoint.dtypes[name].name,
          num_bytes=checkpoint.num_bytes(name),
          rule=rule.text if rule is not None else '')
      first = by_name.get(new_name)
      if first is not None:
        add(
            _errors.ConflictError,
            'Output tensor %r would come from both %s (tensor %r%s) and %s '
            '(tensor %r%s). Rename or exclude one of them.' %
            (new_name, first.source, first.source_name,
             ', rule %s' % first.rule if first.rule else '', tensor.source,
             name, ', rule %s' % tensor.rule if tensor.rule else ''))
        continue
      by_name[new_name] = tensor
      tensors.append(tensor)
    if not allow_unmatched:
      for rule in rules:
        if rule not in used:
          add(
              _errors.UnmatchedRuleError,
              'Rename %s matches no tensor of %s.%s' %
              (rule.text, checkpoint.prefix,
               _errors.did_you_mean(rule.key, list(checkpoint.shapes) + sorted(
                   {n.rsplit('/', 1)[0] + '/' for n in checkpoint.shapes
                    if '/' in n}))))
  if not allow_unmatched:
    for pattern in patterns:
      if pattern.pattern not in excluded:
        add(
            _errors.UnmatchedRuleError,
            'Exclude pattern %r matches no tensor name of any source (it is '
            'matched at the start of the name: write ".*%s" to match '
            'anywhere).' % (pattern.pattern, pattern.pattern))
  problems.raise_if_any()
  if not tensors:
    raise _errors.SettingsError(
        'Nothing to merge: every tensor of %s is left out.' %
        ', '.join(str(p) for p, _ in pairs))
  return MergeResult(output='', tensors=tuple(tensors), dropped=tuple(dropped))


def _check_output(output: str, result: MergeResult, overwrite: bool) -> None:
  if not output:
    raise _errors.SettingsError('The output checkpoint prefix is empty.')
  if tf.io.gfile.isdir(output):
    raise _errors.SettingsError(
        'Output %r is a directory; give a checkpoint prefix such as %r.' %
        (output, os.path.join(output, 'merged.ckpt')))
  for source in result.sources:
    if os.path.abspath(source) == os.path.abspath(output):
      raise _errors.SettingsError(
          'Output %r is one of the sources; write the merge to a new prefix.' %
          output)
  if _files_of(output) and not overwrite:
    raise FileExistsError(
        'Output checkpoint %r exists (%s). Pass overwrite=True (--overwrite) to '
        'replace it, or choose another prefix.' %
        (output, ', '.join(os.path.basename(f) for f in _files_of(output))))


def _files_of(prefix: str) -> list[str]:
  """The files of checkpoint `prefix`: its index first, then its data."""
  files = []
  if tf.io.gfile.exists(prefix + '.index'):
    files.append(prefix + '.index')
  files.extend(sorted(tf.io.gfile.glob(prefix + '.data-*')))
  return files


def _save_batch(prefix: str, tensors: Sequence[MergedTensor],
                values: Sequence[np.ndarray]) -> None:
  """Writes one shard with SaveV2 (in a graph of its own: works in any mode)."""
  with tf.Graph().as_default():
    with tf.device('/cpu:0'):
      inputs = [tf.compat.v1.placeholder(tf.as_dtype(t.dtype), t.shape)
                for t in tensors]
      save = tf.raw_ops.SaveV2(
          prefix=prefix, tensor_names=[t.name for t in tensors],
          shape_and_slices=[''] * len(tensors), tensors=inputs)
    with tf.compat.v1.Session() as sess:
      sess.run(save, feed_dict=dict(zip(inputs, values)))


def _join_shards(shards: Sequence[str], destination: str) -> None:
  """Joins OUR temporary shards (MergeV2Checkpoints consumes its inputs)."""
  with tf.Graph().as_default():
    with tf.device('/cpu:0'):
      op = tf.raw_ops.MergeV2Checkpoints(
          checkpoint_prefixes=list(shards), destination_prefix=destination,
          delete_old_dirs=False)
    with tf.compat.v1.Session() as sess:
      sess.run(op)


def _rename(src: str, dst: str) -> None:
  tf.io.gfile.rename(src, dst, overwrite=False)


def _write_staged(result: MergeResult, staging: str, max_batch_bytes: int,
                  log_every: int) -> str:
  """Writes every tensor into shards under `staging`; returns the joined prefix."""
  readers: dict[str, Any] = {}
  shards: list[str] = []
  batch: list[MergedTensor] = []
  values: list[np.ndarray] = []
  batch_bytes = done_bytes = 0
  next_bytes = LOG_EVERY_BYTES
  total = len(result.tensors)

  def flush():
    nonlocal batch, values, batch_bytes
    shard = os.path.join(staging, 'shard-%05d' % len(shards))
    _save_batch(shard, batch, values)
    shards.append(shard)
    batch, values, batch_bytes = [], [], 0

  for i, tensor in enumerate(result.tensors, 1):
    reader = readers.get(tensor.source)
    if reader is None:
      reader = readers[tensor.source] = tf.compat.v1.train.NewCheckpointReader(
          tensor.source)
    if batch and batch_bytes + tensor.num_bytes > max_batch_bytes:
      flush()
    batch.append(tensor)
    values.append(reader.get_tensor(tensor.source_name))
    batch_bytes += tensor.num_bytes
    done_bytes += tensor.num_bytes
    if i % log_every == 0 or i == total or done_bytes >= next_bytes:
      next_bytes = (done_bytes // LOG_EVERY_BYTES + 1) * LOG_EVERY_BYTES
      logging.info('Merge: read %d of %d tensors (%s of %s).', i, total,
                   _inspect.format_bytes(done_bytes),
                   _inspect.format_bytes(result.num_bytes))
  flush()
  joined = os.path.join(staging, 'merged')
  _join_shards(shards, joined)
  return joined


def _commit(staged: str, output: str, backup_dir: str) -> None:
  """Renames the staged checkpoint to `output`, the index last.

  An existing output is moved into `backup_dir` first (its index first, so it
  stops being a checkpoint at once), put back if anything fails and deleted
  once the new output is in place.
  """
  moved_old: list[tuple[str, str]] = []
  placed: list[str] = []
  try:
    old = _files_of(output)
    if old:
      tf.io.gfile.makedirs(backup_dir)
    for path in old:
      kept = os.path.join(backup_dir, os.path.basename(path))
      _rename(path, kept)
      moved_old.append((path, kept))
    for path in sorted(tf.io.gfile.glob(staged + '.data-*')):
      target = output + path[len(staged):]
      _rename(path, target)
      placed.append(target)
    _rename(staged + '.index', output + '.index')
  except BaseException:
    for path in placed:
      _remove_quietly(path)
    for path, kept in reversed(moved_old):  # Data back first, index last.
      _rename(kept, path)
    raise
  for _, kept in moved_old:
    _remove_quietly(kept)


def _remove_quietly(path: str) -> None:
  try:
    tf.io.gfile.remove(path)
  except tf.errors.OpError as e:
    logging.warning('Could not remove %s: %s', path, e)


def merge_checkpoints(sources: Sequence[Source],
                      output: _sources.PathLike,
                      *,
                      overwrite: bool = False,
                      exclude: Union[str, Iterable[str]] = (),
                      allow_unmatched: bool = False,
                      max_batch_bytes: int = DEFAULT_BATCH_BYTES,
                      log_every: int = DEFAULT_LOG_EVERY) -> MergeResult:
  """Writes one new checkpoint holding the tensors of several checkpoints.

  The inputs are only read. Memory stays bounded by `max_batch_bytes` (plus
  the largest single tensor). The output appears atomically: its `.index` is
  renamed into place last, after every data file.

  Example:

    ```python
    merge_checkpoints(
        ['/models/encoder', ('/models/decoder', {'/': 'decoder/'})],
        '/models/merged/model.ckpt')
    ```

  Args:
    sources: Paths (prefix, checkpoint directory or SavedModel), or (path,
      renames) pairs; see the module docstring for the rename forms.
    output: The output checkpoint prefix (its directory is created).
    overwrite: Replace an existing checkpoint at `output`.
    exclude: Regex(es) of source tensor names to leave out (`re.match`).
    allow_unmatched: Allow renames or exclude patterns that match nothing.
    max_batch_bytes: Upper bound on the bytes one write holds in memory.
    log_every: Log progress every this many tensors (and every
      `LOG_EVERY_BYTES` read).

  Returns:
    The `MergeResult`.

  Raises:
    FileExistsError: `output` exists and `overwrite` is False.
    CheckpointNotFoundError, ConflictError, UnmatchedRuleError, SettingsError:
      see `plan_merge`; raised before anything is written.
  """
  for name, value in (('max_batch_bytes', max_batch_bytes),
                      ('log_every', log_every)):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise _errors.SettingsError(
          '%s must be a positive int, got %r.' % (name, value))
  output = os.fspath(output)
  result = plan_merge(sources, exclude=exclude, allow_unmatched=allow_unmatched)
  _check_output(output, result, overwrite)
  directory = os.path.dirname(output) or '.'
  tf.io.gfile.makedirs(directory)
  staging = os.path.join(directory, '.%s.merge-%s' %
                         (os.path.basename(output), uuid.uuid4().hex[:12]))
  tf.io.gfile.makedirs(staging)
  logging.info('Merging %d tensors (%s) from %s into %s.', len(result.tensors),
               _inspect.format_bytes(result.num_bytes),
               ', '.join(result.sources), output)
  backup_dir = os.path.join(staging, 'previous')
  try:
    staged = _write_staged(result, staging, max_batch_bytes, log_every)
    _commit(staged, output, backup_dir)
  finally:
    if tf.io.gfile.exists(backup_dir) and tf.io.gfile.listdir(backup_dir):
      # Only when putting the previous output back failed: keep its files.
      logging.error('The previous checkpoint %s could not be put back; its '
                    'files are in %s.', output, backup_dir)
    else:
      try:
        tf.io.gfile.rmtree(staging)
      except tf.errors.OpError as e:
        logging.warning('Could not remove the temporary directory %s: %s',
                        staging, e)
  result = dataclasses.replace(result, output=output)
  logging.info('%s', result.summary())
  return result
