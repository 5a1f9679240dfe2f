"""Planning: sources x rules x the graph's variables -> one validated `Plan`.

Stage 2 of the pipeline: which tensor fills which variable, and whether it
fits. Every check runs here, before any op is built; every problem is
reported at once.

* `_rules`: the rules of one source, compiled once (`Rules`): the
  selection, the creation-time predictor and merge's renames (`Rewrite`)
  all ask them.
* `_selection`: a source's rules over every variable of the graph: the
  pairs, with every rule that selects nothing reported.
* `_planner`: the one planner loop (`plan`) over `Source`s made from
  settings (`settings_sources`) or assignment maps (`map_sources`).
* `_checks`: one (tensor, variable) pair -> an entry (shape, dtype, resize,
  cast); missing tensors grouped; conflicts; the finished plan.
* `_reads`: the bytes of checkpoint data each entry's restore reads.
* `_vocab`: vocabulary remaps planned and checked.
* `_vocab_files`: vocabulary files read natively: lines, checks, and the
  old -> new remapping by a sort-join (kept for the restore).
* `_slots`: optimizer slots and auxiliary variables, found structurally.
* `_optimizer_conventions`: optimizer slots by kind across TF1 and Keras
  naming, for `optimizer_state='matching'` across conventions.
* `_moving_averages`: reading `<v>/ExponentialMovingAverage` in place of `v`.
"""

from warmstart._planning._planner import graph_or_default
from warmstart._planning._planner import map_sources
from warmstart._planning._planner import plan
from warmstart._planning._planner import read_options
from warmstart._planning._planner import settings_sources
from warmstart._planning._planner import Source
from warmstart._planning._rules import Rewrite
from warmstart._planning._rules import Rules
from warmstart._planning._rules import Variable
from warmstart._planning._slots import auxiliary_variables
from warmstart._planning._slots import is_optimizer_variable
from warmstart._planning._slots import primary_of
from warmstart._planning._slots import tensor_kind

__all__ = [
    'Rewrite',
    'Rules',
    'Source',
    'Variable',
    'auxiliary_variables',
    'graph_or_default',
    'is_optimizer_variable',
    'map_sources',
    'plan',
    'primary_of',
    'read_options',
    'settings_sources',
    'tensor_kind',
]
