"""Masked SFT on documents or prompt/completion data, with forward/backward QA evaluation along the way; with
`task: gsm8k`, masked SFT on GSM8K scored by answer accuracy.

```bash
accelerate launch -m trl_maskft.scripts.masked_sft \
    --config recipes/smollm2-135m-instruct/masked_sft/config_people.yaml
```
"""

from __future__ import annotations

from trl import ModelConfig

from ..masked_sft_config import MaskedSFTConfig
from ..masked_sft_trainer import MaskedSFTTrainer
from ..parsing import RecipeParser
from .gsm8k import train_gsm8k
from .utils import KnowledgeScriptArguments, load_knowledge, recipe_path, train_and_report


def make_parser() -> RecipeParser:
    return RecipeParser((KnowledgeScriptArguments, MaskedSFTConfig, ModelConfig))


def main(argv: list[str] | None = None):
    script_args, training_args, model_args = make_parser().parse_args_and_config(args=argv)
    if script_args.task == "gsm8k":
        return train_gsm8k(
            MaskedSFTTrainer,
            script_args,
            training_args,
            model_args,
            system_prompt=training_args.system_prompt,
            recipe=recipe_path(argv),
        )
    knowledge = load_knowledge(script_args)
    return train_and_report(
        MaskedSFTTrainer,
        script_args,
        training_args,
        model_args,
        knowledge.documents_dataset(),
        knowledge,
        system_prompt=training_args.system_prompt,
        recipe=recipe_path(argv),
    )


if __name__ == "__main__":
    main()
