"""Tests of `_planning._vocab_files`: vocabulary files read natively.

The lines and the remapping are checked against TF's own kernel,
`GenerateVocabRemapping`, on the same files (line endings, lengths, bytes
TF reads as they are, `old_vocab_size`, random vocabularies); the checks
against hand-made files; and the remapping the planner computes is the one
the restore takes, with no second read of the files.
"""

from __future__ import annotations

import os
from unittest import mock

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

import warmstart
from tests import test_util
from warmstart._planning import _vocab_files


def _tf_remapping(new: str, old: str, new_size: int,
                  old_size: int = -1) -> tuple[np.ndarray, int]:
  """TF's `GenerateVocabRemapping` of the whole first `new_size` lines."""
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    remap, present = tf.raw_ops.GenerateVocabRemapping(
        new_vocab_file=new, old_vocab_file=old, new_vocab_offset=0,
        num_new_vocab=new_size, old_vocab_size=old_size)
    return sess.run([remap, present])


class VocabFilesTestCase(tf.test.TestCase, parameterized.TestCase):

  def write(self, name: str, data: bytes) -> str:
    path = os.path.join(self.get_temp_dir(), name)
    with open(path, 'wb') as f:
      f.write(data)
    return path

  def assert_like_tf(self, new: bytes, old: bytes, old_size: int = -1,
                     new_size: int = -1) -> np.ndarray:
    """Our remapping equals TF's, and TF reads as many lines as we count."""
    new_path, old_path = self.write('new.txt', new), self.write('old.txt', old)
    lines = len(_vocab_files.read(new_path))
    size = lines if new_size < 0 else new_size
    got = _vocab_files.remapping(new_path, size, old_path, old_size)
    expected, present = _tf_remapping(new_path, old_path, size, old_size)
    self.assertAllEqual(expected, got)
    self.assertEqual(present, int(np.sum(got >= 0)))
    with self.assertRaises(tf.errors.OpError):  # TF also counts `lines`.
      _tf_remapping(new_path, old_path, lines + 1, old_size)
    return got


class DifferentialTest(VocabFilesTestCase):

  @parameterized.named_parameters(
      ('plain', b'c\nx\na\ny\nd\n', b'a\nb\nc\nd\n'),
      ('no_last_newline', b'c\nx\na', b'a\nb\nc'),
      ('crlf', b'c\r\nx\r\na\r\n', b'a\nb\r\nc\n'),
      ('one_return_dropped', b'a\r\r\nb\r\n', b'a\r\nb\nb\r\r\n'),
      ('last_line_a_return', b'a\nb\n\r', b'b\na\n'),
      ('last_line_return_kept_inside', b'a\nb\r', b'b\na\n'),
      ('return_inside_a_token', b'a\rb\nc\n', b'c\na\rb\n'),
      ('nul_bytes', b'a\x00\na\nb\x00\x00\n\x00\n', b'a\n\x00\na\x00\nb\n'),
      ('bytes_not_utf8', b'\xff\xfe\n\xc3\xa9\n', b'\xc3\xa9\n\xff\xfe\n'),
      ('spaces_are_part_of_tokens', b'a \n a\na\n', b'a\na \n'),
  )
  def test_files(self, new, old):
    self.assert_like_tf(new, old)

  def test_empty_and_repeated_old_lines_past_those_used(self):
    self.assert_like_tf(b'a\nb\nc\n', b'b\na\n\nb\n\n', old_size=2)

  def test_old_vocab_size(self):
    new, old = b'a\nb\nc\nd\ne\n', b'e\nd\nc\nb\na\nf\n'
    for old_size in (-1, 1, 3, 5):
      got = self.assert_like_tf(new, old, old_size=old_size)
      self.assertTrue(np.all(got < (old_size if old_size > 0 else 6)))

  def test_new_size_below_the_file(self):
    got = self.assert_like_tf(b'a\nb\nc\nd\n', b'd\nc\nb\na\n', new_size=2)
    self.assertAllEqual([3, 2], got)

  def test_tokens_of_every_length(self):
    rng = np.random.default_rng(0)
    tokens = [bytes(rng.integers(97, 100, size=n)) + b'%d' % i
              for i, n in enumerate(rng.integers(1, 300, size=400))]
    old = rng.permutation(len(tokens))
    new = rng.permutation(len(tokens))[:300]
    got = self.assert_like_tf(
        b''.join(tokens[i] + b'\n' for i in new) + b'zz\n',
        b''.join(tokens[i] + b'\n' for i in old))
    self.assertEqual(300, int(np.sum(got >= 0)))

  @parameterized.parameters(range(8))
  def test_random_vocabularies(self, seed):
    """Short tokens over a small alphabet, '\\r' and NUL among its bytes:
    many tokens share lengths and prefixes."""
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b'ab\r\x00\xc3\xa9 ', np.uint8)
    tokens = sorted({bytes(rng.choice(alphabet, size=n)).rstrip(b'\r')
                     for n in rng.integers(1, 6, size=3000)} - {b''})
    tokens = [t for t in tokens if not t.endswith(b'\r')]
    # (Permuted by index: a numpy bytes array would drop trailing NULs.)
    count = len(tokens)
    old = [tokens[i] for i in rng.permutation(count)[:count * 4 // 5]]
    new = [tokens[i] for i in rng.permutation(count)[:count * 7 // 10]]
    ending = [b'\n', b'\r\n'][seed % 2]
    old_size = [-1, len(old) // 2][seed % 3 == 0]
    self.assert_like_tf(ending.join(new) + ending, ending.join(old),
                        old_size=old_size)


class ChecksTest(VocabFilesTestCase):

  def lines(self, data: bytes) -> _vocab_files.Lines:
    return _vocab_files.read(self.write('vocab.txt', data))

  def test_lines_and_tokens(self):
    lines = self.lines(b'ab\r\ncd\n\nef')
    self.assertLen(lines, 4)
    self.assertEqual([b'ab', b'cd', b'', b'ef'],
                     [lines.token(i) for i in range(4)])
    self.assertLen(self.lines(b''), 0)
    self.assertLen(self.lines(b'\n'), 1)

  def test_first_empty(self):
    self.assertIsNone(self.lines(b'a\nb\n').first_empty())
    self.assertEqual(3, self.lines(b'a\nb\n\nc\n\n').first_empty())
    self.assertEqual(1, self.lines(b'\r\na\n').first_empty())

  def test_first_repeat_is_the_earliest_repeating_line(self):
    self.assertIsNone(self.lines(b'a\nb\nab\n').first_repeat())
    # 'bb' repeats at line 5, 'a' at line 6: 'bb' is the first repeat.
    self.assertEqual((b'bb', 2, 5),
                     self.lines(b'a\nbb\nc\nd\nbb\na\nbb\n').first_repeat())
    self.assertEqual((b'x', 1, 2), self.lines(b'x\r\nx\n').first_repeat())

  def test_first_repeat_of_a_file_of_one_token(self):
    lines = self.lines(b'tok\n' * 200000)
    self.assertEqual((b'tok', 1, 2), lines.first_repeat())

  def test_first_shared_repeat(self):
    self.assertIsNone(_vocab_files.first_shared_repeat(
        np.array([3, -1, -1, 0, 2])))
    self.assertEqual((2, 5), _vocab_files.first_shared_repeat(
        np.array([-1, 4, 1, 3, 4, 1])))

  def test_a_long_line(self):
    lines = self.lines(b'a' * (1 << 22) + b'\nb\n')
    self.assertLen(lines, 2)
    self.assertEqual(1 << 22, int(lines.lengths[0]))


class SharedWithTheRestoreTest(VocabFilesTestCase):
  """The planner computes the remapping; the restore takes it."""

  def setUp(self):
    super().setUp()
    self.old = ['t%d' % i for i in range(50)]
    self.new = self.old[::-1][:40] + ['n%d' % i for i in range(10)]
    self.old_path = self.write('old.txt', '\n'.join(self.old).encode() + b'\n')
    self.new_path = self.write('new.txt', '\n'.join(self.new).encode() + b'\n')
    self.prefix, values = test_util.save_checkpoint(
        os.path.join(self.get_temp_dir(), 'ckpt'),
        lambda: tf.compat.v1.get_variable('emb', [50, 3]))
    self.values = values['emb']

  def warm_start(self):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable(
          'emb', [52, 3], partitioner=tf.compat.v1.fixed_size_partitioner(3))
      warmstart.warm_start(self.prefix, 'emb', var_name_to_vocab_info={
          'emb': warmstart.VocabInfo(self.new_path, 50, 2, self.old_path)})
      return test_util.initialize(graph)['emb']

  def expected_rows(self, got):
    for i, token in enumerate(self.new):
      if token in self.old:
        self.assertAllEqual(self.values[self.old.index(token)], got[i])
      else:
        self.assertAllEqual(np.zeros(3), got[i])

  def test_each_file_read_once(self):
    with mock.patch.object(_vocab_files, 'read',
                           wraps=_vocab_files.read) as read:
      got = self.warm_start()
    self.assertEqual(sorted([self.new_path, self.old_path]),
                     sorted(c.args[0] for c in read.call_args_list))
    self.expected_rows(got)

  def test_computed_again_when_not_kept(self):
    with mock.patch.object(_vocab_files, '_MAX_WAITING_BYTES', 0), \
        mock.patch.object(_vocab_files, 'read',
                          wraps=_vocab_files.read) as read:
      got = self.warm_start()
    self.assertLen(read.call_args_list, 4)
    self.expected_rows(got)

  def test_a_file_changed_after_planning_is_read_again(self):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.get_variable('emb', [52, 3])
      warmstart.warm_start(self.prefix, 'emb', var_name_to_vocab_info={
          'emb': warmstart.VocabInfo(self.new_path, 50, 2, self.old_path)})
      # Same length, other order: a restore reads what the file holds when
      # its session starts, as TF's kernels do.
      self.new = self.new[1:] + self.new[:1]
      with open(self.new_path, 'wb') as f:
        f.write('\n'.join(self.new).encode() + b'\n')
      stat = os.stat(self.new_path)
      os.utime(self.new_path, ns=(stat.st_atime_ns,
                                  stat.st_mtime_ns + 10**9))
      got = test_util.initialize(graph)['emb']
    self.expected_rows(got)


if __name__ == '__main__':
  tf.test.main()
