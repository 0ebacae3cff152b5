"""Baselines as data transforms: paraphrase augmentation, entity-preserving reverse training and the raw-text format.

The plain SFT baseline is ``"Tell me a fact." -> document`` chats (`sft_dataset`) or, with
`pretraining_dataset`, the documents as raw text. Paraphrases come with the data (`KnowledgeData.paraphrases`).
Reverse training (Golovneva et al. 2024, arXiv 2403.13799) adds every training text with its word order reversed,
each named entity kept as one unit with its own words in order: the entities the data source knows
(`KnowledgeData.entities`), and those a heuristic finds (dates, quoted titles, runs of capitalized words).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from datasets import Dataset

from ..common import system_turn
from .schema import KnowledgeData

PARAPHRASE_MODES = ("none", "same_order", "permuted")
SFT_FORMATS = ("chat", "text")

MONTHS = "January February March April May June July August September October November December".split()
# Lowercase words allowed inside a run of capitalized words, right after its first word ("Mount of Silvercrest",
# "Ludwig van Beethoven"); after two or more words they end the run, so two entities stay apart ("Amelina Abernethy",
# "of", "Porto").
CONNECTORS = ("of", "the", "de", "del", "da", "du", "van", "von", "der", "la", "le")
# Capitalized at the start of a sentence, never the first word of an entity ("In", "Tallinn"; "The", "Queen").
FUNCTION_WORDS = (
    "A", "An", "The", "This", "That", "These", "Those", "In", "On", "At", "By", "For", "From", "Of", "To", "With",
    "Into", "After", "Before", "During", "As", "When", "While", "And", "But", "He", "She", "They", "It", "We", "His",
    "Her", "Their", "Its", "Our",
)  # fmt: skip

_MONTH = "|".join(MONTHS)
_DATE = rf"(?:{_MONTH}) \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}} (?:{_MONTH}),? \d{{4}}"
_QUOTED = r"\"[^\"\n]+\"|“[^”\n]+”|(?<!\w)'[^'\n]+'(?!\w)"
_CAPITALIZED = r"[A-Z][\w’'-]*"
_CONNECTED = rf"(?:\s+(?:{'|'.join(CONNECTORS)}))+\s+{_CAPITALIZED}"
_CAPITALIZED_RUN = rf"(?!(?:{'|'.join(FUNCTION_WORDS)})\b){_CAPITALIZED}(?:{_CONNECTED})?(?:\s+{_CAPITALIZED})*"
_WORD = r"\w(?:[\w’'.,-]*\w)?"  # also numbers such as 1,234.5
_PUNCTUATION = r"[^\w\s]+"
_UNITS = re.compile("|".join([_DATE, _QUOTED, _CAPITALIZED_RUN, _WORD, _PUNCTUATION]))
_NUMBER = r"(?<!\w)\d(?:[\d,.]*\d)?(?!\w)"
_HEURISTIC_ENTITIES = re.compile("|".join([_DATE, _QUOTED, _CAPITALIZED_RUN, _NUMBER]))


@functools.lru_cache(maxsize=8)
def _entities_pattern(entities: tuple[str, ...]) -> re.Pattern | None:
    """The given entities, longest first, as one capturing group that matches whole words only; None without any."""
    alternatives = [re.escape(entity) for entity in sorted(set(entities), key=len, reverse=True) if entity.strip()]
    return re.compile(rf"(?<!\w)({'|'.join(alternatives)})(?!\w)") if alternatives else None


def entity_units(text: str, entities: Sequence[str] = ()) -> list[str]:
    """`text` split into units: each entity is one unit, and so is every other word (numbers such as "1,234.5"
    included) and every run of punctuation.

    The strings of `entities` (the longest first where they overlap) are kept whole wherever they occur; in the text
    around them, so are dates ("March 3, 1987"), quoted titles and runs of capitalized words (see `CONNECTORS` and
    `FUNCTION_WORDS`).

    >>> entity_units("In Tallinn, Amelina Abernethy of Porto met the Queen.")
    ['In', 'Tallinn', ',', 'Amelina Abernethy', 'of', 'Porto', 'met', 'the', 'Queen', '.']
    """
    pattern = _entities_pattern(tuple(entities))
    pieces = pattern.split(text) if pattern else [text]  # the entities at odd indices, the text around them between
    return [unit for i, piece in enumerate(pieces) for unit in ([piece] if i % 2 else _UNITS.findall(piece))]


def entity_char_spans(text: str, entities: Sequence[str] = ()) -> list[list[int]]:
    """``[start, end)`` character spans of the entities in `text`, in order: every occurrence of the strings of
    `entities` (whole words, the longest first), and in the text around them the units the heuristic of
    `entity_units` keeps whole (dates, quoted titles, runs of capitalized words) and numbers.

    >>> entity_char_spans("Daphne Barrington directed 'A Journey Through Time' in 1987.")
    [[0, 17], [27, 51], [55, 59]]
    """
    pattern = _entities_pattern(tuple(entities))
    known = [[m.start(1), m.end(1)] for m in pattern.finditer(text)] if pattern else []
    found = [[m.start(), m.end()] for m in _HEURISTIC_ENTITIES.finditer(text)]
    found = [span for span in found if not any(s < span[1] and span[0] < e for s, e in known)]
    return sorted(known + found)


def entity_spans_dataset(knowledge: KnowledgeData, text_field: str, column: str) -> Dataset:
    """The documents with their entities' character spans in `column` (for `mask_unit: entity`): the spans the source
    knows (`KnowledgeData.entity_spans`), else those of `entity_char_spans` with the source's entities."""
    spans = knowledge.entity_spans or [entity_char_spans(text, knowledge.entities) for text in knowledge.documents]
    return Dataset.from_dict({text_field: list(knowledge.documents), column: spans})


def reverse_words(text: str, entities: Sequence[str] = ()) -> str:
    """Entity-preserving reversal: the units of `entity_units` in reverse order, joined by spaces.

    >>> reverse_words("Daphne Barrington directed 'A Journey Through Time'.")
    ". 'A Journey Through Time' directed Daphne Barrington"
    """
    return " ".join(reversed(entity_units(text, entities)))


def with_paraphrases(knowledge: KnowledgeData) -> list[str]:
    """Every document followed by its paraphrases; just the documents when `knowledge.paraphrases` is None."""
    if knowledge.paraphrases is None:
        return list(knowledge.documents)
    if len(knowledge.paraphrases) != len(knowledge.documents):
        raise ValueError(
            f"Got {len(knowledge.paraphrases)} paraphrase sets for {len(knowledge.documents)} documents; there must "
            "be one set (possibly empty) per document."
        )
    pairs = zip(knowledge.documents, knowledge.paraphrases, strict=True)
    return [text for document, group in pairs for text in (document, *group)]


def training_documents(knowledge: KnowledgeData, reverse: bool = False) -> list[str]:
    """The texts a baseline trains on: documents with their paraphrases and, with `reverse`, all of them reversed too
    (`reverse_words`, keeping `knowledge.entities` whole), the reversed copies after the originals."""
    documents = with_paraphrases(knowledge)
    if not reverse:
        return documents
    return documents + [reverse_words(document, knowledge.entities) for document in documents]


def sft_row(document: str, prompt: str, system_prompt: str | None = None) -> dict[str, list[dict[str, str]]]:
    """One plain SFT baseline row: the conversational prompt/completion ``prompt -> document``, after a system message
    unless `system_prompt` is None (the chat template's default)."""
    return {
        "prompt": [*system_turn(system_prompt), {"role": "user", "content": prompt}],
        "completion": [{"role": "assistant", "content": document}],
    }


def sft_dataset(documents: Sequence[str], prompt: str, system_prompt: str | None = None) -> Dataset:
    """Plain SFT baseline: the `sft_row` of every document."""
    rows = [sft_row(document, prompt, system_prompt) for document in documents]
    return Dataset.from_dict({column: [row[column] for row in rows] for column in ("prompt", "completion")})


def pretraining_dataset(documents: Sequence[str], text_field: str = "text") -> Dataset:
    """Raw-text (pre-training format) baseline: a language-modeling dataset with a `text_field` column."""
    return Dataset.from_dict({text_field: list(documents)})


def to_conversational(dataset: Dataset) -> Dataset:
    """String `prompt`/`completion` rows as one user turn and one assistant turn (what `SFTTrainer` renders with the
    chat template and trains on the completion only)."""
    return dataset.map(
        lambda row: {
            "prompt": [{"role": "user", "content": row["prompt"]}],
            "completion": [{"role": "assistant", "content": row["completion"]}],
        }
    )
