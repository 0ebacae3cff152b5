"""The best evaluated QA epoch (the paper's selection): pure selection functions, the schedule check, and the callback
that keeps that epoch's weights without a checkpoint at every epoch."""

import importlib
import os
import re

import pytest
import torch
from safetensors.torch import load_file
from tiny import MASK_TOKEN, save_tiny_model, write_tiny_recipe
from trainer_kinds import ITEMS, KINDS, QA_TOKENS, RightAt, make_trainer
from transformers import TrainerCallback

from trl_maskft import QAEvalCallback
from trl_maskft.evaluation.best_epoch import BestEpochCallback
from trl_maskft.evaluation.selection import (
    PAPER_METRIC,
    best_epoch,
    check_qa_schedule,
    describe_best,
    resolve_metric,
    with_means,
)

ROWS = [
    {"epoch": 0, "qa_forward_rouge1": 0.9, "qa_backward_rouge1": 0.9},  # before training: never selected
    {"epoch": 30, "qa_forward_rouge1": 0.8, "qa_backward_rouge1": 0.2},
    {"epoch": 60, "qa_forward_rouge1": 0.6, "qa_backward_rouge1": 0.6},
    {"epoch": 120, "qa_forward_rouge1": 1.0, "qa_backward_rouge1": 0.2},  # ties epoch 60: the earlier one wins
    {"epoch": 240, "qa_forward_rouge1": 0.3},  # no backward score: no mean
]


def test_mean_of_both_directions_and_best_epoch():
    assert with_means(ROWS[1]) == {**ROWS[1], "qa_mean_rouge1": 0.5}
    assert with_means(ROWS[4]) == ROWS[4]
    assert best_epoch(ROWS, PAPER_METRIC) is ROWS[2]
    assert best_epoch(ROWS, "qa_forward_rouge1") is ROWS[3]
    assert best_epoch(ROWS[:1], PAPER_METRIC) is None and best_epoch([], PAPER_METRIC) is None
    assert describe_best(ROWS[2], PAPER_METRIC) == (
        "Best evaluated epoch by the mean of forward and backward ROUGE-1 (`qa_mean_rouge1`, the paper's selection, "
        "arXiv 2510.09885 v6 App. A.4), epoch 0 (before training) excluded: epoch 60 (qa_mean_rouge1 0.600, forward "
        "ROUGE-1 0.600, backward ROUGE-1 0.600)."
    )


def test_selection_metric_must_be_one_the_qa_items_produce():
    knowledge = ["qa_rouge1", "qa_forward_rouge1", "qa_backward_rouge1", "qa_forward_contains", "qa_backward_contains"]
    assert resolve_metric(None, knowledge) == PAPER_METRIC
    assert resolve_metric("qa_mean_contains", knowledge) == "qa_mean_contains"
    assert resolve_metric(None, ["qa_gsm8k_exact_match"]) is None  # no default for other tasks
    assert resolve_metric("qa_gsm8k_exact_match", ["qa_gsm8k_exact_match"]) == "qa_gsm8k_exact_match"
    with pytest.raises(ValueError, match=r"`qa_best_metric: qa_forward_bleu` is not a metric of these QA items"):
        resolve_metric("qa_forward_bleu", knowledge)
    with pytest.raises(ValueError, match=r"They produce: qa_forward_rouge1, qa_rouge1\. .* both directions"):
        resolve_metric(PAPER_METRIC, ["qa_rouge1", "qa_forward_rouge1"])


def test_schedule_beyond_the_run_is_refused():
    check_qa_schedule(None, 3)
    check_qa_schedule([0, 1, 3], 3)
    with pytest.raises(ValueError, match=r"holds \[3840\], outside the 100 epochs .* would never be asked"):
        check_qa_schedule([0, 30, 3840], 100)
    with pytest.raises(ValueError, match=r"holds \[-1\]"):
        check_qa_schedule([-1, 2], 3)


def test_qa_callback_refuses_a_schedule_epoch_the_run_never_reaches(tmp_path):
    trainer = make_trainer("masked_sft", tmp_path, num_train_epochs=2)
    QAEvalCallback(trainer, ITEMS[:2], KINDS["masked_sft"].answerer, eval_epochs=[0, 1, 5]).add_to_trainer()
    with pytest.raises(ValueError, match=r"`qa_eval_epochs` holds \[5\], outside the 2 epochs"):
        trainer.train()
    assert trainer.state.global_step == 0


class Saves(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_save(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def weights_equal(model, folder) -> bool:
    saved = load_file(os.path.join(folder, "model.safetensors"))
    state = model.state_dict()
    return all(torch.equal(state[name], tensor) for name, tensor in saved.items())


def train_with_selection(tmp_path, right_at, eval_epochs, keep_weights=True, **overrides):
    """4 epochs of 2 steps; answers right after the epochs `right_at` only; QA after `eval_epochs`."""
    trainer = make_trainer("masked_sft", tmp_path, num_train_epochs=4, save_total_limit=1, **overrides)
    answers = RightAt(ITEMS[:2], epochs=right_at)
    answers.trainer = trainer
    qa = QAEvalCallback(trainer, ITEMS[:2], answers, eval_epochs=eval_epochs)
    qa.add_to_trainer()
    selection = BestEpochCallback(qa, keep_weights=keep_weights)
    saves = Saves()
    trainer.add_callback(selection)
    trainer.add_callback(saves)
    trainer.train()
    return trainer, qa, saves


def test_best_epoch_weights_are_kept_with_saves_at_improvements_only(tmp_path):
    trainer, qa, saves = train_with_selection(tmp_path, right_at=[2], eval_epochs=[0, 1, 2, 4])
    assert [row["epoch"] for row in qa.history] == [0, 1, 2, 4]
    # epoch 1 is the first candidate (a best so far), epoch 2 improves, epoch 4 does not: two saves, one kept
    assert saves.steps == [2, 4]
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("checkpoint-")) == ["checkpoint-4"]
    assert trainer.state.global_step == 8 and weights_equal(trainer.model, tmp_path / "checkpoint-4")
    report = qa.report()
    assert "epoch 2 (qa_mean_rouge1 1.000, forward ROUGE-1 1.000, backward ROUGE-1 1.000)" in report
    assert "The saved model is that epoch's weights: `checkpoint-4`" in report


def test_best_at_the_last_epoch_is_not_saved_again(tmp_path):
    trainer, qa, saves = train_with_selection(tmp_path, right_at=[4], eval_epochs=[0, 2, 4])
    assert saves.steps == [4]  # epoch 2 (the first candidate) only: the final weights are epoch 4's
    assert not weights_equal(trainer.model, tmp_path / "checkpoint-4")
    assert (
        "epoch 4 (qa_mean_rouge1 1.000" in qa.report()
        and "The last row is the final model. The saved model is that epoch's weights." in qa.report()
    )


def test_best_epoch_is_reported_without_keeping_its_weights(tmp_path):
    trainer, qa, saves = train_with_selection(tmp_path, right_at=[2], eval_epochs=[0, 2, 4], keep_weights=False)
    assert saves.steps == [] and not any(p.startswith("checkpoint-") for p in os.listdir(tmp_path))
    assert "epoch 2 (qa_mean_rouge1 1.000" in qa.report()
    assert "The last row is the final model. Set `qa_keep_best: true`" in qa.report()


def test_selection_errors(tmp_path):
    trainer = make_trainer("masked_sft", tmp_path)
    qa = QAEvalCallback(trainer, ITEMS[:2])
    with pytest.raises(ValueError, match=r"`qa_best_metric: qa_city_rouge1` is not a metric"):
        BestEpochCallback(qa, metric="qa_city_rouge1")
    forward_only = QAEvalCallback(trainer, [ITEMS[0]])
    assert BestEpochCallback(forward_only).metric is None and forward_only.selection is None
    with pytest.raises(ValueError, match="`qa_keep_best` needs a `qa_best_metric`"):
        BestEpochCallback(forward_only, keep_weights=True)
    trainer = make_trainer(
        "masked_sft",
        tmp_path,
        eval_strategy="epoch",
        save_strategy="epoch",
        metric_for_best_model="eval_loss",
        load_best_model_at_end=True,
    )
    with pytest.raises(ValueError, match="`qa_keep_best` and `load_best_model_at_end` both choose the saved model"):
        BestEpochCallback(QAEvalCallback(trainer, ITEMS[:2]), keep_weights=True)


def test_script_reports_the_best_epoch_in_summary_and_card(tmp_path):
    save_tiny_model(tmp_path / "model")
    recipe = write_tiny_recipe(
        tmp_path,
        dataset_name="people",
        num_people=2,
        qa_max_new_tokens=QA_TOKENS,
        num_train_epochs=2,
        per_device_train_batch_size=2,
        mask_token=MASK_TOKEN,
        qa_keep_best=True,
        save_total_limit=1,
    )
    importlib.import_module("trl_maskft.scripts.masked_sft").main(["--config", recipe])
    out = tmp_path / "out"
    summary, card = (out / "qa_summary.md").read_text(), (out / "README.md").read_text()
    best = re.search(r"Best evaluated epoch by the mean of forward and backward ROUGE-1 .*? epoch (\d)", summary)
    assert best and best[0] in card
    loaded = re.search(r"`(checkpoint-\d+)`, saved when the epoch was evaluated", summary)
    assert loaded or "The saved model is that epoch's weights." in summary
    if loaded:  # the saved model is the loaded checkpoint's weights
        assert load_file(out / "model.safetensors").keys() == load_file(out / loaded[1] / "model.safetensors").keys()
        saved, kept = load_file(out / "model.safetensors"), load_file(out / loaded[1] / "model.safetensors")
        assert all(torch.equal(saved[name], kept[name]) for name in kept)
