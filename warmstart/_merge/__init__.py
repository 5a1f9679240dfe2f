"""Merge: several checkpoints (renamed, filtered) into a new one, crash-safe.

An offline tool beside the pipeline: it reads sources through `_sources` and
writes a new name-based checkpoint, never touching a source.

* `_merge_checkpoints`: `merge_checkpoints`, `plan_merge`, `OutOfSpaceError`.
* `_rules`: the renames and exclude patterns of each source.
* `_layout`: how the output's tensors are laid out in data files (shards).
* `_result`: what a merge writes (or would write), and how it is shown.
* `_write`: writes the output into its staging folder, shard by shard.
* `_files`: the files of a checkpoint prefix, found by name.
* `_output`: the checks on the output prefix (never an input).
* `_staging`: the staging folder of a merge, named after its writer.
* `_commit`: puts a staged checkpoint in place, never half of one.
* `_debris`: removes what merges that died left next to their output.
"""

from warmstart._merge._merge_checkpoints import merge_checkpoints
from warmstart._merge._merge_checkpoints import MergedTensor
from warmstart._merge._merge_checkpoints import OBJECT_GRAPH
from warmstart._merge._merge_checkpoints import OutOfSpaceError
from warmstart._merge._merge_checkpoints import plan_merge

__all__ = [
    'MergedTensor',
    'OBJECT_GRAPH',
    'OutOfSpaceError',
    'merge_checkpoints',
    'plan_merge',
]
