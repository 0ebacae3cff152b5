"""A resumed run trains the recipe of its checkpoint, or says what changed.

Every checkpoint keeps the run's recipe (`RECIPE_FILE`): the resolved value of every key that changes training, the
local data files it reads (size and modification time) and the number of training rows after data preparation. A run
resumed from it with any other value of such a key is refused before training, listing each changed key (old -> new),
unless the key is named in `resume_allow_changes`: then the new value is used (the learning rate of the restored
optimizer and scheduler is the new one; the recipe's `save_steps`, `logging_steps` and `eval_steps` win over those of
`trainer_state.json`) and logged. Keys that do not change what is trained (`IGNORED_KEYS`, `IGNORED_PREFIXES`) are
not compared.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone

from torch.optim.lr_scheduler import LambdaLR

from ..data.corpus_files import is_local, local_files
from .recipe_checks import bullet_list

logger = logging.getLogger(__name__)

RECIPE_FILE = "run_recipe.json"
# Keys that do not change what is trained: where the run goes, how it is saved, resumed, logged and reported, the
# evaluation (`dataset_test_size` is compared: it takes rows from training), and speed or memory settings
IGNORED_KEYS = frozenset(
    {
        # output, saving, resuming, publishing
        "output_dir", "overwrite_run", "resume_from_checkpoint", "resume_allow_changes", "run_name", "project",
        "push_to_hub", "save_strategy", "save_total_limit", "save_on_each_node", "save_only_model",
        "enable_jit_checkpoint", "restore_callback_states_from_checkpoint",
        # logging and reporting
        "report_to", "log_level", "log_level_replica", "log_on_each_node", "logging_strategy", "logging_first_step",
        "logging_nan_inf_filter", "disable_tqdm", "skip_memory_metrics", "include_num_input_tokens_seen", "debug",
        # evaluation
        "eval_strategy", "eval_delay", "eval_on_start", "eval_accumulation_steps", "eval_do_concat_batches",
        "eval_use_gather_object", "eval_packing", "per_device_eval_batch_size", "batch_eval_metrics",
        "prediction_loss_only", "include_for_metrics", "bf16_full_eval", "fp16_full_eval", "do_train", "do_eval",
        "do_predict", "metric_for_best_model", "greater_is_better", "load_best_model_at_end", "dataset_test_split",
        "qa_file", "qa_batch_size", "qa_max_new_tokens", "qa_eval_every", "qa_eval_epochs", "qa_max_items",
        "qa_score", "qa_best_metric", "qa_keep_best", "qa_templates_per_person", "qa_block_length", "qa_steps",
        "qa_cfg_scale", "qa_remasking",
        # speed, memory, processes and hardware
        "dataloader_num_workers", "dataloader_pin_memory", "dataloader_prefetch_factor",
        "dataloader_persistent_workers", "dataloader_multiprocessing_context", "dataset_num_proc",
        "torch_empty_cache_steps", "ddp_timeout", "ddp_backend", "ddp_bucket_cap_mb", "ddp_broadcast_buffers",
        "ddp_find_unused_parameters", "ddp_static_graph", "local_rank", "use_cpu", "gradient_checkpointing",
        "gradient_checkpointing_kwargs", "activation_checkpointing", "activation_checkpointing_kwargs",
        "activation_offloading", "torch_compile", "torch_compile_backend", "torch_compile_mode",
        "attn_implementation", "trust_remote_code", "use_cache",
    }
)  # fmt: skip
IGNORED_PREFIXES = ("bench_", "hub_", "trackio_")
# Keys whose value names local files trained on; their files are compared as `data_files`
DATA_KEYS = ("dataset_name", "paraphrase_file")
# Keys the checkpoint's optimizer state keeps whatever the recipe says: a change needs a new run
OPTIMIZER_STATE_KEYS = ("optim", "optim_args", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon")
# Keys transformers restores from `trainer_state.json` on resume; an allowed change of the recipe wins here
STATE_STEP_KEYS = ("logging_steps", "eval_steps", "save_steps")


def is_compared(key: str) -> bool:
    """Whether a change of `key` on resume changes training (`IGNORED_KEYS`, `IGNORED_PREFIXES`)."""
    return key not in IGNORED_KEYS and not key.startswith(IGNORED_PREFIXES)


def _json_value(value):
    return json.loads(json.dumps(value, default=str))


def _source_files(path: str) -> list[str]:
    """The file `path`, or every file under the folder `path`: what a prefixed source (`biographies:<file>`,
    `name_description:<folder>`) reads."""
    if os.path.isfile(path):
        return [path]
    return sorted(os.path.join(root, name) for root, _, names in os.walk(path) for name in names)


def data_files(value: str) -> dict[str, str]:
    """The local files a data key's `value` names (the corpus files of a file, folder or glob; the files after a
    `source:` prefix), each with its size and modification time; empty for a Hub id or a built-in source."""
    if is_local(value):
        paths = local_files(value)
    else:
        paths = [path for part in value.split(":")[1:] if os.path.exists(part) for path in _source_files(part)]
    described = {}
    for path in paths:
        stat = os.stat(path)
        modified = datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(timespec="seconds")
        described[path] = f"{stat.st_size} bytes, modified {modified}"
    return described


def run_recipe(arguments: Sequence) -> dict:
    """The recipe of a run parsed into the dataclasses `arguments`: every compared key's resolved value and the
    `data_files` of its data keys (`train_rows` is added once the trainer has prepared the data)."""
    values = {
        f.name: _json_value(getattr(args, f.name)) for args in arguments for f in fields(args) if is_compared(f.name)
    }
    files = {}
    for key in DATA_KEYS:
        if isinstance(values.get(key), str):
            files.update(data_files(values[key]))
    return {**values, "data_files": files}


def _change(key: str, old, new) -> str:
    if isinstance(old, dict) and isinstance(new, dict) and key == "data_files":
        parts = [
            f"{path}: {old.get(path, 'absent')} -> {new.get(path, 'absent')}"
            for path in sorted(set(old) | set(new))
            if old.get(path) != new.get(path)
        ]
        return f"`{key}`: " + "; ".join(parts)
    return f"`{key}`: {old!r} -> {new!r}"


def recipe_changes(old: dict, new: dict) -> dict[str, tuple]:
    """The compared keys whose value differs between the recipes `old` and `new`: `{key: (old, new)}`."""
    missing = "(unset)"
    keys = sorted(key for key in set(old) | set(new) if is_compared(key))
    return {key: (old.get(key, missing), new.get(key, missing)) for key in keys if old.get(key) != new.get(key)}


def check_allowed(allowed: Sequence[str], recipe: dict) -> None:
    """`resume_allow_changes` names keys of the recipe that change training, and no key that a resume cannot change."""
    for key in allowed:
        if key in OPTIMIZER_STATE_KEYS:
            raise ValueError(
                f"`resume_allow_changes` names `{key}`, which the checkpoint's optimizer state keeps whatever the "
                "recipe says: to train with another value, start a new run (without `resume_from_checkpoint`)."
            )
        if key not in recipe:
            close = difflib.get_close_matches(key, list(recipe), n=1, cutoff=0.75)
            hint = f"; did you mean `{close[0]}`?" if close else " (a key that does not change training needs none)."
            raise ValueError(f"`resume_allow_changes` names `{key}`, which is no key of this run's recipe{hint}")


def check_resume_recipe(checkpoint: str, recipe: dict, allowed: Sequence[str] = ()) -> dict[str, tuple]:
    """The changes of `recipe` against the one saved in `checkpoint` that `allowed` (`resume_allow_changes`) names,
    each logged; any other change is a `ValueError` listing them all. A checkpoint without a recipe (written by an
    earlier version) is resumed with a warning."""
    check_allowed(allowed, recipe)
    path = os.path.join(checkpoint, RECIPE_FILE)
    if not os.path.isfile(path):
        logger.warning(f"{checkpoint} holds no {RECIPE_FILE} (an earlier version's checkpoint): the recipe is not "
                       "compared with the checkpoint's.")  # fmt: skip
        return {}
    with open(path) as f:
        changes = recipe_changes(json.load(f), recipe)
    refused = [key for key in changes if key not in allowed]
    if refused:
        listed = bullet_list([_change(key, *changes[key]) for key in refused])
        raise ValueError(
            f"The recipe differs from the one {checkpoint} was trained with, in key(s) that change training:{listed}"
            "\nResume with the checkpoint's values, or name the keys you mean to change: `resume_allow_changes: "
            f"[{', '.join(refused)}]` (`--resume_allow_changes {' '.join(refused)}`)."
        )
    for key, (old, new) in changes.items():
        logger.warning(
            f"Resuming {checkpoint} with a changed recipe (`resume_allow_changes`): {_change(key, old, new)}."
        )
    return changes


def apply_learning_rate(optimizer, scheduler, old: float, new: float) -> None:
    """Make the learning rate of an optimizer and scheduler restored from a checkpoint trained at `old` the one of
    `new`: the scheduler's base rates and the current rates scaled by new/old."""

    def scaled(lr: float) -> float:
        return lr * new / old if old else new

    for group in optimizer.param_groups:
        for name in ("lr", "initial_lr"):
            if name in group:
                group[name] = scaled(group[name])
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [scaled(lr) for lr in scheduler.base_lrs]
        if isinstance(scheduler, LambdaLR):  # the current rate from the schedule of this run
            for group, base, lr_lambda in zip(
                optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True
            ):
                group["lr"] = base * lr_lambda(scheduler.last_epoch)
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
