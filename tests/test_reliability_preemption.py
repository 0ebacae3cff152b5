"""Nothing lost, issue 14 case 2: SIGTERM (preemption) or Ctrl-C to the training process or its launcher stops
training at the next step, on every process at the same step, with a complete checkpoint, a message saying how to
resume and a non-zero exit; the launcher's children do not outlive it; the resumed run equals the uninterrupted one
(1 process, and 2 processes under torchrun). Tiny models; the launched runs pause where the test sends its signal
(tests/preempt_train.py).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager

import processes
import pytest
from datasets import Dataset
from test_resume import step_losses, weights_equal
from tiny import CPU_RECIPE_KEYS, make_tiny_model, make_tiny_tokenizer
from trainer_kinds import DOCS, KINDS, make_trainer
from transformers import TrainerCallback
from trl import SFTConfig

from trl_maskft.baselines.trainer import BaselineSFTTrainer
from trl_maskft.runtime.checkpoints import checkpoint_problems, checkpoints
from trl_maskft.runtime.preemption import TrainingInterrupted

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory):
    """The uninterrupted run of each kind (2 epochs of 2 steps), saving its final checkpoint."""
    runs = {}
    for kind in KINDS:
        out = tmp_path_factory.mktemp(f"full_{kind}")
        trainer = make_trainer(kind, out, save_strategy="steps", save_steps=4)
        trainer.train()
        runs[kind] = trainer, out
    return runs


class SignalAt(TrainerCallback):
    """Sends `signum` to this process at the end of step `step`, `times` times."""

    def __init__(self, signum, step: int = 1, times: int = 1):
        self.signum, self.step, self.times = signum, step, times

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)


@pytest.fixture
def unhandled():
    """Makes a signal that training does not handle fail the test (instead of ending pytest)."""

    def fail(signum, frame):
        raise RuntimeError(f"{signal.Signals(signum).name} was not handled by the trainer")

    previous = {signum: signal.signal(signum, fail) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("kind", KINDS)
def test_sigterm_stops_at_the_next_step_with_a_checkpoint_that_resumes_exactly(kind, full_runs, tmp_path, unhandled):
    """Case 2: SIGTERM to the training process stopped it at once, without a checkpoint of the work since the last
    save (here: none at all)."""
    trainer = make_trainer(kind, tmp_path)  # saves no checkpoint by itself
    trainer.add_callback(SignalAt(signal.SIGTERM, step=1))
    with pytest.raises(TrainingInterrupted) as stop:
        trainer.train()
    checkpoint = str(tmp_path / "checkpoint-2")
    assert stop.value.code == 128 + signal.SIGTERM and stop.value.checkpoint == checkpoint
    assert str(stop.value).startswith(
        f"Training stopped by SIGTERM after step 2 of 4; the complete checkpoint {checkpoint} is saved. To resume, "
        "run the same command with `--resume_from_checkpoint last`"
    )
    assert checkpoints(str(tmp_path)) == [checkpoint] and checkpoint_problems(checkpoint) == []
    assert signal.getsignal(signal.SIGTERM).__name__ == "fail"  # the previous handler is back

    resumed = make_trainer(kind, tmp_path)
    resumed.train(resume_from_checkpoint="last")
    full, full_dir = full_runs[kind]
    assert step_losses(resumed, after=2) == pytest.approx(step_losses(full, after=2), abs=1e-6)
    assert weights_equal(resumed.model, full_dir / "checkpoint-4")


def baseline_trainer(output_dir):
    tokenizer = make_tiny_tokenizer()
    args = SFTConfig(
        str(output_dir), per_device_train_batch_size=2, num_train_epochs=2, logging_steps=1, seed=3, **CPU_RECIPE_KEYS
    )
    return BaselineSFTTrainer(
        model=make_tiny_model(tokenizer),
        args=args,
        train_dataset=Dataset.from_dict({"text": DOCS}),
        processing_class=tokenizer,
    )


def test_ctrl_c_stops_a_baseline_run_with_a_checkpoint(tmp_path, unhandled):
    """Case 2: Ctrl-C (SIGINT) ends the SFT baselines' runs like SIGTERM, with exit status 130."""
    trainer = baseline_trainer(tmp_path)
    trainer.add_callback(SignalAt(signal.SIGINT, step=1))
    with pytest.raises(TrainingInterrupted, match="stopped by SIGINT after step 2 of 4") as stop:
        trainer.train()
    assert stop.value.code == 130 and checkpoint_problems(str(tmp_path / "checkpoint-2")) == []
    resumed = baseline_trainer(tmp_path)
    resumed.train(resume_from_checkpoint="last")
    assert sorted(step_losses(resumed, after=2)) == [3, 4]


def test_a_second_ctrl_c_stops_at_once(tmp_path, unhandled):
    """Case 2: whoever presses Ctrl-C twice does not wait for the checkpoint."""
    trainer = baseline_trainer(tmp_path)
    trainer.add_callback(SignalAt(signal.SIGINT, step=1, times=2))
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert checkpoints(str(tmp_path)) == []


def launch_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([HERE, ROOT, os.environ.get("PYTHONPATH", "")])}


def wait_for(paths, process, stderr, timeout=300):
    """Wait until every path exists (the driver paused), failing if `process` ends first; their pids."""
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(path) for path in paths):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the run did not pause: {stderr.read_text()[-3000:]}")
        time.sleep(0.1)
    return [int(open(path).read()) for path in paths]


def alive(pid: int) -> bool:
    """Whether process `pid` runs (an exited orphan may wait, a zombie, until init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until_gone(pids, timeout=120) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)


@contextmanager
def launch(cmd, tmp_path):
    """`cmd` running in a process group of its own (killed whole when the block ends, see tests/processes.py), with
    its stderr in `tmp_path / "stderr.txt"` (not a pipe that nobody reads while it trains)."""
    with open(tmp_path / "stderr.txt", "w") as stderr:
        with processes.started(cmd, env=launch_env(), stdout=subprocess.DEVNULL, stderr=stderr, text=True) as process:
            yield process


# What a launcher ended by SIGTERM exits with: -15 where it dies of the signal, 143 (128 + 15) where it handles it and
# exits with the shell's convention (accelerate 1.16 does)
SIGTERM_EXITS = (-signal.SIGTERM, 128 + signal.SIGTERM)


def test_sigterm_to_accelerate_launch_stops_its_child_with_a_checkpoint(tmp_path):
    """Case 2: SIGTERM to `accelerate launch` ended the launcher, but the training process kept running, orphaned,
    and kept writing to `output_dir`. Now the training process saves a complete checkpoint and ends with the
    launcher, which exits with a SIGTERM status (-15 or 143: the convention differs between accelerate releases)."""
    cmd = ["accelerate", "launch", "--config_file", os.path.join(ROOT, "accelerate_configs", "cpu.yaml")]
    stderr = tmp_path / "stderr.txt"
    with launch([*cmd, os.path.join(HERE, "preempt_train.py"), str(tmp_path), "interrupt"], tmp_path) as launcher:
        pids = wait_for([tmp_path / "paused_0"], launcher, stderr)
        launcher.send_signal(signal.SIGTERM)
        # The training process goes on to the end of its step (it is signalled, or orphaned): accelerate 1.16 waits
        # 5 s for it before a SIGKILL, older releases exited at once and left it running
        (tmp_path / "go").touch()
        launcher.wait(timeout=60)
        wait_until_gone(pids)
        assert not alive(pids[0]), "the training process outlived its launcher"
    checkpoint = str(tmp_path / "run" / "checkpoint-3")
    assert launcher.returncode in SIGTERM_EXITS
    message = f"Training stopped by SIGTERM after step 3 of 8; the complete checkpoint {checkpoint} is saved"
    assert message in stderr.read_text()
    assert checkpoints(str(tmp_path / "run")) == [checkpoint] and checkpoint_problems(checkpoint) == []


def interrupted_two_process_run(tmp_path) -> tuple[list[str], list[int], subprocess.Popen]:
    """Two processes (torchrun, gloo) of tests/preempt_train.py interrupted by SIGTERM to rank 1 after step 2: the
    command (without its mode), the pids of the ranks and the ended launcher."""
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not installed")
    cmd = ["torchrun", "--standalone", "--nproc_per_node", "2", os.path.join(HERE, "preempt_train.py"), str(tmp_path)]
    with launch([*cmd, "interrupt"], tmp_path) as run:
        pids = wait_for([tmp_path / "paused_0", tmp_path / "paused_1"], run, tmp_path / "stderr.txt")
        os.kill(pids[1], signal.SIGTERM)  # rank 1 only
        (tmp_path / "go").touch()
        run.wait(timeout=120)
        wait_until_gone(pids)
    return cmd, pids, run


@pytest.mark.distributed
def test_sigterm_to_one_of_two_processes_stops_both_at_one_step_and_resumes_exactly(tmp_path):
    """Case 2 with 2 processes (torchrun, gloo): a signal to one rank stops every rank at the same step with one
    complete checkpoint (both RNG states), and resuming equals the uninterrupted run (losses and final weights)."""
    cmd, pids, run = interrupted_two_process_run(tmp_path)
    stderr = tmp_path / "stderr.txt"
    checkpoint = str(tmp_path / "run" / "checkpoint-3")
    assert run.returncode != 0 and not any(alive(pid) for pid in pids)
    message = f"Training stopped by SIGTERM after step 3 of 4; the complete checkpoint {checkpoint} is saved"
    assert message in stderr.read_text()
    assert checkpoints(str(tmp_path / "run")) == [checkpoint]
    assert checkpoint_problems(checkpoint, world_size=2) == []

    resume = processes.run([*cmd, "resume"], env=launch_env(), timeout=600)
    assert resume.returncode == 0, resume.stderr[-3000:]
    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    assert results["world_size"] == 2 and results["weights_equal"]
    assert results["resumed"] == results["full"] and sorted(results["full"]) == ["1", "2", "3", "4"]


@pytest.mark.distributed
@pytest.mark.parametrize("fault", ["raises", "stalls"])
def test_a_faulty_rank_during_resume_ends_the_whole_launch_within_the_timeout(tmp_path, fault):
    """Issue 17: a 2-process resume where rank 1 raises (or stops answering) once the checkpoint is loaded, while
    rank 0 waits for it in its first step's all-reduce, ends the whole launch with a non-zero exit within
    `ddp_timeout` (20 s here) and the launcher's grace period, leaving no process behind; it hung before."""
    cmd, _, _ = interrupted_two_process_run(tmp_path)
    started = time.monotonic()
    with launch([*cmd, f"resume_{fault}"], tmp_path) as run:
        run.wait(timeout=240)  # a hang fails here (TimeoutExpired), and the block kills the whole group
    elapsed = time.monotonic() - started
    stderr = (tmp_path / "stderr.txt").read_text()
    assert run.returncode != 0, stderr[-3000:]
    assert elapsed < 180, f"the launch took {elapsed:.0f} s to end"
    if fault == "raises":
        assert "a fault on the last rank during resume" in stderr
    else:  # rank 0 gave up waiting: gloo's timeout
        assert re.search(r"[Tt]imed out|timeout", stderr), stderr[-3000:]
