"""The SFT baselines' trainer: TRL's `SFTTrainer` with the project's checkpoint safety (`SafeCheckpointsMixin`)."""

from __future__ import annotations

from trl import SFTTrainer

from .safe_checkpoints import SafeCheckpointsMixin


class SFTBaselineTrainer(SafeCheckpointsMixin, SFTTrainer):
    """[`~trl.SFTTrainer`] whose checkpoints are complete or refused and whose runs stop with a checkpoint on
    SIGTERM (see `SafeCheckpointsMixin`): the trainer of the plain SFT, paraphrase SFT and reverse-training
    baselines (`trl_maskft.scripts.sft`)."""
