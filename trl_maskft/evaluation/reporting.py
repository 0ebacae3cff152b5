"""Human-readable summaries of QA metrics."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

DIRECTIONS = ("forward", "backward")
RETENTION_KEYS = ("retain_known_facts", "retain_self_nll_rise")  # the retention of a comparison's arms


def metric_cell(value: float | None) -> str:
    """A metric as a table cell: 3 decimals, "-" when it was not logged."""
    return "-" if value is None else f"{value:.3f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Markdown table of string cells under `header`."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


def history_table(history: Sequence[dict], directions: Sequence[str] = DIRECTIONS) -> str:
    """Markdown table, one row per evaluated epoch: ROUGE-1 recall and containment per direction."""
    header = ["epoch"] + [f"{d} {m}" for d in directions for m in ("ROUGE-1", "contains")]
    rows = (
        [str(row["epoch"])] + [metric_cell(row.get(f"qa_{d}_{m}")) for d in directions for m in ("rouge1", "contains")]
        for row in history
    )
    return markdown_table(header, rows)


def final_and_best(history: Sequence[dict], key: str) -> tuple[float | None, float | None]:
    """``(final, best)`` of metric ``key`` over the evaluated epochs (None where it was never logged)."""
    values = [row[key] for row in history if row.get(key) is not None]
    return (values[-1], max(values)) if values else (None, None)


def comparison_table(
    histories: dict[str, Sequence[dict]], wall_times: dict[str, float], directions: Sequence[str] = DIRECTIONS
) -> str:
    """Markdown table, one row per arm and direction: final and best ROUGE-1 recall and containment, the final
    retention of the arm (`retain_known_facts`, `retain_self_nll_rise`; "-" where it was not measured), wall time."""
    header = ["arm", "direction", "final ROUGE-1", "best ROUGE-1", "final contains", "best contains"]
    header += ["known facts kept", "self-answer NLL rise", "wall time (s)"]
    rows = []
    for arm, history in histories.items():
        retention = [metric_cell(final_and_best(history, key)[0]) for key in RETENTION_KEYS]
        for d in directions:
            rouge_final, rouge_best = final_and_best(history, f"qa_{d}_rouge1")
            contains_final, contains_best = final_and_best(history, f"qa_{d}_contains")
            cells = map(metric_cell, (rouge_final, rouge_best, contains_final, contains_best))
            rows.append([arm, d, *cells, *retention, f"{wall_times.get(arm, float('nan')):.0f}"])
    return markdown_table(header, rows)


def comparison_report(histories: dict[str, Sequence[dict]], wall_times: dict[str, float]) -> str:
    """The comparison table followed by each arm's per-epoch `history_table`."""
    parts = ["# Comparison", "", comparison_table(histories, wall_times)]
    for arm, history in histories.items():
        parts += ["", f"## {arm}", "", history_table(history)]
    return "\n".join(parts) + "\n"


def metrics_rows(histories: dict[str, Sequence[dict]]) -> list[dict]:
    """Long-format rows ``{"arm", "epoch", <metrics>}``, one per arm and evaluated epoch."""
    return [{"arm": arm, **row} for arm, history in histories.items() for row in history]


def write_metrics_csv(path: str, histories: dict[str, Sequence[dict]]) -> None:
    """CSV of `metrics_rows`; columns are the union of all metrics (blank where an arm lacks one)."""
    rows = metrics_rows(histories)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def plot_rouge1(path: str, histories: dict[str, Sequence[dict]], directions: Sequence[str] = DIRECTIONS) -> None:
    """PNG with one panel per direction: ROUGE-1 recall per evaluated epoch, one line per arm; and a retention panel
    (the share of the known facts kept, `retain_known_facts`) where some arm measured it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    retained = any("retain_known_facts" in row for history in histories.values() for row in history)
    panels = [(f"qa_{d}_rouge1", f"{d} QA") for d in directions]
    panels += [("retain_known_facts", "known facts kept (retention)")] if retained else []
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for arm, history in histories.items():
            points = [(row["epoch"], row[key]) for row in history if key in row]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=arm)
        ax.set(title=title, xlabel="epoch", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("ROUGE-1 recall")
    axes[0][-1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
