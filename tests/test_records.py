"""The nested-results comparison the distributed tests use (tests/records.py)."""

from records import records_differences


def test_equal_records_within_tolerance_match():
    history = [{"epoch": 0, "qa_forward_rouge1": 0.5, "name": "a"}, {"epoch": 1, "qa_forward_rouge1": 1.0}]
    close = [{"epoch": 0, "qa_forward_rouge1": 0.5 + 1e-9, "name": "a"}, {"epoch": 1, "qa_forward_rouge1": 1.0}]
    assert records_differences(close, history) == []


def test_each_difference_is_named():
    expected = [{"epoch": 0, "score": 0.5, "name": "a"}, {"epoch": 1, "score": 1.0}]
    actual = [{"epoch": 0, "score": 0.6, "name": "b"}, {"epoch": 1, "loss": 1.0}]
    assert records_differences(actual, expected) == [
        "record 0, score: 0.6 != 0.5",
        "record 0, name: 'b' != 'a'",
        "record 1: keys ['epoch', 'loss'] != ['epoch', 'score']",
    ]
    assert records_differences(actual[:1], expected) == ["1 records, expected 2"]
    assert records_differences([{"flag": True}], [{"flag": 1}]) == ["record 0, flag: True != 1"]
