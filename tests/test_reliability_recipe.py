"""Recipes parse strictly and say what they mean, issue 18: a key written twice (case 7), a run that trains nothing
(case 8), a held-out size that is neither a share nor a row count (case 19), QA keys refused by their recipe names
(case 15), a `metric_for_best_model` that names no metric of the run (case 16), the precision line of half-precision
weights on a CPU (case 11), a resume that checks the checkpoint's recipe (case 4) and says nothing of tied weights
(case 20)."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch
from test_reliability import model_dir, recipe, run_refused, write_jsonl  # noqa: F401 (fixtures)
from tiny import make_tiny_model, make_tiny_tokenizer
from torch.nn.modules.module import _IncompatibleKeys

from trl_maskft.evaluation.best_metric import logged_metrics
from trl_maskft.runtime.resume_recipe import RECIPE_FILE, data_files, recipe_changes
from trl_maskft.runtime.safe_checkpoints import tied_weights
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
    """Issue 18 case 16: the metrics the check lists are the ones the run's evaluations log (the Trainer's `eval_*` and
    the QA callback's `qa_*`, which the Trainer finds as `eval_qa_*`): no `KeyError` after the epoch."""
    main = {"masked_sft": masked_sft.main, "diffusion_sft": diffusion_sft.main}[script]
    keys = {"eval_strategy": "epoch", "metric_for_best_model": metric, "save_strategy": "epoch"}
    qa = main(["--config", recipe(script, **keys)])
    assert qa.trainer.state.best_metric is not None
    history, listed = qa.trainer.state.log_history, set(logged_metrics(qa.trainer))
    logged = {key for row in history if "eval_loss" in row for key in row if key not in ("epoch", "step")}
    asked = {f"eval_{key}" for row in history if "qa_epoch" in row for key in row if key.startswith("qa_")}
    assert listed == logged | (asked - {"eval_qa_epoch"})


@pytest.fixture
def checkpointed(recipe, tmp_path):  # noqa: F811
    """`(recipe, checkpoint-2)` of a finished 4-step masked SFT run saving every 2 steps at a constant learning rate;
    `recipe(**keys)` rewrites the recipe with `keys`."""

    def write(**keys):
        return recipe(
            "masked_sft", max_steps=4, save_strategy="steps", save_steps=2, learning_rate=5e-4,
            lr_scheduler_type="constant", qa_eval_epochs=[0], **keys,
        )  # fmt: skip

    masked_sft.main(["--config", write()])
    return write, str(tmp_path / "out" / "checkpoint-2")


def test_every_checkpoint_keeps_the_recipe(checkpointed, tmp_path):
    """Issue 18 case 4: the checkpoint keeps the resolved keys that change training and the data's fingerprint."""
    _, checkpoint = checkpointed
    with open(os.path.join(checkpoint, RECIPE_FILE)) as f:
        saved = json.load(f)
    assert saved["learning_rate"] == 5e-4 and saved["max_length"] == 128 and saved["mask_token"] is not None
    assert saved["train_rows"] == 2 and saved["dataset_name"] == str(tmp_path / "docs.jsonl")
    assert list(saved["data_files"]) == [str(tmp_path / "docs.jsonl")] and "bytes, modified" in str(saved)
    assert "output_dir" not in saved and "report_to" not in saved and "qa_max_new_tokens" not in saved


@pytest.mark.parametrize(
    "argv,changed",
    [
        (["--learning_rate", "1e-3"], ["`learning_rate`: 0.0005 -> 0.001"]),
        (
            ["--per_device_train_batch_size", "1", "--save_steps", "1"],
            ["`per_device_train_batch_size`: 2 -> 1", "`save_steps`: 2 -> 1"],
        ),
        (
            ["--dataset_name", "{tmp}/long.jsonl"],
            [
                "`dataset_name`: '{tmp}/docs.jsonl' -> '{tmp}/long.jsonl'",
                "`data_files`: {tmp}/docs.jsonl: ",
                "`train_rows`: 2 -> 3",
            ],
        ),
    ],
    ids=["learning_rate", "batch size and save_steps", "data"],
)
def test_a_resume_with_a_changed_recipe_is_refused(argv, changed, checkpointed, tmp_path, model_dir):  # noqa: F811
    """Issue 18 case 4: a resume with another learning rate kept the old schedule, another dataset trained without a
    word, and the checkpoint's `save_steps` won over the command line's; now every changed key is listed."""
    write, checkpoint = checkpointed
    write_jsonl(tmp_path / "long.jsonl", [{"text": "Carol Ashdown is a baker."}] * 3)
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    error = run_refused(
        "masked_sft",
        ["--config", write(), "--resume_from_checkpoint", checkpoint, *argv],
        ValueError,
        rf"The recipe differs from the one {checkpoint} was trained with, in key\(s\) that change training:",
        tmp_path,
        model_dir,
    )
    message = str(error)
    for line in changed:
        assert f"\n- {line.format(tmp=tmp_path)}" in message
    assert message.count("\n- ") == len(changed)
    keys = sorted(line.split("`")[1] for line in changed)
    assert f"`resume_allow_changes: [{', '.join(keys)}]`" in message


def test_allowed_changes_are_used_and_logged(checkpointed, tmp_path, caplog):
    """Issue 18 case 4: with `resume_allow_changes`, the resumed optimizer trains at the new learning rate and the
    recipe's `save_steps` wins over the checkpoint's."""
    write, checkpoint = checkpointed
    argv = ["--config", write(resume_allow_changes=["learning_rate", "save_steps"]), "--learning_rate", "1e-3"]
    with caplog.at_level(logging.WARNING):
        qa = masked_sft.main([*argv, "--save_steps", "1", "--resume_from_checkpoint", checkpoint])
    trainer = qa.trainer
    assert set(trainer.lr_scheduler.base_lrs) == {1e-3} and {g["lr"] for g in trainer.optimizer.param_groups} == {1e-3}
    assert trainer.state.save_steps == 1 and os.path.isdir(tmp_path / "out" / "checkpoint-3")
    assert "changed recipe (`resume_allow_changes`): `learning_rate`: 0.0005 -> 0.001." in caplog.text
    assert "`save_steps`: 2 -> 1." in caplog.text
    with open(tmp_path / "out" / "checkpoint-4" / RECIPE_FILE) as f:
        assert json.load(f)["learning_rate"] == 1e-3  # the next resume compares with the new value


@pytest.mark.parametrize(
    "allowed,match",
    [(["learning_rte"], "did you mean `learning_rate`"), (["weight_decay"], "optimizer state keeps")],
)
def test_resume_allow_changes_names_keys_a_resume_can_change(allowed, match, checkpointed, tmp_path, model_dir):  # noqa: F811
    """Issue 18 case 4: `resume_allow_changes` names keys of the recipe that a resume can change."""
    write, checkpoint = checkpointed
    argv = ["--config", write(resume_allow_changes=allowed), "--resume_from_checkpoint", checkpoint]
    run_refused("masked_sft", argv, ValueError, match, tmp_path, model_dir)


def test_keys_that_do_not_change_training_may_change(checkpointed, caplog):
    """Issue 18 cases 4 and 20: logging, reporting and evaluation keys may change on resume, silently; a model with
    tied weights resumes without "missing keys ['lm_head.weight']"."""
    write, checkpoint = checkpointed
    argv = ["--config", write(logging_strategy="no", qa_max_new_tokens=2), "--resume_from_checkpoint", checkpoint]
    with caplog.at_level(logging.WARNING):
        qa = masked_sft.main(argv)
    assert qa.trainer.state.global_step == 4
    assert "missing keys" not in caplog.text and "changed recipe" not in caplog.text
    qa.trainer._issue_warnings_after_load(_IncompatibleKeys(["lm_head.weight", "model.norm.weight"], []))
    assert "missing keys in the checkpoint model loaded: ['model.norm.weight']" in caplog.text  # a real one is kept


def test_only_tied_weights_are_not_missing():
    """Issue 18 case 20: the weights left out of a checkpoint because they are tied are not reported missing; a
    missing weight of a model without tied weights still is."""
    tokenizer = make_tiny_tokenizer()
    assert tied_weights(make_tiny_model(tokenizer)) == {"lm_head.weight"}
    assert tied_weights(make_tiny_model(tokenizer, tie_word_embeddings=False)) == set()


def test_the_data_fingerprint_and_the_compared_keys(tmp_path):
    """Issue 18 case 4, without a model: the files a data key names (a corpus file, a glob, the folder of a prefixed
    source; none for a Hub id or a built-in source), and which keys a resume compares."""
    (tmp_path / "nd" / "sub").mkdir(parents=True)
    (tmp_path / "nd" / "a.json").write_text("{}")
    (tmp_path / "nd" / "sub" / "b.txt").write_text("x\n")
    assert list(data_files(f"name_description:{tmp_path}/nd")) == [f"{tmp_path}/nd/a.json", f"{tmp_path}/nd/sub/b.txt"]
    assert list(data_files(f"{tmp_path}/nd/*.json")) == [f"{tmp_path}/nd/a.json"]
    assert data_files(f"{tmp_path}/nd/a.json")[f"{tmp_path}/nd/a.json"].startswith("2 bytes, modified ")
    assert data_files("people") == {} and data_files("openai/gsm8k") == {}
    old = {"learning_rate": 1e-4, "report_to": ["none"], "bench_limit": 5, "qa_max_new_tokens": 4, "seed": 1}
    new = {"learning_rate": 2e-4, "report_to": ["wandb"], "bench_limit": 9, "qa_max_new_tokens": 8, "max_steps": 9}
    assert recipe_changes(old, new) == {
        "learning_rate": (1e-4, 2e-4),
        "max_steps": ("(unset)", 9),
        "seed": (1, "(unset)"),
    }
