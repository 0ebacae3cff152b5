"""Mask units beyond single tokens and words, and the views of a document: pure functions, no model needed.

- `span`: contiguous spans whose lengths follow a geometric distribution of mean `mask_span_mean` (T5/SpanBERT-style),
  exactly ``num_to_mask(n, t)`` tokens in all, the spans apart from each other by at least one visible token where
  the document leaves room (else adjacent spans merge).
- `entity`: whole entities (token spans of names, descriptions, dates...) in random order, each hidden whole, until at
  least ``num_to_mask(n, t)`` tokens are hidden (the last entity may go past that count, so that an entity is never
  hidden in part); when the entities run out first, other single tokens, drawn at random, make up the count.
- views (`mask_views`): view 0 is drawn as a single-view run draws its mask; view ``v > 0`` from its own key. With
  `mask_views_complementary`, an odd view hides exactly the document tokens that the view before it shows (and shows
  what it hides), so views come in complementary pairs (0, 1), (2, 3), ...; with an odd number of views the last one
  is drawn independently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .masking import num_to_mask


def check_span_mean(mean: float) -> None:
    """A span's mean length is at least one token."""
    if not mean >= 1.0:
        raise ValueError(
            f"`mask_span_mean` must be at least 1 (the mean number of tokens per hidden span), got {mean}. Use 1 for "
            "spans of about one token, or `mask_unit: token`."
        )


def check_views(views: int) -> None:
    """At least one view of every document per step."""
    if not (isinstance(views, int) and views >= 1):
        raise ValueError(
            f"`mask_views` must be a whole number of at least 1 (copies of each document per step, each masked "
            f"differently), got {views!r}. Use 1 to train each document once per step, as the paper does."
        )


def geometric_span_lengths(rng: np.random.Generator, total: int, mean: float) -> list[int]:
    """Span lengths drawn from a geometric distribution of mean `mean` (support 1, 2, ...) until they reach `total`
    tokens, the last one shortened so that they sum to exactly `total`."""
    lengths: list[int] = []
    while sum(lengths) < total:
        lengths.append(int(min(rng.geometric(1.0 / mean), total - sum(lengths))))
    return lengths


def choose_span_positions(rng: np.random.Generator, length: int, ratio: float, mean: float) -> np.ndarray:
    """Sorted offsets of exactly ``num_to_mask(length, ratio)`` positions, in contiguous spans of geometric lengths
    (mean `mean`) placed at random among the visible tokens."""
    k = num_to_mask(length, ratio)
    if k == 0:
        return np.zeros(0, dtype=int)
    spans = [int(s) for s in rng.permutation(geometric_span_lengths(rng, k, mean))]
    visible = length - k
    # Each span goes before one of the visible tokens (or at the end): distinct slots keep the spans apart
    slots = np.sort(rng.choice(visible + 1, size=len(spans), replace=len(spans) > visible + 1))
    offsets, position, previous = [], 0, 0
    for slot, span in zip(slots, spans, strict=True):
        position += int(slot) - previous
        previous = int(slot)
        offsets.extend(range(position, position + span))
        position += span
    return np.asarray(offsets, dtype=int)


def choose_entity_positions(
    rng: np.random.Generator, length: int, entities: Sequence[Sequence[int]], ratio: float
) -> np.ndarray:
    """Sorted offsets of whole entities (``[start, end)`` token spans within a span of `length`) in random order until
    ``num_to_mask(length, ratio)`` tokens are hidden, made up with other single tokens when the entities run out."""
    k = num_to_mask(length, ratio)
    hidden = np.zeros(length, dtype=bool)
    spans = [(int(start), int(end)) for start, end in entities if 0 <= start < end <= length]
    for i in rng.permutation(len(spans)):
        if hidden.sum() >= k:
            break
        start, end = spans[i]
        hidden[start:end] = True
    missing = k - int(hidden.sum())
    if missing > 0:
        hidden[rng.permutation(np.flatnonzero(~hidden))[:missing]] = True
    return np.flatnonzero(hidden)


def complement_positions(length: int, offsets: np.ndarray) -> np.ndarray:
    """The offsets of a span of `length` that `offsets` leaves visible (a complementary view's mask)."""
    hidden = np.zeros(length, dtype=bool)
    hidden[np.asarray(offsets, dtype=int)] = True
    return np.flatnonzero(~hidden)
