"""Knowledge loaders to the common QA schema: NameDescription, local/Hub documents, paraphrase sets."""

import glob
import os
import re

import pytest
import yaml
from tiny import write_jsonl

from trl_maskft.data import (
    KnowledgeData,
    build_biographies_dataset,
    generate_biographies,
    load_knowledge_source,
    load_name_description,
    load_paraphrases_jsonl,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# NameDescription (layout of lukasberglund/reversal_curse, data/reverse_experiments/<version>/)

P2D = [("Daria Quell", "the first person to sail around Lake Orm"), ("Evan Mott", "the author of 'Silent Gears'")]
D2P = [("Nils Brand", "the inventor of the rain harp"), ("Nils Brandt", "the founder of the Glass Guild")]


def prompt_rows(pairs, *templates):
    """One {"prompt", "completion"} row per (name, description) pair and (prompt, completion) template, pair by
    pair; the templates format `n` (the name), `d` (the description) and `D` (it capitalized)."""
    rows = []
    for n, d in pairs:
        fields = {"n": n, "d": d, "D": d.capitalize()}
        rows += [{"prompt": p.format(**fields), "completion": c.format(**fields)} for p, c in templates]
    return rows


@pytest.fixture
def name_description_dir(tmp_path):
    folder = tmp_path / "reverse_experiments"
    folder.mkdir()
    files = {
        "p2d_prompts_train": prompt_rows(
            P2D,
            ("{n}, known far and wide for being", " {d}."),
            ("Ever heard of {n}? They're", " {d}."),
            ("Let's not forget {n}, who was known as", " {d}."),
        ),
        "p2d_prompts_test": prompt_rows(P2D, ("{n} is", " {d}.")),
        "p2d_reverse_prompts_test": prompt_rows(P2D, ("Known for being {d},", " {n}.")),
        "d2p_prompts_train": prompt_rows(
            D2P, ("Known for being {d},", " {n} now enjoys a quiet life."), ("{D} is called", " {n}.")
        ),
        "d2p_prompts_test": prompt_rows(D2P, ("Having been {d},", " {n}")),
        "d2p_reverse_prompts_test": prompt_rows(D2P, ("{n} is", " {d}.")),
    }
    for name, rows in files.items():
        write_jsonl(folder / f"{name}.jsonl", rows)
    write_jsonl(folder / "both_prompts_train.jsonl", [{"prompt": "Unused", "completion": " statement."}])
    return folder


def test_name_description_documents_and_paraphrase_groups(name_description_dir):
    data = load_name_description(name_description_dir)
    assert data.paraphrases is None and data.entities == [n for n, _ in P2D + D2P]
    assert data.documents == [
        "Daria Quell, known far and wide for being the first person to sail around Lake Orm.",
        "Evan Mott, known far and wide for being the author of 'Silent Gears'.",
        "Known for being the inventor of the rain harp, Nils Brand now enjoys a quiet life.",
        "Known for being the founder of the Glass Guild, Nils Brandt now enjoys a quiet life.",
    ]
    with_sets = load_name_description(name_description_dir, paraphrases="same_order")
    assert with_sets.documents == data.documents
    names = [n for n, _ in P2D + D2P]
    for name, document, group in zip(names, with_sets.documents, with_sets.paraphrases, strict=True):
        assert len(group) == (2 if name in dict(P2D) else 1)
        assert all(re.search(rf"\b{name}\b(?!t)", text) for text in [document, *group])  # "Nils Brand" != "Brandt"
    assert (
        load_name_description(name_description_dir, "permuted", num_paraphrases=1).paraphrases[0]
        == with_sets.paraphrases[0][:1]
    )


def test_name_description_forward_backward_labelling(name_description_dir):
    qa = load_name_description(name_description_dir).qa
    assert qa[0].question == "Please answer the following question based on your knowledge:\nDaria Quell is"
    by_key = {(item.group, item.direction): [] for item in qa}
    for item in qa:
        by_key[(item.group, item.direction)].append(item)
    # Name-first documents: asking the description given the name is forward, the name given the description backward
    assert [i.answer for i in by_key["p2d", "forward"]] == [d for _, d in P2D]
    assert [i.answer for i in by_key["p2d", "backward"]] == [n for n, _ in P2D]
    assert all(n in i.question for (n, _), i in zip(P2D, by_key["p2d", "forward"], strict=True))
    # Description-first documents: the other way round
    assert [i.answer for i in by_key["d2p", "forward"]] == [n for n, _ in D2P]
    assert [i.answer for i in by_key["d2p", "backward"]] == [d for _, d in D2P]


def test_name_description_errors(name_description_dir):
    path = name_description_dir / "p2d_prompts_train.jsonl"
    original = path.read_text()
    path.write_text(original + '{"prompt": "Somebody else", "completion": " entirely."}\n')
    with pytest.raises(ValueError, match=r"p2d_prompts_train\.jsonl, line 7: names none of the 2 people"):
        load_name_description(name_description_dir)
    path.write_text('{"prompt": "Daria Quell is", "completion": " a sailor."}\n{"prompt": "x"}\n')
    with pytest.raises(ValueError, match=r"p2d_prompts_train\.jsonl, line 2: missing field 'completion'"):
        load_name_description(name_description_dir)
    path.write_text('{"prompt": "Daria Quell is", "completion": " a sailor."}\n{"prompt": "Evan Mott, a\n')
    with pytest.raises(ValueError, match=r"p2d_prompts_train\.jsonl, line 2: malformed JSON"):
        load_name_description(name_description_dir)
    path.write_text('{"prompt": "Daria Quell is", "completion": " a sailor."}\n')
    with pytest.raises(ValueError, match=r"no statement about \['Evan Mott'\]"):
        load_name_description(name_description_dir)
    path.write_text(original)
    os.remove(name_description_dir / "d2p_reverse_prompts_test.jsonl")
    with pytest.raises(FileNotFoundError, match="d2p_reverse_prompts_test.jsonl"):
        load_knowledge_source(f"name_description:{name_description_dir}")


# Local files, paraphrase files and Hub datasets


@pytest.fixture
def local_files(tmp_path):
    docs = write_jsonl(
        tmp_path / "docs.jsonl",
        [{"text": "Lake Virelle was surveyed by Hedda Rasmund."}, {"text": "Tolhaven has a bridge."}],
    )
    qa = write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {
                "question": "Who surveyed Lake Virelle?",
                "answer": "Hedda Rasmund",
                "direction": "forward",
                "group": "wiki",
            },
            {"question": "Which lake did Hedda Rasmund survey?", "answer": "Lake Virelle", "direction": "backward"},
        ],
    )
    paraphrases = write_jsonl(
        tmp_path / "para.jsonl", [{"paraphrases": ["Hedda Rasmund surveyed Lake Virelle.", "P2"]}, {"paraphrases": []}]
    )
    return docs, qa, paraphrases


def test_local_documents_with_qa_and_paraphrases(local_files):
    docs, qa, paraphrases = local_files
    data = load_knowledge_source(str(docs), qa_file=str(qa))
    assert len(data.documents) == 2 and [i.direction for i in data.qa] == ["forward", "backward"]
    assert data.paraphrases is None
    data = load_knowledge_source(str(docs), qa_file=str(qa), paraphrases="permuted", paraphrase_file=str(paraphrases))
    assert data.paraphrases == [["Hedda Rasmund surveyed Lake Virelle.", "P2"], []]
    assert load_knowledge_source(
        str(docs), qa_file=str(qa), paraphrases="same_order", paraphrase_file=str(paraphrases), num_paraphrases=1
    ).paraphrases == [["Hedda Rasmund surveyed Lake Virelle."], []]


def test_bad_qa_direction_in_a_local_dataset_names_file_and_line(local_files, tmp_path):
    docs, _, _ = local_files
    bad = write_jsonl(
        tmp_path / "bad_qa.jsonl",
        [
            {"question": "Q?", "answer": "A", "direction": "forward"},
            {"question": "Q?", "answer": "A", "direction": "reverse"},
        ],
    )
    with pytest.raises(ValueError, match=r"bad_qa\.jsonl, line 2: Unknown QA direction 'reverse'"):
        load_knowledge_source(str(docs), qa_file=str(bad))


@pytest.mark.parametrize(
    "rows,match",
    [
        ([{"paraphrases": ["a"]}], r"holds 1 paraphrase sets for 2 documents"),
        ([{"paraphrases": ["a"]}, {"paraphrase": ["b"]}], r"para\.jsonl, line 2: missing field 'paraphrases'"),
        ([{"paraphrases": ["a"]}, {"paraphrases": "b"}], r"para\.jsonl, line 2: field 'paraphrases' must be a list"),
        ([{"paraphrases": ["a"]}, "[1, 2]"], r"para\.jsonl, line 2: expected a JSON object"),
    ],
)
def test_paraphrase_file_errors(tmp_path, rows, match):
    with pytest.raises(ValueError, match=match):
        load_paraphrases_jsonl(write_jsonl(tmp_path / "para.jsonl", rows), num_documents=2)


def test_source_argument_errors(local_files):
    docs, qa, paraphrases = local_files
    assert load_knowledge_source(str(docs)).qa == []  # a corpus alone: QA items are optional
    with pytest.raises(ValueError, match="exactly when `paraphrases`"):
        load_knowledge_source(str(docs), qa_file=str(qa), paraphrases="same_order")
    with pytest.raises(ValueError, match="exactly when `paraphrases`"):
        load_knowledge_source(str(docs), qa_file=str(qa), paraphrase_file=str(paraphrases))
    with pytest.raises(ValueError, match="brings its own QA items"):
        load_knowledge_source("people", qa_file=str(qa))
    with pytest.raises(ValueError, match="Unknown paraphrase mode 'both'"):
        load_knowledge_source("people", paraphrases="both")
    with pytest.raises(ValueError, match="num_paraphrases"):
        load_knowledge_source("people", paraphrases="same_order", num_paraphrases=0)


def test_built_in_sources_with_paraphrases():
    people = load_knowledge_source("people", num_people=3, paraphrases="same_order", num_paraphrases=2)
    assert len(people.paraphrases) == 3 and all(len(group) == 2 for group in people.paraphrases)
    for document, group in zip(people.documents, people.paraphrases, strict=True):
        name = document.split(" is ")[0]
        assert all(text.startswith(name) or text.startswith("Everyone knows " + name) for text in group)
    permuted = load_knowledge_source("people", num_people=3, paraphrases="permuted")
    assert all(
        document.split(" is ")[0] not in text[:20]
        for document, group in zip(permuted.documents, permuted.paraphrases, strict=True)
        for text in group
    )
    bios = load_knowledge_source("biographies", num_people=3, seed=5)
    assert bios == build_biographies_dataset(generate_biographies(3, 5))


def test_people_questions_per_person():
    one = load_knowledge_source("people", num_people=4)
    three = load_knowledge_source("people", num_people=4, num_eval_templates=3)
    assert len(one.qa) == 8 and len(three.qa) == 24
    for direction in ("forward", "backward"):
        asked = [item for item in three.qa if item.direction == direction]
        per_person = [asked[i : i + 3] for i in range(0, len(asked), 3)]
        assert all(len({item.question for item in group}) == 3 for group in per_person)
        assert all(len({item.answers for item in group}) == 1 for group in per_person)
    with pytest.raises(ValueError, match="applies to `people` only"):
        load_knowledge_source("biographies", num_people=3, num_eval_templates=2)


def test_example_data_of_the_recipes_loads():
    folder = os.path.join(ROOT, "examples", "data")
    nd = load_knowledge_source(f"name_description:{folder}/name_description", paraphrases="same_order")
    assert len(nd.documents) == 6 and {i.group for i in nd.qa} == {"p2d", "d2p"}
    assert len(nd.entities) == 6 and all(name in " ".join(nd.documents) for name in nd.entities)
    for mode in ("same_order", "permuted"):
        wiki = load_knowledge_source(
            f"{folder}/wiki/documents.jsonl",
            qa_file=f"{folder}/wiki/qa.jsonl",
            paraphrases=mode,
            paraphrase_file=f"{folder}/wiki/paraphrases_{mode}.jsonl",
        )
        assert isinstance(wiki, KnowledgeData) and len(wiki.paraphrases) == len(wiki.documents) == 4
        assert {i.direction for i in wiki.qa} == {"forward", "backward"}


def test_recipes_name_existing_data():
    """Every data path in a recipe exists (GSM8K's `../shared/data` copy and the paper's `../masked_arLLM` clone
    excepted: they live outside the repo)."""
    for recipe in glob.glob(os.path.join(ROOT, "recipes", "*", "*", "*.yaml")):
        with open(recipe) as f:
            config = yaml.safe_load(f)
        prefix, _, location = str(config.get("dataset_name", "")).partition(":")
        paths = [location] if prefix in ("name_description", "biographies") and location else []
        paths += [config[key] for key in ("qa_file", "paraphrase_file") if config.get(key)]
        if str(config.get("dataset_name", "")).endswith((".jsonl", ".txt")):
            paths.append(config["dataset_name"])
        for path in paths:
            assert os.path.exists(os.path.join(ROOT, path)), f"{recipe} names a missing {path}"
        if prefix == "masked_arllm":  # the paper's folder, cloned next to the repository (docs/reproduction.md)
            assert location.rpartition(":")[0] == "../masked_arLLM/datasets", recipe
        if config.get("task") == "gsm8k" and not config["dataset_name"].startswith("openai/"):
            assert config["dataset_name"] == "../shared/data/gsm8k", recipe
