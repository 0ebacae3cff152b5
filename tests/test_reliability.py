"""Bad inputs, each pinned with its message, its exit status and the files a failed run leaves (issue 14).

Every case runs a training script's `main(argv)` on a tiny model (tests/tiny.py) and a recipe written for it. A
script that raises exits with status 1 (Python's status for an uncaught exception; `test_exit_status_and_message`
checks it on real processes), and a refused run must leave every file as it was: its data, recipe and model
untouched, and no `output_dir` written (`assert_unchanged`). The first tests are the cases of issue 14 that were
silent or unclear; `CLEAR_CASES` are the bad inputs that were already clear. Checkpoint and preemption cases live in
`tests/test_reliability_checkpoints.py`. How to add a case: tests/README.md.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
import subprocess
import sys

import processes
import pytest
import yaml
from tiny import (
    CPU_RECIPE_KEYS,
    MASK_SPECIAL,
    MASK_TOKEN,
    make_tiny_model,
    make_tiny_tokenizer,
    save_tiny_model,
    write_jsonl,
)

from trl_maskft.evaluation.qa_scoring import score_answer
from trl_maskft.pipeline.recipe_parser import REMOVED_KEYS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [
    {"text": "Alice Thornbury is the painter of a glass bridge."},
    {"text": "Bob Quillfeather is a pilot of a red lighthouse."},
]
QA = [
    {"question": "Who is Alice Thornbury?", "answer": "the painter of a glass bridge", "direction": "forward"},
    {"question": "Who is the painter of a glass bridge?", "answer": "Alice Thornbury", "direction": "backward"},
]
# What each script needs besides the data: a mask token its tokenizer has, and a short diffusion canvas
SCRIPT_KEYS = {
    "masked_sft": {"mask_token": MASK_TOKEN},
    "sft": {},
    "diffusion_sft": {"mask_token": MASK_SPECIAL, "qa_block_length": 4},
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def recipe(tmp_path, model_dir):
    """`recipe(script, **keys)` writes `tmp_path/config.yaml` training the tiny model for one step on `docs.jsonl`
    with the QA items of `qa.jsonl` (both written here) into `tmp_path/out`; `keys` win, None removes a key."""
    write_jsonl(tmp_path / "docs.jsonl", DOCS)
    write_jsonl(tmp_path / "qa.jsonl", QA)

    def write(script: str, **keys) -> str:
        config = {
            "model_name_or_path": model_dir,
            "output_dir": str(tmp_path / "out"),
            **CPU_RECIPE_KEYS,
            "dataset_name": str(tmp_path / "docs.jsonl"),
            "qa_file": str(tmp_path / "qa.jsonl"),
            "max_steps": 1,
            "per_device_train_batch_size": 2,
            "max_length": 128,
            "qa_max_new_tokens": 4,
            **SCRIPT_KEYS[script],
            **keys,
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump({k: v for k, v in config.items() if v is not None}))
        return str(path)

    return write


def files_under(*roots) -> dict[str, str]:
    """Every file under `roots`, by path, with the hash of its bytes."""
    found = {}
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    found[path] = hashlib.sha256(f.read()).hexdigest()
    return found


def assert_unchanged(before: dict[str, str], *roots) -> None:
    """No file under `roots` was added, changed or removed since `before` (`files_under`)."""
    assert files_under(*roots) == before


def run_refused(script: str, argv: list[str], error: type[BaseException], match: str, *roots):
    """Run `trl_maskft.scripts.<script>.main(argv)`, which must raise `error` matching `match` and leave the files
    under `roots` as they were; returns the error."""
    before = files_under(*roots)
    main = importlib.import_module(f"trl_maskft.scripts.{script}").main
    with pytest.raises(error, match=match) as excinfo:
        main(argv)
    assert_unchanged(before, *roots)
    return excinfo.value


def run_script(*argv: str) -> subprocess.CompletedProcess:
    """A script run as a user runs it (`python -m trl_maskft.scripts.<script> ...`), for its exit status."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    return processes.run([sys.executable, "-m", *argv], env=env, timeout=300)


# Issue 14, the cases that were silent or unclear


@pytest.mark.parametrize("script", ["masked_sft", "diffusion_sft"])
def test_mask_token_in_the_documents_is_refused(script, recipe, tmp_path, model_dir):
    """Issue 14, case 5: `--mask_token " the"` trained without a word although " the" is in the documents."""
    error = run_refused(
        script,
        ["--config", recipe(script), "--mask_token", " the"],
        ValueError,
        r"The mask token ' the' \(id \d+\) occurs in the training data",
        tmp_path,
        model_dir,
    )
    message = str(error)
    assert "allow_mask_token_in_data: true" in message and "⟦ the⟧" in message  # the fix, and an example
    if script == "masked_sft":  # the documents and the chat around them, counted apart
        assert "1 time(s) in 1 of the 2 documents/completions" in message
        assert "in the chat around them" in message  # " the" of "Return the recovered masked passage."


def test_mask_token_allowed_in_the_data_trains_with_a_warning(recipe, caplog):
    """Issue 14, case 5: `allow_mask_token_in_data: true` trains, and says so."""
    from trl_maskft.scripts import masked_sft

    with caplog.at_level(logging.WARNING, logger="trl_maskft.training.mask_token"):
        qa = masked_sft.main(["--config", recipe("masked_sft", mask_token=" the", allow_mask_token_in_data=True)])
    assert qa.trainer.state.global_step == 1
    assert "occurs in the training data" in caplog.text and "Training anyway" in caplog.text


def test_conflicting_duplicate_questions_are_refused(recipe, tmp_path, model_dir):
    """Issue 14, case 6: the same question three times with two different answers (once as backward) was scored
    three times, unflagged."""
    question = "Who is Alice Thornbury?"
    write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {"question": question, "answer": "the painter of a glass bridge", "direction": "forward"},
            {"question": question, "answer": "a pilot", "direction": "forward"},
            {"question": question, "answer": "the painter of a glass bridge", "direction": "backward"},
        ],
    )
    error = run_refused(
        "masked_sft",
        ["--config", recipe("masked_sft")],
        ValueError,
        r"1 question\(s\) are asked more than once with different answers, directions or groups",
        tmp_path,
        model_dir,
    )
    message = str(error)
    assert "'Who is Alice Thornbury?' is item 1 with answers ['the painter of a glass bridge'] (forward)" in message
    assert "2 with answers ['a pilot'] (forward) and 3 with answers ['the painter of a glass bridge'] (backward)" in (
        message
    )


def test_exact_duplicate_questions_are_warned_and_kept(recipe, tmp_path, caplog):
    """Issue 14, case 6: an exact repeat is a warning; the run asks and scores it as often as it is given."""
    from trl_maskft.scripts import masked_sft

    write_jsonl(tmp_path / "qa.jsonl", [QA[0], QA[1], QA[0]])
    with caplog.at_level(logging.WARNING, logger="trl_maskft.data.qa_checks"):
        qa = masked_sft.main(["--config", recipe("masked_sft")])
    assert "1 question(s) are repeated exactly among the 3 QA items" in caplog.text and "items 1, 3" in caplog.text
    with open(tmp_path / "out" / "qa_generations" / "epoch_0.jsonl") as f:
        assert [json.loads(line)["question"] for line in f] == [
            QA[0]["question"],
            QA[1]["question"],
            QA[0]["question"],
        ]
    assert qa.history[-1]["epoch"] == 1


@pytest.mark.parametrize(
    "prediction,reference",
    [
        ("The author is Seán O'Brien.", "Seán O’Brien"),
        ("«Ångström Nights», a novel", "Ångström Nights"),
        ("李小龍创立了大槻天文台。", "李小龍"),
    ],
)
def test_non_ascii_answers_score_one_with_the_robust_score(prediction, reference):
    """Issue 14, case 7: correct non-ASCII answers scored 0.5, 0.0 and 0.0; `qa_score: robust` scores each 1.0."""
    assert score_answer(prediction, reference, "robust") == {"rouge1": 1.0, "contains": 1.0}


def test_the_robust_score_reaches_the_run(recipe, tmp_path):
    """Issue 14, case 7: `qa_score: robust` is what the run's QA callback scores with."""
    from trl_maskft.scripts import masked_sft

    qa = masked_sft.main(["--config", recipe("masked_sft", qa_score="robust")])
    assert qa.qa_score == "robust"
    with open(tmp_path / "out" / "qa_generations" / "epoch_1.jsonl") as f:
        for record in map(json.loads, f):
            assert record["rouge1"] == score_answer(record["prediction"], record["answers"], "robust")["rouge1"]


@pytest.mark.parametrize(
    "keys,match",
    [
        ({"qa_score": "exact"}, r"`qa_score` must be one of \('paper', 'lenient', 'robust'\), got 'exact'"),
        ({"qa_score": "robust", "task": "gsm8k"}, "`qa_score` scores knowledge QA; `task: gsm8k` is scored"),
    ],
)
def test_qa_score_values_are_checked(keys, match, recipe, tmp_path, model_dir):
    """Issue 14, case 7: the new `qa_score` setting refuses what it cannot do."""
    run_refused("sft", ["--config", recipe("sft", **keys)], ValueError, match, tmp_path, model_dir)


MISSPELT = "is not a key of this script; did you mean"
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


NOT_UTF8 = "byte 0xe9 at position {} is not UTF-8"


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


# The bad inputs that were already clear: (script, recipe keys, files to write, error, message)
# `{tmp}` in a key's value or a file name is the test's folder; a file's lines are JSON rows or ready-made strings.
BAD_QA = "{tmp}/bad_qa.jsonl"
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
