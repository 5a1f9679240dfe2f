"""Tests of warmstart._errors: the exception family, hints and Problems."""

from __future__ import annotations

import copy
import pickle
import traceback

from absl.testing import absltest
from absl.testing import parameterized
import tensorflow as tf

import warmstart
from warmstart import _errors

_SUBCLASSES = (
    ('checkpoint_not_found', _errors.CheckpointNotFoundError),
    ('tensor_not_found', _errors.TensorNotFoundError),
    ('variable_not_found', _errors.VariableNotFoundError),
    ('mismatch', _errors.MismatchError),
    ('unmatched_rule', _errors.UnmatchedRuleError),
    ('conflict', _errors.ConflictError),
    ('settings', _errors.SettingsError),
)


class HierarchyTest(parameterized.TestCase):

  @parameterized.named_parameters(*_SUBCLASSES)
  def test_is_warmstart_error_and_value_error(self, error_class):
    self.assertTrue(issubclass(error_class, warmstart.Error))
    self.assertTrue(issubclass(error_class, ValueError))
    with self.assertRaisesRegex(warmstart.Error, 'offending_name'):
      raise error_class('offending_name is bad')
    with self.assertRaisesRegex(ValueError, 'offending_name'):
      raise error_class('offending_name is bad')

  @parameterized.named_parameters(*_SUBCLASSES)
  def test_public_name_is_the_private_class(self, error_class):
    self.assertIs(getattr(warmstart, error_class.__name__), error_class)

  def test_subclasses_are_distinct(self):
    classes = [c for _, c in _SUBCLASSES]
    for i, a in enumerate(classes):
      for b in classes[i + 1:]:
        self.assertFalse(issubclass(a, b), '%s < %s' % (a, b))
        self.assertFalse(issubclass(b, a), '%s < %s' % (b, a))


# Each source error raised, and the TF class it is also (TF's error for the
# same fault); its error code.
_SOURCE_ERRORS = (
    ('missing', _errors.CheckpointMissingError, tf.errors.NotFoundError,
     tf.errors.NOT_FOUND),
    ('corrupt', _errors.CheckpointCorruptError, tf.errors.DataLossError,
     tf.errors.DATA_LOSS),
    ('truncated', _errors.CheckpointTruncatedError, tf.errors.OutOfRangeError,
     tf.errors.OUT_OF_RANGE),
    ('access', _errors.CheckpointAccessError, tf.errors.PermissionDeniedError,
     tf.errors.PERMISSION_DENIED),
)

_ALL_CLASSES = _SUBCLASSES + tuple(
    (name, error_class) for name, error_class, _, _ in _SOURCE_ERRORS)


class SourceErrorTest(parameterized.TestCase):
  """CheckpointNotFoundError and its subclasses: TF's OpErrors too."""

  @parameterized.named_parameters(*_SOURCE_ERRORS)
  def test_is_ours_and_tfs(self, error_class, tf_class, code):
    for base in (_errors.CheckpointNotFoundError, warmstart.Error, ValueError,
                 tf.errors.OpError, tf_class):
      self.assertTrue(issubclass(error_class, base), base)
    error = error_class('no checkpoint at /x')
    self.assertEqual(code, error.error_code)
    self.assertIsNone(error.op)
    self.assertIsNone(error.node_def)
    self.assertEqual('no checkpoint at /x', error.message)

  @parameterized.named_parameters(*_SOURCE_ERRORS)
  def test_except_tf_class_catches_it(self, error_class, tf_class, code):
    del code
    with self.assertRaisesRegex(tf_class, '^no checkpoint at /x$'):
      raise error_class('no checkpoint at /x')
    with self.assertRaisesRegex(tf.errors.OpError, '^no checkpoint at /x$'):
      raise error_class('no checkpoint at /x')
    with self.assertRaisesRegex(warmstart.CheckpointNotFoundError, '/x'):
      raise error_class('no checkpoint at /x')

  @parameterized.named_parameters(*_SOURCE_ERRORS)
  def test_is_no_other_tf_class(self, error_class, tf_class, code):
    # A damaged checkpoint must not be caught as "no checkpoint" (a cold
    # start), where TF's error would not be.
    del code
    for other in (tf.errors.NotFoundError, tf.errors.DataLossError,
                  tf.errors.OutOfRangeError, tf.errors.PermissionDeniedError,
                  tf.errors.InvalidArgumentError):
      if other is not tf_class:
        self.assertFalse(issubclass(error_class, other), other)

  def test_the_base_class_is_an_op_error_of_no_subclass(self):
    error = warmstart.CheckpointNotFoundError('cannot use this path')
    self.assertIsInstance(error, tf.errors.OpError)
    self.assertIsInstance(error, ValueError)
    self.assertEqual(tf.errors.UNKNOWN, error.error_code)
    self.assertNotIsInstance(error, tf.errors.NotFoundError)
    self.assertNotIsInstance(error, tf.errors.DataLossError)

  @parameterized.named_parameters(*_ALL_CLASSES)
  def test_one_message_str_and_repr(self, error_class):
    error = error_class("Checkpoint '/m/model.ckpt' is incomplete")
    self.assertEqual("Checkpoint '/m/model.ckpt' is incomplete", str(error))
    self.assertEqual(("Checkpoint '/m/model.ckpt' is incomplete",), error.args)
    self.assertEqual(
        '%s("Checkpoint \'/m/model.ckpt\' is incomplete")' %
        error_class.__name__, repr(error))

  @parameterized.named_parameters(*_ALL_CLASSES)
  def test_prints_its_class_and_message(self, error_class):
    try:
      raise error_class('no checkpoint at /x')
    except warmstart.Error as e:
      lines = traceback.format_exception_only(type(e), e)
      printed = ''.join(traceback.format_exception(type(e), e,
                                                   e.__traceback__))
    self.assertEqual(['warmstart._errors.%s: no checkpoint at /x\n' %
                      error_class.__name__], lines)
    self.assertNotIn('Original stack trace', printed)

  @parameterized.named_parameters(*_ALL_CLASSES)
  def test_pickle_and_copy_keep_class_message_and_problems(self, error_class):
    error = error_class('2 problems with this warm start: a, b')
    error.problems = ('a', 'b')
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error),
                  copy.deepcopy(error)):
      self.assertIs(type(error), type(clone))
      self.assertEqual(str(error), str(clone))
      self.assertEqual(error.args, clone.args)
      self.assertEqual(('a', 'b'), clone.problems)
      if isinstance(error, tf.errors.OpError):
        self.assertEqual(error.error_code, clone.error_code)
        self.assertEqual(error.message, clone.message)

  def test_problems_raise_a_source_error(self):
    problems = _errors.Problems()
    problems.add(_errors.CheckpointMissingError, "no checkpoint at '/a'")
    problems.add(_errors.CheckpointMissingError, "no checkpoint at '/b'")
    with self.assertRaisesRegex(tf.errors.NotFoundError,
                                "^2 problems(.|\n)*'/a'(.|\n)*'/b'") as cm:
      problems.raise_if_any()
    self.assertEqual(("no checkpoint at '/a'", "no checkpoint at '/b'"),
                     cm.exception.problems)

  def test_error_class_of_each_tf_error(self):
    cases = (
        (tf.errors.NotFoundError(None, None, 'x'),
         _errors.CheckpointMissingError),
        (tf.errors.DataLossError(None, None, 'x'),
         _errors.CheckpointCorruptError),
        (tf.errors.OutOfRangeError(None, None, 'x'),
         _errors.CheckpointTruncatedError),
        (tf.errors.PermissionDeniedError(None, None, 'x'),
         _errors.CheckpointAccessError),
        # What TF's checkpoint reader raises for an index it cannot parse.
        (tf.errors.OpError(None, None, 'not an sstable', tf.errors.UNKNOWN),
         _errors.CheckpointCorruptError),
        (tf.errors.UnimplementedError(None, None, 'x'),
         _errors.CheckpointNotFoundError),
    )
    for cause, expected in cases:
      self.assertIs(expected, _errors.checkpoint_error_class(cause), cause)


class DidYouMeanTest(absltest.TestCase):

  def test_close_match(self):
    hint = _errors.did_you_mean('dense/kernal',
                                ['dense/kernel', 'output/bias'])
    self.assertEqual(" Did you mean: 'dense/kernel'?", hint)

  def test_no_match_is_empty(self):
    self.assertEqual('', _errors.did_you_mean('zzz', ['dense/kernel']))
    self.assertEqual('', _errors.did_you_mean('dense/kernel', []))

  def test_at_most_n_best_first(self):
    candidates = ['layer_1', 'layer_2', 'layer_3', 'layer_4', 'other']
    hint = _errors.did_you_mean('layer_1', candidates, n=2)
    self.assertStartsWith(hint, " Did you mean: 'layer_1', ")
    self.assertEqual(2, hint.count("'layer_"))
    self.assertNotIn('other', hint)

  def test_many_similar_candidates_still_find_the_nearest(self):
    # Thousands of names alike but for a number: only the nearest by
    # trigrams are compared, and the right one is among them.
    candidates = ['layer_%d/kernel' % i for i in range(3000)]
    for i in (0, 7, 1234, 2999):
      hint = _errors.did_you_mean('layer_%d/kernle' % i, candidates)
      self.assertStartsWith(hint, " Did you mean: 'layer_%d/kernel'" % i)
    hint = _errors.did_you_mean('layr_1234/kernel', candidates)
    self.assertStartsWith(hint, " Did you mean: 'layer_1234/kernel'")

  def test_accepts_any_iterable(self):
    hint = _errors.did_you_mean('w_1', {'w_1': 1, 'w_2': 2}.keys())
    self.assertIn("'w_1'", hint)
    hint = _errors.did_you_mean('w_1', (n for n in ['w_11']))
    self.assertIn("'w_11'", hint)


class PreviewTest(absltest.TestCase):

  def test_sorted_and_quoted(self):
    self.assertEqual("'a', 'b', 'c'", _errors.preview(['c', 'a', 'b']))

  def test_empty(self):
    self.assertEqual('(none)', _errors.preview([]))

  def test_truncated_with_count(self):
    names = ['v%02d' % i for i in range(25)]
    shown = _errors.preview(reversed(names))
    for name in names[:10]:
      self.assertIn(repr(name), shown)
    for name in names[10:]:
      self.assertNotIn(repr(name), shown)
    self.assertEndsWith(shown, ', ... (15 more)')

  def test_limit(self):
    self.assertEqual("'a', ... (2 more)", _errors.preview('cba', limit=1))
    self.assertEqual("'a', 'b', 'c'", _errors.preview('cba', limit=3))


class ProblemsTest(absltest.TestCase):

  def test_empty_is_falsy_and_raises_nothing(self):
    problems = _errors.Problems()
    self.assertFalse(problems)
    problems.raise_if_any()

  def test_single_problem_raises_its_message_alone(self):
    problems = _errors.Problems()
    problems.add(_errors.MismatchError, "Variable 'dense/kernel' has shape")
    self.assertTrue(problems)
    with self.assertRaises(_errors.MismatchError) as cm:
      problems.raise_if_any()
    self.assertEqual("Variable 'dense/kernel' has shape", str(cm.exception))
    self.assertNotIn('problems', str(cm.exception))
    self.assertEqual(("Variable 'dense/kernel' has shape",),
                     cm.exception.problems)

  def test_many_problems_listed_under_the_first_class(self):
    problems = _errors.Problems()
    problems.add(_errors.TensorNotFoundError, "tensor 'a/w' is missing")
    problems.add(_errors.MismatchError, "tensor 'b/w' has shape [3]")
    problems.add(_errors.ConflictError, "variable 'c/w' is claimed twice")
    with self.assertRaisesRegex(
        _errors.TensorNotFoundError,
        r"^3 problems with this warm start:\n"
        r"  - tensor 'a/w' is missing\n"
        r"  - tensor 'b/w' has shape \[3\]\n"
        r"  - variable 'c/w' is claimed twice$") as cm:
      problems.raise_if_any()
    self.assertEqual(("tensor 'a/w' is missing", "tensor 'b/w' has shape [3]",
                      "variable 'c/w' is claimed twice"),
                     cm.exception.problems)

  def test_message_lists_at_most_max_listed(self):
    problems = _errors.Problems()
    total = _errors.MAX_LISTED + 7
    for i in range(total):
      problems.add(_errors.TensorNotFoundError, "tensor 't%03d' is missing" % i)
    self.assertLen(problems, total)
    with self.assertRaises(_errors.TensorNotFoundError) as cm:
      problems.raise_if_any()
    message = str(cm.exception)
    self.assertStartsWith(message, '%d problems with this warm start:\n' % total)
    self.assertIn("'t%03d'" % (_errors.MAX_LISTED - 1), message)
    self.assertNotIn("'t%03d'" % _errors.MAX_LISTED, message)
    self.assertEndsWith(message, "  ... and 7 more (the error's `problems` "
                        'attribute lists them all).')
    self.assertLen(cm.exception.problems, total)
    self.assertEqual("tensor 't%03d' is missing" % (total - 1),
                     cm.exception.problems[-1])

  def test_did_you_mean_stops_past_the_listed_problems(self):
    problems = _errors.Problems()
    self.assertEqual(" Did you mean: 'dense/kernel'?",
                     problems.did_you_mean('dense/kernal', ['dense/kernel']))
    for i in range(_errors.MAX_LISTED):
      problems.add(_errors.VariableNotFoundError, 'problem %d' % i)
    self.assertEqual('', problems.did_you_mean('dense/kernal',
                                               ['dense/kernel']))

  def test_what_names_the_operation(self):
    problems = _errors.Problems('merge')
    problems.add(_errors.ConflictError, "'x' from two sources")
    problems.add(_errors.ConflictError, "'y' from two sources")
    with self.assertRaisesRegex(_errors.ConflictError,
                                r'^2 problems with this merge:\n'):
      problems.raise_if_any()

  def test_first_class_decides(self):
    problems = _errors.Problems()
    problems.add(_errors.ConflictError, "'x' twice")
    problems.add(_errors.TensorNotFoundError, "'y' missing")
    with self.assertRaisesRegex(_errors.ConflictError,
                                r"2 problems(.|\n)*'x'(.|\n)*'y'"):
      try:
        problems.raise_if_any()
      except _errors.TensorNotFoundError:
        self.fail('Raised the class of the second problem.')


if __name__ == '__main__':
  tf.test.main()
