"""Sources: a path -> a pinned checkpoint whose names, shapes and dtypes are known.

Stage 1 of the pipeline (source -> names -> selection -> plan -> restore ops ->
integration). Reads only the index (never tensor data; a foreign weights file is
converted once into a checkpoint of its own): a directory's latest
checkpoint is pinned, a SavedModel's variables found, a TF2 checkpoint's
object graph resolved into variable names.

* `_index`: the tensor bundle's index and data-file layout, parsed in Python.
* `_checkpoint`: `load(path)` -> `Checkpoint` (prefix, shapes, dtypes), cached
  per file identity; a path TF's readers cannot open (`GLOB_CHARS`) refused.
* `_object_graph`: TF2 object-based checkpoints: variable names <-> keys.
* `_foreign`: a foreign weights file's format by content (`sniff`: a
  PyTorch pickle refused, never unpickled) and its reader (`open_reader`).
* `_tensor_file`: what every such reader offers (`TensorInfo`, `Reader`).
* `_safetensors`: reads a `.safetensors` file (header checked, one tensor
  at a time).
* `_npz`: reads a `.npz` archive (`numpy.savez`), one member at a time.
* `_hdf5`: reads a Keras 2 / Keras 3 / plain HDF5 weights file (h5py).
* `_stage`: a foreign weights file (safetensors, npz, Keras HDF5) staged
  once as a checkpoint in a cache (crash-safe, one converter per file).
* `_writer`: writes checkpoints of our own (SaveV2 shards, joined).
"""

from warmstart._sources._checkpoint import Checkpoint
from warmstart._sources._checkpoint import data_pieces
from warmstart._sources._checkpoint import foreign_format
from warmstart._sources._checkpoint import full_extent_spec
from warmstart._sources._checkpoint import GLOB_CHARS
from warmstart._sources._checkpoint import load
from warmstart._sources._checkpoint import local_path
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
from warmstart._sources._writer import join_shards
from warmstart._sources._writer import save_batch

__all__ = [
    'Checkpoint',
    'FormatError',
    'GLOB_CHARS',
    'OBJECT_GRAPH_KEY',
    'PathLike',
    'data_file',
    'data_pieces',
    'foreign_format',
    'join_shards',
    'full_extent_spec',
    'hint',
    'layout',
    'load',
    'local_path',
    'names_of',
    'read_index',
    'resolve',
    'resolve_prefix',
    'save_batch',
    'suggestions',
    'tensor_bytes',
]
