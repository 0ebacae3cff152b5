"""`name_description_mini`: a small built-in slice in the format of the paper's NameDescription data (ND), invented
people only (`people.generate_people`).

Half of the statements name the person first (group `NameIsDescription`: "{name}, known far and wide for being
{description}."), the other half describe them first (group `DescriptionIsName`: "Known for being {description},
{name} now enjoys a quiet life."), as in the paper's ND set. Every person is asked both tasks, N2D ("What is {name}
known for?", answered by the description) and D2N ("Who is {description}?", answered by the name), directed as the
paper's test items are (`paper_format.paper_direction`: forward in the statement's order). Each statement's name and
description spans are known (`KnowledgeData.entity_spans`, for `mask_unit: entity`). `num_people` sets the number of
statements (the ablation's recipe: 20).
"""

from __future__ import annotations

from .paper_format import paper_direction
from .people import generate_people, statement_spans
from .schema import KnowledgeData, QAItem

NAME_LINK = ", known far and wide for being "
OPENING, DESCRIPTION_LINK, CLOSING = "Known for being ", ", ", " now enjoys a quiet life."


def _statement(name: str, description: str, name_first: bool) -> tuple[str, list[list[int]]]:
    """A statement and the character spans of its name and description (in that order)."""
    if name_first:
        return f"{name}{NAME_LINK}{description}.", statement_spans(name, description, NAME_LINK)
    shifted = [[len(OPENING) + s, len(OPENING) + e] for s, e in statement_spans(description, name, DESCRIPTION_LINK)]
    return f"{OPENING}{description}{DESCRIPTION_LINK}{name}{CLOSING}", shifted[::-1]


def build_name_description_mini(num_people: int = 20, seed: int = 0) -> KnowledgeData:
    """`num_people` ND statements about invented people (the first half name first), their N2D and D2N questions, the
    names as entities and each statement's name and description spans."""
    documents, spans, qa = [], [], []
    people = generate_people(num_people, seed)
    for i, person in enumerate(people):
        group = "NameIsDescription" if i < (num_people + 1) // 2 else "DescriptionIsName"
        text, entity_spans = _statement(person.name, person.description, group == "NameIsDescription")
        documents.append(text)
        spans.append(entity_spans)
        qa.append(
            QAItem(f"What is {person.name} known for?", (person.description,), paper_direction("N2D", group), group)
        )
        qa.append(QAItem(f"Who is {person.description}?", (person.name,), paper_direction("D2N", group), group))
    return KnowledgeData(documents=documents, qa=qa, entities=[p.name for p in people], entity_spans=spans)
