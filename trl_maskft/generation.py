"""Batched greedy answers to chat questions, the way QA evaluation asks them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def chat_prompts(
    tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], system_prompt: str | None = None
) -> list[str]:
    """Each question as a user turn in the model's chat template, with the generation prompt."""
    system = [] if system_prompt is None else [{"role": "system", "content": system_prompt}]
    return [
        tokenizer.apply_chat_template(
            [*system, {"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in questions
    ]


@torch.no_grad()
def greedy_generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int = 128,
    batch_size: int = 16,
    synced_gpus: bool = False,
) -> list[str]:
    """Greedy completions of rendered ``prompts``, batched with left padding; the tokenizer's padding side is restored.

    ``synced_gpus`` keeps every rank stepping until all are done (needed when parameters are sharded, ZeRO-3/FSDP).
    """
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(
                list(prompts[start : start + batch_size]), return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            generated = model.generate(
                **batch,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad_token_id,
                synced_gpus=synced_gpus,
                temperature=None,
                top_p=None,
                top_k=None,
            )
            new_tokens = generated[:, batch["input_ids"].shape[1] :]
            outputs += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = padding_side
    return [text.strip() for text in outputs]
