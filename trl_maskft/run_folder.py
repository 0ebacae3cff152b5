"""No silent overwrite: a run starts in an `output_dir` it can write to, and never over an earlier run's files.

`prepare_output_dir` runs before the model is loaded. A folder holding a finished run (its model or `qa_summary.md`)
or checkpoints is refused unless the run resumes (`resume_from_checkpoint`) or `overwrite_run: true` asks to
delete the earlier run's files first (`run_files`: those a run writes, nothing else).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile

from .checkpoints import CHECKPOINT_RE, STAGING_DIR, wants_resume

# What a run writes into `output_dir`: checkpoints, the model, tokenizer and training arguments, the model card, the
# QA files and the Trainer's result files
RUN_FILE_PATTERNS = (
    STAGING_DIR,
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model*.bin*",
    "adapter_model.*",
    "adapter_config.json",
    "config.json",
    "generation_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.*",
    "training_args.bin",
    "README.md",
    "qa_summary.md",
    "qa_metrics.jsonl",
    "qa_generations",
    "trainer_state.json",
    "*_results.json",
    "runs",
)
# The files that say a run finished (or saved a checkpoint) here: a new run would overwrite them
FINISHED_RUN_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin*", "adapter_model.*")
FINISHED_RUN_FILES = ("qa_summary.md",)
KEY = "overwrite_run"


def run_files(output_dir: str) -> list[str]:
    """The names in `output_dir` that a run writes (`RUN_FILE_PATTERNS` and the `checkpoint-<step>` folders)."""
    if not os.path.isdir(output_dir):
        return []
    return sorted(
        name
        for name in os.listdir(output_dir)
        if CHECKPOINT_RE.match(name) or any(fnmatch.fnmatch(name, pattern) for pattern in RUN_FILE_PATTERNS)
    )


def earlier_run(output_dir: str) -> list[str]:
    """The files in `output_dir` of a finished run or its checkpoints; empty when a new run may start there."""
    return [
        name
        for name in run_files(output_dir)
        if CHECKPOINT_RE.match(name)
        or name in FINISHED_RUN_FILES
        or any(fnmatch.fnmatch(name, pattern) for pattern in FINISHED_RUN_PATTERNS)
    ]


def check_writable(output_dir: str) -> None:
    """Create `output_dir` if needed and write a file into it; a clear error when either fails."""
    try:
        os.makedirs(output_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise ValueError(
            f"`output_dir` {output_dir!r} cannot be written to ({type(error).__name__}: {error}): the run would "
            "fail when it first saves. Pick a folder you can create and write, e.g. one under your home or "
            "working directory."
        ) from error


def _shown(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_output_dir(output_dir: str, resume_from_checkpoint: str | bool | None, overwrite_run: bool) -> list[str]:
    """Check, before the model is loaded, that a run may write into `output_dir`; return the earlier run's files to
    delete first (with `overwrite_run`, else none). Raises a `ValueError` naming the choices when `output_dir` holds
    an earlier run and the run neither resumes it nor overwrites it, or when it cannot be written to."""
    resuming = wants_resume(resume_from_checkpoint)
    if resuming and overwrite_run:
        raise ValueError(
            f"`resume_from_checkpoint` continues the run in {output_dir!r}, and `{KEY}: true` deletes it first: "
            "choose one."
        )
    check_writable(output_dir)
    if overwrite_run:
        return run_files(output_dir)
    earlier = earlier_run(output_dir)
    if earlier and not resuming:
        raise ValueError(
            f"`output_dir` {output_dir!r} holds an earlier run ({_shown(earlier)}), which a new run would overwrite. "
            "Choose one: resume it with `--resume_from_checkpoint last` (`resume_from_checkpoint: last` in the "
            "recipe); write the new run to another folder (`output_dir`); or set `--overwrite_run true` to delete "
            "the earlier run's files first (its checkpoints, model, tokenizer, model card and QA files; other files "
            "in the folder are kept)."
        )
    return []


def remove_run_files(output_dir: str, names: list[str]) -> None:
    """Delete `names` (files or folders) from `output_dir`."""
    for name in names:
        path = os.path.join(output_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def prepare_output_dir(training_args, overwrite_run: bool = False) -> None:
    """`check_output_dir` for a run of `training_args` (on every process), then the main process deletes the earlier
    run's files (with `overwrite_run`) while the others wait."""
    output_dir = training_args.output_dir
    earlier = check_output_dir(output_dir, training_args.resume_from_checkpoint, overwrite_run)
    with training_args.main_process_first(local=False, desc="deleting the earlier run"):
        if training_args.process_index == 0:
            remove_run_files(output_dir, earlier)
