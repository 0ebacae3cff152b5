"""A full disk while writing a checkpoint (issue 18 case 14) says "no space left on <device>", removes the
checkpoint's staging folder, keeps the last complete checkpoint and ends the run with an error (exit status 1). The
failure is simulated: `torch.save` raises the errors torch and Python raise on a full disk.
"""

import os

import pytest
import torch
from test_reliability_checkpoints import SAVING
from trainer_kinds import make_trainer

from trl_maskft.runtime.checkpoints import STAGING_DIR, checkpoint_problems
from trl_maskft.runtime.disk_space import NoSpaceLeft, is_disk_full

# What torch's zip writer raises when the disk fills (it hides the errno), and what Python's writes raise
TORCH_DISK_FULL = [
    RuntimeError(
        "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0: file write failed"
    ),
    RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 134217856 vs 134217744"),
    OSError(28, "No space left on device"),
]


@pytest.mark.parametrize("raised", TORCH_DISK_FULL, ids=["data", "position", "errno"])
def test_disk_full_while_writing_a_checkpoint_says_so(raised, tmp_path, monkeypatch):
    """Issue 18 case 14: a full disk at a checkpoint gave `[enforce fail at inline_container.cc:672]`, never "no space
    left", and left the staging folder behind, keeping the disk full."""
    out = tmp_path / "out"
    trainer = make_trainer("masked_sft", out, **SAVING)
    save = torch.save

    def full_at_step_4(obj, path, *args, **kwargs):
        if f"checkpoint-4{os.sep}" in str(path):
            raise raised
        return save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_at_step_4)
    with pytest.raises(NoSpaceLeft) as error:  # uncaught by the scripts: exit status 1
        trainer.train()
    message = str(error.value)
    assert f"Checkpoint {out / 'checkpoint-4'} was not saved: no space left on " in message
    assert f"The last complete checkpoint, {out / 'checkpoint-2'}, is kept" in message
    assert "`--resume_from_checkpoint last`" in message
    assert not (out / STAGING_DIR).exists() and not (out / "checkpoint-4").exists()
    assert checkpoint_problems(str(out / "checkpoint-2")) == []


def test_other_write_errors_are_not_taken_for_a_full_disk():
    """Issue 18 case 14: only the errors of a full disk are reported as one."""
    assert all(is_disk_full(error) for error in TORCH_DISK_FULL)
    assert not is_disk_full(
        RuntimeError("[enforce fail at inline_container.cc:319] . file not found: archive/data.pkl")
    )
    assert not is_disk_full(OSError(13, "Permission denied"))
