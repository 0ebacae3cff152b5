"""One share of a knowledge source, for a sequence that teaches a dataset in parts (e.g. the paper's ND in thirds).

Part `k` of `n` holds the `k`-th of `n` contiguous, near-equal shares of the documents and the QA items whose answer
occurs in one of them (case-insensitive); an item goes to the first part whose documents hold its answer, and items
whose answer no document holds are counted, for a warning.
"""

from __future__ import annotations

import re

from ..data.schema import KnowledgeData

PART_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_part(value) -> tuple[int, int] | None:
    """`"2/3"` -> `(2, 3)`; None for a value that is not `k/n` with 1 <= k <= n."""
    match = PART_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    part, parts = int(match[1]), int(match[2])
    return (part, parts) if 1 <= part <= parts else None


def _bounds(size: int, parts: int) -> list[int]:
    return [size * k // parts for k in range(parts + 1)]


def knowledge_part(knowledge: KnowledgeData, part: int, parts: int) -> tuple[KnowledgeData, int]:
    """Part `part` (1-based) of `parts` of `knowledge` and the number of QA items no part holds."""
    bounds = _bounds(len(knowledge.documents), parts)
    shares = [[doc.lower() for doc in knowledge.documents[bounds[k] : bounds[k + 1]]] for k in range(parts)]

    def owner(item) -> int | None:
        answers = [answer.strip().lower() for answer in item.answers]
        return next((k for k, docs in enumerate(shares) if any(a in doc for a in answers for doc in docs)), None)

    owners = [owner(item) for item in knowledge.qa]
    start, end = bounds[part - 1], bounds[part]
    paraphrases = None if knowledge.paraphrases is None else knowledge.paraphrases[start:end]
    documents = knowledge.documents[start:end]
    entities = [entity for entity in knowledge.entities if any(entity in doc for doc in documents)]
    qa = [item for item, k in zip(knowledge.qa, owners, strict=True) if k == part - 1]
    return KnowledgeData(documents, qa, paraphrases, entities), owners.count(None)
