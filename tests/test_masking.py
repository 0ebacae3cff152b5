import numpy as np
import pytest

from trl_maskft.common import EVAL_STREAM, IGNORE_INDEX
from trl_maskft.masked_sft.collator import DataCollatorForMaskedSFT
from trl_maskft.masked_sft.masking import (
    apply_mask,
    choose_positions,
    example_rng,
    num_to_mask,
    sample_ratio,
    validate_ratio_bounds,
)

MASK, PAD = 10**6, 0


def make_example(idx: int, n: int = 20, pre: int = 3, mid: int = 4, post: int = 2) -> dict:
    """A fake reconstruction example: pre + doc + mid + doc + post, labels on the twin doc and first post token."""
    doc = list(range(10 + idx, 10 + idx + n))
    input_ids = [1] * pre + doc + [2] * mid + doc + [3] * post
    twin = pre + n + mid
    labels = [IGNORE_INDEX] * twin + doc + [3] + [IGNORE_INDEX] * (post - 1)
    return {
        "input_ids": input_ids,
        "labels": labels,
        "span_start": pre,
        "twin_start": twin,
        "span_length": n,
        "idx": idx,
    }


@pytest.mark.parametrize("low,high", [(0.0, 0.5), (0.2, 1.0), (-0.1, 0.5), (0.7, 0.3)])
def test_ratio_bounds_rejected(low, high):
    with pytest.raises(ValueError, match="mask_ratio"):
        validate_ratio_bounds(low, high)


def test_uniform_ratio_within_bounds_and_fixed_exact():
    rng = np.random.default_rng(0)
    draws = [sample_ratio(rng, "uniform", 0.05, 0.95, 0.5) for _ in range(2000)]
    assert min(draws) >= 0.05 and max(draws) <= 0.95
    assert 0.45 < np.mean(draws) < 0.55  # it is really uniform-ish, not constant
    assert sample_ratio(rng, "fixed", 0.05, 0.95, 0.25) == 0.25
    assert sample_ratio(rng, "linear", 0.1, 0.9, 0.5, progress=0.0) == pytest.approx(0.1)
    assert sample_ratio(rng, "linear", 0.1, 0.9, 0.5, progress=0.5) == pytest.approx(0.5)
    assert sample_ratio(rng, "linear", 0.1, 0.9, 0.5, progress=1.0) == pytest.approx(0.9)


def test_choose_positions_exact_count_and_unique():
    rng = example_rng(0, 0, 0)
    for length, ratio in [(20, 0.25), (7, 0.5), (100, 0.95), (3, 0.05)]:
        offsets = choose_positions(rng, length, ratio)
        assert len(offsets) == num_to_mask(length, ratio) == max(1, round(ratio * length))
        assert len(set(offsets.tolist())) == len(offsets)
        assert offsets.min() >= 0 and offsets.max() < length
    assert apply_mask([5, 6, 7, 8], 1, np.array([0, 2]), MASK) == [5, MASK, 7, MASK]


def collate(collator, examples):
    batch = collator(examples)
    return batch["input_ids"], batch["labels"], batch["attention_mask"]


def test_collator_masks_only_the_span_and_keeps_labels():
    collator = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, ratio_scope="example")
    examples = [make_example(0), make_example(1, n=12)]
    input_ids, labels, attention = collate(collator, examples)
    for row, ex in enumerate(examples):
        n, start = ex["span_length"], ex["span_start"]
        original = np.array(ex["input_ids"])
        got = input_ids[row, : len(original)].numpy()
        changed = np.nonzero(got != original)[0]
        assert len(changed) > 0
        assert changed.min() >= start and changed.max() < start + n  # only the masked copy changes
        assert (got[changed] == MASK).all()
        assert labels[row, : len(original)].tolist() == ex["labels"]  # labels untouched
        assert attention[row].sum() == len(original)
        assert (input_ids[row, len(original) :] == PAD).all() and (labels[row, len(original) :] == IGNORE_INDEX).all()


def test_collator_fixed_ratio_is_exact_and_masked_loss_covers_twins():
    collator = DataCollatorForMaskedSFT(
        pad_token_id=PAD, mask_token_id=MASK, ratio_mode="fixed", ratio=0.25, loss_on="masked"
    )
    ex = make_example(3, n=20)
    input_ids, labels, _ = collate(collator, [ex])
    span = input_ids[0, ex["span_start"] : ex["span_start"] + 20]
    masked = (span == MASK).nonzero().flatten()
    assert len(masked) == 5
    supervised = (labels[0] != IGNORE_INDEX).nonzero().flatten()
    assert (supervised - ex["twin_start"]).tolist() == masked.tolist()  # loss exactly on the masked twins
    assert labels[0, supervised].tolist() == [ex["input_ids"][ex["twin_start"] + i] for i in masked.tolist()]


def test_collator_empirical_ratio_within_bounds():
    collator = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, ratio_min=0.3, ratio_max=0.6)
    ratios = []
    for step in range(50):
        collator.set_epoch(step)
        ex = make_example(0, n=100)
        input_ids, _, _ = collate(collator, [ex])
        ratios.append((input_ids[0, 3:103] == MASK).float().mean().item())
    assert min(ratios) >= 0.3 - 0.01 and max(ratios) <= 0.6 + 0.01
    assert max(ratios) - min(ratios) > 0.1


def test_masks_fresh_per_epoch_reproducible_per_seed_and_distinct_per_example():
    examples = [make_example(i) for i in range(4)]

    def masks(seed, epoch, batch=examples):
        collator = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, seed=seed)
        collator.set_epoch(epoch)
        return collator(batch)["input_ids"]

    assert (masks(0, 0) == masks(0, 0)).all()  # reproducible
    assert not (masks(0, 0) == masks(0, 1)).all()  # fresh every epoch
    assert not (masks(0, 0) == masks(1, 0)).all()  # depends on the seed
    # Two ranks hold different rows: the same document content at other indices is masked differently.
    twin_rows = [dict(make_example(0), idx=i) for i in (0, 1)]
    batch = masks(0, 0, twin_rows)
    assert not (batch[0] == batch[1]).all()


def test_batch_scope_shares_one_ratio():
    collator = DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, ratio_scope="batch")
    examples = [make_example(i, n=100) for i in range(6)]
    input_ids, _, _ = collate(collator, examples)
    counts = {(input_ids[i, 3:103] == MASK).sum().item() for i in range(6)}
    assert len(counts) == 1  # one t for the whole batch, exact count per row


def test_linear_schedule_moves_with_epochs():
    collator = DataCollatorForMaskedSFT(
        pad_token_id=PAD, mask_token_id=MASK, ratio_mode="linear", ratio_min=0.1, ratio_max=0.9
    )
    ex = make_example(0, n=100)
    counts = []
    for epoch in range(5):
        collator.set_epoch(epoch, num_epochs=5)
        counts.append((collate(collator, [ex])[0][0, 3:103] == MASK).sum().item())
    assert counts == [10, 30, 50, 70, 90]


@pytest.mark.parametrize("mode", ["uniform", "linear"])
def test_eval_stream_masks_are_fixed_and_unlike_training_masks(mode):
    examples = [make_example(i, n=100) for i in range(4)]
    options = dict(pad_token_id=PAD, mask_token_id=MASK, ratio_mode=mode, ratio_min=0.1, ratio_max=0.9)
    train, evaluation = DataCollatorForMaskedSFT(**options), DataCollatorForMaskedSFT(**options, stream=EVAL_STREAM)
    eval_masks = evaluation(examples)["input_ids"]
    assert not (eval_masks == train(examples)["input_ids"]).all()  # same rows, same epoch: other masks
    for epoch in range(1, 4):
        train.set_epoch(epoch, num_epochs=4)
        assert not (eval_masks == train(examples)["input_ids"]).all()
    assert (DataCollatorForMaskedSFT(**options, stream=EVAL_STREAM)(examples)["input_ids"] == eval_masks).all()


def test_eval_stream_draws_linear_ratios_from_the_whole_range():
    evaluation = DataCollatorForMaskedSFT(
        pad_token_id=PAD, mask_token_id=MASK, ratio_mode="linear", ratio_min=0.1, ratio_max=0.9, stream=EVAL_STREAM
    )
    counts = [(evaluation([make_example(i, n=100)])["input_ids"][0, 3:103] == MASK).sum().item() for i in range(40)]
    assert 10 <= min(counts) < 30 and 70 < max(counts) <= 90  # not stuck at the schedule's start (10)


def test_collator_rejects_bad_options():
    with pytest.raises(ValueError, match="mask_ratio_mode"):
        DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, ratio_mode="cosine")
    with pytest.raises(ValueError, match="loss_on"):
        DataCollatorForMaskedSFT(pad_token_id=PAD, mask_token_id=MASK, loss_on="prompt")
