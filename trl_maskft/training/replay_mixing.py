"""Replay rows mixed into the training batches of any method: `ReplayCollator` wraps the method's collator and adds
`replay_count` replay rows to every batch, collated apart under `replay_*` keys (the method's own rows and loss are
left as they are; `trl_maskft.training.replay_trainer` trains both).

Which replay rows a batch gets is drawn from the generator of (seed, `REPLAY_STREAM`, epoch, the batch's first row),
so the same batch of the same epoch gets the same replay rows on every run, on any number of processes, and on resume.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase, TrainerCallback
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from ..common import IGNORE_INDEX, REPLAY_STREAM

REPLAY_PREFIX = "replay_"


def replay_count(num_rows: int, ratio: float) -> int:
    """Replay rows added to a batch of `num_rows` rows so that they are `ratio` of its rows: round(n r / (1 - r)),
    at least one when `ratio` > 0 (batch of 5 at 0.5: 5 replay rows, 10 in all; at 0.2: 1)."""
    if ratio <= 0:
        return 0
    return max(1, round(num_rows * ratio / (1 - ratio)))


def row_key(row: dict[str, Any]) -> int:
    """A number that names a tokenized row by its content (its `input_ids`), the same on every run and process."""
    return zlib.crc32(np.asarray(row["input_ids"], dtype=np.int64).tobytes())


def replay_picks(seed: int, epoch: int, key: int, count: int, pool: int) -> list[int]:
    """`count` indices into `pool` replay rows, drawn from (seed, replay stream, epoch, key); without repeats when
    the pool is large enough."""
    rng = np.random.default_rng([seed, REPLAY_STREAM, epoch, key])
    return rng.choice(pool, size=count, replace=count > pool).tolist()


def chat_example(tokenizer: PreTrainedTokenizerBase, messages: list[dict], max_length: int | None) -> dict:
    """`input_ids` of a chat ending in an assistant turn, with `labels` on that turn only (plain chat SFT), cut to
    `max_length` tokens."""
    if not messages or messages[-1].get("role") != "assistant":
        raise ValueError(f"A replay chat must end with an assistant turn, got {messages!r}.")
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("The chat template renders a replay chat's prompt differently inside the whole chat.")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    input_ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": input_ids, "labels": labels}


def text_example(tokenizer: PreTrainedTokenizerBase, text: str, max_length: int | None) -> dict:
    """A plain text replay row: every token supervised, ended by the end of text, cut to `max_length` tokens."""
    input_ids = (tokenizer(text)["input_ids"] + [tokenizer.eos_token_id])[:max_length]
    return {"input_ids": input_ids, "labels": list(input_ids)}


@dataclass
class ReplayCollator:
    """Collates a batch with `collator` and adds `replay_count(len(rows), ratio)` of the tokenized `replay_rows`
    (`input_ids`, `labels`), padded apart, as `replay_input_ids`, `replay_attention_mask` and `replay_labels`.
    `set_epoch` is called at every epoch (`ReplayEpochCallback`)."""

    collator: Callable
    replay_rows: Sequence[dict]
    ratio: float
    pad_token_id: int
    seed: int = 0
    epoch: int = field(default=0, init=False)

    def __post_init__(self):
        if not self.replay_rows:
            raise ValueError("Replay is on (`replay_ratio` > 0) but `replay_data` gave no rows.")
        self._pad = DataCollatorForLanguageModeling(pad_token_id=self.pad_token_id)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def picks(self, rows: list[dict[str, Any]]) -> list[int]:
        """The replay rows `rows` get at the current epoch."""
        count = replay_count(len(rows), self.ratio)
        return replay_picks(self.seed, self.epoch, row_key(rows[0]), count, len(self.replay_rows))

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(rows)
        replay = self._pad([self.replay_rows[i] for i in self.picks(rows)])
        return join_replay(batch, replay)


def join_replay(own: dict[str, Any], replay: dict[str, Any]) -> dict[str, Any]:
    """A batch of the method's inputs `own` with the replay rows' inputs `replay` under `replay_*` keys."""
    return {**own, **{REPLAY_PREFIX + key: value for key, value in replay.items()}}


def split_replay(inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The method's own inputs and the replay rows' (`replay_*` keys, without the prefix) of a collated batch."""
    own = {key: value for key, value in inputs.items() if not key.startswith(REPLAY_PREFIX)}
    replay = {key[len(REPLAY_PREFIX) :]: value for key, value in inputs.items() if key.startswith(REPLAY_PREFIX)}
    return own, replay


class ReplayEpochCallback(TrainerCallback):
    """Tells the replay collator which epoch is starting, so every epoch draws its own replay rows."""

    def __init__(self, collator: ReplayCollator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.set_epoch(int(state.epoch + 1e-6))
