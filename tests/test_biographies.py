"""The built-in biographies and the biographies JSONL loader: documents, QA directions, paraphrase sets, errors."""

import pytest
from tiny import write_jsonl

from trl_maskft.data import (
    Biography,
    build_biographies_dataset,
    generate_biographies,
    load_biographies_jsonl,
    load_knowledge_source,
)
from trl_maskft.data.biographies import ATTRIBUTES, MAX_PARAPHRASES, biography_paraphrases


def test_biographies_are_deterministic_with_unique_names_and_birth_dates():
    assert generate_biographies(25, seed=3) == generate_biographies(25, seed=3)
    assert generate_biographies(25, seed=3) != generate_biographies(25, seed=4)
    people = generate_biographies(200, seed=0)
    assert len({p.full_name for p in people}) == len({p.birth_date for p in people}) == 200
    with pytest.raises(ValueError, match="num_people"):
        generate_biographies(0)


BIO = {
    "full_name": "Maren Oakes",
    "birth_date": "May 2, 1970",
    "birth_city": "Tartu",
    "university": "Glenmoor University",
    "major": "Geology",
    "employer": "Ironvale Mining",
    "work_city": "Bergen",
}


def attribute_order(text, person):
    """The attributes in the order `text` gives them (the person's values must differ)."""
    return sorted(ATTRIBUTES, key=lambda a: text.index(getattr(person, a)))


def test_biography_documents_name_the_person_in_the_first_sentence_only():
    people = [p for p in generate_biographies(20, seed=1) if p.birth_city != p.work_city][:5]
    data = build_biographies_dataset(people)
    assert data.paraphrases is None and len(data.documents) == 5
    for person, document in zip(people, data.documents, strict=True):
        sentences = document.split(". ")
        assert len(sentences) == len(ATTRIBUTES)
        assert sentences[0].startswith(person.full_name) and person.full_name not in " ".join(sentences[1:])
        assert attribute_order(document, person) == list(ATTRIBUTES)


def test_biography_qa_directions_and_groups():
    people = generate_biographies(4, seed=2)
    data = build_biographies_dataset(people)
    assert len(data.qa) == 4 * (len(ATTRIBUTES) + 1)
    for i, person in enumerate(people):
        items = data.qa[i * 7 : (i + 1) * 7]
        forward, backward = items[:-1], items[-1]
        for attribute, item in zip(ATTRIBUTES, forward, strict=True):
            assert item.direction == "forward" and item.group == attribute
            assert person.full_name in item.question and item.answers == (getattr(person, attribute),)
        assert backward.direction == "backward" and backward.group == "full_name"
        assert backward.answers == (person.full_name,) and person.full_name not in backward.question
        assert person.birth_date in backward.question
        assert sum(getattr(person, a) in backward.question for a in ATTRIBUTES) >= 3


def test_biography_paraphrase_sets():
    person = Biography(pronoun="she", **BIO)
    document = build_biographies_dataset([person]).documents[0]
    same = biography_paraphrases(person, "same_order")
    assert len(same) == MAX_PARAPHRASES and len({document, *same}) == MAX_PARAPHRASES + 1
    for text in same:
        assert text.startswith(("The birth of", person.full_name))
        assert attribute_order(text, person) == list(ATTRIBUTES)
    permuted = biography_paraphrases(person, "permuted", 4, seed=1)
    assert len(set(permuted)) == 4 and permuted == biography_paraphrases(person, "permuted", 4, seed=1)
    for text in permuted:
        assert text.startswith("This person") and text.endswith(f"full name is {person.full_name}.")
        assert all(getattr(person, a) in text for a in ATTRIBUTES)
    assert any(attribute_order(text, person) != list(ATTRIBUTES) for text in permuted)
    with pytest.raises(ValueError, match="num_paraphrases"):
        biography_paraphrases(person, "same_order", MAX_PARAPHRASES + 1)
    with pytest.raises(ValueError, match="sideways"):
        biography_paraphrases(person, "sideways")


def test_load_biographies_jsonl(tmp_path):
    path = write_jsonl(
        tmp_path / "bios.jsonl",
        [BIO, "", {**BIO, "full_name": "Ivo Lund", "birth_date": "May 3, 1970", "pronoun": "he"}],
    )
    people = load_biographies_jsonl(path)
    assert people[0] == Biography(pronoun="they", **BIO) and people[1].pronoun == "he"
    document = build_biographies_dataset(people).documents[0]
    assert "They were born in Tartu." in document and "Their" not in document.split(".")[0]
    data = load_knowledge_source(f"biographies:{path}", paraphrases="same_order", num_paraphrases=2)
    assert [len(group) for group in data.paraphrases] == [2, 2]


@pytest.mark.parametrize(
    "row,match",
    [
        ({k: v for k, v in BIO.items() if k != "major"}, r"bios\.jsonl, line 2: missing field 'major'"),
        ({**BIO, "pronoun": "it"}, r"bios\.jsonl, line 2: Unknown pronoun 'it'"),
        ({**BIO, "employer": ""}, r"bios\.jsonl, line 2: `employer` must be a non-empty string"),
        ('{"full_name": "Ann"', r"bios\.jsonl, line 2: malformed JSON"),
    ],
)
def test_load_biographies_errors(tmp_path, row, match):
    path = write_jsonl(tmp_path / "bios.jsonl", [{**BIO, "full_name": "Other One", "birth_date": "June 1, 1960"}, row])
    with pytest.raises(ValueError, match=match):
        load_biographies_jsonl(path)


def test_biographies_need_unique_names_and_birth_dates():
    person = Biography(pronoun="she", **BIO)
    with pytest.raises(ValueError, match="Full names must be unique"):
        build_biographies_dataset([person, Biography(pronoun="she", **{**BIO, "birth_date": "May 9, 1971"})])
    with pytest.raises(ValueError, match="Birth dates must be unique"):
        build_biographies_dataset([person, Biography(pronoun="she", **{**BIO, "full_name": "Kai Roe"})])
