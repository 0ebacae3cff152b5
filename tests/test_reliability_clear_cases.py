"""The bad inputs that were already clear before issue 14 (`CLEAR_CASES`), each pinned with its message; the
fixtures and helpers are those of `tests/test_reliability.py`.
"""

from __future__ import annotations

import os

import pytest
import test_reliability
import yaml
from test_reliability import QA, run_refused
from tiny import (
    make_tiny_model,
    make_tiny_tokenizer,
    write_jsonl,
)

# The bad inputs that were already clear: (script, recipe keys, files to write, error, message)
# `{tmp}` in a key's value or a file name is the test's folder; a file's lines are JSON rows or ready-made strings.
BAD_QA = "{tmp}/bad_qa.jsonl"

model_dir, recipe = test_reliability.model_dir, test_reliability.recipe  # the fixtures of the other bad inputs


CLEAR_CASES = {
    # Recipe values
    "mask_ratio_min 0": ("masked_sft", {"mask_ratio_min": 0.0}, {}, ValueError, "must lie strictly between 0 and 1"),
    "mask_ratio bounds swapped": (
        "masked_sft", {"mask_ratio_min": 0.9, "mask_ratio_max": 0.1}, {}, ValueError, "is larger than",
    ),
    "mask_ratio 1.5": ("masked_sft", {"mask_ratio": 1.5}, {}, ValueError, "`mask_ratio` must lie strictly between"),
    "mask_ratio_mode": ("masked_sft", {"mask_ratio_mode": "cubic"}, {}, ValueError, "`mask_ratio_mode` must be one"),
    "mask_ratio_scope": ("masked_sft", {"mask_ratio_scope": "row"}, {}, ValueError, "`mask_ratio_scope` must be one"),
    "mask_unit": ("masked_sft", {"mask_unit": "char"}, {}, ValueError, "`mask_unit` must be one of"),
    # Issue 22: mask units and views
    "mask_span_mean 0.5": ("masked_sft", {"mask_span_mean": 0.5}, {}, ValueError, "`mask_span_mean` must be at least"),
    "mask_views 0": ("masked_sft", {"mask_views": 0}, {}, ValueError, "`mask_views` must be a whole number"),
    "loss_on": ("masked_sft", {"loss_on": "prompt"}, {}, ValueError, "`loss_on` must be 'all' or 'masked'"),
    "packing wrapped": (
        "masked_sft", {"packing": True, "packing_strategy": "wrapped"}, {}, ValueError, "would split a reconstruction",
    ),
    "assistant_only_loss": ("masked_sft", {"assistant_only_loss": True}, {}, ValueError, "does not apply to masked"),
    "persistent workers": (
        "masked_sft", {"dataloader_persistent_workers": True, "dataloader_num_workers": 1}, {}, ValueError,
        "persistent dataloader workers",
    ),
    "task": ("masked_sft", {"task": "mmlu"}, {}, ValueError, "`task` must be one of"),
    "sft_format": ("sft", {"sft_format": "json"}, {}, ValueError, "`sft_format` must be one of"),
    "paraphrases mode": ("sft", {"paraphrases": "all"}, {}, ValueError, "`paraphrases` must be one of"),
    "gsm8k with a baseline": ("sft", {"task": "gsm8k", "reverse_training": True}, {}, ValueError, "regular SFT"),
    "max_train_samples": ("sft", {"max_train_samples": 5}, {}, ValueError, "applies to a task"),
    "diffusion gsm8k": ("diffusion_sft", {"task": "gsm8k"}, {}, ValueError, "`task` is not a key of this script"),
    "diffusion without mask token": ("diffusion_sft", {"mask_token": None}, {}, ValueError, "Set `mask_token`"),
    "diffusion t bounds": ("diffusion_sft", {"t_min": 0.8, "t_max": 0.2}, {}, ValueError, "Need 0 <= `t_min`"),
    "diffusion eps": ("diffusion_sft", {"eps": 1.0}, {}, ValueError, r"`eps` must lie in \[0, 1\)"),
    "diffusion nothing masked": ("diffusion_sft", {"t_max": 0.0, "eps": 0.0}, {}, ValueError, "nothing is ever"),
    "diffusion loss_normalization": (
        "diffusion_sft", {"loss_normalization": "tokens"}, {}, ValueError, "`loss_normalization` must be one of",
    ),
    "diffusion t_scope": ("diffusion_sft", {"t_scope": "token"}, {}, ValueError, "`t_scope` must be one of"),
    "diffusion completion_only_loss": (
        "diffusion_sft", {"completion_only_loss": False}, {}, ValueError, "never masks the prompt",
    ),
    "diffusion add_mask_token with id": (
        "diffusion_sft", {"add_mask_token": True, "mask_token_id": 3}, {}, ValueError, "set `mask_token`, not",
    ),
    "diffusion packing": ("diffusion_sft", {"packing": True}, {}, ValueError, "does not support `packing`"),
    # Data
    "malformed QA line": (
        "sft", {"qa_file": BAD_QA}, {BAD_QA: [QA[0], "{not json"]}, ValueError, r"bad_qa.jsonl, line 2: malformed",
    ),
    "QA line not an object": (
        "sft", {"qa_file": BAD_QA}, {BAD_QA: ["[1, 2]"]}, ValueError, "line 1: expected a JSON object, got list",
    ),
    "QA line without direction": (
        "sft", {"qa_file": BAD_QA}, {BAD_QA: [{"question": "q?", "answer": "a"}]}, ValueError,
        "line 1: missing field 'direction'",
    ),
    "QA direction": (
        "sft", {"qa_file": BAD_QA}, {BAD_QA: [{**QA[0], "direction": "sideways"}]}, ValueError,
        "Unknown QA direction 'sideways'",
    ),
    "QA empty answer": (
        "sft", {"qa_file": BAD_QA}, {BAD_QA: [{**QA[0], "answer": " "}]}, ValueError, "`answers` must be a non-empty",
    ),
    "QA file empty": ("sft", {"qa_file": BAD_QA}, {BAD_QA: ["", ""]}, ValueError, "holds no QA items"),
    "empty document": (
        "sft", {"dataset_name": "{tmp}/d.jsonl"}, {"{tmp}/d.jsonl": [{"text": ""}]}, ValueError,
        "has no documents left after filtering",
    ),
    "no documents": (
        "sft", {"dataset_name": "{tmp}/d.txt"}, {"{tmp}/d.txt": [" "]}, ValueError, "no documents left after",
    ),
    "entities not strings": (
        "sft", {"dataset_name": "{tmp}/d.jsonl", "reverse_training": True},
        {"{tmp}/d.jsonl": [{"text": "A b.", "entities": [1]}]}, ValueError,
        "`entities` must be a list of non-empty strings",
    ),
    "paraphrases without a file": ("sft", {"paraphrases": "same_order"}, {}, ValueError, "Set `paraphrase_file`"),
    "paraphrase sets": (
        "sft", {"paraphrases": "same_order", "paraphrase_file": "{tmp}/p.jsonl"},
        {"{tmp}/p.jsonl": [{"paraphrases": ["x"]}]}, ValueError, "holds 1 paraphrase sets for 2 documents",
    ),
    "built-in data with qa_file": ("sft", {"dataset_name": "people"}, {}, ValueError, "brings its own QA items"),
    "qa_templates_per_person": (
        "sft", {"dataset_name": "biographies", "qa_file": None, "qa_templates_per_person": 2}, {}, ValueError,
        "applies to `people` only",
    ),
    "num_people": (
        "sft", {"dataset_name": "people", "qa_file": None, "num_people": 0}, {}, ValueError, "must be between 1 and",
    ),
    "NameDescription folder": (
        "sft", {"dataset_name": "name_description:{tmp}/nd", "qa_file": None}, {}, FileNotFoundError,
        "NameDescription folder .* not found",
    ),
    "GSM8K folder": (
        "masked_sft", {"task": "gsm8k", "dataset_name": "{tmp}/gsm8k", "qa_file": None},
        {"{tmp}/gsm8k/train.jsonl": [{"question": "1+1?", "answer": "#### 2"}]}, FileNotFoundError,
        "test.jsonl not found: a local GSM8K folder holds",
    ),
    "recipe not a mapping": ("sft", {"_list": True}, {}, ValueError, "must contain a YAML mapping"),
    # At the trainer: mask tokens, lengths, schedules
    "mask token of several tokens": ("masked_sft", {"mask_token": "glass bridge"}, {}, ValueError, "is encoded as 3"),
    "mask_token_id": ("masked_sft", {"mask_token_id": 10**6}, {}, ValueError, "outside the tokenizer's vocabulary"),
    "max_length": ("masked_sft", {"max_length": 8}, {}, ValueError, "leaves no room for the text"),
    "qa_eval_every": ("masked_sft", {"qa_eval_every": 0}, {}, ValueError, "`qa_eval_every` must be a positive"),
    "diffusion mask token is eos": ("diffusion_sft", {"mask_token": "<|im_end|>"}, {}, ValueError, "is also the eos"),
    "no chat template": ("masked_sft", {"_no_chat_template": True}, {}, ValueError, "has no chat template"),
    # Retention (issue 20): refused before the model is loaded
    "retain_text_column missing": (
        "masked_sft", {"retain_eval": True, "retain_data": "{tmp}/general.jsonl"},
        {"{tmp}/general.jsonl": [{"body": "Some text."}]}, ValueError,
        r"has no column 'text' \(`retain_text_column`\); its columns are \['body'\]",
    ),
    "retain_facts_file with an empty answer": (
        "masked_sft", {"retain_eval": True, "retain_facts_file": "{tmp}/facts.jsonl"},
        {"{tmp}/facts.jsonl": [{"question": "What is 2 + 2?", "answer": "", "direction": "forward"}]}, ValueError,
        r"facts.jsonl, line 1: `answers` must be a non-empty string",
    ),
    "retain_batch_size 0": ("masked_sft", {"retain_batch_size": 0}, {}, ValueError, "`retain_batch_size` must be"),
    "retain_data for diffusion": (
        "diffusion_sft", {"retain_eval": True, "retain_data": "{tmp}/general.jsonl"},
        {"{tmp}/general.jsonl": [{"text": "Some text."}]}, ValueError, "means nothing for a masked-diffusion model",
    ),
    # Issue 20: replay and kl_to_base (docs/keeping_knowledge.md)
    "replay_ratio 1": (
        "masked_sft", {"replay_data": "self", "replay_ratio": 1.0}, {}, ValueError, r"`replay_ratio` must lie in \[0",
    ),
    "replay_ratio without replay_data": ("sft", {"replay_ratio": 0.5}, {}, ValueError, "needs `replay_data`"),
    "replay_data at ratio 0": ("diffusion_sft", {"replay_data": "self"}, {}, ValueError, "`replay_ratio` is 0"),
    "kl_to_base without replay": ("masked_sft", {"kl_to_base": 0.1}, {}, ValueError, "measured on the replay rows"),
    "kl_to_base negative": (
        "sft", {"replay_data": "self", "replay_ratio": 0.5, "kl_to_base": -1.0}, {}, ValueError, "`kl_to_base` must",
    ),
    "replay column": (
        "masked_sft", {"replay_data": "{tmp}/r.jsonl", "replay_ratio": 0.5}, {"{tmp}/r.jsonl": [{"body": "Hi."}]},
        ValueError, "no text column `replay_text_field: text`",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CLEAR_CASES)
def test_bad_inputs_that_were_already_clear(case, recipe, tmp_path, model_dir):
    script, keys, files, error, match = CLEAR_CASES[case]
    keys = {key: value.format(tmp=tmp_path) if isinstance(value, str) else value for key, value in keys.items()}
    for name, rows in files.items():
        os.makedirs(os.path.dirname(name.format(tmp=tmp_path)), exist_ok=True)
        write_jsonl(name.format(tmp=tmp_path), rows)
    if keys.pop("_no_chat_template", False):
        tokenizer = make_tiny_tokenizer()
        tokenizer.chat_template = None
        make_tiny_model(tokenizer).save_pretrained(tmp_path / "model")
        tokenizer.save_pretrained(tmp_path / "model")
        keys["model_name_or_path"] = str(tmp_path / "model")
    path = recipe(script, **{k: v for k, v in keys.items() if k != "_list"})
    if keys.get("_list"):
        with open(path, "w") as f:
            yaml.safe_dump([{"learning_rate": 1e-3}], f)
    run_refused(script, ["--config", path], error, match, tmp_path, model_dir)
