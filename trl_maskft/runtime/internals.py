"""Every private method or attribute of TRL, transformers, accelerate, datasets and torch that the package relies on,
with the parameters it uses, in one list (`INTERNALS`); `tests/test_internals.py` checks that each still exists with
those parameters, so that a release that moves one fails one clear test instead of training wrongly.

The places that set an `args` or trainer attribute for a moment and put it back (each in a `try`/`finally`):

- `runtime/safe_checkpoints.py`, `SafeCheckpointsMixin._writing_checkpoint_into`: `self._get_output_dir` (an instance
  attribute over `Trainer._get_output_dir`), `args.push_to_hub` and `args.save_total_limit`, around
  `Trainer._save_checkpoint`, so that it writes into the staging folder and neither pushes nor rotates;
- `training/truncation_counting.py`, `TruncationCountingMixin._prepare_dataset`: `args.max_length` and
  `args.shuffle_dataset`, around the first `SFTTrainer._prepare_dataset`, to tokenize without cutting;
- `masked_sft/trainer.py`, `_packing_left_to_our_collator`: `args.packing` and `args.padding_free`, around
  `SFTTrainer.__init__`, which would refuse the masking collator;
- `training/replay_trainer.py`, `ReplayTrainerMixin._collating_for_eval`: `self.data_collator`, around the evaluation
  and test dataloaders: the method's collator without replay rows (masked SFT: its evaluation masks);
- `runtime/hub.py`, `HubPublishing.training`: `args.push_to_hub`, on while `trainer.train()` pushes checkpoints;
- `runtime/sharding.py`, `fsdp_on_cpu`: `AcceleratorState.__init__` (and `PartialState._shared_state`), while the
  trainer is built, so that CPU processes shard with FSDP.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Internal:
    """A private name the package relies on: `name` of `owner` (a dotted path: a class, or a module for `kind`
    "module"), where it is used (`used_by`), and for a method the parameters the package passes or overrides, in
    their positional order after `self` (`params`)."""

    owner: str
    name: str
    used_by: str
    params: tuple[str, ...] = ()
    kind: str = "method"  # "method", "attribute" (of the class, or set on `self` in its code) or "module"


INTERNALS = (
    # transformers.Trainer: the methods the mixins override or call, and what they read
    Internal("transformers.Trainer", "_save_checkpoint", "runtime/safe_checkpoints.py", ("model", "trial")),
    Internal("transformers.Trainer", "_get_output_dir", "runtime/safe_checkpoints.py", ("trial",)),
    Internal("transformers.Trainer", "_push_from_checkpoint", "runtime/safe_checkpoints.py", ("checkpoint_folder",)),
    Internal("transformers.Trainer", "_load_optimizer_and_scheduler", "runtime/safe_checkpoints.py", ("checkpoint",)),
    Internal("transformers.Trainer", "_init_training_state", "runtime/safe_checkpoints.py", ("max_steps",)),
    Internal("transformers.Trainer", "_issue_warnings_after_load", "runtime/safe_checkpoints.py", ("load_result",)),
    Internal(
        "transformers.Trainer", "_load_rng_state", "runtime/checkpoints.py (the RNG files it reads)", ("checkpoint",)
    ),
    Internal("transformers.Trainer", "_load_best_model", "evaluation/best_epoch.py"),
    Internal("transformers.Trainer", "_set_signature_columns_if_needed", "masked_sft/trainer.py"),
    Internal("transformers.Trainer", "_signature_columns", "masked_sft/trainer.py", kind="attribute"),
    Internal("transformers.Trainer", "init_hf_repo", "runtime/hub.py"),
    # trl.SFTTrainer
    Internal(
        "trl.SFTTrainer",
        "_prepare_dataset",
        "training/truncation_counting.py",
        ("dataset", "processing_class", "args", "packing", "formatting_func", "dataset_name"),
    ),
    Internal(
        "trl.SFTTrainer",
        "_metrics",
        "training/selected_logits.py, training/replay_trainer.py, diffusion_sft/trainer.py",
        kind="attribute",
    ),
    Internal("trl.SFTTrainer", "_total_train_tokens", "training/selected_logits.py", kind="attribute"),
    Internal("trl.SFTTrainer", "_tag_names", "the trainers' model cards", kind="attribute"),
    # TRL names outside its public API
    Internal("trl.trainer.utils", "get_config_model_id", "the trainers, evaluation/model_card.py", kind="module"),
    Internal("trl.trainer.sft_trainer", "DataCollatorForLanguageModeling", "masked_sft/collator.py", kind="module"),
    Internal("trl.chat_template_utils", "get_training_chat_template", "diffusion_sft/trainer.py", kind="module"),
    Internal("trl.models.utils", "unwrap_model_for_generation", "evaluation/scheduled.py", kind="module"),
    # transformers models and configs
    Internal("transformers.PreTrainedModel", "_no_split_modules", "runtime/fsdp_checks.py", kind="attribute"),
    Internal(
        "transformers.PretrainedConfig",
        "_attn_implementation",
        "training/packing.py, diffusion_sft/noise.py",
        kind="attribute",
    ),
    Internal("transformers.PretrainedConfig", "_name_or_path", "runtime/default_model.py", kind="attribute"),
    # accelerate
    Internal("accelerate.state.PartialState", "_shared_state", "runtime/sharding.py", kind="attribute"),
    Internal("accelerate.state.AcceleratorState", "__init__", "runtime/sharding.py", ("fsdp_plugin",)),
    # datasets and torch
    Internal("datasets.Dataset", "_indices", "training/data_report.py", kind="attribute"),
    Internal("torch.optim.lr_scheduler.LRScheduler", "_last_lr", "runtime/resume_recipe.py", kind="attribute"),
)


def resolve(path: str):
    """The object of the dotted `path` (a module, or an attribute of one)."""
    module, _, attribute = path.rpartition(".")
    try:
        return importlib.import_module(path)
    except ImportError:
        return getattr(importlib.import_module(module), attribute)


def _set_in_code(cls: type, name: str) -> bool:
    """Whether the code of `cls` or of a class it derives from sets `self.<name>`."""
    pattern = re.compile(rf"\bself\.{re.escape(name)}\s*(:[^=\n]*)?=")
    for klass in cls.__mro__:
        try:
            if pattern.search(inspect.getsource(klass)):
                return True
        except (OSError, TypeError):  # built-in classes have no source
            continue
    return False


def _positional(function) -> list[str]:
    parameters = list(inspect.signature(function).parameters.values())
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keyword = [p.name for p in parameters if p.kind == p.KEYWORD_ONLY]
    return [name for name in names if name != "self"] + keyword


def problem(internal: Internal) -> str | None:
    """What is wrong with `internal` in the installed releases (None: it exists, with its parameters)."""
    where = f"`{internal.owner}.{internal.name}` (used by trl_maskft/{internal.used_by})"
    try:
        owner = resolve(internal.owner)
    except (ImportError, AttributeError) as error:
        return f"{where}: `{internal.owner}` cannot be imported ({error})"
    if internal.kind == "attribute":
        if hasattr(owner, internal.name) or _set_in_code(owner, internal.name):
            return None
        return f"{where}: the attribute is gone from the installed release; adapt the code that uses it"
    if not hasattr(owner, internal.name):
        return f"{where}: it is gone from the installed release; adapt the code that uses or overrides it"
    if internal.kind == "module":
        return None
    found = _positional(getattr(owner, internal.name))
    wanted = list(internal.params)
    if internal.name == "__init__" and all(name in found for name in wanted):
        return None  # keyword parameters of a constructor, passed by name
    if found[: len(wanted)] != wanted:
        return (
            f"{where}: the package passes or overrides the parameters {wanted}, the installed release takes {found}; "
            "adapt the override or the call"
        )
    return None
