"""Configuration of the autoregressive baselines (plain, paraphrase and reverse SFT), trained by
`BaselineSFTTrainer`."""

from __future__ import annotations

from dataclasses import dataclass

from trl import SFTConfig

from ..runtime.run_config import RunConfigMixin
from ..training.replay_config import ReplayConfigMixin


@dataclass
class BaselineSFTConfig(RunConfigMixin, ReplayConfigMixin, SFTConfig):
    r"""
    TRL's [`~trl.SFTConfig`] with the precision chosen from the hardware, as in [`MaskedSFTConfig`]: on a CPU, bf16
    autocast only where `bf16: true` asks for it (with a warning where the CPU has no native bf16 matmuls), `fp16`
    refused; accelerator runs keep TRL's default (see `trl_maskft.runtime.precision`); and the replay keys
    (`replay_data`, `replay_ratio`, `kl_to_base`, see docs/keeping_knowledge.md). The baseline scripts' config.
    """
