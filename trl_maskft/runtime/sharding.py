"""FSDP on CPU processes, launch settings that would not run as launched refused before training, and the final
model saved whole under FSDP.

accelerate (1.15) makes a launch with `distributed_type: FSDP` an FSDP run on accelerator devices only: its
`AcceleratorState` turns multi-GPU (NPU, XPU, ...) runs into FSDP, but CPU processes (`use_cpu: true`, gloo) are
`MULTI_CPU`, and the FSDP plugin built from the launcher's environment is then dropped without a word: the run is
plain DDP. `fsdp_on_cpu` keeps the plugin there, so that `accelerate_configs/cpu_fsdp2.yaml` shards on CPUs as the GPU
configs do (torch's `fully_shard` runs on CPU tensors with gloo).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType
from torch.distributed.fsdp import CPUOffload, CPUOffloadPolicy
from transformers import Trainer

from .fsdp_checks import fsdp2_sharding_problems


@contextmanager
def fsdp_on_cpu():
    """Within the block, an `Accelerator` built on CPU processes with an FSDP plugin (from the launcher's environment
    or given) is an FSDP one, as it would be on GPUs: `with fsdp_on_cpu(): trainer = MaskedSFTTrainer(...)`."""
    original = AcceleratorState.__init__

    def init(self, *args, fsdp_plugin=None, **kwargs):
        original(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            # what `AcceleratorState` does for the GPU types, and keeps for later `PartialState()` calls
            if self.mixed_precision != "no":
                fsdp_plugin.set_mixed_precision(self.mixed_precision)
            self.fsdp_plugin = fsdp_plugin
            self.distributed_type = PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    AcceleratorState.__init__ = init
    try:
        yield
    finally:
        AcceleratorState.__init__ = original


def launch_problems(launched: int, processes: int, device_type: str, fsdp_plugin=None):
    """What would not run as launched (each names the setting and the fix): `launched` processes (the launcher's
    `WORLD_SIZE`) of which accelerate joined `processes`, on `device_type`, with `fsdp_plugin` (None without FSDP)."""
    problems = []
    if processes != launched:
        problems.append(
            f"{launched} processes were launched but accelerate sees {processes} per process, so each would train "
            "the whole run on its own, writing to the same `output_dir`. This happens without GPUs when `use_cpu` is "
            "false: set `use_cpu: true` (the CPU processes then join over gloo)."
        )
    if fsdp_plugin is None:
        return problems
    offload = fsdp_plugin.cpu_offload  # FSDP2: an `OffloadPolicy`, FSDP1: a `CPUOffload`
    offloads = isinstance(offload, CPUOffloadPolicy) or (isinstance(offload, CPUOffload) and offload.offload_params)
    if offloads and device_type == "cpu":
        problems.append(
            "`fsdp_offload_params: true` on CPU processes: the parameters are in CPU memory already, and offloading "
            "pins memory for an accelerator ('Cannot access accelerator device when none is available'). Set "
            "`fsdp_offload_params: false`."
        )
    return problems


def build_sharded_trainer(trainer_cls: type[Trainer], **kwargs) -> Trainer:
    """`trainer_cls(**kwargs)`, sharded under an FSDP launch also on CPU processes (`fsdp_on_cpu`); raises a
    `ValueError` listing the `launch_problems` and what FSDP2 cannot shard in the model (`fsdp2_sharding_problems`),
    before training."""
    with fsdp_on_cpu():
        trainer = trainer_cls(**kwargs)
    state = trainer.accelerator.state
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    fsdp_plugin = state.fsdp_plugin if trainer.is_fsdp_enabled else None
    problems = launch_problems(launched, state.num_processes, state.device.type, fsdp_plugin)
    if fsdp_plugin is not None:
        problems += fsdp2_sharding_problems(trainer.model, fsdp_plugin)
    refuse_launch(problems)
    return trainer


def refuse_launch(problems: list[str]) -> None:
    """A `ValueError` listing `problems` (`launch_problems`), if any."""
    if problems:
        raise ValueError("This launch cannot run as set:\n- " + "\n- ".join(problems))


def check_joined(training_args) -> None:
    """Before anything is written: refuse processes launched together that accelerate did not join into one run
    (each would train alone, writing to the same `output_dir`)."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    refuse_launch(launch_problems(launched, training_args.world_size, training_args.device.type))


def save_final_model(trainer: Trainer, output_dir: str) -> None:
    """`trainer.save_model(output_dir)` with the full weights also under FSDP with `fsdp_state_dict_type:
    SHARDED_STATE_DICT`, for which `save_model` writes no weights at all (checkpoints stay sharded)."""
    if trainer.is_fsdp_enabled:
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(output_dir)
