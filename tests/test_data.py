import json

import pytest
from tiny import write_jsonl

from trl_maskft.data import (
    QAItem,
    build_people_dataset,
    generate_people,
    load_qa_jsonl,
    save_qa_jsonl,
)
from trl_maskft.data.people import DESCRIPTIONS, FIRST_NAMES, MAX_PEOPLE, SURNAMES
from trl_maskft.evaluation.qa_scoring import lenient_tokens


def test_people_are_deterministic_per_seed_and_differ_across_seeds():
    assert generate_people(30, seed=0) == generate_people(30, seed=0)
    assert build_people_dataset(10, seed=3) == build_people_dataset(10, seed=3)
    assert generate_people(30, seed=0) != generate_people(30, seed=1)
    assert build_people_dataset(10, seed=0).documents != build_people_dataset(10, seed=1).documents


@pytest.mark.parametrize("num_people", [1, 30, MAX_PEOPLE])
def test_names_surnames_and_descriptions_are_unique(num_people):
    people = generate_people(num_people, seed=7)
    assert len(people) == num_people
    for values in ([p.name for p in people], [p.name.split()[-1] for p in people], [p.description for p in people]):
        assert len(set(values)) == num_people


def test_lists_are_large_enough_and_names_share_no_word_with_descriptions():
    assert len(set(FIRST_NAMES)) == len(FIRST_NAMES) >= 60
    assert len(set(SURNAMES)) == len(SURNAMES) >= 60
    assert len(set(DESCRIPTIONS)) == len(DESCRIPTIONS) >= 500
    name_words = {token for name in FIRST_NAMES + SURNAMES for token in lenient_tokens(name)}
    description_words = {token for description in DESCRIPTIONS for token in lenient_tokens(description)}
    assert not name_words & description_words


@pytest.mark.parametrize("num_people", [0, MAX_PEOPLE + 1])
def test_too_many_or_too_few_people_name_the_maximum(num_people):
    with pytest.raises(ValueError, match=str(MAX_PEOPLE)):
        generate_people(num_people)


def test_people_dataset_documents_and_directions():
    people = generate_people(12, seed=0)
    data = build_people_dataset(12, seed=0)
    assert data.documents == [f"{p.name} is {p.description}." for p in people]
    assert data.paraphrases is None
    assert len(data.qa) == 2 * len(people)
    forward = [item for item in data.qa if item.direction == "forward"]
    backward = [item for item in data.qa if item.direction == "backward"]
    for person, fwd, bwd in zip(people, forward, backward, strict=True):
        assert person.name in fwd.question and fwd.answers == (person.description,)
        assert person.description.lower() in bwd.question.lower() and bwd.answers == (person.name,)
        assert person.name not in bwd.question and person.description not in fwd.question
        assert fwd.group == bwd.group == "people"
        assert bwd.question[0].isupper() and fwd.question[0].isupper()
    # templates rotate: with 12 people every template is used
    assert len({item.question.replace(p.name, "") for item, p in zip(forward, people, strict=True)}) > 3


def test_backward_question_starting_with_the_description_is_sentence_cased():
    data = build_people_dataset(4, seed=0, num_eval_templates=4)
    questions = [item.question for item in data.qa if item.direction == "backward"]
    assert any(q.startswith("The ") for q in questions)
    assert all(
        q.startswith(("Who is the ", "What is the name of the ", "Can you name the ", "The ")) for q in questions
    )


def test_num_eval_templates():
    data = build_people_dataset(5, seed=0, num_eval_templates=3)
    assert len(data.qa) == 5 * 2 * 3
    assert len({item.question for item in data.qa}) == len(data.qa)
    with pytest.raises(ValueError, match="num_eval_templates"):
        build_people_dataset(5, num_eval_templates=0)
    with pytest.raises(ValueError, match="num_eval_templates"):
        build_people_dataset(5, num_eval_templates=100)


def test_knowledge_data_views():
    data = build_people_dataset(3, seed=0)
    dataset = data.documents_dataset()
    assert dataset.column_names == ["text"] and dataset["text"] == data.documents
    records = data.qa_records()
    assert records[0] == {
        "question": data.qa[0].question,
        "answers": [data.qa[0].answer],
        "direction": "forward",
        "group": "people",
    }


def test_qa_item_validation():
    item = QAItem("Q?", "A", "backward")
    assert item.answers == ("A",) and item.answer == "A" and item.group == ""
    assert QAItem("Q?", ["A", "B"], "forward").answers == ("A", "B")
    with pytest.raises(ValueError, match=r"'sideways'.*forward.*backward"):
        QAItem("Q?", "A", "sideways")
    for bad_answers in ([], "", ["A", " "], 3, [3]):
        with pytest.raises(ValueError, match="answers"):
            QAItem("Q?", bad_answers, "forward")
    with pytest.raises(ValueError, match="question"):
        QAItem("", "A", "forward")
    with pytest.raises(ValueError, match="group"):
        QAItem("Q?", "A", "forward", None)


def test_qa_round_trip(tmp_path):
    items = [
        QAItem("Who is Ada?", "the inventor of the glass kite", "forward", "people"),
        QAItem("Who invented the glass kite?", ("Ada Vexley", "Ada"), "backward"),
        QAItem("Où est-ce ?", "Zürich", "forward", "city"),
    ]
    path = tmp_path / "qa.jsonl"
    save_qa_jsonl(items, path)
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["answer"] == "the inventor of the glass kite"
    assert load_qa_jsonl(path) == items
    assert load_qa_jsonl(str(path)) == items


def test_load_qa_skips_blank_lines_and_defaults_group(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('\n{"question": "Q?", "answer": "A", "direction": "forward"}\n\n   \n')
    assert load_qa_jsonl(path) == [QAItem("Q?", ("A",), "forward")]


GOOD = '{"question": "Q?", "answer": "A", "direction": "forward"}'


@pytest.mark.parametrize(
    "lines,match",
    [
        ([GOOD, "", '{"question": "Q?", "answer": '], r"qa\.jsonl, line 3: malformed JSON"),
        ([GOOD, '["not", "an", "object"]'], r"qa\.jsonl, line 2: expected a JSON object"),
        ([GOOD, '{"question": "Q?", "direction": "forward"}'], r"qa\.jsonl, line 2: missing field 'answer'"),
        (['{"answer": "A", "direction": "forward"}'], r"qa\.jsonl, line 1: missing field 'question'"),
        (['{"question": "Q?", "answer": "A"}'], r"qa\.jsonl, line 1: missing field 'direction'"),
        (
            [GOOD, '{"question": "Q?", "answer": "A", "direction": "up"}'],
            r"qa\.jsonl, line 2: .*'up'.*'forward', 'backward'",
        ),
        (['{"question": "Q?", "answer": 3, "direction": "forward"}'], r"qa\.jsonl, line 1: .*answers"),
        (["", "  "], r"qa\.jsonl holds no QA items"),
    ],
)
def test_load_qa_errors(tmp_path, lines, match):
    path = write_jsonl(tmp_path / "qa.jsonl", lines)
    with pytest.raises(ValueError, match=match):
        load_qa_jsonl(path)
