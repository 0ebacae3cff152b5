"""Model cards of trl-maskft runs: TRL's card with a quick start that answers the way the model is meant to be used,
the method and paper (arXiv 2510.09885), the recipe, the data and the forward/backward QA table."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

from transformers import Trainer
from trl.trainer.utils import get_config_model_id

from .callbacks import qa_history
from .diffusion_sft_config import DiffusionSFTConfig
from .reporting import history_table

PAPER_ID = "2510.09885"
QUESTION = "Who is ...?"  # placeholder of the quick starts: a question about the training documents


def hub_dataset_id(dataset_name: str | None) -> str | None:
    """``dataset_name`` when it looks like a Hub dataset id (``owner/name``, not a local path), else None: TRL's card
    links the dataset name to the Hub."""
    if dataset_name and "/" in dataset_name and not os.path.exists(dataset_name):
        return dataset_name
    return None


def chat_quick_start(model_id: str) -> str:
    """Quick start of a chat model trained by masked SFT: plain greedy chat generation, as the QA evaluation asks."""
    return f"""```python
from transformers import pipeline

generator = pipeline("text-generation", model="{model_id}")
messages = [{{"role": "user", "content": "{QUESTION}"}}]
output = generator(messages, max_new_tokens=128, do_sample=False, return_full_text=False)
print(output[0]["generated_text"])
```"""


def diffusion_quick_start(model_id: str, args: DiffusionSFTConfig) -> str:
    """Quick start of a diffusion SFT model: block-wise diffusion sampling (`diffusion_answer_fn`) with the mask token,
    attention and logit shift of its training `args`."""
    mask = (
        f"mask_token_id={args.mask_token_id}" if args.mask_token_id is not None else f"mask_token={args.mask_token!r}"
    )
    remote = ", trust_remote_code=True" if args.trust_remote_code else ""
    return f"""```python
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl_maskft import diffusion_answer_fn
from trl_maskft.generation import chat_prompts

model = AutoModelForCausalLM.from_pretrained("{model_id}"{remote})
tokenizer = AutoTokenizer.from_pretrained("{model_id}"{remote})
answer = diffusion_answer_fn(
    {mask}, max_new_tokens=32, block_length=4, bidirectional={args.bidirectional}, shift_logits={args.shift_logits}
)
print(answer(model, tokenizer, chat_prompts(tokenizer, ["{QUESTION}"]))[0])
```"""


def model_card_text(
    method: str, recipe: str | None, dataset_name: str | None, history: Sequence[dict], quick_start: str
) -> str:
    """Markdown sections of a trl-maskft card: the quick start, the method and paper, the recipe and data, and the
    per-epoch forward/backward QA table (`history` as kept by `QAEvalCallback`)."""
    lines = [
        "## Quick start",
        "",
        quick_start.strip(),
        "",
        "## Knowledge injection",
        "",
        f"Trained with **{method}** using trl-maskft, an implementation of masked fine-tuning for knowledge injection "
        f"([arXiv {PAPER_ID}](https://arxiv.org/abs/{PAPER_ID})) on top of TRL.",
        "",
    ]
    if recipe:
        lines.append(f"- Recipe: `{recipe}`")
    if dataset_name:
        lines.append(f"- Dataset: `{dataset_name}`")
    lines += [
        "",
        "### QA evaluation",
        "",
        "Forward and backward questions about the training documents, asked in the chat template before training and "
        "at the evaluated epochs; ROUGE-1 recall of the reference answer and exact containment (`QAEvalCallback`). "
        "The last row is the final model.",
        "",
        history_table(history) if history else "No QA evaluation was logged.",
    ]
    return "\n".join(lines)


def complete_model_card(
    trainer: Trainer, recipe: str | None, dataset_name: str | None, quick_start: Callable[[str], str]
) -> None:
    """Rewrite the card that TRL's `create_model_card` saved to `<output_dir>/README.md`: its quick start becomes
    `quick_start(model id)` followed by `model_card_text` (method `trainer._name`, QA rows from the trainer's logs)."""
    if not trainer.is_world_process_zero():
        return
    args = trainer.args
    path = os.path.join(args.output_dir, "README.md")
    model_id = trainer.hub_model_id or args.hub_model_id or args.output_dir
    text = model_card_text(
        trainer._name, recipe, dataset_name, qa_history(trainer.state.log_history), quick_start(model_id)
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
