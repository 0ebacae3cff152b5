"""Model cards of trl-maskft runs: TRL's card with a quick start that answers the way the model is meant to be used,
the method and paper (arXiv 2510.09885), the recipe, the data and the forward/backward QA table."""

from __future__ import annotations

import os
import re

from transformers import Trainer
from trl.trainer.utils import get_config_model_id

from .answering import Answerer, GreedyAnswerer

PAPER_ID = "2510.09885"


def hub_dataset_id(dataset_name: str | None) -> str | None:
    """``dataset_name`` when it looks like a Hub dataset id (``owner/name``, not a local path), else None: TRL's card
    links the dataset name to the Hub."""
    if dataset_name and "/" in dataset_name and not os.path.exists(dataset_name):
        return dataset_name
    return None


def card_contributors(trainer: Trainer) -> tuple[object | None, list]:
    """The trainer's callbacks that write card sections: the first with a `card_quick_start` (the QA callbacks), None
    if none has one, and every one with a `card_evaluation` (QA and benchmark callbacks), in the trainer's order."""
    callbacks = trainer.callback_handler.callbacks
    quick_start = next((callback for callback in callbacks if hasattr(callback, "card_quick_start")), None)
    return quick_start, [callback for callback in callbacks if hasattr(callback, "card_evaluation")]


def model_card_text(
    method: str, recipe: str | None, dataset_name: str | None, quick_start: str, evaluation: str
) -> str:
    """Markdown sections of a trl-maskft card: the quick start, the method and paper, the recipe and data, and the
    `evaluation` (the callbacks' `card_evaluation`)."""
    lines = [
        "## Quick start",
        "",
        quick_start.strip(),
        "",
        "## Knowledge injection",
        "",
        f"Trained with **{method}** using trl-maskft, which implements masked fine-tuning for knowledge injection "
        f"([arXiv {PAPER_ID}](https://arxiv.org/abs/{PAPER_ID})) and its baselines on top of TRL.",
        "",
    ]
    if recipe:
        lines.append(f"- Recipe: `{recipe}`")
    if dataset_name:
        lines.append(f"- Dataset: `{dataset_name}`")
    lines += ["", "### Evaluation", "", evaluation]
    return "\n".join(lines)


def complete_model_card(
    trainer: Trainer,
    recipe: str | None,
    dataset_name: str | None,
    default_answerer: Answerer,
    method: str | None = None,
) -> None:
    """Rewrite the card that TRL's `create_model_card` saved to `<output_dir>/README.md`: its quick start becomes the
    QA callback's (`card_contributors`; `default_answerer`'s without one) followed by `model_card_text`
    (`method`, by default `trainer._name`; the evaluation sections of the QA and benchmark callbacks)."""
    if not trainer.is_world_process_zero():
        return
    args = trainer.args
    path = os.path.join(args.output_dir, "README.md")
    model_id = trainer.hub_model_id or args.hub_model_id or args.output_dir
    remote = bool(getattr(args, "trust_remote_code", False))
    starter, evaluators = card_contributors(trainer)
    if starter is None:
        quick_start = default_answerer.quick_start(model_id, None, remote)
    else:
        quick_start = starter.card_quick_start(model_id, remote)
    evaluation = "\n\n".join(e.card_evaluation() for e in evaluators) or "No QA evaluation was logged."
    text = model_card_text(method or trainer._name, recipe, dataset_name, quick_start, evaluation)
    with open(path) as f:
        card = f.read()
    # TRL links a local base model as "[None](https://huggingface.co/None)": name the path instead
    card = card.replace("[None](https://huggingface.co/None)", f"`{get_config_model_id(trainer.model.config)}`")
    card, found = re.subn(r"## Quick start\n.*?(?=## Training procedure)", lambda _: text + "\n\n", card, flags=re.S)
    if not found:  # another template: append
        card = card.rstrip() + "\n\n" + text + "\n"
    with open(path, "w") as f:
        f.write(card)


class MethodModelCardMixin:
    """`create_model_card` for the trl-maskft trainers: TRL's card, completed by `complete_model_card` with the
    trainer's `default_answerer` (the quick start when no QA callback gives one)."""

    def default_answerer(self) -> Answerer:
        """How the trained model is meant to answer, for the card's quick start: a chat model greedily."""
        return GreedyAnswerer()

    def create_model_card(
        self,
        model_name: str | None = None,
        dataset_name: str | None = None,
        tags: str | list[str] | None = None,
        recipe: str | None = None,
    ):
        """TRL's model card with the trainer's quick start, the method and paper, `recipe`, the data and the QA
        table."""
        super().create_model_card(model_name=model_name, dataset_name=hub_dataset_id(dataset_name), tags=tags)
        complete_model_card(self, recipe, dataset_name, self.default_answerer())


def write_model_card(
    trainer: Trainer, model_name: str, dataset_name: str, recipe: str | None, method: str | None = None
) -> None:
    """Save the run's card to `output_dir`: the trl-maskft trainers write their own; for another trainer (the
    `SFTTrainer` baselines), TRL's card completed by `complete_model_card` naming `method`."""
    if isinstance(trainer, MethodModelCardMixin):
        trainer.create_model_card(model_name=model_name, dataset_name=dataset_name, recipe=recipe)
    else:
        trainer.create_model_card(model_name=model_name, dataset_name=hub_dataset_id(dataset_name), tags="trl-maskft")
        complete_model_card(trainer, recipe, dataset_name, GreedyAnswerer(), method)
