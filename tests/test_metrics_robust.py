"""The robust score (Unicode-normalised ROUGE-1), `contains_answer` under each score's normalisation, aggregation."""

import pytest

from trl_maskft.evaluation.qa_scoring import (
    aggregate_scores,
    contains_answer,
    robust_tokens,
    rouge1_recall,
    score_answer,
)


@pytest.mark.parametrize(
    "prediction,reference",
    [
        ("The author is Seán O'Brien.", "Seán O’Brien"),
        ("«Ångström Nights», a novel", "Ångström Nights"),
        ("李小龍创立了大槻天文台。", "李小龍"),
    ],
)
def test_robust_score_on_issue_14_case_7(prediction, reference):
    """Issue 14, case 7: correct non-ASCII answers scored 0.5, 0.0 and 0.0; the robust score gives each 1.0."""
    assert score_answer(prediction, reference, "robust") == {"rouge1": 1.0, "contains": 1.0}


@pytest.mark.parametrize(
    "prediction,reference,expected",
    [
        ("Sea\u0301n", "Seán", 1.0),  # decomposed and composed accents are one letter after NFKC
        ("ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "fullwidth abc", 1.0),
        ("Die STRASSE", "Straße", 1.0),  # case folding, not just lowercasing
        ("大槻天文台", "天文台", 1.0),
        ("天文", "天文台", 2 / 3),  # per character
        ("東京タワーへ行きました", "東京タワー", 1.0),
        ("l'«Ångström»—", "l’Ångström", 1.0),
    ],
)
def test_robust_score_normalises_unicode(prediction, reference, expected):
    assert rouge1_recall(prediction, reference, "robust") == pytest.approx(expected)


def test_robust_tokens():
    assert robust_tokens("«Ångström Nights», a novel") == ["ångström", "nights", "novel"]
    assert robust_tokens("李小龍创立了大槻天文台。") == list("李小龍创立了大槻天文台")
    assert robust_tokens("The 大槻 Observatory!") == ["大", "槻", "observatory"]


@pytest.mark.parametrize(
    "prediction,references,score,expected",
    [
        ("She is the painter of a glass bridge.", "the painter of a glass bridge", "paper", 1.0),
        ("She painted the glass bridge.", "the painter of a glass bridge", "paper", 0.0),
        ("Clara lives in Lisbon, Portugal.", "Lisbon", "paper", 1.0),
        ("It was ALICE  thornbury!", "Alice Thornbury", "lenient", 1.0),
        ("It was ALICE  thornbury!", "Alice Thornbury", "paper", 0.0),  # the paper's tokens keep their case
        ("It was Alice  Thornbury!", "Alice Thornbury", "paper", 1.0),
        ("Alice is Thornbury", "Alice Thornbury", "lenient", 1.0),  # stop words between the tokens are dropped
        ("Alice Smith Thornbury", "Alice Thornbury", "lenient", 0.0),  # not contiguous
        ("Thornbury, Alice", "Alice Thornbury", "lenient", 0.0),  # wrong order
        ("Alicette Thornbury", "Alice Thornbury", "lenient", 0.0),  # whole tokens only
        ("It was Sean OBrien.", "Sean O'Brien", "lenient", 1.0),
        ("It was Sean O. Brien.", "Sean O'Brien", "lenient", 0.0),
        ("Smith", ["Alice Thornbury", "Bob Smith", "Smith"], "lenient", 1.0),
        ("anything", ["the", ""], "paper", 0.0),
        ("大槻天文台を見た", "天文台", "robust", 1.0),
        ("大槻天文台を見た", "天文台", "paper", 0.0),
    ],
)
def test_contains_answer_follows_the_scores_normalisation(prediction, references, score, expected):
    assert contains_answer(prediction, references, score) == expected


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
