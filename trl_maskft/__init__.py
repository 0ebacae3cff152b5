"""trl-maskft: masked fine-tuning for knowledge injection in chat LLMs (arXiv 2510.09885), on top of TRL."""

__version__ = "0.1.0"

from .baselines.config import BaselineSFTConfig
from .diffusion_sft.answerer import DiffusionAnswerer
from .diffusion_sft.config import DiffusionSFTConfig
from .diffusion_sft.sampler import diffusion_generate
from .diffusion_sft.trainer import DiffusionSFTTrainer
from .evaluation.answering import GreedyAnswerer
from .evaluation.lm_eval import BenchmarkCallback, BenchmarkConfig
from .evaluation.qa_callback import QAEvalCallback
from .masked_sft.collator import DataCollatorForMaskedSFT
from .masked_sft.config import MaskedSFTConfig
from .masked_sft.trainer import MaskedSFTTrainer

__all__ = [
    "BaselineSFTConfig",
    "BenchmarkCallback",
    "BenchmarkConfig",
    "DataCollatorForMaskedSFT",
    "DiffusionAnswerer",
    "DiffusionSFTConfig",
    "DiffusionSFTTrainer",
    "GreedyAnswerer",
    "MaskedSFTConfig",
    "MaskedSFTTrainer",
    "QAEvalCallback",
    "__version__",
    "diffusion_generate",
]
