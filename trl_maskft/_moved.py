"""The module paths of trl-maskft 0.1 before the package was grouped into folders (issue 19), kept for one release.

Importing an old path (`trl_maskft.masked_sft_trainer`, `trl_maskft.metrics`, `trl_maskft.bench.harness`, ...) emits a
`FutureWarning` naming the new path and gives the very module of the new path (the same objects, so that patching
either name patches both); the few old modules whose names went to several new ones (`MOVED_NAMES`) give a module
that finds each name where it went. The old paths are aliases found by `MovedModuleFinder`, not files; remove this
module, and its `install()` in `trl_maskft/__init__.py`, in the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

# old path -> new path, both under `trl_maskft.`; a submodule of an old package path moves with it
MOVED = {
    "answering": "evaluation.answering",
    "bench": "evaluation.lm_eval",
    "best_epoch": "evaluation.best_epoch",
    "best_metric": "evaluation.best_metric",
    "callbacks": "evaluation.qa_callback",
    "checkpoints": "runtime.checkpoints",
    "chunking": "training.chunking",
    "collators": "masked_sft.collator",
    "data.sampling": "data.qa_sample",
    "data_report": "training.data_report",
    "diffusion": "diffusion_sft.noise",
    "diffusion_sft_config": "diffusion_sft.config",
    "diffusion_sft_trainer": "diffusion_sft.trainer",
    "disk_space": "runtime.disk_space",
    "distributed_defaults": "runtime.distributed_defaults",
    "extras": "evaluation.extras",
    "formatting": "masked_sft.chats",
    "fsdp_checks": "runtime.fsdp_checks",
    "generation": "evaluation.generation",
    "hub": "runtime.hub",
    "loss_report": "evaluation.loss_report",
    "mask_token_check": "training.mask_token",
    "masked_data": "masked_sft.data",
    "masked_sft_config": "masked_sft.config",
    "masked_sft_trainer": "masked_sft.trainer",
    "masking": "masked_sft.masking",
    "metrics": "evaluation.qa_scoring",
    "model_card": "evaluation.model_card",
    "model_folder": "runtime.model_folder",
    "models": "runtime.default_model",
    "packing": "training.packing",
    "parsing": "pipeline.recipe_parser",
    "precision": "runtime.precision",
    "preemption": "runtime.preemption",
    "recipe_checks": "runtime.recipe_checks",
    "reporting": "evaluation.reporting",
    "resume_recipe": "runtime.resume_recipe",
    "run_config": "runtime.run_config",
    "run_folder": "runtime.run_folder",
    "run_lock": "runtime.run_lock",
    "run_manifest": "runtime.run_manifest",
    "safe_checkpoints": "runtime.safe_checkpoints",
    "sampling": "diffusion_sft.sampler",
    "scheduled_eval": "evaluation.scheduled",
    "scripts.arguments": "pipeline.arguments",
    "scripts.inputs": "pipeline.inputs",
    "scripts.run": "pipeline.run",
    "segment_attention": "training.segment_attention",
    "selected_logits": "training.selected_logits",
    "selection": "evaluation.selection",
    "sft_config": "baselines.config",
    "sft_trainer": "baselines.trainer",
    "sharding": "runtime.sharding",
    "tasks": "evaluation.tasks",
    "text_files": "runtime.text_files",
    "truncation_counting": "training.truncation_counting",
}

# names that left their 0.1 module for a module of their own folder: old path -> {name: new module}
MOVED_NAMES = {
    "answering": {"DiffusionAnswerer": "diffusion_sft.answerer"},
    "diffusion": {"accepts_logits_to_keep": "training.selected_logits"},
    "formatting": {"IGNORE_INDEX": "common", "resolve_mask_token_id": "training.mask_token", "system_turn": "common"},
    "masked_sft_trainer": {"PAPER": "common"},
    "masking": {"EVAL_STREAM": "common", "TRAIN_STREAM": "common"},
    "parsing": {"bullet_list": "runtime.recipe_checks"},
}


def new_path(name: str) -> str | None:
    """The new full module path of the old full path `name` (None when `name` did not move)."""
    if not name.startswith("trl_maskft."):
        return None
    parts = name[len("trl_maskft.") :].split(".")
    for i in range(len(parts), 0, -1):
        old = ".".join(parts[:i])
        if old in MOVED:
            return ".".join(["trl_maskft", MOVED[old], *parts[i:]])
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        warnings.warn(
            f"`{spec.name}` moved to `{self.new}`; the old path will be removed in the next release of trl-maskft.",
            FutureWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.new)
        names = MOVED_NAMES.get(spec.name.removeprefix("trl_maskft."))
        return module if names is None else _WithMovedNames(spec.name, module, names)

    def exec_module(self, module):
        pass  # the module of the new path is imported already


class _WithMovedNames(types.ModuleType):
    """An old module whose names are now in several modules: the names of the new module, and `names` (name -> new
    module) from theirs."""

    def __init__(self, name: str, module: types.ModuleType, names: dict[str, str]):
        super().__init__(name, module.__doc__)
        self._module, self._names = module, names

    def __getattr__(self, name: str):
        if name in self._names:
            return getattr(importlib.import_module(f"trl_maskft.{self._names[name]}"), name)
        return getattr(self._module, name)


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds an old module path and loads it as the module of its new path."""

    def find_spec(self, fullname, path=None, target=None):
        new = new_path(fullname)
        return None if new is None else importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
