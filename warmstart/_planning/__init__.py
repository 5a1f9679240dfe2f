"""Planning: sources x rules x the graph's variables -> one validated `Plan`.

Stage 2: which tensor fills which variable, and whether it fits. Every check
runs here, before any op is built; every problem is reported at once.

* `_checks`: one (tensor, variable) pair -> an entry (shape, dtype, resize,
  cast); missing tensors grouped; conflicts; the finished plan.
* `_selection`: `WarmStartSettings` selection (regexes, lists, renames).
* `_slots`: optimizer slots and auxiliary variables, found structurally.
* `_moving_averages`: reading `<v>/ExponentialMovingAverage` in place of `v`.
"""

from warmstart._planning._checks import check_conflicts
from warmstart._planning._checks import check_pairs
from warmstart._planning._checks import finished_plan
from warmstart._planning._checks import plan_map_sources
from warmstart._planning._checks import resolve_pairs
from warmstart._planning._checks import skipped_entry
from warmstart._planning._checks import sources_of
from warmstart._planning._selection import map_pairs
from warmstart._planning._selection import Selector
from warmstart._planning._slots import auxiliary_variables
from warmstart._planning._slots import tensor_kind

__all__ = [
    'Selector',
    'auxiliary_variables',
    'check_conflicts',
    'check_pairs',
    'finished_plan',
    'map_pairs',
    'plan_map_sources',
    'resolve_pairs',
    'skipped_entry',
    'sources_of',
    'tensor_kind',
]
