"""Model cards of trl-maskft runs: TRL's card with a quick start that answers the way the model is meant to be used,
the method and paper (arXiv 2510.09885), the recipe, the data and the forward/backward QA table."""

from __future__ import annotations

import os
import re

from huggingface_hub import ModelCard, try_to_load_from_cache
from transformers import Trainer, TrainingArguments
from trl.trainer.utils import get_config_model_id

from ..runtime.default_model import HUB_ID, HUB_LICENSE, PROVENANCE, converted_from
from .answering import Answerer, GreedyAnswerer

PAPER_ID = "2510.09885"


def hub_dataset_id(dataset_name: str | None) -> str | None:
    """``dataset_name`` when it looks like a Hub dataset id (``owner/name``, not a local path), else None: TRL's card
    links the dataset name to the Hub."""
    if dataset_name and "/" in dataset_name and not os.path.exists(dataset_name):
        return dataset_name
    return None


def run_name(args: TrainingArguments) -> str:
    """The name a run's card gives the model: `run_name`, else the name of `hub_model_id`, else `output_dir` without a
    leading `outputs/`, joined by `-` (`outputs/smollm2-135m-instruct/masked_sft/people`:
    `smollm2-135m-instruct-masked_sft-people`)."""
    if args.run_name:
        return args.run_name
    if args.hub_model_id:
        return args.hub_model_id.split("/")[-1]
    parts = [part for part in os.path.normpath(args.output_dir).split(os.sep) if part not in ("", ".", "..")]
    return "-".join(parts[1:] if len(parts) > 1 and parts[0] == "outputs" else parts)


def card_license(path: str | None) -> str | None:
    """The `license` of the model card at `path` (a file), None without one."""
    if not path or not os.path.isfile(path):
        return None
    return ModelCard.load(path).data.license


def base_model_facts(source: str | None) -> tuple[str | None, str | None, str | None]:
    """(base model's Hub id, its license, how it was obtained) for a model loaded from `source`: for a folder that
    `trl_maskft.models` converted from a GGUF, the original's id, license and the conversion; for another folder, no id
    and the license of its own card; for a Hub id, the id and the license of its card if the Hub cache holds it. A
    license that is not known is None, never a placeholder."""
    if not source:
        return None, None, None
    if os.path.isdir(source):
        original = converted_from(source)
        if original:
            return original, HUB_LICENSE if original == HUB_ID else None, PROVENANCE
        return None, card_license(os.path.join(source, "README.md")), None
    cached = try_to_load_from_cache(source, "README.md")
    return source, card_license(cached if isinstance(cached, str) else None), None


def with_base_model(card: str, source: str | None) -> str:
    """TRL's `card` naming the base model of `source` (`base_model_facts`) in its text and front matter, with a real
    `license` (or none) instead of TRL's `licence: license` placeholder."""
    base, license, provenance = base_model_facts(source)
    if base:
        named = f"[{base}](https://huggingface.co/{base})" + (f" ({provenance})" if provenance else "")
    else:  # TRL links a local base model as "[None](https://huggingface.co/None)": name the path instead
        named = f"`{source}`"
    parsed = ModelCard(card.replace("[None](https://huggingface.co/None)", named))
    parsed.data.pop("licence", None)
    if base:
        parsed.data.base_model = base
    if license:
        parsed.data.license = license
    return str(parsed)


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
        card = with_base_model(f.read(), get_config_model_id(trainer.model.config))
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
        super().create_model_card(
            model_name=model_name or run_name(self.args), dataset_name=hub_dataset_id(dataset_name), tags=tags
        )
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
