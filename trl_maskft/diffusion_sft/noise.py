"""Masked-diffusion fine-tuning (LLaDA, arXiv 2502.09992): pure functions, no trainer.

A training step draws a time t per example (LLaDA) or per batch (the paper's code), masks every supervised token
independently with probability p = (1 - eps) t + eps, and trains the model to recover the masked tokens, each weighted
by 1 / p. Noise comes from owned ``torch.Generator``s keyed on ``(seed, stream, step, rank, row)``: ranks differ, runs
are reproducible, a run resumed at step k draws what an uninterrupted run draws at step k, and the draws of a row do
not depend on how the rows are split into micro-batches (so gradient accumulation changes nothing).

A stock causal LM becomes a bidirectional mask predictor by passing :func:`bidirectional_attention_mask` as its
``attention_mask``: transformers (5.x, ``masking_utils._preprocess_mask_arguments``) hands a 4D mask to the attention
functions as is, and ``sdpa``/``eager`` attention then add it to the scores instead of applying a causal mask. Such a
converted causal LM should keep its head's next-token alignment (``shift_logits``, the "shift operation" of DiffuLLaMA
and Dream): the logits at position i - 1 predict the (masked) token at position i, see :func:`prediction_positions`.
Natively bidirectional remote code (LLaDA) takes the usual 2D padding mask instead (``bidirectional=False``).
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import torch
import torch.nn.functional as F

from ..common import TRAIN_STREAM

T_SCOPES = ("example", "batch")
LOSS_NORMALIZATIONS = ("answer_length", "masked_tokens", "batch")
BIDIRECTIONAL_ATTENTION = ("sdpa", "eager")
# Remote-code mask predictors that attend bidirectionally by themselves and read only a 2D padding mask
NATIVELY_BIDIRECTIONAL = ("llada",)


def check_bidirectional_support(config) -> None:
    """Raise a clear error unless the model's attention honours a custom 4D additive mask (``sdpa`` or ``eager``)."""
    model_type = getattr(config, "model_type", None)
    if model_type in NATIVELY_BIDIRECTIONAL:
        raise ValueError(
            f"The {model_type!r} model is natively bidirectional: its remote code reads a 2D padding mask and fails "
            "on the 4D bidirectional mask. Set `bidirectional=False`."
        )
    implementation = getattr(config, "_attn_implementation", None)
    if implementation not in BIDIRECTIONAL_ATTENTION:
        raise ValueError(
            f"Bidirectional diffusion needs `sdpa` or `eager` attention, which apply the custom 4D attention mask; "
            f"the model uses {implementation!r} (flash attention kernels are causal-only or ignore a 4D mask). Load "
            "the model with `attn_implementation='sdpa'`, or set `bidirectional=False` for a natively bidirectional "
            "model."
        )


def bidirectional_attention_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A ``(B, 1, L, L)`` additive mask from a ``(B, L)`` padding mask: every query attends every real key.

    Padding keys get the most negative value of ``dtype``; padding queries attend the real keys too, so no row is
    fully masked (no NaN). The result is an expanded view of a ``(B, 1, 1, L)`` tensor, not a materialized one.
    """
    batch_size, length = attention_mask.shape
    padding = ~attention_mask.bool()[:, None, None, :]
    mask = torch.zeros(padding.shape, dtype=dtype, device=attention_mask.device)
    return mask.masked_fill(padding, torch.finfo(dtype).min).expand(batch_size, 1, length, length)


def supervise_padding(
    input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor, eos_token_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LLaDA SFT: right padding becomes EOS tokens that are attended and supervised (they can be masked too)."""
    padding = attention_mask == 0
    return (
        input_ids.masked_fill(padding, eos_token_id),
        labels.masked_fill(padding, eos_token_id),
        torch.ones_like(attention_mask),
    )


def noise_generator(seed: int, stream: int, step: int, rank: int, row: int) -> torch.Generator:
    """An owned CPU generator for one row of one step on one rank."""
    state = np.random.SeedSequence([seed, stream, step, rank, row]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) >> 1)


def draw_masks(
    supervised: torch.Tensor,
    seed: int,
    step: int,
    rank: int = 0,
    row_offset: int = 0,
    stream: int = TRAIN_STREAM,
    t_scope: str = "example",
    t_min: float = 0.0,
    t_max: float = 1.0,
    eps: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which supervised positions to mask, and the masking probability p of each row.

    Row ``i`` uses the generator of row ``row_offset + i``: it draws t ~ U(t_min, t_max), then one uniform number per
    supervised position (in order), masked when below p = (1 - eps) t + eps. With ``t_scope="batch"`` every row uses
    the t of the first row. Returns ``(masked, p)`` of shapes ``(B, L)`` (bool, on the device of ``supervised``) and
    ``(B,)`` (float32).
    """
    if t_scope not in T_SCOPES:
        raise ValueError(f"`t_scope` must be one of {T_SCOPES}, got {t_scope!r}.")
    supervised_cpu = supervised.bool().cpu()
    times, uniforms = [], []
    for i, count in enumerate(supervised_cpu.sum(dim=1).tolist()):
        generator = noise_generator(seed, stream, step, rank, row_offset + i)
        times.append(t_min + (t_max - t_min) * torch.rand((), generator=generator))
        uniforms.append(torch.rand(count, generator=generator))
    t = torch.stack(times)
    if t_scope == "batch":
        t = t[:1].expand_as(t)
    p = (1 - eps) * t + eps
    counts = supervised_cpu.sum(dim=1)
    masked = torch.zeros_like(supervised_cpu)
    masked[supervised_cpu] = torch.cat(uniforms) < p.repeat_interleave(counts)
    return masked.to(supervised.device), p.to(supervised.device)


def loss_weights(
    masked: torch.Tensor, supervised: torch.Tensor, p: torch.Tensor, normalization: str = "answer_length"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token weights (zero on unmasked positions) and the denominator of the loss of one batch.

    The loss is ``sum(weights * cross_entropy) / denominator``. Masked tokens weigh ``1 / p``, and additionally
    ``1 / answer_length`` of their row with ``"answer_length"`` (LLaDA SFT: each row averaged over its supervised
    tokens, then the mean over rows, so the denominator is the number of rows). ``"masked_tokens"`` divides by the
    number of masked tokens, ``"batch"`` by the number of supervised tokens. Denominators add up over micro-batches
    and ranks, which is what makes gradient accumulation exact.
    """
    if normalization not in LOSS_NORMALIZATIONS:
        raise ValueError(f"`loss_normalization` must be one of {LOSS_NORMALIZATIONS}, got {normalization!r}.")
    row_weight = 1.0 / p.float()
    if normalization == "answer_length":
        row_weight = row_weight / supervised.sum(dim=1).clamp(min=1)
        denominator = torch.tensor(float(masked.shape[0]), device=masked.device)
    elif normalization == "masked_tokens":
        denominator = masked.sum().float()
    else:
        denominator = supervised.sum().float()
    weights = torch.where(masked, row_weight[:, None], torch.zeros((), device=masked.device))
    return weights, denominator


def diffusion_loss(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, denominator: torch.Tensor | float
) -> torch.Tensor:
    """``sum(weights * cross_entropy(logits, targets)) / denominator``, the cross-entropy in float32.

    ``logits`` ``(M, V)``, ``targets`` and ``weights`` ``(M,)`` are those of the M masked positions, in row-major
    order: the logits of the positions that predict them, see :func:`prediction_positions`.
    """
    cross_entropy = F.cross_entropy(logits.float(), targets, reduction="none")
    return (cross_entropy * weights).sum() / torch.as_tensor(denominator).clamp(min=1e-8)


def prediction_positions(masked: torch.Tensor, shift_logits: bool = False) -> torch.Tensor:
    """The ``(B, L)`` boolean positions whose logits predict the ``masked`` tokens.

    Unshifted (LLaDA), the logits at position i predict the token at position i: ``masked`` itself. Shifted (a causal
    LM adapted to diffusion, as in DiffuLLaMA and Dream), the logits at position i - 1 predict the token at position i,
    keeping the next-token alignment of the pretrained head: ``masked`` moved one position left. Selecting either with
    ``logits[positions]`` (or ``logits_to_keep=positions``) gives the masked tokens' logits in the row-major order of
    ``labels[masked]``. Position 0 cannot be predicted when shifted, so it must not be masked.
    """
    if not shift_logits:
        return masked
    if masked.shape[1] and masked[:, 0].any():
        raise ValueError(
            "With `shift_logits`, the token at position i is predicted by the logits at position i - 1, so position 0 "
            "(the prompt or BOS) must never be masked."
        )
    positions = torch.zeros_like(masked)
    positions[:, :-1] = masked[:, 1:]
    return positions


def make_loadable_on_transformers_5(model_class: type) -> type:
    """Patch a remote-code model class written for transformers 4.x (LLaDA's ``LLaDAModelLM``) so that transformers
    5.x can load it, in place; classes that need nothing are left alone.

    transformers 5 reads ``all_tied_weights_keys``, an instance attribute set by ``post_init`` (which LLaDA's
    ``__init__`` never calls): the class gets an empty default. It also calls ``tie_weights(missing_keys=...,
    recompute_mapping=...)``: a ``tie_weights(self)`` gets a wrapper that drops them.
    """
    if not hasattr(model_class, "all_tied_weights_keys"):
        model_class.all_tied_weights_keys = {}
    tie_weights = model_class.tie_weights
    if "missing_keys" not in inspect.signature(tie_weights).parameters:

        @functools.wraps(tie_weights)
        def tie_weights_dropping_new_arguments(self, missing_keys=None, recompute_mapping=True):
            return tie_weights(self)

        model_class.tie_weights = tie_weights_dropping_new_arguments
    return model_class
