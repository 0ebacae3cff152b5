"""What a run wrote: the record (manifest) of every file and folder a run created in its `output_dir`.

A run holds the lock of its `output_dir` (`trl_maskft.runtime.run_lock`), so it is the only writer there: what appears
in the folder while it runs is the run's, whichever library wrote it (the Trainer's checkpoints, `save_model`, the
tokenizer, the model card, TensorBoard's `runs/`, the QA files). `RunRecord` lists the folder as the run goes on (at
the start of training, after each save, epoch and evaluation, and when the run ends, also on an error) and records
every path but those that were there before and were not the run's. `overwrite_run` deletes what this record lists,
and a new run refuses a folder holding files no run recorded.
"""

from __future__ import annotations

import json
import logging
import os

from transformers import TrainerCallback

from .run_lock import LOCK_FILE, release_lock

logger = logging.getLogger(__name__)

MANIFEST_FILE = "_trl_maskft_run.json"  # `_*` is never pushed to the Hub


def paths_under(output_dir: str) -> set[str]:
    """Every file and folder under `output_dir`, relative to it (folders end with "/"), but the run's record and
    lock."""
    found = set()
    for root, folders, names in os.walk(output_dir):
        relative = os.path.relpath(root, output_dir)
        for name in folders:
            found.add(os.path.normpath(os.path.join(relative, name)) + "/")
        found.update(os.path.normpath(os.path.join(relative, name)) for name in names)
    return found - {MANIFEST_FILE, MANIFEST_FILE + ".tmp", LOCK_FILE}


def read_manifest(output_dir: str) -> set[str] | None:
    """The paths the record of `output_dir` lists; None when there is none."""
    path = os.path.join(output_dir, MANIFEST_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return set(json.load(f)["paths"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"The record of the run in {output_dir!r}, {path}, is damaged ({type(error).__name__}: {error}), so it is "
            "unknown which files the run wrote. Move the files you want to keep, delete the folder, and run again; "
            "or write the run to another `output_dir`."
        ) from error


def write_manifest(output_dir: str, paths: set[str]) -> None:
    """Write the record of `output_dir` listing `paths`, at once (a kill leaves the previous record)."""
    path = os.path.join(output_dir, MANIFEST_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump({"written_by": "trl-maskft", "paths": sorted(paths)}, f, indent=1)
    os.replace(path + ".tmp", path)


def top_level(paths) -> list[str]:
    """The names in `output_dir` that `paths` lie under, sorted (folders end with "/")."""
    return sorted({path.split("/", 1)[0] + ("/" if "/" in path else "") for path in paths})


def delete_recorded(output_dir: str, paths: set[str]) -> None:
    """Delete the recorded `paths` from `output_dir`: the files, then the folders left empty (deepest first)."""
    for path in sorted(paths, key=lambda path: (path.endswith("/"), -path.count("/"))):
        full = os.path.join(output_dir, path.rstrip("/"))
        if os.path.islink(full) or not path.endswith("/"):
            if os.path.lexists(full):
                os.remove(full)
        elif os.path.isdir(full) and not os.listdir(full):
            os.rmdir(full)


class RunRecord(TrainerCallback):
    """The record of a run in `output_dir`: every path under it but `foreign` (there before the run and not the
    run's). Only the main process (`main`) writes it; `close()` records a last time and releases the lock."""

    def __init__(self, output_dir: str, foreign: set[str], main: bool = True):
        self.output_dir, self.foreign, self.main = output_dir, foreign, main

    def record(self) -> None:
        """Record the run's paths; a run that wrote nothing (yet) leaves no record."""
        if not self.main:
            return
        paths = paths_under(self.output_dir) - self.foreign
        if paths:
            write_manifest(self.output_dir, paths)
        elif os.path.exists(os.path.join(self.output_dir, MANIFEST_FILE)):
            os.remove(os.path.join(self.output_dir, MANIFEST_FILE))

    def on_train_begin(self, args, state, control, **kwargs):
        self.record()

    def on_save(self, args, state, control, **kwargs):
        self.record()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.record()

    def on_evaluate(self, args, state, control, **kwargs):
        self.record()

    def close(self) -> None:
        """Record what the run wrote and release the lock, also after an error (a full disk only warns)."""
        if not self.main:
            return
        try:
            self.record()
        except OSError as error:
            logger.warning(f"Could not update the record of the run's files in {self.output_dir}: {error}")
        release_lock(self.output_dir)
