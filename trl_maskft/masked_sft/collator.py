"""Collator that masks reconstruction examples afresh at every step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from ..common import EVAL_STREAM, IGNORE_INDEX, TRAIN_STREAM
from ..training.packing import unpack_chats
from .mask_units import (
    check_span_mean,
    check_views,
    choose_entity_positions,
    choose_span_positions,
    complement_positions,
)
from .masking import (
    MASK_DRAW,
    MASK_UNITS,
    RATIO_DRAW,
    RATIO_MODES,
    RATIO_SCOPES,
    apply_mask,
    choose_positions,
    choose_word_positions,
    example_rng,
    sample_ratio,
)

LOSS_ON = ("all", "masked")


@dataclass
class DataCollatorForMaskedSFT:
    """Pads tokenized reconstruction examples and masks their masked-copy span.

    Each example carries ``input_ids``, ``labels``, ``span_start``, ``twin_start``, ``span_length`` and ``idx`` (its
    row in the dataset). With ``loss_on="all"`` the labels are kept (the whole target and the end of turn); with
    ``loss_on="masked"`` only target tokens whose twin was masked are supervised. ``set_epoch`` must be called at
    every epoch (the trainer does) so that masks are drawn afresh. With ``word_start_ids`` (token ids that begin a
    word), whole words are masked instead of single tokens (``mask_unit="word"``; the paper masks tokens). With
    ``stream=EVAL_STREAM`` (evaluation; never ``set_epoch``-ed) the masks are the same at every evaluation and unlike
    any training mask, and ``linear`` ratios are drawn uniformly from the schedule's range.

    With ``padding_free=True`` the masked chats of a batch are concatenated into one row with ``position_ids``
    restarting at 0 for each chat and no attention mask (TRL's padding-free collation), so that the model attends
    within each chat only; each chat is masked exactly as in a padded batch. Rows packed by
    ``trl_maskft.training.packing.pack_chat_dataset`` (several chats each) are split into their chats first and need
    ``padding_free``. The batch ratio (``ratio_scope="batch"``) is shared by every chat of the batch.

    ``unit="span"`` masks contiguous spans of mean length ``span_mean``; ``unit="entity"`` masks whole entities, the
    ``[start, end)`` token spans of each example's ``entity_spans`` (`trl_maskft.masked_sft.mask_units`). With
    ``views=k`` every chat appears k times in the batch, each copy (view) masked differently (``complementary``: odd
    views hide what the view before them shows); the loss's token mean then weights each view 1/k.
    """

    pad_token_id: int
    mask_token_id: int
    seed: int = 0
    ratio_mode: str = "uniform"
    ratio_scope: str = "batch"
    ratio_min: float = 0.05
    ratio_max: float = 0.95
    ratio: float = 0.5
    loss_on: str = "all"
    pad_to_multiple_of: int | None = None
    word_start_ids: frozenset[int] | None = None
    padding_free: bool = False
    stream: int = TRAIN_STREAM
    unit: str = "token"
    span_mean: float = 3.0
    views: int = 1
    complementary: bool = False
    epoch: int = field(default=0, init=False)
    progress: float = field(default=0.0, init=False)

    def __post_init__(self):
        if self.ratio_mode not in RATIO_MODES:
            raise ValueError(f"`mask_ratio_mode` must be one of {RATIO_MODES}, got {self.ratio_mode!r}.")
        if self.ratio_scope not in RATIO_SCOPES:
            raise ValueError(f"`mask_ratio_scope` must be one of {RATIO_SCOPES}, got {self.ratio_scope!r}.")
        if self.loss_on not in LOSS_ON:
            raise ValueError(f"`loss_on` must be one of {LOSS_ON}, got {self.loss_on!r}.")
        if self.unit not in MASK_UNITS or (self.unit == "word" and self.word_start_ids is None):
            raise ValueError(
                f"`mask_unit` must be one of {MASK_UNITS}, got {self.unit!r}; 'word' needs `word_start_ids`, the "
                "token ids that begin a word."
            )
        check_span_mean(self.span_mean)
        check_views(self.views)

    def set_epoch(self, epoch: int, num_epochs: float = 1.0) -> None:
        """Key the masks on ``epoch``; ``linear`` ratios move from ``ratio_min`` to ``ratio_max`` over the run."""
        self.epoch = epoch
        self.progress = epoch / max(num_epochs - 1, 1)

    def _rng(self, index: int, draw: int = MASK_DRAW, view: int = 0) -> np.random.Generator:
        return example_rng(self.seed, self.epoch, index, draw, self.stream, view)

    def _ratio(self, rng: np.random.Generator) -> float:
        # Evaluation does not follow the schedule, so that every evaluation masks alike
        mode = "uniform" if self.ratio_mode == "linear" and self.stream == EVAL_STREAM else self.ratio_mode
        return sample_ratio(rng, mode, self.ratio_min, self.ratio_max, self.ratio, self.progress)

    def _offsets(self, example: dict[str, Any], rng: np.random.Generator, ratio: float) -> np.ndarray:
        """Offsets (within the masked copy) that one view hides, in the collator's unit."""
        start, length = int(example["span_start"]), int(example["span_length"])
        if self.word_start_ids is not None:
            span = example["input_ids"][start : start + length]
            return choose_word_positions(rng, [token in self.word_start_ids for token in span], ratio)
        if self.unit == "span":
            return choose_span_positions(rng, length, ratio, self.span_mean)
        if self.unit == "entity":
            return choose_entity_positions(rng, length, example.get("entity_spans") or [], ratio)
        return choose_positions(rng, length, ratio)

    def view_offsets(self, example: dict[str, Any], ratio: float | None = None) -> list[np.ndarray]:
        """The offsets each view of one example hides; ratios are drawn per view here unless given."""
        views: list[np.ndarray] = []
        for view in range(self.views):
            if self.complementary and view % 2:
                views.append(complement_positions(int(example["span_length"]), views[-1]))
                continue
            rng = self._rng(int(example["idx"]), view=view)
            views.append(self._offsets(example, rng, self._ratio(rng) if ratio is None else ratio))
        return views

    def mask_example(self, example: dict[str, Any], ratio: float | None = None) -> list[tuple[list[int], list[int]]]:
        """``(input_ids, labels)`` of every view of one example after masking; ratios are drawn here unless given."""
        start, twin = int(example["span_start"]), int(example["twin_start"])
        masked = []
        for offsets in self.view_offsets(example, ratio):
            input_ids = apply_mask(example["input_ids"], start, offsets, self.mask_token_id)
            if self.loss_on == "all":
                labels = list(example["labels"])
            else:
                labels = [IGNORE_INDEX] * len(input_ids)
                for offset in offsets:
                    labels[twin + int(offset)] = example["input_ids"][twin + int(offset)]
            masked.append((input_ids, labels))
        return masked

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if "seq_lengths" in rows[0] and not self.padding_free:
            raise ValueError("Packed rows hold several chats and need padding-free collation: set `padding_free`.")
        examples = [chat for row in rows for chat in unpack_chats(row)]
        ratio = None
        if self.ratio_scope == "batch":
            # One ratio for the whole batch, keyed on its smallest row index (distinct across ranks and steps).
            ratio = self._ratio(self._rng(min(int(e["idx"]) for e in examples), RATIO_DRAW))
        masked = [view for example in examples for view in self.mask_example(example, ratio)]
        collate = DataCollatorForLanguageModeling(
            pad_token_id=self.pad_token_id, padding_free=self.padding_free, pad_to_multiple_of=self.pad_to_multiple_of
        )
        return collate([{"input_ids": ids, "labels": labels} for ids, labels in masked])
