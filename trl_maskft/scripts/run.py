"""A training run of the scripts: build the trainer, add its evaluation callback, train, save the model with its card
and QA results, report, and push to the Hub when asked."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from datasets import Dataset, IterableDataset
from transformers import Trainer
from trl import ModelConfig, get_peft_config, get_quantization_config

from ..answering import Answerer
from ..callbacks import QAEvalCallback
from ..data.schema import QAItem
from ..data.transforms import to_conversational
from ..hub import HubPublishing
from ..loss_report import LossReport
from ..model_card import write_model_card
from ..models import resolve_model_path
from ..tasks import get_task
from ..tasks.callback import TaskEvalCallback
from .arguments import KNOWLEDGE, KnowledgeScriptArguments, TaskArguments

# Builds the run's QA callback (or a subclass) for its trainer
Evaluation = Callable[[Trainer], QAEvalCallback]


def knowledge_evaluation(
    script_args: KnowledgeScriptArguments,
    items: Sequence[QAItem],
    answerer: Answerer | None = None,
    system_prompt: str | None = None,
) -> Evaluation | None:
    """The QA callback of a knowledge run: the first `qa_max_items` QA items, asked on the script's schedule, answered
    by `answerer` (by default greedily, `KnowledgeScriptArguments.greedy_answerer`); None without QA items (a corpus
    alone: the run reports its evaluation loss)."""
    if not items:
        return None
    items = items[: script_args.qa_max_items] if script_args.qa_max_items else items
    answerer = answerer or script_args.greedy_answerer()
    schedule = script_args.qa_schedule()
    return lambda trainer: QAEvalCallback(trainer, items, answerer, system_prompt=system_prompt, **schedule)


def set_model_init_kwargs(training_args, model_args: ModelConfig) -> str:
    """Fill `model_init_kwargs` from the model arguments; return the model path (the default alias resolved)."""
    kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    training_args.model_init_kwargs = {**kwargs, **(training_args.model_init_kwargs or {})}
    return resolve_model_path(model_args.model_name_or_path)


def recipe_path(argv: list[str] | None = None) -> str | None:
    """The recipe given with `--config` in `argv` (default: the command line), for the model card."""
    args = sys.argv[1:] if argv is None else argv
    return args[args.index("--config") + 1] if "--config" in args[:-1] else None


def build_trainer(
    trainer_cls: type[Trainer], training_args, model_args: ModelConfig, train_dataset, eval_dataset=None
) -> Trainer:
    """The trainer of the run: the model of `model_args` (quantized and with a PEFT adapter when they say so)
    trained on `train_dataset`; when `eval_strategy` is set it evaluates `eval_dataset` (held-out rows), or without
    one `train_dataset` itself."""
    evaluated = eval_dataset if eval_dataset is not None else train_dataset
    return trainer_cls(
        model=set_model_init_kwargs(training_args, model_args),
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=evaluated if training_args.eval_strategy != "no" else None,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )


def save_run(trainer: Trainer, report: QAEvalCallback | LossReport, card_kwargs: dict) -> None:
    """Save the model, its card (`write_model_card` with `card_kwargs`) and the run's report (the QA table, or the
    evaluation losses) to `output_dir`, and print the report."""
    output_dir = trainer.args.output_dir
    trainer.save_model(output_dir)
    write_model_card(trainer, **card_kwargs)
    text = report.report()
    if trainer.is_world_process_zero():
        with open(os.path.join(output_dir, report.summary_file), "w") as f:
            f.write(text + "\n")
    trainer.accelerator.print(f"\n{report.title}:\n{text}\n")
    trainer.accelerator.print(f"Model, model card and {report.summary_file} saved to {output_dir}.")


def print_data_reports(trainer: Trainer, corpus_log: Sequence[str] = ()) -> None:
    """Print how the corpus was read and what data preparation chunked, cut or dropped (`trainer.data_reports`)."""
    lines = [*corpus_log, *(report.message() for report in getattr(trainer, "data_reports", []))]
    if lines:
        trainer.accelerator.print("Data:\n" + "\n".join(f"  {line}" for line in lines))


def train_and_report(
    trainer_cls: type[Trainer],
    training_args,
    model_args: ModelConfig,
    train_dataset: Dataset | IterableDataset,
    evaluation: Evaluation | None,
    dataset_name: str,
    recipe: str | None = None,
    method: str | None = None,
    eval_dataset: Dataset | IterableDataset | None = None,
    corpus_log: Sequence[str] = (),
) -> QAEvalCallback | LossReport:
    """Train with the QA callback that `evaluation` builds asking along the way (without one, a `LossReport` of the
    evaluation losses on `eval_dataset`); save the model, its card (naming `recipe`, the data and, for trainers whose
    card does not, `method`) and the report to `output_dir`; then push when asked (`HubPublishing`: a failed push
    ends the run with a message and exit status 1, everything saved). `corpus_log` (how the corpus was read) and
    the trainer's data reports are printed before training."""
    hub = HubPublishing.take_over(training_args)
    trainer = build_trainer(trainer_cls, training_args, model_args, train_dataset, eval_dataset)
    print_data_reports(trainer, corpus_log)
    qa = evaluation(trainer) if evaluation is not None else LossReport(trainer)
    qa.add_to_trainer()
    with hub.training(trainer):
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    model_name = os.path.basename(os.path.normpath(training_args.hub_model_id or training_args.output_dir))
    card_kwargs = {"model_name": model_name, "dataset_name": dataset_name, "recipe": recipe, "method": method}
    save_run(trainer, qa, card_kwargs)
    failure = hub.publish(trainer, **card_kwargs)
    trainer.end()
    if failure is not None:
        raise SystemExit(failure)
    return qa


def train_task(
    trainer_cls: type[Trainer],
    task_args: TaskArguments,
    script_args: KnowledgeScriptArguments,
    training_args,
    model_args: ModelConfig,
    conversational: bool = False,
    system_prompt: str | None = None,
    recipe: str | None = None,
    method: str | None = None,
) -> TaskEvalCallback:
    """Train on the first `max_train_samples` training rows of the task (as chats with `conversational`) and ask the
    first `qa_max_items` test questions 0-shot along the way (`TaskEvalCallback`, answering greedily with
    `qa_max_new_tokens`); see `train_and_report`."""
    if task_args.task == KNOWLEDGE:
        raise ValueError("`task: knowledge` trains on documents, not on a task's rows.")
    task = get_task(task_args.task)
    source, config = script_args.dataset_name, script_args.dataset_config
    train = task.load(source, "train", config, task_args.max_train_samples)
    items = task.qa_items(task.load(source, "test", config, script_args.qa_max_items))
    answerer, schedule = script_args.greedy_answerer(), script_args.qa_schedule()
    return train_and_report(
        trainer_cls,
        training_args,
        model_args,
        to_conversational(train) if conversational else train,
        lambda trainer: TaskEvalCallback(trainer, task, items, answerer, system_prompt=system_prompt, **schedule),
        dataset_name=source,
        recipe=recipe,
        method=method,
    )
