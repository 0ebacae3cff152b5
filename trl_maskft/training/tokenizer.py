"""The tokenizer a trainer trains with, found the same way by every trainer of the package."""

from __future__ import annotations

from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from trl.trainer.utils import get_config_model_id


def model_id(model: str | PreTrainedModel) -> str:
    """The id or path of `model` (a name, or a model instance's config)."""
    return model if isinstance(model, str) else get_config_model_id(model.config)


def training_tokenizer(
    model: str | PreTrainedModel, processing_class: PreTrainedTokenizerBase | None, trust_remote_code: bool
) -> PreTrainedTokenizerBase:
    """`processing_class`, or the tokenizer of `model` when it is None, with its EOS token as the pad token when it
    has none."""
    if processing_class is None:
        processing_class = AutoTokenizer.from_pretrained(model_id(model), trust_remote_code=trust_remote_code)
    if processing_class.pad_token is None:
        processing_class.pad_token = processing_class.eos_token
    return processing_class
