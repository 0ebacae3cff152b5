"""FSDP2 on 2 CPU processes (`accelerate_configs/cpu_fsdp2.yaml`): the masked SFT, plain SFT and diffusion SFT
scripts shard, train like DDP, answer the QA items like one process, resume from their checkpoints and save a model
that `from_pretrained` loads; and the launch settings that cannot run are refused (`trl_maskft.runtime.sharding`)."""

import json
import os

import pytest
import torch
from accelerate.utils import FullyShardedDataParallelPlugin
from fsdp_launch import LOSS_RTOL, QA_BATCH, SCRIPTS, UPDATE_RTOL, launch, script_run, write_recipes
from records import records_differences
from tiny import MASK_SPECIAL
from trainer_kinds import QA_TOKENS
from transformers import AutoModelForCausalLM, AutoTokenizer

from trl_maskft import DiffusionAnswerer, GreedyAnswerer
from trl_maskft.evaluation.generation import chat_prompts, greedy_config
from trl_maskft.runtime.sharding import launch_problems


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    return write_recipes(tmp_path_factory.mktemp("recipes"))


@pytest.fixture(scope="module")
def fsdp(recipes, tmp_path_factory):
    """Every script under `cpu_fsdp2.yaml` (one launch): FSDP2 (`fsdp`), DDP (`ddp`: the same launch without
    `ACCELERATE_USE_FSDP`, as `cpu_ddp2.yaml` runs), FSDP2 resumed from `fsdp/checkpoint-2` (`resume`); for masked
    SFT also with sharded checkpoints (`sharded`, `sharded_resume`)."""
    out = tmp_path_factory.mktemp("fsdp")
    on, off, full = {"ACCELERATE_USE_FSDP": "true"}, {"ACCELERATE_USE_FSDP": None}, "FULL_STATE_DICT"
    runs = []
    for kind in SCRIPTS:
        resume = ["--resume_from_checkpoint", str(out / kind / "fsdp" / "checkpoint-2")]
        runs += [
            script_run(recipes, kind, "fsdp", **on, FSDP_STATE_DICT_TYPE=full),
            script_run(recipes, kind, "ddp", "--save_strategy", "no", **off),
            script_run(recipes, kind, "resume", *resume, "--save_strategy", "no", **on),
        ]
    sharded = {**on, "FSDP_STATE_DICT_TYPE": "SHARDED_STATE_DICT"}
    resume = ["--resume_from_checkpoint", str(out / SCRIPTS[0] / "sharded" / "checkpoint-2")]
    runs += [
        script_run(recipes, SCRIPTS[0], "sharded", **sharded),
        script_run(recipes, SCRIPTS[0], "sharded_resume", *resume, "--save_strategy", "no", **sharded),
    ]
    return out, launch("cpu_fsdp2", out, runs)


def after(losses: dict, step: int) -> dict:
    return {int(s): loss for s, loss in losses.items() if int(s) > step}


@pytest.mark.distributed
@pytest.mark.parametrize("kind", SCRIPTS)
def test_fsdp2_shards_and_trains_like_ddp(recipes, fsdp, kind):
    out, runs = fsdp[0] / kind, fsdp[1]
    sharded_run, ddp = runs[f"{kind}/fsdp"], runs[f"{kind}/ddp"]
    assert sharded_run["distributed_type"] == "FSDP" and ddp["distributed_type"] == "MULTI_CPU"
    views = sharded_run["weight"]  # q_proj of layer 0, on each rank, after training
    assert [(view["class"], view["placements"], view["shape"]) for view in views] == [
        ("DTensor", "(Shard(dim=0),)", [32, 32])
    ] * 2
    assert ddp["weight"][0]["class"] == "Parameter"
    assert len(sharded_run["losses"]) == 4 and sharded_run["losses"].keys() == ddp["losses"].keys()
    assert list(sharded_run["losses"].values()) == pytest.approx(list(ddp["losses"].values()), rel=LOSS_RTOL)
    assert [row["epoch"] for row in sharded_run["history"]] == [0, 1, 2]

    # the saved models (gathered whole on rank 0) load, and are the same model as DDP's
    sharded = AutoModelForCausalLM.from_pretrained(out / "fsdp").state_dict()
    replicated = AutoModelForCausalLM.from_pretrained(out / "ddp").state_dict()
    assert sharded.keys() == replicated.keys()
    # each rank held its half of the rows: together, the saved weight
    halves = [torch.tensor(view["local"]) for view in views]
    assert [half.shape for half in halves] == [(16, 32)] * 2
    assert torch.equal(torch.cat(halves), sharded["model.layers.0.self_attn.q_proj.weight"])
    initial = AutoModelForCausalLM.from_pretrained(recipes / "model").state_dict()
    for name, tensor in sharded.items():
        update = (replicated[name] - initial[name]).norm()
        assert update > 0, name
        assert (tensor - replicated[name]).norm() <= UPDATE_RTOL * update, name


def single_process_answers(kind: str, model_dir, questions: list[str]) -> list[str]:
    """The answers of the saved model to `questions`, asked as the script asks them, in this one process."""
    model, tokenizer = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    prompts = chat_prompts(tokenizer, questions)
    if kind == "diffusion_sft":
        answerer = DiffusionAnswerer(MASK_SPECIAL, max_new_tokens=QA_TOKENS, block_length=4, batch_size=QA_BATCH)
    else:
        answerer = GreedyAnswerer(greedy_config(QA_TOKENS), QA_BATCH)
    return answerer(model, tokenizer, prompts)


@pytest.mark.distributed
@pytest.mark.parametrize("kind", SCRIPTS)
def test_fsdp2_qa_answers_equal_a_single_process_evaluation_of_the_saved_model(fsdp, kind):
    run_dir = fsdp[0] / kind / "fsdp"
    with open(run_dir / "qa_generations" / "epoch_2.jsonl") as f:  # asked after the last step: the saved weights
        records = [json.loads(line) for line in f]
    answers = single_process_answers(kind, run_dir, [record["question"] for record in records])
    assert answers == [record["prediction"] for record in records] and len(set(answers)) > 1


def assert_resumed_like(resumed: dict, full: dict) -> None:
    """The run resumed from `checkpoint-2` computed steps 3 and 4 as the uninterrupted run did, and asked the same."""
    new = after(resumed["losses"], 2)
    assert sorted(new) == [3, 4] and new == pytest.approx(after(full["losses"], 2), abs=1e-6)
    assert records_differences(resumed["history"], full["history"]) == []


@pytest.mark.distributed
@pytest.mark.parametrize("kind", SCRIPTS)
def test_fsdp2_resume_continues_like_the_uninterrupted_run(fsdp, kind):
    assert_resumed_like(fsdp[1][f"{kind}/resume"], fsdp[1][f"{kind}/fsdp"])


@pytest.mark.distributed
@pytest.mark.parametrize("kind", SCRIPTS)
def test_fsdp2_retention_equals_ddp_and_survives_a_resume(fsdp, kind):
    def rows(name):
        with open(fsdp[0] / kind / name / "retain_metrics.jsonl") as f:
            return [json.loads(line) for line in f]

    sharded, ddp, resumed = rows("fsdp"), rows("ddp"), rows("resume")
    assert [row["epoch"] for row in sharded] == [0, 1, 2] and sharded[0] == pytest.approx(
        ddp[0], rel=LOSS_RTOL, nan_ok=True
    )
    assert ("retain_self_nll" in sharded[0]) == (kind != "diffusion_sft")  # no left-to-right NLL for diffusion
    # the resumed run (another folder) read the base model's answers back from the checkpoint
    assert resumed[-1] == pytest.approx(sharded[-1], rel=LOSS_RTOL, nan_ok=True)


@pytest.mark.distributed
def test_sharded_state_dict_checkpoints_resume_and_the_final_model_is_saved_whole(fsdp):
    out, runs = fsdp[0] / SCRIPTS[0], fsdp[1]
    checkpoint = os.listdir(out / "sharded" / "checkpoint-2")
    assert "pytorch_model_fsdp_0" in checkpoint and "model.safetensors" not in checkpoint  # sharded (DCP) weights
    assert_resumed_like(runs[f"{SCRIPTS[0]}/sharded_resume"], runs[f"{SCRIPTS[0]}/sharded"])
    # `Trainer.save_model` writes no weights with a sharded state dict: the scripts gather them for the final model
    final = AutoModelForCausalLM.from_pretrained(out / "sharded").state_dict()
    full = AutoModelForCausalLM.from_pretrained(out / "fsdp").state_dict()
    for name, tensor in final.items():
        torch.testing.assert_close(tensor, full[name], rtol=0, atol=0, msg=name)


def plugin(**kwargs) -> FullyShardedDataParallelPlugin:
    return FullyShardedDataParallelPlugin(fsdp_version=2, **kwargs)


@pytest.mark.parametrize(
    "settings,problem",
    [
        ({"processes": 1}, "set `use_cpu: true`"),
        ({"fsdp_plugin": plugin(cpu_offload=True)}, "`fsdp_offload_params: true` on CPU processes"),
    ],
    ids=["processes-not-joined", "offload-on-cpu"],
)
def test_launch_problems_name_the_setting(settings, problem):
    launch = {"launched": 2, "processes": 2, "device_type": "cpu", **settings}
    problems = launch_problems(**launch)
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"fsdp_plugin": plugin()},
        {"fsdp_plugin": plugin(cpu_offload=True), "device_type": "cuda"},  # offloading from GPUs
    ],
    ids=["ddp", "fsdp2", "offload-on-gpus"],
)
def test_launches_that_run_have_no_problems(settings):
    assert launch_problems(**{"launched": 2, "processes": 2, "device_type": "cpu", **settings}) == []


@pytest.fixture(scope="module")
def zero(recipes, tmp_path_factory):
    """Masked SFT under `cpu_zero2.yaml`, and masked SFT (also resumed from its `checkpoint-2`) and diffusion SFT
    under `cpu_zero3.yaml`: DeepSpeed's CPU accelerator, one launch per stage. Skipped without DeepSpeed (the
    `[deepspeed]` extra, not installed by CI)."""
    pytest.importorskip("deepspeed")
    out = tmp_path_factory.mktemp("zero")
    resume = ["--resume_from_checkpoint", str(out / "masked_sft" / "zero3" / "checkpoint-2"), "--save_strategy", "no"]
    results = launch("cpu_zero2", out, [script_run(recipes, "masked_sft", "zero2")])
    zero3 = [
        script_run(recipes, "masked_sft", "zero3"),
        script_run(recipes, "masked_sft", "zero3_resume", *resume),
        script_run(recipes, "diffusion_sft", "zero3"),
    ]
    return out, {**results, **launch("cpu_zero3", out, zero3)}


@pytest.mark.distributed
@pytest.mark.parametrize("name", ["masked_sft/zero2", "masked_sft/zero3", "diffusion_sft/zero3"])
def test_deepspeed_zero_on_cpu_processes_trains_like_ddp(zero, fsdp, name):
    out, runs = zero
    kind, stage = name.split("/")
    run = runs[name]
    assert run["distributed_type"] == "DEEPSPEED"
    ddp = fsdp[1][f"{kind}/ddp"]["losses"]
    assert list(run["losses"].values()) == pytest.approx(list(ddp.values()), rel=LOSS_RTOL)
    assert [row["epoch"] for row in run["history"]] == [0, 1, 2]
    saved = AutoModelForCausalLM.from_pretrained(out / name).state_dict()["model.layers.0.self_attn.q_proj.weight"]
    if stage == "zero3":  # each rank held a flat half of the weight, gathered whole on save
        halves = [torch.tensor(view["local"]) for view in run["weight"]]
        assert [half.shape for half in halves] == [(512,)] * 2
        assert torch.equal(torch.cat(halves), saved.flatten())
    else:  # ZeRO-2 partitions the optimizer states and gradients only
        assert [view["shape"] for view in run["weight"]] == [[32, 32]] * 2
    assert_resumed_like(runs["masked_sft/zero3_resume"], runs["masked_sft/zero3"])
