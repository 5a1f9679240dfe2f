"""`warmstart.init_from_checkpoint`: TF's function, validated and batched."""

from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf

from warmstart import _assignment_map
from warmstart import _options
from warmstart import _plan
from warmstart import _planning
from warmstart import _restore
from warmstart import _scope


def make_plan(ckpt_dir_or_file: Any,
              assignment_map: Optional[_assignment_map.AssignmentMap] = None,
              *,
              options: Optional[_options.Options] = None,
              graph: Optional[tf.Graph] = None,
              **kwargs: Any) -> _plan.Plan:
  """Builds and validates a restore plan without building any op (dry run).

  Args:
    ckpt_dir_or_file: A checkpoint prefix, checkpoint directory or SavedModel
      directory; or a list of (source, assignment_map) pairs.
    assignment_map: As for `init_from_checkpoint` (None with a list).
    options: A `warmstart.Options`; keyword options override its fields.
    graph: The graph whose variables are planned (default graph when None).
    **kwargs: Fields of `warmstart.Options`.

  Returns:
    The validated `warmstart.Plan`.

  Raises:
    warmstart.Error: a subclass naming every problem found.
  """
  graph = _planning.graph_or_default(graph)
  return _planning.plan(
      _planning.map_sources(ckpt_dir_or_file, assignment_map,
                            _options.make(options, **kwargs)),
      graph, earlier=_restore.applied_entries(graph))


def init_from_checkpoint(ckpt_dir_or_file: Any,
                         assignment_map: Optional[
                             _assignment_map.AssignmentMap] = None,
                         *,
                         options: Optional[_options.Options] = None,
                         **kwargs: Any) -> _plan.Plan:
  """Initializes variables from a checkpoint: TF's function, done right.

  Same call as `tf.compat.v1.train.init_from_checkpoint`, and the same
  assignment-map forms. Values are not loaded now but when the variables'
  initializers run (at session creation under a Scaffold). Unlike TF's, it
  validates the whole map first (missing tensors, shapes, dtypes, scopes that
  match nothing, variables claimed twice) and raises once with every problem;
  it sees variables made by `tf.Variable` and Keras as well as
  `get_variable`; and it reads each checkpoint with a few batched restore
  ops instead of one per variable.

  Example:

    ```python
    plan = warmstart.init_from_checkpoint(
        '/models/base', {'encoder/': 'student/encoder/'})
    print(plan)  # What is restored from where.
    ```

  Args:
    ckpt_dir_or_file: A checkpoint prefix, a directory (its latest checkpoint,
      pinned now), a SavedModel directory, or a list of (source,
      assignment_map) pairs to read several checkpoints.
    assignment_map: Dict or list of pairs from checkpoint names/scopes to
      variables, variable names or scopes, or `warmstart.Transform`s (see
      docs/guides/init_from_checkpoint.md).
    options: A `warmstart.Options`; keyword options override its fields.
    **kwargs: Fields of `warmstart.Options`, e.g. `skip_missing=True` (see
      its docs: every option of every entry point).

  Returns:
    The applied `warmstart.Plan`.

  Raises:
    warmstart.Error: a subclass naming every problem found (each is also a
      `ValueError`, like TF's errors).
  """
  return _scope.plan_and_apply(
      _planning.map_sources(ckpt_dir_or_file, assignment_map,
                            _options.make(options, **kwargs)))
