"""Preemption-safe training: SIGTERM (what SLURM and cloud preemption send) or Ctrl-C stops training at the next
step boundary, on every process at the same step, with a complete checkpoint and a message saying how to resume.

`PreemptionCallback.catching_signals()` wraps `Trainer.train` (see `SafeCheckpointsMixin`): its handler only sets a
flag; at every step end the callback reduces the flag across processes (a signal to one rank stops them all), asks
the Trainer to save and stop, and once the checkpoint is saved raises `TrainingInterrupted` (exit status 128 + the
signal, like a process killed by it). A second Ctrl-C stops at once, without a checkpoint.

`accelerate launch` with one process runs the script as a child and does not forward signals to it: a SIGTERM ends
the launcher and left the child training, orphaned. A process started by a launcher therefore asks Linux to send it
SIGTERM when its launcher exits (`prctl(PR_SET_PDEATHSIG)`), so it stops like a preempted run. (torchrun, and
`accelerate launch` with several processes, forward SIGTERM and SIGINT to their workers, and SIGKILL them 30 s
later.)
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from contextlib import contextmanager

import torch
import torch.distributed as dist
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

SIGNALS = (signal.SIGTERM, signal.SIGINT)
PR_SET_PDEATHSIG = 1
# Set in the processes that `accelerate launch` (any number of processes) and torchrun start
LAUNCHER_ENV = ("ACCELERATE_DYNAMO_BACKEND", "TORCHELASTIC_RUN_ID")
_PARENT = os.getppid()  # the launcher, when a launcher started this process


class TrainingInterrupted(SystemExit):
    """Training stopped by a signal after saving the complete checkpoint `checkpoint` (None if none could be saved);
    `code` is 128 + `signum`."""

    def __init__(self, message: str, signum: int, checkpoint: str | None):
        super().__init__(128 + signum)
        self.message, self.signum, self.checkpoint = message, signum, checkpoint

    def __str__(self) -> str:
        return self.message


def stop_with_launcher() -> bool:
    """In a process started by a launcher (see `LAUNCHER_ENV`), on Linux, have SIGTERM sent to it when its launcher
    exits; if the launcher is gone already, send it now. Whether it was set."""
    if not sys.platform.startswith("linux") or not any(name in os.environ for name in LAUNCHER_ENV):
        return False
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        return False
    if os.getppid() != _PARENT:  # the launcher exited before the request: it will not signal any more
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def resume_message(signum: int, step: int, max_steps: int, checkpoint: str) -> str:
    """What `TrainingInterrupted` says: the signal, the step, the checkpoint and how to resume from it."""
    return (
        f"Training stopped by {signal.Signals(signum).name} after step {step} of {max_steps}; the complete "
        f"checkpoint {checkpoint} is saved. To resume, run the same command with `--resume_from_checkpoint last` "
        f"(or set `resume_from_checkpoint: last` in the recipe; `--resume_from_checkpoint {checkpoint}` names this "
        "checkpoint)."
    )


class PreemptionCallback(TrainerCallback):
    """Stops training with a complete checkpoint at the step end after a SIGTERM or SIGINT to any process, received
    while `catching_signals()` is active."""

    def __init__(self):
        self.signum: int | None = None  # the first signal received by this process
        self.stopping_at: int | None = None  # the step whose checkpoint is saved before raising
        self._announce = True

    def _handle(self, signum, frame):
        if self.signum is not None:
            if signum == signal.SIGINT:  # Ctrl-C again: stop at once
                raise KeyboardInterrupt
            return  # SIGTERM forwarded by a launcher after the Ctrl-C, or sent again: the checkpoint is coming
        self.signum = signum
        if self._announce:
            name = signal.Signals(signum).name
            os.write(
                2,
                f"\nReceived {name}: training stops after this step, once a checkpoint is saved (Ctrl-C again stops "
                "at once, without it).\n".encode(),
            )

    @contextmanager
    def catching_signals(self, announce: bool = True):
        """Handle SIGTERM and SIGINT (and the launcher's exit) inside the block, from the main thread only (the
        previous handlers are restored at its end); `announce` prints that a signal was received."""
        self.signum, self.stopping_at, self._announce = None, None, announce
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        try:
            stop_with_launcher()
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def _received_anywhere(self, args) -> int:
        """The largest signal number received by any process (0: none); every process calls it at every step end."""
        if args.world_size <= 1 or not dist.is_initialized():
            return self.signum or 0
        flag = torch.tensor([self.signum or 0], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())

    def on_step_end(self, args, state, control, **kwargs):
        signum = self._received_anywhere(args)
        if signum:
            self.signum = self.signum or signum
            self.stopping_at = state.global_step
            control.should_save = True
            control.should_training_stop = True

    def on_save(self, args, state, control, **kwargs):
        if self.stopping_at is None or self.stopping_at != state.global_step:
            return
        checkpoint = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        message = resume_message(self.signum, state.global_step, state.max_steps, checkpoint)
        if state.is_world_process_zero:
            print(message, file=sys.stderr, flush=True)
        raise TrainingInterrupted(message, self.signum, checkpoint)
