"""Chunking, example keys, fitting a target into `max_length` and the data reports: pure functions, no model."""

import pyarrow as pa
import pytest
from datasets import Dataset

from trl_maskft.common import IGNORE_INDEX
from trl_maskft.masked_sft.chats import ChatFrame, fit_target, reconstruction_example
from trl_maskft.training.chunking import CHUNK_KEY_STRIDE, chunk_ids, content_key, row_key, validate_chunk_length
from trl_maskft.training.data_report import DataReport, list_lengths, prepared_report
from trl_maskft.training.truncation_counting import length_report


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 3024])
def test_chunks_cover_every_token_once_in_order(n):
    ids = list(range(n))
    chunks = chunk_ids(ids, 8)
    assert [i for chunk in chunks for i in chunk] == ids
    assert all(1 <= len(chunk) <= 8 for chunk in chunks)
    assert len(chunks) == -(-n // 8)
    assert chunk_ids(ids, None) == [ids]


@pytest.mark.parametrize("bad", [0, -3])
def test_chunk_length_below_one_is_refused(bad):
    with pytest.raises(ValueError, match="`chunk_length` must be a positive number of tokens"):
        validate_chunk_length(bad)
    validate_chunk_length(None)


def test_row_keys_are_the_row_unchunked_and_distinct_per_chunk():
    assert [row_key(r, 0, chunked=False) for r in range(3)] == [0, 1, 2]
    keys = {row_key(r, c, chunked=True) for r in range(50) for c in range(50)}
    assert len(keys) == 2500
    with pytest.raises(ValueError, match="raise `chunk_length`"):
        row_key(0, CHUNK_KEY_STRIDE, chunked=True)


def test_content_keys_are_stable_63_bit_and_tell_sequences_apart():
    assert content_key([5, 6, 7]) == content_key((5, 6, 7)) == content_key([5, 6, 7])
    keys = {content_key([i, j]) for i in range(40) for j in range(40)}
    assert len(keys) == 1600 and all(0 <= key < 2**63 for key in keys)


FRAME = ChatFrame(pre=(1, 2, 3), mid=(4,), post=(5, 6), end_of_turn=1)


def test_fit_target_cuts_from_the_end_and_counts():
    assert fit_target(list(range(10)), FRAME, None) == (list(range(10)), 0)
    assert fit_target(list(range(10)), FRAME, 26) == (list(range(10)), 0)  # 6 of chat + 2 * 10 = 26
    assert fit_target(list(range(10)), FRAME, 25) == (list(range(9)), 1)
    with pytest.raises(ValueError, match="leaves no room for the text"):
        fit_target([1, 2], FRAME, 7)


def test_reconstruction_example_from_ids():
    example = reconstruction_example([10, 11], FRAME)
    assert example["input_ids"] == [1, 2, 3, 10, 11, 4, 10, 11, 5, 6]
    assert example["labels"] == [IGNORE_INDEX] * 6 + [10, 11, 5, IGNORE_INDEX]
    assert (example["span_start"], example["twin_start"], example["span_length"]) == (3, 6, 2)


def test_prepared_report_counts_chunks_cuts_and_lost_tokens():
    mapped = Dataset.from_dict(
        {"chunk": [0, 1, 2, 0, 0], "span_length": [4, 4, 1, 3, 2], "lost_tokens": [0, 0, 0, 5, 0]}
    )
    report = prepared_report("train", 3, mapped, "span_length", chunk_length=4, max_length=20)
    counts = (report.rows, report.examples, report.chunked, report.cut, report.tokens, report.lost)
    assert counts == (3, 5, 1, 1, 19, 5)
    assert not report.complete
    assert report.message() == (
        "train: 3 rows -> 5 examples (chunks of at most 4 tokens); 1 rows chunked; 1 rows cut and 0 dropped to fit "
        "`max_length`=20; 5 of 19 document tokens lost (26.3%)"
    )


def test_length_report_counts_what_max_length_cuts():
    report = length_report(pa.array([3, 10, 12]), 8, "train", examples=3, dropped=0)
    assert (report.cut, report.tokens, report.lost) == (2, 25, 6)
    assert "2 rows cut" in report.message() and "6 of 25 tokens lost" in report.message()


def test_a_streamed_report_says_rows_are_never_cut():
    message = DataReport("train", streamed=True, chunk_length=512, max_length=1100).message()
    assert "streamed (chunks of at most 512 tokens)" in message and "is an error, never cut" in message


def test_list_lengths_follow_a_selection():
    dataset = Dataset.from_dict({"input_ids": [[1], [1, 2], [1, 2, 3]]})
    assert list_lengths(dataset, "input_ids").to_pylist() == [1, 2, 3]
    assert list_lengths(dataset.select([2, 0]), "input_ids").to_pylist() == [3, 1]
