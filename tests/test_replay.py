"""Replay rows and the KL to the base model (`trl_maskft.training.replay_*`): the mixing counts and draws, the replay
rows' labels, the loss with replay and KL against a hand computation, LoRA's base with adapters disabled, self-replay
answers saved once, and the bad inputs."""

import json
import os

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from tiny import make_tiny_model, write_instructions, write_jsonl

from trl_maskft import BaselineSFTConfig, BaselineSFTTrainer
from trl_maskft.common import IGNORE_INDEX
from trl_maskft.data.instructions import BUILTIN_INSTRUCTIONS, BUILTIN_REPLAY_INSTRUCTIONS, load_instructions
from trl_maskft.evaluation.answering import GreedyAnswerer
from trl_maskft.evaluation.generation import chat_prompts, greedy_config
from trl_maskft.training import replay_trainer
from trl_maskft.training.replay_data import SELF_REPLAY_FILE
from trl_maskft.training.replay_mixing import (
    ReplayCollator,
    chat_example,
    replay_count,
    split_replay,
    text_example,
)

DOCS = [
    "Alice Thornbury is the painter of a glass bridge.",
    "Bob Quillfeather is the pilot of a red lighthouse.",
    "Clara Ashgrove is the baker of a talking clock.",
    "Daniel Brennick is the poet of a folding bicycle.",
]
REPLAY = [
    {"prompt": "Give three tips for tidy desks.", "completion": "Clear it, sort it and keep it."},
    {"prompt": "Describe a quiet evening.", "completion": "A book, a lamp and tea."},
    {"prompt": "How do I tie a shoelace?", "completion": "Loop, swoop and pull."},
]


def config(tmp_path, **overrides):
    kwargs = dict(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, learning_rate=1e-2, num_train_epochs=1,
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, bf16=False, seed=0, max_length=128,
    )  # fmt: skip
    return BaselineSFTConfig(**{**kwargs, **overrides})


def replay_file(tmp_path, rows=REPLAY):
    return str(write_jsonl(tmp_path / "replay.jsonl", rows))


def trainer(tmp_path, model, tokenizer, **overrides):
    overrides = {"replay_data": replay_file(tmp_path), "replay_ratio": 0.5, **overrides}
    return BaselineSFTTrainer(
        model=model, args=config(tmp_path, **overrides), train_dataset=Dataset.from_dict({"text": DOCS}),
        processing_class=tokenizer,
    )  # fmt: skip


def test_replay_count_is_the_share_of_the_batch_rows():
    assert replay_count(5, 0.5) == 5  # 10 rows, half of them replay rows
    assert replay_count(6, 0.25) == 2
    assert replay_count(4, 0.2) == 1
    assert replay_count(1, 0.1) == 1  # at least one row when replay is on
    assert replay_count(5, 0.0) == 0


def test_replay_picks_are_keyed_on_seed_epoch_and_row(tiny_tokenizer):
    rows = [text_example(tiny_tokenizer, f"row {i} of the replay data", 64) for i in range(50)]
    docs = [text_example(tiny_tokenizer, text, 64) for text in DOCS]

    def picks(seed=0, epoch=0, batch=docs[:2]):
        collator = ReplayCollator(lambda rows: {}, rows, 0.5, tiny_tokenizer.pad_token_id, seed)
        collator.set_epoch(epoch)
        return collator.picks(batch)

    assert picks() == picks() and len(picks()) == 2 and len(set(picks())) == 2
    assert picks(epoch=1) != picks()
    assert picks(seed=1) != picks()
    assert picks(batch=docs[2:]) != picks()


def test_replay_rows_supervise_the_answer_only(tiny_tokenizer):
    chat = [{"role": "user", "content": "Describe a quiet evening."}, {"role": "assistant", "content": "A book."}]
    example = chat_example(tiny_tokenizer, chat, 128)
    prompt = tiny_tokenizer.apply_chat_template(chat[:1], tokenize=False, add_generation_prompt=True)
    num_prompt = len(tiny_tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert example["labels"][:num_prompt] == [IGNORE_INDEX] * num_prompt
    assert example["labels"][num_prompt:] == example["input_ids"][num_prompt:]
    answer = tiny_tokenizer.decode(example["input_ids"][num_prompt:], skip_special_tokens=True)
    assert answer.strip() == "A book."
    text = text_example(tiny_tokenizer, "A plain text row.", 128)
    assert text["labels"] == text["input_ids"] and text["input_ids"][-1] == tiny_tokenizer.eos_token_id


def test_batches_get_replay_rows_and_evaluation_batches_none(tmp_path, tiny_model, tiny_tokenizer):
    t = trainer(tmp_path, tiny_model, tiny_tokenizer, replay_ratio=0.6, eval_strategy="no")
    rows = [t.train_dataset[i] for i in range(2)]
    own, replay = split_replay(t.data_collator(rows))
    assert replay["input_ids"].shape[0] == 3  # 2 document rows at 0.6: round(2 * 0.6 / 0.4)
    assert torch.equal(own["input_ids"], t.data_collator.collator(rows)["input_ids"])
    eval_batch = next(iter(t.get_eval_dataloader(t.train_dataset)))
    assert not any(key.startswith("replay_") for key in eval_batch)


def hand_loss(t, batch, ratio, kl_weight):
    """(1 - r) * document NLL + r * replay NLL + kl * KL(base || trained), computed here with full logits."""
    own, replay = split_replay(batch)

    def nll(inputs):
        logits = t.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits[:, :-1]
        return F.cross_entropy(logits.flatten(0, 1), inputs["labels"][:, 1:].flatten(), ignore_index=IGNORE_INDEX)

    supervised = replay["labels"][:, 1:] != IGNORE_INDEX
    log_p = t.model(input_ids=replay["input_ids"], attention_mask=replay["attention_mask"]).logits[:, :-1]
    log_p = log_p[supervised].log_softmax(-1)
    base = t.base_model(input_ids=replay["input_ids"], attention_mask=replay["attention_mask"]).logits[:, :-1]
    log_b = base[supervised].log_softmax(-1)
    kl = (log_b.exp() * (log_b - log_p)).sum(-1).mean()
    return (1 - ratio) * nll(own) + ratio * nll(replay) + kl_weight * kl, kl


def test_loss_with_replay_and_kl_is_the_hand_computed_one(tmp_path, tiny_model, tiny_tokenizer):
    t = trainer(tmp_path, tiny_model, tiny_tokenizer, replay_ratio=0.4, kl_to_base=0.7)
    with torch.no_grad():  # the trained model moves away from its frozen copy
        for parameter in t.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    batch = t.data_collator([t.train_dataset[i] for i in range(2)])
    expected, kl = hand_loss(t, batch, 0.4, 0.7)
    assert kl > 1e-4
    torch.testing.assert_close(t.compute_loss(t.model, batch), expected)
    no_kl = trainer(tmp_path, tiny_model, tiny_tokenizer, replay_ratio=0.4, output_dir=str(tmp_path / "b"))
    assert no_kl.base_model is None
    expected_no_kl, _ = hand_loss(t, batch, 0.4, 0.0)
    torch.testing.assert_close(no_kl.compute_loss(no_kl.model, batch), expected_no_kl)


def test_lora_kl_uses_the_model_with_adapters_disabled(tmp_path, tiny_tokenizer):
    from peft import LoraConfig

    model = make_tiny_model(tiny_tokenizer)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    t = BaselineSFTTrainer(
        model=model, args=config(tmp_path, replay_data=replay_file(tmp_path), replay_ratio=0.5, kl_to_base=1.0,
                                 learning_rate=5e-2, max_steps=2),
        train_dataset=Dataset.from_dict({"text": DOCS}), processing_class=tiny_tokenizer, peft_config=lora,
    )  # fmt: skip
    assert t.base_model is None  # no second copy: the base is the same model, adapters disabled
    _, replay = split_replay(t.data_collator([t.train_dataset[i] for i in range(2)]))
    assert t._replay_terms(t.model, replay)[1].item() == 0.0  # a fresh LoRA adapter changes nothing
    t.train()
    assert t._replay_terms(t.model, replay)[1].item() > 0.0
    assert [h["kl_to_base"] for h in t.state.log_history if "kl_to_base" in h][0] == 0.0


def test_self_replay_answers_are_saved_once_and_reused(tmp_path, tiny_model, tiny_tokenizer):
    instructions = write_instructions(tmp_path, ["Describe a quiet evening."] * 2)
    keys = dict(replay_data="self", replay_instructions_file=instructions, replay_max_new_tokens=6)
    first = trainer(tmp_path, tiny_model, tiny_tokenizer, **keys)
    path = os.path.join(first.args.output_dir, SELF_REPLAY_FILE)
    saved = [json.loads(line) for line in open(path)]
    prompts = chat_prompts(tiny_tokenizer, ["Describe a quiet evening."])
    answer = GreedyAnswerer(greedy_config(6))(tiny_model, tiny_tokenizer, prompts)[0]
    assert saved == [{"instruction": "Describe a quiet evening.", "answer": answer}] * 2
    write_jsonl(path, [{"instruction": "Describe a quiet evening.", "answer": "Saved before."}] * 2)
    resumed = trainer(tmp_path, tiny_model, tiny_tokenizer, **keys)  # the same output_dir: read, not regenerated
    chat = [
        {"role": "user", "content": "Describe a quiet evening."},
        {"role": "assistant", "content": "Saved before."},
    ]
    assert resumed.data_collator.replay_rows[0] == chat_example(tiny_tokenizer, chat, 128)


def test_builtin_replay_instructions_are_not_those_retention_measures_on():
    replay, measured = load_instructions(BUILTIN_REPLAY_INSTRUCTIONS), load_instructions(BUILTIN_INSTRUCTIONS)
    assert len(replay) >= 120 and len(set(replay)) == len(replay)
    assert not set(replay) & set(measured)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"replay_data": "self", "replay_ratio": 1.0}, r"`replay_ratio` must lie in \[0, 1\)"),
        ({"replay_data": "self", "replay_ratio": -0.1}, r"`replay_ratio` must lie in \[0, 1\)"),
        ({"replay_ratio": 0.5}, "needs `replay_data`"),
        ({"replay_data": "self"}, "`replay_ratio` is 0"),
        ({"kl_to_base": 0.1}, "`kl_to_base: 0.1` is measured on the replay rows"),
        ({"replay_data": "self", "replay_ratio": 0.5, "kl_to_base": -1.0}, "`kl_to_base` must be 0"),
        ({"replay_data": "x.jsonl", "replay_ratio": 0.5, "replay_instructions_file": "a"}, "set `replay_data: self`"),
        ({"replay_data": "self", "replay_ratio": 0.5, "replay_max_new_tokens": 0}, "`replay_max_new_tokens`"),
    ],
)
def test_bad_replay_keys_are_refused_by_the_config(tmp_path, keys, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **keys)


def test_missing_replay_column_is_named(tmp_path, tiny_model, tiny_tokenizer):
    path = str(write_jsonl(tmp_path / "general.jsonl", [{"body": "Some general text."}]))
    with pytest.raises(ValueError, match=r"no text column `replay_text_field: text` \(its columns: body\)"):
        trainer(tmp_path, tiny_model, tiny_tokenizer, replay_data=path)
    t = trainer(tmp_path, tiny_model, tiny_tokenizer, replay_data=path, replay_text_field="body")
    assert t.data_collator.replay_rows[0]["labels"] == t.data_collator.replay_rows[0]["input_ids"]


def test_kl_copy_that_does_not_fit_is_refused(tmp_path, tiny_model, tiny_tokenizer, monkeypatch):
    monkeypatch.setattr(replay_trainer, "available_bytes", lambda device: 1000)
    with pytest.raises(ValueError, match=r"GiB of parameters, but only 0.00 GiB is free on cpu.*`use_peft: true`"):
        trainer(tmp_path, tiny_model, tiny_tokenizer, kl_to_base=0.1)


def test_replay_data_that_cannot_be_read_names_the_key(tmp_path, tiny_model, tiny_tokenizer):
    with pytest.raises(ValueError, match=r"`replay_data: .*missing\.jsonl`: "):
        trainer(tmp_path, tiny_model, tiny_tokenizer, replay_data=str(tmp_path / "missing.jsonl"))


@pytest.mark.parametrize(
    ("keys", "environment"),
    [({"fsdp": "full_shard"}, {}), ({"deepspeed": "z3.json"}, {}), ({}, {"ACCELERATE_USE_FSDP": "true"})],
)
def test_kl_copy_that_cannot_be_sharded_is_refused_before_the_model_loads(keys, environment, monkeypatch):
    from types import SimpleNamespace

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    args = SimpleNamespace(kl_to_base=0.1, **{"fsdp": "", "deepspeed": None, **keys})
    assert replay_trainer.launch_shards(args)
    with pytest.raises(ValueError, match="not shard under DeepSpeed or FSDP.*`use_peft: true`"):
        replay_trainer.check_copy_shardable(args, replay_trainer.launch_shards(args))
    replay_trainer.check_copy_shardable(SimpleNamespace(kl_to_base=0.0), True)  # no KL: no copy to refuse


def test_a_replay_chat_without_an_answer_names_its_row(tmp_path, tiny_model, tiny_tokenizer):
    rows = [{"messages": [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}]}]
    rows.append({"messages": [{"role": "user", "content": "Hi."}]})
    path = str(write_jsonl(tmp_path / "chats.jsonl", rows))
    with pytest.raises(ValueError, match=r"chats\.jsonl', row 1: A replay chat must end with an assistant turn"):
        trainer(tmp_path, tiny_model, tiny_tokenizer, replay_data=path)
