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

from ..data.transforms import sft_dataset
from ..diffusion_sft.answerer import DiffusionAnswerer
from ..diffusion_sft.config import DiffusionSFTConfig
from ..diffusion_sft.sampler import REMASKING
from ..diffusion_sft.trainer import DiffusionSFTTrainer
from ..evaluation.retention import RetentionConfig
from ..pipeline.arguments import KnowledgeScriptArguments
from ..pipeline.inputs import load_knowledge
from ..pipeline.recipe_parser import RecipeParser
from ..pipeline.run import knowledge_evaluation, recipe_path, train_and_report


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
    return RecipeParser(
        (KnowledgeScriptArguments, DiffusionSFTConfig, ModelConfig, DiffusionSamplingArguments, RetentionConfig)
    )


def main(argv: list[str] | None = None):
    parsed = make_parser().parse_args_and_config(args=argv)
    script_args, training_args, model_args, sampling_args, retention = parsed
    knowledge = load_knowledge(script_args, text_field=training_args.dataset_text_field)
    answerer = DiffusionAnswerer.for_training(  # samples as trained: mask token, attention, logit shift
        training_args,
        max_new_tokens=script_args.qa_max_new_tokens,
        steps=sampling_args.qa_steps,
        block_length=sampling_args.qa_block_length,
        cfg_scale=sampling_args.qa_cfg_scale,
        remasking=sampling_args.qa_remasking,
        batch_size=script_args.qa_batch_size,
    )
    return train_and_report(
        DiffusionSFTTrainer,
        training_args,
        model_args,
        sft_dataset(knowledge.documents, script_args.sft_prompt),
        knowledge_evaluation(script_args, knowledge.qa, answerer, retention=retention),
        dataset_name=script_args.dataset_name,
        overwrite_run=script_args.overwrite_run,
        recipe=recipe_path(argv),
        arguments=parsed,
    )


if __name__ == "__main__":
    main()
