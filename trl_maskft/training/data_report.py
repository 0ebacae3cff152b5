"""What data preparation did to the rows of a split: how many were chunked, cut or dropped to fit `max_length`, and
how many tokens that lost. Zero lost is the normal case; the trainers log every report (a warning when anything was
cut or dropped) and keep them in `trainer.data_reports`, which the scripts print before training."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset

logger = logging.getLogger(__name__)


def list_lengths(dataset: Dataset, column: str):
    """The lengths of the lists in `column` of every row, as an Arrow array (in the rows' order, also through the
    indices mapping a `select` or `shuffle` leaves)."""
    lengths = pc.list_value_length(dataset.data.column(column))
    indices = dataset._indices  # noqa: SLF001 (datasets keeps a selection as an indices table)
    return lengths if indices is None else pc.take(lengths, indices.column(0))


def column_sum(dataset: Dataset, column: str) -> int:
    """Sum of an integer column, computed in Arrow (no Python list of the column)."""
    return int(pc.sum(dataset.data.column(column)).as_py() or 0)


def column_count(dataset: Dataset, column: str, predicate) -> int:
    """Rows whose `column` satisfies `predicate`, a pyarrow.compute function of the column (e.g. ``pc.greater``
    bound to a value)."""
    return int(pc.sum(pc.cast(predicate(dataset.data.column(column)), pa.int64())).as_py() or 0)


@dataclass(frozen=True)
class DataReport:
    """The preparation of one split. For a stream (`streamed`) the counts are unknown ahead: rows are chunked as they
    are read, and a row that would need cutting is refused."""

    split: str
    rows: int | None = None
    examples: int | None = None
    chunked: int = 0
    cut: int = 0
    dropped: int = 0
    tokens: int | None = None
    lost: int = 0
    chunk_length: int | None = None
    max_length: int | None = None
    streamed: bool = False
    unit: str = "document tokens"

    @property
    def complete(self) -> bool:
        """Whether every row was kept whole (none cut or dropped)."""
        return self.cut == 0 and self.dropped == 0 and self.lost == 0

    def message(self) -> str:
        chunks = f" (chunks of at most {self.chunk_length} tokens)" if self.chunk_length else ""
        if self.streamed:
            return (
                f"{self.split}: streamed{chunks}, prepared as the rows are read; a row that does not fit "
                f"`max_length`={self.max_length} is an error, never cut"
            )
        parts = [f"{self.split}: {self.rows:,} rows -> {self.examples:,} examples{chunks}"]
        if self.chunk_length:
            parts.append(f"{self.chunked:,} rows chunked")
        parts.append(f"{self.cut:,} rows cut and {self.dropped:,} dropped to fit `max_length`={self.max_length}")
        share = f" ({self.lost / self.tokens:.1%})" if self.tokens else ""
        parts.append(f"{self.lost:,} of {self.tokens:,} {self.unit} lost{share}")
        return "; ".join(parts)

    def log(self) -> None:
        """Log the report: a warning naming the fixes when anything was lost."""
        if self.complete:
            logger.info(self.message())
        else:
            logger.warning(
                f"{self.message()}. Set `chunk_length` to train on every token, or raise `max_length`."
                if self.unit == "document tokens"
                else f"{self.message()}. Raise `max_length`, or drop or shorten the long rows before training."
            )


def prepared_report(split: str, rows: int, mapped: Dataset, token_column: str, **settings) -> DataReport:
    """The report of `rows` rows prepared into `mapped`, whose `chunk` column numbers each example's chunk of its row,
    `token_column` counts its kept tokens and `lost_tokens` (when present) what was cut; `settings` are the other
    `DataReport` fields (`chunk_length`, `max_length`, `unit`)."""
    lost = column_sum(mapped, "lost_tokens") if "lost_tokens" in mapped.column_names else 0
    cut = column_count(mapped, "lost_tokens", lambda c: pc.greater(c, 0)) if lost else 0
    return DataReport(
        split=split,
        rows=rows,
        examples=len(mapped),
        chunked=column_count(mapped, "chunk", lambda c: pc.equal(c, 1)),
        cut=cut,
        tokens=column_sum(mapped, token_column) + lost,
        lost=lost,
        **settings,
    )
