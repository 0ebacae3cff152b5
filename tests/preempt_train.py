"""Run by test_reliability_checkpoints.py under a launcher (torchrun, `accelerate launch`) or plain python:
`preempt_train.py OUT_DIR interrupt|resume`.

`interrupt`: masked SFT of the tiny model into `OUT_DIR/run` (1 row per process and step, 2 epochs); at the end of
step 2 every process writes `OUT_DIR/paused_<rank>` (its pid) and waits until `OUT_DIR/go` exists (at most 60 s),
so that a test can send a signal there and then write `go`: training then stops at step 3 with a checkpoint.
`resume`: resumes `OUT_DIR/run` from `last`, then trains the same run uninterrupted into `OUT_DIR/full`; rank 0
writes `OUT_DIR/results.json`: the losses each computed and whether their final weights are equal.
`resume_raises` / `resume_stalls`: resumes `OUT_DIR/run` with `ddp_timeout: 20`, and the last rank raises / stops
answering (sleeps 10 minutes) once the checkpoint is loaded, while the other ranks go on to their first step.
"""

import json
import os
import sys
import time

import torch
import torch.distributed as dist
from launched import run_and_exit
from trainer_kinds import make_trainer
from transformers import TrainerCallback

PAUSE_STEP = 2


class Pause(TrainerCallback):
    """At the end of step `step`, writes `paused_<rank>` and waits until a `go` file exists."""

    def __init__(self, out_dir: str, step: int = PAUSE_STEP, timeout: float = 60):
        self.out_dir, self.step, self.timeout = out_dir, step, timeout

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step != self.step:
            return
        with open(os.path.join(self.out_dir, f"paused_{args.process_index}"), "w") as f:
            f.write(str(os.getpid()))
        deadline = time.monotonic() + self.timeout
        go = os.path.join(self.out_dir, "go")
        while not os.path.exists(go) and time.monotonic() < deadline:
            time.sleep(0.05)


FAULT_TIMEOUT = 20  # `ddp_timeout` of the runs with a faulty rank


class FailOnLastRank(TrainerCallback):
    """At the start of training (the checkpoint loaded), the last rank raises (`stall=False`) or sleeps."""

    def __init__(self, stall: bool):
        self.stall = stall

    def on_train_begin(self, args, state, control, **kwargs):
        if args.process_index != args.world_size - 1:
            return
        if self.stall:
            time.sleep(600)
        raise RuntimeError("a fault on the last rank during resume")


def trainer(output_dir: str, **overrides):
    return make_trainer("masked_sft", output_dir, per_device_train_batch_size=1, **overrides)


def step_losses(trainer) -> dict[int, float]:
    return {log["step"]: log["loss"] for log in trainer.state.log_history if "loss" in log}


def main(out_dir: str, mode: str) -> None:
    run_dir = os.path.join(out_dir, "run")
    try:
        if mode == "interrupt":
            interrupted = trainer(run_dir)
            interrupted.add_callback(Pause(out_dir))
            interrupted.train()
            return
        if mode in ("resume_raises", "resume_stalls"):
            faulty = trainer(run_dir, ddp_timeout=FAULT_TIMEOUT)
            faulty.add_callback(FailOnLastRank(stall=mode == "resume_stalls"))
            faulty.train(resume_from_checkpoint="last")
            return
        resumed = trainer(run_dir)
        resumed.train(resume_from_checkpoint="last")
        full = trainer(os.path.join(out_dir, "full"))
        full.train()
        weights = zip(resumed.model.state_dict().values(), full.model.state_dict().values(), strict=True)
        if resumed.is_world_process_zero():
            with open(os.path.join(out_dir, "results.json"), "w") as f:
                json.dump(
                    {
                        "world_size": resumed.args.world_size,
                        "resumed": step_losses(resumed),
                        "full": step_losses(full),
                        "weights_equal": all(torch.equal(a, b) for a, b in weights),
                    },
                    f,
                )
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()  # exiting with gloo's threads alive can abort ("terminate called without...")


if __name__ == "__main__":
    run_and_exit(main, sys.argv[1], sys.argv[2])
