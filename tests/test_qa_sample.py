"""`balanced_qa_sample`: the QA items `qa_max_items` asks, balanced over direction and group, fixed per seed."""

from collections import Counter

import pytest

from trl_maskft.data import QAItem, balanced_qa_sample


def items_like_name_description(per_stratum: int = 30) -> list[QAItem]:
    """Ordered as a NameDescription folder: per subset, all forward items, then all backward ones."""
    return [
        QAItem(f"{group} {direction} {i}?", (f"answer {i}",), direction, group)
        for group in ("p2d", "d2p")
        for direction in ("forward", "backward")
        for i in range(per_stratum)
    ]


def strata(items) -> Counter:
    return Counter((item.direction, item.group) for item in items)


@pytest.mark.parametrize("n", [4, 8, 30, 61])
def test_sample_is_balanced_over_direction_and_group(n):
    items = items_like_name_description()
    sample = balanced_qa_sample(items, n, seed=0)
    assert len(sample) == n and len(set(sample)) == n
    directions = Counter(item.direction for item in sample)
    assert abs(directions["forward"] - directions["backward"]) <= 1
    counts = strata(sample)
    assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == 4
    # the first n items, what `qa_max_items` took before, are forward questions of one subset only
    assert len(strata(items[:n])) == -(-n // 30)


def test_sample_is_fixed_per_seed_and_in_the_items_order():
    items = items_like_name_description()
    sample = balanced_qa_sample(items, 10, seed=3)
    assert sample == balanced_qa_sample(items, 10, seed=3)
    assert sample == sorted(sample, key=items.index)
    assert {item.question for item in sample} != {item.question for item in balanced_qa_sample(items, 10, seed=4)}


def test_sample_of_at_least_all_items_is_all_of_them():
    items = items_like_name_description(2)
    assert balanced_qa_sample(items, len(items), seed=1) == items
    assert balanced_qa_sample(items, 100, seed=1) == items


def test_fewer_items_than_strata_still_balance_the_directions():
    items = items_like_name_description(5)
    for seed in range(6):
        sample = balanced_qa_sample(items, 2, seed=seed)
        assert {item.direction for item in sample} == {"forward", "backward"}
    one = {balanced_qa_sample(items, 1, seed=seed)[0].direction for seed in range(20)}
    assert one == {"forward", "backward"}  # which direction gets the odd item is drawn with the seed


def test_uneven_strata_fill_up_from_the_larger_ones():
    items = [QAItem(f"f{i}?", ("a",), "forward", "city") for i in range(10)]
    items += [QAItem(f"b{i}?", ("a",), "backward", "name") for i in range(2)]
    sample = balanced_qa_sample(items, 8, seed=0)
    assert strata(sample) == {("forward", "city"): 6, ("backward", "name"): 2}


def test_sample_size_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        balanced_qa_sample(items_like_name_description(1), 0)
