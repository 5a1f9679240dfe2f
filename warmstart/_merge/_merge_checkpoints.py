"""Merges several checkpoints into one new checkpoint, never touching the inputs.

`merge_checkpoints([a, (b, {'encoder/': 'teacher/encoder/'})], out)` writes
`out.index` and `out.data-*` holding every tensor of `a` and of `b` (renamed).

How, and why this way (one module per step):

* `_rules`: the renames and exclude patterns; `plan_merge` (here)
  applies them to the sources' indexes. A tensor name produced twice (by two
  sources, or two renames) is a `ConflictError` naming both; a rename or
  exclude pattern that matches nothing is an `UnmatchedRuleError` (with
  `allow_unmatched`, a warning naming it).
* `_output`: where the output may go (not a source however reached: a
  symlink, a bind mount or second mount of its directory, a hard link, by
  device and inode; no glob or NUL character), checked before anything is
  written, by `plan_merge(output=...)` (the dry run) too.
* `_layout` and `_write`: bounded memory; tensors are read one at
  a time and written in shards of at most `max_batch_bytes` into a staging
  folder next to the output, with a shard count no file at the output has.
* `_commit`: the new data files are placed, then the new index is
  renamed over the old one (the commit point), then the old data files are
  removed. At every instant the output is nothing or a whole checkpoint; with
  `overwrite`, the whole old one or the whole new one.
* `_staging` and `_debris`: the staging folder names its writer;
  a rerun removes what a merge that died (even by SIGKILL) left, and
  succeeds.
* A merge that fails removes what it wrote (its staging folder, the
  directories it made). A full disk or quota (ENOSPC, EDQUOT) at any step is
  then an `OutOfSpaceError` naming the output and the bytes the merge writes.
* A mistyped keyword (`overwite=True`) is a `SettingsError` with "Did you
  mean" (`_checked_keywords`).

The result is a name-based checkpoint. The object graph of a TF2
(object-based) checkpoint (`_CHECKPOINTABLE_OBJECT_GRAPH`) describes one model
only and is always left out; its tensors are written under their variables'
names instead of their keys (`dense/kernel`, not
`model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`; an optimizer
slot as `<variable>/<slot>`, see `_object_graph`), so TF1 Savers and
`init_from_checkpoint` read them, and renames and exclude patterns apply to
those names (exclude patterns also to the keys). A tensor the object graph
gives no name (a lookup table's `table-keys`), or a name it also gives to
another tensor (two `ShardedVariable`s), keeps its key, and the result says
so (`MergedTensor.note`).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import inspect
import os
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional, TypeVar, Union

import numpy as np
import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _inspect
from warmstart import _options
from warmstart._merge import _commit
from warmstart._merge import _debris
from warmstart._merge import _files
from warmstart._merge import _layout
from warmstart._merge import _output
from warmstart._merge import _result
from warmstart._merge import _rules
from warmstart._merge import _staging
from warmstart._merge import _write
from warmstart import _sources
from warmstart import _transform

MergedTensor = _result.MergedTensor
MergeResult = _result.MergeResult
Renames = _rules.Renames

#: The TF2 object-graph tensor; it describes one model, so it is never merged.
OBJECT_GRAPH = _sources.OBJECT_GRAPH_KEY

#: Default upper bound on the bytes held in memory and written by one SaveV2.
DEFAULT_BATCH_BYTES = 64 << 20

#: Default number of tensors between two progress lines.
DEFAULT_LOG_EVERY = 1000

#: One source of a merge: a path, or a (path, renames) pair.
MergeSource = Union[_sources.PathLike,
                    tuple[_sources.PathLike, Optional[Renames]]]


#: The errnos of a full disk (ENOSPC) and of an exhausted quota (EDQUOT).
SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


OutOfSpaceError = _errors.OutOfSpaceError


def space_errno(error: BaseException) -> Optional[int]:
  """ENOSPC or EDQUOT if `error` says the disk or the quota is full, else None.

  An `OSError` carries its errno; a `tf.errors.OpError` from a TF file
  system (SaveV2, `tf.io.gfile`) only its text (`strerror`), as TF words it.
  """
  if isinstance(error, OSError) and error.errno in SPACE_ERRNOS:
    return error.errno
  if isinstance(error, tf.errors.OpError):
    for code in SPACE_ERRNOS:
      if os.strerror(code) in (error.message or ''):
        return code
  return None


def _free_bytes(path: str) -> Optional[int]:
  """The bytes an unprivileged user may still write where local `path` is.

  Of the nearest directory that exists; None for other filesystems. A quota
  is not counted.
  """
  if not _files.is_local(path):
    return None
  path = os.path.abspath(path)
  while not os.path.isdir(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  try:
    stat = os.statvfs(path)
  except (OSError, AttributeError):
    return None
  return stat.f_bavail * stat.f_frsize


def _out_of_space(code: int, output: str, result: MergeResult,
                  overwrite: bool, left: Sequence[str]) -> OutOfSpaceError:
  """The error of a merge into `output` that ran out of space (or quota)."""
  num_bytes = result.num_bytes
  free = _free_bytes(os.path.dirname(output) or '.')
  if left:
    cleaned = ('It could not remove %s (the next merge into %r removes a '
               'staging folder)' % (', '.join(repr(p) for p in left), output))
  else:
    cleaned = 'Nothing of it was left (no staging folder, no partial output)'
  return OutOfSpaceError(
      '%s (%s) while merging into %r: the merge writes %d bytes (%s in %d '
      'tensor%s, strings counted at 64 bytes an element) plus its index%s. '
      '%s%s. Free space%s, or write the merge to another filesystem.' %
      (os.strerror(code), errno.errorcode.get(code, code), output, num_bytes,
       _inspect.format_bytes(num_bytes), len(result.tensors),
       '' if len(result.tensors) == 1 else 's',
       '' if free is None else '; %d bytes (%s) are free there now' %
       (free, _inspect.format_bytes(free)),
       cleaned, '; the checkpoint that was at the output is unchanged'
       if overwrite and _files.files_of(output) else '',
       ' or quota' if code == errno.EDQUOT else ''),
      code, output, num_bytes)


_Function = TypeVar('_Function', bound=Callable[..., Any])


def _checked_keywords(function: _Function) -> _Function:
  """Makes a mistyped keyword of `function` a `SettingsError`, "Did you mean".

  Python's own TypeError names the unknown keyword only. An option of
  `warmstart.Options` that merge spells otherwise (`max_chunk_bytes` is
  `max_batch_bytes`) or does not take is named as such.
  """
  keywords = [
      name for name, p in inspect.signature(function).parameters.items()
      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
  merge_names = {d.name: d.merge for d in _options.DECLARATIONS}

  @functools.wraps(function)
  def checked(*args, **kwargs):
    unknown = [k for k in kwargs if k not in keywords]
    if unknown:
      problems = []
      for name in unknown:
        if merge_names.get(name):
          problems.append('%r: a merge takes the option %s as %r.' %
                          (name, name, merge_names[name]))
        elif name in merge_names:
          problems.append('%r: the option %s does not apply to a merge.' %
                          (name, name))
        else:
          problems.append('%r.%s' % (name,
                                     _errors.did_you_mean(name, keywords)))
      raise _errors.SettingsError(
          '%s() got an unexpected keyword argument%s %s Valid keyword '
          'arguments: %s.' % (function.__name__,
                              's' if len(problems) > 1 else '',
                              ' '.join(problems), ', '.join(keywords)))
    return function(*args, **kwargs)

  return checked  # type: ignore[return-value]


def _unmatched(problems: _errors.Problems, allow_unmatched: bool,
               message: str) -> None:
  if allow_unmatched:
    logging.warning('Merge: %s Skipped (allow_unmatched).', message)
  else:
    problems.add(_errors.UnmatchedRuleError, message)


def _plan(sources: Sequence[MergeSource],
          exclude: Union[str, Iterable[str]],
          allow_unmatched: bool,
          cache_dir: Optional[str] = None) -> MergeResult:
  """`plan_merge` without an output: the sources, renames and excludes."""
  pairs = _rules.source_pairs(sources)
  patterns = _rules.exclude_patterns(exclude)
  problems = _errors.Problems('merge')

  tensors: list[MergedTensor] = []
  dropped: list[tuple[str, str, str]] = []
  excluded = set()
  by_name: dict[str, MergedTensor] = {}
  for path, renames in pairs:
    checkpoint = _sources.load(path, cache_dir)
    rules = _rules.rules_of(renames, checkpoint.prefix)
    used = set()
    object_names = _sources.names_of(checkpoint)
    transformed, consumed = _transformed(
        checkpoint, object_names, _rules.transforms_of(renames,
                                                        checkpoint.prefix),
        problems)
    # {key: the name renames apply to}: the variable's name, or its key.
    names = {}
    for key in sorted(checkpoint.shapes):
      if key == OBJECT_GRAPH:
        dropped.append((checkpoint.prefix, key, 'object graph of one model'))
        continue
      name, kept_key = object_names.output_name(key)
      names[key] = name
      if key in consumed:
        dropped.append((checkpoint.prefix, key, 'read by transform %s' %
                        consumed[key]))
        continue
      hits = [p.pattern for p in patterns if p.match(name) or p.match(key)]
      if hits:
        excluded.update(hits)
        dropped.append((checkpoint.prefix, key, 'excluded by %r' % hits[0]))
        continue
      rule = _rules.rule_for(name, rules)
      new_name = name
      if rule is not None:
        used.add(rule)
        new_name = rule.apply(name)
        if new_name is None:
          dropped.append((checkpoint.prefix, key, 'dropped by %s' % rule.text))
          continue
      tensor = MergedTensor(
          name=new_name, source=checkpoint.prefix, source_name=key,
          shape=tuple(int(d) for d in checkpoint.shapes[key]),
          dtype=checkpoint.dtypes[key].name,
          num_bytes=checkpoint.num_bytes(key),
          rule=rule.text if rule is not None else '', note=kept_key)
      first = by_name.get(new_name)
      if first is not None:
        problems.add(
            _errors.ConflictError,
            'Output tensor %r would come from both %s (tensor %r%s) and %s '
            '(tensor %r%s). Rename or exclude one of them.' %
            (new_name, first.source, first.source_name,
             ', rule %s' % first.rule if first.rule else '', tensor.source,
             key, ', rule %s' % tensor.rule if tensor.rule else ''))
        continue
      by_name[new_name] = tensor
      tensors.append(tensor)
    for tensor in transformed:
      first = by_name.get(tensor.name)
      if first is not None:
        problems.add(
            _errors.ConflictError,
            'Output tensor %r would come from both %s (tensor %r) and a '
            'transform of %s (%s). Rename or exclude one of them.' %
            (tensor.name, first.source, first.source_name, tensor.source,
             tensor.rule))
        continue
      by_name[tensor.name] = tensor
      tensors.append(tensor)
    for rule in rules:
      if rule not in used:
        _unmatched(
            problems, allow_unmatched, 'Rename %s matches no tensor of %s.%s' %
            (rule.text, checkpoint.prefix, '' if allow_unmatched else
             problems.did_you_mean(rule.key, list(names.values()) + sorted(
                 {n.rsplit('/', 1)[0] + '/' for n in names.values()
                  if '/' in n}))))
  for pattern in patterns:
    if pattern.pattern not in excluded:
      _unmatched(
          problems, allow_unmatched,
          'Exclude pattern %r matches no tensor name of any source (it is '
          'matched at the start of the name: write ".*%s" to match '
          'anywhere).' % (pattern.pattern, pattern.pattern))
  problems.raise_if_any()
  if not tensors:
    raise _errors.SettingsError(
        'Nothing to merge: every tensor of %s is left out.' %
        ', '.join(str(p) for p, _ in pairs))
  return MergeResult(output='', tensors=tuple(tensors), dropped=tuple(dropped),
                     dry_run=True)


def _transformed(checkpoint: _sources.Checkpoint, object_names: Any,
                 rules: Sequence[_rules.TransformRule],
                 problems: _errors.Problems
                ) -> tuple[list[MergedTensor], dict[str, str]]:
  """The output tensors of one source's transforms, their shapes checked,
  and {key: the transform that reads it} of the tensors they consume."""
  key_of = {object_names.output_name(key)[0]: key
            for key in checkpoint.shapes if key != OBJECT_GRAPH}
  made: list[MergedTensor] = []
  consumed: dict[str, str] = {}
  for rule in rules:
    keys = [key_of.get(name, name) for name in rule.tensors]
    missing = [n for n, k in zip(rule.tensors, keys) if k not in checkpoint]
    if missing:
      problems.add(_errors.TensorNotFoundError, 'Transform %s: %s not in %s.%s'
                   % (rule.text, ', '.join(map(repr, missing)),
                      checkpoint.prefix,
                      problems.did_you_mean(missing[0], list(key_of))))
      continue
    dtypes = {checkpoint.dtypes[k].base_dtype for k in keys}
    shapes = [tuple(int(d) for d in checkpoint.shapes[k]) for k in keys]
    targets = rule.transform.targets
    try:
      if len(dtypes) > 1:
        raise _transform.TransformError('tensors of dtypes %s' % ', '.join(
            sorted(d.name for d in dtypes)))
      out = _transform.output_shapes(rule.transform.ops, shapes, len(targets))
    except _transform.TransformError as e:
      problems.add(_errors.MismatchError,
                   'Transform %s of %s does not fit shape%s %s: %s.' %
                   (rule.text, checkpoint.prefix, 's' if len(shapes) > 1 else
                    '', ', '.join(str(list(s)) for s in shapes), e))
      continue
    (dtype,) = dtypes
    for part, (target, shape) in enumerate(zip(targets, out)):
      made.append(MergedTensor(
          name=target, source=checkpoint.prefix, source_name='+'.join(keys),
          shape=shape, dtype=dtype.name,
          num_bytes=int(np.prod(shape, dtype=np.int64)) * dtype.size,
          rule=rule.text, transform=_transform.Application(
              tuple(keys), rule.transform.ops, part, len(targets))))
    for key in keys:
      consumed[key] = rule.text
  return made, consumed


def _check_output(output: str, overwrite: bool, result: MergeResult,
                  dry_run: bool) -> tuple[str, bool]:
  """The checks of the output that need the plan; they write nothing.

  Returns:
    The merge's fingerprint (`_staging`), and whether a dead run of the same
    merge committed what is at `output`. A dry run removes no debris; a merge
    (`dry_run=False`) removes what dead merges into `output` left.

  Raises:
    SettingsError: `output` is a source, or cannot be replaced safely.
    FileExistsError: `output` exists and `overwrite` is False, or another
      merge into `output` is running.
  """
  _output.check_not_a_source(output, result.sources)
  merge_fingerprint = _staging.fingerprint(
      _files.resolve_prefix(output), bool(overwrite),
      [(t.name, t.source, t.source_name, t.dtype, t.shape)
       for t in result.tensors])
  if dry_run:
    committed_by_a_dead_run = _debris.committed_by_a_dead_run(
        output, merge_fingerprint)
  else:
    committed_by_a_dead_run = _debris.clean(output, merge_fingerprint)
  existing = _files.files_of(output)
  if existing and not (overwrite or committed_by_a_dead_run):
    raise FileExistsError(
        'Output checkpoint %r exists (%s). Pass overwrite=True (--overwrite) '
        'to replace it, or choose another prefix.' %
        (output, ', '.join(os.path.basename(f) for f in existing)))
  return merge_fingerprint, committed_by_a_dead_run


@_checked_keywords
def plan_merge(sources: Sequence[MergeSource],
               *,
               output: Optional[_sources.PathLike] = None,
               overwrite: bool = False,
               exclude: Union[str, Iterable[str]] = (),
               allow_unmatched: bool = False,
               max_batch_bytes: int = DEFAULT_BATCH_BYTES,
               cache_dir: Optional[str] = None) -> MergeResult:
  """Works out which tensor of which source goes where, and checks it.

  The dry run of `merge_checkpoints`: reads only the sources' indexes (and,
  given `output`, lists its directory), writes and removes nothing. See the
  module docstring for the rules.

  Example:

    ```python
    plan = plan_merge(['/models/a', ('/models/b', {'/': 'b/'})],
                      output='/models/ab/model.ckpt')
    print(plan.table())
    ```

  Args:
    sources: Paths (prefix, checkpoint directory or SavedModel), or (path,
      renames) pairs.
    output: The output prefix `merge_checkpoints` would write; checked as
      it would check it, and reported in the result. None: no output.
    overwrite: With `output`: whether an existing checkpoint may be replaced.
    exclude: Regex(es) of source tensor names to leave out, matched at the
      start of the name (`re.match`, like `vars_to_warm_start`); in an
      object-based checkpoint, of the variable name or the key.
    allow_unmatched: Allow a rename or exclude pattern that matches nothing
      (each is named in a warning).
    max_batch_bytes: With `output`: as `merge_checkpoints`'s (an overwrite
      that cannot be written safely is refused here too).
    cache_dir: As `merge_checkpoints`'.

  Returns:
    A `MergeResult` (`dry_run` True; `output` '' without one).

  Raises:
    CheckpointNotFoundError: a source holds no checkpoint.
    ConflictError: two tensors would get the same output name.
    UnmatchedRuleError: a rename or exclude pattern matches nothing.
    SettingsError: malformed renames, patterns or keywords; with `output`,
      as `merge_checkpoints` for the output.
    FileExistsError: with `output`, as `merge_checkpoints`.
  """
  if output is None:
    return _plan(sources, exclude, allow_unmatched, cache_dir)
  _check_positive(max_batch_bytes=max_batch_bytes)
  output = os.fspath(output)
  _output.check_path(output)
  result = _plan(sources, exclude, allow_unmatched, cache_dir)
  _check_output(output, overwrite, result, dry_run=True)
  _layout.layout(result.tensors, max_batch_bytes,
                 _files.shard_counts(output), output)
  return dataclasses.replace(result, output=output)


def _check_positive(**values: object) -> None:
  for name, value in values.items():
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise _errors.SettingsError(
          '%s must be a positive int, got %r.' % (name, value))


@_checked_keywords
def merge_checkpoints(sources: Sequence[MergeSource],
                      output: _sources.PathLike,
                      *,
                      overwrite: bool = False,
                      exclude: Union[str, Iterable[str]] = (),
                      allow_unmatched: bool = False,
                      max_batch_bytes: int = DEFAULT_BATCH_BYTES,
                      log_every: int = DEFAULT_LOG_EVERY,
                      cache_dir: Optional[str] = None) -> MergeResult:
  """Writes one new checkpoint holding the tensors of several checkpoints.

  The inputs are only read. Memory stays bounded by `max_batch_bytes` (plus
  the largest single tensor). At every instant, crash included, `output` is
  no checkpoint or a whole one (with `overwrite`: the whole old one or the
  whole new one); a rerun after a crash removes what it left and succeeds.

  Example:

    ```python
    merge_checkpoints(
        ['/models/encoder', ('/models/decoder', {'/': 'decoder/'})],
        '/models/merged/model.ckpt')
    ```

  Args:
    sources: Paths (prefix, checkpoint directory or SavedModel), or (path,
      renames) pairs; see `_rules` for the rename forms.
    output: The output checkpoint prefix (its directory is created).
    overwrite: Replace an existing checkpoint at `output`.
    exclude: Regex(es) of source tensor names to leave out (`re.match`).
    allow_unmatched: Allow renames or exclude patterns that match nothing.
    max_batch_bytes: Upper bound on the bytes one write holds in memory.
    log_every: Log progress every this many tensors (and every
      `_write.LOG_EVERY_BYTES` read).
    cache_dir: Where a source that is a safetensors, npz or Keras HDF5 file
      is staged as a checkpoint (None: `$WARMSTART_CACHE_DIR`, else
      `~/.cache/warmstart`).

  Returns:
    The `MergeResult`.

  Raises:
    FileExistsError: `output` exists and `overwrite` is False, or another
      merge into `output` is running.
    CheckpointNotFoundError, ConflictError, UnmatchedRuleError, SettingsError:
      see `plan_merge`, and `SettingsError` for a mistyped keyword, and for an
      output that is a source (however reached: a symlinked, bind-mounted or
      second mount of its directory, a hard link), a directory or holds a glob
      character; raised before anything is written.
    OutOfSpaceError: the disk or quota filled up; the merge removed what it
      wrote (the output is as it was). Names the output and the bytes the
      merge writes.
  """
  _check_positive(max_batch_bytes=max_batch_bytes, log_every=log_every)
  output = os.fspath(output)
  _output.check_path(output)
  result = _plan(sources, exclude, allow_unmatched, cache_dir)
  merge_fingerprint, _ = _check_output(output, overwrite, result,
                                       dry_run=False)
  shards = _layout.layout(result.tensors, max_batch_bytes,
                          _files.shard_counts(output), output)
  logging.info('Merging %d tensors (%s) from %s into %s.', len(result.tensors),
               _inspect.format_bytes(result.num_bytes),
               ', '.join(result.sources), output)
  created: list[str] = []
  staging = None
  try:
    created = _files.make_directory(os.path.dirname(output) or '.')
    staging = _staging.create(output, merge_fingerprint)
    try:
      staged = _write.write(shards, staging, log_every)
      _staging.check_alone(output, staging)
      _commit.commit(staged, output)
    finally:
      _staging.remove(staging)
  except BaseException as e:
    # Nothing of this merge stays: the output as it was (`_commit`), no
    # staging folder, no directory it made.
    _files.remove_created(created)
    code = space_errno(e)
    if code is not None:
      left = [p for p in [staging] + created
              if p is not None and tf.io.gfile.exists(p)]
      raise _out_of_space(code, output, result, bool(overwrite), left) from e
    raise
  result = dataclasses.replace(result, output=output, dry_run=False)
  logging.info('%s', result.summary())
  return result
