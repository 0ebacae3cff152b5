"""`resume_from_checkpoint` continues like an uninterrupted run (data order, masks, losses, the QA history), and the
best checkpoint by a QA metric is the one kept and loaded."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file
from trainer_kinds import ITEMS, KINDS, RightAt, losses, make_trainer
from transformers import TrainerCallback

from trl_maskft import MaskedSFTConfig, QAEvalCallback


class StopAfter(TrainerCallback):
    """Interrupts training after `step` optimizer steps (after the checkpoint of that step is saved)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= self.step


def train(kind, output_dir, resume=None, stop_after=None, answerer=None, **overrides):
    trainer = make_trainer(kind, output_dir, **overrides)
    qa = QAEvalCallback(trainer, ITEMS[:2], answerer or KINDS[kind].answerer)
    qa.add_to_trainer()
    if stop_after is not None:
        trainer.add_callback(StopAfter(stop_after))
    trainer.train(resume_from_checkpoint=resume)
    return trainer, qa


def step_losses(trainer, after: int) -> dict[int, float]:
    """The training losses logged after step `after`: those this run computed, not restored from a checkpoint."""
    return {log["step"]: log["loss"] for log in trainer.state.log_history if "loss" in log and log["step"] > after}


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory):
    """The uninterrupted run of each kind (2 epochs of 2 steps), trained once."""
    return {kind: train(kind, tmp_path_factory.mktemp(f"full_{kind}")) for kind in KINDS}


@pytest.mark.parametrize("stop", [1, 2], ids=["mid-epoch", "epoch-boundary"])
@pytest.mark.parametrize("kind", KINDS)
def test_resumed_run_repeats_the_uninterrupted_run(kind, stop, full_runs, tmp_path):
    full, full_qa = full_runs[kind]
    saving = {"save_strategy": "steps", "save_steps": stop}
    # a run interrupted after `stop` steps: it asks the QA items at its interruption (epoch 0.5) or at the end of
    # epoch 1, both after its checkpoint was saved
    train(kind, tmp_path, stop_after=stop, **saving)
    generations = tmp_path / "qa_generations"
    assert (generations / f"epoch_{stop / 2:g}.jsonl").exists()
    resumed, resumed_qa = train(kind, tmp_path, resume=str(tmp_path / f"checkpoint-{stop}"), **saving)

    assert len(losses(full)) == 4
    new = step_losses(resumed, after=stop)
    assert sorted(new) == list(range(stop + 1, 5))  # 3 or 2 steps computed by the resumed run
    assert new == pytest.approx(step_losses(full, after=stop), abs=1e-6)
    # epoch 0 is not asked again; the rows logged after the checkpoint are dropped, and epoch 1 (at the boundary
    # checkpoint, asked after it was saved) is asked again before training goes on
    assert [row["epoch"] for row in resumed_qa.history] == [0, 1, 2]
    assert len(resumed_qa.history) == len(full_qa.history)
    for resumed_row, full_row in zip(resumed_qa.history, full_qa.history, strict=True):
        assert resumed_row == pytest.approx(full_row)
    with open(tmp_path / "qa_metrics.jsonl") as f:
        assert [json.loads(line) for line in f] == resumed_qa.history
    assert sorted(os.listdir(generations)) == ["epoch_0.jsonl", "epoch_1.jsonl", "epoch_2.jsonl"]


def weights_equal(model, checkpoint) -> bool:
    saved = load_file(os.path.join(checkpoint, "model.safetensors"))
    state = model.state_dict()
    return all(torch.equal(state[name], tensor) for name, tensor in saved.items())


@pytest.mark.parametrize("kind", KINDS)
def test_best_checkpoint_by_a_qa_metric_is_loaded_and_named(kind, tmp_path):
    # 3 epochs of 2 steps; the answers are right after epoch 2 only, so its checkpoint (step 4) is the best
    answers = RightAt(ITEMS[:2], epochs=[2])
    trainer = make_trainer(
        kind,
        tmp_path,
        num_train_epochs=3,
        eval_strategy="epoch",
        save_strategy="epoch",
        metric_for_best_model="eval_qa_backward_rouge1",
        load_best_model_at_end=True,
    )
    answers.trainer = trainer
    qa = QAEvalCallback(trainer, ITEMS[:2], answers)
    qa.add_to_trainer()
    trainer.train()

    assert [row["qa_backward_rouge1"] for row in qa.history] == [0.0, 0.0, 1.0, 0.0]  # epochs 0 to 3
    assert trainer.state.best_model_checkpoint == str(tmp_path / "checkpoint-4") and trainer.state.best_metric == 1.0
    assert weights_equal(trainer.model, tmp_path / "checkpoint-4")
    assert not weights_equal(trainer.model, tmp_path / "checkpoint-6")  # not the final weights
    assert qa.best_loaded == {
        "checkpoint": "checkpoint-4",
        "step": 4,
        "epoch": 2,
        "metric": "eval_qa_backward_rouge1",
        "value": 1.0,
    }
    assert [row["epoch"] for row in qa.history] == [0, 1, 2, 3]  # the loaded weights' row exists: not asked again
    assert "`checkpoint-4` (epoch 2)" in qa.report() and "its row is the one of epoch 2" in qa.report()


class ScoreAtStep(TrainerCallback):
    """Adds `eval_score` to the evaluation metrics: 1 at `step`, 0 elsewhere."""

    def __init__(self, step: int):
        self.step = step

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics["eval_score"] = float(state.global_step == self.step)


def test_best_mid_epoch_checkpoint_by_another_metric_gets_its_own_qa_row(tmp_path):
    # evaluated and saved every step; the best checkpoint, by a metric that is not a QA metric, is mid-epoch 2
    trainer = make_trainer(
        "masked_sft",
        tmp_path,
        eval_strategy="steps",
        eval_steps=1,
        save_strategy="steps",
        save_steps=1,
        metric_for_best_model="eval_score",
        load_best_model_at_end=True,
    )
    trainer.add_callback(ScoreAtStep(3))
    qa = QAEvalCallback(trainer, ITEMS[:2], KINDS["masked_sft"].answerer)
    qa.add_to_trainer()
    trainer.train()

    assert trainer.state.best_model_checkpoint == str(tmp_path / "checkpoint-3")
    assert weights_equal(trainer.model, tmp_path / "checkpoint-3")
    assert [row["epoch"] for row in qa.history] == [0, 1, 2, 1.5]  # the loaded weights asked at the end
    assert qa.best_loaded["epoch"] == 1.5 and "`checkpoint-3` (epoch 1.5)" in qa.report()


def test_persistent_workers_are_refused(tmp_path):
    # they would keep the collator of the first epoch, and with it its masks
    with pytest.raises(ValueError, match="dataloader_persistent_workers=False"):
        MaskedSFTConfig(
            str(tmp_path), dataloader_num_workers=1, dataloader_persistent_workers=True, use_cpu=True, bf16=False
        )
