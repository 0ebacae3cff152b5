"""Batched greedy answers to chat questions, the way QA evaluation asks them."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

import torch
from transformers import BatchEncoding, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from ..common import system_turn


def chat_prompts(
    tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], system_prompt: str | None = None
) -> list[str]:
    """Each question as a user turn in the model's chat template, with the generation prompt."""
    return [
        tokenizer.apply_chat_template(
            [*system_turn(system_prompt), {"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in questions
    ]


def left_padded_batches(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], batch_size: int, device: torch.device | str
) -> Iterator[BatchEncoding]:
    """Rendered ``prompts`` tokenized ``batch_size`` at a time (no special tokens added), left-padded for generation,
    on ``device``; the tokenizer's own padding side is left as it is."""
    for start in range(0, len(prompts), batch_size):
        texts = list(prompts[start : start + batch_size])
        batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        yield batch.to(device)


def greedy_config(max_new_tokens: int = 128) -> GenerationConfig:
    """Greedy decoding of at most ``max_new_tokens`` tokens (the paper's QA evaluation: 128)."""
    return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False)


@torch.no_grad()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    generation_config: GenerationConfig | None = None,
    batch_size: int = 16,
    synced_gpus: bool = False,
) -> list[str]:
    """Completions of rendered ``prompts`` under ``generation_config`` (default: `greedy_config()`), batched with left
    padding (`left_padded_batches`), decoded without special tokens and stripped.

    Settings the config leaves unset come from the model's own generation config, as in `model.generate`; the pad
    token defaults to the tokenizer's (or its EOS). ``synced_gpus`` keeps every rank stepping until all are done
    (needed when parameters are sharded, ZeRO-3/FSDP).
    """
    config = copy.deepcopy(generation_config or greedy_config())
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs = []
    for batch in left_padded_batches(tokenizer, prompts, batch_size, model.device):
        generated = model.generate(**batch, generation_config=config, synced_gpus=synced_gpus)
        outputs += tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return [text.strip() for text in outputs]
