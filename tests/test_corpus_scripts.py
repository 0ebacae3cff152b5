"""The training scripts on a corpus (tiny model): a folder of long documents without QA trains masked SFT on every
token and reports its evaluation loss; QA items come from the corpus's own columns; the plain baseline trains on the
same chunks; what cannot apply is refused before the model is loaded."""

import json

import pytest
from corpus_helpers import TEXT, isolated_datasets_cache, webscale_rows, write_corpus  # noqa: F401
from tiny import MASK_TOKEN, save_tiny_model, write_tiny_recipe

from trl_maskft.scripts import masked_sft, sft

COMMON = {"dataset_text_field": TEXT, "num_train_epochs": 1, "per_device_train_batch_size": 4, "logging_steps": 1}


@pytest.fixture
def corpus(tmp_path):
    save_tiny_model(tmp_path / "model")
    return write_corpus(tmp_path / "corpus", webscale_rows(6, sentences=4))


def test_a_corpus_alone_trains_masked_sft_and_reports_the_evaluation_loss(tmp_path, corpus, capsys):
    recipe = write_tiny_recipe(
        tmp_path, dataset_name=corpus, mask_token=MASK_TOKEN, chunk_length=16, max_length=128,
        dataset_test_size=2, eval_strategy="epoch", **COMMON,
    )  # fmt: skip
    report = masked_sft.main(["--config", recipe])
    out = capsys.readouterr().out
    assert "held out 2 rows for evaluation" in out
    assert "train: 4 rows -> " in out and "0 of " in out and "document tokens lost (0.0%)" in out
    summary = (tmp_path / "out" / "eval_summary.md").read_text()
    assert summary.startswith("| step | epoch | eval_loss |") and summary == report.report() + "\n"
    assert "Evaluation loss on the held-out rows" in (tmp_path / "out" / "README.md").read_text()
    assert not (tmp_path / "out" / "qa_summary.md").exists()


def test_a_corpus_alone_measures_retention_under_its_evaluation_loss(tmp_path, corpus, capsys):
    recipe = write_tiny_recipe(
        tmp_path, dataset_name=corpus, mask_token=MASK_TOKEN, chunk_length=16, max_length=128,
        dataset_test_size=2, eval_strategy="epoch", retain_eval=True, retain_max_new_tokens=2,
        retain_self_max_new_tokens=2, **COMMON,
    )  # fmt: skip
    masked_sft.main(["--config", recipe])
    summary = (tmp_path / "out" / "eval_summary.md").read_text()
    losses, retention = summary.split("Retention (what the model still knows and does besides the injected facts):")
    assert "| step | epoch | eval_loss |" in losses and "known facts kept" not in losses
    rows = [line for line in retention.splitlines() if line.startswith("| ") and "epoch" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| 0", "| 1"]  # the base model, then after the epoch
    assert all(row.count(" | ") == 3 for row in rows)  # known facts, self-answer NLL, text NLL (not measured)
    assert "Retention" in (tmp_path / "out" / "README.md").read_text()
    assert not (tmp_path / "out" / "qa_summary.md").exists()


def test_qa_items_from_the_corpus_columns_are_asked(tmp_path, corpus):
    recipe = write_tiny_recipe(
        tmp_path, dataset_name=corpus, mask_token=MASK_TOKEN, chunk_length=16, max_length=128,
        qa_question_field="question", qa_answer_field="answer", qa_max_items=3, qa_max_new_tokens=4, **COMMON,
    )  # fmt: skip
    qa = masked_sft.main(["--config", recipe])
    assert [item.question for item in qa.items] == [f"What did Person {i} paint?" for i in range(3)]
    with open(tmp_path / "out" / "qa_generations" / "epoch_1.jsonl") as f:
        assert [json.loads(line)["question"] for line in f] == [item.question for item in qa.items]


def test_the_plain_baseline_trains_on_the_same_raw_text_chunks(tmp_path, corpus, capsys):
    recipe = write_tiny_recipe(
        tmp_path, dataset_name=corpus, sft_format="text", chunk_length=16, max_length=128, **COMMON
    )
    sft.main(["--config", recipe])
    out = capsys.readouterr().out
    assert "train: 6 rows -> " in out and "(chunks of at most 16 tokens); 6 rows chunked" in out
    assert "0 rows cut and 0 dropped to fit `max_length`=128; 0 of " in out  # what TRL would have cut: nothing
    assert (tmp_path / "out" / "eval_summary.md").exists()


@pytest.mark.parametrize(
    "keys,match",
    [
        ({"dataset_streaming": True}, r"`dataset_streaming: true` .* set `max_steps`"),
        ({"dataset_test_size": 2}, r"held out for evaluation .* but `eval_strategy` is 'no'"),
        ({"dataset_name": "people", "keep_every": 2}, r"\['keep_every'\] read a corpus .* 'people' is a built-in"),
        ({"qa_question_field": "query", "qa_answer_field": "answer"}, r"names the column 'query'"),
    ],
)
def test_what_cannot_apply_is_refused_before_training(tmp_path, corpus, keys, match):
    recipe = write_tiny_recipe(tmp_path, **{"dataset_name": corpus, "mask_token": MASK_TOKEN, **COMMON, **keys})
    with pytest.raises(ValueError, match=match):
        masked_sft.main(["--config", recipe])
    assert not (tmp_path / "out").exists()
