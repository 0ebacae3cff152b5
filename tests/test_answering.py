"""Answerers: one object holds every setting of how questions are answered, and describes itself for model cards."""

import pytest
from transformers import GenerationConfig

from trl_maskft import DiffusionAnswerer, DiffusionSFTConfig, GreedyAnswerer
from trl_maskft.evaluation.generation import greedy_config


def test_greedy_quick_start_carries_the_generation_config_and_system_prompt():
    answerer = GreedyAnswerer(GenerationConfig(max_new_tokens=7, do_sample=False, repetition_penalty=1.2), 3)
    assert answerer.generation_kwargs() == {"max_new_tokens": 7, "do_sample": False, "repetition_penalty": 1.2}
    start = answerer.quick_start("me/model", system_prompt="Be brief.", trust_remote_code=True)
    assert 'pipeline("text-generation", model="me/model", trust_remote_code=True)' in start
    assert "max_new_tokens=7, do_sample=False, repetition_penalty=1.2, return_full_text=False" in start
    assert "{'role': 'system', 'content': 'Be brief.'}" in start
    assert "system" not in GreedyAnswerer().quick_start("m")  # the template's default system prompt
    assert GreedyAnswerer().generation_config.max_new_tokens == 128  # the paper's budget
    assert greedy_config(5).to_diff_dict()["do_sample"] is False


def test_diffusion_answerer_checks_its_settings_when_built():
    with pytest.raises(ValueError, match="needs the mask token"):
        DiffusionAnswerer()
    with pytest.raises(ValueError, match="multiple of `block_length`"):
        DiffusionAnswerer("<|mask|>", max_new_tokens=10, block_length=4)
    with pytest.raises(ValueError, match="multiple of the number of blocks"):
        DiffusionAnswerer("<|mask|>", max_new_tokens=8, steps=3, block_length=4)
    assert DiffusionAnswerer("<|mask|>", max_new_tokens=8, block_length=4).num_steps == 8


def test_diffusion_answerer_samples_as_the_config_trains(tmp_path):
    args = DiffusionSFTConfig(
        str(tmp_path), mask_token_id=7, bidirectional=False, shift_logits=True, seed=5, use_cpu=True, bf16=False
    )
    answerer = DiffusionAnswerer.for_training(args, max_new_tokens=8, block_length=2, cfg_scale=0.5)
    assert (answerer.mask_token, answerer.mask_token_id, answerer.bidirectional, answerer.shift_logits) == (
        None, 7, False, True,
    )  # fmt: skip
    assert (answerer.seed, answerer.max_new_tokens, answerer.block_length, answerer.cfg_scale) == (5, 8, 2, 0.5)
    start = answerer.quick_start("me/dllm", system_prompt="Hi.", trust_remote_code=True)
    for text in ("mask_token_id=7,", "bidirectional=False,", "shift_logits=True,", "block_length=2,", "seed=5,"):
        assert text in start, text
    assert "mask_token=" not in start and "batch_size" not in start
    assert 'from_pretrained("me/dllm", trust_remote_code=True)' in start and "system_prompt='Hi.'" in start
