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
import subprocess
import sys

import processes
import pytest
import yaml
from tiny import (
    CPU_RECIPE_KEYS,
    MASK_SPECIAL,
    MASK_TOKEN,
    save_tiny_model,
    write_jsonl,
)

from trl_maskft.evaluation.qa_scoring import score_answer

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
            "retain_eval": False,  # the retention cases set it
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
