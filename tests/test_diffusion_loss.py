"""Diffusion SFT: the noise, the loss (LLaDA formula, normalizations, gradient accumulation) and the logit shift."""

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from diffusion_helpers import (
    DOCS,
    GENERATION_TEMPLATE,
    chats,
    collate,
    conversations,
    llada_loss_by_hand,
    make_trainer,
)
from tiny import CHAT_TEMPLATE, make_tiny_tokenizer

from trl_maskft.common import IGNORE_INDEX, TRAIN_STREAM
from trl_maskft.diffusion_sft.noise import (
    diffusion_loss,
    draw_masks,
    loss_weights,
    prediction_positions,
)


def test_masks_are_keyed_on_seed_step_rank_and_row():
    supervised = torch.ones(3, 40, dtype=torch.bool)
    masked, p = draw_masks(supervised, seed=0, step=5)
    again, p_again = draw_masks(supervised, seed=0, step=5)
    assert torch.equal(masked, again) and torch.equal(p, p_again)  # reproducible / resumable at step 5
    for other in (dict(seed=1, step=5), dict(seed=0, step=6), dict(seed=0, step=5, rank=1)):
        assert not torch.equal(draw_masks(supervised, **other)[0], masked)
    # rows keep their draws however they are split into micro-batches
    assert torch.equal(draw_masks(supervised[:1], seed=0, step=5, row_offset=2)[0], masked[2:])
    _, p_batch = draw_masks(supervised, seed=0, step=5, t_scope="batch")
    assert torch.all(p_batch == p_batch[0])
    _, p_range = draw_masks(torch.ones(200, 4, dtype=torch.bool), 0, 0, t_min=0.05, t_max=0.95, eps=0.0)
    assert 0.05 <= p_range.min() and p_range.max() <= 0.95


def test_normalizations_match_their_formulas():
    supervised = torch.tensor([[0, 1, 1, 1, 1], [0, 0, 1, 1, 0]], dtype=torch.bool)
    masked = torch.tensor([[0, 1, 0, 1, 1], [0, 0, 1, 0, 0]], dtype=torch.bool)
    p = torch.tensor([0.5, 0.25])
    logits, targets = torch.randn(4, 7), torch.randint(0, 7, (4,))
    ce = F.cross_entropy(logits, targets, reduction="none")  # masked positions in row-major order: rows 0, 0, 0, 1
    expected = {
        "answer_length": ((ce[:3] / 0.5).sum() / 4 + ce[3] / 0.25 / 2) / 2,
        "masked_tokens": ((ce[:3] / 0.5).sum() + ce[3] / 0.25) / 4,
        "batch": ((ce[:3] / 0.5).sum() + ce[3] / 0.25) / 6,
    }
    for normalization, value in expected.items():
        weights, denominator = loss_weights(masked, supervised, p, normalization)
        assert torch.allclose(diffusion_loss(logits, targets, weights[masked], denominator), value)


def test_loss_equals_llada_formula(tmp_path):
    eps, t_min, t_max = 0.01, 0.2, 0.9
    trainer = make_trainer(tmp_path, eps=eps, t_min=t_min, t_max=t_max)
    batch = collate(trainer)
    noised = trainer._noise(batch, step=0, row_offset=0, stream=TRAIN_STREAM)
    loss = trainer.compute_loss(trainer.model, noised)
    assert loss.item() == pytest.approx(llada_loss_by_hand(trainer, batch, noised, eps, t_min, t_max), rel=1e-4)


def test_prompt_never_masked_and_everything_supervised_at_t_equal_one(tmp_path):
    trainer = make_trainer(tmp_path, t_min=1.0, t_max=1.0)
    batch = collate(trainer)
    prompt = (batch["labels"] == IGNORE_INDEX) & (batch["attention_mask"] == 1)
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    assert torch.equal(noised["input_ids"][prompt], batch["input_ids"][prompt])
    assert torch.all(noised["input_ids"][~prompt] == trainer.mask_token_id)  # the completion, EOS padding included
    trainer.args.t_min = 0.0
    for step in range(5):  # any t: the prompt is left alone
        assert torch.equal(
            trainer._noise(batch, step, 0, TRAIN_STREAM)["input_ids"][prompt], batch["input_ids"][prompt]
        )


def test_conversations_mask_only_the_assistant_turns(tmp_path):
    tokenizer = make_tiny_tokenizer()
    tokenizer.chat_template = GENERATION_TEMPLATE
    trainer = make_trainer(tmp_path, dataset=conversations(), tokenizer=tokenizer, t_min=1.0, t_max=1.0)
    assert trainer.args.assistant_only_loss  # turned on for `messages` data
    batch = collate(trainer)
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    for row, messages in enumerate(conversations()["messages"]):
        # the assistant turns (content and <|im_end|>), from the conversation rendered one turn at a time
        answer = torch.zeros(batch["input_ids"].shape[1], dtype=torch.bool)
        for turn in (1, 3):
            start = len(tokenizer.apply_chat_template(messages[:turn], add_generation_prompt=True)["input_ids"])
            stop = len(tokenizer.apply_chat_template(messages[: turn + 1])["input_ids"]) - 1  # "\n" is markup
            answer[start:stop] = True
        real = batch["attention_mask"][row].bool()
        assert torch.all(noised["input_ids"][row, answer] == trainer.mask_token_id)  # t = 1: all masked
        prompt = real & ~answer  # the user turns and the chat markup: never masked, at t = 1 too
        assert torch.equal(noised["input_ids"][row, prompt], batch["input_ids"][row, prompt])
    assert torch.isfinite(trainer.compute_loss(trainer.model, noised))


@pytest.mark.parametrize(("template", "problem"), [(CHAT_TEMPLATE, "not training-compatible"), (None, "no chat")])
def test_conversations_need_assistant_masks(tmp_path, template, problem):
    # the tiny template marks no assistant turn, and TRL has no patch for it
    tokenizer = make_tiny_tokenizer()
    tokenizer.chat_template = template
    with pytest.raises(ValueError, match=f"never masks the prompt.*generation %}}.*{problem}"):
        make_trainer(tmp_path, dataset=conversations(), tokenizer=tokenizer)


@pytest.mark.parametrize("supervise", [True, False])
def test_padding_supervision(tmp_path, supervise):
    trainer = make_trainer(tmp_path, t_min=1.0, t_max=1.0, supervise_padding=supervise)
    batch = collate(trainer)
    padding = batch["attention_mask"] == 0
    assert padding.any()
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    if supervise:  # attended, masked at t = 1, and predicted as EOS
        assert torch.all(noised["attention_mask"] == 1)
        assert torch.all(noised["input_ids"][padding] == trainer.mask_token_id)
        assert torch.all(noised["labels"][padding] == trainer.processing_class.eos_token_id)
    else:
        assert torch.equal(noised["attention_mask"], batch["attention_mask"])
        assert torch.all(noised["labels"][padding] == IGNORE_INDEX)
        assert torch.all(noised["input_ids"][padding] == trainer.processing_class.pad_token_id)


def test_raw_text_supervises_everything_but_bos(tmp_path):
    tokenizer = make_tiny_tokenizer()
    tokenizer.bos_token = "<|im_start|>"
    dataset = Dataset.from_dict({"text": ["<|im_start|>" + doc for doc in DOCS]})
    trainer = make_trainer(tmp_path, dataset=dataset, tokenizer=tokenizer, t_min=1.0, t_max=1.0)
    batch = collate(trainer)
    assert torch.all(batch["input_ids"][:, 0] == tokenizer.bos_token_id)
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    assert torch.all(noised["input_ids"][:, 0] == tokenizer.bos_token_id)
    assert torch.all(noised["input_ids"][:, 1:] == trainer.mask_token_id)


def test_training_noise_is_keyed_on_the_global_step(tmp_path):
    trainer = make_trainer(tmp_path)
    batch = collate(trainer)
    trainer.state.global_step = 7  # e.g. resumed from checkpoint-7
    (noised,), num_items = trainer.get_batch_samples(iter([batch]), 1, torch.device("cpu"))
    assert torch.equal(noised["input_ids"], trainer._noise(batch, 7, 0, TRAIN_STREAM)["input_ids"])
    assert not torch.equal(noised["input_ids"], trainer._noise(batch, 6, 0, TRAIN_STREAM)["input_ids"])
    assert num_items == 4  # answer_length normalization: the number of rows


@pytest.mark.parametrize("normalization", ["answer_length", "masked_tokens", "batch"])
def test_gradient_accumulation_equivalence(tmp_path, normalization):
    def run(batch_size, accumulation):
        trainer = make_trainer(
            tmp_path, dataset=chats(DOCS[:2]), per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation, optim="sgd", learning_rate=0.5, max_grad_norm=0.0,
            supervise_padding=False, loss_normalization=normalization,
        )  # fmt: skip
        trainer.train()
        return trainer.state.log_history[0]["loss"], [p.detach().clone() for p in trainer.model.parameters()]

    loss_2x1, params_2x1 = run(2, 1)
    loss_1x2, params_1x2 = run(1, 2)
    assert loss_2x1 == pytest.approx(loss_1x2, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(params_2x1, params_1x2, strict=True))


@pytest.mark.parametrize(
    ("docs", "pad_to_multiple_of", "equivalent"),
    [
        (["Alice Thornbury lives in Paris.", "Bob Quillfeather is a pilot."], None, True),  # equal token lengths
        (DOCS[:2], 64, True),  # a fixed canvas: every micro-batch is padded to 64 tokens, more than any row
        (DOCS[:2], None, False),  # per-micro-batch padding: alone, the short row has no EOS padding to supervise
    ],
)
def test_gradient_accumulation_with_padding_supervision(tmp_path, docs, pad_to_multiple_of, equivalent):
    def run(batch_size, accumulation):
        trainer = make_trainer(
            tmp_path, dataset=chats(docs), per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation, optim="sgd", learning_rate=0.5, max_grad_norm=0.0,
            pad_to_multiple_of=pad_to_multiple_of,
        )  # fmt: skip
        rows = [trainer.train_dataset[i] for i in range(2)]
        canvases = [
            trainer.data_collator(rows[i : i + batch_size])["input_ids"].shape[1] for i in range(0, 2, batch_size)
        ]
        trainer.train()
        return canvases, trainer.state.log_history[0]["loss"], [p.detach().clone() for p in trainer.model.parameters()]

    canvases_2x1, loss_2x1, params_2x1 = run(2, 1)
    canvases_1x2, loss_1x2, params_1x2 = run(1, 2)
    assert (canvases_1x2 == canvases_2x1 * 2) is equivalent  # every row sees the same EOS padding either way
    same = loss_2x1 == pytest.approx(loss_1x2, rel=1e-5) and all(
        torch.allclose(a, b, atol=1e-6) for a, b in zip(params_2x1, params_1x2, strict=True)
    )
    assert same is equivalent


def test_training_reduces_the_loss(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=40, learning_rate=1e-2)
    trainer.eval_dataset = trainer.train_dataset
    before = trainer.evaluate()["eval_loss"]
    assert trainer.evaluate()["eval_loss"] == before  # evaluation noise is the same at every evaluation
    trainer.train()
    after = trainer.evaluate()
    assert after["eval_loss"] < 0.7 * before
    assert 0 < after["eval_mask_ratio"] < 1 and 0 <= after["eval_masked_token_accuracy"] <= 1
    logged = trainer.state.log_history[0]
    assert {"mask_ratio", "masked_token_accuracy"} <= logged.keys()


def test_prediction_positions_shift_left_and_refuse_position_zero():
    masked = torch.tensor([[0, 1, 0, 1, 1], [0, 0, 1, 0, 0]], dtype=torch.bool)
    assert torch.equal(prediction_positions(masked), masked)
    expected = torch.tensor([[1, 0, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(prediction_positions(masked, shift_logits=True), expected)
    with pytest.raises(ValueError, match="position 0"):
        prediction_positions(torch.tensor([[1, 0, 1]], dtype=torch.bool), shift_logits=True)


def test_shifted_loss_equals_hand_computation(tmp_path):
    eps, t_min, t_max = 0.01, 0.2, 0.9
    trainer = make_trainer(tmp_path, eps=eps, t_min=t_min, t_max=t_max, shift_logits=True)
    assert trainer._accepts_logits_to_keep  # the loss projects only the positions i - 1
    batch = collate(trainer)
    noised = trainer._noise(batch, step=0, row_offset=0, stream=TRAIN_STREAM)
    loss = trainer.compute_loss(trainer.model, noised)
    full_loss, _ = trainer.compute_loss(trainer.model, noised, return_outputs=True)  # from the full logits
    assert full_loss.item() == pytest.approx(loss.item(), rel=1e-5)

    # By hand: the masked token at position i is scored with the logits at position i - 1
    by_hand = llada_loss_by_hand(trainer, batch, noised, eps, t_min, t_max, shift=1)
    assert loss.item() == pytest.approx(by_hand, rel=1e-4)
    unshifted = llada_loss_by_hand(trainer, batch, noised, eps, t_min, t_max)
    assert loss.item() != pytest.approx(unshifted, rel=1e-3)


def test_shift_never_supervises_the_first_token(tmp_path):
    # raw text without BOS (the tiny tokenizer has none): position 0 has no logits before it, so it is never masked
    dataset = Dataset.from_dict({"text": DOCS})
    trainer = make_trainer(tmp_path, dataset=dataset, t_min=1.0, t_max=1.0, shift_logits=True)
    batch = collate(trainer)
    noised = trainer._noise(batch, 0, 0, TRAIN_STREAM)
    assert torch.equal(noised["input_ids"][:, 0], batch["input_ids"][:, 0])
    assert torch.all(noised["input_ids"][:, 1:] == trainer.mask_token_id)
    assert torch.isfinite(trainer.compute_loss(trainer.model, noised))


def test_shifted_training_reduces_the_loss(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=40, learning_rate=1e-2, shift_logits=True)
    trainer.eval_dataset = trainer.train_dataset
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    assert trainer.evaluate()["eval_loss"] < 0.7 * before
