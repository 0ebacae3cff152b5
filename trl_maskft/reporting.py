"""Human-readable summaries of QA metrics."""

from __future__ import annotations

from collections.abc import Sequence

DIRECTIONS = ("forward", "backward")


def history_table(history: Sequence[dict], directions: Sequence[str] = DIRECTIONS) -> str:
    """Markdown table, one row per evaluated epoch: ROUGE-1 recall and containment per direction."""
    header = ["epoch"] + [f"{d} {m}" for d in directions for m in ("ROUGE-1", "contains")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in history:
        cells = [str(row["epoch"])]
        for d in directions:
            for m in ("rouge1", "contains"):
                value = row.get(f"qa_{d}_{m}")
                cells.append("-" if value is None else f"{value:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
