"""The mask ablation's bookkeeping (benchmarks/bench_masks.py, issue 22): when a run is cured for good, what it
trained, and whether a setting beats the paper's masking. Pure functions, no run."""

import json
import os
import sys
from types import SimpleNamespace

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_masks as bench  # noqa: E402
from bench_cure_seeds import run_key, run_once  # noqa: E402


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
    assert not bench.beats_paper({**fast, "final_fwd": 0.8}, {**paper, "cured_epoch": None}, 2 / 3)


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
    unlogged = bench.report([{**runs[0], "tokens": None, "cured_tokens": None}], args)  # its log is gone
    assert "| people | paper | 42 | 30 | 450 s | not logged | 0.900 | 0.900 | not logged | 600 s | - |" in unlogged


def test_a_finished_run_is_known_by_its_recipe_under_recipes_whichever_clone_launched_it(tmp_path):
    args = SimpleNamespace(output_dir=str(tmp_path), recipes_dir="/clone_b/recipes/m", config_name="c.yaml", extra=[])
    out = tmp_path / "masked_sft" / "seed42"
    out.mkdir(parents=True)
    earlier = ["--config", "/clone_a/recipes/m/masked_sft/c.yaml", "--seed", "42", "--output_dir", str(out)]
    assert run_key(earlier) == run_key([earlier[0], "/clone_b/recipes/m/masked_sft/c.yaml", *earlier[2:]])
    assert run_key(earlier) != run_key([earlier[0], "/clone_a/recipes/m/masked_sft/d.yaml", *earlier[2:]])
    (out / "qa_metrics.jsonl").write_text(json.dumps({"epoch": 2, "qa_backward_rouge1": 0.9}) + "\n")
    (tmp_path / "masked_sft" / "seed42.log").write_text("Precision: fp32\n")
    (out / "compare_done.json").write_text(json.dumps({"argv": earlier, "wall_time_s": 12.0}))
    run = run_once("masked_sft", 42, args)  # reused, not launched (there is no recipe to launch)
    assert (run["wall_time_s"], run["precision"], run["history"][0]["epoch"]) == (12.0, "fp32", 2)


def test_a_folder_holding_another_run_is_refused_and_its_log_kept(tmp_path):
    args = SimpleNamespace(output_dir=str(tmp_path), recipes_dir="/r/recipes/m", config_name="c.yaml", extra=[])
    out = tmp_path / "masked_sft" / "seed42"
    out.mkdir(parents=True)
    (out / "model.safetensors").write_text("an interrupted run")
    log = tmp_path / "masked_sft" / "seed42.log"
    log.write_text("the earlier run's log")
    with pytest.raises(RuntimeError, match="did not finish with this command line.*delete the folder"):
        run_once("masked_sft", 42, args)
    assert log.read_text() == "the earlier run's log"
