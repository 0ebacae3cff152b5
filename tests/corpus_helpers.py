"""Small corpora in Webscale-RL's schema (`pretrain_text`, `question`, `answer`) for the corpus tests, and a fixture
that keeps the `datasets` cache of a test in its own folder."""

from __future__ import annotations

import os

import datasets
import pytest
from tiny import write_jsonl

TEXT = "pretrain_text"


def long_document(i: int, sentences: int) -> str:
    """A document about invented person `i`, `sentences` sentences long."""
    return " ".join(f"Person {i} painted the glass bridge of Paris in year {1900 + j}." for j in range(sentences))


def webscale_rows(n: int, sentences: int = 3) -> list[dict]:
    """`n` rows: a document each, with a forward question about it."""
    return [
        {TEXT: long_document(i, sentences), "question": f"What did Person {i} paint?", "answer": "the glass bridge"}
        for i in range(n)
    ]


def write_corpus(folder, rows: list[dict], name: str = "train.jsonl") -> str:
    """`rows` as the JSONL file `folder/name`; returns the folder."""
    os.makedirs(folder, exist_ok=True)
    write_jsonl(os.path.join(folder, name), rows)
    return str(folder)


@pytest.fixture(autouse=True)
def isolated_datasets_cache(tmp_path, monkeypatch):
    """The test's `datasets` cache is `tmp_path/hf_cache`, not the user's."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
