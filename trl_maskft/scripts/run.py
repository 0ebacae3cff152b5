"""A training run of the scripts: build the trainer, add its evaluation callback, train, save the model with its card
and QA results, report, and push to the Hub when asked."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from accelerate import PartialState
from datasets import Dataset
from transformers import AutoTokenizer, Trainer
from trl import ModelConfig, get_peft_config, get_quantization_config

from ..answering import Answerer
from ..bench import BenchmarkConfig, add_benchmarks
from ..callbacks import QAEvalCallback
from ..data import KnowledgeData
from ..data.sources import load_knowledge_source
from ..data.transforms import to_conversational
from ..hub import HubPublishing
from ..model_card import write_model_card
from ..models import resolve_model_path
from ..scheduled_eval import ScheduledEvalCallback
from ..tasks import get_task
from ..tasks.callback import TaskEvalCallback
from ..tasks.loading import drop_long_pairs
from .arguments import KNOWLEDGE, KnowledgeScriptArguments, TaskArguments

# Builds the run's QA callback (or a subclass) for its trainer
Evaluation = Callable[[Trainer], QAEvalCallback]


def load_knowledge(
    script_args: KnowledgeScriptArguments,
    paraphrases: str = "none",
    paraphrase_file: str | None = None,
    num_paraphrases: int | None = None,
) -> KnowledgeData:
    """The documents, QA items and, unless `paraphrases` is "none", the paraphrase sets named by the script arguments
    (`trl_maskft.data.sources.load_knowledge_source`)."""
    return load_knowledge_source(
        script_args.dataset_name,
        qa_file=script_args.qa_file,
        dataset_config=script_args.dataset_config,
        num_people=script_args.num_people,
        seed=script_args.dataset_seed,
        paraphrases=paraphrases,
        paraphrase_file=paraphrase_file,
        num_paraphrases=num_paraphrases,
        num_eval_templates=script_args.qa_templates_per_person,
    )


def knowledge_evaluation(
    script_args: KnowledgeScriptArguments,
    knowledge: KnowledgeData,
    answerer: Answerer | None = None,
    system_prompt: str | None = None,
) -> Evaluation:
    """The QA callback of a knowledge run: the first `qa_max_items` QA items, asked on the script's schedule, answered
    by `answerer` (by default greedily, `KnowledgeScriptArguments.greedy_answerer`)."""
    items = knowledge.qa[: script_args.qa_max_items] if script_args.qa_max_items else knowledge.qa
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


def build_trainer(trainer_cls: type[Trainer], training_args, model_args: ModelConfig, train_dataset) -> Trainer:
    """The trainer of the run: the model of `model_args` (quantized and with a PEFT adapter when they say so)
    trained on `train_dataset`, which is also evaluated when `eval_strategy` is set."""
    return trainer_cls(
        model=set_model_init_kwargs(training_args, model_args),
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=train_dataset if training_args.eval_strategy != "no" else None,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )


def save_run(trainer: Trainer, evaluations: list[ScheduledEvalCallback], card_kwargs: dict) -> None:
    """Save the model, its card (`write_model_card` with `card_kwargs`) and the table of each evaluation callback
    (`qa_summary.md`, `bench_summary.md`) to `output_dir`, and print the tables."""
    output_dir = trainer.args.output_dir
    trainer.save_model(output_dir)
    write_model_card(trainer, **card_kwargs)
    for evaluation in evaluations:
        report = evaluation.report()
        if trainer.is_world_process_zero():
            with open(os.path.join(output_dir, f"{evaluation.prefix}_summary.md"), "w") as f:
                f.write(report + "\n")
        trainer.accelerator.print(f"\n{evaluation.title}:\n{report}\n")
    trainer.accelerator.print(f"Model, model card and evaluation results saved to {output_dir}.")


def train_and_report(
    trainer_cls: type[Trainer],
    training_args,
    model_args: ModelConfig,
    train_dataset: Dataset,
    evaluation: Evaluation,
    dataset_name: str,
    recipe: str | None = None,
    method: str | None = None,
    benchmark: BenchmarkConfig | None = None,
) -> QAEvalCallback:
    """Train with the QA callback that `evaluation` builds asking along the way (and the benchmarks of `benchmark`,
    `add_benchmarks`); save the model, its card (naming `recipe`, the data and, for trainers whose card does not,
    `method`) and the tables to `output_dir`; then push when asked (`HubPublishing`: a failed push ends the run with a
    message and exit status 1, everything saved)."""
    hub = HubPublishing.take_over(training_args)
    trainer = build_trainer(trainer_cls, training_args, model_args, train_dataset)
    qa = evaluation(trainer)
    qa.add_to_trainer()
    bench = add_benchmarks(trainer, benchmark)
    with hub.training(trainer):
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    model_name = os.path.basename(os.path.normpath(training_args.hub_model_id or training_args.output_dir))
    card_kwargs = {"model_name": model_name, "dataset_name": dataset_name, "recipe": recipe, "method": method}
    save_run(trainer, [qa] + ([bench] if bench else []), card_kwargs)
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
    benchmark: BenchmarkConfig | None = None,
) -> TaskEvalCallback:
    """Train on the first `max_train_samples` training rows of the task of at most `max_train_tokens` tokens (as chats
    with `conversational`) and ask the first `qa_max_items` test questions 0-shot along the way (`TaskEvalCallback`,
    answering greedily with `qa_max_new_tokens`); see `train_and_report`."""
    if task_args.task == KNOWLEDGE:
        raise ValueError("`task: knowledge` trains on documents, not on a task's rows.")
    task = get_task(task_args.task)
    source, config = script_args.dataset_name, script_args.dataset_config
    train = task.load(source, "train", config)
    if task_args.max_train_tokens is not None:
        path = resolve_model_path(model_args.model_name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(path, revision=model_args.model_revision)
        train, dropped = drop_long_pairs(train, tokenizer, task_args.max_train_tokens)
        PartialState().print(
            f"Dropped {dropped} of {len(train) + dropped} {task.label} training pairs over "
            f"{task_args.max_train_tokens} tokens (prompt + completion)."
        )
    if task_args.max_train_samples is not None:
        train = train.select(range(min(task_args.max_train_samples, len(train))))
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
        benchmark=benchmark,
    )
