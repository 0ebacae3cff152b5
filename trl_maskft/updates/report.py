"""The report of a sequence of updates: `updates.md` (the R matrix per direction, average accuracy, backward
transfer, wall time per update, the edit metrics), `updates.csv` (one row per direction, update and set) and
`updates.png` (R as a heat map, one panel per direction)."""

from __future__ import annotations

import csv
from collections.abc import Sequence

from ..data.schema import DIRECTIONS
from ..evaluation.reporting import markdown_table
from ..evaluation.retention.report import RETENTION_HEADER, retention_cells
from .metrics import Matrix, average_accuracy, backward_transfer


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def matrix_table(matrix: Matrix) -> str:
    """R as a markdown table: one row per update trained, one column per set asked."""
    size = len(matrix)
    lines = [
        "| after update | " + " | ".join(f"set {j + 1}" for j in range(size)) + " |",
        "|---" * (size + 1) + "|",
    ]
    lines += [f"| {i + 1} | " + " | ".join(_cell(value) for value in row) + " |" for i, row in enumerate(matrix)]
    return "\n".join(lines)


def edits_table(edits: dict[str, dict]) -> str:
    """The edit metrics (`metrics.edit_metrics`) of the final model, one row per direction."""
    lines = [
        "| direction | efficacy | old answer | generalization (every phrasing) | efficacy per phrasing | locality |",
        "|---|---|---|---|---|---|",
    ]
    for direction, m in edits.items():
        phrasings = " / ".join(_cell(value) for value in m["efficacy_by_phrasing"])
        cells = [_cell(m["efficacy"]), _cell(m["old_answer"]) or "-", _cell(m["generalization"]), phrasings]
        lines.append(f"| {direction} | " + " | ".join(cells) + f" | {_cell(m['locality'])} |")
    return "\n".join(lines)


def retention_section(final_rows: Sequence[dict]) -> list[str]:
    """What each update cost the model it started from (the final `retain_*` metrics of each update's run), or
    nothing when no update measured retention."""
    if not any("retain_known_facts" in row for row in final_rows):
        return []
    rows = ([str(i + 1), *retention_cells(row)] for i, row in enumerate(final_rows))
    return [
        "",
        "## Retention per update (against the model each update started from)",
        "",
        markdown_table(["update", *RETENTION_HEADER], rows),
    ]


def updates_report(
    matrices: dict[str, Matrix],
    wall_times: Sequence[float],
    edits: dict[str, dict],
    final_rows: Sequence[dict] = (),
    later: dict[str, float] | None = None,
) -> str:
    """`updates.md`: per direction R (ROUGE-1), average accuracy, backward transfer and (`later`, from
    `metrics.later_fact_answers`) the share of earlier sets' answers closer to a later update's fact; wall time per
    update; the edit metrics of the final model when the sequence edits facts; each update's retention (`final_rows`:
    the last logged row of each update's run) when it was measured."""
    parts = ["# Sequential updates", ""]
    for direction, matrix in matrices.items():
        acc, bwt = average_accuracy(matrix), backward_transfer(matrix)
        parts += [
            f"## {direction.capitalize()} questions: R[i][j] (ROUGE-1 on set j after update i)",
            "",
            matrix_table(matrix),
            "",
            f"Average accuracy (last row): {_cell(acc)}. Backward transfer (mean of R[T][j] - R[j][j], negative is "
            f"forgetting): {_cell(bwt) or '- (one update)'}.",
            "",
        ]
        if later and direction in later:
            parts += [
                f"Answers on earlier sets closer to a later update's fact than to their own (interference): "
                f"{_cell(later[direction])}.",
                "",
            ]
    parts += ["## Wall time per update", "", "| update | wall time (s) |", "|---|---|"]
    parts += [f"| {i + 1} | {seconds:.1f} |" for i, seconds in enumerate(wall_times)]
    if edits:
        parts += [
            "",
            "## Edits (final model; answers containing the reference)",
            "",
            edits_table(edits),
        ]
    parts += retention_section(final_rows)
    return "\n".join(parts) + "\n"


def write_updates_csv(path: str, matrices: dict[str, Matrix]) -> None:
    """One row per direction, update trained and set asked: `direction,after_update,set,rouge1`."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["direction", "after_update", "set", "rouge1"])
        for direction, matrix in matrices.items():
            for i, row in enumerate(matrix):
                writer.writerows([direction, i + 1, j + 1, value] for j, value in enumerate(row) if value is not None)


def plot_matrices(path: str, matrices: dict[str, Matrix], directions: Sequence[str] = DIRECTIONS) -> None:
    """PNG heat map of R, one panel per direction, the values written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(directions), figsize=(4.5 * len(directions), 4), squeeze=False)
    for ax, direction in zip(axes[0], directions, strict=True):
        matrix = matrices[direction]
        values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
        image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis")
        for (i, j), value in np.ndenumerate(values):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
        ticks = range(len(matrix))
        ax.set_xticks(ticks, [str(j + 1) for j in ticks])
        ax.set_yticks(ticks, [str(i + 1) for i in ticks])
        ax.set_xlabel("set asked")
        ax.set_ylabel("after update")
        ax.set_title(f"{direction} ROUGE-1")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
