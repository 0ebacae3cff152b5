"""Answers of a masked-diffusion model for evaluation: `DiffusionAnswerer`, the `Answerer`
(`trl_maskft.evaluation.answering`) that samples with `diffusion_generate` (`trl_maskft.diffusion_sft.sampler`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..evaluation.answering import QUESTION, Answerer, _remote
from ..evaluation.generation import left_padded_batches
from ..training.mask_token import resolve_mask_token_id
from .sampler import cut_at_stop, diffusion_generate, stop_token_ids, validate_schedule


@dataclass
class DiffusionAnswerer(Answerer):
    """Answers of a masked-diffusion model by block-wise sampling (`diffusion_generate`; defaults: the paper's QA
    evaluation, 128 new tokens in blocks of 4, one token per step).

    The mask id is resolved from the tokenizer at call time (so a token added by the trainer is found). Answers are cut
    at the first EOS/end of turn, decoded without special tokens and stripped. Sampling noise comes from a generator
    seeded with ``seed`` at every call. ``bidirectional`` and ``shift_logits`` must match the training
    (`DiffusionSFTConfig`); `for_training` takes them from a config.
    """

    autoregressive = False  # the model unmasks: a left-to-right NLL of its answers means nothing

    mask_token: str | None = None
    mask_token_id: int | None = None
    max_new_tokens: int = 128
    steps: int | None = None
    block_length: int = 4
    temperature: float = 0.0
    cfg_scale: float = 0.0
    remasking: str = "low_confidence"
    bidirectional: bool = True
    shift_logits: bool = False
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self):
        if self.mask_token is None and self.mask_token_id is None:
            raise ValueError("A DiffusionAnswerer needs the mask token: set `mask_token` or `mask_token_id`.")
        validate_schedule(self.max_new_tokens, self.num_steps, self.block_length)

    @classmethod
    def for_training(cls, args, **settings) -> DiffusionAnswerer:
        """An answerer that samples as a `DiffusionSFTConfig` ``args`` trains (mask token, attention, logit shift,
        seed), with the sampler ``settings`` (the defaults otherwise)."""
        names = ("mask_token", "mask_token_id", "bidirectional", "shift_logits", "seed")
        return cls(**{name: getattr(args, name) for name in names}, **settings)

    @property
    def num_steps(self) -> int:
        return self.max_new_tokens if self.steps is None else self.steps

    def __call__(self, model, tokenizer, prompts, synced_gpus=False):
        # `synced_gpus` needs nothing: every batch runs the same number of forward passes on every process
        mask_id = resolve_mask_token_id(tokenizer, self.mask_token, self.mask_token_id)
        stops = stop_token_ids(model, tokenizer)
        generator = torch.Generator(device=model.device).manual_seed(self.seed)
        outputs = []
        for batch in left_padded_batches(tokenizer, prompts, self.batch_size, model.device):
            answers = diffusion_generate(
                model, batch["input_ids"], mask_id, batch["attention_mask"], self.max_new_tokens, self.steps,
                self.block_length, self.temperature, self.cfg_scale, self.remasking, self.bidirectional, generator,
                self.shift_logits,
            )  # fmt: skip
            outputs += [tokenizer.decode(row, skip_special_tokens=True).strip() for row in cut_at_stop(answers, stops)]
        return outputs

    def shortened(self, max_new_tokens, batch_size):
        """At most `max_new_tokens` new tokens rounded up to whole blocks, one token per step."""
        blocks = -(-max_new_tokens // self.block_length)
        return dataclasses.replace(self, max_new_tokens=blocks * self.block_length, steps=None, batch_size=batch_size)

    def quick_start(self, model_id, system_prompt=None, trust_remote_code=False):
        settings = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "batch_size"}
        arguments = "".join(f"\n    {key}={value!r}," for key, value in settings.items())
        system = "" if system_prompt is None else f", system_prompt={system_prompt!r}"
        remote = _remote(trust_remote_code)
        return f"""```python
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl_maskft import DiffusionAnswerer
from trl_maskft.evaluation.generation import chat_prompts

model = AutoModelForCausalLM.from_pretrained("{model_id}"{remote})
tokenizer = AutoTokenizer.from_pretrained("{model_id}"{remote})
answer = DiffusionAnswerer({arguments}
)
print(answer(model, tokenizer, chat_prompts(tokenizer, ["{QUESTION}"]{system}))[0])
```"""
