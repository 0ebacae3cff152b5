import string

import pytest
from rouge_score import rouge_scorer

from trl_maskft.metrics import STOP_WORDS, aggregate_scores, contains_answer, normalize_tokens, rouge1_recall

PAPER_STOP_WORDS = {"a", "of", "the", "and", "is", "are", "be", "to", "new", "on", "in", "at", "an", "for"}


def test_stop_words_are_exactly_the_documented_ones():
    assert STOP_WORDS == PAPER_STOP_WORDS


@pytest.mark.parametrize(
    "text,tokens",
    [
        ("The Director of 'A Journey Through Time'.", ["director", "journey", "through", "time"]),
        ("  Hello, world!  It's   me ", ["hello", "world", "its", "me"]),
        ("Hello,world", ["helloworld"]),  # punctuation is removed, not turned into a space
        ("O'Brien's co-founder", ["obriens", "cofounder"]),
        ("is a the of", []),
        ("New York is in the U.S.A.", ["york", "usa"]),
        ("?!...", []),
        ("", []),
    ],
)
def test_normalize_tokens(text, tokens):
    assert normalize_tokens(text) == tokens


@pytest.mark.parametrize(
    "prediction,reference,expected",
    [
        ("She is the painter of a glass bridge.", "the painter of a glass bridge", 1.0),
        ("That was Alice Smith.", "Alice Thornbury", 0.5),
        ("He is a pilot.", "the pilot of a red lighthouse", 1 / 3),
        ("I don't know.", "Alice Thornbury", 0.0),
        ("glass, glass, GLASS!", "glass bridge glass", 2 / 3),  # both "glass", no "bridge"
        ("glass glass glass", "glass", 1.0),  # clipped: repeats count once per reference occurrence
        ("glass", "glass bridge glass", 1 / 3),  # a single "glass" covers only one of the two
        ("anything at all", "the of a", 0.0),  # nothing left of the reference
        ("anything", "", 0.0),
    ],
)
def test_rouge1_recall_hand_made(prediction, reference, expected):
    assert rouge1_recall(prediction, reference) == pytest.approx(expected)


def test_rouge1_recall_ignores_punctuation_and_case():
    reference = "the director of 'A Journey Through Time'"
    assert rouge1_recall("THE DIRECTOR, of: 'Journey' through... TIME!", reference) == 1.0


def test_punctuation_inside_a_word_is_removed_as_in_the_paper():
    assert rouge1_recall("Sean Obrien", "Sean O'Brien") == 1.0
    assert rouge1_recall("Sean O Brien", "Sean O'Brien") == 0.5  # "o" and "brien" are not "obrien"
    assert contains_answer("It was Sean OBrien.", "Sean O'Brien") == 1.0
    assert contains_answer("It was Sean O. Brien.", "Sean O'Brien") == 0.0


def test_rouge1_recall_is_the_max_over_references():
    references = ["Alice Thornbury", "the painter of a glass bridge", "Ms. A. Thornbury"]
    assert rouge1_recall("a bridge made of glass", references) == pytest.approx(2 / 3)
    assert rouge1_recall("Thornbury", references) == pytest.approx(0.5)
    assert rouge1_recall("Thornbury", tuple(references)) == pytest.approx(0.5)
    assert rouge1_recall("anything", []) == 0.0


class PaperTokenizer:
    """The paper's normalization for `rouge_score`, written independently of `normalize_tokens`: lowercase, strip,
    remove punctuation, drop the 14 stop words."""

    def tokenize(self, text):
        kept = "".join(char for char in text.lower().strip() if char not in string.punctuation)
        return [word for word in kept.split() if word not in PAPER_STOP_WORDS]


STRINGS = [
    "She is the painter of a glass bridge.",
    "the painter of a glass bridge",
    "That was Alice Smith, the pilot.",
    "Alice Thornbury",
    "He is a pilot of the red, red lighthouse!",
    "the pilot of a red lighthouse",
    "Ysolde Darrowby is the first person to climb the Mount of Silvercrest.",
    "the first person to climb the Mount of Silvercrest",
    "The composer of the 'Symphony of Falling Leaves' was born in 1802 and composed 3 symphonies",
    "I don't know who that is; a new person, perhaps?",
    "Bread and butter and jam are on the table at noon",
    "Sean O'Brien, the co-founder of the U.S.A.-based Brightwater Inc.",
    "Sean OBrien cofounded Brightwater in the USA",
    "Sean O Brien, co founder",
    "one two three two one",
    "two two two",
    "The... of, a!",
]


@pytest.mark.parametrize("reference", STRINGS)
def test_rouge1_recall_agrees_with_rouge_score_on_raw_text(reference):
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False, tokenizer=PaperTokenizer())
    for prediction in STRINGS:
        expected = scorer.score(reference, prediction)["rouge1"].recall
        assert rouge1_recall(prediction, reference) == pytest.approx(expected, abs=1e-12), (prediction, reference)


@pytest.mark.parametrize(
    "prediction,references,expected",
    [
        ("She is the painter of a glass bridge.", "the painter of a glass bridge", 1.0),
        ("She painted the glass bridge.", "the painter of a glass bridge", 0.0),
        ("Clara lives in Lisbon, Portugal.", "Lisbon", 1.0),
        ("It was ALICE  thornbury!", "Alice Thornbury", 1.0),
        ("Alice is Thornbury", "Alice Thornbury", 1.0),  # stop words between the tokens are dropped
        ("Alice Smith Thornbury", "Alice Thornbury", 0.0),  # not contiguous
        ("Thornbury, Alice", "Alice Thornbury", 0.0),  # wrong order
        ("Alicette Thornbury", "Alice Thornbury", 0.0),  # whole tokens only
        ("Smith", ["Alice Thornbury", "Bob Smith", "Smith"], 1.0),
        ("anything", ["the", ""], 0.0),
    ],
)
def test_contains_answer(prediction, references, expected):
    assert contains_answer(prediction, references) == expected


def test_aggregate_scores():
    records = [
        {"direction": "forward", "group": "people", "rouge1": 1.0, "contains": 1.0},
        {"direction": "forward", "group": "city", "rouge1": 0.5, "contains": 0.0},
        {"direction": "forward", "group": "", "rouge1": 0.0, "contains": 0.0},
        {"direction": "backward", "group": "people", "rouge1": 0.25, "contains": 0.0},
        {"direction": "backward", "group": "people", "rouge1": 0.75, "contains": 1.0},
    ]
    assert aggregate_scores(records) == pytest.approx(
        {
            "qa_rouge1": 2.5 / 5,
            "qa_contains": 2 / 5,
            "qa_forward_rouge1": 1.5 / 3,
            "qa_forward_contains": 1 / 3,
            "qa_forward_people_rouge1": 1.0,
            "qa_forward_people_contains": 1.0,
            "qa_forward_city_rouge1": 0.5,
            "qa_forward_city_contains": 0.0,
            "qa_backward_rouge1": 0.5,
            "qa_backward_contains": 0.5,
            "qa_backward_people_rouge1": 0.5,
            "qa_backward_people_contains": 0.5,
        }
    )


def test_aggregate_scores_of_nothing_is_empty():
    assert aggregate_scores([]) == {}
