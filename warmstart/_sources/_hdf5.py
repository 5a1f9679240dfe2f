"""Reads an HDF5 weights file (Keras 2, Keras 3, or plain datasets) with h5py.

h5py is an optional dependency (`pip install 'warmstart[h5]'`), imported
when a reader is built. Each dataset is read only by `read`. How a tensor is
named depends on the file's layout, recognized in this order:

* **Keras 2** (`model.save_weights('x.h5')`; `model.save('x.h5')` keeps the
  same under its `model_weights` group): the `layer_names` attribute lists
  the layer groups, and each group's `weight_names` attribute its weights,
  stored at `<layer>/<weight name>`. A tensor is named by its recorded
  weight name without the `:0` suffix: `dense/kernel:0` -> `dense/kernel`,
  the variable's name in a TF graph; a nested model's group resolves the
  same way. The weights of a subclassed model itself
  (`top_level_model_weights`) are named the same way. The optimizer state
  `model.save` keeps (the `optimizer_weights` group) is named
  `optimizer_weights/` + its recorded name (`optimizer_weights/iteration`,
  `optimizer_weights/Adam/m/dense/kernel`). Datasets no `weight_names`
  lists are left out, as Keras leaves them.
* **Keras 3** (`x.weights.h5`): every dataset is `<path>/vars/<index>`
  (`layers/dense/vars/0`, `optimizer/vars/3`, the model's own `vars/0`) and
  no variable name is recorded. A tensor is named by its path without a
  leading `layers/`: `dense/vars/0` (the layer's group: Keras names it after
  the layer's class, `dense`, `dense_1`, ...; its `vars` group's `name`
  attribute has the layer's own name), `functional/layers/dense/vars/1`
  for a nested model's layer, `optimizer/vars/3` for the optimizer.
* **Any other HDF5 file**: each dataset is named by its path from the root
  (`group/sub/dataset`).

Refused, naming the file and the dataset: no dataset at all; two datasets
whose names resolve alike; a Keras 2 weight name with no dataset; an
external link or a dataset whose data lives in other files (external or
virtual storage); a dataset without a shape (an empty dataspace) or of a
dtype TF has not (strings, compound, references, variable-length).
"""

from __future__ import annotations

import re
from typing import Any, Optional

import numpy as np

from warmstart import _errors
from warmstart._sources import _tensor_file

_WHAT = 'an HDF5 weights file'
_MODEL_WEIGHTS = 'model_weights'
_OPTIMIZER_WEIGHTS = 'optimizer_weights'
_TOP_LEVEL = 'top_level_model_weights'
_KERAS3_VARIABLE = re.compile(r'(?:^|/)vars/\d+$')
_KERAS3_LAYERS = 'layers/'
_SUFFIX = ':0'


def _h5py() -> Any:
  """The h5py module; a `SourceFormatError` saying how to install it."""
  try:
    import h5py  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise _errors.SourceFormatError(
        'Reading an HDF5 weights file needs h5py, which is not installed '
        '(%s): pip install \'warmstart[h5]\'.' % e) from None
  return h5py


def _strings(obj: Any, name: str) -> Optional[list[str]]:
  """Keras 2's string-list attribute `name` of `obj`, or None if absent.

  Keras splits a long one into `name0`, `name1`, ... (its HDF5 object
  header limit), and writes an empty one as an empty float array.
  """
  if name in obj.attrs:
    parts = [obj.attrs[name]]
  else:
    parts = []
    while '%s%d' % (name, len(parts)) in obj.attrs:
      parts.append(obj.attrs['%s%d' % (name, len(parts))])
    if not parts:
      return None
  values = []
  for part in parts:
    for value in np.asarray(part).ravel().tolist():
      if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
      if not isinstance(value, str):
        raise ValueError('attribute %r of %r holds %r, not strings' %
                         (name, obj.name, value))
      values.append(value)
  return values


def _unsupported(h5py: Any, dtype: np.dtype) -> str:
  """A phrase for a dataset dtype TF has not, for messages."""
  if h5py.check_string_dtype(dtype) is not None or dtype.kind in 'SU':
    return 'strings'
  if h5py.check_vlen_dtype(dtype) is not None:
    return 'variable-length sequences'
  if h5py.check_ref_dtype(dtype) is not None:
    return 'object references'
  if dtype.names is not None:
    return 'a compound dtype (%s)' % dtype
  return 'dtype %s' % dtype


class Hdf5Reader(_tensor_file.Reader):
  """An HDF5 weights file; tensor names follow its layout (module docstring).

  Attributes:
    layout: 'keras2', 'keras3' or 'generic': how names were resolved.
  """

  format = 'hdf5'

  def __init__(self, path: str) -> None:
    """Opens `path` with h5py and resolves every dataset's name.

    Args:
      path: A local file.

    Raises:
      SourceFormatError: h5py is not installed, the file is no readable
        HDF5 file or holds no weights, or a dataset is refused (see the
        module docstring).
    """
    super().__init__(path)
    self._h5py = _h5py()
    try:
      self._file = self._h5py.File(self.path, 'r')
    except (FileNotFoundError, PermissionError, IsADirectoryError):
      raise
    except (OSError, ValueError) as e:
      raise self._error('it is not a readable HDF5 file (%s).' % e) from None
    self._paths: dict[str, str] = {}
    try:
      self.layout = self._resolve()
    except (ValueError, OSError, KeyError, RuntimeError) as e:
      # Ours, or h5py's on a damaged file (its header read, not its data).
      self._file.close()
      if isinstance(e, _errors.Error):
        raise
      raise self._error('%s.' % e) from None
    except BaseException:
      self._file.close()
      raise

  def _error(self, fault: str) -> Exception:
    return _tensor_file.format_error(self.path, _WHAT, fault)

  def _resolve(self) -> str:
    """Names every dataset; returns the layout."""
    model = self._keras2_root()
    if model is not None:
      self._keras2(model)
      layout = 'keras2'
    else:
      datasets = []

      def visit(path: str, obj: Any) -> None:
        if isinstance(obj, self._h5py.Dataset):
          datasets.append(path)

      self._file.visititems(visit)
      keras3 = bool(datasets) and all(
          _KERAS3_VARIABLE.search(p) for p in datasets)
      for path in datasets:
        name = path
        if keras3 and name.startswith(_KERAS3_LAYERS):
          name = name[len(_KERAS3_LAYERS):]
        self._add(name, self._file[path])
      layout = 'keras3' if keras3 else 'generic'
    if not self._paths:
      raise self._error('it holds no weights (no dataset%s).' % (
          ' any layer\'s weight_names lists' if layout == 'keras2' else ''))
    return layout

  def _keras2_root(self) -> Optional[Any]:
    """The group with Keras 2's `layer_names` (the root or model_weights)."""
    if _strings(self._file, 'layer_names') is not None:
      return self._file
    group = self._file.get(_MODEL_WEIGHTS)
    if (isinstance(group, self._h5py.Group) and
        _strings(group, 'layer_names') is not None):
      return group
    return None

  def _keras2(self, model: Any) -> None:
    layers = _strings(model, 'layer_names') or []
    if _TOP_LEVEL in model and _TOP_LEVEL not in layers:
      layers.append(_TOP_LEVEL)
    for layer in layers:
      group = self._walk(model, layer)
      if not isinstance(group, self._h5py.Group):
        raise self._error('its layer_names lists %r, which is no group of '
                          '%r.' % (layer, model.name))
      self._keras2_weights(group, '')
    optimizer = self._file.get(_OPTIMIZER_WEIGHTS)
    if isinstance(optimizer, self._h5py.Group):
      self._keras2_weights(optimizer, _OPTIMIZER_WEIGHTS + '/')

  def _keras2_weights(self, group: Any, prefix: str) -> None:
    for weight in _strings(group, 'weight_names') or []:
      dataset = self._walk(group, weight)
      if not isinstance(dataset, self._h5py.Dataset):
        raise self._error(
            'group %r lists weight %r, but %s/%s is no dataset.' %
            (group.name, weight, group.name, weight))
      name = weight[:-len(_SUFFIX)] if weight.endswith(_SUFFIX) else weight
      self._add(prefix + name, dataset)

  def _walk(self, group: Any, path: str) -> Optional[Any]:
    """The object at `path` under `group`, refusing external links."""
    node = group
    for part in path.split('/'):
      if not part:
        continue
      if not isinstance(node, self._h5py.Group):
        return None
      link = node.get(part, getlink=True)
      if link is None:
        return None
      if isinstance(link, self._h5py.ExternalLink):
        raise self._error('%s/%s is an external link (to %r in %r): warmstart '
                          'reads no other file.' % (node.name.rstrip('/'), part,
                                                   link.path, link.filename))
      node = node.get(part)
      if node is None:  # A dangling soft link.
        return None
    return node

  def _add(self, name: str, dataset: Any) -> None:
    """Checks `dataset` and lists it as tensor `name`."""
    path = dataset.name
    if name in self._paths:
      raise self._error('datasets %r and %r both resolve to tensor name %r.' %
                        (self._paths[name], path, name))
    if dataset.is_virtual or dataset.external:
      raise self._error('dataset %r keeps its data in other files (%s '
                        'storage): warmstart reads no other file.' %
                        (path, 'virtual' if dataset.is_virtual else 'external'))
    if dataset.shape is None:
      raise self._error('dataset %r has no shape (an empty dataspace).' % path)
    dtype = _tensor_file.tf_dtype(dataset.dtype)
    if dtype is None:
      raise self._error('dataset %r holds %s, which TF cannot hold as a '
                        'weight (warmstart reads %s).' %
                        (path, _unsupported(self._h5py, dataset.dtype),
                         _tensor_file.SUPPORTED_DTYPES))
    self._paths[name] = path
    self._infos[name] = _tensor_file.info(name, dataset.shape, dtype)

  def _read(self, name: str) -> np.ndarray:
    path = self._paths[name]
    try:
      return np.asarray(self._file[path][()])
    except (OSError, ValueError, KeyError) as e:
      raise self._error('dataset %r cannot be read (%s).' % (path, e)) from None

  def _close(self) -> None:
    self._file.close()

