"""Entities for `mask_unit: entity`: a document's character spans (from its `entity_spans_column`, or the heuristic of
`trl_maskft.data.transforms.entity_char_spans`) as ``[start, end)`` token spans of each of its chunks, through the
tokenizer's character offsets."""

from __future__ import annotations

from collections.abc import Sequence

from ..data.transforms import entity_char_spans


def document_char_spans(text: str, spans, column: str, where: str) -> list[list[int]]:
    """The entities' character spans of one document: its column's value, checked, or (None) the heuristic's."""
    if spans is None:
        return entity_char_spans(text)
    pairs = spans if isinstance(spans, (list, tuple)) else [None]
    for span in pairs:
        if not (
            isinstance(span, (list, tuple))
            and len(span) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in span)
            and 0 <= span[0] < span[1] <= len(text)
        ):
            raise ValueError(
                f"{where}: `{column}` must be a list of [start, end) character spans with 0 <= start < end <= "
                f"{len(text)} (the document's length), got {spans!r}. Fix the spans, or leave the row's value empty "
                "(null) for the heuristic."
            )
    return [list(span) for span in pairs]


def token_spans(char_spans: Sequence[Sequence[int]], offsets: Sequence[Sequence[int]], start: int, stop: int):
    """``[first, last + 1)`` token spans, relative to token `start`, of the entities that overlap tokens
    ``start..stop - 1`` (a chunk), each cut to the chunk; an entity covers every token its characters touch."""
    spans = []
    for char_start, char_end in char_spans:
        touched = [i for i in range(start, stop) if offsets[i][0] < char_end and offsets[i][1] > char_start]
        if touched:
            spans.append([touched[0] - start, touched[-1] + 1 - start])
    return spans


def check_offsets(tokenizer) -> None:
    """Character offsets need a fast tokenizer."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            "`mask_unit: entity` maps the entities' characters to tokens with the tokenizer's offsets, which only a "
            "fast tokenizer gives: load the model's tokenizer with `use_fast=True`, or use another `mask_unit`."
        )
