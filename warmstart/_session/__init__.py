"""Sessions: when and where the restore runs (Scaffold, hooks, Estimator).

Integration, at session creation: the restores join a Scaffold's init op
(only on a fresh start: a model_dir with a checkpoint resumes from it).

* `_scaffold`: the fresh-start check and the Scaffold plumbing.
* `_plan_hook`: checks after session creation, writes the plan to model_dir.
* `_hook`: `WarmStartHook` for MonitoredTrainingSession.
* `_estimator`: `wrap_model_fn`.
* `_start_step`: the step a run starts at, checked against `max_steps`.
* `_wrap_estimator`: `wrap_estimator` for canned Estimators.
"""
