"""The corpus recipes: Webscale-RL at the paper's scale (App. A.12 of arXiv 2510.09885 v6) parses to its settings, and
the CPU recipes run the same pipeline on the invented corpus of examples/data/webscale_mini."""

import json
import os

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from test_recipes import ROOT, parsed_values

QWEN = os.path.join(ROOT, "recipes", "qwen3-4b-instruct-2507")
CPU = os.path.join(ROOT, "recipes", "smollm2-135m-instruct")
MINI = os.path.join(ROOT, "examples", "data", "webscale_mini", "train.jsonl")
WEBSCALE = {
    "model_name_or_path": "Qwen/Qwen3-4B-Instruct-2507",
    "dataset_name": "Salesforce/Webscale-RL",
    "dataset_text_field": "pretrain_text",
    "learning_rate": 2e-6,
    "optim": "adamw_torch",
    "weight_decay": 0.1,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "warmup_steps": 0.02,
    "bf16": True,
    "num_train_epochs": 2,
}
FSDP2 = os.path.join(ROOT, "accelerate_configs", "fsdp2.yaml")


def effective_batch(values) -> int:
    processes = load_config_from_file(FSDP2).num_processes
    return values["per_device_train_batch_size"] * values["gradient_accumulation_steps"] * processes


@pytest.mark.parametrize("method", ["masked_sft", "sft"])
def test_webscale_rl_cpt_recipes(method):
    recipe = os.path.join(QWEN, method, "config_webscale_rl.yaml")
    values = parsed_values(recipe)
    assert {key: values[key] for key in WEBSCALE} == WEBSCALE
    assert (values["drop_document_chars"], values["keep_every"], values["chunk_length"]) == (20000, 3, 512)
    assert values["train_on"] == "text" and effective_batch(values) == 256
    assert "--config_file accelerate_configs/fsdp2.yaml" in open(recipe).read()
    if method == "masked_sft":
        assert (values["per_device_train_batch_size"], values["gradient_accumulation_steps"]) == (2, 16)
        assert values["max_length"] >= 2 * 512 + 40  # the chunk twice and Qwen's chat around it
    else:
        assert values["sft_format"] == "text" and values["max_length"] >= 512 + 1  # raw text chunks


@pytest.mark.parametrize("method", ["masked_sft", "sft"])
def test_webscale_rl_qa_sft_recipes(method):
    values = parsed_values(os.path.join(QWEN, method, "config_webscale_rl_qa.yaml"))
    assert {key: values[key] for key in WEBSCALE} == WEBSCALE
    assert values["train_on"] == "qa" and values["qa_max_tokens"] == 512
    assert (values["qa_question_field"], values["qa_answer_field"]) == ("question", "answer")
    assert effective_batch(values) == 80 and values["chunk_length"] is None


def test_the_cpu_recipes_run_the_same_pipeline_on_the_mini_corpus():
    masked = parsed_values(os.path.join(CPU, "masked_sft", "config_webscale_mini.yaml"))
    plain = parsed_values(os.path.join(CPU, "sft", "config_webscale_mini.yaml"))
    assert masked["bf16"] is False and plain["bf16"] is False and masked["use_cpu"] and plain["use_cpu"]
    shared = ["dataset_name", "dataset_text_field", "chunk_length", "learning_rate", "num_train_epochs", "seed"]
    shared += ["per_device_train_batch_size", "lr_scheduler_type", "lr_scheduler_kwargs", "qa_question_field"]
    assert {key: masked[key] for key in shared} == {key: plain[key] for key in shared}
    assert plain["sft_format"] == "text" and 32 <= masked["chunk_length"] <= 128
    with open(MINI) as f:
        rows = [json.loads(line) for line in f]
    assert {"pretrain_text", "question", "answer"} <= set(rows[0])  # Webscale-RL's schema
    assert {row["direction"] for row in rows} == {"forward", "backward"}
    # enough to measure: at least 30 documents and 30 questions per direction (one answer moves a score by 1/30)
    assert len({row["pretrain_text"] for row in rows}) >= 30
    assert min(sum(row["direction"] == way for row in rows) for way in ("forward", "backward")) >= 30
    # every document needs chunking: more words than a chunk has tokens
    assert all(len(row["pretrain_text"].split()) > masked["chunk_length"] for row in rows)
