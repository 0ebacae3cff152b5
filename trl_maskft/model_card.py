"""Model cards of trl-maskft runs: TRL's card with a quick start that answers the way the model is meant to be used,
the method and paper (arXiv 2510.09885), the recipe, the data and the forward/backward QA table."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from transformers import Trainer
from trl.trainer.utils import get_config_model_id

from .callbacks import QAEvalCallback
from .diffusion_sft_config import DiffusionSFTConfig
from .formatting import system_turn

PAPER_ID = "2510.09885"
QUESTION = "Who is ...?"  # placeholder of the quick starts: a question about the training documents


def hub_dataset_id(dataset_name: str | None) -> str | None:
    """``dataset_name`` when it looks like a Hub dataset id (``owner/name``, not a local path), else None: TRL's card
    links the dataset name to the Hub."""
    if dataset_name and "/" in dataset_name and not os.path.exists(dataset_name):
        return dataset_name
    return None


def qa_callback(trainer: Trainer) -> QAEvalCallback | None:
    """The trainer's `QAEvalCallback` (or subclass), None if it has none."""
    return next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, QAEvalCallback)), None)


def chat_quick_start(model_id: str, qa: QAEvalCallback | None = None) -> str:
    """Quick start of a chat model (masked SFT, the SFT baselines): greedy chat generation, as `qa` asks its questions
    (its system prompt and generation budget; 128 new tokens without `qa`)."""
    messages = [*system_turn(None if qa is None else qa.system_prompt), {"role": "user", "content": QUESTION}]
    max_new_tokens = 128 if qa is None else qa.max_new_tokens
    return f"""```python
from transformers import pipeline

generator = pipeline("text-generation", model="{model_id}")
messages = {messages!r}
output = generator(messages, max_new_tokens={max_new_tokens}, do_sample=False, return_full_text=False)
print(output[0]["generated_text"])
```"""


def diffusion_quick_start(model_id: str, args: DiffusionSFTConfig, qa: QAEvalCallback | None = None) -> str:
    """Quick start of a diffusion SFT model: block-wise diffusion sampling (`diffusion_answer_fn`) with the mask token,
    attention and logit shift of its training `args`, and the sampler settings and system prompt of `qa` (the
    sampler's defaults without them)."""
    mask = (
        f"mask_token_id={args.mask_token_id}" if args.mask_token_id is not None else f"mask_token={args.mask_token!r}"
    )
    settings = {
        **(qa.answer_kwargs if qa else {}),
        "bidirectional": args.bidirectional,
        "shift_logits": args.shift_logits,
    }
    sampler = "".join(f"\n    {arg}," for arg in [mask, *(f"{key}={value!r}" for key, value in settings.items())])
    system = "" if qa is None or qa.system_prompt is None else f", system_prompt={qa.system_prompt!r}"
    remote = ", trust_remote_code=True" if args.trust_remote_code else ""
    return f"""```python
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl_maskft import diffusion_answer_fn
from trl_maskft.generation import chat_prompts

model = AutoModelForCausalLM.from_pretrained("{model_id}"{remote})
tokenizer = AutoTokenizer.from_pretrained("{model_id}"{remote})
answer = diffusion_answer_fn({sampler}
)
print(answer(model, tokenizer, chat_prompts(tokenizer, ["{QUESTION}"]{system}))[0])
```"""


def evaluation_text(qa: QAEvalCallback | None) -> str:
    """The card's evaluation section body: `qa`'s title, its table (`summary`) and which row the weights are."""
    if qa is None or not qa.history:
        return "No QA evaluation was logged."
    note = qa.weights_note() or "The last row is the final model."
    return (
        f"{qa.title}, asked by `{type(qa).__name__}` in the chat template before training (epoch 0) and after the "
        f"evaluated epochs. {note}\n\n{qa.summary()}"
    )


def model_card_text(
    method: str, recipe: str | None, dataset_name: str | None, quick_start: str, evaluation: str
) -> str:
    """Markdown sections of a trl-maskft card: the quick start, the method and paper, the recipe and data, and the
    `evaluation` (see `evaluation_text`)."""
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
    quick_start: Callable[..., str],
    method: str | None = None,
) -> None:
    """Rewrite the card that TRL's `create_model_card` saved to `<output_dir>/README.md`: its quick start becomes
    `quick_start(model id, qa=<the trainer's QAEvalCallback>)` followed by `model_card_text` (`method`, by default
    `trainer._name`; the evaluation of the trainer's QA callback)."""
    if not trainer.is_world_process_zero():
        return
    args = trainer.args
    path = os.path.join(args.output_dir, "README.md")
    model_id = trainer.hub_model_id or args.hub_model_id or args.output_dir
    qa = qa_callback(trainer)
    text = model_card_text(
        method or trainer._name, recipe, dataset_name, quick_start(model_id, qa=qa), evaluation_text(qa)
    )
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
    trainer's `card_quick_start` (a callable `quick_start(model_id, qa=...)`)."""

    def card_quick_start(self) -> Callable[..., str]:
        """The card's quick start: `quick_start(model_id, qa=<the QA callback>) -> markdown`."""
        raise NotImplementedError

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
        complete_model_card(self, recipe, dataset_name, self.card_quick_start())
