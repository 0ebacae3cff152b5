"""The memory plan and GPU-hour estimate of the paper-scale recipes (benchmarks/memory_plan.py, gpu_hours.py): pure
arithmetic, no model."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


import gpu_hours as hours  # noqa: E402
import memory_plan as plan  # noqa: E402

LLAMA, LLADA = plan.SHAPES["meta-llama/Llama-3.1-8B-Instruct"], plan.SHAPES["GSAI-ML/LLaDA-8B-Instruct"]


def test_shapes_give_the_models_parameter_counts():
    assert LLAMA.params == 8_030_261_248  # Llama-3.1-8B's published count
    assert LLADA.params == pytest.approx(8.02e9, rel=1e-3)
    assert plan.SHAPES["Qwen/Qwen3-4B-Instruct-2507"].params == pytest.approx(4_022_468_096, rel=1e-5)


def test_sharded_states_and_activations():
    n = LLAMA.params
    ddp, fsdp2, zero3 = (plan.state_bytes(LLAMA, s, 8) for s in plan.STRATEGIES)
    assert sum(ddp.values()) == 10 * n  # nothing sharded
    assert fsdp2["parameters"] + fsdp2["gradients"] + fsdp2["optimizer"] == pytest.approx(16 * n / 8)
    assert zero3["parameters"] + zero3["gradients"] + zero3["optimizer"] == pytest.approx(16 * n / 8)
    assert plan.state_bytes(LLAMA, "zero3", 4)["optimizer"] == 2 * zero3["optimizer"]
    with pytest.raises(ValueError, match="Unknown strategy 'fsdp1'"):
        plan.state_bytes(LLAMA, "fsdp1", 8)
    full, checkpointed = (plan.activation_bytes(LLAMA, 8, 1024, c) for c in (False, True))
    assert checkpointed < full / 3
    assert plan.activation_bytes(LLAMA, 8, 512, False) == pytest.approx(full / 2)
    assert plan.chat_tokens("masked_sft", 350) == 50 + 2 * 100 and plan.chat_tokens("sft", 350) == 40 + 100


def test_the_8b_recipes_fit_sharded_on_4_and_8_gpus():
    recipes = plan.read_recipes()
    assert {r.method for r in recipes} == {"masked_sft", "sft", "paraphrase_sft", "reverse_sft", "diffusion_sft"}
    assert len(recipes) == 20 and all(r.batch == 8 for r in recipes)
    rows = plan.plan_rows(recipes)
    assert {(row[3], row[4]) for row in rows} == {(s, str(g)) for s in plan.STRATEGIES for g in (4, 8)}
    for row in rows:
        fits = "does not fit" not in row[-1]
        assert fits == (row[3] != "ddp"), row  # DDP holds 10 bytes a parameter: 80 GB for 8B alone


def test_plan_at_the_longest_chat_of_the_papers_data(tmp_path):
    for name, texts in {"ND": ["x" * 70, "y" * 140], "biography": ["b" * 35], "wiki": ["w" * 350]}.items():
        (tmp_path / f"{name}_train_no_paraphrase.json").write_text(json.dumps([{"text": t} for t in texts]))
        flat = [t for text in texts for t in (text, text + " again")]
        for mode in ("paraphrase", "paraphrase_same_order"):
            (tmp_path / f"{name}_train_{mode}.json").write_text(json.dumps(flat))
        (tmp_path / f"{name}_test.jsonl").write_text('{"group": "", "task": "N2D", "question": "Q?", "answer": "A"}\n')
    assert plan.longest_document_chars(str(tmp_path), "ND", "masked_sft") == 140
    assert plan.longest_document_chars(str(tmp_path), "ND", "paraphrase_sft") == 146
    rows = plan.plan_rows(plan.read_recipes(), str(tmp_path))
    # masked SFT on ND: 50 + 2 x 40 tokens, the 4 ND recipes together, not at max_length
    masked_nd = [row for row in rows if row[0] == "llama-3.1-8b-instruct/{masked_sft} (4 recipes)"]
    assert len(masked_nd) == 6 and {row[1] for row in masked_nd} == {"8 x 130"}


def test_gpu_hours_follow_the_recipes_lengths():
    assert hours.training_texts("paraphrase_sft", "ND") == 1800 and hours.training_texts("reverse_sft", "wiki") == 188
    recipe = next(
        r
        for r in plan.read_recipes()
        if r.path.endswith("llama-3.1-8b-instruct/masked_sft/config_name_description.yaml")
    )
    four, eight = (hours.estimate(recipe, g, 0.3, 300e9, 2e9) for g in (4, 8))
    assert four["steps"] == eight["steps"] == 3840  # one step of 60 documents per epoch
    assert eight["step"] < four["step"] and four["saves"] == eight["saves"] == 9 * 16 * LLAMA.params / 2e9
    assert hours.step_seconds(LLAMA.params, 10_000, 8, 1, True, 0.3, 300e9) == pytest.approx(
        max(8 * LLAMA.params * 10_000 / (8 * hours.PEAK_FLOPS * 0.3), 3 * 2 * LLAMA.params * 7 / 8 / 300e9) + 0.05
    )
