"""How the scripts that tests launch as several processes (torchrun, `accelerate launch`) end.

torch's gloo worker threads can still be releasing the tensors of the last collective when the interpreter shuts
down; such a thread then needs the GIL of a finalizing interpreter and is ended by it, which aborts the process
("terminate called without an active exception", SIGABRT) after all its work is done (seen here under load, with the
backtrace ProcessGroupGloo::runLoop -> decref_pyobject -> PyEval_AcquireThread -> pthread_exit). `run_and_exit`
ends the process group, flushes the output and exits without finalizing the interpreter, with `main`'s exit status.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import torch.distributed as dist


def exit_status(error: BaseException | None) -> int:
    """The exit status a `main` that raised `error` (None: returned) would give the interpreter."""
    if error is None:
        return 0
    if isinstance(error, SystemExit):
        if error.code is None or isinstance(error.code, int):
            return error.code or 0
        print(error.code, file=sys.stderr)
        return 1
    traceback.print_exception(error)
    return 1


def record_batches(trainer, key: str) -> list:
    """The `key` tensor of every training batch `trainer` steps on, as lists, in order (filled while it trains)."""
    recorded, training_step = [], trainer.training_step

    def recording_step(model, batch, *args, **kwargs):
        recorded.append(batch[key].tolist())
        return training_step(model, batch, *args, **kwargs)

    trainer.training_step = recording_step
    return recorded


def save_and_end(trainer, path: str, results: dict) -> None:
    """The main process writes `results` to the JSON file `path`; then the trainer ends (its process group destroyed:
    exiting with gloo's threads alive can abort)."""
    if trainer.is_world_process_zero():
        with open(path, "w") as f:
            json.dump(results, f)
    trainer.end()


def run_and_exit(main, *args) -> None:
    try:
        main(*args)
        error = None
    except BaseException as raised:  # reported as the interpreter would, then the exit status
        error = raised
    status = exit_status(error)
    if dist.is_initialized():
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
