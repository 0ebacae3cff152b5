"""trl-maskft: masked fine-tuning for knowledge injection in chat LLMs (arXiv 2510.09885), on top of TRL.

The public API: every trainer, config, callback and collator a library user composes. The folders are described in
docs/architecture.md.
"""

__version__ = "0.1.0"

from ._moved import install as _install_moved_paths

_install_moved_paths()  # the module paths of 0.1 (`trl_maskft.masked_sft_trainer`, ...) keep working for one release

from .baselines.config import BaselineSFTConfig  # noqa: E402
from .baselines.trainer import BaselineSFTTrainer  # noqa: E402
from .diffusion_sft.answerer import DiffusionAnswerer  # noqa: E402
from .diffusion_sft.config import DiffusionSFTConfig  # noqa: E402
from .diffusion_sft.sampler import diffusion_generate  # noqa: E402
from .diffusion_sft.trainer import DiffusionSFTTrainer  # noqa: E402
from .evaluation.answering import Answerer, GreedyAnswerer  # noqa: E402
from .evaluation.best_epoch import BestEpochCallback  # noqa: E402
from .evaluation.lm_eval import BenchmarkCallback, BenchmarkConfig  # noqa: E402
from .evaluation.loss_report import LossReport  # noqa: E402
from .evaluation.qa_callback import QAEvalCallback  # noqa: E402
from .evaluation.retention import RetentionCallback, RetentionConfig  # noqa: E402
from .evaluation.scheduled import ScheduledEvalCallback  # noqa: E402
from .evaluation.tasks.callback import TaskEvalCallback  # noqa: E402
from .masked_sft.collator import DataCollatorForMaskedSFT  # noqa: E402
from .masked_sft.config import MaskedSFTConfig  # noqa: E402
from .masked_sft.trainer import MaskedSFTTrainer  # noqa: E402
from .runtime.preemption import PreemptionCallback  # noqa: E402

__all__ = [
    "Answerer",
    "BaselineSFTConfig",
    "BaselineSFTTrainer",
    "BenchmarkCallback",
    "BenchmarkConfig",
    "BestEpochCallback",
    "DataCollatorForMaskedSFT",
    "DiffusionAnswerer",
    "DiffusionSFTConfig",
    "DiffusionSFTTrainer",
    "GreedyAnswerer",
    "LossReport",
    "MaskedSFTConfig",
    "MaskedSFTTrainer",
    "PreemptionCallback",
    "QAEvalCallback",
    "RetentionCallback",
    "RetentionConfig",
    "ScheduledEvalCallback",
    "TaskEvalCallback",
    "__version__",
    "diffusion_generate",
]
