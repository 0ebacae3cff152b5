"""How a model answers evaluation questions: one object per way of answering, holding all its settings.

An answerer is called as ``answerer(model, tokenizer, prompts, synced_gpus=False) -> answers`` on rendered chat prompts
and describes itself for a model card (`quick_start`), so the settings of a run's evaluation travel as one object from
the recipe to the callback and to the card. `GreedyAnswerer` generates autoregressively with one
`transformers.GenerationConfig`; `DiffusionAnswerer` samples a masked-diffusion model (`trl_maskft.sampling`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from .formatting import resolve_mask_token_id, system_turn
from .generation import generate_answers, greedy_config, left_padded_batches
from .sampling import cut_at_stop, diffusion_generate, stop_token_ids, validate_schedule

QUESTION = "Who is ...?"  # placeholder of the quick starts: a question about the training documents


def _remote(trust_remote_code: bool) -> str:
    return ", trust_remote_code=True" if trust_remote_code else ""


class Answerer:
    """What every answerer provides: ``__call__`` (answers to rendered prompts, the same on every call for the same
    model) and `quick_start` (markdown code that answers the same way)."""

    def __call__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        prompts: Sequence[str],
        synced_gpus: bool = False,
    ) -> list[str]:
        raise NotImplementedError

    def quick_start(self, model_id: str, system_prompt: str | None = None, trust_remote_code: bool = False) -> str:
        raise NotImplementedError


@dataclass
class GreedyAnswerer(Answerer):
    """Autoregressive answers under ``generation_config`` (default: greedy, 128 new tokens, the paper's QA
    evaluation), ``batch_size`` prompts per `generate` call with left padding (`generate_answers`)."""

    generation_config: GenerationConfig = field(default_factory=greedy_config)
    batch_size: int = 16

    def __call__(self, model, tokenizer, prompts, synced_gpus=False):
        return generate_answers(model, tokenizer, prompts, self.generation_config, self.batch_size, synced_gpus)

    def generation_kwargs(self) -> dict:
        """The settings of ``generation_config`` that differ from transformers' defaults."""
        return {k: v for k, v in self.generation_config.to_diff_dict().items() if k != "transformers_version"}

    def quick_start(self, model_id, system_prompt=None, trust_remote_code=False):
        messages = [*system_turn(system_prompt), {"role": "user", "content": QUESTION}]
        settings = "".join(f"{key}={value!r}, " for key, value in self.generation_kwargs().items())
        return f"""```python
from transformers import pipeline

generator = pipeline("text-generation", model="{model_id}"{_remote(trust_remote_code)})
messages = {messages!r}
output = generator(messages, {settings}return_full_text=False)
print(output[0]["generated_text"])
```"""


@dataclass
class DiffusionAnswerer(Answerer):
    """Answers of a masked-diffusion model by block-wise sampling (`diffusion_generate`; defaults: the paper's QA
    evaluation, 128 new tokens in blocks of 4, one token per step).

    The mask id is resolved from the tokenizer at call time (so a token added by the trainer is found). Answers are cut
    at the first EOS/end of turn, decoded without special tokens and stripped. Sampling noise comes from a generator
    seeded with ``seed`` at every call. ``bidirectional`` and ``shift_logits`` must match the training
    (`DiffusionSFTConfig`); `for_training` takes them from a config.
    """

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

    def quick_start(self, model_id, system_prompt=None, trust_remote_code=False):
        settings = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "batch_size"}
        arguments = "".join(f"\n    {key}={value!r}," for key, value in settings.items())
        system = "" if system_prompt is None else f", system_prompt={system_prompt!r}"
        remote = _remote(trust_remote_code)
        return f"""```python
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl_maskft import DiffusionAnswerer
from trl_maskft.generation import chat_prompts

model = AutoModelForCausalLM.from_pretrained("{model_id}"{remote})
tokenizer = AutoTokenizer.from_pretrained("{model_id}"{remote})
answer = DiffusionAnswerer({arguments}
)
print(answer(model, tokenizer, chat_prompts(tokenizer, ["{QUESTION}"]{system}))[0])
```"""
