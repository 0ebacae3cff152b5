"""The replay keys every trainer config shares (`ReplayConfigMixin`): rows of general data or of the base model's own
answers mixed into the training batches (`replay_data`, `replay_ratio`), and a KL term that keeps the trained model
close to the base model on them (`kl_to_base`). See docs/keeping_knowledge.md."""

from __future__ import annotations

from dataclasses import dataclass, field

SELF_REPLAY = "self"


@dataclass
class ReplayConfigMixin:
    """Mixed in before a `TrainingArguments` subclass; the keys are checked when the config is built."""

    replay_data: str | None = field(
        default=None,
        metadata={
            "help": "Rows mixed into every training batch to keep what the model knew: a local file or Hub dataset of "
            "chat `messages`, `prompt`/`completion` or plain text rows, or `self` (the base model's own greedy "
            "answers to generic instructions, generated once before training). Needs `replay_ratio` > 0."
        },
    )
    replay_ratio: float = field(
        default=0.0,
        metadata={
            "help": "Share of the rows of each training batch that are replay rows, in [0, 1): a batch of B document "
            "rows gets round(B * ratio / (1 - ratio)) replay rows (ratio 0.5: as many as documents). 0 = off."
        },
    )
    replay_text_field: str = field(
        default="text",
        metadata={"help": "Column of plain text rows in `replay_data` (when it has no `messages` or `prompt`)."},
    )
    replay_split: str = field(default="train", metadata={"help": "Split of `replay_data` to read."})
    replay_instructions_file: str | None = field(
        default=None,
        metadata={
            "help": 'JSONL of `{"instruction": ...}` the base model answers for `replay_data: self`; default: the '
            "built-in 120+ everyday instructions (disjoint from those retention measures on)."
        },
    )
    replay_max_new_tokens: int = field(
        default=128, metadata={"help": "Most new tokens of each self-replay answer (greedy)."}
    )
    kl_to_base: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the mean per-token KL(base || trained) over the replay rows' answer tokens added to "
            "the loss (0 = off; needs replay). Under PEFT the base is the model with its adapters disabled; "
            "otherwise a frozen copy of the model."
        },
    )

    def __post_init__(self):
        check_replay_options(self)
        super().__post_init__()


def check_replay_options(args) -> None:
    """Errors naming the replay key that is wrong and how to fix it."""
    if not 0.0 <= args.replay_ratio < 1.0:
        raise ValueError(
            f"`replay_ratio` must lie in [0, 1) (the share of each batch's rows that are replay rows; 0 turns replay "
            f"off), got {args.replay_ratio}."
        )
    if args.replay_ratio > 0 and not args.replay_data:
        raise ValueError(
            f"`replay_ratio: {args.replay_ratio}` needs `replay_data`: a local file or Hub dataset of general rows, "
            "or `self` for the base model's own answers."
        )
    if args.replay_data and args.replay_ratio == 0:
        raise ValueError(
            f"`replay_data: {args.replay_data}` is set but `replay_ratio` is 0, so no replay row would be trained: "
            "set `replay_ratio` (e.g. 0.5) or remove `replay_data`."
        )
    if args.replay_instructions_file is not None and args.replay_data != SELF_REPLAY:
        raise ValueError(
            "`replay_instructions_file` is what the base model answers for self-replay: set `replay_data: self`, or "
            "remove `replay_instructions_file`."
        )
    if args.replay_max_new_tokens < 1:
        raise ValueError(f"`replay_max_new_tokens` must be at least 1, got {args.replay_max_new_tokens}.")
    if args.kl_to_base < 0:
        raise ValueError(f"`kl_to_base` must be 0 (off) or positive, got {args.kl_to_base}.")
    if args.kl_to_base > 0 and args.replay_ratio == 0:
        raise ValueError(
            f"`kl_to_base: {args.kl_to_base}` is measured on the replay rows, and there are none: set `replay_data` "
            "(e.g. `self`) and `replay_ratio` (e.g. 0.5), or set `kl_to_base: 0`."
        )
