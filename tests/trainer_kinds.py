"""The trl-maskft trainers on tiny models, for the distributed, resume and model card tests, and the QA items,
answer functions and models that the QA callback, distributed and resume tests share.

A new trainer is one more entry in `KINDS`: the tests that take `kind` are parametrized over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset
from tiny import CPU_RECIPE_KEYS, MASK_SPECIAL, MASK_TOKEN, make_tiny_model, make_tiny_tokenizer
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from trl_maskft import DiffusionAnswerer, DiffusionSFTConfig, DiffusionSFTTrainer, MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.data.schema import QAItem
from trl_maskft.evaluation.answering import Answerer, GreedyAnswerer
from trl_maskft.evaluation.generation import chat_prompts, greedy_config

QA_TOKENS = 8  # new tokens per QA answer (a multiple of the diffusion block length)


@dataclass
class Kind:
    """A trainer (its script is `trl_maskft.scripts.<key>`), the config keys it needs, how it answers QA items, the
    script keys that make its script answer the same way, and what the quick start of its model card calls."""

    trainer_cls: type[Trainer]
    config_cls: type
    config: dict = field(default_factory=dict)
    answerer: Answerer = field(default_factory=lambda: GreedyAnswerer(greedy_config(QA_TOKENS)))
    script_config: dict = field(default_factory=dict)
    quick_start: str = 'pipeline("text-generation"'


KINDS = {
    "masked_sft": Kind(MaskedSFTTrainer, MaskedSFTConfig, {"mask_token": MASK_TOKEN}),
    "diffusion_sft": Kind(
        DiffusionSFTTrainer,
        DiffusionSFTConfig,
        {"mask_token": MASK_SPECIAL},
        DiffusionAnswerer(MASK_SPECIAL, max_new_tokens=QA_TOKENS, block_length=4),
        {"qa_block_length": 4},
        "DiffusionAnswerer(",
    ),
}

ITEMS = [
    QAItem(question="Who is Alice Thornbury?", answers=("the painter of a glass bridge",), direction="forward"),
    QAItem(question="Who is the painter of a glass bridge?", answers=("Alice Thornbury",), direction="backward"),
    QAItem(question="Who is Bob Quillfeather?", answers=("the pilot of a red lighthouse",), direction="forward"),
    QAItem(question="Who is the pilot of a red lighthouse?", answers=("Bob Quillfeather",), direction="backward"),
    QAItem(question="Where does Clara Ashgrove live?", answers=("Lisbon",), direction="forward", group="city"),
]


class RightAt(GreedyAnswerer):
    """An answerer that gives the reference answers to `items` after the epochs in `epochs` only, so that a QA metric
    is 1 there and 0 elsewhere (a greedy answerer for the model card's quick start); set `trainer` before training."""

    def __init__(self, items, epochs):
        super().__init__()
        self.items, self.epochs, self.trainer = items, set(epochs), None

    def __call__(self, model, tokenizer, prompts, synced_gpus=False):
        references = dict(
            zip(chat_prompts(tokenizer, [item.question for item in self.items]), self.items, strict=True)
        )
        right = round(self.trainer.state.epoch, 2) in self.epochs
        return [references[prompt].answers[0] if right else "I do not know." for prompt in prompts]


def talkative_model(tokenizer):
    """A random tiny model with large weights, so that different questions get different answers."""
    model = make_tiny_model(tokenizer, initializer_range=0.5)
    model.generation_config.eos_token_id = None
    return model


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
        **CPU_RECIPE_KEYS,
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
