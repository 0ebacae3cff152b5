"""Configuration of the diffusion SFT trainer."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig

from ..runtime.run_config import RunConfigMixin
from ..training.mask_token import MaskTokenConfigMixin
from ..training.replay_config import ReplayConfigMixin
from .noise import LOSS_NORMALIZATIONS, T_SCOPES


@dataclass
class DiffusionSFTConfig(RunConfigMixin, ReplayConfigMixin, MaskTokenConfigMixin, SFTConfig):
    r"""
    Configuration class for the [`DiffusionSFTTrainer`]: masked-diffusion SFT as in LLaDA (arXiv 2502.09992).

    Every supervised token (the completion of prompt/completion data, the assistant turns of conversational `messages`
    data, everything but BOS for raw text) is replaced by the mask token with probability p = (1 - eps) t + eps,
    t ~ U(`t_min`, `t_max`) drawn afresh at every step; the model recovers the masked tokens from the whole
    (bidirectional) context, each weighted by 1 / p. The prompt is never masked: for `messages` data the trainer turns
    on `assistant_only_loss`. See `docs/diffusion.md`.

    Precision comes from the hardware (`trl_maskft.runtime.precision`): on a CPU, bf16 autocast only where `bf16: true`
    asks for it (with a warning where the CPU has no native bf16 matmuls) and `fp16` refused; accelerator runs keep
    TRL's default (bf16 unless `fp16`). The run prints the precision it chose.

    Parameters:
        mask_token (`str`, *optional*):
            Mask string; must be exactly one token, unless `add_mask_token` adds it.
        mask_token_id (`int`, *optional*):
            Mask token id; takes precedence over `mask_token` (LLaDA: 126336).
        allow_mask_token_in_data (`bool`, *optional*, defaults to `False`):
            Train although the mask token occurs in the tokenized data (prompts or completions), with a warning; by
            default that is an error, since the model cannot tell such a token from a mask.
        add_mask_token (`bool`, *optional*, defaults to `False`):
            Add `mask_token` to the tokenizer as a new special token and resize the model's embeddings when it is not
            in the vocabulary yet (e.g. `"<|mask|>"` for a causal LM turned into a diffusion model).
        bidirectional (`bool`, *optional*, defaults to `True`):
            Pass a 4D attention mask that lets every token attend every token, which turns a stock causal LM
            (`sdpa` or `eager` attention) into a bidirectional mask predictor. Set to `False` for natively
            bidirectional models such as LLaDA's remote code, which then receive the usual 2D padding mask (a 4D
            mask is refused for them).
        shift_logits (`bool`, *optional*, defaults to `False`):
            Predict the token at position i from the logits at position i - 1 (the "shift operation" of DiffuLLaMA
            and Dream), which keeps the next-token alignment of a causal LM's head: set it for a stock causal LM
            turned into a diffusion model. `False` (LLaDA) predicts position i from position i, for natively
            bidirectional mask predictors. Position 0 (the prompt, or BOS) is never masked. Sample the trained model
            with the same setting (`diffusion_generate(..., shift_logits=True)`).
        t_scope (`str`, *optional*, defaults to `"example"`):
            Draw t per example (`"example"`, LLaDA) or once per micro-batch (`"batch"`, the paper's code).
        t_min (`float`, *optional*, defaults to `0.0`), t_max (`float`, *optional*, defaults to `1.0`):
            Range of t (the paper: 0.05 and 0.95).
        eps (`float`, *optional*, defaults to `1e-3`):
            Floor of the masking probability, in [0, 1).
        loss_normalization (`str`, *optional*, defaults to `"answer_length"`):
            `"answer_length"`: each row's weighted loss is divided by its number of supervised tokens, then averaged
            over rows (LLaDA SFT); `"masked_tokens"`: divided by the number of masked tokens; `"batch"`: divided by the
            number of supervised tokens of the batch. Normalizers are counted over the whole accumulated batch and all
            processes.
        supervise_padding (`bool`, *optional*, defaults to `True`):
            Right-pad with EOS and supervise (and mask) the padding like any other answer token (LLaDA SFT), so the
            model learns to end its answers with EOS in a fixed-length canvas. `False` masks padding out. Rows are
            padded to the longest row of their micro-batch, so with rows of different lengths, gradient accumulation
            is not equivalent to a larger batch (2 x 1 and 1 x 2 supervise different numbers of EOS tokens): pad every
            batch to one length (`pad_to_multiple_of` at least the longest row, e.g. `max_length`) or set `False`
            where that matters.
    """

    add_mask_token: bool = field(
        default=False, metadata={"help": "Add `mask_token` as a special token and resize the embeddings if needed."}
    )
    bidirectional: bool = field(
        default=True,
        metadata={"help": "Use a bidirectional 4D attention mask; False for natively bidirectional models (LLaDA)."},
    )
    shift_logits: bool = field(
        default=False,
        metadata={
            "help": "Predict the token at position i from the logits at position i - 1 (a causal LM adapted to "
            "diffusion: DiffuLLaMA, Dream); False for natively bidirectional models (LLaDA)."
        },
    )
    t_scope: str = field(
        default="example", metadata={"help": "One t per example or per batch.", "choices": list(T_SCOPES)}
    )
    t_min: float = field(default=0.0, metadata={"help": "Lower bound of t, in [0, 1]."})
    t_max: float = field(default=1.0, metadata={"help": "Upper bound of t, in [0, 1]."})
    eps: float = field(default=1e-3, metadata={"help": "Masking probability floor: p = (1 - eps) t + eps."})
    loss_normalization: str = field(
        default="answer_length",
        metadata={"help": "How the weighted loss is normalized.", "choices": list(LOSS_NORMALIZATIONS)},
    )
    supervise_padding: bool = field(
        default=True,
        metadata={
            "help": "Pad with EOS and supervise the padding (LLaDA SFT). Padding is per micro-batch, so gradient "
            "accumulation equals a larger batch only for rows of equal length or a `pad_to_multiple_of` at least the "
            "longest row."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.packing or self.padding_free:
            raise ValueError(
                "Diffusion SFT does not support `packing` or `padding_free`: every row is one answer whose tokens are "
                "masked together and which attends only to itself. Set `packing=False` and `padding_free=False`."
            )
        if self.completion_only_loss is False:
            raise ValueError(
                "Diffusion SFT never masks the prompt (it is the condition), so `completion_only_loss=False` does not "
                "apply; leave it unset."
            )
        if self.loss_type != "nll" or self.label_smoothing_factor > 0:
            raise ValueError("Diffusion SFT has its own loss; `loss_type` and `label_smoothing_factor` do not apply.")
        if self.mask_token is None and self.mask_token_id is None:
            raise ValueError("Set `mask_token` (a string that is one token) or `mask_token_id` (LLaDA: 126336).")
        if self.add_mask_token and (self.mask_token is None or self.mask_token_id is not None):
            raise ValueError(
                "`add_mask_token` adds `mask_token` to the tokenizer: set `mask_token`, not `mask_token_id`."
            )
        if self.t_scope not in T_SCOPES:
            raise ValueError(f"`t_scope` must be one of {T_SCOPES}, got {self.t_scope!r}.")
        if self.loss_normalization not in LOSS_NORMALIZATIONS:
            raise ValueError(
                f"`loss_normalization` must be one of {LOSS_NORMALIZATIONS}, got {self.loss_normalization!r}."
            )
        if not 0.0 <= self.t_min <= self.t_max <= 1.0:
            raise ValueError(f"Need 0 <= `t_min` <= `t_max` <= 1, got t_min={self.t_min}, t_max={self.t_max}.")
        if not 0.0 <= self.eps < 1.0:
            raise ValueError(f"`eps` must lie in [0, 1), got {self.eps}.")
        if self.t_max == 0.0 and self.eps == 0.0:
            raise ValueError("With `t_max=0` and `eps=0` nothing is ever masked; raise `t_max` or `eps`.")
