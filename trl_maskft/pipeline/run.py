"""A training run of the scripts: build the trainer, add its evaluation callback, train, save the model with its card
and QA results, report, and push to the Hub when asked."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from accelerate import PartialState
from datasets import Dataset, IterableDataset
from transformers import Trainer
from trl import ModelConfig, get_peft_config, get_quantization_config

from ..data import balanced_qa_sample
from ..data.qa_checks import warn_non_ascii_answers
from ..data.schema import QAItem
from ..data.transforms import to_conversational
from ..evaluation.answering import Answerer
from ..evaluation.best_epoch import BestEpochCallback
from ..evaluation.best_metric import check_trainer_best_metric
from ..evaluation.lm_eval import BenchmarkConfig, add_benchmarks
from ..evaluation.loss_report import LossReport
from ..evaluation.model_card import run_name, write_model_card
from ..evaluation.qa_callback import QAEvalCallback
from ..evaluation.retention import RetentionConfig
from ..evaluation.tasks import get_task
from ..evaluation.tasks.callback import TaskEvalCallback
from ..evaluation.tasks.loading import drop_long_pairs
from ..runtime.default_model import resolve_model_path
from ..runtime.hub import HubPublishing
from ..runtime.resume_recipe import run_recipe
from ..runtime.run_folder import prepare_output_dir
from ..runtime.sharding import build_sharded_trainer, check_joined, save_final_model
from ..training.replay_trainer import check_copy_shardable, launch_shards
from .arguments import KNOWLEDGE, KnowledgeScriptArguments, TaskArguments
from .inputs import load_tokenizer
from .retention import Retention, added_retention, retention_evaluation

# Adds the run's main report (its QA callback, a subclass, or the evaluation losses of a corpus alone) and what goes
# with it to its trainer; returns the main report
Evaluation = Callable[[Trainer], QAEvalCallback | LossReport]


def qa_evaluation(
    script_args: KnowledgeScriptArguments,
    build: Callable[[Trainer], QAEvalCallback],
    retention: Retention | None = None,
) -> Evaluation:
    """The evaluation of a run: the QA callback that `build` makes, added ahead of the trainer's other callbacks, and
    the `retention` callback after it, followed by the best-epoch selection of `qa_best_metric` / `qa_keep_best`
    (`BestEpochCallback`) where the QA items give a metric to select by."""

    def evaluation(trainer: Trainer) -> QAEvalCallback:
        qa = build(trainer)
        qa.add_to_trainer()
        if retention is not None:
            retention(trainer, qa.summary_file)
        selection = BestEpochCallback(qa, script_args.qa_best_metric, script_args.qa_keep_best)
        if selection.metric is not None:
            trainer.add_callback(selection)
        return qa

    return evaluation


def loss_evaluation(retention: Retention | None = None) -> Evaluation:
    """The evaluation of a run without QA items: its evaluation losses (`LossReport`) and the `retention` callback
    (its table saved under the losses)."""

    def evaluation(trainer: Trainer) -> LossReport:
        report = LossReport(trainer)
        report.add_to_trainer()
        if retention is not None:
            retention(trainer, report.summary_file)
        return report

    return evaluation


def knowledge_evaluation(
    script_args: KnowledgeScriptArguments,
    items: Sequence[QAItem],
    answerer: Answerer | None = None,
    system_prompt: str | None = None,
    retention: RetentionConfig | None = None,
) -> Evaluation:
    """The QA callback of a knowledge run: `qa_max_items` of the QA `items` (`balanced_qa_sample`; all without it),
    asked on the script's schedule, answered by `answerer` (by default greedily,
    `KnowledgeScriptArguments.greedy_answerer`) and scored by `qa_score` (a warning where the paper's score meets
    non-ASCII answers, `warn_non_ascii_answers`), with the `retention` measures beside it on the same schedule and
    answerer (`retention_evaluation`). Without QA items (a corpus alone) the run reports its evaluation loss, with
    the `retention` measures on the QA schedule (`loss_evaluation`)."""
    answerer = answerer or script_args.greedy_answerer()
    schedule, score = script_args.qa_schedule(), script_args.qa_score
    if not items:
        return loss_evaluation(retention_evaluation(retention, answerer, schedule, system_prompt))
    if script_args.qa_max_items:  # the same questions for every training seed: drawn with the dataset's seed
        items = balanced_qa_sample(items, script_args.qa_max_items, seed=script_args.dataset_seed)
    warn_non_ascii_answers(items, score)
    return qa_evaluation(
        script_args,
        lambda trainer: QAEvalCallback(
            trainer, items, answerer, system_prompt=system_prompt, qa_score=score, **schedule
        ),
        retention_evaluation(retention, answerer, schedule, system_prompt),
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


def recipe_path(argv: list[str] | None = None) -> str | None:
    """The recipe given with `--config` in `argv` (default: the command line), for the model card."""
    args = sys.argv[1:] if argv is None else argv
    return args[args.index("--config") + 1] if "--config" in args[:-1] else None


def build_trainer(
    trainer_cls: type[Trainer], training_args, model_args: ModelConfig, train_dataset, eval_dataset=None
) -> Trainer:
    """The trainer of the run: the model of `model_args` (quantized and with a PEFT adapter when they say so)
    trained on `train_dataset`; when `eval_strategy` is set it evaluates `eval_dataset` (held-out rows), or without
    one `train_dataset` itself. Sharded under an FSDP launch also on CPU processes; launches or FSDP2 settings that
    cannot run as set are refused (`trl_maskft.runtime.sharding`)."""
    evaluated = eval_dataset if eval_dataset is not None else train_dataset
    if not model_args.use_peft:  # `kl_to_base` needs a frozen copy: refused before the model is loaded where sharded
        check_copy_shardable(training_args, launch_shards(training_args))
    return build_sharded_trainer(
        trainer_cls,
        model=set_model_init_kwargs(training_args, model_args),
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=evaluated if training_args.eval_strategy != "no" else None,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )


def save_run(trainer: Trainer, reports: Sequence[QAEvalCallback | LossReport], card_kwargs: dict) -> None:
    """Save the model (whole, also under FSDP), its card (`write_model_card` with `card_kwargs`) and each report of
    the run (the QA table, the benchmarks' table, or the evaluation losses: `qa_summary.md`, `bench_summary.md`,
    `eval_summary.md`) to `output_dir`, and print them."""
    output_dir = trainer.args.output_dir
    save_final_model(trainer, output_dir)
    write_model_card(trainer, **card_kwargs)
    summaries: dict[str, list[str]] = {}  # reports sharing a file (the QA table and retention) follow each other
    for report in reports:
        text, shared = report.report(), report.summary_file in summaries
        summaries.setdefault(report.summary_file, []).append(f"{report.title}:\n\n{text}" if shared else text)
        trainer.accelerator.print(f"\n{report.title}:\n{text}\n")
    for name, texts in summaries.items():
        if trainer.is_world_process_zero():
            with open(os.path.join(output_dir, name), "w") as f:
                f.write("\n\n".join(texts) + "\n")
    files = ", ".join(summaries)
    trainer.accelerator.print(f"Model, model card and {files} saved to {output_dir}.")


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
    overwrite_run: bool = False,
    eval_dataset: Dataset | IterableDataset | None = None,
    corpus_log: Sequence[str] = (),
    benchmark: BenchmarkConfig | None = None,
    arguments: Sequence = (),
) -> QAEvalCallback | LossReport:
    """Train with the QA callback that `evaluation` adds asking along the way (without one, a `LossReport` of the
    evaluation losses on `eval_dataset`) and the benchmarks of `benchmark` (`add_benchmarks`); save the model, its
    card (naming `recipe`, the data and, for trainers whose card does not, `method`) and the reports to `output_dir`;
    then push when asked (`HubPublishing`: a failed push ends the run with a message and exit status 1, everything
    saved). Before the model is loaded, `output_dir` must be writable, outside the corpus and empty, unless the run
    resumes the run there or `overwrite_run` deletes its recorded files (`prepare_output_dir`); the run holds its lock
    and records the files it writes (`RunRecord`). `corpus_log` (how the corpus was read) and the trainer's data
    reports are printed before training. Every checkpoint keeps the recipe of the parsed `arguments` (all argument
    dataclasses of the script), which a resume compares (`trl_maskft.runtime.resume_recipe`)."""
    check_joined(training_args)  # else each process would take `output_dir` for its own run
    run = prepare_output_dir(training_args, overwrite_run, dataset_name)
    try:
        hub = HubPublishing.take_over(training_args)
        recipe_values = run_recipe(arguments) if arguments else None
        trainer = build_trainer(trainer_cls, training_args, model_args, train_dataset, eval_dataset)
        trainer.add_callback(run)
        if recipe_values is not None:
            rows = len(trainer.train_dataset) if isinstance(trainer.train_dataset, Dataset) else None
            trainer.run_recipe = {**recipe_values, "train_rows": rows}
        print_data_reports(trainer, corpus_log)
        report = (evaluation or loss_evaluation())(trainer)
        bench = add_benchmarks(trainer, benchmark)
        check_trainer_best_metric(trainer)
        with hub.training(trainer):
            trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        card_kwargs = {
            "model_name": run_name(training_args),
            "dataset_name": dataset_name,
            "recipe": recipe,
            "method": method,
        }
        save_run(trainer, [report, *added_retention(trainer)] + ([bench] if bench else []), card_kwargs)
        failure = hub.publish(trainer, **card_kwargs)
        trainer.end()
        if failure is not None:
            raise SystemExit(failure)
    finally:
        run.close()  # the record of the files the run wrote, and the lock released, also after an error
    return report


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
    arguments: Sequence = (),
    retention: RetentionConfig | None = None,
) -> TaskEvalCallback:
    """Train on the first `max_train_samples` training rows of the task of at most `max_train_tokens` tokens (as chats
    with `conversational`) and ask the first `qa_max_items` test questions 0-shot along the way (`TaskEvalCallback`,
    answering greedily with `qa_max_new_tokens`) with `retention` beside it; see `train_and_report`."""
    if task_args.task == KNOWLEDGE:
        raise ValueError("`task: knowledge` trains on documents, not on a task's rows.")
    if script_args.qa_score != "paper":
        raise ValueError(
            f"`qa_score` scores knowledge QA; `task: {task_args.task}` is scored by its own rules. Remove `qa_score`."
        )
    task = get_task(task_args.task)
    source, config = script_args.dataset_name, script_args.dataset_config
    train = task.load(source, "train", config)
    if task_args.max_train_tokens is not None:
        tokenizer = load_tokenizer(model_args, training_args.trust_remote_code)
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
        qa_evaluation(
            script_args,
            lambda trainer: TaskEvalCallback(trainer, task, items, answerer, system_prompt=system_prompt, **schedule),
            retention_evaluation(retention, answerer, schedule, system_prompt),
        ),
        dataset_name=source,
        recipe=recipe,
        method=method,
        overwrite_run=script_args.overwrite_run,
        benchmark=benchmark,
        arguments=arguments,
    )
