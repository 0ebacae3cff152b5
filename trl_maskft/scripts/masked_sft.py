"""Masked SFT on documents or prompt/completion data, with forward/backward QA evaluation along the way.

```bash
accelerate launch -m trl_maskft.scripts.masked_sft \
    --config recipes/smollm2-135m-instruct/masked_sft/config_people.yaml
```
"""

from __future__ import annotations

from trl import ModelConfig, TrlParser

from ..masked_sft_config import MaskedSFTConfig
from ..masked_sft_trainer import MaskedSFTTrainer
from .utils import KnowledgeScriptArguments, load_knowledge, train_and_report


def make_parser() -> TrlParser:
    return TrlParser((KnowledgeScriptArguments, MaskedSFTConfig, ModelConfig))


def main(argv: list[str] | None = None):
    script_args, training_args, model_args = make_parser().parse_args_and_config(args=argv)
    knowledge = load_knowledge(script_args)
    return train_and_report(
        MaskedSFTTrainer,
        script_args,
        training_args,
        model_args,
        knowledge.documents_dataset(),
        knowledge,
        system_prompt=training_args.system_prompt,
    )


if __name__ == "__main__":
    main()
