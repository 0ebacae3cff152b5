"""Plain SFT baseline on documents ("Tell me a fact." -> document), with forward/backward QA evaluation.

```bash
accelerate launch -m trl_maskft.scripts.sft --config recipes/smollm2-135m-instruct/sft/config_people.yaml
```
"""

from __future__ import annotations

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser

from .utils import KnowledgeScriptArguments, load_knowledge, sft_dataset, train_and_report


def make_parser() -> TrlParser:
    return TrlParser((KnowledgeScriptArguments, SFTConfig, ModelConfig))


def main(argv: list[str] | None = None):
    script_args, training_args, model_args = make_parser().parse_args_and_config(args=argv)
    knowledge = load_knowledge(script_args)
    dataset = sft_dataset(knowledge.documents, script_args.sft_prompt)
    return train_and_report(SFTTrainer, script_args, training_args, model_args, dataset, knowledge)


if __name__ == "__main__":
    main()
