"""Launches that FSDP2 refuses on both processes alike before the model is loaded (the launch helpers and recipes of
`test_fsdp.py`)."""

import pytest
from fsdp_launch import SCRIPTS, launch, script_run, write_recipes


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    return write_recipes(tmp_path_factory.mktemp("recipes"))


def refusal_of_both_processes(recipes, tmp_path, name: str, *keys: str) -> str:
    """Launch the first script under FSDP2 with `keys`, which must be refused on both processes alike; the message."""
    run = script_run(recipes, SCRIPTS[0], name, *keys, ACCELERATE_USE_FSDP="true")
    launch("cpu_fsdp2", tmp_path, [{**run, "refused": True}])
    refusal = [(tmp_path / f"{SCRIPTS[0]}_{name}.refused.{rank}").read_text() for rank in (0, 1)]
    assert refusal == [refusal[0]] * 2  # on both processes, before training
    return refusal[0]


@pytest.mark.distributed
def test_processes_that_accelerate_does_not_join_are_refused(recipes, tmp_path):
    """Without GPUs, `use_cpu: false` leaves each process of an FSDP2 launch on its own: refused on both processes
    before anything is written (a launch of its own, as a user would start it)."""
    refusal = refusal_of_both_processes(recipes, tmp_path, "not_joined", "--use_cpu", "false")
    assert "2 processes were launched but accelerate sees 1" in refusal and "set `use_cpu: true`" in refusal
    assert not (tmp_path / SCRIPTS[0] / "not_joined").exists()


@pytest.mark.distributed
def test_kl_to_base_without_peft_is_refused_before_the_model_loads(recipes, tmp_path):
    """Issue 20: `kl_to_base` without PEFT needs a frozen copy of the model, which FSDP2 would not shard: refused on
    both processes from the launcher's environment, before the model is loaded."""
    keys = ["--replay_data", "self", "--replay_ratio", "0.5", "--kl_to_base", "0.5"]
    refusal = refusal_of_both_processes(recipes, tmp_path, "kl_copy", *keys)
    assert "not shard under DeepSpeed or FSDP" in refusal and "`use_peft: true`" in refusal
