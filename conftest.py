"""pytest set-up for the whole repository (Bazel does not use this file).

Test files are absltest/tf.test modules that also run under Bazel, where
`absltest.main()` parses flags. pytest never calls it, so mark absl flags as
parsed here: otherwise `create_tempdir()` and `flagsaver` raise
`UnparsedFlagAccessError`.
"""

import os

# Before TensorFlow is first imported: cut its C++ log noise (see Makefile).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402  (after the environment is set)

flags.FLAGS.mark_as_parsed()
