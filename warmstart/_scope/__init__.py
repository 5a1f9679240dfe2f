"""The creation-time scope: restored variables never build their initializers.

Integration, at variable creation: `warm_start_scope` gives each variable the
warm start will restore whole a stand-in initial value, then plans, resolves
the stand-ins and applies the plan.

* `_warm_start_scope`: `warm_start_scope`, `WarmStartScope`, and
  `plan_and_apply` (plan -> stand-ins -> apply), which every entry point
  and integration uses.
* `_stand_ins`: the variable creator and the stand-ins' resolution.
* `_prediction`: whether the warm start will restore a variable, asked as it
  is created (the sources' compiled rules answer).
* `_tf_rebuild`: the TF internals of building an initializer later, exactly
  as TF would have built it, each named and pinned.
"""

from warmstart._scope._stand_ins import StandIns
from warmstart._scope._warm_start_scope import plan_and_apply

__all__ = [
    'StandIns',
    'plan_and_apply',
]
