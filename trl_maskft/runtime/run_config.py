"""`RunConfigMixin`: what every trainer config of the scripts shares beside TRL's `SFTConfig`: the precision chosen
from the hardware (`trl_maskft.runtime.precision.PrecisionMixin`), a `ddp_timeout` that ends a multi-process run with a
stuck process in minutes (`trl_maskft.runtime.distributed_defaults`), a training length of at least one step, and the
recipe keys a resumed run may change (`resume_allow_changes`, see `trl_maskft.runtime.resume_recipe`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .distributed_defaults import DistributedDefaultsMixin
from .precision import PrecisionMixin
from .recipe_checks import check_training_length


@dataclass
class RunConfigMixin(PrecisionMixin, DistributedDefaultsMixin):
    """Mixed in before a `TrainingArguments` subclass (`class C(RunConfigMixin, SFTConfig)`)."""

    resume_allow_changes: list[str] | None = field(
        default=None,
        metadata={
            "help": "Recipe keys that may differ from the checkpoint's when resuming (e.g. [learning_rate]); the new "
            "values are used and logged. Any other difference in a key that changes training is an error."
        },
    )

    def __post_init__(self):
        check_training_length(self.num_train_epochs, self.max_steps)
        super().__post_init__()
