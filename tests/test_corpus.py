"""Corpus input (`trl_maskft.data.corpus`): local files of every format, folders and globs, the Hub, the paper's
preprocessing with its counts, held-out rows, QA items from the corpus's own columns, streaming, and bad input."""

import json

import datasets
import pandas as pd
import pytest
from corpus_helpers import TEXT, isolated_datasets_cache, webscale_rows, write_corpus  # noqa: F401
from tiny import make_tiny_tokenizer, write_jsonl

from trl_maskft.data import corpus_files
from trl_maskft.data.corpus import CorpusArguments, load_corpus
from trl_maskft.data.sources import load_knowledge_source


def texts(dataset, field=TEXT):
    return [row[field] for row in dataset]


def test_every_local_format_folder_and_glob(tmp_path):
    rows = webscale_rows(4)
    frame = pd.DataFrame(rows)
    files = {
        "c.jsonl": lambda p: write_jsonl(p, rows),
        "c.json": lambda p: p.write_text(json.dumps(rows)),
        "c.parquet": lambda p: frame.to_parquet(p),
        "c.csv": lambda p: frame.to_csv(p, index=False),
    }
    for name, write in files.items():
        path = tmp_path / name
        write(path)
        corpus = load_corpus(str(path), CorpusArguments(), TEXT)
        assert texts(corpus.train) == [row[TEXT] for row in rows], name
    (tmp_path / "docs.txt").write_text("First document.\n\nSecond document.\n")
    by_line = load_corpus(str(tmp_path / "docs.txt"), CorpusArguments(txt_sample_by="line"))
    assert texts(by_line.train, "text") == ["First document.", "Second document."]  # the empty line dropped, counted
    whole = load_corpus(str(tmp_path / "docs.txt"), CorpusArguments())  # the default: one document per file
    assert texts(whole.train, "text") == ["First document.\n\nSecond document.\n"]
    folder = write_corpus(tmp_path / "folder", rows[:2], "part-0.jsonl")
    write_corpus(folder, rows[2:], "part-1.jsonl")
    assert texts(load_corpus(folder, CorpusArguments(), TEXT).train) == [row[TEXT] for row in rows]
    assert len(load_corpus(f"{folder}/part-*.jsonl", CorpusArguments(), TEXT).train) == 4


def test_the_papers_preprocessing_is_applied_in_order_and_counted(tmp_path):
    rows = webscale_rows(12)
    rows[3][TEXT] = "   "  # empty: dropped, counted
    rows[6][TEXT] = "x" * 500  # long: dropped by `drop_document_chars`
    folder = write_corpus(tmp_path / "c", rows)
    args = CorpusArguments(keep_every=3, drop_document_chars=400, max_train_rows=2)
    corpus = load_corpus(folder, args, TEXT)
    # rows 0, 3, 6, 9 -> 3 (empty) and 6 (long) dropped -> 0, 9 -> the first 2
    assert texts(corpus.train) == [rows[0][TEXT], rows[9][TEXT]]
    assert corpus.log == [
        f"{folder} [train] 1 file(s): train.jsonl",
        f"{folder} [train]: 12 rows",
        "kept 1 row in 3 (`keep_every`): 4",
        "dropped 2 empty documents or of 400 characters or more: 2",
        "kept the first 2 rows (`max_train_rows`)",
    ]
    assert corpus.eval is None and corpus.qa == []


def test_held_out_rows_by_size_or_split(tmp_path):
    folder = write_corpus(tmp_path / "c", webscale_rows(10))
    corpus = load_corpus(folder, CorpusArguments(dataset_test_size=0.2), TEXT, seed=1)
    assert (len(corpus.train), len(corpus.eval)) == (8, 2)
    assert not set(texts(corpus.train)) & set(texts(corpus.eval))
    assert len(load_corpus(folder, CorpusArguments(dataset_test_size=3), TEXT).eval) == 3
    write_corpus(folder, webscale_rows(2, sentences=1), "test.jsonl")
    corpus = load_corpus(folder, CorpusArguments(dataset_test_split="test"), TEXT)
    assert (len(corpus.train), len(corpus.eval)) == (10, 2)
    with pytest.raises(ValueError, match="has no split 'validation'"):
        load_corpus(folder, CorpusArguments(dataset_test_split="validation"), TEXT)


def test_qa_items_from_the_corpus_columns_and_a_qa_file(tmp_path):
    rows = webscale_rows(5)
    for i, row in enumerate(rows):
        row["direction"] = "backward" if i % 2 else "forward"
    folder = write_corpus(tmp_path / "c", rows)
    qa_file = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Q?", "answer": "A", "direction": "forward"}])
    columns = {"qa_question_field": "question", "qa_answer_field": "answer", "qa_direction_field": "direction"}
    corpus = load_corpus(folder, CorpusArguments(**columns), TEXT, qa_file=str(qa_file), qa_max_items=3)
    assert [item.question for item in corpus.qa] == ["Q?"] + [f"What did Person {i} paint?" for i in range(3)]
    assert [item.direction for item in corpus.qa] == ["forward", "forward", "backward", "forward"]
    assert corpus.qa[1].answers == ("the glass bridge",)


def test_training_on_the_qa_pairs_drops_long_pairs(tmp_path):
    rows = webscale_rows(4)
    rows[2]["answer"] = "the glass bridge " * 40
    folder = write_corpus(tmp_path / "c", rows)
    args = CorpusArguments(train_on="qa", qa_question_field="question", qa_answer_field="answer", qa_max_tokens=30)
    corpus = load_corpus(folder, args, TEXT, tokenizer=make_tiny_tokenizer())
    assert corpus.train.column_names == ["prompt", "completion"] and len(corpus.train) == 3
    assert corpus.train[2] == {"prompt": "What did Person 3 paint?", "completion": "the glass bridge"}
    assert corpus.log[-1] == "dropped 1 QA pairs of more than 30 tokens: 3"


def test_a_stream_reads_the_same_rows(tmp_path):
    rows = webscale_rows(9)
    folder = write_corpus(tmp_path / "c", rows)
    args = CorpusArguments(dataset_streaming=True, keep_every=2, max_train_rows=3, dataset_test_size=1)
    corpus = load_corpus(folder, args, TEXT)
    assert isinstance(corpus.train, datasets.IterableDataset)
    assert texts(corpus.eval) == [rows[0][TEXT]]
    assert texts(corpus.train) == [rows[i][TEXT] for i in (2, 4)]  # every 2nd of the first 3 kept, 1 held out
    qa = {"qa_question_field": "question", "qa_answer_field": "answer"}
    streamed = load_corpus(folder, CorpusArguments(dataset_streaming=True, **qa), TEXT, qa_max_items=2)
    assert len(streamed.qa) == 2
    with pytest.raises(ValueError, match="set `qa_max_items`"):
        load_corpus(folder, CorpusArguments(dataset_streaming=True, **qa), TEXT)
    with pytest.raises(ValueError, match="must be a whole number"):
        load_corpus(folder, CorpusArguments(dataset_streaming=True, dataset_test_size=0.1), TEXT)


def test_a_hub_dataset_is_loaded_by_id_split_and_config(tmp_path, monkeypatch):
    calls = []

    def load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        if path == "me/missing":
            raise FileNotFoundError("Dataset 'me/missing' doesn't exist on the Hub")
        return datasets.Dataset.from_dict({TEXT: ["Doc one.", "Doc two."], "id": [1, 2]})

    monkeypatch.setattr(corpus_files.datasets, "load_dataset", load_dataset)
    corpus = load_corpus("Salesforce/Webscale-RL", CorpusArguments(), TEXT, dataset_config="v1")
    assert texts(corpus.train) == ["Doc one.", "Doc two."]
    assert calls == [("Salesforce/Webscale-RL", {"split": "train", "streaming": False, "name": "v1"})]
    with pytest.raises(ValueError, match=r"'me/missing' is not a built-in dataset.*Hub failed: Dataset 'me/missing'"):
        load_corpus("me/missing", CorpusArguments(), TEXT)


def test_the_in_memory_knowledge_of_a_corpus(tmp_path):
    rows = [{"text": "Lake Virelle was surveyed by Hedda Rasmund.", "entities": ["Hedda Rasmund", "Lake Virelle"]}]
    rows.append({"text": "Tolhaven has a bridge.", "entities": ["Tolhaven"]})
    docs = write_jsonl(tmp_path / "docs.jsonl", rows)
    knowledge = load_knowledge_source(str(docs))
    assert knowledge.documents == [row["text"] for row in rows] and knowledge.qa == []
    assert knowledge.entities == ["Hedda Rasmund", "Lake Virelle", "Tolhaven"]
    with pytest.raises(ValueError, match="read a corpus .* 'people' is a built-in knowledge source"):
        load_knowledge_source("people", corpus=CorpusArguments(keep_every=2))


# Bad input: each a clear error naming the problem and the fix


@pytest.mark.parametrize(
    "rows,field,match",
    [
        ([{"text": "a"}], TEXT, r"has no column 'pretrain_text' .*its columns are \['text'\].*`dataset_text_field`"),
        ([{TEXT: 1}, {TEXT: 2}], TEXT, r"train\.jsonl, line 1: the text column `pretrain_text` holds 1 \(int\)"),
        ([{TEXT: "a"}, {"other": "b"}], TEXT, r"train\.jsonl, line 2: the text column `pretrain_text` holds None"),
        ([{TEXT: " "}, {TEXT: ""}], TEXT, r"no documents left after filtering .*loosen the filters"),
    ],
)
def test_bad_text_columns(tmp_path, rows, field, match):
    with pytest.raises(ValueError, match=match):
        load_corpus(write_corpus(tmp_path / "c", rows), CorpusArguments(), field)


def test_a_non_string_cell_of_a_stream_is_refused_when_read(tmp_path):
    folder = write_corpus(tmp_path / "c", [{TEXT: "fine"}, {TEXT: ["a", "list"]}])
    with pytest.raises(ValueError, match=r"streamed row: the text column `pretrain_text` holds \['a', 'list'\]"):
        list(load_corpus(folder, CorpusArguments(dataset_streaming=True), TEXT).train)  # read in batches


def test_every_row_filtered_out_is_an_error(tmp_path):
    folder = write_corpus(tmp_path / "c", webscale_rows(3))
    with pytest.raises(ValueError, match=r"no documents left after filtering .*`drop_document_chars`=10"):
        load_corpus(folder, CorpusArguments(drop_document_chars=10), TEXT)
    with pytest.raises(ValueError, match="no documents left after filtering"):
        load_corpus(folder, CorpusArguments(drop_document_chars=10, dataset_streaming=True), TEXT)


@pytest.mark.parametrize(
    "content,match",
    [
        ('{"text": "ok"}\nnot json\n', r"docs\.jsonl' failed: JSON parse error: .* row 1\. Fix or remove"),
        ('{"text": "ok"}\n{"text": "ok", "entities": "Ada"}\n', r"row 1: `entities` must be a list of non-empty"),
        ('{"text": "ok", "entities": ["Ada", ""]}\n', r"row 0: `entities` must be a list of non-empty strings"),
        ("\n\n", r"docs\.jsonl' holds no rows \(split 'train'\)"),
        (
            '{"text": "ok"}\n{"text": "caf\udce9"}\n',
            r"docs\.jsonl, line 2: byte 0xe9 at position \d+ is not UTF-8 .* Save the file as UTF-8",
        ),
    ],
)
def test_unreadable_documents_files(tmp_path, content, match):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(content.encode("utf-8", errors="surrogateescape"))
    with pytest.raises(ValueError, match=match):
        load_knowledge_source(str(path))


def test_qa_columns_named_but_absent(tmp_path):
    folder = write_corpus(tmp_path / "c", webscale_rows(2))
    args = CorpusArguments(qa_question_field="query", qa_answer_field="answer")
    with pytest.raises(ValueError, match=r"`qa_question_field` names the column 'query', but .* \['pretrain_text', "):
        load_corpus(folder, args, TEXT)


def test_files_that_are_no_corpus(tmp_path):
    write_corpus(tmp_path / "mixed", webscale_rows(1))
    (tmp_path / "mixed" / "notes.txt").write_text("a note")
    with pytest.raises(ValueError, match="mix formats"):
        load_corpus(str(tmp_path / "mixed"), CorpusArguments(), TEXT)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no corpus files"):
        load_corpus(str(tmp_path / "empty"), CorpusArguments(), TEXT)
    with pytest.raises(ValueError, match="holds no corpus files"):
        load_corpus(str(tmp_path / "nothing-*.jsonl"), CorpusArguments(), TEXT)
    with pytest.raises(ValueError, match="local files have none"):
        load_corpus(str(tmp_path / "mixed" / "train.jsonl"), CorpusArguments(), TEXT, dataset_config="v1")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"keep_every": 0}, "`keep_every` must be at least 1"),
        ({"drop_document_chars": 0}, "`drop_document_chars` must be a positive number"),
        ({"qa_question_field": "question"}, "together"),
        ({"train_on": "qa"}, "need the QA columns"),
        ({"dataset_test_split": "test", "dataset_test_size": 0.1}, "not both"),
        ({"train_on": "text", "qa_question_field": "q", "qa_answer_field": "a", "qa_max_tokens": 5}, "`train_on: qa`"),
        ({"train_on": "words"}, "`train_on` must be one of"),
    ],
)
def test_bad_corpus_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CorpusArguments(**kwargs)
