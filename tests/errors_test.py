"""Tests of warmstart._errors: the exception family, hints and Problems."""

from __future__ import annotations

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
