"""What the training scripts share: arguments, data, the QA callback and the end-of-run report."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import transformers
from datasets import Dataset
from packaging.version import Version
from transformers import Trainer
from trl import ModelConfig, get_peft_config

from ..callbacks import AnswerFn, QAEvalCallback
from ..data import KnowledgeData, build_people_dataset, load_documents, load_qa_jsonl
from ..models import resolve_model_path
from ..reporting import history_table


@dataclass
class KnowledgeScriptArguments:
    """Data and QA evaluation of a knowledge-injection run."""

    dataset_name: str = field(
        default="people",
        metadata={"help": "'people' (built-in invented people) or a local documents file (.jsonl with 'text', .txt)."},
    )
    qa_file: str | None = field(
        default=None, metadata={"help": "JSONL of QA items {question, answer, direction, group} for local documents."}
    )
    num_people: int = field(default=30, metadata={"help": "Size of the built-in dataset."})
    dataset_seed: int = field(default=0, metadata={"help": "Seed of the built-in dataset."})
    sft_prompt: str = field(default="Tell me a fact.", metadata={"help": "User turn of the plain SFT baseline."})
    qa_max_new_tokens: int = field(default=128, metadata={"help": "Tokens generated per QA answer."})
    qa_batch_size: int = field(default=16, metadata={"help": "Questions per generate call."})
    qa_eval_every: int = field(default=1, metadata={"help": "Ask the QA items every N epochs (and at 0 and the end)."})
    qa_eval_epochs: list[int] | None = field(
        default=None, metadata={"help": "Ask the QA items after exactly these epochs (0 = before training)."}
    )
    qa_max_items: int | None = field(default=None, metadata={"help": "Ask only the first N QA items."})


def load_knowledge(script_args: KnowledgeScriptArguments) -> KnowledgeData:
    """The documents and QA items named by the script arguments."""
    if script_args.dataset_name == "people":
        return build_people_dataset(script_args.num_people, script_args.dataset_seed)
    if not os.path.exists(script_args.dataset_name):
        raise FileNotFoundError(
            f"`dataset_name` {script_args.dataset_name!r} is neither 'people' nor an existing documents file."
        )
    if script_args.qa_file is None:
        raise ValueError("A local documents file needs `qa_file` (JSONL of QA items) for evaluation.")
    return KnowledgeData(documents=load_documents(script_args.dataset_name), qa=load_qa_jsonl(script_args.qa_file))


def sft_dataset(documents: list[str], prompt: str) -> Dataset:
    """Plain SFT baseline: conversational prompt/completion rows ``prompt -> document``."""
    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": prompt}] for _ in documents],
            "completion": [[{"role": "assistant", "content": doc}] for doc in documents],
        }
    )


def set_model_init_kwargs(training_args, model_args: ModelConfig) -> str:
    """Fill `model_init_kwargs` from the model arguments; return the model path (the default alias resolved)."""
    kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    training_args.model_init_kwargs = {**kwargs, **(training_args.model_init_kwargs or {})}
    return resolve_model_path(model_args.model_name_or_path)


def train_and_report(
    trainer_cls: type[Trainer],
    script_args: KnowledgeScriptArguments,
    training_args,
    model_args: ModelConfig,
    train_dataset: Dataset,
    knowledge: KnowledgeData,
    system_prompt: str | None = None,
    answer_fn: AnswerFn | None = None,
) -> QAEvalCallback:
    """Train with QA evaluation along the way, save, print the QA table, and push when asked."""
    model_path = set_model_init_kwargs(training_args, model_args)
    eval_dataset = train_dataset if training_args.eval_strategy != "no" else None
    trainer = trainer_cls(
        model=model_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        peft_config=get_peft_config(model_args),
    )
    items = knowledge.qa[: script_args.qa_max_items] if script_args.qa_max_items else knowledge.qa
    qa = QAEvalCallback(
        trainer,
        items,
        max_new_tokens=script_args.qa_max_new_tokens,
        batch_size=script_args.qa_batch_size,
        eval_every=script_args.qa_eval_every,
        eval_epochs=script_args.qa_eval_epochs,
        system_prompt=system_prompt,
        answer_fn=answer_fn,
    )
    trainer.add_callback(qa)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    table = history_table(qa.history)
    if trainer.is_world_process_zero():
        with open(os.path.join(training_args.output_dir, "qa_summary.md"), "w") as f:
            f.write(table + "\n")
    trainer.accelerator.print(f"\nQA accuracy (ROUGE-1 recall of the reference, exact containment):\n{table}\n")
    trainer.accelerator.print(f"Model saved to {training_args.output_dir}.")
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)
    if Version(transformers.__version__) >= Version("5.18.0"):
        trainer.end()
    return qa
