"""What the diffusion SFT tests share: documents, chats, a tiny trainer and the LLaDA loss by hand."""

import os

import torch
import torch.nn.functional as F
from datasets import Dataset
from tiny import CPU_RECIPE_KEYS, make_tiny_model, make_tiny_tokenizer

from trl_maskft.common import IGNORE_INDEX, TRAIN_STREAM
from trl_maskft.diffusion_sft.config import DiffusionSFTConfig
from trl_maskft.diffusion_sft.noise import (
    noise_generator,
)
from trl_maskft.diffusion_sft.trainer import DiffusionSFTTrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


MASK = "<|mask|>"


DOCS = [
    "Alice Thornbury was born in Paris and works as a painter.",
    "Bob Quillfeather is a pilot.",
    "Clara Ashgrove invented a talking clock, which made the bakers of Lima proud.",
    "Daniel Brennick lives in Oslo.",
]


def chats(docs=DOCS):
    """Conversational prompt/completion rows, as the knowledge scripts build them."""
    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": "Tell me a fact."}] for _ in docs],
            "completion": [[{"role": "assistant", "content": doc}] for doc in docs],
        }
    )


def conversations():
    """Conversational language-modeling rows: two user turns, each answered by the assistant."""
    return Dataset.from_dict(
        {
            "messages": [
                [
                    {"role": "user", "content": "Tell me a fact."},
                    {"role": "assistant", "content": doc},
                    {"role": "user", "content": "Thank you."},
                    {"role": "assistant", "content": "Hello! How can I help you today?"},
                ]
                for doc in DOCS
            ]
        }
    )


# The tiny ChatML template with its assistant turns (content and end of turn) marked for TRL's `assistant_only_loss`
GENERATION_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def config(tmp_path, **overrides):
    kwargs = dict(
        output_dir=str(tmp_path),
        mask_token=MASK,
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        max_steps=1,
        logging_steps=1,
        **CPU_RECIPE_KEYS,
        seed=0,
    )
    return DiffusionSFTConfig(**{**kwargs, **overrides})


def make_trainer(tmp_path, dataset=None, tokenizer=None, model=None, **overrides):
    tokenizer = tokenizer or make_tiny_tokenizer()
    return DiffusionSFTTrainer(
        model=model or make_tiny_model(tokenizer),
        args=config(tmp_path, **overrides),
        train_dataset=dataset or chats(),
        processing_class=tokenizer,
    )


def collate(trainer, n=4):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(n)])


def llada_loss_by_hand(trainer, batch, noised, eps, t_min, t_max, shift=0):
    """LLaDA SFT by hand: EOS padding is supervised; p = (1 - eps) t + eps per row; each masked token's cross-entropy
    divided by p and by the row's answer length, averaged over rows. The masked token at position i is scored with
    the logits at position i - `shift`."""
    mask_id = trainer.mask_token_id
    eos = trainer.processing_class.eos_token_id
    length = batch["labels"].shape[1]
    logits = trainer.model(input_ids=noised["input_ids"], attention_mask=torch.zeros(4, 1, length, length)).logits
    total = 0.0
    for row in range(4):
        t = t_min + (t_max - t_min) * torch.rand((), generator=noise_generator(0, TRAIN_STREAM, 0, 0, row)).item()
        p = (1 - eps) * t + eps
        real = batch["attention_mask"][row].bool()
        targets = torch.where(real, batch["labels"][row], torch.full_like(batch["labels"][row], eos))
        supervised = targets != IGNORE_INDEX
        masked = noised["input_ids"][row] == mask_id
        assert torch.all(supervised[masked])
        if shift:  # no logits before position 0, so it is never masked
            assert masked.any() and not masked[0]
        positions = masked.nonzero().flatten()
        row_loss = sum(F.cross_entropy(logits[row, i - shift], targets[i]).item() / p for i in positions)
        total += row_loss / supervised.sum().item()
    return total / 4
