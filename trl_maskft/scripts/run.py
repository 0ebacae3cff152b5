"""A training run of the scripts: build the trainer, add its evaluation callback, train, save the model with its card
and QA results, report, and push to the Hub when asked."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from datasets import Dataset
from transformers import Trainer
from trl import ModelConfig, get_peft_config, get_quantization_config

from ..answering import Answerer
from ..best_epoch import BestEpochCallback
from ..callbacks import QAEvalCallback
from ..data import KnowledgeData, balanced_qa_sample
from ..data.sources import load_knowledge_source
from ..data.transforms import to_conversational
from ..hub import HubPublishing
from ..model_card import write_model_card
from ..models import resolve_model_path
from ..precision import warn_model_dtype
from ..run_folder import prepare_output_dir
from ..sharding import build_sharded_trainer, save_final_model
from ..tasks import get_task
from ..tasks.callback import TaskEvalCallback
from .arguments import KNOWLEDGE, KnowledgeScriptArguments, TaskArguments

# Adds the run's QA callback (or a subclass) and what goes with it to its trainer; returns the QA callback
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


def qa_evaluation(script_args: KnowledgeScriptArguments, build: Callable[[Trainer], QAEvalCallback]) -> Evaluation:
    """The evaluation of a run: the QA callback that `build` makes, added ahead of the trainer's other callbacks,
    followed by the best-epoch selection of `qa_best_metric` / `qa_keep_best` (`BestEpochCallback`) where the QA
    items give a metric to select by."""

    def evaluation(trainer: Trainer) -> QAEvalCallback:
        qa = build(trainer)
        qa.add_to_trainer()
        selection = BestEpochCallback(qa, script_args.qa_best_metric, script_args.qa_keep_best)
        if selection.metric is not None:
            trainer.add_callback(selection)
        return qa

    return evaluation


def knowledge_evaluation(
    script_args: KnowledgeScriptArguments,
    knowledge: KnowledgeData,
    answerer: Answerer | None = None,
    system_prompt: str | None = None,
) -> Evaluation:
    """The QA callback of a knowledge run: `qa_max_items` QA items (`balanced_qa_sample`; all without it), asked on
    the script's schedule, answered by `answerer` (by default greedily, `KnowledgeScriptArguments.greedy_answerer`)."""
    items = knowledge.qa
    if script_args.qa_max_items:  # the same questions for every training seed: drawn with the dataset's seed
        items = balanced_qa_sample(items, script_args.qa_max_items, seed=script_args.dataset_seed)
    answerer = answerer or script_args.greedy_answerer()
    schedule = script_args.qa_schedule()
    return qa_evaluation(
        script_args,
        lambda trainer: QAEvalCallback(
            trainer, items, answerer, system_prompt=system_prompt, qa_score=script_args.qa_score, **schedule
        ),
    )


def set_model_init_kwargs(training_args, model_args: ModelConfig) -> str:
    """Fill `model_init_kwargs` from the model arguments; return the model path (the default alias resolved)."""
    kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    training_args.model_init_kwargs = {**kwargs, **(training_args.model_init_kwargs or {})}
    warn_model_dtype(training_args, training_args.model_init_kwargs["dtype"])
    return resolve_model_path(model_args.model_name_or_path)


def recipe_path(argv: list[str] | None = None) -> str | None:
    """The recipe given with `--config` in `argv` (default: the command line), for the model card."""
    args = sys.argv[1:] if argv is None else argv
    return args[args.index("--config") + 1] if "--config" in args[:-1] else None


def build_trainer(trainer_cls: type[Trainer], training_args, model_args: ModelConfig, train_dataset) -> Trainer:
    """The trainer of the run: the model of `model_args` (quantized and with a PEFT adapter when they say so)
    trained on `train_dataset`, which is also evaluated when `eval_strategy` is set; sharded under an FSDP launch also
    on CPU processes, and launches or FSDP2 settings that cannot run as set refused (`trl_maskft.sharding`)."""
    return build_sharded_trainer(
        trainer_cls,
        model=set_model_init_kwargs(training_args, model_args),
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=train_dataset if training_args.eval_strategy != "no" else None,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )


def save_run(trainer: Trainer, qa: QAEvalCallback, card_kwargs: dict) -> None:
    """Save the model, its card (`write_model_card` with `card_kwargs`) and the QA table to `output_dir`, and print
    the table."""
    output_dir = trainer.args.output_dir
    save_final_model(trainer, output_dir)
    write_model_card(trainer, **card_kwargs)
    report = qa.report()
    if trainer.is_world_process_zero():
        with open(os.path.join(output_dir, "qa_summary.md"), "w") as f:
            f.write(report + "\n")
    trainer.accelerator.print(f"\n{qa.title}:\n{report}\n")
    trainer.accelerator.print(f"Model, model card and QA results saved to {output_dir}.")


def train_and_report(
    trainer_cls: type[Trainer],
    training_args,
    model_args: ModelConfig,
    train_dataset: Dataset,
    evaluation: Evaluation,
    dataset_name: str,
    recipe: str | None = None,
    method: str | None = None,
    overwrite_run: bool = False,
) -> QAEvalCallback:
    """Train with the QA callback that `evaluation` adds asking along the way; save the model, its card (naming
    `recipe`, the data and, for trainers whose card does not, `method`) and the QA table to `output_dir`; then push
    when asked (`HubPublishing`: a failed push ends the run with a message and exit status 1, everything saved).
    Before the model is loaded, `output_dir` must be writable and hold no earlier run, unless `overwrite_run` clears
    it (`prepare_output_dir`)."""
    prepare_output_dir(training_args, overwrite_run)
    hub = HubPublishing.take_over(training_args)
    trainer = build_trainer(trainer_cls, training_args, model_args, train_dataset)
    qa = evaluation(trainer)
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
    if script_args.qa_score != "paper":
        raise ValueError(
            f"`qa_score` scores knowledge QA; `task: {task_args.task}` is scored by its own rules. Remove `qa_score`."
        )
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
        qa_evaluation(
            script_args,
            lambda trainer: TaskEvalCallback(trainer, task, items, answerer, system_prompt=system_prompt, **schedule),
        ),
        dataset_name=source,
        recipe=recipe,
        method=method,
        overwrite_run=script_args.overwrite_run,
    )
