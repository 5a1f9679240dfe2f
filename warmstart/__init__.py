"""warmstart: validated, batched warm starts for TF Estimator training.

Public API (everything else is private and may change):

* `init_from_checkpoint`: drop-in for `tf.compat.v1.train.init_from_checkpoint`.
* `make_plan`, `apply_plan`, `Plan`, `Entry`: the dry run and its result.
* `Options`: every option of every entry point (strictness, what is
  selected beyond the rules, read chunking), declared once.
* `WarmStartSettings`, `VocabInfo`, `warm_start`, `make_settings_plan`:
  `tf.estimator.WarmStartSettings` / `tf.compat.v1.train.warm_start`, checked.
* `wrap_model_fn`, `wrap_estimator`, `WarmStartHook`: Estimator (custom and
  canned) and MonitoredTrainingSession.
* `warm_start_scope`, `WarmStartScope`: warm-starts what a block of graph code
  creates; restored variables never build their initializers.
* `write_plan`, `read_plan`: the plan kept next to a run.
* `merge_checkpoints`: several checkpoints into a new one.
* `CustomVariable`, `register_custom_variable`: warm-start your own variable
  types; their restores join `SCAFFOLD_INIT_COLLECTION` (TF's
  'saved_model_initializers', which a Scaffold's init op runs; also under
  its earlier name `CUSTOM_RESTORES`).
* `Transform` and its ops `transpose`, `reshape`, `take`, `split`,
  `concat`: per-tensor transforms as assignment-map values.
* `flags`: absl flags (`define_flags`, `settings_from_flags`).
* `Error` and its subclasses.
"""


def _quiet_tensorflow_in_the_command_line() -> None:
  """`python -m warmstart` and the `warmstart` script own their process:
  TF's C++ logging stays off unless TF_CPP_MIN_LOG_LEVEL is set. Here, not in
  __main__.py: Python imports this package (and TF) before running
  __main__.py, and TF reads the level once, during `import tensorflow`."""
  import os  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  argv = getattr(sys, 'orig_argv', None)  # Python >= 3.10.
  if argv is not None:
    by_module = any(a == '-m' and b == 'warmstart'
                    for a, b in zip(argv, argv[1:]))
  else:  # Python 3.9: argv[0] is '-m' while `python -m` imports packages.
    by_module = sys.argv[:1] == ['-m']
  script = os.path.basename(sys.argv[0]) if sys.argv else ''
  if (by_module or script == 'warmstart') and (
      'TF_CPP_MIN_LOG_LEVEL' not in os.environ):
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
    # TF >= 2.17 logs its oneDNN notice before its log level applies (with
    # absl's "before InitializeLog" warning); the command line computes
    # nothing for which oneDNN's kernels matter.
    os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')


_quiet_tensorflow_in_the_command_line()
del _quiet_tensorflow_in_the_command_line

from warmstart import flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from warmstart._errors import CheckpointNotFoundError
from warmstart._errors import ConflictError
from warmstart._errors import Error
from warmstart._errors import MismatchError
from warmstart._errors import OutOfSpaceError
from warmstart._errors import SettingsError
from warmstart._errors import SourceFormatError
from warmstart._errors import TensorNotFoundError
from warmstart._errors import UnmatchedRuleError
from warmstart._errors import VariableNotFoundError
from warmstart._init_from_checkpoint import init_from_checkpoint
from warmstart._init_from_checkpoint import make_plan
from warmstart._merge._merge_checkpoints import merge_checkpoints
from warmstart._options import Options
from warmstart._plan import Entry
from warmstart._plan import Plan
from warmstart._report import read_plan
from warmstart._report import write_plan
from warmstart._restore._apply import apply_plan
from warmstart._scope._warm_start_scope import warm_start_scope
from warmstart._scope._warm_start_scope import WarmStartScope
from warmstart._session._estimator import wrap_model_fn
from warmstart._session._hook import WarmStartHook
from warmstart._session._wrap_estimator import wrap_estimator
from warmstart._settings import WarmStartSettings
from warmstart._tf_compat import SCAFFOLD_INIT_COLLECTION
from warmstart._transform import concat
from warmstart._transform import reshape
from warmstart._transform import split
from warmstart._transform import take
from warmstart._transform import Transform
from warmstart._transform import transpose
from warmstart._variables import CUSTOM_RESTORES
from warmstart._variables import CustomVariable
from warmstart._variables import register_custom_variable
from warmstart._vocab_info import VocabInfo
from warmstart._warm_start import apply_settings
from warmstart._warm_start import make_settings_plan
from warmstart._warm_start import warm_start

__version__ = '0.1.0'

__all__ = [
    'CUSTOM_RESTORES',
    'CheckpointNotFoundError',
    'ConflictError',
    'CustomVariable',
    'Entry',
    'Error',
    'MismatchError',
    'Options',
    'OutOfSpaceError',
    'Plan',
    'SCAFFOLD_INIT_COLLECTION',
    'SettingsError',
    'SourceFormatError',
    'TensorNotFoundError',
    'Transform',
    'UnmatchedRuleError',
    'VariableNotFoundError',
    'VocabInfo',
    'WarmStartHook',
    'WarmStartScope',
    'WarmStartSettings',
    'apply_plan',
    'apply_settings',
    'concat',
    'flags',
    'init_from_checkpoint',
    'make_plan',
    'make_settings_plan',
    'merge_checkpoints',
    'read_plan',
    'register_custom_variable',
    'reshape',
    'split',
    'take',
    'transpose',
    'warm_start',
    'warm_start_scope',
    'wrap_estimator',
    'wrap_model_fn',
    'write_plan',
]
