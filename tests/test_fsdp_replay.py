"""Issue 20: self-replay under FSDP2 on 2 CPU processes (`accelerate_configs/cpu_fsdp2.yaml`) in every script: the
base model's answers are generated once with the sharded model, as DDP generates them, and the run trains on them
like DDP (the launch helpers and recipes of `test_fsdp.py`)."""

import json

import pytest
from fsdp_launch import LOSS_RTOL, SCRIPTS, launch, script_run, write_recipes
from tiny import ASKED, write_instructions

from trl_maskft.training.replay_data import SELF_REPLAY_FILE


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """Every script with self-replay under FSDP2 (`fsdp`) and DDP (`ddp`), in one launch."""
    recipes = write_recipes(tmp_path_factory.mktemp("recipes"))
    out = tmp_path_factory.mktemp("replay")
    keys = ["--replay_data", "self", "--replay_ratio", "0.5", "--replay_max_new_tokens", "4", "--save_strategy", "no"]
    keys += ["--replay_instructions_file", write_instructions(out)]
    runs = []
    for kind in SCRIPTS:
        runs += [
            script_run(recipes, kind, "fsdp", *keys, ACCELERATE_USE_FSDP="true"),
            script_run(recipes, kind, "ddp", *keys, ACCELERATE_USE_FSDP=None),
        ]
    return out, launch("cpu_fsdp2", out, runs)


@pytest.mark.distributed
@pytest.mark.parametrize("kind", SCRIPTS)
def test_fsdp2_self_replay_generates_and_trains_like_ddp(replayed, kind):
    out, runs = replayed
    sharded, ddp = runs[f"{kind}/fsdp"], runs[f"{kind}/ddp"]
    assert sharded["distributed_type"] == "FSDP" and ddp["distributed_type"] == "MULTI_CPU"

    def answers(name):
        with open(out / kind / name / SELF_REPLAY_FILE) as f:
            return [json.loads(line) for line in f]

    assert [row["instruction"] for row in answers("fsdp")] == ASKED and answers("fsdp") == answers("ddp")
    losses = {int(step): loss for step, loss in sharded["losses"].items()}
    assert len(losses) == 4 and losses == pytest.approx({int(s): v for s, v in ddp["losses"].items()}, rel=LOSS_RTOL)
