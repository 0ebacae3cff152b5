"""Bad recipe keys, encodings and model paths, each pinned with its message and exit status (issue 14); the
fixtures and helpers are those of `tests/test_reliability.py`.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import test_reliability
import yaml
from test_reliability import (
    DOCS,
    assert_unchanged,
    files_under,
    run_refused,
    run_script,
)

from trl_maskft.pipeline.recipe_parser import REMOVED_KEYS

MISSPELT = "is not a key of this script; did you mean"
NOT_UTF8 = "byte 0xe9 at position {} is not UTF-8"

model_dir, recipe = test_reliability.model_dir, test_reliability.recipe  # the fixtures of the other bad inputs


RENAMED = [
    ("evaluation_strategy", "epoch", "`evaluation_strategy` is now `eval_strategy`: write `{0}eval_strategy{1}epoch`"),
    ("torch_dtype", "float32", "`torch_dtype` is now `dtype`: write `{0}dtype{1}float32`"),
    ("warmup_ratio", "0.1", r"`warmup_ratio` is now `warmup_steps` \(a value below 1 is a fraction"),
    ("max_seq_length", "64", "`max_seq_length` is now `max_length`: write `{0}max_length{1}64`"),
    ("learnin_rate", "0.001", f"`learnin_rate` {MISSPELT} `learning_rate` \\(`{{0}}learning_rate{{1}}0.001`\\)"),
    ("mask_ratio_mim", "0.2", f"`mask_ratio_mim` {MISSPELT} `mask_ratio_min`"),
    ("qa_every", "2", f"`qa_every` {MISSPELT} `qa_eval_every`"),
]


@pytest.mark.parametrize("where", ["recipe", "command line"])
@pytest.mark.parametrize("key,value,hint", RENAMED, ids=[case[0] for case in RENAMED])
def test_outdated_and_misspelled_keys_name_their_replacement(where, key, value, hint, recipe, tmp_path, model_dir):
    """Issue 14, case 9: outdated keys got the generic "Unknown arguments" and never named `eval_strategy`/`dtype`;
    a misspelled key got no "did you mean"."""
    if where == "recipe":
        argv = ["--config", recipe("masked_sft", **{key: yaml.safe_load(value)})]
        title, spelling = r"Unknown key\(s\) in the recipe .*config\.yaml:\n- ", ("", ": ")
    else:
        argv = ["--config", recipe("masked_sft"), f"--{key}", value]
        title, spelling = r"Unknown command-line argument\(s\):\n- ", ("--", " ")
    run_refused("masked_sft", argv, ValueError, title + hint.format(*spelling), tmp_path, model_dir)


@pytest.mark.parametrize("key", sorted(REMOVED_KEYS))
def test_keys_removed_by_transformers_5_say_what_to_do(key, recipe, tmp_path, model_dir):
    """Issue 14, case 9: a key transformers 5 removed (`overwrite_output_dir`, `logging_dir`, ...) says what
    replaces it."""
    from trl_maskft.scripts.masked_sft import make_parser

    if key in make_parser().known_keys():  # a key of this project now (e.g. an explicit overwrite key)
        pytest.skip(f"`{key}` is a key of the masked_sft script")
    match = rf"`{key}` was removed by transformers 5: {REMOVED_KEYS[key][:20]}"
    run_refused("masked_sft", ["--config", recipe("masked_sft", **{key: "x"})], ValueError, match, tmp_path, model_dir)


def test_abbreviated_options_are_refused(recipe, tmp_path, model_dir):
    """Issue 14, case 9: `--learning 1e-3` was read silently as `--learning_rate`; now it is named."""
    match = r"`learning` is not a key of this script; did you mean `learning_rate`"
    run_refused("sft", ["--config", recipe("sft"), "--learning", "1e-3"], ValueError, match, tmp_path, model_dir)


@pytest.mark.parametrize(
    "name,key,lines,line,position",
    [
        ("docs.jsonl", "dataset_name", [json.dumps(DOCS[0]).encode(), b'{"text": "Caf\xe9 Ren\xe9"}'], 2, 14),
        ("docs.txt", "dataset_name", [b"A first document.", b"", b"Chez Ren\xe9."], 3, 9),
        ("qa.jsonl", "qa_file", [b'{"question": "Qui est Ren\xe9?", "answer": "x", "direction": "forward"}'], 1, 26),
    ],
)
def test_non_utf8_byte_names_the_file_and_line(name, key, lines, line, position, recipe, tmp_path, model_dir):
    """Issue 14, case 10: a non-UTF-8 byte in a `.jsonl`/`.txt` gave a bare `UnicodeDecodeError`."""
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    match = rf"{re.escape(str(path))}, line {line}: {NOT_UTF8.format(position)}"
    run_refused("sft", ["--config", recipe("sft", **{key: str(path)})], ValueError, match, tmp_path, model_dir)


def test_a_recipe_that_is_not_utf8_names_its_line(recipe, tmp_path, model_dir):
    """Issue 14, case 10, for the recipe itself."""
    path = recipe("sft")
    with open(path, "ab") as f:
        f.write(b"sft_prompt: Caf\xe9\n")
    line = len(open(path, "rb").read().splitlines())
    match = rf"{re.escape(path)}, line {line}: {NOT_UTF8.format(16)}"
    run_refused("sft", ["--config", path], ValueError, match, tmp_path, model_dir)


@pytest.mark.parametrize("model", ["{tmp}/no/such/model", "./no-such-model", "~/no-such-model"])
def test_a_model_path_that_does_not_exist_says_so(model, recipe, tmp_path, model_dir):
    """Issue 14, case 11: a missing model path gave `Repo id must be in the form 'repo_name'...`."""
    path = model.format(tmp=tmp_path)
    match = rf"The model folder '{re.escape(path)}' does not exist \(looked for {re.escape(os.path.abspath(path))}\)"
    error = run_refused(
        "masked_sft", ["--config", recipe("masked_sft", model_name_or_path=path)], FileNotFoundError, match, tmp_path
    )
    assert "not a Hub id either" in str(error) and "https://huggingface.co" in str(error)


def test_a_local_model_folder_and_hub_ids_pass(model_dir):
    from trl_maskft.runtime.default_model import resolve_model_path

    for name in [model_dir, "HuggingFaceTB/SmolLM2-135M-Instruct", "gpt2"]:
        assert resolve_model_path(name) == name


def test_exit_status_and_message(recipe, tmp_path, model_dir):
    """Issue 14, case 9 as a user runs it: exit status 1, the message on stderr, no file touched (one process: the
    other refusals raise the same way in `main`, which is what the tests above run)."""
    argv = ["trl_maskft.scripts.masked_sft", "--config", recipe("masked_sft"), "--evaluation_strategy", "1"]
    before = files_under(tmp_path, model_dir)
    result = run_script(*argv)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "- `evaluation_strategy` is now `eval_strategy`: write `--eval_strategy 1`" in result.stderr
    assert_unchanged(before, tmp_path, model_dir)
