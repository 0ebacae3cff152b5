"""Built-in knowledge that changes: disjoint sets of invented people, one per update, and edits that give some people
of earlier updates a new description (one no one else has), as in the knowledge-editing benchmarks (ROME, MEMIT).

Update `k` (1-based) teaches "{name} is {description}." for its new people (QA group `update_<k>`) and, for each
person it edits, "{name} is {new description}." (QA group `update_<k>_edits`: the forward questions answer the new
description with the old one as `old_answers`, the backward questions ask the new description). A person edited in
the sequence is left out of the QA group of the update that introduced them, so that `update_<k>` holds the facts
that stay true throughout (the locality set).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .people import BACKWARD_TEMPLATES, FORWARD_TEMPLATES, Person, _template_fields, generate_people
from .schema import KnowledgeData, QAItem


def update_group(index: int, edits: bool = False) -> str:
    """The QA group of update `index` (1-based): its new facts, or (`edits`) the facts it edits."""
    return f"update_{index}" + ("_edits" if edits else "")


def group_update(group: str) -> int:
    """The 1-based update of a QA group `update_group` named."""
    return int(group.split("_")[1])


def is_edit_group(group: str) -> bool:
    """Whether a QA group `update_group` named holds an update's edits."""
    return group.endswith("_edits")


def _questions(person: Person, first: int, count: int, group: str, old: tuple[str, ...] = ()) -> list[QAItem]:
    """`count` phrasings per direction of the questions about `person`, starting at template `first`."""
    fields, num = _template_fields(person), len(FORWARD_TEMPLATES)
    indices = [(first + k) % num for k in range(count)]
    forward = [
        QAItem(FORWARD_TEMPLATES[j].format(**fields), person.description, "forward", group, old) for j in indices
    ]
    return forward + [QAItem(BACKWARD_TEMPLATES[j].format(**fields), person.name, "backward", group) for j in indices]


def build_people_updates(
    num_people: Sequence[int],
    num_edits: Sequence[int],
    seed: int = 0,
    num_eval_templates: int | None = None,
    numbers: Sequence[int] | None = None,
) -> list[tuple[KnowledgeData, list[str]]]:
    """Per update, its knowledge (documents and QA items) and the documents of earlier updates its edits replace.

    Args:
        num_people: new people per update.
        num_edits: people of earlier updates (not edited before) that each update gives a new description.
        seed: seed of the people, the edited people and their new descriptions.
        num_eval_templates: question phrasings per person and direction (default one), as `build_people_dataset`.
        numbers: the 1-based numbers of these updates in their sequence, which name their QA groups (default 1, 2...).
    """
    if len(num_people) != len(num_edits):
        raise ValueError(f"{len(num_people)} people counts for {len(num_edits)} edit counts; give one per update.")
    if num_edits and num_edits[0]:
        raise ValueError("The first update cannot edit facts: no earlier update taught any.")
    count = 1 if num_eval_templates is None else num_eval_templates
    people = generate_people(sum(num_people) + sum(num_edits), seed)
    spare_descriptions = [p.description for p in people[sum(num_people) :]]
    rng = random.Random(seed)
    current: dict[str, Person] = {}  # the newest fact of every person taught so far, by name
    edited: set[str] = set()
    plan: list[tuple[list[Person], list[tuple[Person, Person]]]] = []
    start = 0
    for index, (size, edits) in enumerate(zip(num_people, num_edits, strict=True), start=1):
        editable = sorted(set(current) - edited)
        if edits > len(editable):
            raise ValueError(f"Update {index} edits {edits} people, but only {len(editable)} earlier ones are left.")
        changes = []
        for name in rng.sample(editable, edits):
            changes.append((current[name], Person(name, spare_descriptions.pop())))
            current[name] = changes[-1][1]
            edited.add(name)
        new = people[start : start + size]
        start += size
        current.update({p.name: p for p in new})
        plan.append((new, changes))
    updates = []
    for index, (new, changes) in zip(numbers or range(1, len(plan) + 1), plan, strict=True):
        qa = []
        for i, person in enumerate(new):
            if person.name not in edited:
                qa += _questions(person, i, count, update_group(index))
        for i, (old, person) in enumerate(changes):
            qa += _questions(person, i, count, update_group(index, edits=True), (old.description,))
        documents = [f"{p.name} is {p.description}." for p in [*new, *(person for _, person in changes)]]
        superseded = [f"{old.name} is {old.description}." for old, _ in changes]
        entities = [p.name for p in new]
        updates.append((KnowledgeData(documents=documents, qa=qa, entities=entities), superseded))
    return updates
