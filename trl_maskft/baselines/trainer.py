"""The SFT baselines' trainer: TRL's `SFTTrainer` with the project's checkpoint safety (`SafeCheckpointsMixin`),
counted truncation (`TruncationCountingMixin`), the CPU loss of `SelectedLogitsLossMixin` and, for TRL's padding-free
batches, attention chat by chat (`trl_maskft.training.packing.prepare_padding_free_model`)."""

from __future__ import annotations

import warnings

from trl import SFTTrainer

from ..runtime.default_model import resolve_model
from ..runtime.safe_checkpoints import SafeCheckpointsMixin
from ..training.packing import prepare_padding_free_model
from ..training.replay_trainer import ReplayTrainerMixin
from ..training.selected_logits import SelectedLogitsLossMixin
from ..training.truncation_counting import TruncationCountingMixin


class BaselineSFTTrainer(
    SafeCheckpointsMixin, TruncationCountingMixin, ReplayTrainerMixin, SelectedLogitsLossMixin, SFTTrainer
):
    """[`~trl.SFTTrainer`] whose checkpoints are complete or refused, whose runs stop with a checkpoint on SIGTERM
    (see `SafeCheckpointsMixin`), and whose preparation counts and logs what `max_length` cuts (`data_reports`): the
    trainer of the plain SFT, paraphrase SFT and reverse-training
    baselines (`trl_maskft.scripts.sft`). `model` is as in `SFTTrainer`, or the embedded default model's alias
    `"smollm2-135m-instruct"` (`trl_maskft.runtime.default_model.resolve_model_path`)."""

    def __init__(self, model, *args, **kwargs):
        super().__init__(resolve_model(model), *args, **kwargs)
        if self.args.padding_free:  # also set by TRL for `packing` with the `bfd` strategy
            prepare_padding_free_model(self.model)
        self.add_replay()


def __getattr__(name: str):
    if name == "SFTBaselineTrainer":  # the name of trl-maskft 0.1, kept for one release
        warnings.warn(
            "`SFTBaselineTrainer` is now `BaselineSFTTrainer` (`from trl_maskft import BaselineSFTTrainer`); the old "
            "name will be removed in the next release of trl-maskft.",
            FutureWarning,
            stacklevel=2,
        )
        return BaselineSFTTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
