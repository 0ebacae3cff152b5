"""The paper's own data files (xup5/masked_arLLM `datasets/`), in small invented copies written in their formats."""

import json

import pytest
from tiny import write_jsonl

from trl_maskft.data import load_knowledge_source, load_masked_arllm, training_documents
from trl_maskft.data.masked_arllm import split_paraphrase_file
from trl_maskft.data.paper_format import paper_direction, read_json_texts
from trl_maskft.data.qa_io import load_qa_jsonl

ND_DOCS = [
    "Orla Penhallow, known far and wide for being the first cartographer of the Glass Sea.",
    "Known for being the inventor of the humming lantern, Bram Ostley now enjoys a quite life.",
]
ND_PARAPHRASES = [
    ["Ever heard of Orla Penhallow? They mapped the Glass Sea first.", "Orla Penhallow charted the Glass Sea."],
    ["The inventor of the humming lantern is called Bram Ostley.", "Q: Who invented the humming lantern? A: Bram."],
]
PREFIX = "Please answer the following question based on your knowledge:\n"
ND_TEST = [  # (group, task, question, answer): each kind of question once
    ("NameIsDescription", "N2D", "What do you know about Orla Penhallow?", "the first cartographer of the Glass Sea"),
    ("NameIsDescription", "D2N", "Who is the first cartographer of the Glass Sea?", "Orla Penhallow"),
    ("DescriptionIsName", "N2D", "What do you know about Bram Ostley?", "the inventor of the humming lantern"),
    ("DescriptionIsName", "D2N", "Who is the inventor of the humming lantern?", "Bram Ostley"),
]
BIO_DOCS = ["Ada Quill was born on May 2, 1950. She studied Botany. She worked for Fernworks."]
BIO_TEST = [
    ("", "N2D", "What major did Ada Quill study?", "Botany"),
    ("", "D2N", "Give me the full name of the person who 1) studied Botany, 2) worked for Fernworks?", "Ada Quill"),
]
WIKI_DOCS = ["The 2025 Lantern Regatta was held on Lake Vell.", "Mount Orrin is the tallest peak of Dastria."]
WIKI_TEST = [
    ("", "forward", "Where was the 2025 Lantern Regatta held?", "Lake Vell"),
    ("", "backward", "Which peak is the tallest of Dastria?", "Mount Orrin"),
]


def write_json(path, texts):
    path.write_text(json.dumps([{"text": text} for text in texts], indent=4))
    return path


def write_test(path, rows):
    return write_jsonl(path, [{"group": g, "task": t, "question": q, "answer": a} for g, t, q, a in rows])


@pytest.fixture
def paper_folder(tmp_path):
    """A `datasets/` folder laid out like the paper's, with invented contents."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    write_json(folder / "ND_train_no_paraphrase.json", ND_DOCS)
    flat = [text for doc, group in zip(ND_DOCS, ND_PARAPHRASES, strict=True) for text in (doc, *group)]
    write_json(folder / "ND_train_paraphrase.json", flat)
    write_test(folder / "ND_test.jsonl", [(g, t, PREFIX + q, a) for g, t, q, a in ND_TEST])
    write_json(folder / "biography_train_no_paraphrase.json", BIO_DOCS)
    write_json(folder / "biography_train_paraphrase_same_order.json", [BIO_DOCS[0], "Ada Quill, born May 2, 1950."])
    write_test(folder / "biography_test.jsonl", BIO_TEST)
    write_json(folder / "wiki_train_no_paraphrase.json", WIKI_DOCS)
    write_json(folder / "wiki_train_paraphrase_same_order.json", [WIKI_DOCS[0], "P1", WIKI_DOCS[1], "P2", "P3"])
    write_json(folder / "wiki_train_paraphrase_change_order.json", [WIKI_DOCS[0], WIKI_DOCS[1], "Dastria's peak."])
    write_test(folder / "wiki_test.jsonl", WIKI_TEST)
    return folder


def test_paper_direction_rule():
    assert paper_direction("N2D", "NameIsDescription") == "forward"
    assert paper_direction("D2N", "NameIsDescription") == "backward"
    assert paper_direction("N2D", "DescriptionIsName") == "backward"
    assert paper_direction("D2N", "DescriptionIsName") == "forward"
    assert paper_direction("N2D", "") == "forward" and paper_direction("D2N") == "backward"  # Biography
    assert paper_direction("forward") == "forward" and paper_direction("backward", "") == "backward"  # Wiki
    with pytest.raises(ValueError, match="Unknown task 'P2D'"):
        paper_direction("P2D")
    with pytest.raises(ValueError, match="Unknown group 'NameFirst'"):
        paper_direction("N2D", "NameFirst")


def test_nd_folder_loads_as_the_paper_has_it(paper_folder):
    data = load_knowledge_source(f"masked_arllm:{paper_folder}:ND")
    assert data.documents == ND_DOCS and data.paraphrases is None
    assert [(i.group, i.direction) for i in data.qa] == [
        ("NameIsDescription", "forward"),
        ("NameIsDescription", "backward"),
        ("DescriptionIsName", "backward"),
        ("DescriptionIsName", "forward"),
    ]
    assert data.qa[0].question == PREFIX + ND_TEST[0][2]  # verbatim: the paper's open-ended questions
    assert data.entities == ["Orla Penhallow", "Bram Ostley"]  # the D2N answers
    # ND has one paraphrase set: both modes train on the paper's flat file, in its order
    for mode in ("same_order", "permuted"):
        with_paraphrases = load_masked_arllm(f"{paper_folder}:nd", mode)
        assert with_paraphrases.paraphrases == ND_PARAPHRASES
        assert training_documents(with_paraphrases) == read_json_texts(paper_folder / "ND_train_paraphrase.json")
    assert load_masked_arllm(f"{paper_folder}:ND", "same_order", num_paraphrases=1).paraphrases == [
        group[:1] for group in ND_PARAPHRASES
    ]


def test_biography_and_wiki_folders_load(paper_folder):
    bio = load_knowledge_source(f"masked_arllm:{paper_folder}:biography", paraphrases="same_order")
    assert [i.direction for i in bio.qa] == ["forward", "backward"] and bio.paraphrases == [
        ["Ada Quill, born May 2, 1950."]
    ]
    assert bio.entities == ["Botany", "Ada Quill"]
    wiki = load_knowledge_source(f"masked_arllm:{paper_folder}:wiki", paraphrases="same_order")
    assert [i.direction for i in wiki.qa] == ["forward", "backward"] and wiki.entities == []
    assert wiki.paraphrases == [["P1"], ["P2", "P3"]]  # sets of any size
    assert load_masked_arllm(f"{paper_folder}:wiki", "permuted").paraphrases == [[], ["Dastria's peak."]]
    # The paper's test file also loads as a plain `qa_file`
    assert load_qa_jsonl(paper_folder / "wiki_test.jsonl") == wiki.qa


def test_paper_folder_errors(paper_folder, tmp_path):
    with pytest.raises(ValueError, match=r"names no dataset: use `masked_arllm:<folder>:<dataset>`.*'ND'"):
        load_knowledge_source(f"masked_arllm:{paper_folder}")
    with pytest.raises(FileNotFoundError, match=r"was not found: clone https://github.com/xup5/masked_arLLM"):
        load_knowledge_source(f"masked_arllm:{tmp_path / 'nowhere'}:ND")
    with pytest.raises(FileNotFoundError, match="biography_train_paraphrase_change_order.json not found"):
        load_masked_arllm(f"{paper_folder}:biography", "permuted")
    with pytest.raises(ValueError, match="brings its own QA items"):
        load_knowledge_source(f"masked_arllm:{paper_folder}:ND", qa_file=str(paper_folder / "ND_test.jsonl"))
    write_json(paper_folder / "wiki_train_paraphrase_same_order.json", [WIKI_DOCS[1], "P2", WIKI_DOCS[0]])
    with pytest.raises(ValueError, match=r"document 1 of the training file .* is not in it, in the order"):
        load_masked_arllm(f"{paper_folder}:wiki", "same_order")
    with pytest.raises(ValueError, match="1 texts come before the first document"):
        split_paraphrase_file(["A"], ["P", "A"], "flat.json")


def test_json_documents_load_with_clear_errors(tmp_path):
    # a .json array of {"text"} objects is also a corpus (read by `datasets`), as any local documents file
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Q?", "answer": "One", "direction": "forward"}])
    corpus = load_knowledge_source(str(write_json(tmp_path / "corpus.json", ["One.", "Two."])), qa_file=str(qa))
    assert corpus.documents == ["One.", "Two."]
    assert read_json_texts(write_json(tmp_path / "docs.json", ["One.", "Two."])) == ["One.", "Two."]
    strings = tmp_path / "strings.json"
    strings.write_text(json.dumps(["One.", "Two."]))
    assert read_json_texts(strings) == ["One.", "Two."]
    (tmp_path / "broken.json").write_text('[\n    {"text": "One."},\n    {"text": \n]')
    with pytest.raises(ValueError, match=r"broken\.json: malformed JSON at line 4, column 1 .* holds one JSON array"):
        read_json_texts(tmp_path / "broken.json")
    (tmp_path / "object.json").write_text('{"text": "One."}')
    with pytest.raises(ValueError, match=r"expected a JSON array of documents .* got a dict"):
        read_json_texts(tmp_path / "object.json")
    (tmp_path / "bad_item.json").write_text('[{"text": "One."}, {"body": "Two."}]')
    with pytest.raises(ValueError, match=r"bad_item\.json, item 1: expected a non-empty string or an object"):
        read_json_texts(tmp_path / "bad_item.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ValueError, match="holds no documents"):
        read_json_texts(tmp_path / "empty.json")


def test_paper_test_lines_errors(tmp_path):
    path = write_jsonl(
        tmp_path / "qa.jsonl", [{"group": "", "task": "N2D", "question": "Q?", "answer": "A"}, {"x": 1}]
    )
    with pytest.raises(ValueError, match=r"qa\.jsonl, line 2: missing field 'question'"):
        load_qa_jsonl(path)
    path = write_jsonl(tmp_path / "qa2.jsonl", [{"group": "Odd", "task": "N2D", "question": "Q?", "answer": "A"}])
    with pytest.raises(ValueError, match=r"qa2\.jsonl, line 1: Unknown group 'Odd'"):
        load_qa_jsonl(path)
    path = write_jsonl(tmp_path / "qa3.jsonl", [{"question": "Q?", "answer": "A"}])
    with pytest.raises(ValueError, match=r"qa3\.jsonl, line 1: missing field 'direction'"):
        load_qa_jsonl(path)
