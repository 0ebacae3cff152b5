"""Padding-free batches and packing of whole reconstruction chats (`padding_free`, `packing`).

A packed row is in TRL's packed format (flat ``input_ids`` and ``labels`` plus ``seq_lengths``, as
``trl.pack_dataset`` writes them) and also carries, one entry per chat, the fields the masking collator needs:
``span_start``, ``twin_start``, ``span_length`` (relative to the chat) and ``idx`` (its dataset row, which keys its
masks). The collator splits a row back into its chats (``unpack_chats``) and masks each one exactly as it would mask
it unpacked. No chat is ever split or cut: TRL's ``wrapped`` and ``bfd_split`` strategies would cut chats, so only
``bfd`` (best-fit decreasing) is accepted, and a chat longer than ``max_length`` (which tokenization does not produce
today: it cuts documents to fit) becomes a row of its own instead of being truncated.

The attention of a padding-free row stays within each chat because the model derives a block-diagonal causal mask
from ``position_ids`` that restart at 0 for every chat (transformers' ``masking_utils`` does this for SDPA, eager and
flex attention when no attention mask is given; flash-attention reads the chat boundaries from ``cu_seq_lens_*``).
``prepare_padding_free_model`` refuses models for which that does not hold, and moves an ``sdpa`` model to
``sdpa_segments`` (`trl_maskft.training.segment_attention`): the same attention, computed chat by chat instead of over
the whole row.
"""

from __future__ import annotations

import bisect
import inspect
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from datasets import Dataset, IterableDataset
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

from .segment_attention import SEGMENT_ATTENTION

PACKING_STRATEGY = "bfd"
TOKEN_FIELDS = ("input_ids", "labels")
CHAT_FIELDS = ("span_start", "twin_start", "span_length", "idx")


def check_packing_options(args) -> None:
    """Refuse packing settings that would split chats or have no row length (an `SFTConfig`-like ``args``)."""
    if not (args.packing or args.eval_packing):
        return
    if args.packing_strategy != PACKING_STRATEGY:
        raise ValueError(
            f"`packing_strategy={args.packing_strategy!r}` cuts sequences across rows, which would split a "
            "reconstruction chat (its masked copy, its target and their twin positions). Masked SFT packs whole chats "
            f"only: set `packing_strategy='{PACKING_STRATEGY}'`."
        )
    if args.max_length is None:
        raise ValueError(
            "Packing needs `max_length`, the length of a packed row. Set `max_length`, or use `padding_free=True` "
            "without `packing` to concatenate each batch's chats as they come."
        )


def best_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into bins of total length at most ``capacity``, by best-fit decreasing.

    The longest item goes first, each into the bin with the least room that still fits it, or into a new bin. An
    item longer than ``capacity`` gets a bin of its own. Deterministic: ties keep the items' order and go to the
    earliest bin.
    """
    bins: list[list[int]] = []
    room: list[tuple[int, int]] = []  # (space left, bin number) of the bins that can take more, sorted
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        k = bisect.bisect_left(room, (lengths[i], -1))
        if k == len(room):
            bins.append([])
            space, b = capacity, len(bins) - 1
        else:
            space, b = room.pop(k)
        bins[b].append(i)
        if space - lengths[i] > 0:
            bisect.insort(room, (space - lengths[i], b))
    return bins


def pack_chats(batch: dict[str, list], max_length: int) -> dict[str, list]:
    """A batch of reconstruction examples (columns ``TOKEN_FIELDS + CHAT_FIELDS``) packed into rows of at most
    ``max_length`` tokens (for ``Dataset.map(batched=True)``)."""
    bins = best_fit_decreasing([len(ids) for ids in batch["input_ids"]], max_length)
    packed: dict[str, list] = {field: [] for field in (*TOKEN_FIELDS, "seq_lengths", *CHAT_FIELDS)}
    for members in bins:
        for field in TOKEN_FIELDS:
            packed[field].append([token for i in members for token in batch[field][i]])
        packed["seq_lengths"].append([len(batch["input_ids"][i]) for i in members])
        for field in CHAT_FIELDS:
            packed[field].append([batch[field][i] for i in members])
    return packed


def pack_chat_dataset(
    dataset: Dataset | IterableDataset, max_length: int, num_proc: int | None = None
) -> Dataset | IterableDataset:
    """Whole chats packed into rows of at most ``max_length`` tokens; bins are formed within each block of 1,000
    rows of ``dataset.map`` (as in ``trl.pack_dataset``), so packing needs no pass over the whole dataset."""
    kwargs: dict[str, Any] = {"batched": True, "fn_kwargs": {"max_length": max_length}}
    if isinstance(dataset, Dataset):  # `IterableDataset.map` takes neither
        kwargs.update(num_proc=num_proc, desc="Packing chats")
    return dataset.map(pack_chats, remove_columns=list(dataset.column_names), **kwargs)


def unpack_chats(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The chats of a packed row, each with its own tokens and fields; an unpacked row as it is."""
    if "seq_lengths" not in row:
        return [row]
    ends = list(accumulate(row["seq_lengths"]))
    return [
        {
            **{field: row[field][end - length : end] for field in TOKEN_FIELDS},
            **{field: row[field][j] for field in CHAT_FIELDS},
        }
        for j, (length, end) in enumerate(zip(row["seq_lengths"], ends, strict=True))
    ]


def prepare_padding_free_model(model) -> None:
    """Refuse a model whose chats would attend to each other in a padding-free row: one that takes no
    ``position_ids``, or an attention implementation for which transformers builds no mask from them. A model on
    ``sdpa`` is moved to ``sdpa_segments``, which attends within each chat without scoring the pairs between chats."""
    model = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT
    if "position_ids" not in inspect.signature(model.forward).parameters:
        raise ValueError(
            f"{type(model).__name__} takes no `position_ids`, so the chats of a padding-free row would attend to "
            "each other. Set `padding_free=False` and `packing=False` for this model."
        )
    implementation = model.config._attn_implementation
    if implementation not in ALL_MASK_ATTENTION_FUNCTIONS:
        raise ValueError(
            f"The attention implementation {implementation!r} gets no mask built from `position_ids`, so the chats "
            "of a padding-free row would attend to each other. Load the model with `attn_implementation` one of "
            f"{sorted(ALL_MASK_ATTENTION_FUNCTIONS)}, or set `padding_free=False` and `packing=False`."
        )
    if implementation == "sdpa":
        model.set_attn_implementation(SEGMENT_ATTENTION)
