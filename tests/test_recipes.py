import glob
import importlib
import os

import pytest
import torch
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = sorted(glob.glob(os.path.join(ROOT, "recipes", "*", "*", "*.yaml")))
# GPU recipes ask for bf16, which TrainingArguments checks against the hardware: parse them as CPU runs here.
CPU = [] if torch.cuda.is_available() else ["--use_cpu", "true"]


def parser_for(recipe: str):
    method = os.path.basename(os.path.dirname(recipe))
    return importlib.import_module(f"trl_maskft.scripts.{method}").make_parser()


def test_recipe_layout():
    assert RECIPES
    for recipe in RECIPES:
        model, method, name = os.path.relpath(recipe, os.path.join(ROOT, "recipes")).split(os.sep)
        assert name.startswith("config_") and name.endswith(".yaml"), recipe
        assert importlib.util.find_spec(f"trl_maskft.scripts.{method}"), f"no script for {recipe}"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: os.path.relpath(p, ROOT))
def test_recipe_parses_strictly(recipe):
    parsed = parser_for(recipe).parse_args_and_config(["--config", recipe, *CPU])
    values = {}
    for obj in parsed:
        values.update(vars(obj))
    with open(recipe) as f:
        config = yaml.safe_load(f)
    for key in config:
        assert key in values, f"{key} not consumed"
    for path_key in ("dataset_name", "qa_file"):
        value = config.get(path_key)
        if value and (value.endswith(".jsonl") or value.endswith(".txt")):
            assert os.path.exists(os.path.join(ROOT, value)), f"{recipe} names a missing file {value}"


def test_unknown_recipe_key_is_an_error(tmp_path):
    recipe = RECIPES[0]
    with open(recipe) as f:
        config = yaml.safe_load(f)
    config["evaluation_strategy"] = "epoch"  # an old key name
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="evaluation_strategy"):
        parser_for(recipe).parse_args_and_config(["--config", str(bad), *CPU])


def test_accelerate_configs_load_with_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    configs = sorted(glob.glob(os.path.join(ROOT, "accelerate_configs", "*.yaml")))
    names = {os.path.basename(c) for c in configs}
    expected = ["ddp", "fsdp2", "zero2", "zero3", "single_device", "cpu", "cpu_ddp2"]
    assert {f"{name}.yaml" for name in expected} <= names
    for path in configs:
        config = load_config_from_file(path)
        assert config.num_processes >= 1
