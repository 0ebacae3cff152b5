"""Per-token negative log-likelihood of scored spans of token sequences under a causal LM: the base model's own
answers given their prompts (`retain_self_nll`) and general text (`retain_text_nll`).

A sequence is ``(token ids, start)``: the tokens from position ``start`` on (at least 1: the first token has no
context) are scored. Only the scored positions are projected onto the vocabulary where the model takes
`logits_to_keep` (`trl_maskft.training.selected_logits`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ...common import IGNORE_INDEX
from ...training.selected_logits import accepts_logits_to_keep, next_token_positions, selected_nll

Scored = tuple[list[int], int]  # token ids and the first scored position


def answer_sequences(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], answers: Sequence[str]
) -> list[Scored]:
    """Each rendered chat prompt followed by its answer, the answer's tokens scored."""
    sequences = []
    for prompt, answer in zip(prompts, answers, strict=True):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        sequences.append((prompt_ids + answer_ids, len(prompt_ids)))
    return sequences


def text_sequences(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[Scored]:
    """Each text tokenized as the tokenizer does by default (a BOS where it adds one), cut to `max_length` tokens,
    every token after the first scored."""
    return [(tokenizer(text)["input_ids"][:max_length], 1) for text in texts]


@torch.no_grad()
def sequence_nlls(model: PreTrainedModel, sequences: Sequence[Scored], batch_size: int, pad_id: int) -> list[tuple]:
    """``(sum of the scored tokens' NLL, number of scored tokens)`` of each sequence, `batch_size` sequences per
    forward pass, right-padded with `pad_id`. The same number of forward passes for the same number of sequences (as
    sharded parameters need on every process)."""
    results = []
    for begin in range(0, len(sequences), batch_size):
        chunk = sequences[begin : begin + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        attention_mask = torch.zeros_like(input_ids)
        for row, (ids, start) in enumerate(chunk):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            labels[row, max(start, 1) : len(ids)] = input_ids[row, max(start, 1) : len(ids)]
            attention_mask[row, : len(ids)] = 1
        input_ids, labels, attention_mask = (t.to(model.device) for t in (input_ids, labels, attention_mask))
        positions = next_token_positions(labels)
        if accepts_logits_to_keep(model):
            logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=positions).logits
        else:
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[positions]
        nll = selected_nll(logits, labels[:, 1:][labels[:, 1:] != IGNORE_INDEX])[0]
        counts = positions.sum(dim=1).tolist()
        sums = torch.split(nll, counts)
        results += [(float(part.sum()), count) for part, count in zip(sums, counts, strict=True)]
    return results


def mean_nll(results: Sequence[tuple]) -> float:
    """Per-token NLL pooled over sequences: the summed NLL over the number of scored tokens; NaN when there is none
    (e.g. a base model that answered every instruction with an empty answer)."""
    tokens = sum(count for _, count in results)
    return sum(total for total, _ in results) / tokens if tokens else float("nan")
