"""The mask ablation's bookkeeping (benchmarks/bench_masks.py, issue 22): when a run is cured for good, what it
trained, and whether a setting beats the paper's masking. Pure functions, no run."""

import os
import sys
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_masks as bench  # noqa: E402


def history(*values):
    return [{"epoch": 2 * i, "qa_backward_rouge1": v} for i, v in enumerate(values)]


def test_cured_for_good_is_the_first_epoch_after_which_backward_never_drops():
    assert bench.cured_epoch(history(0.1, 0.9, 0.5, 0.85, 0.9), 0.8) == 6
    assert bench.cured_epoch(history(0.1, 0.9, 0.85), 0.8) == 2
    assert bench.cured_epoch(history(0.1, 0.9, 0.7), 0.8) is None


def test_tokens_trained_is_the_last_count_the_log_printed():
    log = "{'loss': '2.4', 'num_tokens': '652', 'epoch': '1'}\n{'loss': '2.2', 'num_tokens': '1304', 'epoch': '2'}"
    assert bench.tokens_trained(log) == 1304
    assert bench.tokens_trained("no logs") is None


def test_a_setting_beats_the_paper_only_within_two_thirds_and_no_lower_at_the_end():
    paper = {"cured_epoch": 30, "cured_wall_s": 300.0, "final_fwd": 0.9, "final_bwd": 0.9}
    fast = {"cured_epoch": 20, "cured_wall_s": 200.0, "final_fwd": 0.9, "final_bwd": 0.95}
    assert bench.beats_paper(fast, paper, 2 / 3)
    assert not bench.beats_paper({**fast, "cured_epoch": 22}, paper, 2 / 3)
    assert not bench.beats_paper({**fast, "cured_wall_s": 250.0}, paper, 2 / 3)
    assert not bench.beats_paper({**fast, "final_fwd": 0.8}, paper, 2 / 3)
    assert not bench.beats_paper({**fast, "cured_epoch": None}, paper, 2 / 3)
    assert bench.beats_paper(fast, {**paper, "cured_epoch": None}, 2 / 3)


def test_the_report_gives_the_verdict_per_setting():
    common = {"seed": 42, "dataset": "people", "wall_time_s": 600.0, "precision": "fp32", "tokens": 1000}
    runs = [
        {**common, "setting": "paper", "cured_epoch": 30, "cured_wall_s": 450.0, "cured_tokens": 750},
        {**common, "setting": "entity", "cured_epoch": 10, "cured_wall_s": 150.0, "cured_tokens": 250},
    ]
    for run in runs:
        run.update(final_fwd=0.9, final_bwd=0.9)
    args = SimpleNamespace(qa_eval_every=2, target=0.8, max_share=2 / 3, extra=[])
    text = bench.report(runs, args)
    assert "- entity: wins on every seed and dataset" in text and "goal met by: entity" in text
