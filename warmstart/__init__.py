"""warmstart: validated, batched warm starts for TF Estimator training.

Public API (everything else is private and may change):

* `init_from_checkpoint`: drop-in for `tf.compat.v1.train.init_from_checkpoint`.
* `make_plan`, `apply_plan`, `Plan`, `Entry`: the dry run and its result.
* `Options`: strictness and read chunking.
* `CustomVariable`, `register_custom_variable`: warm-start your own variable
  types.
* `Error` and its subclasses.
"""

from warmstart._errors import CheckpointNotFoundError
from warmstart._errors import ConflictError
from warmstart._errors import Error
from warmstart._errors import MismatchError
from warmstart._errors import SettingsError
from warmstart._errors import TensorNotFoundError
from warmstart._errors import UnmatchedRuleError
from warmstart._errors import VariableNotFoundError
from warmstart._init_from_checkpoint import init_from_checkpoint
from warmstart._init_from_checkpoint import make_plan
from warmstart._options import Options
from warmstart._plan import Entry
from warmstart._plan import Plan
from warmstart._restore import apply_plan
from warmstart._variables import CustomVariable
from warmstart._variables import register_custom_variable

__version__ = '0.1.0'

__all__ = [
    'CheckpointNotFoundError',
    'ConflictError',
    'CustomVariable',
    'Entry',
    'Error',
    'MismatchError',
    'Options',
    'Plan',
    'SettingsError',
    'TensorNotFoundError',
    'UnmatchedRuleError',
    'VariableNotFoundError',
    'apply_plan',
    'init_from_checkpoint',
    'make_plan',
    'register_custom_variable',
]
