"""pytest set-up for the whole repository (Bazel does not use this file).

Test files are absltest/tf.test modules that also run under Bazel, where
`absltest.main()` parses flags. pytest never calls it, so mark absl flags as
parsed here: otherwise `create_tempdir()` and `flagsaver` raise
`UnparsedFlagAccessError`.
"""

import importlib.util
import os

# Before TensorFlow is first imported: cut its C++ log noise (see Makefile).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TF >= 2.16's tf.keras is Keras 3, whose layers make no graph-mode variables;
# where tf_keras (Keras 2) is installed (.venv-latest, `make test-latest`), make
# tf.keras and tf.compat.v1.layers use it. Without it, the Keras-layer tests
# skip (tests/test_util.py: requires_graph_keras).
if importlib.util.find_spec("tf_keras") is not None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from absl import flags  # noqa: E402  (after the environment is set)

flags.FLAGS.mark_as_parsed()


def pytest_collection_modifyitems(config, items):
  """Leaves out `tf.test.TestCase.test_session`, which is no test.

  TF's TestCase has a deprecated context manager named `test_session`;
  pytest collects it from every TensorFlow test class and skips it ("Not a
  test."), which would hide the real skips among dozens of false ones.
  """
  del config  # Unused.
  items[:] = [item for item in items
              if getattr(item, "originalname", item.name) != "test_session"]
