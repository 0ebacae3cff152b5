"""What the FSDP2/DeepSpeed launch tests share (`test_fsdp.py`, `test_fsdp_refusals.py`): one `accelerate launch` of
`distributed_scripts.py` runs, and the tiny recipes they run."""

import json
import os
import sys

import processes
from tiny import make_tiny_tokenizer, write_tiny_recipe
from trainer_kinds import KINDS, QA_TOKENS, talkative_model

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPTS = ["masked_sft", "sft", "diffusion_sft"]
SEED, QA_BATCH = 3, 2
# FSDP2 and DDP average the same per-rank gradients, but the gradient norm for clipping is summed over shards in
# another order than over whole tensors, so the updates, and the losses after them, differ in the last bits of float32
# (measured: at most ~1e-7 relative after 3 updates)
LOSS_RTOL = 1e-5
# Adam divides each gradient by its own running scale, so where an entry's gradient is near zero those last bits can
# move the entry by a visible fraction of its update: each tensor's distance between the FSDP2 and the DDP model is
# held to a small fraction of how far training moved it (measured: at most ~4e-5 after 4 updates)
UPDATE_RTOL = 1e-3


def launch(config: str, out_dir, runs: list[dict]) -> dict:
    """`runs` (see distributed_scripts.py) in one `accelerate launch --config_file accelerate_configs/<config>.yaml`;
    the results by run name."""
    spec = out_dir / "runs.json"
    spec.write_text(json.dumps({"out_dir": str(out_dir), "runs": runs}))
    config = os.path.join(ROOT, "accelerate_configs", f"{config}.yaml")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config, "--main_process_port", "0"]
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = processes.run(
        [*launch, os.path.join(HERE, "distributed_scripts.py"), str(spec)],
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    with open(out_dir / "results.json") as f:
        results = json.load(f)
    assert results["world_size"] == 2
    return results["results"]


def write_recipes(tmp):
    """A tiny talkative model and a recipe for each script: 4 people, 4 QA items asked after every epoch, 2 epochs
    of 2 steps (batch 1 per process), a checkpoint every 2 steps."""
    tokenizer = make_tiny_tokenizer()
    model = talkative_model(tokenizer)
    model.save_pretrained(tmp / "model")
    tokenizer.save_pretrained(tmp / "model")
    for kind in SCRIPTS:
        spec = KINDS.get(kind)  # None for the plain SFT baseline
        write_tiny_recipe(
            tmp,
            f"config_{kind}.yaml",
            dataset_name="people",
            num_people=4,
            qa_max_items=4,
            qa_max_new_tokens=QA_TOKENS,
            qa_batch_size=QA_BATCH,
            num_train_epochs=2,
            per_device_train_batch_size=1,
            learning_rate=1e-3,
            logging_steps=1,
            seed=SEED,
            save_strategy="steps",
            save_steps=2,
            retain_eval=True,  # retention under FSDP2, DDP and a resume from another folder's checkpoint
            retain_max_new_tokens=QA_TOKENS,
            retain_self_max_new_tokens=QA_TOKENS,
            retain_batch_size=16,
            **(spec.config if spec else {}),
            **(spec.script_config if spec else {}),
        )
    return tmp


def script_run(recipes, kind: str, name: str, *args: str, **env) -> dict:
    return {
        "name": f"{kind}/{name}",
        "kind": kind,
        "args": ["--config", str(recipes / f"config_{kind}.yaml"), *args],
        "env": env,
    }
