"""Diffusion SFT configuration: mask tokens, bad configs, the recipes and the script."""

import math
import os

import pytest
import torch
import yaml
from diffusion_helpers import (
    MASK,
    ROOT,
    config,
    make_trainer,
)
from tiny import make_tiny_model, make_tiny_tokenizer, save_tiny_model

from trl_maskft.diffusion_sft.config import DiffusionSFTConfig


def test_bad_mask_tokens_are_refused(tmp_path):
    with pytest.raises(ValueError, match="pad token"):
        make_trainer(tmp_path, mask_token=None, mask_token_id=0)  # the tiny tokenizer pads with id 0
    with pytest.raises(ValueError, match="outside the tokenizer's vocabulary"):
        make_trainer(tmp_path, mask_token=None, mask_token_id=5000)
    tokenizer = make_tiny_tokenizer()
    model = make_tiny_model(tokenizer)
    tokenizer.add_special_tokens({"extra_special_tokens": ["<|new|>"]}, replace_extra_special_tokens=False)
    with pytest.raises(ValueError, match="embedding matrix"):
        make_trainer(tmp_path, tokenizer=tokenizer, model=model, mask_token="<|new|>")


def test_add_mask_token_resizes_the_embeddings(tmp_path):
    trainer = make_trainer(tmp_path, mask_token="<|diffusion_mask|>", add_mask_token=True)
    vocab = len(trainer.processing_class)
    assert trainer.mask_token_id == vocab - 1 == 1000
    assert trainer.model.get_input_embeddings().num_embeddings == vocab


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(packing=True), "packing"),
        (dict(padding_free=True), "packing"),
        (dict(t_min=0.6, t_max=0.5), "t_min"),
        (dict(t_max=1.5), "t_max"),
        (dict(eps=1.0), "eps"),
        (dict(t_max=0.0, eps=0.0), "nothing is ever masked"),
        (dict(t_scope="step"), "t_scope"),
        (dict(loss_normalization="tokens"), "loss_normalization"),
        (dict(mask_token=None), "mask_token"),
        (dict(add_mask_token=True, mask_token=None, mask_token_id=3), "add_mask_token"),
        (dict(completion_only_loss=False), "completion_only_loss"),
    ],
)
def test_bad_configs_are_refused(tmp_path, overrides, match):
    with pytest.raises(ValueError, match=match):
        config(tmp_path, **overrides)


@pytest.mark.parametrize("model", ["llada-8b-instruct", "smollm2-135m-instruct"])
def test_recipes_parse_strictly(model):
    from trl_maskft.scripts.diffusion_sft import make_parser

    recipe = os.path.join(ROOT, "recipes", model, "diffusion_sft", "config_people.yaml")
    # bf16 (the LLaDA recipe) is validated against the hardware: on a machine without a GPU, parse it for the CPU
    cpu = [] if torch.cuda.is_available() else ["--use_cpu", "true"]
    parsed = make_parser().parse_args_and_config(["--config", recipe, *cpu])
    script_args, training_args, model_args, sampling_args, _ = parsed
    with open(recipe) as f:
        assert set(yaml.safe_load(f)) <= {key for obj in parsed for key in vars(obj)}
    assert isinstance(training_args, DiffusionSFTConfig) and script_args.dataset_name == "people"
    if model == "llada-8b-instruct":
        assert training_args.trust_remote_code and training_args.mask_token_id == 126336
        assert not training_args.bidirectional and math.isclose(training_args.warmup_steps, 0.02)
    else:
        assert training_args.add_mask_token and training_args.bidirectional and training_args.use_cpu
    assert sampling_args.qa_block_length >= 1


def test_script_trains_and_answers_with_the_sampler(tmp_path):
    from trl_maskft.scripts.diffusion_sft import main

    qa = main(
        [
            "--model_name_or_path", save_tiny_model(tmp_path / "model"), "--output_dir", str(tmp_path / "out"),
            "--num_people", "4", "--qa_max_items", "4", "--qa_max_new_tokens", "8", "--qa_block_length", "4",
            "--mask_token", MASK, "--num_train_epochs", "1", "--per_device_train_batch_size", "4",
            "--use_cpu", "true", "--bf16", "false", "--activation_checkpointing", "false",
            "--save_strategy", "no", "--report_to", "none",
        ]
    )  # fmt: skip
    assert [record["epoch"] for record in qa.history] == [0, 1]
    assert (tmp_path / "out" / "qa_generations" / "epoch_1.jsonl").exists()


def test_smollm2_recipe_shifts_and_llada_does_not():
    from trl_maskft.scripts.diffusion_sft import make_parser

    for model, shift in [("smollm2-135m-instruct", True), ("llada-8b-instruct", False)]:
        recipe = os.path.join(ROOT, "recipes", model, "diffusion_sft", "config_people.yaml")
        training_args = make_parser().parse_args_and_config(["--config", recipe, "--use_cpu", "true"])[1]
        assert training_args.shift_logits is shift
