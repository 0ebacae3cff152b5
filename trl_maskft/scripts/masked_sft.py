"""Masked SFT on documents or prompt/completion data, with forward/backward QA evaluation along the way when there
are QA items (else the evaluation loss on held-out rows): a built-in knowledge source, or a corpus of local files or
a Hub dataset (masked continued pretraining, `chunk_length`); with `task: gsm8k` or `task: math`, masked SFT on GSM8K
or MATH scored by answer accuracy; with `bench_tasks`, also lm-evaluation-harness benchmarks along the way
(`trl_maskft.evaluation.lm_eval`).

```bash
accelerate launch -m trl_maskft.scripts.masked_sft \
    --config recipes/smollm2-135m-instruct/masked_sft/config_people.yaml
```
"""

from __future__ import annotations

from trl import ModelConfig

from ..data.corpus import CorpusArguments
from ..evaluation.lm_eval import BenchmarkConfig
from ..evaluation.retention import RetentionConfig
from ..masked_sft.config import MaskedSFTConfig
from ..masked_sft.trainer import MaskedSFTTrainer
from ..pipeline.arguments import KNOWLEDGE, KnowledgeScriptArguments, TaskArguments
from ..pipeline.inputs import load_training_data
from ..pipeline.recipe_parser import RecipeParser
from ..pipeline.run import knowledge_evaluation, recipe_path, train_and_report, train_task


def make_parser() -> RecipeParser:
    return RecipeParser(
        (
            KnowledgeScriptArguments,
            CorpusArguments,
            TaskArguments,
            MaskedSFTConfig,
            ModelConfig,
            BenchmarkConfig,
            RetentionConfig,
        )  # fmt: skip
    )


def main(argv: list[str] | None = None):
    parsed = make_parser().parse_args_and_config(args=argv)
    script_args, corpus_args, task_args, training_args, model_args, bench, retention = parsed
    recipe, system_prompt = recipe_path(argv), training_args.system_prompt
    if task_args.task != KNOWLEDGE:
        return train_task(
            MaskedSFTTrainer, task_args, script_args, training_args, model_args,
            system_prompt=system_prompt, recipe=recipe, benchmark=bench, arguments=parsed, retention=retention,
        )  # fmt: skip
    data = load_training_data(script_args, corpus_args, training_args, model_args)
    return train_and_report(
        MaskedSFTTrainer,
        training_args,
        model_args,
        data.train,
        knowledge_evaluation(script_args, data.qa, system_prompt=system_prompt, retention=retention),
        dataset_name=script_args.dataset_name,
        overwrite_run=script_args.overwrite_run,
        recipe=recipe,
        eval_dataset=data.eval,
        corpus_log=data.log,
        benchmark=bench,
        arguments=parsed,
    )


if __name__ == "__main__":
    main()
