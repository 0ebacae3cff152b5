"""QA scoring: ROUGE-1 recall of the reference and exact containment, on normalized tokens.

Both sides are lowercased, stripped of punctuation ("O'Brien" becomes "obrien", as in the paper) and of a short list of
stop words, so that an answer is judged on its content words. No stemming, and nothing is downloaded.
"""

from __future__ import annotations

import string
from collections import Counter, defaultdict
from collections.abc import Sequence

STOP_WORDS = frozenset("a of the and is are be to new on in at an for".split())

_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_tokens(text: str) -> list[str]:
    """Lowercase, remove ASCII punctuation, split on whitespace and drop `STOP_WORDS`."""
    return [token for token in text.lower().strip().translate(_NO_PUNCTUATION).split() if token not in STOP_WORDS]


def _as_references(references: str | Sequence[str]) -> list[str]:
    return [references] if isinstance(references, str) else list(references)


def _recall(prediction: Counter, reference: list[str]) -> float:
    if not reference:
        return 0.0
    overlap = Counter(reference) & prediction
    return sum(overlap.values()) / len(reference)


def rouge1_recall(prediction: str, references: str | Sequence[str]) -> float:
    """Unigram recall of the best reference: clipped token overlap divided by the reference's token count.

    A reference left with no tokens after normalization (empty, or only stop words and punctuation) scores 0.0, as
    does an empty list of references.
    """
    counts = Counter(normalize_tokens(prediction))
    return max((_recall(counts, normalize_tokens(ref)) for ref in _as_references(references)), default=0.0)


def _contains(tokens: list[str], reference: list[str]) -> bool:
    n = len(reference)
    return n > 0 and any(tokens[i : i + n] == reference for i in range(len(tokens) - n + 1))


def contains_answer(prediction: str, references: str | Sequence[str]) -> float:
    """1.0 if some normalized reference is a contiguous run of the normalized prediction's tokens, else 0.0.

    A reference left with no tokens after normalization is never contained.
    """
    tokens = normalize_tokens(prediction)
    return float(any(_contains(tokens, normalize_tokens(ref)) for ref in _as_references(references)))


def aggregate_scores(records: Sequence[dict]) -> dict[str, float]:
    """Mean `rouge1` and `contains` overall (`qa_*`), per direction (`qa_{direction}_*`) and per direction and
    non-empty group (`qa_{direction}_{group}_*`)."""
    values: dict[str, list[float]] = defaultdict(list)
    for record in records:
        prefixes = ["qa", f"qa_{record['direction']}"]
        if record.get("group"):
            prefixes.append(f"qa_{record['direction']}_{record['group']}")
        for prefix in prefixes:
            for metric in ("rouge1", "contains"):
                values[f"{prefix}_{metric}"].append(float(record[metric]))
    return {name: sum(scores) / len(scores) for name, scores in values.items()}
