"""Sources: a path -> a pinned checkpoint whose names, shapes and dtypes are known.

Stage 1 of the pipeline (source -> names -> selection -> plan -> restore ops ->
integration). Reads only the index (never tensor data): a directory's latest
checkpoint is pinned, a SavedModel's variables found, a TF2 checkpoint's
object graph resolved into variable names.

* `_index`: the tensor bundle's index and data-file layout, parsed in Python.
* `_checkpoint`: `load(path)` -> `Checkpoint` (prefix, shapes, dtypes), cached
  per file identity; a path TF's readers cannot open (`GLOB_CHARS`) refused.
* `_object_graph`: TF2 object-based checkpoints: variable names <-> keys.
"""

from warmstart._sources._checkpoint import Checkpoint
from warmstart._sources._checkpoint import full_extent_spec
from warmstart._sources._checkpoint import GLOB_CHARS
from warmstart._sources._checkpoint import load
from warmstart._sources._checkpoint import PathLike
from warmstart._sources._checkpoint import resolve_prefix
from warmstart._sources._checkpoint import tensor_bytes
from warmstart._sources._index import data_file
from warmstart._sources._index import FormatError
from warmstart._sources._index import layout
from warmstart._sources._index import read_index
from warmstart._sources._object_graph import hint
from warmstart._sources._object_graph import names_of
from warmstart._sources._object_graph import OBJECT_GRAPH_KEY
from warmstart._sources._object_graph import resolve
from warmstart._sources._object_graph import suggestions

__all__ = [
    'Checkpoint',
    'FormatError',
    'GLOB_CHARS',
    'OBJECT_GRAPH_KEY',
    'PathLike',
    'data_file',
    'full_extent_spec',
    'hint',
    'layout',
    'load',
    'names_of',
    'read_index',
    'resolve',
    'resolve_prefix',
    'suggestions',
    'tensor_bytes',
]
