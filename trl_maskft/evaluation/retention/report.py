"""Retention as tables: one row per evaluated epoch (`retention_table`), and the final values of each arm of a
comparison (`retention_cells`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..reporting import markdown_table, metric_cell

RETENTION_HEADER = ("known facts kept", "self-answer NLL (rise)", "text NLL (rise)")


def _facts_cell(row: dict) -> str:
    share = row.get("retain_known_facts")
    if share is None:
        return "-"
    counts = f"{row['retain_known_facts_kept']}/{row['retain_known_facts_base']}"
    return f"{counts} (-)" if math.isnan(share) else f"{counts} ({share:.3f})"


def _nll_cell(row: dict, name: str) -> str:
    nll = row.get(f"retain_{name}_nll")
    return "-" if nll is None else f"{metric_cell(nll)} ({row[f'retain_{name}_nll_rise']:+.1%})"


def retention_cells(row: dict) -> list[str]:
    """The cells of `RETENTION_HEADER` of one logged row (``retain_*`` metrics); "-" for what was not measured."""
    return [_facts_cell(row), _nll_cell(row, "self"), _nll_cell(row, "text")]


def retention_table(history: Sequence[dict]) -> str:
    """Markdown table of `RetentionCallback.history`, one row per evaluated epoch."""
    return markdown_table(
        ["epoch", *RETENTION_HEADER], ([str(row["epoch"]), *retention_cells(row)] for row in history)
    )
