"""The CPU loss from the supervised positions' logits equals TRL's fused-head loss, gradients and metrics included."""

import pytest
import torch
from datasets import Dataset
from tiny import CPU_RECIPE_KEYS, MASK_TOKEN, make_tiny_model, make_tiny_tokenizer
from trl import SFTTrainer

from trl_maskft import BaselineSFTConfig, MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.baselines.trainer import BaselineSFTTrainer
from trl_maskft.training.selected_logits import next_token_positions

DOCS = ["Alice Thornbury was born in Paris and works as a painter.", "Bob Quillfeather is a pilot.", "Clara."]


def test_positions_predict_the_supervised_next_tokens():
    labels = torch.tensor([[-100, 5, 6, -100], [-100, -100, -100, 7]])
    assert next_token_positions(labels).tolist() == [[True, True, False, False], [False, False, True, False]]


def trainer_of(kind, tmp_path, **keys):
    tokenizer = make_tiny_tokenizer()
    common = {"output_dir": str(tmp_path), "per_device_train_batch_size": 3, **CPU_RECIPE_KEYS, **keys}
    if kind == "masked":
        args = MaskedSFTConfig(mask_token=MASK_TOKEN, **common)
        data, cls = Dataset.from_dict({"text": DOCS}), MaskedSFTTrainer
    else:
        args = BaselineSFTConfig(**common)
        data = Dataset.from_dict({"prompt": ["Tell me a fact."] * 3, "completion": DOCS})
        cls = BaselineSFTTrainer
    return cls(model=make_tiny_model(tokenizer), args=args, train_dataset=data, processing_class=tokenizer)


@pytest.mark.parametrize("kind", ["masked", "baseline"])
@pytest.mark.parametrize("padding_free", [False, True])
def test_loss_gradients_and_metrics_equal_trls(kind, padding_free, tmp_path):
    trainer = trainer_of(
        kind, tmp_path, padding_free=padding_free, **({} if kind == "masked" else {"max_length": None})
    )
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    model = trainer.model
    results = []
    for compute in (trainer.compute_loss, lambda m, inputs: SFTTrainer.compute_loss(trainer, m, inputs)):
        model.zero_grad()
        trainer._metrics["train"].clear()
        loss = compute(model, dict(batch))
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
        results.append((loss.detach(), grads, metrics))
    (ours, our_grads, our_metrics), (trls, trl_grads, trl_metrics) = results
    torch.testing.assert_close(ours, trls, rtol=1e-5, atol=1e-6)
    for mine, theirs in zip(our_grads, trl_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)
    assert our_metrics["mean_token_accuracy"] == pytest.approx(trl_metrics["mean_token_accuracy"])
    assert our_metrics["entropy"] == pytest.approx(trl_metrics["entropy"], rel=1e-4)
    assert our_metrics["num_tokens"] > 0  # counted by each call, like TRL's


def test_other_losses_are_left_to_trl(tmp_path):
    trainer = trainer_of("baseline", tmp_path, loss_type="dft", max_length=None)
    assert not trainer._selects_logits(trainer.model, return_outputs=False)
    assert not trainer_of("masked", tmp_path)._selects_logits(trainer.model, return_outputs=True)
