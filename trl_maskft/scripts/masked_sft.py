"""Masked SFT on documents or prompt/completion data, with forward/backward QA evaluation along the way; with
`task: gsm8k` or `task: math`, masked SFT on GSM8K or MATH scored by answer accuracy; with `bench_tasks`, also
lm-evaluation-harness benchmarks along the way (`trl_maskft.bench`).

```bash
accelerate launch -m trl_maskft.scripts.masked_sft \
    --config recipes/smollm2-135m-instruct/masked_sft/config_people.yaml
```
"""

from __future__ import annotations

from trl import ModelConfig, TrlParser

from ..bench import BenchmarkConfig
from ..masked_sft_config import MaskedSFTConfig
from ..masked_sft_trainer import MaskedSFTTrainer
from .arguments import KNOWLEDGE, KnowledgeScriptArguments, TaskArguments
from .run import knowledge_evaluation, load_knowledge, recipe_path, train_and_report, train_task


def make_parser() -> TrlParser:
    return TrlParser((KnowledgeScriptArguments, TaskArguments, MaskedSFTConfig, ModelConfig, BenchmarkConfig))


def main(argv: list[str] | None = None):
    script_args, task_args, training_args, model_args, bench = make_parser().parse_args_and_config(args=argv)
    recipe, system_prompt = recipe_path(argv), training_args.system_prompt
    if task_args.task != KNOWLEDGE:
        return train_task(
            MaskedSFTTrainer, task_args, script_args, training_args, model_args,
            system_prompt=system_prompt, recipe=recipe, benchmark=bench,
        )  # fmt: skip
    knowledge = load_knowledge(script_args)
    return train_and_report(
        MaskedSFTTrainer,
        training_args,
        model_args,
        knowledge.documents_dataset(),
        knowledge_evaluation(script_args, knowledge, system_prompt=system_prompt),
        dataset_name=script_args.dataset_name,
        recipe=recipe,
        benchmark=bench,
    )


if __name__ == "__main__":
    main()
