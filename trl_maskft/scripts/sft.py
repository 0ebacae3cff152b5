"""Autoregressive SFT baselines on documents, with forward/backward QA evaluation: plain SFT ("Tell me a fact." ->
document chats, or the raw documents with `sft_format: text`), SFT with paraphrases (`paraphrases: same_order` or
`permuted`) and reverse training (`reverse_training: true`); or regular SFT on GSM8K or MATH (`task: gsm8k`, `task:
math`); with `bench_tasks`, also lm-evaluation-harness benchmarks along the way (`trl_maskft.bench`).

```bash
accelerate launch -m trl_maskft.scripts.sft --config recipes/smollm2-135m-instruct/sft/config_people.yaml
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser

from ..bench import BenchmarkConfig
from ..data.transforms import PARAPHRASE_MODES, SFT_FORMATS, pretraining_dataset, sft_dataset, training_documents
from .arguments import KNOWLEDGE, KnowledgeScriptArguments, TaskArguments
from .run import knowledge_evaluation, load_knowledge, recipe_path, train_and_report, train_task


@dataclass
class BaselineArguments:
    """What an autoregressive baseline trains on (see `trl_maskft.data.transforms`)."""

    sft_format: str = field(
        default="chat",
        metadata={
            "help": "'chat': `sft_prompt` -> document chats; 'text': the raw documents (pre-training format).",
            "choices": list(SFT_FORMATS),
        },
    )
    paraphrases: str = field(
        default="none",
        metadata={
            "help": "Also train on paraphrases of each document, in its order ('same_order') or another ('permuted').",
            "choices": list(PARAPHRASE_MODES),
        },
    )
    paraphrase_file: str | None = field(
        default=None, metadata={"help": "JSONL of paraphrase sets {paraphrases: [...]} for local or Hub documents."}
    )
    num_paraphrases: int | None = field(default=None, metadata={"help": "Paraphrases per document (default: all)."})
    reverse_training: bool = field(
        default=False, metadata={"help": "Also train on every text reversed word by word, entities kept intact."}
    )
    system_prompt: str | None = field(
        default=None,
        metadata={
            "help": "System message of the training chats and the QA questions (as masked SFT's); None keeps the "
            "chat template's default."
        },
    )

    def __post_init__(self):
        if self.sft_format not in SFT_FORMATS:
            raise ValueError(f"`sft_format` must be one of {SFT_FORMATS}, got {self.sft_format!r}.")
        if self.paraphrases not in PARAPHRASE_MODES:
            raise ValueError(f"`paraphrases` must be one of {PARAPHRASE_MODES}, got {self.paraphrases!r}.")


def baseline_method(args: BaselineArguments) -> str:
    """The baseline's name in the model card: plain SFT, paraphrase SFT (same-order or permuted), reverse training,
    or both of the last two; "on raw text" with `sft_format: text`."""
    parts = [f"paraphrase SFT ({args.paraphrases.replace('_', '-')})"] if args.paraphrases != "none" else []
    parts += ["reverse training"] if args.reverse_training else []
    method = " + ".join(parts) or "plain SFT"
    return method if args.sft_format == "chat" else f"{method} on raw text"


def make_parser() -> TrlParser:
    return TrlParser(
        (KnowledgeScriptArguments, TaskArguments, SFTConfig, ModelConfig, BaselineArguments, BenchmarkConfig)
    )


def main(argv: list[str] | None = None):
    parsed = make_parser().parse_args_and_config(args=argv)
    script_args, task_args, training_args, model_args, baseline_args, bench = parsed
    recipe, method = recipe_path(argv), baseline_method(baseline_args)
    if task_args.task != KNOWLEDGE:
        if baseline_args != BaselineArguments():
            raise ValueError(
                f"`task: {task_args.task}` runs are regular SFT: leave the baseline arguments at their defaults."
            )
        return train_task(
            SFTTrainer, task_args, script_args, training_args, model_args,
            conversational=True, recipe=recipe, method=method, benchmark=bench,
        )  # fmt: skip
    knowledge = load_knowledge(
        script_args, baseline_args.paraphrases, baseline_args.paraphrase_file, baseline_args.num_paraphrases
    )
    documents = training_documents(knowledge, reverse=baseline_args.reverse_training)
    if baseline_args.sft_format == "chat":
        dataset = sft_dataset(documents, script_args.sft_prompt, baseline_args.system_prompt)
    else:
        dataset = pretraining_dataset(documents)
    return train_and_report(
        SFTTrainer,
        training_args,
        model_args,
        dataset,
        knowledge_evaluation(script_args, knowledge, system_prompt=baseline_args.system_prompt),
        dataset_name=script_args.dataset_name,
        recipe=recipe,
        method=method,
        benchmark=bench,
    )


if __name__ == "__main__":
    main()
