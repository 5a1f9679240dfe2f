"""Writes a warm start's `Plan` next to the run: JSON and a TensorBoard text.

Weeks later, "what was this model warm-started from?" has an answer in its
model directory:

* `<model_dir>/warm_start_plan.json`: the plan of the latest warm start,
  `Plan.to_json()` exactly (read it back with `read_plan` or
  `warmstart.Plan.from_json`).
* a TensorBoard text summary under the tag `warm_start/plan` at step 0: the
  plan's summary line and a markdown table, in an event file of its own
  (`events.out.tfevents.*.warm_start`) in `model_dir`. TensorBoard shows the
  latest plan (each is written at step 0); the JSON history keeps them all.

Writes are atomic: the JSON goes to a temporary file of the same directory,
then is renamed over the old one, so a reader sees the old or the new plan,
never half of one. A plan is never overwritten silently: writing the same plan
again changes nothing, and a different plan first copies the one it replaces
to `warm_start_plan-<N>.json` (N = 1, 2, ..., oldest first), so the history of
warm starts of a directory (e.g. after its checkpoints were deleted and the
run restarted from another source) is kept.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Union

import tensorflow as tf
from absl import logging

from warmstart import _errors
from warmstart import _plan
from warmstart import _table

#: The file name of the latest plan in a model directory.
PLAN_FILE = 'warm_start_plan.json'

#: The TensorBoard tag of the plan's text summary.
SUMMARY_TAG = 'warm_start/plan'

#: The suffix of the event files holding the text summary.
EVENTS_SUFFIX = '.warm_start'

_HISTORY = re.compile(r'^warm_start_plan-(\d+)\.json$')

PathLike = Union[str, os.PathLike]


def _directory(model_dir: PathLike, who: str) -> str:
  """`model_dir` as a str, or a SettingsError naming the argument."""
  if not isinstance(model_dir, (str, bytes, os.PathLike)) or not model_dir:
    raise _errors.SettingsError(
        '%s model_dir must be a directory path (str or os.PathLike), got %r '
        'of type %s.' % (who, model_dir, type(model_dir).__name__))
  return os.fsdecode(model_dir)


def plan_path(model_dir: PathLike) -> str:
  """Returns the path of the latest plan file of `model_dir`."""
  return os.path.join(_directory(model_dir, 'read_plan'), PLAN_FILE)


def history_paths(model_dir: PathLike) -> list[str]:
  """Returns the paths of the earlier, replaced plans, oldest first."""
  model_dir = os.fspath(model_dir)
  if not tf.io.gfile.isdir(model_dir):
    return []
  numbered = []
  for name in tf.io.gfile.listdir(model_dir):
    match = _HISTORY.match(name)
    if match:
      numbered.append((int(match.group(1)), name))
  return [os.path.join(model_dir, name) for _, name in sorted(numbered)]


def read_plan(model_dir: PathLike) -> _plan.Plan:
  """Reads the latest plan written to `model_dir`.

  Args:
    model_dir: The model directory given to `write_plan`.

  Returns:
    The `Plan` (for inspection: its entries have no variable objects).

  Raises:
    FileNotFoundError: `model_dir` holds no plan file.
  """
  path = plan_path(model_dir)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(
        'No warm-start plan in %r: %s does not exist (a plan is written when '
        'training warm-starts into an empty model directory).' %
        (os.fspath(model_dir), path))
  with tf.io.gfile.GFile(path, 'r') as f:
    return _plan.Plan.from_json(f.read())


def _atomic_write(path: str, text: str) -> None:
  """Writes `text` to a temporary file next to `path`, then renames it."""
  temp = '%s.tmp-%s' % (path, uuid.uuid4().hex)
  try:
    with tf.io.gfile.GFile(temp, 'w') as f:
      f.write(text)
    tf.io.gfile.rename(temp, path, overwrite=True)
  except BaseException:
    if tf.io.gfile.exists(temp):
      tf.io.gfile.remove(temp)
    raise


def _keep_history(model_dir: str, path: str) -> str:
  """Copies the plan at `path` to the next free history name; returns it."""
  existing = history_paths(model_dir)
  number = 1
  if existing:
    number = int(_HISTORY.match(os.path.basename(existing[-1])).group(1)) + 1
  while True:
    kept = os.path.join(model_dir, 'warm_start_plan-%d.json' % number)
    try:
      tf.io.gfile.copy(path, kept, overwrite=False)
      return kept
    except tf.errors.AlreadyExistsError:
      number += 1  # Another writer took this number meanwhile.


def _cell(text: str) -> str:
  return text.replace('|', '\\|').replace('\n', ' ')


def markdown(plan: _plan.Plan) -> str:
  """Returns the plan as markdown: its summary line, a table, then where
  each restored variable's optimizer state starts from."""
  lines = ['**%s**' % _cell(plan.summary()), '',
           '| variable | shape | dtype | action | tensor | source | rule | '
           'note |',
           '|---|---|---|---|---|---|---|---|']
  for e in plan.entries:
    shape = _table.format_shape(e.shape)
    if len(e.slices) > 1:
      shape += ' in %d parts' % len(e.slices)
    lines.append('| %s |' % ' | '.join(
        _cell(c) for c in ('`%s`' % e.variable, shape, e.dtype, e.action,
                           '`%s`' % e.tensor if e.tensor else '',
                           plan.source_label(e.source), e.rule, e.reason)))
  state = plan.optimizer_state()
  if state:
    lines.extend(['', '**Optimizer state**', ''])
    lines.extend('* %s' % _cell(line) for line in state)
  notes = plan.not_warm_started()
  if notes:
    lines.append('')
    lines.extend('* %s' % _cell(note) for note in notes)
  return '\n'.join(lines)


def _write_summary(plan: _plan.Plan, model_dir: str, step: int) -> None:
  """Writes the plan as a TensorBoard text summary (the 'text' plugin)."""
  summary = tf.compat.v1.Summary()
  value = summary.value.add(tag=SUMMARY_TAG)
  value.metadata.plugin_data.plugin_name = 'text'
  value.tensor.CopyFrom(tf.make_tensor_proto(markdown(plan)))
  # FileWriter refuses eager mode; a graph of its own keeps it out of the
  # caller's graph (which may be finalized) and works in both modes. Event
  # file names hold the time in seconds only: a unique part keeps a second
  # plan written within the same second from truncating the first.
  with tf.Graph().as_default():
    writer = tf.compat.v1.summary.FileWriter(
        model_dir,
        filename_suffix='.%s%s' % (uuid.uuid4().hex[:8], EVENTS_SUFFIX))
    try:
      writer.add_summary(summary, global_step=step)
    finally:
      writer.close()


def write_plan(plan: _plan.Plan, model_dir: PathLike, *, step: int = 0) -> str:
  """Writes `plan` to `model_dir` as JSON and as a TensorBoard text summary.

  Call it from the chief only (`RunConfig.is_chief`): `wrap_model_fn` and
  `WarmStartHook` do.

  Example:

    ```python
    plan = warmstart.warm_start('/models/base', 'dnn/.*')
    warmstart.write_plan(plan, '/models/new')
    ```

  Args:
    plan: The applied plan.
    model_dir: The run's model directory (created if missing).
    step: The global step of the text summary.

  Returns:
    The path of the JSON file.
  """
  if not isinstance(plan, _plan.Plan):
    raise _errors.SettingsError(
        'write_plan takes a warmstart.Plan (from make_plan, init_from_checkpoint '
        'or apply_settings), got %r of type %s.' % (plan, type(plan).__name__))
  model_dir = _directory(model_dir, 'write_plan')
  tf.io.gfile.makedirs(model_dir)
  path = plan_path(model_dir)
  text = plan.to_json() + '\n'
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path, 'r') as f:
      old = f.read()
    try:
      same = json.loads(old) == json.loads(text)
    except ValueError:  # A damaged file: keep it in the history too.
      same = False
    if same:
      logging.debug('Warm-start plan unchanged in %s.', path)
      return path
    kept = _keep_history(model_dir, path)
    logging.info('Replacing the warm-start plan %s; the previous one is kept '
                 'as %s.', path, kept)
  _atomic_write(path, text)
  _write_summary(plan, model_dir, step)
  logging.debug('Wrote the warm-start plan to %s.', path)
  return path
