"""Replay and `kl_to_base` in every trainer kind (masked SFT, diffusion SFT; the baseline in test_replay.py), and
under two CPU processes (torchrun, gloo): self-replay answers split across the ranks and gathered in order."""

import json
import os
import shutil

import processes
import pytest
from tiny import (
    ASKED,
    MASK_TOKEN,
    make_tiny_model,
    make_tiny_tokenizer,
    save_tiny_model,
    write_instructions,
    write_tiny_recipe,
)
from trainer_kinds import KINDS, make_trainer

from trl_maskft.evaluation.answering import GreedyAnswerer
from trl_maskft.evaluation.generation import chat_prompts, greedy_config
from trl_maskft.training.replay_data import SELF_REPLAY_FILE

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("kind", KINDS)
def test_replay_and_kl_train_in_every_method(kind, tmp_path):
    trainer = make_trainer(
        kind, tmp_path / "out", replay_data="self", replay_ratio=0.5, kl_to_base=0.5, learning_rate=1e-2,
        replay_instructions_file=write_instructions(tmp_path), replay_max_new_tokens=4,
    )  # fmt: skip
    batches = []
    training_step = trainer.training_step

    def recording_step(model, batch, *args, **kwargs):
        batches.append(batch)
        return training_step(model, batch, *args, **kwargs)

    trainer.training_step = recording_step
    trainer.train()
    assert all(len(batch["replay_input_ids"]) == len(batch["input_ids"]) == 2 for batch in batches)
    logs = [h for h in trainer.state.log_history if "kl_to_base" in h]
    assert len(logs) == len(batches) and logs[0]["kl_to_base"] == 0.0 and logs[-1]["kl_to_base"] > 0


@pytest.mark.distributed
def test_self_replay_and_kl_under_ddp(tmp_path):
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not installed")
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    script = os.path.join(HERE, "distributed_replay.py")
    cmd = ["torchrun", "--standalone", "--nproc_per_node", "2", script, str(tmp_path), write_instructions(tmp_path)]
    result = processes.run(cmd, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    assert results["world_size"] == 2
    rank0, rank1 = results["replay"]
    assert len(rank0) == len(rank1) > 0
    assert results["logs"][-1]["kl_to_base"] > 0
    # the answers of both ranks, gathered in order: those of the same base model on one process
    tokenizer = make_tiny_tokenizer()
    answers = GreedyAnswerer(greedy_config(4))(make_tiny_model(tokenizer), tokenizer, chat_prompts(tokenizer, ASKED))
    with open(tmp_path / "run" / SELF_REPLAY_FILE) as f:
        saved = [json.loads(line) for line in f]
    assert saved == [{"instruction": q, "answer": a} for q, a in zip(ASKED, answers, strict=True)]


@pytest.mark.parametrize("script", ["masked_sft", "sft"])
def test_scripts_take_the_replay_keys(script, tmp_path):
    import importlib

    save_tiny_model(tmp_path / "model")
    recipe = write_tiny_recipe(
        tmp_path, dataset_name="people", num_people=2, num_train_epochs=1, per_device_train_batch_size=2,
        logging_steps=1, max_length=128, qa_max_new_tokens=2, replay_data="self", replay_ratio=0.5, kl_to_base=0.5,
        replay_instructions_file=write_instructions(tmp_path), replay_max_new_tokens=4,
        **({"mask_token": MASK_TOKEN} if script == "masked_sft" else {}),
    )  # fmt: skip
    importlib.import_module(f"trl_maskft.scripts.{script}").main(["--config", recipe])
    with open(tmp_path / "out" / SELF_REPLAY_FILE) as f:
        assert [json.loads(line)["instruction"] for line in f] == ASKED
