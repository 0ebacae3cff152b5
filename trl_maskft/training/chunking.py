"""Documents as non-overlapping chunks of tokens, and the keys that name an example wherever it is read.

`chunk_length` (the paper's continued pretraining: 512) splits every document into chunks of at most that many
tokens, in order, each its own training example, so that no token is cut. The masks of an example are keyed on its
`idx` (`trl_maskft.masked_sft.masking.example_rng`): a map-style dataset's row (`row_key`, one key per chunk), or for a
stream, whose rows have no stable number across ranks, dataloader workers and resumes, a hash of its document's tokens
and its chunk number (`content_key`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

# Chunks per document that `row_key` tells apart: a key is `row * CHUNK_KEY_STRIDE + chunk`
CHUNK_KEY_STRIDE = 2**20


def validate_chunk_length(chunk_length: int | None) -> None:
    """`chunk_length` is None (documents are not chunked) or a positive number of tokens."""
    if chunk_length is not None and chunk_length < 1:
        raise ValueError(
            f"`chunk_length` must be a positive number of tokens (the paper's continued pretraining: 512), got "
            f"{chunk_length}; leave it unset to train on whole documents."
        )


def chunk_ids(ids: Sequence[int], chunk_length: int | None) -> list[list[int]]:
    """``ids`` as consecutive non-overlapping chunks of at most ``chunk_length`` tokens (all of them, in order); one
    chunk when ``chunk_length`` is None.

    >>> chunk_ids([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    ids = list(ids)
    if chunk_length is None:
        return [ids]
    return [ids[i : i + chunk_length] for i in range(0, len(ids), chunk_length)]


def row_key(row: int, chunk: int, chunked: bool) -> int:
    """The key of chunk ``chunk`` of row ``row`` of a map-style dataset: the row itself when documents are not
    chunked, else ``row * CHUNK_KEY_STRIDE + chunk``."""
    if not chunked:
        return row
    if chunk >= CHUNK_KEY_STRIDE:
        raise ValueError(f"Row {row} has more than {CHUNK_KEY_STRIDE} chunks; raise `chunk_length`.")
    return row * CHUNK_KEY_STRIDE + chunk


def content_key(ids: Sequence[int]) -> int:
    """A 63-bit key of a token sequence, the same wherever and whenever it is read (streamed examples)."""
    digest = hashlib.blake2b(np.asarray(ids, dtype=np.int64).tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
