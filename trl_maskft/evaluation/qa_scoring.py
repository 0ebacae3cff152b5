"""QA scoring: ROUGE-1 recall of the reference and exact containment, under one of three named normalisations.

- `"paper"` (the default): the paper's `compute_openQA_recall` exactly (xup5/masked_arLLM, `src/eval_util.py`): ASCII
  punctuation removed ("O'Brien" becomes "OBrien"), NLTK's word tokenizer (3.9.1, the paper's), the 14 stop words
  dropped whatever their case, then the `rouge` package's ROUGE-1 (1.0.1), which is **case-sensitive** and counts
  each **distinct** word once ("Paris" recalls 1/2 of "Paris Paris Roubaix").
- `"lenient"`: lowercased, ASCII punctuation removed, split on whitespace, the same stop words dropped; repeated words
  count as often as they occur (clipped), as `rouge_score` counts them ("Paris" recalls 1/3 of "Paris Paris Roubaix").
- `"robust"`: the lenient score for any script: Unicode-normalised (NFKC) and case-folded, every Unicode punctuation
  mark removed (curly apostrophes, guillemets, CJK full stops...), and the letters of scripts written without spaces
  (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar) scored one character per token.

`contains` is 1.0 when a reference's tokens are a contiguous run of the answer's tokens, under the same normalisation.
An answer or reference left with no tokens scores 0.0 (where the paper's code would raise). Nothing is downloaded.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

STOP_WORDS = frozenset("a of the and is are be to new on in at an for".split())

_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)

# What NLTK's word tokenizer (3.9.1) still does to a text without ASCII punctuation: it splits off curly quotes and
# guillemets, and splits six contractions ("cannot" -> "can not"); the other contractions it knows need an apostrophe
# and its sentence splitter needs ".", "?" or "!", all removed before it runs.
_NLTK_QUOTES = re.compile("([«“‘„»”’])")
_NLTK_CONTRACTIONS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\b(can)(not)\b",
        r"\b(gim)(me)\b",
        r"\b(gon)(na)\b",
        r"\b(got)(ta)\b",
        r"\b(lem)(me)\b",
        r"\b(wan)(na)(?=\s)",
    )
]

# Scripts written without spaces between words, scored per character by the robust score
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31A0, 0x31FF),  # Bopomofo extended, Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x323AF),  # CJK unified ideographs extensions B-H
)


def paper_tokens(text: str) -> list[str]:
    """The paper's tokens: ASCII punctuation removed, NLTK's word tokenizer, stop words dropped case-insensitively;
    the case is kept."""
    text = " " + _NLTK_QUOTES.sub(r" \1 ", text.strip().translate(_NO_PUNCTUATION)) + " "
    for contraction in _NLTK_CONTRACTIONS:
        text = contraction.sub(r" \1 \2 ", text)
    return [token for token in text.split() if token.lower() not in STOP_WORDS]


def lenient_tokens(text: str) -> list[str]:
    """Lowercase, remove ASCII punctuation, split on whitespace and drop `STOP_WORDS`."""
    return [token for token in text.lower().strip().translate(_NO_PUNCTUATION).split() if token not in STOP_WORDS]


def _is_unspaced(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _UNSPACED)


def _robust_char(char: str) -> str:
    if char in string.punctuation or unicodedata.category(char).startswith("P"):
        return ""
    return f" {char} " if _is_unspaced(char) else char


def robust_tokens(text: str) -> list[str]:
    """NFKC-normalise and case-fold, remove ASCII and Unicode punctuation, make every character of a script without
    spaces a token of its own, split on whitespace and drop `STOP_WORDS`."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [token for token in "".join(map(_robust_char, folded)).split() if token not in STOP_WORDS]


def _as_references(references: str | Sequence[str]) -> list[str]:
    return [references] if isinstance(references, str) else list(references)


def _recall(prediction: list[str], reference: list[str], distinct: bool) -> float:
    if not reference or not prediction:
        return 0.0
    if distinct:
        return len(set(reference) & set(prediction)) / len(set(reference))
    overlap = Counter(reference) & Counter(prediction)
    return sum(overlap.values()) / len(reference)


def _contains(tokens: list[str], reference: list[str]) -> bool:
    n = len(reference)
    return n > 0 and any(tokens[i : i + n] == reference for i in range(len(tokens) - n + 1))


def _scores(
    tokenize: Callable[[str], list[str]], prediction: str, references: str | Sequence[str], distinct: bool
) -> dict[str, float]:
    tokens = tokenize(prediction)
    normalized = [tokenize(reference) for reference in _as_references(references)]
    return {
        "rouge1": max((_recall(tokens, reference, distinct) for reference in normalized), default=0.0),
        "contains": float(any(_contains(tokens, reference) for reference in normalized)),
    }


def paper_score(prediction: str, references: str | Sequence[str]) -> dict[str, float]:
    """The paper's ROUGE-1 recall (best reference) and containment, on `paper_tokens`, each distinct word once."""
    return _scores(paper_tokens, prediction, references, distinct=True)


def lenient_score(prediction: str, references: str | Sequence[str]) -> dict[str, float]:
    """ROUGE-1 recall (best reference, clipped counts) and containment on `lenient_tokens`."""
    return _scores(lenient_tokens, prediction, references, distinct=False)


def robust_score(prediction: str, references: str | Sequence[str]) -> dict[str, float]:
    """ROUGE-1 recall (best reference, clipped counts) and containment on `robust_tokens`."""
    return _scores(robust_tokens, prediction, references, distinct=False)


QA_SCORES: dict[str, Callable[[str, str | Sequence[str]], dict[str, float]]] = {
    "paper": paper_score,
    "lenient": lenient_score,
    "robust": robust_score,
}
"""The QA scores by name (`qa_score` of the scripts): each maps an answer and its references to `rouge1` and
`contains`."""


def check_qa_score(score: str) -> None:
    """A clear error unless `score` names one of `QA_SCORES`."""
    if score not in QA_SCORES:
        raise ValueError(f"`qa_score` must be one of {tuple(QA_SCORES)}, got {score!r}.")


def score_answer(prediction: str, references: str | Sequence[str], score: str = "paper") -> dict[str, float]:
    """`{"rouge1": ..., "contains": ...}` of `prediction` against `references` by the QA score named `score`."""
    check_qa_score(score)
    return QA_SCORES[score](prediction, references)


def rouge1_recall(prediction: str, references: str | Sequence[str], score: str = "paper") -> float:
    """ROUGE-1 recall of the best reference by the QA score named `score` (see the module's doc)."""
    return score_answer(prediction, references, score)["rouge1"]


def contains_answer(prediction: str, references: str | Sequence[str], score: str = "paper") -> float:
    """1.0 if some reference is a contiguous run of the prediction's tokens under the normalisation of `score`."""
    return score_answer(prediction, references, score)["contains"]


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
