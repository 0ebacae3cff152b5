import pytest
import torch
from datasets import Dataset

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.common import IGNORE_INDEX
from trl_maskft.masked_sft.masking import num_to_mask

DOCS = [
    "Alice Thornbury is the painter of a glass bridge.",
    "Bob Quillfeather is the pilot of a red lighthouse.",
    "Clara Ashgrove is the baker of a talking clock.",
    "Daniel Brennick is the poet of a folding bicycle.",
]


def config(tmp_path, **overrides):
    kwargs = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        num_train_epochs=1,
        max_steps=-1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        seed=0,
        max_length=256,
    )
    kwargs.update(overrides)
    return MaskedSFTConfig(**kwargs)


def make_trainer(tmp_path, model, tokenizer, dataset=None, **overrides):
    return MaskedSFTTrainer(
        model=model,
        args=config(tmp_path, **overrides),
        train_dataset=Dataset.from_dict({"text": DOCS}) if dataset is None else dataset,
        processing_class=tokenizer,
    )


def decode(tokenizer, ids):
    return tokenizer.decode([i for i in ids if i != IGNORE_INDEX])


def test_labels_cover_exactly_the_document_and_end_of_turn(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer)
    row = trainer.train_dataset[0]
    ids, labels = row["input_ids"], row["labels"]
    text = tiny_tokenizer.decode(ids)
    assert text.count(DOCS[0]) == 2  # masked copy (before masking) and target
    assert "Return the recovered masked passage." in text and "Here is the recovered text:" in text
    supervised = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    assert supervised == list(range(supervised[0], supervised[-1] + 1))  # one contiguous block
    assert decode(tiny_tokenizer, labels) == DOCS[0] + "<|im_end|>"  # document + end of turn, no prefix
    assert all(labels[i] == ids[i] for i in supervised)
    # the masked span is the first copy of the document, its twin starts where the labels start
    n, start = row["span_length"], row["span_start"]
    assert ids[start : start + n] == ids[row["twin_start"] : row["twin_start"] + n]
    assert row["twin_start"] == supervised[0]


def test_collated_batch_masks_prompt_copy_only(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer)
    rows = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(rows)
    mask_id = tiny_tokenizer.convert_tokens_to_ids("[]")
    assert trainer.mask_token_id == mask_id
    for r, row in enumerate(rows):
        ids = batch["input_ids"][r, : len(row["input_ids"])]
        masked = (ids == mask_id).nonzero().flatten().tolist()
        assert masked and all(row["span_start"] <= m < row["span_start"] + row["span_length"] for m in masked)
        assert batch["labels"][r, : len(row["labels"])].tolist() == row["labels"]


def test_truncation_keeps_twins_aligned(tmp_path, tiny_model, tiny_tokenizer):
    full = make_trainer(tmp_path, tiny_model, tiny_tokenizer).train_dataset[0]
    max_length = len(full["input_ids"]) - 6
    row = make_trainer(tmp_path, tiny_model, tiny_tokenizer, max_length=max_length).train_dataset[0]
    assert len(row["input_ids"]) <= max_length
    assert row["span_length"] == full["span_length"] - 3
    n = row["span_length"]
    ids = row["input_ids"]
    assert (
        ids[row["span_start"] : row["span_start"] + n]
        == full["input_ids"][full["span_start"] : full["span_start"] + n]
    )
    assert ids[row["span_start"] : row["span_start"] + n] == ids[row["twin_start"] : row["twin_start"] + n]
    assert [label for label in row["labels"] if label != IGNORE_INDEX][:n] == ids[
        row["twin_start"] : row["twin_start"] + n
    ]


def test_prompt_completion_data_supervises_masked_twins(tmp_path, tiny_model, tiny_tokenizer):
    question, answer = "What is 2 + 3?", "2 + 3 = 5. The answer is 5."
    data = Dataset.from_dict({"prompt": [question], "completion": [answer]})
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, dataset=data)
    row = trainer.train_dataset[0]
    start, n = row["span_start"], row["span_length"]
    assert tiny_tokenizer.decode(row["input_ids"][start : start + n]) == answer  # the copy before masking
    batch = trainer.data_collator([row])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    masked_answer = tiny_tokenizer.decode(ids[start : start + n])
    assert "[]" in masked_answer and masked_answer != answer
    text = tiny_tokenizer.decode(ids)
    user_turn = f"Question:\n{question}\nAnswer:\n{masked_answer}\nReturn the recovered masked answer."
    assert text == f"<|im_start|>user\n{user_turn}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"
    masked = (ids == trainer.mask_token_id).nonzero().flatten() - start
    supervised = (labels != IGNORE_INDEX).nonzero().flatten() - row["twin_start"]
    assert masked.numel() > 0
    assert masked.tolist() == supervised.tolist()


def test_linear_schedule_spans_the_run_that_max_steps_sets(tmp_path, tiny_model, tiny_tokenizer):
    counts = []

    class RecordingTrainer(MaskedSFTTrainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            counts.append((inputs["input_ids"] == self.mask_token_id).sum(dim=1).tolist())
            return super().compute_loss(model, inputs, *args, **kwargs)

    # 4 rows in batches of 2: 2 steps per epoch, so `max_steps=6` runs 3 epochs although `num_train_epochs=1`
    args = config(tmp_path, num_train_epochs=1, max_steps=6, per_device_train_batch_size=2, mask_ratio_mode="linear")
    args.mask_ratio_min, args.mask_ratio_max = 0.1, 0.9
    data = Dataset.from_dict({"text": [DOCS[0]] * 4})
    trainer = RecordingTrainer(model=tiny_model, args=args, train_dataset=data, processing_class=tiny_tokenizer)
    n = trainer.train_dataset[0]["span_length"]
    trainer.train()
    assert trainer.state.num_train_epochs == 3
    expected = [num_to_mask(n, 0.1 + 0.8 * progress) for progress in (0.0, 0.0, 0.5, 0.5, 1.0, 1.0)]
    assert counts == [[k, k] for k in expected]


@pytest.mark.parametrize("mode", ["uniform", "linear"])
def test_evaluation_masks_are_fixed_and_unlike_training_masks(tmp_path, tiny_model, tiny_tokenizer, mode):
    data = Dataset.from_dict({"text": DOCS})
    trainer = MaskedSFTTrainer(
        model=tiny_model,
        args=config(tmp_path, mask_ratio_mode=mode, per_device_eval_batch_size=len(DOCS)),
        train_dataset=data,
        eval_dataset=data,
        processing_class=tiny_tokenizer,
    )

    def eval_masks():
        return next(iter(trainer.get_eval_dataloader()))["input_ids"]

    first, loss = eval_masks(), trainer.evaluate()["eval_loss"]
    train_masks = trainer.data_collator([trainer.eval_dataset[i] for i in range(len(DOCS))])["input_ids"]
    assert first.shape == train_masks.shape and not torch.equal(first, train_masks)  # same rows, same epoch
    trainer.data_collator.set_epoch(2, num_epochs=3)  # training moves on (`linear`: to its largest ratio)
    assert torch.equal(eval_masks(), first)
    assert trainer.evaluate()["eval_loss"] == loss


def test_training_lowers_the_loss(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path, tiny_model, tiny_tokenizer, num_train_epochs=30, mask_ratio_mode="fixed", mask_ratio=0.5
    )
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_works_with_lora(tmp_path, tiny_model, tiny_tokenizer):
    from peft import LoraConfig

    trainer = MaskedSFTTrainer(
        model=tiny_model,
        args=config(tmp_path, max_steps=2),
        train_dataset=Dataset.from_dict({"text": DOCS}),
        processing_class=tiny_tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_B" in n}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before)


@pytest.mark.parametrize(
    "overrides,data,match",
    [
        ({}, {"body": DOCS}, "needs a `text` column"),
        ({}, {"text": []}, "The dataset has no rows"),
        ({}, {"text": ["fine document.", "   "]}, "empty"),
        ({"mask_token": "[MASK] token"}, {"text": DOCS}, "exactly one"),
        ({"mask_token_id": 10**6}, {"text": DOCS}, "outside the tokenizer's vocabulary"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, tiny_model, tiny_tokenizer, overrides, data, match):
    with pytest.raises(ValueError, match=match):
        make_trainer(tmp_path, tiny_model, tiny_tokenizer, dataset=Dataset.from_dict(data), **overrides)


def test_tokenizer_without_chat_template_is_refused(tmp_path, tiny_model, tiny_tokenizer):
    tiny_tokenizer.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        make_trainer(tmp_path, tiny_model, tiny_tokenizer)


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"packing": True, "packing_strategy": "wrapped"}, "whole chats only"),
        ({"mask_ratio_min": 0.0}, "strictly between 0 and 1"),
        ({"mask_ratio_max": 1.0}, "strictly between 0 and 1"),
        ({"mask_ratio_min": 0.8, "mask_ratio_max": 0.2}, "larger than"),
        ({"mask_ratio_mode": "fixed", "mask_ratio": 1.5}, "strictly between 0 and 1"),
        ({"mask_ratio_mode": "cosine"}, "mask_ratio_mode"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        config(tmp_path, **overrides)
