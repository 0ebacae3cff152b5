"""Packing whole reconstruction chats and padding-free collation, without a model (see tests/test_padding_free.py)."""

import dataclasses
import random
from itertools import pairwise

import pytest
import torch
from datasets import Dataset
from test_masking import MASK, PAD, make_example

from trl_maskft import MaskedSFTConfig
from trl_maskft.common import IGNORE_INDEX
from trl_maskft.masked_sft.collator import DataCollatorForMaskedSFT
from trl_maskft.training.packing import CHAT_FIELDS, best_fit_decreasing, pack_chat_dataset, unpack_chats


def test_best_fit_decreasing_puts_each_item_in_the_fullest_bin_it_fits():
    # 7 -> new bin (room 1); 5 -> new (3); 4 -> new (4); 3 -> the bin with room 3; 2 -> room 4; 1 -> room 1
    assert best_fit_decreasing([5, 3, 7, 2, 4, 1], 8) == [[2, 5], [0, 1], [4, 3]]
    assert best_fit_decreasing([3, 9, 2], 8) == [[1], [0, 2]]  # too long for any row: a row of its own, not cut
    assert best_fit_decreasing([], 8) == []


def test_best_fit_decreasing_loses_nothing_and_leaves_no_two_bins_mergeable():
    rng = random.Random(0)
    for _ in range(50):
        lengths = [rng.randint(1, 100) for _ in range(rng.randint(1, 60))]
        bins = best_fit_decreasing(lengths, 100)
        assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
        loads = [sum(lengths[i] for i in b) for b in bins]
        assert max(loads) <= 100
        # a bin is opened only for an item that fits no earlier bin, so no two bins fit into one
        assert all(a + b > 100 for k, a in enumerate(loads) for b in loads[k + 1 :])


def examples(lengths):
    return [make_example(i, n=n) for i, n in enumerate(lengths)]


def test_packed_rows_hold_whole_chats_within_max_length_and_unpack_to_the_originals():
    originals = examples([5, 40, 12, 30, 3, 25, 18, 8])
    dataset = Dataset.from_list(originals)
    max_length = 100
    packed = pack_chat_dataset(dataset, max_length)
    assert len(packed) < len(dataset)
    chats = []
    for row in packed:
        assert len(row["input_ids"]) == len(row["labels"]) == sum(row["seq_lengths"]) <= max_length
        assert all(len(row[field]) == len(row["seq_lengths"]) for field in CHAT_FIELDS)
        chats += unpack_chats(row)
    assert sorted(chats, key=lambda c: c["idx"]) == originals  # every chat once, whole, with its own fields


def test_a_chat_longer_than_max_length_is_packed_alone_and_not_cut():
    originals = examples([60, 5, 6])
    packed = pack_chat_dataset(Dataset.from_list(originals), max_length=len(originals[0]["input_ids"]) - 10)
    lengths = [len(e["input_ids"]) for e in originals]  # 129, 19, 21
    assert list(packed["seq_lengths"]) == [[lengths[0]], [lengths[2], lengths[1]]]
    assert unpack_chats(packed[0]) == [originals[0]]


def chats_of(batch):
    """The (input_ids, labels) of every chat of a padding-free batch, split where the position ids restart."""
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist() + [batch["input_ids"].shape[1]]
    return [(batch["input_ids"][0, a:b].tolist(), batch["labels"][0, a:b].tolist()) for a, b in pairwise(starts)]


def chats_padded(batch):
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    return [(batch["input_ids"][r, :n].tolist(), batch["labels"][r, :n].tolist()) for r, n in enumerate(lengths)]


def collators(**options):
    """A padding-free collator and its padded twin, both at epoch 3."""
    free = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, padding_free=True, **options)
    padded = dataclasses.replace(free, padding_free=False)
    for collator in (free, padded):
        collator.set_epoch(3)
    return free, padded


@pytest.mark.parametrize("scope", ["batch", "example"])
def test_padding_free_batch_masks_each_chat_as_the_padded_batch(scope):
    free, padded = collators(ratio_scope=scope)
    batch_examples = examples([20, 7, 13])
    batch = free(batch_examples)
    assert "attention_mask" not in batch
    assert batch["position_ids"][0].tolist() == [p for e in batch_examples for p in range(len(e["input_ids"]))]
    assert chats_of(batch) == chats_padded(padded(batch_examples))  # same masks, same labels
    assert any(MASK in ids for ids, _ in chats_of(batch))
    padded.set_epoch(4)
    assert chats_of(batch) != chats_padded(padded(batch_examples))  # other masks at another epoch


def test_padding_free_never_predicts_a_chat_from_the_previous_one():
    example = make_example(0)
    example["labels"][0] = example["input_ids"][0]  # a label on a chat's first token would be predicted across
    free = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, padding_free=True)([example, example])
    starts = (free["position_ids"][0] == 0).nonzero().flatten()
    assert starts.tolist() == [0, len(example["input_ids"])]
    assert (free["labels"][0, starts] == IGNORE_INDEX).all()
    assert free["cu_seq_lens_q"].tolist() == [0, len(example["input_ids"]), 2 * len(example["input_ids"])]


@pytest.mark.parametrize("scope", ["batch", "example"])
def test_packed_rows_are_masked_as_their_chats_in_a_padded_batch(scope):
    originals = examples([20, 7, 13, 30, 9])
    rows = list(pack_chat_dataset(Dataset.from_list(originals), max_length=80))
    assert len(rows) < len(originals)
    packed, padded = collators(ratio_scope=scope)
    same_chats = [chat for row in rows for chat in unpack_chats(row)]
    assert chats_of(packed(rows)) == chats_padded(padded(same_chats))  # one t for all the chats of the batch
    with pytest.raises(ValueError, match="need padding-free collation"):
        DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK)(rows)


def test_padding_free_pads_to_a_multiple_with_one_token_chats_that_carry_no_loss():
    collator = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, padding_free=True, pad_to_multiple_of=64)
    example = make_example(0)
    n = len(example["input_ids"])  # 49
    batch = collator([example])
    assert batch["input_ids"].shape == (1, 64)
    assert (batch["position_ids"][0, n:] == 0).all() and (batch["labels"][0, n:] == IGNORE_INDEX).all()
    assert torch.equal(batch["labels"][0, :n], torch.tensor(example["labels"]))


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"packing": True, "packing_strategy": "wrapped"}, "packing_strategy='bfd'"),
        ({"packing": True, "packing_strategy": "bfd_split"}, "would split a reconstruction chat"),
        ({"eval_packing": True, "packing_strategy": "wrapped"}, "packing_strategy='bfd'"),
        ({"packing": True, "max_length": None}, "Packing needs `max_length`"),
    ],
)
def test_packing_settings_that_would_split_chats_are_refused(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        MaskedSFTConfig(str(tmp_path), use_cpu=True, **overrides)


def test_padding_free_and_bfd_packing_are_accepted(tmp_path):
    assert MaskedSFTConfig(str(tmp_path), use_cpu=True, padding_free=True, max_length=None).padding_free
    assert MaskedSFTConfig(str(tmp_path), use_cpu=True, packing=True).packing_strategy == "bfd"
