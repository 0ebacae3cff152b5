"""What the training scripts share: arguments, data, the QA callback and the end-of-run report."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from datasets import Dataset
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils.hub import hf_api
from trl import ModelConfig, get_peft_config, get_quantization_config

from ..callbacks import AnswerFn, QAEvalCallback
from ..data import KnowledgeData
from ..data.sources import load_knowledge_source
from ..formatting import system_turn
from ..model_card import MethodModelCardMixin, chat_quick_start, complete_model_card, hub_dataset_id
from ..models import resolve_model_path
from ..sharding import build_trainer, save_final_model

TASKS = ("knowledge", "gsm8k")
HUB_HELP = (
    "Is the Hub reachable, and are you logged in with write access? Log in with `hf auth login` (or set HF_TOKEN)"
)


@dataclass
class KnowledgeScriptArguments:
    """Data and QA evaluation of a knowledge-injection run."""

    dataset_name: str = field(
        default="people",
        metadata={
            "help": "'people', 'biographies', 'biographies:<file.jsonl>', 'name_description:<folder>', a local "
            "documents file (.jsonl with 'text', .txt) or a Hub dataset id (see `trl_maskft.data.sources`); with "
            "`task: gsm8k`, a folder of GSM8K {train,test}.jsonl or a Hub id such as 'openai/gsm8k'."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    task: str = field(
        default="knowledge",
        metadata={
            "help": "'knowledge': documents with forward/backward QA; 'gsm8k': math prompt/completion SFT scored by "
            "answer accuracy (sft and masked_sft scripts).",
            "choices": list(TASKS),
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "GSM8K: train on the first N training rows only."}
    )
    qa_file: str | None = field(
        default=None,
        metadata={"help": "JSONL of QA items {question, answer, direction, group} for local or Hub documents."},
    )
    num_people: int = field(default=30, metadata={"help": "Size of the built-in dataset."})
    dataset_seed: int = field(default=0, metadata={"help": "Seed of the built-in dataset."})
    qa_templates_per_person: int | None = field(
        default=None,
        metadata={"help": "Built-in people: question templates asked per person and direction (default one)."},
    )
    sft_prompt: str = field(default="Tell me a fact.", metadata={"help": "User turn of the plain SFT baseline."})
    qa_max_new_tokens: int = field(default=128, metadata={"help": "Tokens generated per QA answer."})
    qa_batch_size: int = field(default=16, metadata={"help": "Questions per generate call."})
    qa_eval_every: int = field(default=1, metadata={"help": "Ask the QA items every N epochs (and at 0 and the end)."})
    qa_eval_epochs: list[int] | None = field(
        default=None, metadata={"help": "Ask the QA items after exactly these epochs (0 = before training)."}
    )
    qa_max_items: int | None = field(
        default=None, metadata={"help": "Ask only the first N QA items (GSM8K: the first N test questions)."}
    )

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"`task` must be one of {TASKS}, got {self.task!r}.")


def load_knowledge(
    script_args: KnowledgeScriptArguments,
    paraphrases: str = "none",
    paraphrase_file: str | None = None,
    num_paraphrases: int | None = None,
) -> KnowledgeData:
    """The documents, QA items and, unless `paraphrases` is "none", the paraphrase sets named by the script arguments
    (`trl_maskft.data.sources.load_knowledge_source`)."""
    if script_args.task != "knowledge":
        raise ValueError(f"`task: {script_args.task}` is run by the sft and masked_sft scripts, without documents.")
    if script_args.max_train_samples is not None:
        raise ValueError("`max_train_samples` applies to `task: gsm8k` only.")
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


def sft_dataset(documents: list[str], prompt: str, system_prompt: str | None = None) -> Dataset:
    """Plain SFT baseline: conversational prompt/completion rows ``prompt -> document``, after a system message
    unless `system_prompt` is None (the chat template's default)."""
    return Dataset.from_dict(
        {
            "prompt": [[*system_turn(system_prompt), {"role": "user", "content": prompt}] for _ in documents],
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


def recipe_path(argv: list[str] | None = None) -> str | None:
    """The recipe given with `--config` in `argv` (default: the command line), for the model card."""
    args = sys.argv[1:] if argv is None else argv
    return args[args.index("--config") + 1] if "--config" in args[:-1] else None


def write_model_card(
    trainer: Trainer, model_name: str, dataset_name: str, recipe: str | None, method: str | None = None
) -> None:
    """Save the run's card to `output_dir`: the trl-maskft trainers write their own; for another trainer (the
    `SFTTrainer` baselines), TRL's card completed by `complete_model_card` naming `method`."""
    if isinstance(trainer, MethodModelCardMixin):
        trainer.create_model_card(model_name=model_name, dataset_name=dataset_name, recipe=recipe)
    else:
        trainer.create_model_card(model_name=model_name, dataset_name=hub_dataset_id(dataset_name), tags="trl-maskft")
        complete_model_card(trainer, recipe, dataset_name, chat_quick_start, method)


def push_saved_run(trainer: Trainer, **card_kwargs) -> None:
    """Upload the saved `output_dir` to the Hub from the main process, creating the repo if needed.

    Like `Trainer.push_to_hub` without its second `save_model`, which under ZeRO-3/FSDP waits on every process while
    only the main process talks to the Hub. `card_kwargs` go to `write_model_card`, rewritten with the repo id.
    """
    if not trainer.is_world_process_zero():
        return
    args = trainer.args
    if trainer.hub_model_id is None:
        trainer.init_hf_repo()
    elif trainer.push_in_progress is not None:  # checkpoints pushed during training (`hub_strategy` other than end)
        trainer.push_in_progress.wait_until_done()
    write_model_card(trainer, **card_kwargs)
    hf_api().upload_folder(
        repo_id=trainer.hub_model_id,
        folder_path=args.output_dir,
        commit_message="End of training",
        token=args.hub_token,
        revision=args.hub_revision,
        ignore_patterns=["_*", f"{PREFIX_CHECKPOINT_DIR}-*"],
    )


def hub_repo_name(training_args) -> str:
    """The Hub repo of the run, as `Trainer.init_hf_repo` names it."""
    return training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir))


def train_and_report(
    trainer_cls: type[Trainer],
    script_args: KnowledgeScriptArguments,
    training_args,
    model_args: ModelConfig,
    train_dataset: Dataset,
    knowledge: KnowledgeData,
    system_prompt: str | None = None,
    answer_fn: AnswerFn | None = None,
    recipe: str | None = None,
    qa_callback: type[QAEvalCallback] = QAEvalCallback,
    method: str | None = None,
    answer_kwargs: dict | None = None,
) -> QAEvalCallback:
    """Train with QA evaluation along the way; save the model, its card (naming `recipe`, and `method` for trainers
    whose card does not, see `write_model_card`) and the QA table to `output_dir`; then push when asked.
    `qa_callback` asks and scores the questions (e.g. `GSM8KEvalCallback`), answering with `answer_fn` built with
    `answer_kwargs` (shown in the card's quick start).

    A failed push (offline, no token, Hub error) ends the run with a message and exit status 1, with everything saved.
    Unless checkpoints are pushed during training (saved, with a `hub_strategy` other than "end"), the Hub repo is
    created only then, so a run without Hub access still trains; otherwise it is created before training, and a
    failure ends the run there with a message.
    """
    push = training_args.push_to_hub
    push_checkpoints = push and training_args.hub_strategy != "end" and training_args.save_strategy != "no"
    training_args.push_to_hub = False  # the repo is created below, where a failure gets a clear message
    model_path = set_model_init_kwargs(training_args, model_args)
    eval_dataset = train_dataset if training_args.eval_strategy != "no" else None
    trainer = build_trainer(  # sharded under FSDP also on CPU processes; refuses launches that cannot run as set
        trainer_cls,
        model=model_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )
    if push_checkpoints:
        try:
            trainer.init_hf_repo()
        except Exception as error:  # network, authentication or Hub: as `Trainer.__init__` would have raised it
            raise SystemExit(
                f"Creating the Hub repo {hub_repo_name(training_args)!r} failed ({type(error).__name__}: {error}), "
                f"before training: with `hub_strategy: {training_args.hub_strategy.value}` checkpoints are pushed as "
                f"they are saved. {HUB_HELP}, set `push_to_hub: false`, or set `hub_strategy: end` to push once at "
                "the end of training (a failed push then keeps everything saved locally)."
            ) from error
        training_args.push_to_hub = True  # the Trainer pushes the checkpoints as it saves them
    items = knowledge.qa[: script_args.qa_max_items] if script_args.qa_max_items else knowledge.qa
    qa = qa_callback(
        trainer,
        items,
        max_new_tokens=script_args.qa_max_new_tokens,
        batch_size=script_args.qa_batch_size,
        eval_every=script_args.qa_eval_every,
        eval_epochs=script_args.qa_eval_epochs,
        system_prompt=system_prompt,
        answer_fn=answer_fn,
        answer_kwargs=answer_kwargs,
    )
    qa.add_to_trainer()
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    training_args.push_to_hub = False  # `save_model` would push too; the push comes last, see `push_saved_run`
    output_dir = training_args.output_dir
    save_final_model(trainer, output_dir)  # whole weights also with a sharded FSDP state dict
    model_name = os.path.basename(os.path.normpath(training_args.hub_model_id or output_dir))  # as `push_to_hub`
    card_kwargs = {"model_name": model_name, "dataset_name": script_args.dataset_name, "recipe": recipe}
    write_model_card(trainer, **card_kwargs, method=method)
    report = qa.report()
    if trainer.is_world_process_zero():
        with open(os.path.join(output_dir, "qa_summary.md"), "w") as f:
            f.write(report + "\n")
    trainer.accelerator.print(f"\n{qa.title}:\n{report}\n")
    trainer.accelerator.print(f"Model, model card and QA results saved to {output_dir}.")
    failure = None
    if push:
        try:
            push_saved_run(trainer, **card_kwargs, method=method)
        except Exception as error:  # network, authentication or Hub: whatever it is, the run is saved
            failure = error
    trainer.end()
    if failure is not None:
        repo = hub_repo_name(training_args)
        raise SystemExit(
            f"Pushing to the Hub repo {repo!r} failed ({type(failure).__name__}: {failure}). {HUB_HELP}. Nothing is "
            f"lost: the model, tokenizer, model card and QA results are saved in {output_dir!r}. Push them later "
            f"with `hf upload {repo} {output_dir}`."
        ) from failure
    return qa
