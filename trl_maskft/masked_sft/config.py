"""Configuration of the masked SFT trainer."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig

from ..runtime.run_config import RunConfigMixin
from ..training.chunking import validate_chunk_length
from ..training.mask_token import MASK_TOKEN_HELP, MaskTokenConfigMixin
from ..training.packing import check_packing_options
from ..training.replay_config import ReplayConfigMixin
from .masking import MASK_UNITS, RATIO_MODES, RATIO_SCOPES, validate_ratio_bounds
from .unit_checks import check_mask_unit_options

DOCUMENT_INSTRUCTION = "{masked}\nReturn the recovered masked passage."
DOCUMENT_RESPONSE_PREFIX = "Here is the recovered text:\n"
COMPLETION_INSTRUCTION = "Question:\n{prompt}\nAnswer:\n{masked}\nReturn the recovered masked answer."


@dataclass
class MaskedSFTConfig(RunConfigMixin, ReplayConfigMixin, MaskTokenConfigMixin, SFTConfig):
    r"""
    Configuration class for the [`MaskedSFTTrainer`] (arXiv 2510.09885).

    Every document (``text`` column) becomes a reconstruction chat: the user turn holds the document with a random
    fraction t of its tokens replaced by the mask token plus an instruction; the assistant turn is a response prefix
    followed by the original document. For prompt/completion data the completion is masked inside
    ``Question:\n{prompt}\nAnswer:\n{masked}``. Masks are drawn afresh at every step.

    Precision comes from the hardware (`trl_maskft.runtime.precision`): on a CPU, bf16 autocast only where `bf16: true`
    asks for it (with a warning where the CPU has no native bf16 matmuls) and `fp16` refused; accelerator runs keep
    TRL's default (bf16 unless `fp16`). The run prints the precision it chose.

    Parameters:
        mask_token (`str`, *optional*, defaults to `"[]"`):
            Mask string; must be exactly one token of the tokenizer.
        mask_token_id (`int`, *optional*):
            Mask token id; takes precedence over `mask_token` (e.g. 128013, a reserved Llama-3 token).
        allow_mask_token_in_data (`bool`, *optional*, defaults to `False`):
            Train although the mask token occurs in the tokenized data (documents, completions or the chat around
            them), with a warning; by default that is an error, since the model cannot tell such a token from a mask.
        instruction (`str`, *optional*):
            User turn with a `{masked}` field (and `{prompt}` for prompt/completion data). Defaults to
            `"{masked}\nReturn the recovered masked passage."` for documents and
            `"Question:\n{prompt}\nAnswer:\n{masked}\nReturn the recovered masked answer."` for prompt/completion.
        response_prefix (`str`, *optional*):
            Opening of the assistant turn, without loss. Defaults to `"Here is the recovered text:\n"` for documents
            and `""` for prompt/completion data.
        system_prompt (`str`, *optional*):
            System message added to every chat; `None` keeps the chat template's own default.
        mask_ratio_mode (`str`, *optional*, defaults to `"uniform"`):
            `"uniform"`: t ~ U(`mask_ratio_min`, `mask_ratio_max`); `"fixed"`: t = `mask_ratio`; `"linear"`: t goes
            from `mask_ratio_min` to `mask_ratio_max` over the epochs of the run (as many as `max_steps` takes when
            set); evaluation then draws t ~ U(`mask_ratio_min`, `mask_ratio_max`).
        mask_ratio_scope (`str`, *optional*, defaults to `"batch"`):
            Draw one t per batch (`"batch"`, the paper's code) or per example (`"example"`).
        mask_ratio_min (`float`, *optional*, defaults to `0.05`):
            Lower bound of t, strictly inside (0, 1).
        mask_ratio_max (`float`, *optional*, defaults to `0.95`):
            Upper bound of t, strictly inside (0, 1).
        mask_ratio (`float`, *optional*, defaults to `0.5`):
            t in `"fixed"` mode.
        loss_on (`str`, *optional*):
            `"all"`: every target token and the end of turn (knowledge injection, default for documents); `"masked"`:
            only target tokens whose twin was masked (default for prompt/completion data).
        mask_unit (`str`, *optional*, defaults to `"token"`):
            Mask single tokens (`"token"`, the paper), whole words (`"word"`: t of the words, each with all its
            tokens; a word starts at a token that begins with whitespace), contiguous spans (`"span"`: t of the
            tokens in spans of geometric lengths, mean `mask_span_mean`) or whole entities (`"entity"`: the
            character spans of `entity_spans_column` where the data has them, else runs of capitalised words, dates,
            quoted titles and numbers; entities in random order until t of the tokens are hidden, other tokens
            making up the count when they run out). See docs/masks.md.
        mask_span_mean (`float`, *optional*, defaults to `3.0`):
            Mean length in tokens of the spans of `mask_unit: span`, at least 1.
        entity_spans_column (`str`, *optional*, defaults to `"entity_spans"`):
            Column of `[start, end)` character spans of each document's entities, for `mask_unit: entity`; rows
            without it (or datasets without the column) use the heuristic.
        mask_views (`int`, *optional*, defaults to `1`):
            Copies (views) of each document per step, each masked differently; the loss weights each view 1/k
            (`loss_on: all`). A batch then holds k times `per_device_train_batch_size` chats.
        mask_views_complementary (`bool`, *optional*, defaults to `False`):
            Odd views hide exactly what the view before them shows (views in complementary pairs).
        chunk_length (`int`, *optional*):
            Split every document into consecutive non-overlapping chunks of at most this many tokens, each its own
            reconstruction example (the paper's continued pretraining: 512), so that no token is cut; it must fit
            `max_length` twice with the chat around it. Unset, a document too long for `max_length` is cut from its
            end in both copies, and the trainer logs how many rows were cut and how many tokens that lost
            (`MaskedSFTTrainer.data_reports`).

    Padding-free batches and packing (TRL's `padding_free`, `packing`, `packing_strategy`, `eval_packing`) keep every
    reconstruction chat whole and masked exactly as in a padded batch:

    - `padding_free=True`: the `per_device_train_batch_size` chats of a batch are concatenated into one row, with
      `position_ids` restarting at 0 for each chat and no attention mask, so the model attends within each chat only
      (eager and flex attention derive the block-diagonal mask from the position ids; flash-attention reads the
      chat boundaries; an SDPA model is switched to `sdpa_segments`, SDPA chat by chat, which scores no pair of
      tokens from two chats). The loss is the padded batch's loss.
    - `packing=True` (implies `padding_free`; `packing_strategy` must be `"bfd"`, since `"wrapped"` and `"bfd_split"`
      would cut chats): whole chats are packed into rows of at most `max_length` tokens by best-fit decreasing, and
      `per_device_train_batch_size` counts packed rows, as in TRL. A chat is never cut by packing; `max_length` still
      bounds each chat at tokenization (see `chunk_length`).
    """

    mask_token: str | None = field(default="[]", metadata={"help": MASK_TOKEN_HELP})
    instruction: str | None = field(
        default=None,
        metadata={"help": "User turn template with {masked} (and {prompt} for prompt/completion data)."},
    )
    response_prefix: str | None = field(
        default=None, metadata={"help": "Opening of the assistant turn before the target (no loss)."}
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "System message; None keeps the chat template's default."}
    )
    mask_ratio_mode: str = field(
        default="uniform", metadata={"help": "How t is chosen.", "choices": list(RATIO_MODES)}
    )
    mask_ratio_scope: str = field(
        default="batch", metadata={"help": "One t per batch or per example.", "choices": list(RATIO_SCOPES)}
    )
    mask_ratio_min: float = field(default=0.05, metadata={"help": "Lower bound of t, in (0, 1)."})
    mask_ratio_max: float = field(default=0.95, metadata={"help": "Upper bound of t, in (0, 1)."})
    mask_ratio: float = field(default=0.5, metadata={"help": "t in 'fixed' mode, in (0, 1)."})
    loss_on: str | None = field(
        default=None,
        metadata={
            "help": "'all' target tokens or only 'masked' twins; default by data type.",
            "choices": ["all", "masked"],
        },
    )

    mask_unit: str = field(
        default="token",
        metadata={
            "help": "Mask single tokens (the paper), whole words, geometric spans or whole entities (docs/masks.md).",
            "choices": list(MASK_UNITS),
        },
    )
    mask_span_mean: float = field(
        default=3.0, metadata={"help": "`mask_unit: span`: mean span length in tokens (geometric), at least 1."}
    )
    entity_spans_column: str = field(
        default="entity_spans",
        metadata={
            "help": "`mask_unit: entity`: column of [start, end) character spans of each document's entities; "
            "without it, runs of capitalised words, dates, quoted titles and numbers."
        },
    )
    mask_views: int = field(
        default=1,
        metadata={"help": "Differently masked copies of each document per step (loss weighted 1/k per copy)."},
    )
    mask_views_complementary: bool = field(
        default=False,
        metadata={"help": "With `mask_views` >= 2: each odd view hides exactly what the view before it shows."},
    )
    chunk_length: int | None = field(
        default=None,
        metadata={"help": "Split documents into chunks of at most this many tokens (the paper's CPT: 512)."},
    )
    # TRL's options, with what they mean for reconstruction chats
    packing: bool = field(
        default=False,
        metadata={
            "help": "Pack whole reconstruction chats into rows of at most `max_length` tokens (best-fit decreasing; "
            "implies `padding_free`); `per_device_train_batch_size` then counts rows."
        },
    )
    padding_free: bool = field(
        default=False,
        metadata={
            "help": "Concatenate each batch's whole chats into one row, position ids restarting per chat and no "
            "attention mask (SDPA, eager, flex or flash attention); the loss equals the padded batch's."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        check_packing_options(self)
        if self.assistant_only_loss:
            raise ValueError(
                "`assistant_only_loss` does not apply to masked SFT, which sets its own labels (see `loss_on`)."
            )
        if self.mask_ratio_mode not in RATIO_MODES:
            raise ValueError(f"`mask_ratio_mode` must be one of {RATIO_MODES}, got {self.mask_ratio_mode!r}.")
        if self.mask_ratio_scope not in RATIO_SCOPES:
            raise ValueError(f"`mask_ratio_scope` must be one of {RATIO_SCOPES}, got {self.mask_ratio_scope!r}.")
        validate_ratio_bounds(self.mask_ratio_min, self.mask_ratio_max)
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"`mask_ratio` must lie strictly between 0 and 1, got {self.mask_ratio}.")
        if self.mask_unit not in MASK_UNITS:
            raise ValueError(f"`mask_unit` must be one of {MASK_UNITS}, got {self.mask_unit!r}.")
        check_mask_unit_options(self)
        validate_chunk_length(self.chunk_length)
        if self.loss_on not in (None, "all", "masked"):
            raise ValueError(f"`loss_on` must be 'all' or 'masked', got {self.loss_on!r}.")
        if self.dataloader_persistent_workers and self.dataloader_num_workers > 0:
            raise ValueError(
                "Masked SFT draws the masks in the collator, keyed on the epoch it is told at every epoch; persistent "
                "dataloader workers keep the first epoch's collator and would repeat its masks every epoch. Set "
                "`dataloader_persistent_workers=False`."
            )
