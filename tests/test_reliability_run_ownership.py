"""A run owns its files (issue 18 cases 1, 2, 3, 10 and 18): a run writes only into an empty folder, the folder of the
run it resumes, or one whose earlier run it overwrites (`overwrite_run`, deleting exactly what that run recorded
writing); one run at a time (the lock); never into its corpus. (Case 14, a full disk at a checkpoint:
tests/test_reliability_disk_full.py.)

Each test runs a script's `main` on the tiny model (tests/tiny.py) and asserts the message, the exit status (an
uncaught exception: status 1) and that no file of the user's changed (`run_refused` hashes the folders).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager

import processes
import pytest
from test_reliability import DOCS, QA, run_refused
from test_reliability_checkpoints import SAVING
from tiny import MASK_TOKEN, save_tiny_model, write_jsonl, write_tiny_recipe
from trainer_kinds import make_trainer

from trl_maskft.runtime.preemption import TrainingInterrupted
from trl_maskft.runtime.run_folder import check_outside_corpus
from trl_maskft.runtime.run_lock import LOCK_FILE
from trl_maskft.runtime.run_manifest import MANIFEST_FILE, read_manifest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_FILES = {"README.md": "# My project\n", "config.json": '{"mine": true}\n'}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def recipe(tmp_path, model_dir):
    """`recipe(**keys)`: a recipe training the tiny model for one step on `docs.jsonl`, asking `qa.jsonl`, into
    `tmp_path/out`; `keys` win."""
    write_jsonl(tmp_path / "docs.jsonl", DOCS)
    write_jsonl(tmp_path / "qa.jsonl", QA)

    def write(**keys) -> str:
        keys = {"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 128, "qa_max_new_tokens": 4, **keys}
        data = {"dataset_name": str(tmp_path / "docs.jsonl"), "qa_file": str(tmp_path / "qa.jsonl")}
        return write_tiny_recipe(tmp_path, model_name_or_path=model_dir, mask_token=MASK_TOKEN, **data, **keys)

    return write


def masked_sft(*argv: str):
    return importlib.import_module("trl_maskft.scripts.masked_sft").main(list(argv))


@pytest.fixture
def no_model_loading(monkeypatch):
    """A run that gets as far as building its trainer fails the test: the checks come before the model loads."""

    def build_trainer(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("trl_maskft.pipeline.run.build_trainer", build_trainer)


# Case 1: the user's own files in `output_dir`


@pytest.mark.parametrize("where", ["out/myproject", "."])
def test_the_users_files_in_output_dir_are_not_replaced(where, recipe, tmp_path, monkeypatch, no_model_loading):
    """Issue 18 case 1: a run into a folder holding the user's README.md and config.json replaced both (and
    `--output_dir .` in a checkout replaced the project's README with the model card)."""
    folder = tmp_path / "out" / "myproject" if where != "." else tmp_path / "checkout"
    folder.mkdir(parents=True)
    for name, text in USER_FILES.items():
        (folder / name).write_text(text)
    monkeypatch.chdir(folder if where == "." else tmp_path)
    error = run_refused(
        "masked_sft",
        ["--config", recipe(), "--output_dir", where],
        ValueError,
        f"`output_dir` '{where}' is not empty, and no run recorded writing its files",
        tmp_path,
    )
    message = str(error)
    assert "it holds README.md, config.json." in message and "README.md with its model card" in message
    assert "Write the run to an empty or new folder (`output_dir`)" in message
    assert not (folder / LOCK_FILE).exists()


# Case 2: `overwrite_run` deletes what the earlier run recorded, nothing else


def test_overwrite_run_deletes_only_what_the_earlier_run_wrote(recipe, tmp_path, caplog):
    """Issue 18 case 2: `overwrite_run: true` deleted `runs/notes.md`, `human_eval_results.json` and
    `tokenizer_notes.txt` (their names matched the run's patterns), and said nothing of an old `eval_summary.md`."""
    out = tmp_path / "out"
    masked_sft("--config", recipe())
    written = read_manifest(str(out))
    assert {"README.md", "model.safetensors", "config.json", "qa_summary.md"} <= written
    assert not (out / LOCK_FILE).exists()  # released at the end of the run
    (out / "runs").mkdir(exist_ok=True)
    user_files = {
        "runs/notes.md": "my notes",
        "human_eval_results.json": "{}",
        "tokenizer_notes.txt": "my notes",
        "eval_summary.md": "an older run's",
    }
    for name, text in user_files.items():
        (out / name).write_text(text)
    earlier_model = (out / "model.safetensors").stat().st_mtime_ns
    with caplog.at_level(logging.WARNING, logger="trl_maskft.runtime.run_folder"):
        masked_sft("--config", recipe(), "--overwrite_run", "true")
    for name, text in user_files.items():
        assert (out / name).read_text() == text
    assert (
        "`overwrite_run: true`: deleted the earlier run's README.md, chat_template.jinja, config.json" in caplog.text
    )
    assert "model.safetensors, qa_generations/, qa_metrics.jsonl, qa_summary.md" in caplog.text
    kept = "eval_summary.md, human_eval_results.json, runs/notes.md, tokenizer_notes.txt"
    assert f"Kept in {out}, not written by a run: {kept}." in caplog.text
    assert (out / "model.safetensors").stat().st_mtime_ns > earlier_model  # the new run's
    assert not set(user_files) & read_manifest(str(out))


# Case 3: one run at a time


@contextmanager
def _locking_process(out):
    """Another run's process holding the lock of `out` (`take_lock`, as a run's main process does), killed with its
    process group when the block ends (tests/processes.py)."""
    code = (
        "import time; from trl_maskft.runtime.run_lock import take_lock; "
        f"take_lock({str(out)!r}); print('locked', flush=True); time.sleep(120)"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    with processes.started([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout.readline().strip() == "locked"
        yield process


def test_a_second_run_into_the_same_output_dir_is_refused(recipe, tmp_path, no_model_loading):
    """Issue 18 case 3: two runs started into one `output_dir` both said "saved"; only the second's files remained."""
    out = tmp_path / "out"
    out.mkdir()
    with _locking_process(out) as other:
        error = run_refused("masked_sft", ["--config", recipe()], ValueError, "is in use by another run", tmp_path)
    host = socket.gethostname()
    assert f"(host {host}, process {other.pid}, started " in str(error) and f"`ps -p {other.pid}`" in str(error)


def test_a_lock_held_on_another_host_says_how_to_clear_it(recipe, tmp_path, no_model_loading):
    """Issue 18 case 3: a lock of a run on another host cannot be checked from here: the message says how to clear it
    when that run is gone."""
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"host": "gpu-node-7", "pid": 4242, "started": "2026-12-05 10:00:00"}))
    error = run_refused("masked_sft", ["--config", recipe()], ValueError, "is in use by another run", tmp_path)
    assert "(check on gpu-node-7: `ps -p 4242`" in str(error) and f"delete the lock file {out / LOCK_FILE}" in str(
        error
    )


def test_a_stale_lock_is_replaced(recipe, tmp_path, caplog):
    """Issue 18 case 3: the lock of a run killed on this host (its process is gone) does not block the next run."""
    out = tmp_path / "out"
    out.mkdir()
    with processes.started([sys.executable, "-c", "pass"]) as gone:
        gone.wait()
    (out / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": gone.pid, "started": "earlier"}))
    with caplog.at_level(logging.WARNING, logger="trl_maskft.runtime.run_lock"):
        masked_sft("--config", recipe())
    assert f"Replacing the lock of process {gone.pid} in {out}, which no longer runs." in caplog.text
    assert (out / "model.safetensors").exists() and not (out / LOCK_FILE).exists()


@pytest.mark.parametrize(
    "failure", [RuntimeError("boom"), TrainingInterrupted("Training stopped by SIGTERM", signal.SIGTERM, None)]
)
def test_the_lock_is_released_when_a_run_fails_or_is_stopped(failure, recipe, tmp_path, monkeypatch):
    """Issue 18 case 3: an error or a SIGTERM (the preemption path raises `TrainingInterrupted`) releases the lock, and
    the record lists what the run wrote until then."""

    def train(self, *args, **kwargs):
        with open(os.path.join(self.args.output_dir, "partial.txt"), "w") as f:
            f.write("written by the run")
        raise failure

    monkeypatch.setattr("trl_maskft.masked_sft.trainer.MaskedSFTTrainer.train", train)
    with pytest.raises(type(failure)) as error:
        masked_sft("--config", recipe())
    if isinstance(failure, SystemExit):
        assert error.value.code == 128 + signal.SIGTERM
    out = tmp_path / "out"
    assert not (out / LOCK_FILE).exists() and read_manifest(str(out)) == {"partial.txt"}


def test_a_resumed_run_keeps_its_record_and_never_replaces_the_users_files(recipe, tmp_path, monkeypatch):
    """Issue 18 cases 1 and 2: resuming continues the run's record; a config.json of the user's put into the folder of
    an interrupted run is refused, not replaced by the model's."""
    out, path = tmp_path / "out", recipe(save_strategy="steps", save_steps=1, max_steps=2)

    def killed(*args):
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:  # the run ends after its checkpoints, before its model is saved
        patch.setattr("trl_maskft.pipeline.run.save_run", killed)
        with pytest.raises(RuntimeError, match="killed"):
            masked_sft("--config", path)
    assert {"checkpoint-1/", "checkpoint-2/"} <= read_manifest(str(out)) and not (out / "config.json").exists()
    (out / "config.json").write_text(USER_FILES["config.json"])
    error = "holds files that the earlier run did not write and this run would replace: config.json"
    run_refused("masked_sft", ["--config", path, "--resume_from_checkpoint", "last"], ValueError, error, tmp_path)
    (out / "config.json").unlink()
    masked_sft("--config", path, "--resume_from_checkpoint", "last")
    assert {"checkpoint-1/", "checkpoint-2/", "config.json", "model.safetensors"} <= read_manifest(str(out))


# Case 10: the one way out that applies


def test_an_earlier_run_without_checkpoints_is_not_offered_for_resuming(recipe, tmp_path, no_model_loading):
    """Issue 18 case 10: the "earlier run" refusal advised resuming a run without checkpoints, whose refusal advised
    a new run, which was refused again."""
    out = tmp_path / "out"
    (out / "checkpoint-2").mkdir(parents=True)  # incomplete: it cannot be resumed
    (out / "model.safetensors").write_text("the earlier run's")
    (out / MANIFEST_FILE).write_text(json.dumps({"paths": ["checkpoint-2/", "model.safetensors"]}))
    error = run_refused("masked_sft", ["--config", recipe()], ValueError, "holds an earlier run", tmp_path)
    assert "--resume_from_checkpoint" not in str(error) and "It has no complete checkpoint to resume from" in str(
        error
    )
    assert "set `--overwrite_run true` to delete the earlier run's files first" in str(error)
    error = run_refused(
        "masked_sft",
        ["--config", recipe(), "--resume_from_checkpoint", "last"],
        ValueError,
        "but there is none",
        tmp_path,
    )
    assert "Start a new run without" not in str(error)
    assert "in this folder with `--overwrite_run true` instead of `resume_from_checkpoint`" in str(error)


def test_an_earlier_run_with_a_complete_checkpoint_is_offered_for_resuming(recipe, tmp_path, no_model_loading):
    """Issue 18 case 10: resuming is named where it applies: the earlier run saved a complete checkpoint."""
    out = tmp_path / "out"
    trainer = make_trainer("masked_sft", out, max_steps=2, **SAVING)
    trainer.train()
    (out / MANIFEST_FILE).write_text(json.dumps({"paths": sorted(os.listdir(out))}))
    error = run_refused("masked_sft", ["--config", recipe()], ValueError, "holds an earlier run", tmp_path)
    assert "resume it from checkpoint-2 with `--resume_from_checkpoint last`" in str(error)


# Case 18: an `output_dir` inside the corpus folder


@pytest.mark.parametrize("pattern", ["corpus", "corpus/**/*.jsonl"])
def test_an_output_dir_inside_the_corpus_folder_is_refused(pattern, recipe, tmp_path, monkeypatch):
    """Issue 18 case 18: a run's JSON files in the corpus folder were read as corpus by the next run, which failed with
    "JSON parse error ... row 0" naming no file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    write_jsonl(tmp_path / "corpus" / "docs.jsonl", DOCS)
    error = run_refused(
        "masked_sft",
        ["--config", recipe(), "--dataset_name", pattern, "--output_dir", "corpus/runs/out"],
        ValueError,
        "`output_dir` 'corpus/runs/out' lies inside the corpus folder",
        tmp_path,
    )
    assert f"(`dataset_name` {pattern!r})" in str(error) and str(tmp_path / "corpus") in str(error)
    assert not (tmp_path / "corpus" / "runs").exists()


def test_an_output_dir_the_corpus_does_not_read_is_accepted(tmp_path):
    """Issue 18 case 18: a file, or a glob of one folder's files, reads nothing in an `output_dir` beside them."""
    (tmp_path / "corpus").mkdir()
    write_jsonl(tmp_path / "corpus" / "docs.jsonl", DOCS)
    check_outside_corpus(str(tmp_path / "corpus" / "out"), str(tmp_path / "corpus" / "docs.jsonl"))
    check_outside_corpus(str(tmp_path / "corpus" / "out"), str(tmp_path / "corpus" / "*.jsonl"))
    with pytest.raises(ValueError, match="lies inside the corpus folder"):
        check_outside_corpus(str(tmp_path / "corpus"), str(tmp_path / "corpus" / "*.jsonl"))
