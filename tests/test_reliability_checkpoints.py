"""Nothing lost, issue 14 case 1 and case 12's damaged checkpoint: a checkpoint is complete or refused, with a
message naming what is missing and the last complete checkpoint; `resume_from_checkpoint: last` picks the newest
complete one; a save appears under its checkpoint's name only once every file is written. Tiny models only.

(The other cases of issue 14: tests/test_reliability_preemption.py, test_reliability_run_folder.py and
test_reliability.py.) A new case: one test named after what the user sees, its case of the issue in the docstring,
asserting the message, the exit status and that no file is lost.
"""

import json
import os
import shutil
from concurrent.futures import Future

import pytest
from huggingface_hub import HfApi, RepoUrl
from test_resume import ScoreAtStep, step_losses
from trainer_kinds import make_trainer
from transformers import TrainerCallback

from trl_maskft.runtime.checkpoints import STAGING_DIR, checkpoint_problems, checkpoints, resolve_resume

SAVING = {"save_strategy": "steps", "save_steps": 2}  # 2 epochs of 2 steps: checkpoint-2 and checkpoint-4


def listing(folder) -> dict[str, int]:
    """Every file under `folder` with its size."""
    return {
        os.path.relpath(os.path.join(root, name), folder): os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(folder)
        for name in names
    }


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The uninterrupted masked SFT run, saving checkpoint-2 and checkpoint-4."""
    out = tmp_path_factory.mktemp("full")
    trainer = make_trainer("masked_sft", out, **SAVING)
    trainer.train()
    return trainer, out


@pytest.fixture
def saved_run(full_run, tmp_path):
    """A copy of the run's folder, to damage."""
    out = tmp_path / "out"
    shutil.copytree(full_run[1], out)
    return out


def truncate(path, size: int | None = None) -> None:
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2 if size is None else size)


def test_a_checkpoint_without_optimizer_is_refused_naming_the_last_complete_one(saved_run):
    """Case 1: a checkpoint without `optimizer.pt` resumed silently with a fresh optimizer and schedule."""
    os.remove(saved_run / "checkpoint-4" / "optimizer.pt")
    before = listing(saved_run)
    with pytest.raises(ValueError) as error:
        make_trainer("masked_sft", saved_run, **SAVING).train(resume_from_checkpoint=str(saved_run / "checkpoint-4"))
    message = str(error.value)
    assert "`optimizer.pt` is missing" in message and "restart the learning-rate schedule" in message
    assert f"The last complete checkpoint beside it is {saved_run / 'checkpoint-2'}" in message
    assert listing(saved_run) == before  # nothing written, nothing removed


@pytest.mark.parametrize("last", ["last", True])
def test_last_resumes_from_the_newest_complete_checkpoint(last, saved_run, full_run, caplog):
    """Case 1: a SIGKILL during a save (before saves were atomic) left `checkpoint-4` with a truncated optimizer.pt;
    `resume_from_checkpoint: last` (or `true`) skips it, says so, and resumes checkpoint-2 exactly."""
    truncate(saved_run / "checkpoint-4" / "optimizer.pt", 64 * 1024)
    assert checkpoint_problems(str(saved_run / "checkpoint-4"))[0].startswith("`optimizer.pt` is damaged (65536 bytes")
    resumed = make_trainer("masked_sft", saved_run, **SAVING)
    resumed.train(resume_from_checkpoint=last)
    full = full_run[0]
    assert step_losses(resumed, after=2) == pytest.approx(step_losses(full, after=2), abs=1e-6)
    assert sorted(step_losses(resumed, after=2)) == [3, 4]
    assert f"Skipping the incomplete checkpoint {saved_run / 'checkpoint-4'} (`optimizer.pt` is damaged" in caplog.text


def test_no_complete_checkpoint_to_resume_is_a_clear_error(saved_run):
    """Case 1: `last` with no complete checkpoint names each incomplete one."""
    os.remove(saved_run / "checkpoint-2" / "rng_state.pth")
    truncate(saved_run / "checkpoint-4" / "scheduler.pt")
    with pytest.raises(ValueError, match="but there is none") as error:
        resolve_resume("last", str(saved_run))
    assert "checkpoint-2 is incomplete: `rng_state.pth` is missing" in str(error.value)
    assert "checkpoint-4 is incomplete: `scheduler.pt` is damaged" in str(error.value)


class FailSavingAt(TrainerCallback):
    """Makes the save of `step` die after the optimizer is written, like a kill during the save."""

    def __init__(self, trainer, step: int):
        self.trainer, self.step = trainer, step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:

            def killed(output_dir):
                raise RuntimeError("killed while saving")

            self.trainer._save_rng_state = killed


def test_a_save_killed_midway_leaves_no_checkpoint_under_its_name(tmp_path):
    """Case 1: a kill during a save left a normally named, incomplete checkpoint folder."""
    trainer = make_trainer("masked_sft", tmp_path, **SAVING)
    trainer.add_callback(FailSavingAt(trainer, 2))
    with pytest.raises(RuntimeError, match="killed while saving"):
        trainer.train()
    assert checkpoints(str(tmp_path)) == []  # the optimizer was written, under the staging folder only
    assert os.path.isfile(tmp_path / STAGING_DIR / "checkpoint-2" / "optimizer.pt")
    with pytest.raises(ValueError, match="It has none"):
        resolve_resume("last", str(tmp_path))
    make_trainer("masked_sft", tmp_path, **SAVING).train()  # the next save clears the staging folder
    assert sorted(os.listdir(tmp_path)) == ["README.md", "checkpoint-2", "checkpoint-4"]
    assert all(checkpoint_problems(path) == [] for path in checkpoints(str(tmp_path)))


def test_rotation_best_checkpoint_and_hub_pushes_see_complete_checkpoints(tmp_path, monkeypatch):
    """Case 1: saving under a staging folder keeps `save_total_limit`, `best_model_checkpoint` and the pushes of
    checkpoints (`hub_strategy: all_checkpoints`) working, on the final folders only."""
    uploads = []

    def upload_folder(self, folder_path, path_in_repo=None, **kwargs):
        if path_in_repo is not None:  # a checkpoint (the other upload is `output_dir`)
            on_disk = [os.path.basename(path) for path in checkpoints(str(tmp_path))]
            uploads.append((os.path.relpath(folder_path, tmp_path), sorted(os.listdir(folder_path)), on_disk))
        done = Future()
        done.set_result(None)
        return done

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: RepoUrl(f"https://hf.co/{repo_id}"))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    trainer = make_trainer(
        "masked_sft",
        tmp_path,
        eval_strategy="steps",
        eval_steps=1,
        save_strategy="steps",
        save_steps=1,
        save_total_limit=1,
        metric_for_best_model="eval_score",
        load_best_model_at_end=True,
        push_to_hub=True,
        hub_model_id="me/run",
        hub_strategy="all_checkpoints",
    )
    trainer.add_callback(ScoreAtStep(2))
    trainer.train()

    best = str(tmp_path / "checkpoint-2")
    assert trainer.state.best_model_checkpoint == best
    # each checkpoint pushed complete from its final folder; older ones rotated out after each push but the best
    # (step 2); at the end the Trainer keeps the best only (`save_total_limit: 1`)
    assert [folder for folder, _, _ in uploads] == ["checkpoint-1", "checkpoint-2", "checkpoint-3", "checkpoint-4"]
    assert all({"optimizer.pt", "rng_state.pth", "trainer_state.json"} <= set(files) for _, files, _ in uploads)
    assert [on_disk for _, _, on_disk in uploads] == [
        ["checkpoint-1"],
        ["checkpoint-2", "checkpoint-1"],
        ["checkpoint-3", "checkpoint-2"],
        ["checkpoint-4", "checkpoint-3", "checkpoint-2"],
    ]
    assert checkpoints(str(tmp_path)) == [best] and not os.path.exists(tmp_path / STAGING_DIR)
    with open(tmp_path / "checkpoint-2" / "trainer_state.json") as f:
        assert json.load(f)["best_model_checkpoint"] == best  # not the staging folder it was written in


def test_a_truncated_model_safetensors_is_named(saved_run):
    """Case 12: a truncated `model.safetensors` gave a bare `SafetensorError: ... incomplete metadata`."""
    truncate(saved_run / "checkpoint-4" / "model.safetensors")
    with pytest.raises(ValueError) as error:
        make_trainer("masked_sft", saved_run).train(resume_from_checkpoint=str(saved_run / "checkpoint-4"))
    message = str(error.value)
    assert f"Cannot resume from the checkpoint {saved_run / 'checkpoint-4'}: `model.safetensors` is damaged" in message
    assert "incomplete metadata" in message and f"beside it is {saved_run / 'checkpoint-2'}" in message


def test_checkpoint_problems_name_each_missing_part(saved_run):
    """Case 1: what a checkpoint needs, for every layout the trainers write (sharded weights, FSDP, processes)."""
    folder = saved_run / "checkpoint-2"
    assert checkpoint_problems(str(folder)) == []
    assert checkpoint_problems(str(folder), world_size=2) == [
        "no RNG state for this run of 2 process(es) (rng_state_0.pth, ...): it has rng_state.pth, saved by a run "
        "with another number of processes; resume with as many"
    ]
    os.rename(folder / "rng_state.pth", folder / "rng_state_0.pth")
    assert checkpoint_problems(str(folder), world_size=2) == ["`rng_state_1.pth` is missing"]
    # sharded weights with a missing shard; FSDP's sharded optimizer state without its metadata
    os.rename(folder / "model.safetensors", folder / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    os.remove(folder / "optimizer.pt")
    os.mkdir(folder / "optimizer_0")
    (folder / "trainer_state.json").write_text("{")
    assert checkpoint_problems(str(folder), world_size=2) == [
        "weight shard `model-00002-of-00002.safetensors` is missing",
        "`optimizer_0/.metadata` is missing",
        "`trainer_state.json` is damaged (1 bytes, JSONDecodeError: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1))",
        "`rng_state_1.pth` is missing",
    ]
