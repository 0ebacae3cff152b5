"""Per-chat SDPA for padding-free rows (`attn_implementation="sdpa_segments"`).

A padding-free row holds several chats, each with ``position_ids`` restarting at 0. Under transformers' ``sdpa``,
such a row gets one block-diagonal causal mask over the whole row, so SDPA computes the scores of every pair of
tokens in the row, ``(sum of the chats' lengths)^2`` of them, and throws away those between chats; with no mask at
all, flash-style kernels cannot run either. On a CPU this made a padding-free step slower than the padded one it
replaces (the benchmark's chats of 100-1000 tokens: the row's attention cost several times the padded batch's).

``sdpa_segments`` computes the same attention chat by chat: causal SDPA over each run of restarting position ids,
``sum of length^2`` scores, with the causal kernel. Everything else (padded batches, generation with a cache, a row
of one sequence) goes to transformers' ``sdpa`` with the mask transformers builds. It is registered with
transformers' ``AttentionInterface`` and ``AttentionMaskInterface`` on import; `trl_maskft.training.packing` switches a
padding-free model from ``sdpa`` to it. The implementation is not saved with the model (transformers does not
serialise it), so a saved model loads with its usual attention.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

SEGMENT_ATTENTION = "sdpa_segments"


def segment_bounds(position_ids: torch.Tensor) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of consecutive position ids in one row (a new run wherever the next id is not
    the previous one plus 1, as transformers detects packed sequences)."""
    restarts = (torch.diff(position_ids) != 1).nonzero().flatten().add(1).tolist()
    edges = [0, *restarts, position_ids.numel()]
    return list(zip(edges[:-1], edges[1:], strict=True))


def segment_mask(*, attention_mask=None, q_length: int, kv_length: int, q_offset: int = 0, local_size=None, **kwargs):
    """No mask for a whole unpadded causal forward (the attention then works from the position ids); transformers'
    SDPA mask for everything else."""
    if attention_mask is None and q_length == kv_length and q_offset == 0 and local_size is None:
        return None
    kwargs.update(q_length=q_length, kv_length=kv_length, q_offset=q_offset, local_size=local_size)
    return sdpa_mask(attention_mask=attention_mask, **kwargs)


def segment_sdpa_attention(module, query, key, value, attention_mask, position_ids=None, **kwargs):
    """Causal SDPA over each chat of a padding-free row (see the module's doc); transformers' SDPA otherwise."""
    whole = attention_mask is None and position_ids is not None and query.shape[2] == key.shape[2]
    rows = [segment_bounds(ids) for ids in position_ids.expand(query.shape[0], -1)] if whole else []
    if not any(len(bounds) > 1 for bounds in rows):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    kwargs.pop("is_causal", None)
    outputs = [
        torch.cat(
            [
                sdpa_attention_forward(
                    module, query[b : b + 1, :, start:end], key[b : b + 1, :, start:end],
                    value[b : b + 1, :, start:end], None, is_causal=True, **kwargs,
                )[0]
                for start, end in bounds
            ],
            dim=1,
        )
        for b, bounds in enumerate(rows)
    ]  # fmt: skip
    return torch.cat(outputs, dim=0), None


AttentionInterface.register(SEGMENT_ATTENTION, segment_sdpa_attention)
AttentionMaskInterface.register(SEGMENT_ATTENTION, segment_mask)
