"""Tests of warmstart._plan: Entry and Plan, their table and JSON forms."""

from __future__ import annotations

import json

import tensorflow as tf

import warmstart
from warmstart import _options
from warmstart import _plan
from warmstart._planning import _planner
from tests import test_util


def _entries():
  return (
      _plan.Entry(variable='dense/kernel', shape=(2, 3), dtype='float32',
                  source='/ckpt/a', tensor='old/kernel', rule='old/: dense/'),
      _plan.Entry(variable='emb', shape=(10, 4), dtype='float32',
                  source='/ckpt/b', tensor='emb',
                  slices=('10 4 0,5:0,4', '10 4 5,5:0,4'), rule='emb: emb'),
      _plan.Entry(variable='dense/bias', shape=(3,), dtype='float32',
                  source='/ckpt/a', tensor='old/bias', action=_plan.SKIP,
                  rule='old/: dense/', reason="tensor 'old/bias' is missing"),
      _plan.Entry(variable='words', shape=(None, 8), dtype='string',
                  source='/ckpt/c', tensor='vocab_emb', action='vocab_remap',
                  rule='vocab', reason='remapped 3 of 5 rows',
                  action_params={'old_vocab': '/v/old.txt', 'num_oov': 1}),
  )



def _plan_maps(sources, options, graph=None, earlier=()):
  """Plans `init_from_checkpoint`'s (checkpoint, assignment map) sources."""
  return _planner.plan(_planner.map_sources(sources, None, options), graph,
                       earlier)

class EntryTest(tf.test.TestCase):

  def test_defaults(self):
    entry = _plan.Entry(variable='v', shape=(), dtype='int64', source='/c',
                        tensor='t')
    self.assertEqual(('',), entry.slices)
    self.assertEqual(_plan.RESTORE, entry.action)
    self.assertEqual('restore', entry.action)
    self.assertFalse(entry.skipped)
    self.assertEqual('', entry.rule)
    self.assertEqual('', entry.reason)
    self.assertEqual({}, entry.action_params)
    self.assertIsNone(entry.target)
    self.assertIs(warmstart.Entry, _plan.Entry)

  def test_skipped(self):
    self.assertEqual('skip', _plan.SKIP)
    self.assertTrue(_entries()[2].skipped)
    self.assertFalse(_entries()[3].skipped)

  def test_target_is_not_compared(self):
    a = _plan.Entry('v', (1,), 'float32', '/c', 't', target=object())
    b = _plan.Entry('v', (1,), 'float32', '/c', 't', target=object())
    self.assertEqual(a, b)
    self.assertNotIn('target', repr(a))
    self.assertNotEqual(a, _plan.Entry('v', (2,), 'float32', '/c', 't'))

  def test_dict_round_trip(self):
    for entry in _entries():
      data = entry.to_dict()
      self.assertNotIn('target', data)
      self.assertIsInstance(data['shape'], list)
      self.assertIsInstance(data['slices'], list)
      self.assertEqual(entry, _plan.Entry.from_dict(data))
      # JSON-compatible.
      self.assertEqual(data, json.loads(json.dumps(data)))

  def test_from_dict_defaults(self):
    entry = _plan.Entry.from_dict({'variable': 'v', 'shape': [2],
                                   'dtype': 'float32', 'source': '/c',
                                   'tensor': 't'})
    self.assertEqual(_plan.Entry('v', (2,), 'float32', '/c', 't'), entry)
    with self.assertRaisesRegex(KeyError, 'variable'):
      _plan.Entry.from_dict({'shape': [2]})


class PlanTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.plan = _plan.Plan(_entries(), num_variables=7)

  def test_properties(self):
    entries = _entries()
    self.assertLen(self.plan, 4)
    self.assertEqual(list(entries), list(self.plan))
    self.assertEqual((entries[0], entries[1], entries[3]), self.plan.restored)
    self.assertEqual((entries[2],), self.plan.skipped)
    self.assertEqual(3, self.plan.num_restored)
    self.assertEqual(1, self.plan.num_skipped)
    self.assertEqual(('/ckpt/a', '/ckpt/b', '/ckpt/c'), self.plan.sources)
    self.assertIs(warmstart.Plan, _plan.Plan)

  def test_sources_skip_empty_and_keep_first_use_order(self):
    plan = _plan.Plan((
        _plan.Entry('a', (), 'float32', '/z', 'a'),
        _plan.Entry('b', (), 'float32', '', 'b', action=_plan.SKIP),
        _plan.Entry('c', (), 'float32', '/y', 'c'),
        _plan.Entry('d', (), 'float32', '/z', 'd'),
    ))
    self.assertEqual(('/z', '/y'), plan.sources)

  def test_entry(self):
    self.assertEqual('old/bias', self.plan.entry('dense/bias').tensor)
    self.assertEqual('emb', self.plan.entry('emb').variable)
    with self.assertRaisesRegex(KeyError, "no entry for 'dense/kernal'"):
      self.plan.entry('dense/kernal')

  def test_summary(self):
    self.assertEqual(
        'Warm-started 3 of 7 variables from /ckpt/a, /ckpt/b, /ckpt/c '
        '(1 skipped).', self.plan.summary())
    plan = _plan.Plan(_entries()[:2], num_variables=2)
    self.assertEqual(
        'Warm-started 2 of 2 variables from /ckpt/a, /ckpt/b.', plan.summary())
    self.assertEqual('Warm-started 0 of 0 variables from (no source).',
                     _plan.Plan().summary())

  def test_table(self):
    table = self.plan.table()
    self.assertEqual(table, str(self.plan))
    lines = table.splitlines()
    self.assertRegex(lines[0],
                     r'^variable +shape +dtype +action +tensor +source +reads '
                     r'+note$')
    self.assertRegex(lines[1], r'^-+( +-+){7}$')
    self.assertEqual(self.plan.summary(), lines[-1])
    self.assertLen(lines, 2 + len(self.plan) + 1)
    for line, entry in zip(lines[2:], self.plan):
      self.assertStartsWith(line, entry.variable + ' ')
      for field in (entry.dtype, entry.action, entry.tensor, entry.source,
                    entry.reason):
        self.assertIn(field, line)
    self.assertIn('[2,3]', lines[2])
    self.assertIn('[10,4] in 2 parts', lines[3])
    self.assertNotIn('parts', lines[2])
    self.assertIn('[?,8]', lines[5])
    # Columns are aligned: every row has 'dtype' where the header has it.
    column = lines[0].index('dtype')
    for line, entry in zip(lines[2:], self.plan):
      self.assertEqual(entry.dtype, line[column:column + len(entry.dtype)])

  def test_empty_table(self):
    lines = _plan.Plan().table().splitlines()
    self.assertLen(lines, 3)
    self.assertStartsWith(lines[0], 'variable')

  def test_json_round_trip(self):
    text = self.plan.to_json()
    data = json.loads(text)
    self.assertEqual(7, data['num_variables'])
    self.assertEqual(3, data['num_restored'])
    self.assertEqual(1, data['num_skipped'])
    self.assertEqual(['/ckpt/a', '/ckpt/b', '/ckpt/c'], data['sources'])
    self.assertLen(data['entries'], 4)
    back = _plan.Plan.from_json(text)
    self.assertEqual(self.plan.entries, back.entries)
    self.assertEqual(self.plan, back)
    self.assertEqual(self.plan.table(), back.table())
    self.assertEqual(text, back.to_json())
    self.assertEqual({'old_vocab': '/v/old.txt', 'num_oov': 1},
                     back.entry('words').action_params)
    self.assertNotIn('\n', self.plan.to_json(indent=None))

  def test_merged_and_concat(self):
    entries = _entries()
    first = _plan.Plan(entries[:1], num_variables=5)
    second = _plan.Plan(entries[1:3], num_variables=9)
    third = _plan.Plan(entries[3:], num_variables=2)
    merged = first.merged(second)
    self.assertEqual(entries[:3], merged.entries)
    self.assertEqual(9, merged.num_variables)
    self.assertEqual(entries[:1], first.entries)  # Unchanged.
    everything = _plan.concat([first, second, third])
    self.assertEqual(entries, everything.entries)
    self.assertEqual(9, everything.num_variables)
    self.assertEqual(_plan.Plan(), _plan.concat([]))
    self.assertEqual(entries,
                     _plan.concat(iter([first, second, third])).entries)


class RealPlanTest(tf.test.TestCase):
  """A plan built from a real graph and checkpoint."""

  def test_table_and_json_of_a_real_plan(self):

    def build():
      tf.compat.v1.get_variable('dense/kernel', [3, 2])
      tf.compat.v1.get_variable('emb', [6, 2])

    prefix, _ = test_util.save_checkpoint(self.get_temp_dir(), build)
    with tf.Graph().as_default() as g:
      tf.compat.v1.get_variable('dense/kernel', [3, 2])
      tf.compat.v1.get_variable('dense/bias', [2])
      tf.compat.v1.get_variable(
          'emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(3))
      plan = _plan_maps(
          [(prefix, {'/': '/'})], _options.Options(skip_missing=True), g)
    self.assertEqual(['dense/kernel', 'dense/bias', 'emb'],
                     [e.variable for e in plan])
    self.assertEqual(['dense/bias'], [e.variable for e in plan.skipped])
    table = plan.table()
    for variable in ('dense/kernel', 'dense/bias', 'emb'):
      self.assertIn(variable, table)
    self.assertIn('[6,2] in 3 parts', table)
    self.assertIn(prefix, table)
    self.assertIn("tensor 'dense/bias' is not in checkpoint", table)
    self.assertEqual(
        'Warm-started 2 of 3 variables from %s (1 skipped); 1 starts cold.' %
        prefix,
        table.splitlines()[-1])
    self.assertIsNotNone(plan.entry('emb').target)
    back = _plan.Plan.from_json(plan.to_json())
    self.assertEqual(plan.entries, back.entries)
    self.assertEqual(3, back.num_variables)
    self.assertEqual(('6 2 0,2:0,2', '6 2 2,2:0,2', '6 2 4,2:0,2'),
                     back.entry('emb').slices)
    for entry in back:
      self.assertIsNone(entry.target)
    # What each restore reads: the kernel whole (24 B), the emb stored whole
    # once for its 3 parts (streamed, 48 B), nothing for the skipped bias.
    self.assertEqual([24, 0, 48], [e.read_bytes for e in plan])
    self.assertEqual([24, 0, 48], [e.read_bytes for e in back])
    self.assertEqual(72, json.loads(plan.to_json())['read_bytes'])
    self.assertIn('48 B', table.splitlines()[4])

  def test_read_bytes_of_parts_that_each_read_the_whole_tensor(self):
    prefix, _ = test_util.save_checkpoint(
        self.get_temp_dir(), lambda: tf.compat.v1.get_variable('emb', [6, 2]))
    with tf.Graph().as_default() as g:
      # Ref variables are not streamed: each part's RestoreV2 reads it all.
      tf.compat.v1.get_variable(
          'emb', [6, 2], use_resource=False,
          partitioner=tf.compat.v1.fixed_size_partitioner(3))
      plan = _plan_maps([(prefix, {'/': '/'})], _options.Options(), g)
    self.assertEqual(3 * 48, plan.entry('emb').read_bytes)

  def test_read_bytes_of_a_checkpoint_in_slices(self):
    prefix, _ = test_util.save_checkpoint(
        self.get_temp_dir(), lambda: tf.compat.v1.get_variable(
            'emb', [6, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2)))
    for use_resource, expected in ((True, 48), (False, 48)):
      with tf.Graph().as_default() as g:
        # Resource parts stream each stored slice once; ref parts' RestoreV2
        # reads the slices each overlaps (once each when the parts agree).
        tf.compat.v1.get_variable(
            'emb', [6, 2], use_resource=use_resource,
            partitioner=tf.compat.v1.fixed_size_partitioner(
                3 if use_resource else 2))
        plan = _plan_maps([(prefix, {'/': '/'})], _options.Options(), g)
      self.assertEqual(expected, plan.entry('emb').read_bytes, use_resource)


if __name__ == '__main__':
  tf.test.main()
