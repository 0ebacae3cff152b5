"""The updates benchmark's bookkeeping (benchmarks/bench_updates.py, issue 21): the recipe overrides, one table row
per sequence and whether it meets the goal, the seed-mean R. Pure functions, no run."""

import os
import sys
from types import SimpleNamespace

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_updates as bench  # noqa: E402

GOAL = SimpleNamespace(min_backward=0.7, min_efficacy=0.8, max_old_answer=0.1, max_wall_s=1000.0)


def result(backward_last_row, efficacy=0.9, old=0.0, walls=(300.0, 300.0, 300.0), later=None):
    matrices = {
        "forward": [[1.0, None, None], [0.8, 1.0, None], [0.9, 0.7, 1.0]],
        "backward": [[0.9, None, None], [0.8, 0.9, None], backward_last_row],
    }
    averages = {d: sum(m[-1]) / 3 for d, m in matrices.items()}
    summary = {"matrices": matrices, "average_accuracy": averages, "wall_time_s": list(walls)}
    summary["edits"] = {"forward": {"efficacy": efficacy, "old_answer": old}}
    return summary | ({"later_fact": later} if later is not None else {})


def test_a_row_meets_the_goal_only_when_every_part_does():
    line, met = bench.row("masked_sft", 0.5, 42, result([0.75, 0.7, 0.9], later={"forward": 0.25}), GOAL)
    assert met
    assert line == "| masked_sft | 0.5 | 42 | 0.87 / 0.70 | 0.78 / 0.70 | 0.90 | 0.00 | 0.25 / - | 900 | yes |"
    assert not bench.row("sft", 0, 42, result([0.75, 0.69, 0.9]), GOAL)[1]  # one earlier set below 0.7
    assert not bench.row("sft", 0, 42, result([0.8, 0.8, 0.9], efficacy=0.79), GOAL)[1]
    assert not bench.row("sft", 0, 42, result([0.8, 0.8, 0.9], old=0.2), GOAL)[1]
    assert not bench.row("sft", 0, 42, result([0.8, 0.8, 0.9], walls=(400.0, 400.0, 300.0)), GOAL)[1]
    no_wall_limit = SimpleNamespace(**vars(GOAL) | {"max_wall_s": None})
    assert bench.row("sft", 0, 42, result([0.8, 0.8, 0.9], walls=(400.0,) * 3), no_wall_limit)[1]
    assert "| - / - |" in bench.row("sft", 0, 42, result([0.8, 0.8, 0.9]), GOAL)[0]  # a report from before the key


def test_the_lowest_earlier_set_leaves_out_the_last_one_and_missing_values():
    assert bench.lowest_earlier([[1.0, None], [0.4, 0.1]]) == 0.4
    assert bench.lowest_earlier([[None, None], [None, 0.3]]) is None


def test_the_seed_mean_of_r_keeps_the_empty_upper_triangle():
    mean = bench.mean_matrix([[[1.0, None], [0.5, 0.8]], [[0.6, None], [0.3, 1.0]]])
    assert mean[0][1] is None
    assert mean == [[pytest.approx(0.8), None], [pytest.approx(0.4), pytest.approx(0.9)]]


def test_overrides_read_yaml_values_and_a_method_prefix_applies_to_that_method_only():
    pairs = ["num_train_epochs=2", "masked_sft.mask_token='[]'", "sft.sft_prompt=Hi", "lr_scheduler_kwargs={}"]
    common = {"num_train_epochs": 2, "lr_scheduler_kwargs": {}}
    assert bench.overrides(pairs, "masked_sft") == common | {"mask_token": "[]"}
    assert bench.overrides(pairs, "sft") == common | {"sft_prompt": "Hi"}
    with pytest.raises(ValueError, match="key=value"):
        bench.overrides(["num_train_epochs"], "sft")
