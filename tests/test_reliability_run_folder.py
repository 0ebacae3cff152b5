"""Nothing lost, issue 14 case 3 and case 12's unwritable `output_dir`: a run into an `output_dir` holding an earlier
run is refused, before the model loads, with a message naming the choices (another folder, `overwrite_run`, and
resuming where there is a complete checkpoint); `overwrite_run: true` deletes the earlier run's recorded files only; an
`output_dir` that cannot be written fails first. (Issue 18's cases of the run's record and lock:
tests/test_reliability_run_ownership.py.)
"""

import importlib
import os

import pytest
from safetensors.torch import load_file
from test_reliability_checkpoints import listing
from tiny import save_tiny_model, write_tiny_recipe

from trl_maskft.runtime.run_folder import check_output_dir
from trl_maskft.runtime.run_manifest import MANIFEST_FILE, delete_recorded, paths_under, write_manifest


@pytest.fixture
def earlier_run(tmp_path):
    """An output_dir holding a finished run (checkpoints, model, card, QA files; recorded as the run's) and a file
    of the user's."""
    out = tmp_path / "out"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "checkpoint-4" / "optimizer.pt").write_bytes(b"old")
    (out / "qa_generations").mkdir()
    (out / "qa_generations" / "epoch_1.jsonl").write_text("{}\n")
    for name in ["model.safetensors", "config.json", "tokenizer.json", "README.md", "qa_summary.md"]:
        (out / name).write_text("old")
    write_manifest(str(out), paths_under(str(out)))
    (out / "notes.txt").write_text("mine")
    return out


def run_script(tmp_path, **keys):
    """The masked SFT script on a recipe for the tiny model, which is not saved unless a test saves it."""
    recipe = write_tiny_recipe(tmp_path, dataset_name="people", num_people=2, mask_token="[]", **keys)
    return importlib.import_module("trl_maskft.scripts.masked_sft").main(["--config", recipe])


def test_a_new_run_into_a_finished_run_is_refused_before_the_model_loads(earlier_run, tmp_path):
    """Case 3: a new run into the `output_dir` of a finished run replaced its model and QA files without a word and
    left its checkpoints beside the new model."""
    before = listing(earlier_run)
    with pytest.raises(ValueError) as error:
        run_script(tmp_path)  # the model folder does not exist: the check comes first
    message = str(error.value)
    assert (
        f"`output_dir` {str(earlier_run)!r} holds an earlier run (README.md, checkpoint-4/, config.json, " in message
    )
    assert "files it did not write: notes.txt" in message and "another folder" in message
    assert "`--overwrite_run true` to delete the earlier run's files first" in message
    # issue 18 case 10: its checkpoint is incomplete, so resuming is not offered
    assert "--resume_from_checkpoint" not in message and "It has no complete checkpoint" in message
    assert listing(earlier_run) == before


def test_overwrite_run_deletes_the_earlier_runs_files_only(earlier_run, tmp_path):
    """Case 3: `overwrite_run: true` deletes the files a run writes, and nothing else, before training."""
    save_tiny_model(tmp_path / "model")
    run_script(tmp_path, overwrite_run=True, num_train_epochs=1, qa_max_new_tokens=4, qa_max_items=2)
    assert (earlier_run / "notes.txt").read_text() == "mine"
    assert not (earlier_run / "checkpoint-4").exists()
    assert (earlier_run / "qa_generations" / "epoch_1.jsonl").read_text() != "{}\n"
    assert (earlier_run / "qa_summary.md").read_text() != "old"
    assert load_file(earlier_run / "model.safetensors")  # the new model


def test_overwrite_choices_are_checked(earlier_run):
    """Case 3: resuming and overwriting at once is refused; overwriting names the recorded files and keeps the
    others. (Issue 18 case 10 and case 1 changed two choices: resuming needs a complete checkpoint, and the user's
    own files left in the folder block a new run.)"""
    with pytest.raises(ValueError, match="but there is none.* with `--overwrite_run true` instead of"):
        check_output_dir(str(earlier_run), "last", False)
    with pytest.raises(ValueError, match="choose one"):
        check_output_dir(str(earlier_run), "last", True)
    plan = check_output_dir(str(earlier_run), None, True)
    assert "notes.txt" not in plan.delete and {"checkpoint-4/", "qa_generations/"} <= plan.delete
    assert plan.kept == ["notes.txt"]
    delete_recorded(str(earlier_run), plan.delete)
    assert sorted(os.listdir(earlier_run)) == [MANIFEST_FILE, "notes.txt"]
    with pytest.raises(ValueError, match="is not empty, and no run recorded writing its files"):
        check_output_dir(str(earlier_run), None, False)


def test_an_unwritable_output_dir_fails_before_the_model_loads(tmp_path):
    """Case 12: `output_dir: /proc/x` failed late with a misleading `FileNotFoundError`."""
    with pytest.raises(ValueError, match=r"`output_dir` '/proc/x' cannot be written to \(FileNotFoundError"):
        run_script(tmp_path, output_dir="/proc/x")
