"""TRL's `SFTTrainer` cuts every row longer than `max_length` without a word; `TruncationCountingMixin` makes its
preparation say so. It tokenizes without `max_length`, counts the rows longer than `max_length` and the tokens beyond
it (a `DataReport`, logged and kept in `trainer.data_reports`), then lets TRL truncate (or pack) the tokenized rows as
it always does. The trainers that leave tokenizing to TRL have the mixin: the baselines' `BaselineSFTTrainer` and
`DiffusionSFTTrainer` (masked SFT tokenizes its own reconstruction chats and reports what it cut itself)."""

from __future__ import annotations

import logging

import pyarrow.compute as pc
from datasets import Dataset

from .data_report import DataReport, list_lengths

logger = logging.getLogger(__name__)

# TRL packing strategies that keep every token (`bfd` truncates rows longer than `max_length`)
LOSSLESS_PACKING = ("bfd_split", "wrapped")


def length_report(lengths, max_length: int, split: str, examples: int, dropped: int) -> DataReport:
    """The report of rows of token `lengths` (an Arrow array) cut to `max_length`."""
    kept = pc.sum(pc.min_element_wise(lengths, max_length)).as_py() or 0
    tokens = pc.sum(lengths).as_py() or 0
    cut = pc.sum(pc.cast(pc.greater(lengths, max_length), "int64")).as_py() or 0
    return DataReport(
        split=split,
        rows=len(lengths),
        examples=examples,
        cut=cut,
        dropped=dropped,
        tokens=tokens,
        lost=tokens - kept,
        max_length=max_length,
        unit="tokens",
    )


class TruncationCountingMixin:
    """For `SFTTrainer` subclasses: count what `max_length` cuts (see the module's doc)."""

    def __init__(self, *args, **kwargs):
        self.data_reports: list[DataReport] = []
        super().__init__(*args, **kwargs)

    def _prepare_dataset(self, dataset, processing_class, args, packing, formatting_func, dataset_name):
        lossless = packing and args.packing_strategy in LOSSLESS_PACKING
        if args.max_length is None or lossless or not isinstance(dataset, Dataset):
            if args.max_length is not None and not lossless:
                logger.warning(
                    f"{dataset_name}: a streamed dataset cannot be counted ahead; TRL cuts its rows longer than "
                    f"`max_length`={args.max_length} as they are read. Chunk the documents (`chunk_length`) so that "
                    "none is longer."
                )
            return super()._prepare_dataset(dataset, processing_class, args, packing, formatting_func, dataset_name)
        max_length, shuffle = args.max_length, args.shuffle_dataset
        args.max_length, args.shuffle_dataset = None, False
        try:  # tokenized, labelled, not truncated, not packed
            tokenized = super()._prepare_dataset(dataset, processing_class, args, False, formatting_func, dataset_name)
        finally:
            args.max_length, args.shuffle_dataset = max_length, shuffle
        prepared = super()._prepare_dataset(tokenized, processing_class, args, packing, None, dataset_name)
        lengths = list_lengths(tokenized, "input_ids")
        dropped = 0 if packing else len(tokenized) - len(prepared)
        report = length_report(lengths, max_length, dataset_name, len(prepared), dropped)
        report.log()
        self.data_reports.append(report)
        return prepared
