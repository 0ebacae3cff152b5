"""Diffusion SFT (LLaDA) on prompt/completion chats ("Tell me a fact." -> document), with forward/backward QA
evaluation answered by the diffusion sampler.

```bash
accelerate launch --config_file accelerate_configs/cpu.yaml -m trl_maskft.scripts.diffusion_sft \
    --config recipes/smollm2-135m-instruct/diffusion_sft/config_people.yaml
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import ModelConfig

from ..diffusion_sft_config import DiffusionSFTConfig
from ..diffusion_sft_trainer import DiffusionSFTTrainer
from ..parsing import RecipeParser
from ..sampling import REMASKING, diffusion_answer_fn
from .utils import KnowledgeScriptArguments, load_knowledge, recipe_path, sft_dataset, train_and_report


@dataclass
class DiffusionSamplingArguments:
    """How the QA questions are answered (defaults: the paper's QA evaluation, one token per step)."""

    qa_steps: int | None = field(default=None, metadata={"help": "Sampling steps; default `qa_max_new_tokens`."})
    qa_block_length: int = field(default=4, metadata={"help": "Semi-autoregressive block length."})
    qa_cfg_scale: float = field(default=0.0, metadata={"help": "Unsupervised classifier-free guidance scale."})
    qa_remasking: str = field(
        default="low_confidence", metadata={"help": "Which predictions to commit first.", "choices": list(REMASKING)}
    )


def make_parser() -> RecipeParser:
    return RecipeParser((KnowledgeScriptArguments, DiffusionSFTConfig, ModelConfig, DiffusionSamplingArguments))


def main(argv: list[str] | None = None):
    script_args, training_args, model_args, sampling_args = make_parser().parse_args_and_config(args=argv)
    knowledge = load_knowledge(script_args)
    sampling = {  # shown in the model card's quick start
        "max_new_tokens": script_args.qa_max_new_tokens,
        "steps": sampling_args.qa_steps,
        "block_length": sampling_args.qa_block_length,
        "cfg_scale": sampling_args.qa_cfg_scale,
        "remasking": sampling_args.qa_remasking,
    }
    answer_fn = diffusion_answer_fn(
        training_args.mask_token,
        training_args.mask_token_id,
        **sampling,
        bidirectional=training_args.bidirectional,
        shift_logits=training_args.shift_logits,  # sample as trained
        batch_size=script_args.qa_batch_size,
        seed=training_args.seed,
    )
    dataset = sft_dataset(knowledge.documents, script_args.sft_prompt)
    return train_and_report(
        DiffusionSFTTrainer,
        script_args,
        training_args,
        model_args,
        dataset,
        knowledge,
        answer_fn=answer_fn,
        recipe=recipe_path(argv),
        answer_kwargs=sampling,
    )


if __name__ == "__main__":
    main()
