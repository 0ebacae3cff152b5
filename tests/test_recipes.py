import enum
import glob
import importlib
import os
import re

import pytest
import torch
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = sorted(glob.glob(os.path.join(ROOT, "recipes", "*", "*", "*.yaml")))
# GPU recipes ask for bf16, which TrainingArguments checks against the hardware: parse them as CPU runs here.
CPU = [] if torch.cuda.is_available() else ["--use_cpu", "true"]


def recipe_parts(recipe: str) -> list[str]:
    """`[model, method, file name]` of a recipe path."""
    return os.path.relpath(recipe, os.path.join(ROOT, "recipes")).split(os.sep)


# The paper's settings (arXiv 2510.09885 v6) at paper scale: learning rate per (model, method), 5e-6 for the
# autoregressive baselines (plain, paraphrase and reverse SFT); the rest is common to all.
AR_PAPER_MODELS = ("llama-3.1-8b-instruct", "qwen3-4b-instruct-2507")
# The paper's math SFT (Sec. 4.5, App. A.12) runs on Llama-3.2-3B-Instruct and Qwen3-4B-Instruct-2507.
GSM8K_PAPER_MODELS = ("llama-3.2-3b-instruct", "qwen3-4b-instruct-2507")
PAPER_MODELS = {
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "llama-3.2-3b-instruct": "meta-llama/Llama-3.2-3B-Instruct",
    "qwen3-4b-instruct-2507": "Qwen/Qwen3-4B-Instruct-2507",
    "llada-8b-instruct": "GSAI-ML/LLaDA-8B-Instruct",
}
# The Webscale-RL recipes have their own settings (App. A.12; tests/test_corpus_recipes.py)
PAPER_RECIPES = [r for r in RECIPES if recipe_parts(r)[0] in PAPER_MODELS and "webscale" not in recipe_parts(r)[2]]
PAPER_LEARNING_RATES = {
    ("llama-3.1-8b-instruct", "masked_sft"): 3e-6,
    ("qwen3-4b-instruct-2507", "masked_sft"): 5e-6,
    ("llada-8b-instruct", "diffusion_sft"): 1e-5,
    # GSM8K: the paper's math rates are only plotted (Figs. 17-18); the recipes take its knowledge rates (App. A.4)
    ("llama-3.2-3b-instruct", "masked_sft"): 5e-6,
}
AR_BASELINES = ("sft", "paraphrase_sft", "reverse_sft")
LORA_LR_FACTOR = 20  # the paper-scale LoRA recipes' learning rate over the paper's full fine-tuning one
PAPER_SETTINGS = {
    "optim": "adamw_torch",
    "weight_decay": 0.1,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "lr_scheduler_type": "constant_with_warmup",  # constant after the warm-up
    "warmup_steps": 0.02,  # below 1: a fraction of the steps, 2%
    "bf16": True,
}
GLOBAL_BATCH = 64  # App. A.4
GSM8K_GLOBAL_BATCH = 32  # App. A.12
GSM8K_EPOCHS = 7  # App. A.12: "maximum training epoch to 7", the best test accuracy across training
MATH_GLOBAL_BATCH = 16  # App. A.12, with training pairs over 512 tokens removed and math-verify scoring
MATH_TASKS = ("gsm8k", "math")


def parser_for(recipe: str):
    return importlib.import_module(f"trl_maskft.scripts.{recipe_parts(recipe)[1]}").make_parser()


def parsed_values(recipe: str) -> dict:
    """Every argument of `recipe` as its script parses it (enums by their value)."""
    values = {}
    for obj in parser_for(recipe).parse_args_and_config(["--config", recipe, *CPU]):
        values.update(vars(obj))
    return {key: value.value if isinstance(value, enum.Enum) else value for key, value in values.items()}


def test_recipe_layout():
    assert RECIPES
    for recipe in RECIPES:
        _, method, name = recipe_parts(recipe)
        assert name.startswith("config_") and name.endswith(".yaml"), recipe
        assert importlib.util.find_spec(f"trl_maskft.scripts.{method}"), f"no script for {recipe}"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: os.path.relpath(p, ROOT))
def test_recipe_parses_to_its_values(recipe):
    values = parsed_values(recipe)
    with open(recipe) as f:
        config = yaml.safe_load(f)
    for key, value in config.items():
        if key == "report_to" and value == "none":
            value = []  # transformers reads "none" as no integration
        assert values[key] == value, f"{recipe}: {key} parsed as {values[key]!r}, not {value!r}"


@pytest.mark.parametrize("recipe", PAPER_RECIPES, ids=lambda p: os.path.relpath(p, ROOT))
def test_paper_scale_recipes_use_the_papers_hyperparameters(recipe):
    from accelerate.commands.config.config_args import load_config_from_file

    model, method, name = recipe_parts(recipe)
    values = parsed_values(recipe)
    assert values["model_name_or_path"] == PAPER_MODELS[model]
    expected_lr = 5e-6 if method in AR_BASELINES else PAPER_LEARNING_RATES[model, method]
    if values.get("use_peft"):  # a LoRA moves the model less per step (docs/keeping_knowledge.md)
        expected_lr *= LORA_LR_FACTOR
    assert values["learning_rate"] == pytest.approx(expected_lr)
    assert {key: values[key] for key in PAPER_SETTINGS} == PAPER_SETTINGS
    with open(recipe) as f:
        text = f.read()
    launch = re.search(r"--config_file (accelerate_configs/\S+\.yaml)", text)
    assert launch, f"{recipe} names no accelerate config in its header"
    num_processes = load_config_from_file(os.path.join(ROOT, launch[1])).num_processes
    task = values.get("task")
    math_task = task in MATH_TASKS
    batch = {"gsm8k": GSM8K_GLOBAL_BATCH, "math": MATH_GLOBAL_BATCH}.get(task, GLOBAL_BATCH)
    assert values["per_device_train_batch_size"] * values["gradient_accumulation_steps"] * num_processes == batch
    # GSM8K and MATH: at most 7 epochs, evaluated after every one (the best is reported), answers of up to 256 new
    # tokens; the knowledge recipes answer in up to 128.
    assert values["qa_max_new_tokens"] == (256 if math_task else 128)
    if math_task:
        assert model in GSM8K_PAPER_MODELS and method in ("sft", "masked_sft")
        assert values["num_train_epochs"] == GSM8K_EPOCHS
        assert values["qa_eval_every"] == 1 and values["qa_eval_epochs"] is None
    if task == "math":  # lm-eval with math-verify after every epoch; pairs over 512 tokens dropped
        assert values["max_train_tokens"] == 512 and values["bench_tasks"] == ["maskft_math"]
        assert values["bench_max_new_tokens"] == 256 and values["bench_num_fewshot"] == 0
        assert values["bench_apply_chat_template"] and values["bench_limit"] is None
        assert values["bench_eval_every"] == 1 and values["bench_eval_epochs"] is None
    elif method == "sft":
        # Plain SFT in the chat format of v6's Tables 1 and 5 (Sec. 4.1); `--sft_format text` is the App. A.10 ablation
        assert values["sft_format"] == "chat" and values["sft_prompt"] == "Tell me a fact."
    if model.startswith("llama-") and method == "masked_sft":
        assert values["mask_token_id"] == 128013  # the paper's Llama mask token
    ablation = re.search(r"_t(\d{3})\.yaml$", name)  # fixed mask ratio t = 0.25, 0.5, 0.75
    if ablation:
        assert values["mask_ratio_mode"] == "fixed" and values["mask_ratio"] == int(ablation[1]) / 100


def test_paper_scale_recipes_cover_every_arm_and_the_mask_ratio_ablation():
    names = {tuple(recipe_parts(r)) for r in PAPER_RECIPES}
    for model in AR_PAPER_MODELS:
        for method in (*AR_BASELINES, "masked_sft"):
            for dataset in ("biographies", "name_description", "wiki"):
                assert (model, method, f"config_{dataset}.yaml") in names
        # v6 Fig. 4: the fixed mask-ratio ablation runs on NameDescription (no Biography ablation)
        for t in ("025", "050", "075"):
            assert (model, "masked_sft", f"config_name_description_t{t}.yaml") in names
            assert (model, "masked_sft", f"config_biographies_t{t}.yaml") not in names
    # v6 Table 4 / App. A.12: GSM8K SFT and masked SFT of Llama-3.2-3B and Qwen3-4B only
    for dataset in MATH_TASKS:
        runs = {(model, method) for model, method, name in names if name == f"config_{dataset}.yaml"}
        assert runs == {(model, method) for model in GSM8K_PAPER_MODELS for method in ("sft", "masked_sft")}


def test_unknown_recipe_key_is_an_error(tmp_path):
    recipe = RECIPES[0]
    with open(recipe) as f:
        config = yaml.safe_load(f)
    config["evaluation_strategy"] = "epoch"  # an old key name
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="evaluation_strategy"):
        parser_for(recipe).parse_args_and_config(["--config", str(bad), *CPU])


def test_cpu_recipes_state_their_precision():
    """Every CPU recipe states its precision, `bf16: false` (fp32), instead of leaving it to a default."""
    cpu_recipes = []
    for recipe in RECIPES:
        with open(recipe) as f:
            config = yaml.safe_load(f)
        if config.get("use_cpu"):
            cpu_recipes.append(recipe)
            assert config.get("bf16") is False, f"{recipe}: a CPU recipe must set `bf16: false` (fp32) explicitly"
            assert not config.get("fp16"), f"{recipe}: fp16 does not run on a CPU"
    assert cpu_recipes


@pytest.mark.parametrize("method", ["masked_sft", "sft"])
def test_cpu_math_recipes_state_fp32_and_score_local_samples(method):
    recipe = os.path.join(ROOT, "recipes", "smollm2-135m-instruct", method, "config_math.yaml")
    with open(recipe) as f:
        config = yaml.safe_load(f)
    assert config["bf16"] is False and config["dtype"] == "float32" and config["use_cpu"] is True  # no autocast
    assert config["task"] == "math" and config["max_train_tokens"] == 512
    assert set(config["bench_tasks"]) == {"maskft_math", "maskft_gpqa_diamond"}
    for entry in config["bench_data"]:
        assert os.path.exists(os.path.join(ROOT, entry.split("=", 1)[1])), entry
