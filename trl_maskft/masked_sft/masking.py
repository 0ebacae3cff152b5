"""Random token masking for masked SFT: pure functions, no model needed.

Masks are keyed on ``(seed, stream, epoch, example index)`` through NumPy's ``SeedSequence`` instead of a global RNG:
every DDP rank and dataloader worker sees different examples and therefore draws different masks, the same run is
reproducible per seed, a resumed run draws the same masks as an uninterrupted one, and each epoch draws fresh ones.
Evaluation draws from its own stream at a fixed epoch: the same masks at every evaluation, unlike any training mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..common import TRAIN_STREAM

RATIO_MODES = ("uniform", "fixed", "linear")
RATIO_SCOPES = ("batch", "example")
MASK_UNITS = ("token", "word", "span", "entity")
MASK_DRAW, RATIO_DRAW = 0, 1


def validate_ratio_bounds(low: float, high: float, name: str = "mask_ratio") -> None:
    """Raise a clear error unless ``0 < low <= high < 1``."""
    if not (0.0 < low < 1.0 and 0.0 < high < 1.0):
        raise ValueError(
            f"`{name}_min` and `{name}_max` must lie strictly between 0 and 1, got ({low}, {high}). "
            "A ratio of 0 masks nothing and 1 leaves nothing to condition on."
        )
    if low > high:
        raise ValueError(f"`{name}_min` ({low}) is larger than `{name}_max` ({high}); swap them.")


def example_rng(
    seed: int, epoch: int, index: int, draw: int = MASK_DRAW, stream: int = TRAIN_STREAM, view: int = 0
) -> np.random.Generator:
    """An owned generator for the mask of one example (or, with ``RATIO_DRAW``, the ratio of one batch) at one epoch
    of ``stream``; view ``view > 0`` of the example (`mask_views`) has its own key, view 0 that of a single view."""
    return np.random.default_rng([seed, stream, epoch, index, draw] + ([view] if view else []))


def sample_ratio(
    rng: np.random.Generator, mode: str, low: float, high: float, fixed: float, progress: float = 0.0
) -> float:
    """Draw a mask ratio.

    ``uniform``: t ~ U(low, high) (the paper). ``fixed``: t = ``fixed``. ``linear``: t goes linearly from ``low`` to
    ``high`` as ``progress`` goes from 0 to 1 (an easy-to-hard curriculum over epochs).
    """
    if mode == "uniform":
        return float(rng.uniform(low, high))
    if mode == "fixed":
        return float(fixed)
    if mode == "linear":
        return float(low + (high - low) * min(max(progress, 0.0), 1.0))
    raise ValueError(f"Unknown mask ratio mode {mode!r}; expected one of {RATIO_MODES}.")


def num_to_mask(length: int, ratio: float) -> int:
    """Number of positions to mask: ``round(ratio * length)``, at least one when there is anything to mask."""
    if length <= 0:
        return 0
    return int(min(length, max(1, round(ratio * length))))


def choose_positions(rng: np.random.Generator, length: int, ratio: float) -> np.ndarray:
    """Sorted offsets (within a span of ``length``) of exactly ``num_to_mask(length, ratio)`` positions."""
    k = num_to_mask(length, ratio)
    return np.sort(rng.permutation(length)[:k])


def choose_word_positions(rng: np.random.Generator, word_starts: Sequence[bool], ratio: float) -> np.ndarray:
    """Sorted offsets of every token of ``num_to_mask(num_words, ratio)`` whole words.

    A word is a token flagged in ``word_starts`` (the first token always starts one) and the tokens up to the next.
    """
    starts = np.asarray(word_starts, dtype=bool).copy()
    if starts.size == 0:
        return np.zeros(0, dtype=int)
    starts[0] = True
    word_of_token = np.cumsum(starts) - 1
    chosen = rng.permutation(int(word_of_token[-1]) + 1)[: num_to_mask(int(word_of_token[-1]) + 1, ratio)]
    return np.flatnonzero(np.isin(word_of_token, chosen))


def apply_mask(input_ids: Sequence[int], span_start: int, offsets: np.ndarray, mask_token_id: int) -> list[int]:
    """Copy of ``input_ids`` with ``span_start + offsets`` replaced by ``mask_token_id``."""
    masked = list(input_ids)
    for offset in offsets:
        masked[span_start + int(offset)] = mask_token_id
    return masked
