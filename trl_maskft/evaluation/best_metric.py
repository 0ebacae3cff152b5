"""`metric_for_best_model` checked before training: it must name a metric the run's evaluations log (the Trainer's
`eval_loss` and speed, its trainer's own `eval_*` metrics, and those of its scheduled evaluations: `eval_qa_*`,
`eval_bench_*`), else the Trainer fails with a `KeyError` only after the first evaluation, its training lost."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from transformers import Trainer

from .scheduled import ScheduledEvalCallback

# What `Trainer.evaluate` logs for every trainer, as `eval_<name>`
TRAINER_METRICS = ("loss", "runtime", "samples_per_second", "steps_per_second")


def logged_metrics(trainer: Trainer) -> list[str] | None:
    """The `eval_*` metrics the evaluations of `trainer` log, None where some are not known before they are logged
    (a `compute_metrics`, a scheduled evaluation whose `metric_names` is None)."""
    if trainer.compute_metrics is not None:
        return None
    names = {*TRAINER_METRICS, *getattr(trainer, "eval_metric_names", ())}
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, ScheduledEvalCallback):
            known = callback.metric_names()
            if known is None:
                return None
            names |= known
    return sorted(f"eval_{name}" for name in names)


def check_best_metric(metric: str, logged: Iterable[str]) -> None:
    """`metric` (`metric_for_best_model`; the Trainer adds the `eval_` prefix) is one of the `logged` metrics, else a
    `ValueError` naming the closest one and all of them."""
    logged = list(logged)
    name = metric if metric.startswith("eval_") else f"eval_{metric}"
    if name in logged:
        return
    close = difflib.get_close_matches(name, logged, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else "."
    raise ValueError(
        f"`metric_for_best_model: {metric}` names no metric this run logs{hint} The run's evaluations log: "
        f"{', '.join(logged)}."
    )


def check_trainer_best_metric(trainer: Trainer) -> None:
    """`check_best_metric` for the `metric_for_best_model` of a `trainer` that evaluates, where its metrics are known
    (`logged_metrics`)."""
    metric = trainer.args.metric_for_best_model
    if metric is None or trainer.args.eval_strategy == "no":
        return
    logged = logged_metrics(trainer)
    if logged is not None:
        check_best_metric(metric, logged)
