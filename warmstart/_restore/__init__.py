"""Restore: a validated `Plan` -> restore initializers in the graph.

Stage 3: batched `RestoreV2` reads (chunked by `max_chunk_bytes`), sliced,
resized, cast or remapped, assigned into every variable kind; built once for
all replicas of a `tf.distribute` strategy. A tensor (stored whole or in
row slices) that several parts or a vocabulary remap need is streamed: each
byte read once.

* `_apply`: `apply_plan`, the batched reads and their chunking.
* `_assign`: assigning a value into a plain, partitioned, distributed or
  custom variable, as its new initializer.
* `_stream`: reads a tensor (stored whole or in row slices) once, in row
  chunks, for every part or remapped row that needs them.
* `_checksums`: the CRC32C of streamed chunks, joined in order and checked
  against the index's, as `RestoreV2` checks a tensor it reads whole.
* `_vocab_remap`: builds vocabulary remaps (streamed, or with TF's
  `load_and_remap_matrix` kernels), bit-identical to TF's.
* `_transform`: builds the restores of `warmstart.Transform` entries, each
  tensor read once.
"""

from warmstart._restore._apply import applied_entries
from warmstart._restore._apply import apply_plan
from warmstart._restore._apply import no_gc
from warmstart._restore._apply import once_for_all_replicas
from warmstart._restore._apply import register_action
from warmstart._restore._apply import ReusableInitializers
from warmstart._restore._assign import is_plain_resource

__all__ = [
    'ReusableInitializers',
    'applied_entries',
    'apply_plan',
    'is_plain_resource',
    'no_gc',
    'once_for_all_replicas',
    'register_action',
]
