"""trl-maskft: masked fine-tuning for knowledge injection in chat LLMs (arXiv 2510.09885), on top of TRL."""

__version__ = "0.1.0"

from .callbacks import QAEvalCallback
from .collators import DataCollatorForMaskedSFT
from .masked_sft_config import MaskedSFTConfig
from .masked_sft_trainer import MaskedSFTTrainer

__all__ = ["DataCollatorForMaskedSFT", "MaskedSFTConfig", "MaskedSFTTrainer", "QAEvalCallback", "__version__"]
