"""A run owns its files: it starts in an `output_dir` it can write to and that no other run is writing to, never
over files it did not write, and deletes only what an earlier run recorded writing (`trl_maskft.runtime.run_manifest`).

`prepare_output_dir` runs before the model is loaded. A folder that is not empty is refused (naming what is there
and the ways out) unless the run resumes the run recorded there (`resume_from_checkpoint`) or `overwrite_run: true`
asks to delete the earlier run's recorded files first; files no run wrote are never deleted, and those a run would
replace (`REPLACED_NAMES`) are refused. An `output_dir` inside the corpus folder is refused too.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import tempfile
from dataclasses import dataclass, field

from accelerate.utils import broadcast_object_list

from ..data.corpus_files import is_local
from .checkpoints import CHECKPOINT_RE, STAGING_DIR, last_complete_checkpoint, resolve_resume, wants_resume
from .run_lock import release_lock, take_lock
from .run_manifest import MANIFEST_FILE, RunRecord, delete_recorded, paths_under, read_manifest, top_level

logger = logging.getLogger(__name__)

# Files every run writes at the top of `output_dir`, whatever its recipe: such a file that the run did not write
# would be replaced (the model card is README.md)
REPLACED_NAMES = (
    "README.md",
    "config.json",
    "generation_config.json",
    "training_args.bin",
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model*.bin*",
    "adapter_model.*",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    STAGING_DIR,
)
# What else a run of an older trl-maskft, which kept no record, wrote: taken as the run's when it is resumed
OLDER_RUN_NAMES = ("runs", "*_generations", "*_metrics.jsonl", "*_summary.md", "trainer_state.json")
KEY = "overwrite_run"


def replaced_by_a_run(path: str) -> bool:
    """Whether a run writes `path` (relative to `output_dir`) over a file there: `REPLACED_NAMES` and checkpoints."""
    name = path.split("/", 1)[0]
    return bool(CHECKPOINT_RE.match(name)) or any(fnmatch.fnmatch(name, pattern) for pattern in REPLACED_NAMES)


def written_by_an_older_run(path: str) -> bool:
    name = path.split("/", 1)[0]
    return replaced_by_a_run(path) or any(fnmatch.fnmatch(name, pattern) for pattern in OLDER_RUN_NAMES)


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


def check_outside_corpus(output_dir: str, dataset_name: str | None) -> None:
    """Refuse an `output_dir` whose files the corpus `dataset_name` (a local folder or glob) would read."""
    if not dataset_name or not is_local(dataset_name) or os.path.isfile(dataset_name):
        return
    folder = os.path.abspath(output_dir)
    if os.path.isdir(dataset_name):
        corpus = os.path.abspath(dataset_name)
        inside = os.path.commonpath([folder, corpus]) == corpus
    else:  # a glob reads the files of the folders its folder part matches (`*` and `**` match `/` here: any depth)
        corpus = os.path.dirname(os.path.abspath(dataset_name))
        inside = fnmatch.fnmatch(folder, corpus)
    if inside:
        raise ValueError(
            f"`output_dir` {output_dir!r} lies inside the corpus folder {corpus} (`dataset_name` {dataset_name!r}): "
            "the next run would read this run's files (its JSON files, model card, QA records) as corpus. Pick an "
            f"`output_dir` outside {corpus}."
        )


def _shown(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _ways_out(output_dir: str, world_size: int, recorded: bool) -> str:
    last = last_complete_checkpoint(output_dir, world_size)
    resume = f"resume it from {os.path.basename(last)} with `--resume_from_checkpoint last`; " if last else ""
    if recorded:
        return (
            f"Choose one: {resume}write the new run to another folder (`output_dir`); or set `--{KEY} true` to "
            f"delete the earlier run's files first (those its record {MANIFEST_FILE} lists; other files are kept)."
            + ("" if last else " (It has no complete checkpoint to resume from.)")
        )
    return (
        "Write the run to an empty or new folder (`output_dir`)"
        + (f"; if they are a run of an older trl-maskft, {resume.rstrip('; ')}" if last else "")
        + f"; or move away the files you want to keep. (`{KEY}` deletes only the files a run recorded in its "
        f"{MANIFEST_FILE}.)"
    )


def _refusal(output_dir: str, present: set[str], recorded: set[str] | None, world_size: int) -> str:
    if recorded and present & recorded:
        others = top_level(present - recorded)
        return (
            f"`output_dir` {output_dir!r} holds an earlier run ({_shown(top_level(present & recorded))}"
            + (f"; and files it did not write: {_shown(others)}" if others else "")
            + f"), which a new run would overwrite. {_ways_out(output_dir, world_size, True)}"
        )
    return (
        f"`output_dir` {output_dir!r} is not empty, and no run recorded writing its files ({MANIFEST_FILE} lists "
        f"those a run wrote): it holds {_shown(top_level(present))}. A run would replace files of the names it writes "
        f"(README.md with its model card, config.json, the tokenizer and model files). "
        + _ways_out(output_dir, world_size, False)
    )


@dataclass
class RunFolder:
    """What `check_output_dir` found: the earlier run's recorded paths to delete first (`overwrite_run`), the paths
    of the run a resumed run continues (`owned`), and the files there that the run keeps (`kept`)."""

    delete: set[str] = field(default_factory=set)
    owned: set[str] = field(default_factory=set)
    kept: list[str] = field(default_factory=list)


def check_output_dir(output_dir: str, resume_from_checkpoint, overwrite_run: bool, world_size: int = 1) -> RunFolder:
    """Check, before the model is loaded, that a run may write into `output_dir`: empty or missing, or resuming
    the run recorded there, or with `overwrite_run` the recorded files of the earlier run to delete first. Raises a
    `ValueError` naming what is there and the ways out."""
    resuming = wants_resume(resume_from_checkpoint)
    if resuming and overwrite_run:
        raise ValueError(
            f"`resume_from_checkpoint` continues the run in {output_dir!r}, and `{KEY}: true` deletes it first: "
            "choose one."
        )
    present, recorded = paths_under(output_dir), read_manifest(output_dir)
    if resuming:
        resolve_resume(resume_from_checkpoint, output_dir, world_size)  # a checkpoint to resume from, before loading
        owned = {path for path in present if written_by_an_older_run(path)} if recorded is None else recorded
        plan = RunFolder(owned=present & owned)
    elif present and (recorded is None or not overwrite_run):
        refusal = _refusal(output_dir, present, recorded, world_size)
        raise ValueError(
            (f"`{KEY}: true` deletes only an earlier run's recorded files. " if overwrite_run else "") + refusal
        )
    else:
        plan = RunFolder(delete=present & (recorded or set()))
    plan.kept = sorted(path for path in present - plan.delete - plan.owned if not path.endswith("/"))
    replaced = [path for path in plan.kept if replaced_by_a_run(path)]
    if replaced:
        raise ValueError(
            f"`output_dir` {output_dir!r} holds files that the earlier run did not write and this run would replace: "
            f"{_shown(replaced)}. Move them out of the folder, or write the run to another `output_dir`."
        )
    return plan


def _start(output_dir: str, resume_from_checkpoint, overwrite_run: bool, world_size: int) -> RunRecord:
    """On the main process: lock `output_dir`, check it, delete the earlier run's recorded files (`overwrite_run`),
    and start the record of this run."""
    check_writable(output_dir)
    take_lock(output_dir)
    try:
        plan = check_output_dir(output_dir, resume_from_checkpoint, overwrite_run, world_size)
        if plan.delete:
            delete_recorded(output_dir, plan.delete)
            logger.warning(
                f"`{KEY}: true`: deleted the earlier run's {_shown(top_level(plan.delete), 20)} from {output_dir}."
            )
        if plan.kept:
            logger.warning(f"Kept in {output_dir}, not written by a run: {_shown(plan.kept, 20)}.")
        run = RunRecord(output_dir, paths_under(output_dir) - plan.owned)
        run.record()
    except BaseException:
        release_lock(output_dir)
        raise
    return run


def prepare_output_dir(training_args, overwrite_run: bool = False, dataset_name: str | None = None) -> RunRecord:
    """Before the model is loaded: check that `output_dir` lies outside the corpus `dataset_name`; then the main
    process locks it, checks it and deletes the earlier run's recorded files (`overwrite_run`), and the others raise
    its error. The `RunRecord` of the run (add it to the trainer; `close()` it when the run ends)."""
    output_dir = training_args.output_dir
    check_outside_corpus(output_dir, dataset_name)
    main, error = training_args.process_index == 0, None
    if main:
        try:
            run = _start(output_dir, training_args.resume_from_checkpoint, overwrite_run, training_args.world_size)
        except Exception as raised:  # the other processes raise it too, rather than wait for the main one
            error = raised
    if training_args.world_size > 1:
        message = broadcast_object_list([None if error is None else str(error)])[0]
        if message is not None and error is None:
            raise ValueError(message)
    if error is not None:
        raise error
    return run if main else RunRecord(output_dir, set(), main=False)
