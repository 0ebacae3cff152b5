"""Which QA epochs are asked and which one is reported: the schedule's check and the best evaluated epoch.

The paper reports each run at its best checkpoint "by the mean of forward and backward accuracy" (arXiv 2510.09885
v6, App. A.4): `qa_mean_rouge1`, the mean of `qa_forward_rouge1` and `qa_backward_rouge1` (not the item-weighted
`qa_rouge1`: the directions have different numbers of questions in Biography and Wiki). Epoch 0, the model before
training (the paper's "before fine-tuning" row), is never a candidate. Every QA metric is better when higher.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PAPER_METRIC = "qa_mean_rouge1"
MEAN = "qa_mean_"  # `qa_mean_<m>`: the mean of `qa_forward_<m>` and `qa_backward_<m>`
DIRECTIONS = ("forward", "backward")


def with_means(metrics: dict[str, float]) -> dict[str, float]:
    """`metrics` and, for every `<m>` logged in both directions (`qa_forward_<m>`, `qa_backward_<m>`), their mean
    `qa_mean_<m>`."""
    forward = "qa_forward_"
    means = {
        MEAN + name[len(forward) :]: (value + metrics[name.replace(forward, "qa_backward_", 1)]) / 2
        for name, value in metrics.items()
        if name.startswith(forward) and name.replace(forward, "qa_backward_", 1) in metrics
    }
    return {**metrics, **means}


def resolve_metric(requested: str | None, produced: Iterable[str]) -> str | None:
    """The metric to select by: `requested`, which the QA items must produce (`produced`, with the means of
    `with_means`), or by default `PAPER_METRIC` where they produce it (None otherwise, e.g. GSM8K)."""
    available = set(with_means(dict.fromkeys(produced, 0.0)))
    if requested is None:
        return PAPER_METRIC if PAPER_METRIC in available else None
    if requested not in available:
        raise ValueError(
            f"`qa_best_metric: {requested}` is not a metric of these QA items, so no epoch could be selected by it. "
            f"They produce: {', '.join(sorted(available))}. The paper's selection is `{PAPER_METRIC}` (the mean of "
            "forward and backward ROUGE-1), which needs questions in both directions."
        )
    return requested


def best_epoch(history: Sequence[dict], metric: str) -> dict | None:
    """The row of `history` (QA rows `{"epoch", "qa_*"}`, in order) with the highest `metric` (`with_means` applied),
    the earliest of equal ones; epoch 0 is not a candidate. None when no row after epoch 0 has the metric."""
    best, best_value = None, None
    for row in history:
        value = with_means(row).get(metric)
        if row["epoch"] > 0 and value is not None and (best_value is None or value > best_value):
            best, best_value = row, value
    return best


def describe_best(row: dict, metric: str) -> str:
    """One sentence: the best epoch, its value of `metric` and its ROUGE-1 per direction."""
    values = with_means(row)
    how = (
        f"the mean of forward and backward ROUGE-1 (`{metric}`, the paper's selection, arXiv 2510.09885 v6 App. A.4)"
        if metric == PAPER_METRIC
        else f"`{metric}`"
    )
    scores = [f"{d} ROUGE-1 {values[f'qa_{d}_rouge1']:.3f}" for d in DIRECTIONS if f"qa_{d}_rouge1" in values]
    return (
        f"Best evaluated epoch by {how}, epoch 0 (before training) excluded: epoch {row['epoch']} "
        f"({metric} {values[metric]:.3f}{''.join(', ' + score for score in scores)})."
    )


def check_qa_schedule(eval_epochs: Iterable[int] | None, num_train_epochs: int) -> None:
    """Every epoch of a `qa_eval_epochs` schedule must be one the run reaches: between 0 and `num_train_epochs`."""
    if eval_epochs is None:
        return
    negative = sorted(epoch for epoch in eval_epochs if epoch < 0)
    beyond = sorted(epoch for epoch in eval_epochs if epoch > num_train_epochs)
    if negative or beyond:
        raise ValueError(
            f"`qa_eval_epochs` holds {negative + beyond}, outside the {num_train_epochs} epochs of this run "
            "(`num_train_epochs`, or fewer with `max_steps`): the QA items would never be asked then. Keep the "
            f"epochs between 0 (before training) and {num_train_epochs}, or train longer."
        )
