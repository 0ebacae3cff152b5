"""Recipes parse strictly and say what they mean, issue 18: a key written twice (case 7), a run that trains nothing
(case 8), a held-out size that is neither a share nor a row count (case 19), QA keys refused by their recipe names
(case 15), a `metric_for_best_model` that names no metric of the run (case 16) and the precision line of half-precision
weights on a CPU (case 11). Resumed recipes (cases 4 and 20) are in `tests/test_reliability_resume.py`."""

from __future__ import annotations

import json

import pytest
import torch
from test_reliability import model_dir, recipe, run_refused  # noqa: F401 (fixtures)

from trl_maskft.scripts import diffusion_sft, masked_sft


def test_a_key_written_twice_names_both_lines(recipe, tmp_path, model_dir):  # noqa: F811
    """Issue 18 case 7: `learning_rate` written twice in a recipe trained at the second value, silently."""
    path = recipe("masked_sft", learning_rate=0.001)
    with open(path, "a") as f:
        f.write("learning_rate: 0.002\n")
    lines = open(path).read().splitlines()
    first = next(i for i, line in enumerate(lines, 1) if line.startswith("learning_rate:"))
    run_refused(
        "masked_sft",
        ["--config", path],
        ValueError,
        rf"`learning_rate` is written twice in {path}: lines {first} and {len(lines)} \(YAML would silently keep",
        tmp_path,
        model_dir,
    )


@pytest.mark.parametrize("script", ["masked_sft", "diffusion_sft", "sft"])
@pytest.mark.parametrize(
    "keys,match",
    [
        ({"max_steps": 0}, r"`max_steps: 0` trains nothing"),
        ({"max_steps": None, "num_train_epochs": 0}, r"`num_train_epochs: 0(\.0)?` trains nothing"),
    ],
    ids=["max_steps", "num_train_epochs"],
)
def test_a_run_that_trains_nothing_is_refused(script, keys, match, recipe, tmp_path, model_dir):  # noqa: F811
    """Issue 18 case 8: `num_train_epochs: 0` and `max_steps: 0` exited 0 with the untrained model saved under a card
    saying it was trained (`max_steps: 0` even ran one step at learning rate 0), in every script."""
    run_refused(script, ["--config", recipe(script, **keys)], ValueError, match, tmp_path, model_dir)


@pytest.mark.parametrize("size", [1.5, -1, 0])
def test_a_held_out_size_that_is_no_share_nor_row_count_is_refused(size, recipe, tmp_path, model_dir):  # noqa: F811
    """Issue 18 case 19: `dataset_test_size: 1.5` held out 1 row; it is neither a share nor a number of rows."""
    path = recipe("masked_sft", dataset_test_size=size, eval_strategy="epoch")
    error = run_refused("masked_sft", ["--config", path], ValueError, r"`dataset_test_size` must be a share", tmp_path)
    assert f"got {size}." in str(error) and "or a whole number of rows" in str(error)


@pytest.mark.parametrize("key,value", [("qa_max_new_tokens", 0), ("qa_eval_every", -1), ("qa_batch_size", 0)])
def test_qa_keys_are_refused_by_their_recipe_names(key, value, recipe, tmp_path, model_dir):  # noqa: F811
    """Issue 18 case 15: `qa_max_new_tokens: 0` and `qa_eval_every: -1` were refused with the internal names
    `max_new_tokens` and `eval_every`."""
    path = recipe("masked_sft", **{key: value})
    run_refused("masked_sft", ["--config", path], ValueError, rf"^`{key}` must be a positive number, got {value}\.$")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_weights_on_a_cpu_say_so(dtype, recipe, tmp_path, capsys):  # noqa: F811
    """Issue 18 case 11: `--dtype float16` on a CPU warned, then printed `Precision: fp32` while the saved config
    said float16. The weights load and train in that dtype (an explicit request is honoured, as `bf16: true` is), and
    the precision line, the model and the saved config agree."""
    qa = masked_sft.main(["--config", recipe("masked_sft"), "--dtype", dtype])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Precision: ")]
    assert len(lines) == 1 and lines[0].startswith(f"Precision: {dtype} weights (`dtype: {dtype}`), no autocast: CPU")
    assert {p.dtype for p in qa.trainer.model.parameters()} == {getattr(torch, dtype)}
    with open(tmp_path / "out" / "config.json") as f:
        assert json.load(f)["dtype"] == dtype


def test_a_best_metric_the_run_does_not_log_is_refused_before_training(recipe, tmp_path, model_dir):  # noqa: F811
    """Issue 18 case 16: `metric_for_best_model: eval_qa_backwards_rouge1` (a typo) failed with a `KeyError` after
    the first epoch's training, the epoch lost; it is refused before training, with the closest metric."""
    keys = {"eval_strategy": "epoch", "metric_for_best_model": "eval_qa_backwards_rouge1"}
    error = run_refused(
        "masked_sft",
        ["--config", recipe("masked_sft", **keys)],
        ValueError,
        r"`metric_for_best_model: eval_qa_backwards_rouge1` names no metric this run logs; did you mean "
        r"`eval_qa_backward_rouge1`\? The run's evaluations log: eval_entropy, eval_loss, ",
        tmp_path,
        model_dir,
    )
    assert "eval_qa_forward_contains" in str(error) and "eval_steps_per_second" in str(error)


@pytest.mark.parametrize(
    "script,metric",
    [
        ("masked_sft", "eval_qa_backward_rouge1"),
        ("masked_sft", "mean_token_accuracy"),
        ("diffusion_sft", "mask_ratio"),
    ],
)
def test_a_best_metric_the_run_logs_trains(script, metric, recipe):  # noqa: F811
    """Issue 18 case 16: the metrics the check lists are the ones the Trainer finds (no `KeyError` after the epoch)."""
    main = {"masked_sft": masked_sft.main, "diffusion_sft": diffusion_sft.main}[script]
    keys = {"eval_strategy": "epoch", "metric_for_best_model": metric, "save_strategy": "epoch"}
    qa = main(["--config", recipe(script, **keys)])
    assert qa.trainer.state.best_metric is not None
