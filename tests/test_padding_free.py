"""Padding-free and packed masked SFT on the tiny model: same loss, masks and gradients as padded batches; chats
that do not see each other; training runs; models that cannot be packed are refused; TRL's packing for the plain SFT
baseline through the project's script."""

import dataclasses
import importlib
import os

import pytest
import torch
from datasets import Dataset
from test_packing import chats_of, chats_padded
from tiny import MASK_TOKEN, make_tiny_model, save_tiny_model, write_jsonl, write_tiny_recipe

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.training.packing import unpack_chats

DOCS = [
    "Alice Thornbury is the painter of a glass bridge.",
    "Bob Quillfeather flies.",
    "Clara Ashgrove is the baker of a talking clock, and she moved to Lisbon in 1950 to study to become a chemist.",
    "Daniel Brennick is the pilot of a red lighthouse in Oslo.",
    "Elena works in Kyoto.",
]


def trainer_for(tmp_path, model, tokenizer, **overrides):
    kwargs = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=len(DOCS),
        learning_rate=3e-3,
        num_train_epochs=1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        max_length=256,
        mask_ratio_mode="fixed",
        mask_ratio=0.5,
    )
    return MaskedSFTTrainer(
        model=model,
        args=MaskedSFTConfig(**{**kwargs, **overrides}),
        train_dataset=Dataset.from_dict({"text": DOCS}),
        processing_class=tokenizer,
    )


def loss_and_grads(trainer, batch):
    loss = trainer.compute_loss(trainer.model, dict(batch))
    return loss, torch.autograd.grad(loss, [p for p in trainer.model.parameters() if p.requires_grad])


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("pad_to_multiple_of", [None, 64])
def test_padding_free_loss_and_gradients_equal_the_padded_ones(tmp_path, tiny_tokenizer, attn, pad_to_multiple_of):
    model = make_tiny_model(tiny_tokenizer, attn_implementation=attn)
    trainer = trainer_for(tmp_path, model, tiny_tokenizer, padding_free=True, pad_to_multiple_of=pad_to_multiple_of)
    rows = list(trainer.train_dataset)
    free = trainer.data_collator(rows)
    padded = dataclasses.replace(trainer.data_collator, padding_free=False)(rows)
    assert chats_of(free)[: len(DOCS)] == chats_padded(padded)  # the same masked chats
    assert padded["attention_mask"].float().mean() < 0.8  # really padded
    free_loss, free_grads = loss_and_grads(trainer, free)
    padded_loss, padded_grads = loss_and_grads(trainer, padded)
    torch.testing.assert_close(free_loss, padded_loss, rtol=1e-5, atol=0)
    for a, b in zip(free_grads, padded_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_changing_one_chat_leaves_the_other_chats_logits_unchanged(tiny_tokenizer, tmp_path, attn):
    model = make_tiny_model(tiny_tokenizer, attn_implementation=attn)
    trainer = trainer_for(tmp_path, model, tiny_tokenizer, padding_free=True)
    batch = trainer.data_collator(list(trainer.train_dataset))
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    second = slice(starts[1], starts[2])
    changed = batch["input_ids"].clone()
    changed[0, second] = trainer.mask_token_id

    def logits(input_ids, **inputs):
        with torch.no_grad():
            return model(input_ids=input_ids, use_cache=False, **inputs).logits[0]

    before, after = logits(batch["input_ids"], **batch_inputs(batch)), logits(changed, **batch_inputs(batch))
    others = torch.ones(len(before), dtype=torch.bool)
    others[second] = False
    assert torch.equal(before[others], after[others])
    assert not torch.allclose(before[second], after[second])
    # Without the position ids the chats do see each other: the test above can tell
    leaky_before, leaky_after = logits(batch["input_ids"]), logits(changed)
    assert not torch.allclose(leaky_before[starts[2] :], leaky_after[starts[2] :])


def batch_inputs(batch):
    return {k: v for k, v in batch.items() if k not in ("input_ids", "labels")}


@pytest.mark.parametrize("scope", ["batch", "example"])
def test_packed_trainer_masks_every_chat_as_the_padded_trainer(tmp_path, tiny_model, tiny_tokenizer, scope):
    padded = trainer_for(tmp_path, tiny_model, tiny_tokenizer, mask_ratio_mode="uniform", mask_ratio_scope=scope)
    packed = trainer_for(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        mask_ratio_mode="uniform",
        mask_ratio_scope=scope,
        packing=True,
        max_length=128,
    )
    assert 1 < len(packed.train_dataset) < len(DOCS)
    assert all(len(row["input_ids"]) <= 128 for row in packed.train_dataset)
    rows = list(packed.train_dataset)
    chats = [chat for row in rows for chat in unpack_chats(row)]
    assert sorted(chat["idx"] for chat in chats) == list(range(len(DOCS)))  # whole chats, none lost
    assert all(chat == padded.train_dataset[chat["idx"]] for chat in chats)
    # One batch holds all the rows, so the padded trainer's batch of the same chats shares its batch ratio
    assert chats_of(packed.data_collator(rows)) == chats_padded(padded.data_collator(chats))
    eval_packed = packed.eval_data_collator(rows)
    assert chats_of(eval_packed) == chats_padded(padded.eval_data_collator(chats))
    assert chats_of(eval_packed) != chats_of(packed.data_collator(rows))  # evaluation's own masks


def test_padding_free_and_packed_training_follow_the_padded_run(tmp_path, tiny_tokenizer):
    histories = []
    for option in ({}, {"padding_free": True}, {"packing": True}):  # one batch per step holds all the chats
        trainer = trainer_for(
            tmp_path, make_tiny_model(tiny_tokenizer), tiny_tokenizer, num_train_epochs=6, learning_rate=1e-2, **option
        )
        trainer.train()
        histories.append(torch.tensor([log["loss"] for log in trainer.state.log_history if "loss" in log]))
    padded, free, packed = histories
    assert len(padded) == 6 and torch.isfinite(padded).all() and padded[-1] < 0.8 * padded[0]
    # the same steps up to float rounding, which six AdamW steps at a large learning rate amplify a little
    torch.testing.assert_close(free, padded, rtol=1e-3, atol=0)
    torch.testing.assert_close(packed, padded, rtol=1e-3, atol=0)


def test_models_whose_chats_would_see_each_other_are_refused(tmp_path, tiny_tokenizer):
    from transformers import AttentionInterface, BloomConfig, BloomForCausalLM
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bloom = BloomForCausalLM(BloomConfig(vocab_size=len(tiny_tokenizer), hidden_size=16, n_layer=1, n_head=2))
    with pytest.raises(ValueError, match="takes no `position_ids`"):
        trainer_for(tmp_path, bloom, tiny_tokenizer, padding_free=True)
    AttentionInterface.register("sdpa_without_mask", sdpa_attention_forward)
    custom = make_tiny_model(tiny_tokenizer, attn_implementation="sdpa_without_mask")
    with pytest.raises(ValueError, match="gets no mask built from `position_ids`"):
        trainer_for(tmp_path, custom, tiny_tokenizer, packing=True)
    trainer_for(tmp_path, custom, tiny_tokenizer)  # padded batches carry their attention mask: fine


@pytest.mark.parametrize(
    "script,keys",
    [
        ("sft", {"packing": True}),
        ("sft", {"padding_free": True, "max_length": None}),
        ("masked_sft", {"packing": True, "mask_token": MASK_TOKEN}),
    ],
)
def test_scripts_train_packed(tmp_path, script, keys):
    save_tiny_model(tmp_path / "model")
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"text": text} for text in DOCS])
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Who flies?", "answer": "Bob", "direction": "backward"}])
    recipe = write_tiny_recipe(
        tmp_path,
        dataset_name=str(docs),
        qa_file=str(qa),
        qa_max_new_tokens=4,
        max_steps=2,
        per_device_train_batch_size=2,
        logging_steps=1,
        **keys,
    )
    trainer = importlib.import_module(f"trl_maskft.scripts.{script}").main(["--config", recipe]).trainer
    assert trainer.state.global_step == 2
    assert all(torch.isfinite(torch.tensor(log["loss"])) for log in trainer.state.log_history if "loss" in log)
    batch = trainer.data_collator(list(trainer.train_dataset)[:2])
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    assert (batch["position_ids"][0] == 0).sum() == 2 if keys.get("padding_free") else len(DOCS)  # chats in a row
    if keys.get("packing"):
        assert len(trainer.train_dataset) < len(DOCS) and "seq_lengths" in trainer.train_dataset.column_names


def test_benchmark_trains_the_same_chats_in_every_arm(monkeypatch, capsys):
    monkeypatch.syspath_prepend(
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
    )
    bench = importlib.import_module("bench_padding_free")
    options = "--tiny --num_chunks 6 --min_tokens 8 --max_tokens 40 --batch_size 3 --steps 2 --max_length 200"
    best = bench.main([*options.split(), "--arms", "padded,padding_free,packing"])
    padded, free = best["padded"], best["padding_free"]
    assert padded["real"] == free["real"] == free["total"] < padded["total"]  # the same chats, without the pads
    assert best["packing"]["real"] == best["packing"]["total"]
    out = capsys.readouterr().out
    assert "fp32, torch threads" in out and "| padding_free |" in out and ("PASS" in out or "FAIL" in out)
