"""`resume_from_checkpoint` continues like an uninterrupted run: data order, masks, losses and the QA history."""

import json

import pytest
from test_qa_callback import ITEMS
from trainer_kinds import KINDS, QA_TOKENS, losses, make_trainer
from transformers import TrainerCallback

from trl_maskft import MaskedSFTConfig, QAEvalCallback


class StopAfter(TrainerCallback):
    """Interrupts training after `step` optimizer steps (after the checkpoint of that step is saved)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= self.step


def train(kind, output_dir, resume=None, stop_after=None, **overrides):
    trainer = make_trainer(kind, output_dir, **overrides)
    qa = QAEvalCallback(trainer, ITEMS[:2], max_new_tokens=QA_TOKENS, answer_fn=KINDS[kind].answer_fn)
    trainer.add_callback(qa)
    if stop_after is not None:
        trainer.add_callback(StopAfter(stop_after))
    trainer.train(resume_from_checkpoint=resume)
    return trainer, qa


@pytest.mark.parametrize("kind", KINDS)
def test_resumed_run_repeats_the_uninterrupted_run(kind, tmp_path):
    # 4 documents, 2 per step: 2 steps per epoch; the checkpoint of step 3 is in the middle of the second epoch
    full, full_qa = train(kind, tmp_path / "full")
    saving = {"save_strategy": "steps", "save_steps": 3}
    train(kind, tmp_path / "run", stop_after=3, **saving)  # asks the QA items at its interruption, epoch 1.5
    resumed, resumed_qa = train(kind, tmp_path / "run", resume=str(tmp_path / "run" / "checkpoint-3"), **saving)

    assert len(losses(full)) == 4
    assert losses(resumed) == pytest.approx(losses(full), abs=1e-6)
    # epoch 0 is not asked again, the rows before the checkpoint are restored, the interrupted run's row is dropped
    assert [row["epoch"] for row in resumed_qa.history] == [0, 1, 2]
    assert resumed_qa.history == pytest.approx(full_qa.history)
    with open(tmp_path / "run" / "qa_metrics.jsonl") as f:
        assert [json.loads(line) for line in f] == resumed_qa.history


def test_best_checkpoint_by_a_qa_metric(tmp_path):
    trainer, qa = train(
        "masked_sft",
        tmp_path,
        eval_strategy="epoch",
        save_strategy="epoch",
        metric_for_best_model="eval_qa_backward_rouge1",
        load_best_model_at_end=True,
    )
    best = max(row["qa_backward_rouge1"] for row in qa.history[1:])
    assert trainer.state.best_metric == best
    assert trainer.state.best_model_checkpoint is not None


def test_persistent_workers_are_refused(tmp_path):
    # they would keep the collator of the first epoch, and with it its masks
    with pytest.raises(ValueError, match="dataloader_persistent_workers=False"):
        MaskedSFTConfig(str(tmp_path), dataloader_num_workers=1, dataloader_persistent_workers=True, use_cpu=True)
