"""The comparison command on a tiny saved model: table, metrics, plot, and resuming."""

import json
import os

import pytest

from trl_maskft.scripts import compare

try:  # `tests` is a rootdir-relative folder, not necessarily a package
    from tiny import MASK_TOKEN, save_tiny_model
except ImportError:  # pragma: no cover
    from tests.tiny import MASK_TOKEN, save_tiny_model

RECIPES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "smollm2-135m-instruct")


@pytest.fixture
def tiny_model_dir(tmp_path):
    return save_tiny_model(tmp_path / "tiny")


def compare_argv(model_dir, output_dir, max_steps=2):
    return [
        "--arms", "sft", "masked_sft", "--output_dir", str(output_dir), "--recipes_dir", RECIPES,
        "--model_name_or_path", model_dir, "--mask_token", MASK_TOKEN, "--num_people", "3",
        "--max_steps", str(max_steps), "--per_device_train_batch_size", "3", "--qa_max_new_tokens", "4",
        "--logging_steps", "1", "--retain_max_new_tokens", "2", "--retain_self_max_new_tokens", "2",
        "--retain_batch_size", "64",
    ]  # fmt: skip


def test_split_overrides():
    assert compare.split_overrides(["--a", "1", "2", "--b=x", "--c"]) == [("a", ["1", "2"]), ("b", ["x"]), ("c", [])]
    with pytest.raises(ValueError, match="--key value"):
        compare.split_overrides(["stray"])


def test_multi_process_launch_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="cannot be launched on several processes"):
        compare.main(["--arms", "sft", "--output_dir", str(tmp_path)])
    assert not os.listdir(tmp_path)


def test_unknown_key_and_arm_are_refused(tmp_path):
    with pytest.raises(ValueError, match="accepts"):
        compare.main(["--arms", "sft", "--output_dir", str(tmp_path), "--mask_token", "[]"])
    with pytest.raises(ValueError, match="unavailable"):
        compare.main(["--arms", "nonsense", "--output_dir", str(tmp_path)])


def test_compare_writes_reports_and_resumes(tiny_model_dir, tmp_path, monkeypatch):
    out = tmp_path / "cmp"
    results = compare.main(compare_argv(tiny_model_dir, out))
    assert list(results) == ["sft", "masked_sft"]
    assert "--mask_token" not in results["sft"]["argv"] and "--mask_token" in results["masked_sft"]["argv"]
    table = (out / "comparison.md").read_text()
    assert "| masked_sft | backward |" in table and "| sft | forward |" in table
    assert "| known facts kept | self-answer NLL rise |" in table  # retention beside QA, measured by every arm
    assert all("retain_self_nll_rise" in row for row in results["sft"]["history"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["sft"]["history"]][0] == 0 and metrics["sft"]["wall_time_s"] > 0
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("arm,epoch,") and len(csv_lines) == 1 + sum(
        len(m["history"]) for m in metrics.values()
    )
    assert (out / "rouge1.png").stat().st_size > 1000

    # Resuming: finished arms are not rerun; an arm finished with other arguments is, and so is an unfinished one.
    ran = []
    monkeypatch.setattr(compare, "run_arm", lambda arm, argv, arm_dir: ran.append(arm) or 1.0)
    again = compare.main(compare_argv(tiny_model_dir, out))
    assert ran == [] and again["masked_sft"]["history"] == results["masked_sft"]["history"]
    compare.main(compare_argv(tiny_model_dir, out, max_steps=3))  # the done markers hold the `--max_steps 2` runs
    assert ran == ["sft", "masked_sft"]
    ran.clear()
    (out / "masked_sft" / compare.DONE_MARKER).unlink()
    compare.main(compare_argv(tiny_model_dir, out))
    assert ran == ["masked_sft"]
