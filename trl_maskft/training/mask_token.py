"""The mask token must not occur in the data: a real occurrence reads to the model exactly like a mask.

The trainers count it in their tokenized datasets (`find_token`) and refuse to train on data that holds it
(`check_mask_token_absent`) unless `allow_mask_token_in_data` is set, which turns the error into a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

CONTEXT = 8  # tokens shown on each side of an occurrence


MASK_TOKEN_HELP = "Mask string; must be exactly one token."


@dataclass
class MaskTokenConfigMixin:
    """The mask-token keys every method's config shares (a config with a default `mask_token` redeclares it)."""

    mask_token: str | None = field(default=None, metadata={"help": MASK_TOKEN_HELP})
    mask_token_id: int | None = field(
        default=None,
        metadata={
            "help": "Mask token id; takes precedence over `mask_token` (e.g. LLaDA: 126336; a reserved Llama-3 "
            "token: 128013)."
        },
    )
    allow_mask_token_in_data: bool = field(
        default=False,
        metadata={"help": "Train although the mask token occurs in the tokenized data (warned; an error by default)."},
    )


def resolve_mask_token_id(
    tokenizer: PreTrainedTokenizerBase, mask_token: str | None, mask_token_id: int | None
) -> int:
    """The id of the mask token: ``mask_token_id`` if given, else ``mask_token`` which must be exactly one token."""
    vocab_size = len(tokenizer)
    if mask_token_id is not None:
        if not 0 <= mask_token_id < vocab_size:
            raise ValueError(
                f"`mask_token_id` {mask_token_id} is outside the tokenizer's vocabulary [0, {vocab_size})."
            )
        return mask_token_id
    if mask_token is None:
        raise ValueError("Set `mask_token` (a string that is one token) or `mask_token_id`.")
    ids = tokenizer.encode(mask_token, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(
            f"The mask token {mask_token!r} is encoded as {len(ids)} tokens {ids} by this tokenizer; it must be "
            "exactly one so the masked copy keeps the document's length. Pick a string that is a single token (for "
            "example '[]' for Qwen, ' []' for SmolLM2, a reserved special token such as "
            "'<|reserved_special_token_5|>' for Llama-3) or set `mask_token_id`."
        )
    return ids[0]


@dataclass
class TokenHits:
    """How often a token occurs (`count`), in how many rows (`rows`), and its first occurrence as
    `(row, position in input_ids)` (None when it never occurs)."""

    count: int = 0
    rows: int = 0
    first: tuple[int, int] | None = field(default=None)


def count_token(input_ids: pa.ListArray, token_id: int, starts=None, lengths=None) -> np.ndarray:
    """Occurrences of `token_id` in each row of `input_ids`, only within positions `[start, start + length)` of each
    row when `starts` and `lengths` are given; one count per row."""
    offsets = np.asarray(input_ids.offsets, dtype=np.int64)
    sizes = np.diff(offsets)
    hits = np.asarray(input_ids.flatten()) == token_id
    if starts is not None:
        position = np.arange(len(hits)) - np.repeat(offsets[:-1] - offsets[0], sizes)
        start = np.repeat(np.asarray(starts, dtype=np.int64), sizes)
        hits &= (position >= start) & (position < start + np.repeat(np.asarray(lengths, dtype=np.int64), sizes))
    row_of = np.repeat(np.arange(len(sizes)), sizes)
    return np.bincount(row_of, weights=hits, minlength=len(sizes)).astype(np.int64)


def find_token(
    dataset: Dataset, token_id: int, span_columns: tuple[str, str] | None = None, batch_size: int = 10_000
) -> TokenHits:
    """Where `token_id` occurs in the `input_ids` of `dataset`: anywhere, or only in the span of each row given by
    its `span_columns` (start, length)."""
    columns = ["input_ids", *(span_columns or ())]
    hits, row = TokenHits(), 0
    for batch in dataset.select_columns(columns).with_format("arrow").iter(batch_size=batch_size):
        input_ids = batch.column("input_ids").combine_chunks()
        spans = [batch.column(name).to_numpy() for name in span_columns] if span_columns else [None, None]
        counts = count_token(input_ids, token_id, *spans)
        if hits.first is None and counts.any():
            first = int(np.flatnonzero(counts)[0])
            ids = np.asarray(input_ids[first].values)
            start = int(spans[0][first]) if span_columns else 0
            position = start + int(np.flatnonzero(ids[start:] == token_id)[0])
            hits.first = (row + first, position)
        hits.count += int(counts.sum())
        hits.rows += int(np.count_nonzero(counts))
        row += len(counts)
    return hits


def occurrence_context(tokenizer: PreTrainedTokenizerBase, input_ids: list[int], position: int) -> str:
    """The text around `input_ids[position]`, that token marked ⟦ ⟧."""
    left = tokenizer.decode(input_ids[max(0, position - CONTEXT) : position])
    right = tokenizer.decode(input_ids[position + 1 : position + 1 + CONTEXT])
    return f"...{left}⟦{tokenizer.decode([input_ids[position]])}⟧{right}..."


def named_splits(name: str, datasets: Dataset | dict[str, Dataset] | None) -> list[tuple[str, Dataset]]:
    """`(name, dataset)` of an evaluation dataset, or of each of a dict of them (`"<name> '<key>'"`); none for None."""
    if isinstance(datasets, dict):
        return [(f"{name} {key!r}", dataset) for key, dataset in datasets.items()]
    return [] if datasets is None else [(name, datasets)]


def check_mask_token_absent(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    mask_token_id: int,
    allow: bool,
    split: str = "training",
    reconstruction: bool = False,
) -> None:
    """Refuse (or, with `allow`, warn about) a tokenized dataset whose `input_ids` hold the mask token.

    With `reconstruction` (masked SFT's examples, `tokenize_for_masking`), the documents or
    completions (the span `span_start`/`span_length`, counted once although each row holds them twice) are told apart
    from the chat around them (instruction, response prefix, system prompt, prompt).
    """
    if not isinstance(dataset, Dataset) or len(dataset) == 0:  # an iterable dataset cannot be counted ahead
        return
    everywhere = find_token(dataset, mask_token_id)
    if everywhere.count == 0:
        return
    rows = len(dataset)
    if reconstruction:
        text = find_token(dataset, mask_token_id, ("span_start", "span_length"))
        around = everywhere.count - 2 * text.count
        parts = [f"{text.count} time(s) in {text.rows} of the {rows} documents/completions"] if text.count else []
        if around:
            parts.append(
                f"{around} time(s) in the chat around them (the instruction, response prefix, system prompt or prompt)"
            )
        where, first = ", and ".join(parts), text.first or everywhere.first
    else:
        where, first = f"{everywhere.count} time(s) in {everywhere.rows} of its {rows} rows", everywhere.first
    row, position = first
    example = occurrence_context(tokenizer, dataset[row]["input_ids"], position)
    message = (
        f"The mask token {tokenizer.decode([mask_token_id])!r} (id {mask_token_id}) occurs in the {split} data, "
        f"{where}; e.g. row {row}: {example!r}. The model cannot tell these from the masks it learns to fill."
    )
    if allow:
        logger.warning("%s Training anyway (`allow_mask_token_in_data: true`).", message)
        return
    raise ValueError(
        f"{message} Pick a mask token that the data does not use (e.g. a reserved special token, with "
        "`mask_token_id`), or set `allow_mask_token_in_data: true` to train anyway."
    )
