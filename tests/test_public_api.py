"""The public API (`trl_maskft.__init__`) and the module paths of 0.1, kept for one release as aliases that warn."""

import importlib
import inspect
import sys
import warnings

import processes
import pytest
from transformers import TrainerCallback, TrainingArguments
from trl import SFTTrainer

import trl_maskft
from trl_maskft._moved import MOVED, MOVED_NAMES

# old path -> new path of the modules README, docs, recipes or the model card's quick start showed
SHOWN_PATHS = {
    "answering": "evaluation.answering",
    "bench": "evaluation.lm_eval",
    "bench.harness": "evaluation.lm_eval.harness",
    "best_epoch": "evaluation.best_epoch",
    "callbacks": "evaluation.qa_callback",
    "checkpoints": "runtime.checkpoints",
    "chunking": "training.chunking",
    "collators": "masked_sft.collator",
    "data_report": "training.data_report",
    "diffusion": "diffusion_sft.noise",
    "diffusion_sft_config": "diffusion_sft.config",
    "diffusion_sft_trainer": "diffusion_sft.trainer",
    "fsdp_checks": "runtime.fsdp_checks",
    "generation": "evaluation.generation",
    "loss_report": "evaluation.loss_report",
    "masked_sft_config": "masked_sft.config",
    "masked_sft_trainer": "masked_sft.trainer",
    "masking": "masked_sft.masking",
    "metrics": "evaluation.qa_scoring",
    "models": "runtime.default_model",
    "resume_recipe": "runtime.resume_recipe",
    "run_folder": "runtime.run_folder",
    "sampling": "diffusion_sft.sampler",
    "scheduled_eval": "evaluation.scheduled",
    "segment_attention": "training.segment_attention",
    "sft_config": "baselines.config",
    "sft_trainer": "baselines.trainer",
    "sharding": "runtime.sharding",
    "tasks.gsm8k": "evaluation.tasks.gsm8k",
    "tasks.math": "evaluation.tasks.math",
    "truncation_counting": "training.truncation_counting",
}


def fresh_import(name: str):
    """Import the old path `name` as a first import would (its alias forgotten, never a module of the new paths),
    recording the warnings."""
    for loaded in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
        del sys.modules[loaded]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(name)
    return module, [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]


def test_the_api_exports_every_trainer_config_callback_and_collator():
    exported = {name: getattr(trl_maskft, name) for name in trl_maskft.__all__ if name != "__version__"}
    kinds = {
        "trainer": [name for name, obj in exported.items() if inspect.isclass(obj) and issubclass(obj, SFTTrainer)],
        "config": [
            name for name, obj in exported.items() if inspect.isclass(obj) and issubclass(obj, TrainingArguments)
        ],
        "callback": [
            name for name, obj in exported.items() if inspect.isclass(obj) and issubclass(obj, TrainerCallback)
        ],
    }
    assert sorted(kinds["trainer"]) == ["BaselineSFTTrainer", "DiffusionSFTTrainer", "MaskedSFTTrainer"]
    assert sorted(kinds["config"]) == ["BaselineSFTConfig", "DiffusionSFTConfig", "MaskedSFTConfig"]
    callbacks = ("QAEvalCallback", "BenchmarkCallback", "TaskEvalCallback", "BestEpochCallback", "LossReport")
    for callback in (*callbacks, "RetentionCallback"):
        assert callback in kinds["callback"]
    assert "DataCollatorForMaskedSFT" in exported and "BenchmarkConfig" in exported and "RetentionConfig" in exported


@pytest.mark.parametrize(("old", "new"), sorted(SHOWN_PATHS.items()))
def test_an_old_module_path_warns_and_gives_the_new_module(old, new):
    new_module = importlib.import_module(f"trl_maskft.{new}")
    module, messages = fresh_import(f"trl_maskft.{old}")
    assert f"`trl_maskft.{old}` moved to `trl_maskft.{new}`" in "\n".join(messages)
    if old in MOVED_NAMES:  # a module whose names went to several new modules finds each
        assert all(getattr(module, name) is getattr(new_module, name) for name in vars(new_module) if name[0] != "_")
        for name, home in MOVED_NAMES[old].items():
            assert getattr(module, name) is getattr(importlib.import_module(f"trl_maskft.{home}"), name)
    else:
        assert module is new_module


def test_every_moved_path_leads_to_a_module():
    for old, new in MOVED.items():
        assert importlib.util.find_spec(f"trl_maskft.{new}") is not None, (old, new)


def test_the_old_name_of_the_baselines_trainer_warns_and_is_the_new_one():
    from trl_maskft.baselines import trainer

    with pytest.warns(FutureWarning, match="`SFTBaselineTrainer` is now `BaselineSFTTrainer`"):
        assert trainer.SFTBaselineTrainer is trl_maskft.BaselineSFTTrainer


def test_a_new_path_and_the_api_do_not_warn():
    # in a process of its own: importing a module afresh here would leave the scripts with its older classes
    code = "import trl_maskft, trl_maskft.masked_sft.trainer, trl_maskft.evaluation.lm_eval.harness"
    done = processes.run([sys.executable, "-W", "error::FutureWarning", "-c", code], timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
