"""A sample of QA items balanced over direction and group (what `qa_max_items` asks)."""

from __future__ import annotations

import random
from itertools import chain, zip_longest

from .schema import QAItem

_GAP = object()


def _round_robin(lists: list[list]) -> list:
    """One element of each list in turn, skipping lists that ran out."""
    return [x for x in chain.from_iterable(zip_longest(*lists, fillvalue=_GAP)) if x is not _GAP]


def balanced_qa_sample(items: list[QAItem], n: int, seed: int = 0) -> list[QAItem]:
    """`n` of `items`, as evenly spread as they allow: over directions first (counts differ by at most one while both
    directions have items left), then over the groups of each direction (likewise). Which items of a (direction,
    group) are taken, and which direction and groups get one more, is drawn with `seed`. Returned in the order of
    `items`; all of them when `n` is at least their number."""
    if n < 1:
        raise ValueError(f"The QA sample size must be at least 1, got {n}.")
    if n >= len(items):
        return list(items)
    rng = random.Random(seed)
    strata: dict[str, dict[str, list[int]]] = {}  # direction -> group -> item indices, in order of first appearance
    for index, item in enumerate(items):
        strata.setdefault(item.direction, {}).setdefault(item.group, []).append(index)
    per_direction = []
    for groups in strata.values():
        shuffled = [rng.sample(indices, len(indices)) for indices in groups.values()]
        rng.shuffle(shuffled)  # which groups come first in each round
        per_direction.append(_round_robin(shuffled))
    rng.shuffle(per_direction)
    chosen = _round_robin(per_direction)[:n]
    return [items[index] for index in sorted(chosen)]
