"""LLaDA-style sampling from a masked-diffusion model: block-wise semi-autoregressive unmasking.

The answer starts as ``max_new_tokens`` mask tokens after the prompt and is decoded block by block (left to right);
within a block, each of its ``steps / num_blocks`` steps predicts every masked position and commits the most confident
predictions (or random ones) of the current block. A causal LM adapted with ``shift_logits`` predicts position i from
the logits at position i - 1. Every row and every process runs exactly ``steps`` forward passes,
which keeps sharded models (ZeRO-3, FSDP) in step without ``synced_gpus`` bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..training.selected_logits import accepts_logits_to_keep
from .noise import bidirectional_attention_mask, check_bidirectional_support

REMASKING = ("low_confidence", "random")


def transfer_schedule(block_length: int, steps_per_block: int) -> list[int]:
    """How many positions of a block to commit at each of its steps: as even as possible, larger counts first."""
    base, remainder = divmod(block_length, steps_per_block)
    return [base + 1] * remainder + [base] * (steps_per_block - remainder)


def validate_schedule(max_new_tokens: int, steps: int, block_length: int) -> int:
    """Raise a clear error unless the steps spread evenly over whole blocks; the number of steps per block."""
    if max_new_tokens < 1 or block_length < 1 or steps < 1:
        raise ValueError(f"`max_new_tokens`, `steps` and `block_length` must be positive, got {max_new_tokens}, "
                         f"{steps}, {block_length}.")  # fmt: skip
    if max_new_tokens % block_length:
        raise ValueError(f"`max_new_tokens` ({max_new_tokens}) must be a multiple of `block_length` ({block_length}).")
    num_blocks = max_new_tokens // block_length
    if steps % num_blocks:
        raise ValueError(
            f"`steps` ({steps}) must be a multiple of the number of blocks ({num_blocks} = {max_new_tokens} new "
            f"tokens / block length {block_length}), so that every block gets the same number of steps."
        )
    steps_per_block = steps // num_blocks
    if steps_per_block > block_length:
        raise ValueError(
            f"{steps_per_block} steps per block but only {block_length} positions per block: at most `steps` = "
            f"`max_new_tokens` ({max_new_tokens}) is useful."
        )
    return steps_per_block


def block_logits(
    model: PreTrainedModel,
    x: torch.Tensor,
    attention_mask: torch.Tensor,
    block: slice,
    prompt_positions: torch.Tensor,
    mask_token_id: int,
    cfg_scale: float = 0.0,
    bidirectional: bool = True,
    shift_logits: bool = False,
) -> torch.Tensor:
    """Float64 predictions ``(B, block length, V)`` for the ``block`` positions of the canvas ``x``, with unsupervised
    classifier-free guidance when ``cfg_scale > 0``. With ``shift_logits`` the token at position i is predicted by the
    logits at position i - 1 (``block.start`` must be at least 1). The mask token is never predicted."""
    if cfg_scale > 0:
        unconditional = x.masked_fill(prompt_positions, mask_token_id)
        x, attention_mask = torch.cat([x, unconditional]), torch.cat([attention_mask, attention_mask])
    if shift_logits:
        block = slice(block.start - 1, block.stop - 1)
    kwargs = {"use_cache": False}
    if accepts_logits_to_keep(model):
        kwargs["logits_to_keep"] = torch.arange(block.start, block.stop, device=x.device)
    mask = bidirectional_attention_mask(attention_mask, model.dtype) if bidirectional else attention_mask
    logits = model(input_ids=x, attention_mask=mask, **kwargs).logits
    logits = (logits if "logits_to_keep" in kwargs else logits[:, block]).double()
    if cfg_scale > 0:
        conditional, unconditional = logits.chunk(2)
        logits = unconditional + (cfg_scale + 1) * (conditional - unconditional)
    logits[..., mask_token_id] = -torch.inf
    return logits


@torch.no_grad()
def diffusion_generate(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    mask_token_id: int,
    attention_mask: torch.Tensor | None = None,
    max_new_tokens: int = 128,
    steps: int | None = None,
    block_length: int = 4,
    temperature: float = 0.0,
    cfg_scale: float = 0.0,
    remasking: str = "low_confidence",
    bidirectional: bool = True,
    generator: torch.Generator | None = None,
    shift_logits: bool = False,
) -> torch.Tensor:
    """The ``(B, max_new_tokens)`` answers to left-padded prompts ``input_ids`` (``(B, P)``).

    Args:
        model: the mask predictor; a causal LM is run with a bidirectional 4D mask when ``bidirectional``.
        input_ids, attention_mask: the prompts, left-padded (``attention_mask`` 0 on padding).
        mask_token_id: id of the mask token.
        max_new_tokens: answer length, a multiple of ``block_length`` (the paper's QA evaluation: 128).
        steps: forward passes, a multiple of the number of blocks; defaults to ``max_new_tokens`` (one token per step).
        block_length: positions per block, decoded left to right (the paper's QA evaluation: 4).
        temperature: 0 takes the argmax; otherwise samples with Gumbel noise in float64.
        cfg_scale: unsupervised classifier-free guidance (unconditional pass: the prompt replaced by masks).
        remasking: ``"low_confidence"`` commits the most confident predictions (and remasks the others), ``"random"``
            random ones.
        bidirectional: pass the bidirectional 4D mask; ``False`` passes the 2D padding mask, for natively
            bidirectional models (LLaDA).
        generator: source of the Gumbel noise and random remasking (on the model's device).
        shift_logits: predict (confidence and token) the answer position i from the logits at position i - 1, as a
            model trained with ``DiffusionSFTConfig(shift_logits=True)`` does; the prompt must not be empty.
    """
    if remasking not in REMASKING:
        raise ValueError(f"`remasking` must be one of {REMASKING}, got {remasking!r}.")
    steps = max_new_tokens if steps is None else steps
    schedule = transfer_schedule(block_length, validate_schedule(max_new_tokens, steps, block_length))
    if bidirectional:
        check_bidirectional_support(model.config)
    batch_size, prompt_length = input_ids.shape
    if shift_logits and prompt_length < 1:
        raise ValueError("With `shift_logits`, the prompt predicts the first answer token: it cannot be empty.")
    device = input_ids.device
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    x = torch.cat([input_ids, input_ids.new_full((batch_size, max_new_tokens), mask_token_id)], dim=1)
    attention_mask = torch.cat([attention_mask, attention_mask.new_ones((batch_size, max_new_tokens))], dim=1)
    prompt_positions = torch.zeros_like(x, dtype=torch.bool)
    prompt_positions[:, :prompt_length] = attention_mask[:, :prompt_length].bool()
    for start in range(prompt_length, prompt_length + max_new_tokens, block_length):
        block = slice(start, start + block_length)
        for count in schedule:
            logits = block_logits(
                model, x, attention_mask, block, prompt_positions, mask_token_id, cfg_scale, bidirectional,
                shift_logits,
            )  # fmt: skip
            if temperature > 0:
                uniform = torch.rand(logits.shape, generator=generator, device=device, dtype=torch.float64)
                predictions = (logits / temperature - torch.log(-torch.log(uniform))).argmax(dim=-1)
            else:
                predictions = logits.argmax(dim=-1)
            if remasking == "low_confidence":
                confidence = logits.softmax(dim=-1).gather(-1, predictions[..., None]).squeeze(-1)
            else:
                confidence = torch.rand(predictions.shape, generator=generator, device=device, dtype=torch.float64)
            still_masked = x[:, block] == mask_token_id
            confidence = confidence.masked_fill(~still_masked, -torch.inf)
            chosen = torch.zeros_like(still_masked).scatter_(1, confidence.topk(count, dim=-1).indices, True)
            x[:, block] = torch.where(chosen & still_masked, predictions, x[:, block])
    return x[:, prompt_length:]


def cut_at_stop(answers: torch.Tensor, stop_token_ids: Sequence[int]) -> list[list[int]]:
    """Each row of ``answers`` up to (excluding) its first stop token."""
    rows = []
    for row in answers.tolist():
        stops = [i for i, token_id in enumerate(row) if token_id in stop_token_ids]
        rows.append(row[: stops[0]] if stops else row)
    return rows


def stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The tokenizer's EOS and the model's generation EOS ids (end of turn for chat models)."""
    ids = {tokenizer.eos_token_id}
    generation_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(generation_eos if isinstance(generation_eos, list) else [generation_eos])
    return sorted(i for i in ids if i is not None)
