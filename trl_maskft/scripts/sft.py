"""Autoregressive SFT baselines on documents, with forward/backward QA evaluation: plain SFT ("Tell me a fact." ->
document chats, or the raw documents with `sft_format: text`), SFT with paraphrases (`paraphrases: same_order` or
`permuted`) and reverse training (`reverse_training: true`); or regular SFT on GSM8K or MATH (`task: gsm8k`, `task:
math`); with `bench_tasks`, also lm-evaluation-harness benchmarks along the way (`trl_maskft.evaluation.lm_eval`).

```bash
accelerate launch -m trl_maskft.scripts.sft --config recipes/smollm2-135m-instruct/sft/config_people.yaml
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import ModelConfig

from ..baselines.config import BaselineSFTConfig
from ..baselines.trainer import BaselineSFTTrainer
from ..data.baseline_rows import baseline_rows
from ..data.corpus import Corpus, CorpusArguments
from ..data.transforms import PARAPHRASE_MODES, SFT_FORMATS, pretraining_dataset, sft_dataset, training_documents
from ..evaluation.lm_eval import BenchmarkConfig
from ..evaluation.retention import RetentionConfig
from ..pipeline.arguments import KNOWLEDGE, KnowledgeScriptArguments, TaskArguments
from ..pipeline.inputs import load_knowledge, load_tokenizer, load_training_data
from ..pipeline.recipe_parser import RecipeParser
from ..pipeline.run import knowledge_evaluation, recipe_path, train_and_report, train_task
from ..training.chunking import validate_chunk_length


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
    chunk_length: int | None = field(
        default=None,
        metadata={"help": "Split documents into the chunks of at most this many tokens that masked SFT trains on."},
    )

    def __post_init__(self):
        validate_chunk_length(self.chunk_length)
        if self.chunk_length is not None and (self.paraphrases != "none" or self.reverse_training):
            raise ValueError("`chunk_length` chunks a corpus's documents; paraphrase and reverse training do not.")
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


def make_parser() -> RecipeParser:
    return RecipeParser(
        (
            KnowledgeScriptArguments,
            CorpusArguments,
            TaskArguments,
            BaselineSFTConfig,
            ModelConfig,
            BaselineArguments,
            BenchmarkConfig,
            RetentionConfig,
        )  # fmt: skip
    )


def augmented_data(script_args, corpus_args, baseline_args: BaselineArguments, text_field: str) -> Corpus:
    """Paraphrase and reverse training: the documents in memory, with their paraphrases and reversed copies."""
    knowledge = load_knowledge(
        script_args,
        baseline_args.paraphrases,
        baseline_args.paraphrase_file,
        baseline_args.num_paraphrases,
        corpus_args=corpus_args,
        text_field=text_field,
    )
    documents = training_documents(knowledge, reverse=baseline_args.reverse_training)
    if baseline_args.sft_format == "chat":
        return Corpus(sft_dataset(documents, script_args.sft_prompt, baseline_args.system_prompt), qa=knowledge.qa)
    return Corpus(pretraining_dataset(documents, text_field), qa=knowledge.qa)


def baseline_data(script_args, corpus_args, training_args, model_args, baseline_args: BaselineArguments) -> Corpus:
    """The baseline's rows of the run's data (`baseline_rows`: documents whole or chunked, QA pairs), held-out rows
    alike, and what chunking did in the corpus log."""
    data = load_training_data(script_args, corpus_args, training_args, model_args)
    chunking = baseline_args.chunk_length is not None
    remote = training_args.trust_remote_code
    common = {
        "text_field": training_args.dataset_text_field,
        "sft_format": baseline_args.sft_format,
        "prompt": script_args.sft_prompt,
        "system_prompt": baseline_args.system_prompt,
        "tokenizer": load_tokenizer(model_args, remote) if chunking else None,
        "chunk_length": baseline_args.chunk_length,
        "max_length": training_args.max_length,
        "num_proc": training_args.dataset_num_proc,
    }
    train, report = baseline_rows(data.train, **common)
    log = [*data.log, *([report.message()] if report else [])]
    held_out = None
    if data.eval is not None:
        held_out, report = baseline_rows(data.eval, split="eval", **common)
        log += [report.message()] if report else []
    return Corpus(train, held_out, data.qa, log)


def main(argv: list[str] | None = None):
    parsed = make_parser().parse_args_and_config(args=argv)
    script_args, corpus_args, task_args, training_args, model_args, baseline_args, bench, retention = parsed
    recipe, method = recipe_path(argv), baseline_method(baseline_args)
    if task_args.task != KNOWLEDGE:
        if baseline_args != BaselineArguments():
            raise ValueError(
                f"`task: {task_args.task}` runs are regular SFT: leave the baseline arguments at their defaults."
            )
        return train_task(
            BaselineSFTTrainer, task_args, script_args, training_args, model_args,
            conversational=True, recipe=recipe, method=method, benchmark=bench, arguments=parsed,
            retention=retention,
        )  # fmt: skip
    text_field = training_args.dataset_text_field
    if baseline_args.paraphrases != "none" or baseline_args.reverse_training:
        data = augmented_data(script_args, corpus_args, baseline_args, text_field)
    else:
        data = baseline_data(script_args, corpus_args, training_args, model_args, baseline_args)
    return train_and_report(
        BaselineSFTTrainer,
        training_args,
        model_args,
        data.train,
        knowledge_evaluation(script_args, data.qa, system_prompt=baseline_args.system_prompt, retention=retention),
        dataset_name=script_args.dataset_name,
        overwrite_run=script_args.overwrite_run,
        recipe=recipe,
        method=method,
        eval_dataset=data.eval,
        corpus_log=data.log,
        benchmark=bench,
        arguments=parsed,
    )


if __name__ == "__main__":
    main()
