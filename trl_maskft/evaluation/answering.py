"""How a model answers evaluation questions: one object per way of answering, holding all its settings.

An answerer is called as ``answerer(model, tokenizer, prompts, synced_gpus=False) -> answers`` on rendered chat prompts
and describes itself for a model card (`quick_start`), so the settings of a run's evaluation travel as one object from
the recipe to the callback and to the card. `GreedyAnswerer` generates autoregressively with one
`transformers.GenerationConfig`; `DiffusionAnswerer` samples a masked-diffusion model
(`trl_maskft.diffusion_sft.sampler`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from ..common import system_turn
from .generation import generate_answers, greedy_config

QUESTION = "Who is ...?"  # placeholder of the quick starts: a question about the training documents


def _remote(trust_remote_code: bool) -> str:
    return ", trust_remote_code=True" if trust_remote_code else ""


class Answerer:
    """What every answerer provides: ``__call__`` (answers to rendered prompts, the same on every call for the same
    model), `quick_start` (markdown code that answers the same way) and `shortened` (the same settings with fewer new
    tokens). `autoregressive` says whether the model it samples scores text left to right (a per-token NLL means
    something), False for a masked-diffusion model."""

    autoregressive = True

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

    def shortened(self, max_new_tokens: int, batch_size: int) -> Answerer:
        """This answerer with at most `max_new_tokens` new tokens, `batch_size` prompts at a time (short answers, e.g.
        retention's known facts)."""
        raise NotImplementedError


@dataclass
class GreedyAnswerer(Answerer):
    """Autoregressive answers under ``generation_config`` (default: greedy, 128 new tokens, the paper's QA
    evaluation), ``batch_size`` prompts per `generate` call with left padding (`generate_answers`)."""

    generation_config: GenerationConfig = field(default_factory=greedy_config)
    batch_size: int = 16

    def __call__(self, model, tokenizer, prompts, synced_gpus=False):
        return generate_answers(model, tokenizer, prompts, self.generation_config, self.batch_size, synced_gpus)

    def shortened(self, max_new_tokens, batch_size):
        config = copy.deepcopy(self.generation_config)
        config.max_new_tokens = max_new_tokens
        return GreedyAnswerer(config, batch_size)

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
