"""Defaults of the training arguments that a multi-process run depends on, shared by every config of the package.

`ddp_timeout`: how long a process waits in a collective (all-reduce, barrier, gather) for the others before it raises.
transformers' default is 1800 s; when one process has died or hangs outside the collective (a failed load, a full
disk, a process stuck in its own I/O), the others would wait that long, holding every accelerator of the run. Here
it is 300 s: a waiting process raises, and the launcher (torchrun, `accelerate launch`) then ends the whole run with
a non-zero exit. A step, a checkpoint save or an evaluation that keeps one process away longer than that on purpose
(a very large model's save, a long generation on one rank) needs a larger `ddp_timeout`.

transformers applies `ddp_timeout` to accelerator runs only: with `use_cpu` (gloo) the process group got torch's
default of 30 minutes whatever the config said, so a CPU run with a stuck process hung for 30 minutes. The mixin
creates the process group of a multi-process CPU launch itself, with the config's timeout, before transformers
would (transformers and accelerate then use that group).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import torch.distributed as dist
from accelerate import PartialState

from .precision import cpu_asked

DDP_TIMEOUT = 300


@dataclass
class DistributedDefaultsMixin:
    """Put before the `TrainingArguments` subclass in the bases of a `@dataclass` config: overrides the defaults
    above (the field keeps its place and type)."""

    ddp_timeout: int = field(
        default=DDP_TIMEOUT,
        metadata={
            "help": "Seconds a process waits in a collective for the other processes before it raises, so that a "
            "multi-process run with a dead or stuck process ends (non-zero exit) instead of hanging; transformers' "
            f"default is 1800, this package's {DDP_TIMEOUT}. Raise it for saves or evaluations that keep one "
            "process busy for longer."
        },
    )

    def __post_init__(self):
        # Where the run asks for the CPU, transformers would create the process group without `ddp_timeout`
        if multi_process_launch() and cpu_asked(self.use_cpu) and not dist.is_initialized():
            PartialState(cpu=True, backend=self.ddp_backend, timeout=timedelta(seconds=self.ddp_timeout))
        super().__post_init__()


def multi_process_launch() -> bool:
    """Whether a launcher (torchrun, `accelerate launch`) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available()
