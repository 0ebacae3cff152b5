"""Inputs read as the user sees them (issue 18, cases 5, 6, 9, 12, 13 and 17): every corpus file listed with its
split and none set aside without an error, `.txt` files one document per file, malformed corpus files named by file
and line, non-ASCII answers under the paper's score pointed to `qa_score: robust`, a misspelt default-model alias
and a model folder without a model named before anything is looked up or loaded. Each refusal leaves every file as
it was (`run_refused`); how to add a case: tests/README.md."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil

import datasets
import pytest
import test_reliability
import torch
from test_reliability import QA, assert_unchanged, files_under, run_refused
from tiny import write_jsonl

from trl_maskft.data.corpus import CorpusArguments, load_corpus
from trl_maskft.data.corpus_splits import named_splits
from trl_maskft.data.corpus_text import check_text_column
from trl_maskft.data.qa_checks import warn_non_ascii_answers
from trl_maskft.data.schema import QAItem
from trl_maskft.runtime.model_folder import check_model_folder

model_dir, recipe = test_reliability.model_dir, test_reliability.recipe  # the fixtures of the other bad inputs
SPLIT_FILES = {"part-train.jsonl": 4, "chapter_01.jsonl": 2, "chapter_02_dev.jsonl": 2}  # issue 18's folder
BRISK_HOLLOW = "Ada Quillfeather paints glass bridges.\nShe lives in Brisk Hollow.\n"


def split_folder(folder) -> str:
    """Issue 18's folder of `SPLIT_FILES`, rows `{"text": "<file> row <i>."}`."""
    os.makedirs(folder, exist_ok=True)
    for name, rows in SPLIT_FILES.items():
        write_jsonl(os.path.join(folder, name), [{"text": f"{name} row {i}."} for i in range(rows)])
    return str(folder)


def txt_folder(folder) -> str:
    """A folder of two multi-line `.txt` documents (5 lines, one of them empty)."""
    os.makedirs(folder)
    (folder / "ada.txt").write_text(BRISK_HOLLOW)
    (folder / "bob.txt").write_text("Bob Thornbury flies.\n\nHe flies a red kite.\n")
    return str(folder)


# Case 5: corpus files are read as the user sees them


@pytest.mark.parametrize(
    "path,splits",
    [
        ("part-train.jsonl", {"train"}),
        ("chapter_01.jsonl", set()),
        ("chapter_02_dev.jsonl", {"validation"}),
        (os.path.join("test", "a.jsonl"), {"test"}),
        (os.path.join("data", "train-00000-of-00002.parquet"), {"train"}),
        ("devices.jsonl", set()),
        ("Eval notes.jsonl", {"test"}),
    ],
)
def test_a_files_split_is_the_split_word_of_its_path(path, splits):
    """Issue 18, case 5: the split words of a file's name and folders, between separators, in any case."""
    assert named_splits(path) == splits


def test_a_folder_file_in_a_split_the_run_does_not_read_is_refused(recipe, tmp_path, model_dir):
    """Issue 18, case 5: `part-train.jsonl`, `chapter_01.jsonl` and `chapter_02_dev.jsonl` trained 4 of 8 rows:
    `chapter_01.jsonl` was in no split and `chapter_02_dev.jsonl` in a `validation` split nobody used."""
    folder = split_folder(tmp_path / "corpus")
    error = run_refused(
        "masked_sft",
        ["--config", recipe("masked_sft", dataset_name=folder)],
        ValueError,
        r"1 file\(s\) of '.*corpus' are in a split this run does not read: .*corpus \[validation\] 1 file\(s\): "
        r"chapter_02_dev\.jsonl\.",
        tmp_path,
        model_dir,
    )
    message = str(error)
    assert "The run trains on 'train' (`dataset_train_split`)" in message
    assert f"Name the files to train on as a file or a glob (`dataset_name: '{folder}/**/*.jsonl'` reads" in message
    assert "`dataset_test_split: validation` (with `eval_strategy`)" in message


def test_every_corpus_file_is_listed_with_its_split_and_read(tmp_path):
    """Issue 18, case 5: every file goes to a split, listed in the log; a file without a split word is `train`, as
    docs/corpus.md says; a glob reads every file as `train`."""
    folder = split_folder(tmp_path / "corpus")
    corpus = load_corpus(folder, CorpusArguments(dataset_test_split="validation"))
    assert (len(corpus.train), len(corpus.eval)) == (6, 2)
    assert corpus.log[:2] == [
        f"{folder} [train] 2 file(s): chapter_01.jsonl, part-train.jsonl",
        f"{folder} [validation] 1 file(s): chapter_02_dev.jsonl",
    ]
    every = load_corpus(f"{folder}/**/*.jsonl", CorpusArguments())
    assert len(every.train) == 8 and every.log[0].startswith(f"{folder}/**/*.jsonl [train] 3 file(s): ")


def test_a_split_no_file_is_in_and_a_file_naming_two_splits_are_refused(tmp_path):
    """Issue 18, case 5: a split the run names must hold files, and a file names one split."""
    folder = split_folder(tmp_path / "corpus")
    with pytest.raises(ValueError, match=r"has no split 'test' \(`dataset_test_split`\): .*\[train\] 2 file"):
        load_corpus(folder, CorpusArguments(dataset_test_split="test"))
    write_jsonl(tmp_path / "corpus" / "train_test.jsonl", [{"text": "a."}])
    with pytest.raises(ValueError, match=r"train_test\.jsonl' names the splits \['test', 'train'\]"):
        load_corpus(folder, CorpusArguments(dataset_test_split="validation"))


# Case 6: a folder of .txt files is one document per file


def test_a_folder_of_txt_files_is_one_document_per_file(tmp_path):
    """Issue 18, case 6: two multi-line documents became 5 rows, "She lives in Brisk Hollow." without its subject."""
    corpus = load_corpus(txt_folder(tmp_path / "docs"), CorpusArguments())
    assert [row["text"] for row in corpus.train][0] == BRISK_HOLLOW and len(corpus.train) == 2
    assert not any(".txt file(s) became" in line for line in corpus.log)


def test_txt_files_read_by_line_log_how_many_files_became_how_many_rows(tmp_path):
    """Issue 18, case 6: `txt_sample_by: line` on multi-line documents is said, with the key that keeps them whole."""
    corpus = load_corpus(txt_folder(tmp_path / "docs"), CorpusArguments(txt_sample_by="line"))
    assert (
        "2 .txt file(s) became 5 rows, one per line (`txt_sample_by: line`; `txt_sample_by: document` keeps each "
        "file one document)"
    ) in corpus.log
    assert len(corpus.train) == 4  # the empty line is dropped, and counted


# Case 13: malformed corpus files named by file and row


@pytest.mark.parametrize(
    "name,content,match",
    [
        (
            "docs.jsonl",
            '{"text": "Alice paints."}\n{"text": 5}\n',
            r"docs\.jsonl, line 2: the text column `text` holds 5 \(int\), not a document string\. Fix or remove",
        ),
        ("docs.jsonl", "", r"The corpus file\(s\) '.*docs\.jsonl' are empty \(0 bytes\): write their rows or remove"),
        (
            "docs.json",
            json.dumps({"data": [{"text": "Alice paints."}]}),
            r"docs\.json holds one JSON object, its rows under \['data'\], not an array of rows: .*; convert it, "
            r"e\.g\. `jq -c '\.data\[\]' .*docs\.json > .*docs\.jsonl`",
        ),
    ],
    ids=["number in a text cell", "empty jsonl", "rows under a key"],
)
def test_malformed_corpus_files_name_the_file_row_and_fix(name, content, match, recipe, tmp_path, model_dir):
    """Issue 18, case 13: these gave `datasets` internals (`Json(decode=True)`, a bare `StopIteration`, a column
    'data') naming no file or row."""
    (tmp_path / name).write_text(content)
    argv = ["--config", recipe("masked_sft", dataset_name=str(tmp_path / name))]
    run_refused("masked_sft", argv, ValueError, match, tmp_path, model_dir)


def test_a_mixed_text_column_without_local_files_names_no_datasets_internals(tmp_path):
    """Issue 18, case 13: a column of numbers and strings read from elsewhere (a Hub dataset: no file to name) said
    `Json(decode=True)`."""
    path = write_jsonl(tmp_path / "docs.jsonl", [{"text": "Alice paints."}, {"text": 5}])
    dataset = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=r"^hub: the text column 'text' holds values of several JSON types, not"):
        check_text_column(dataset, "text", "hub")


# Case 9: non-ASCII answers under the paper's score


def test_non_ascii_answers_under_the_paper_score_warn_once(recipe, tmp_path, caplog):
    """Issue 18, case 9: a correct "李小龍" scored 0.0 under the default `qa_score: paper`, and nothing pointed to
    `qa_score: robust`."""
    from trl_maskft.scripts import masked_sft

    write_jsonl(tmp_path / "qa.jsonl", [QA[0], {**QA[1], "answer": "李小龍"}])
    with caplog.at_level(logging.WARNING, logger="trl_maskft.data.qa_checks"):
        masked_sft.main(["--config", recipe("masked_sft")])
    warnings = [record.getMessage() for record in caplog.records if "non-ASCII" in record.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("1 of the 2 QA answers hold non-ASCII characters (e.g. '李小龍')")
    assert "Set `qa_score: robust`" in warnings[0]


def test_no_warning_for_the_robust_score_or_ascii_answers(caplog):
    """Issue 18, case 9: the warning is for the paper's score meeting non-ASCII answers only."""
    items = [QAItem(question="Who founded it?", answers="李小龍", direction="backward")]
    ascii_items = [QAItem(question="Who is Alice?", answers="a painter", direction="forward")]
    with caplog.at_level(logging.WARNING, logger="trl_maskft.data.qa_checks"):
        warn_non_ascii_answers(items, "robust")
        warn_non_ascii_answers(ascii_items, "paper")
    assert caplog.records == []


# Case 12: a misspelt default-model alias


@pytest.mark.parametrize("name", ["smollm2-135m-instruc", "SmolLM2-135M-Instruc", "smolm2-135m-instruct"])
def test_a_misspelt_default_model_alias_says_did_you_mean(name, recipe, tmp_path, model_dir):
    """Issue 18, case 12: `smollm2-135m-instruc` was looked up on the Hub ("couldn't connect")."""
    match = rf"The model folder '{name}' does not exist .* did you mean `smollm2-135m-instruct`\?"
    argv = ["--config", recipe("masked_sft", model_name_or_path=name)]
    run_refused("masked_sft", argv, FileNotFoundError, match, tmp_path, model_dir)


# Case 17: trl-maskft-eval on a folder without a model


def test_eval_on_a_folder_without_a_model_names_what_a_model_folder_holds(tmp_path):
    """Issue 18, case 17: `trl-maskft-eval` on a folder without a model blamed a missing `sentencepiece`."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.md").write_text("mine")
    error = run_refused(
        "evaluate",
        ["--model_name_or_path", str(tmp_path / "run"), "--bench_tasks", "maskft_math"],
        FileNotFoundError,
        r"`model_name_or_path` '.*run' is a folder without a model: it lacks config\.json .*; the weights "
        r"\(model\.safetensors.*; the tokenizer \(tokenizer\.json and tokenizer_config\.json\)\. It holds notes\.md\.",
        tmp_path,
    )
    assert "Its newest complete checkpoint" not in str(error)


def test_a_folder_with_a_complete_checkpoint_names_it_and_a_model_folder_passes(tmp_path, model_dir):
    """Issue 18, case 17: a run's folder that holds checkpoints but no final model points at its newest complete
    checkpoint; a model folder passes the check."""
    check_model_folder(model_dir)
    checkpoint = tmp_path / "run" / "checkpoint-3"
    shutil.copytree(model_dir, checkpoint)
    for name in ["optimizer.pt", "scheduler.pt", "rng_state.pth"]:
        torch.save({}, checkpoint / name)
    (checkpoint / "trainer_state.json").write_text("{}")
    before = files_under(tmp_path)
    with pytest.raises(
        FileNotFoundError, match=rf"checkpoint holds one: `--model_name_or_path {re.escape(str(checkpoint))}`\."
    ):
        check_model_folder(str(tmp_path / "run"))
    assert_unchanged(before, tmp_path)
