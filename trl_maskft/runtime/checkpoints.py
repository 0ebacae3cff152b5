"""Complete checkpoints: what a checkpoint needs to resume training exactly, which checkpoint `resume_from_checkpoint`
names (`last`: the newest complete one), and how a checkpoint is published at once (written under a staging folder,
renamed to `checkpoint-<step>` when every process has written its files).

A checkpoint resumes training exactly when it holds readable model weights, the optimizer and learning-rate scheduler
states, the RNG state of every process and the trainer state (`Trainer._save_checkpoint`'s files). The checks read
file headers only (a safetensors header, a zip directory), never the tensors, so they cost little on large models.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import zipfile

from safetensors import safe_open
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .run_manifest import paths_under

logger = logging.getLogger(__name__)

# Under `output_dir`, where a checkpoint is written before it gets its name; `_*` is never pushed to the Hub
STAGING_DIR = "_checkpoint-staging"
CHECKPOINT_RE = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
LAST = ("last", "true")  # `resume_from_checkpoint` values naming the newest complete checkpoint

# Model weights, in the order `Trainer._load_from_checkpoint` looks for them (indexes name their shards)
WEIGHT_FILES = (
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
    "pytorch_model_fsdp.bin",  # FSDP, full state dict
)
OPTIMIZER_FILES = ("optimizer.pt", "optimizer.bin")


def file_problem(path: str) -> str | None:
    """Why the file at `path` cannot be loaded (truncated, not the format its name says), None when it can: a
    safetensors header covering the file, a complete zip (what `torch.save` writes), or JSON."""
    try:
        if path.endswith(".safetensors"):
            with safe_open(path, "pt"):
                pass
        elif path.endswith((".pt", ".pth", ".bin")):
            zipfile.ZipFile(path).close()
        elif path.endswith(".json"):
            with open(path) as f:
                json.load(f)
    except Exception as error:  # each reader has its own error types; every one means the file is damaged
        size = os.path.getsize(path)
        return f"`{os.path.basename(path)}` is damaged ({size} bytes, {type(error).__name__}: {error})"
    return None


def _shards(index_path: str) -> list[str]:
    with open(index_path) as f:
        return sorted(set(json.load(f)["weight_map"].values()))


def _dcp_folders(folder: str, prefix: str) -> list[str]:
    """Distributed-checkpoint folders (FSDP's sharded state dicts: `pytorch_model_fsdp_0`, `optimizer_0`)."""
    return sorted(
        name for name in os.listdir(folder) if name.startswith(prefix) and os.path.isdir(os.path.join(folder, name))
    )


def _weights_problems(folder: str) -> list[str]:
    if os.path.isfile(os.path.join(folder, "latest")):  # DeepSpeed: model and optimizer states in its tag folder
        with open(os.path.join(folder, "latest")) as f:
            tag = f.read().strip()
        return [] if os.path.isdir(os.path.join(folder, tag)) else [f"DeepSpeed's state folder `{tag}` is missing"]
    name = next((name for name in WEIGHT_FILES if os.path.isfile(os.path.join(folder, name))), None)
    if name is None:
        sharded = _dcp_folders(folder, "pytorch_model_fsdp")
        if sharded:
            return _dcp_problems(folder, sharded)
        return [f"the model weights are missing (none of {', '.join(WEIGHT_FILES[:2])}, ...)"]
    path = os.path.join(folder, name)
    problem = file_problem(path)
    if problem is not None or not name.endswith(".index.json"):
        return [problem] if problem else []
    files = [os.path.join(folder, shard) for shard in _shards(path)]
    missing = [f"weight shard `{os.path.basename(p)}` is missing" for p in files if not os.path.isfile(p)]
    return missing + [problem for p in files if os.path.isfile(p) and (problem := file_problem(p))]


def _dcp_problems(folder: str, names: list[str]) -> list[str]:
    # torch.distributed.checkpoint writes `.metadata` last, once every rank has written its shard
    return [
        f"`{name}/.metadata` is missing"
        for name in names
        if not os.path.isfile(os.path.join(folder, name, ".metadata"))
    ]


def _state_problems(folder: str, world_size: int) -> list[str]:
    problems = []
    deepspeed = os.path.isfile(os.path.join(folder, "latest"))
    optimizer = next((name for name in OPTIMIZER_FILES if os.path.isfile(os.path.join(folder, name))), None)
    if optimizer is not None:
        problems.append(file_problem(os.path.join(folder, optimizer)))
    elif _dcp_folders(folder, "optimizer"):
        problems += _dcp_problems(folder, _dcp_folders(folder, "optimizer"))
    elif not deepspeed:
        problems.append("`optimizer.pt` is missing (a fresh optimizer would restart the learning-rate schedule)")
    for name in ([] if deepspeed else ["scheduler.pt"]) + ["trainer_state.json"]:
        path = os.path.join(folder, name)
        problems.append(file_problem(path) if os.path.isfile(path) else f"`{name}` is missing")
    if os.path.isfile(os.path.join(folder, "scaler.pt")):
        problems.append(file_problem(os.path.join(folder, "scaler.pt")))
    return [problem for problem in problems if problem] + _rng_problems(folder, world_size)


def _rng_problems(folder: str, world_size: int) -> list[str]:
    """The RNG state of every process, as `Trainer._load_rng_state` reads it."""
    expected = ["rng_state.pth"] if world_size <= 1 else [f"rng_state_{rank}.pth" for rank in range(world_size)]
    present = sorted(name for name in os.listdir(folder) if re.fullmatch(r"rng_state(_\d+)?\.pth", name))
    if present and not set(expected) & set(present):
        return [
            f"no RNG state for this run of {world_size} process(es) ({expected[0]}, ...): it has "
            f"{', '.join(present)}, saved by a run with another number of processes; resume with as many"
        ]
    problems = [file_problem(os.path.join(folder, name)) for name in expected if name in present]
    return [f"`{name}` is missing" for name in expected if name not in present] + [p for p in problems if p]


def checkpoint_problems(folder: str, world_size: int = 1) -> list[str]:
    """What keeps `folder` from resuming a run of `world_size` processes exactly: missing or damaged files (weights,
    optimizer, scheduler, the RNG state of every process, trainer state); empty when it is complete."""
    if not os.path.isdir(folder):
        return [f"the folder `{folder}` does not exist"]
    return _weights_problems(folder) + _state_problems(folder, world_size)


def checkpoints(output_dir: str) -> list[str]:
    """The `checkpoint-<step>` folders in `output_dir`, newest (highest step) first."""
    if not os.path.isdir(output_dir):
        return []
    names = [name for name in os.listdir(output_dir) if CHECKPOINT_RE.match(name)]
    names = [name for name in names if os.path.isdir(os.path.join(output_dir, name))]
    names.sort(key=lambda name: int(CHECKPOINT_RE.match(name).group(1)), reverse=True)
    return [os.path.join(output_dir, name) for name in names]


def last_complete_checkpoint(output_dir: str, world_size: int = 1) -> str | None:
    """The newest complete checkpoint in `output_dir`, None if there is none."""
    return next((path for path in checkpoints(output_dir) if not checkpoint_problems(path, world_size)), None)


def _listing(problems: list[str]) -> str:
    return "; ".join(problems)


def wants_resume(value: str | bool | None) -> bool:
    """Whether a `resume_from_checkpoint` value asks to resume (not None, False, "" or "false")."""
    return value is not None and value is not False and str(value).strip().lower() not in ("", "false")


def resolve_resume(value: str | bool | None, output_dir: str, world_size: int = 1) -> str | None:
    """The checkpoint to resume from: None for none (None, False, "" or "false"); for `True`, "true" or "last", the
    newest complete checkpoint in `output_dir` (newer incomplete ones are skipped with a warning); else the path,
    which must be a complete checkpoint. A clear `ValueError` otherwise, naming what is missing and the last complete
    checkpoint."""
    if not wants_resume(value):
        return None
    if value is True or str(value).strip().lower() in LAST:
        skipped = []
        for path in checkpoints(output_dir):
            problems = checkpoint_problems(path, world_size)
            if not problems:
                for name, why in skipped:
                    logger.warning(f"Skipping the incomplete checkpoint {name} ({why}); resuming from {path}.")
                return path
            skipped.append((path, _listing(problems)))
        found = "".join(f" {path} is incomplete: {why}." for path, why in skipped) or " It has none."
        restart = (
            "Start the run again from the beginning: in this folder with `--overwrite_run true` instead of "
            "`resume_from_checkpoint` (deleting the earlier run's files), or in another `output_dir`"
            if paths_under(output_dir)
            else "Start a new run without `resume_from_checkpoint`"
        )
        raise ValueError(
            f"`resume_from_checkpoint: {value}` resumes from the newest complete checkpoint in `output_dir` "
            f"{output_dir!r}, but there is none.{found} {restart}; or name another checkpoint."
        )
    path = str(value)
    problems = checkpoint_problems(path, world_size)
    if not problems:
        return path
    parent = os.path.dirname(os.path.abspath(path))
    last = last_complete_checkpoint(parent, world_size)
    beside = (
        f"The last complete checkpoint beside it is {last}: resume from it with `resume_from_checkpoint: {last}`."
        if last
        else f"There is no complete checkpoint beside it in {parent}."
    )
    raise ValueError(f"Cannot resume from the checkpoint {path}: {_listing(problems)}. {beside}")


def publish_checkpoint(staged: str, final: str) -> None:
    """Rename the written checkpoint `staged` to `final`, replacing a checkpoint of that name (left by an earlier
    run resumed from an older checkpoint), then remove the staging folder if it is empty."""
    staging = os.path.dirname(staged)
    replaced = os.path.join(staging, f"replaced-{os.path.basename(final)}")
    if os.path.exists(final):
        shutil.rmtree(replaced, ignore_errors=True)
        os.replace(final, replaced)
    os.replace(staged, final)
    shutil.rmtree(replaced, ignore_errors=True)
    if not os.listdir(staging):
        os.rmdir(staging)
