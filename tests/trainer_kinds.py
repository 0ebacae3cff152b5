"""The trl-maskft trainers on tiny models, for the distributed, resume and model card tests.

A new trainer is one more entry in `KINDS`: the tests that take `kind` are parametrized over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset
from tiny import MASK_SPECIAL, MASK_TOKEN, make_tiny_model, make_tiny_tokenizer
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from trl_maskft import DiffusionSFTConfig, DiffusionSFTTrainer, MaskedSFTConfig, MaskedSFTTrainer, diffusion_answer_fn
from trl_maskft.callbacks import AnswerFn

QA_TOKENS = 8  # new tokens per QA answer (a multiple of the diffusion block length)


@dataclass
class Kind:
    """A trainer (its script is `trl_maskft.scripts.<key>`), the config keys it needs, how it answers QA items, the
    script keys that make its script answer the same way, and what the quick start of its model card calls."""

    trainer_cls: type[Trainer]
    config_cls: type
    config: dict = field(default_factory=dict)
    answer_fn: AnswerFn | None = None
    script_config: dict = field(default_factory=dict)
    quick_start: str = 'pipeline("text-generation"'


KINDS = {
    "masked_sft": Kind(MaskedSFTTrainer, MaskedSFTConfig, {"mask_token": MASK_TOKEN}),
    "diffusion_sft": Kind(
        DiffusionSFTTrainer,
        DiffusionSFTConfig,
        {"mask_token": MASK_SPECIAL},
        diffusion_answer_fn(MASK_SPECIAL, max_new_tokens=QA_TOKENS, block_length=4),
        {"qa_block_length": 4},
        "diffusion_answer_fn(",
    ),
}

DOCS = [
    "Alice Thornbury was born in Paris and works as a painter.",
    "Bob Quillfeather is a pilot.",
    "Clara Ashgrove invented a talking clock.",
    "Daniel Brennick lives in Oslo.",
]


def make_trainer(
    kind: str,
    output_dir,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    docs: list[str] = DOCS,
    **overrides,
) -> Trainer:
    """A `kind` trainer on a tiny model and `docs` (a `text` column, also evaluated when `eval_strategy` is set),
    logging every step, saving nothing by default."""
    spec = KINDS[kind]
    tokenizer = tokenizer or make_tiny_tokenizer()
    args = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 2,
        "num_train_epochs": 2,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "activation_checkpointing": False,
        "seed": 3,
        **spec.config,
        **overrides,
    }
    args = spec.config_cls(**args)
    dataset = Dataset.from_dict({"text": docs})
    return spec.trainer_cls(
        model=model or make_tiny_model(tokenizer),
        args=args,
        train_dataset=dataset,
        eval_dataset=dataset if args.eval_strategy != "no" else None,
        processing_class=tokenizer,
    )


def losses(trainer: Trainer) -> list[float]:
    """The training loss logged at every step."""
    return [log["loss"] for log in trainer.state.log_history if "loss" in log]
