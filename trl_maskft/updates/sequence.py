"""The knowledge of each update of a sequence (`UpdatesRecipe`), checked, and the data each update trains on: its
documents plus replayed documents of earlier updates, and the QA items of every update so far."""

from __future__ import annotations

import json
import os
import random
import warnings
from dataclasses import dataclass

from ..data.people_updates import build_people_updates, update_group
from ..data.qa_io import qa_jsonl_text, read_jsonl_rows
from ..data.schema import KnowledgeData, QAItem
from ..data.sources import load_knowledge_source
from .parts import knowledge_part, parse_part
from .spec import UpdatesRecipe


@dataclass
class Update:
    """One update: its knowledge (QA groups `update_<k>` and `update_<k>_edits`) and the earlier documents it
    replaces (the old facts of its edits, never replayed after it)."""

    knowledge: KnowledgeData
    superseded: list[str]


def _regroup(items: list[QAItem], index: int) -> list[QAItem]:
    """A corpus update's QA items in the groups of update `index`: edits (with `old_answers`) apart."""
    return [
        QAItem(
            item.question, item.answers, item.direction, update_group(index, bool(item.old_answers)), item.old_answers
        )
        for item in items
    ]


def _check_first_update_edits(qa_file: str) -> None:
    for line_number, row in read_jsonl_rows(qa_file):
        if row.get("old_answers"):
            raise ValueError(
                f"{qa_file}, line {line_number}: `old_answers` on an item of the first update, which has no earlier "
                "fact to edit. Remove `old_answers`, or move the item to the update that changes the fact."
            )


def load_updates(recipe: UpdatesRecipe) -> list[Update]:
    """Every update's knowledge: the `people` updates generated together (disjoint people, edits of earlier ones),
    the others read by `load_knowledge_source`. An update repeating an earlier one's documents exactly is warned."""
    keys = recipe.method_keys
    seed, templates = keys.get("dataset_seed", 0), keys.get("qa_templates_per_person")
    people = [i for i, source in enumerate(recipe.updates) if source.dataset_name == "people"]
    sizes, edits = ([getattr(recipe.updates[i], key) for i in people] for key in ("num_people", "num_edits"))
    generated = build_people_updates(sizes, edits, seed, templates, [i + 1 for i in people]) if people else []
    by_index = dict(zip(people, generated, strict=True))
    updates = []
    for i, source in enumerate(recipe.updates):
        if i in by_index:
            knowledge, superseded = by_index[i]
        else:
            if i == 0 and source.qa_file:
                _check_first_update_edits(source.qa_file)
            knowledge = load_knowledge_source(source.dataset_name, qa_file=source.qa_file, seed=seed)
            if source.part:
                knowledge, unanswered = knowledge_part(knowledge, *parse_part(source.part))
                if unanswered:
                    warnings.warn(
                        f"{recipe.path}: update {i + 1} ({source.dataset_name}, part {source.part}): {unanswered} QA "
                        "items have an answer that no document of the source holds; no part asks them.",
                        stacklevel=2,
                    )
            knowledge.qa, superseded = _regroup(knowledge.qa, i + 1), []
        for j, earlier in enumerate(updates):
            if set(knowledge.documents) == set(earlier.knowledge.documents):
                warnings.warn(
                    f"{recipe.path}: update {i + 1} ({source.dataset_name}) repeats the documents of update {j + 1} "
                    "exactly: it teaches nothing new. Check its `dataset_name`.",
                    stacklevel=2,
                )
        updates.append(Update(knowledge, superseded))
    return updates


def replayed(updates: list[Update], index: int, ratio: float, seed: int) -> list[str]:
    """`round(ratio x documents of update index)` documents (0-based `index`) drawn without replacement from the
    current documents of the earlier updates (those no later edit replaced), at most all of them."""
    superseded = {doc for update in updates[: index + 1] for doc in update.superseded}
    pool = [doc for update in updates[:index] for doc in update.knowledge.documents if doc not in superseded]
    count = min(len(pool), round(ratio * len(updates[index].knowledge.documents)))
    return random.Random(seed + index).sample(pool, count)


def _write_if_changed(path: str, text: str) -> None:
    """Write `text` to `path` unless it holds it already: a resumed update's run sees its data files untouched."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_update_data(folder: str, updates: list[Update], index: int, ratio: float, seed: int) -> tuple[str, str]:
    """Write `documents.jsonl` (update `index`'s documents and its replay) and `qa.jsonl` (the QA items of updates
    1..index+1) to `folder`, leaving files that hold them already untouched; returns both paths."""
    os.makedirs(folder, exist_ok=True)
    documents = updates[index].knowledge.documents + replayed(updates, index, ratio, seed)
    documents_path, qa_path = os.path.join(folder, "documents.jsonl"), os.path.join(folder, "qa.jsonl")
    _write_if_changed(
        documents_path, "".join(json.dumps({"text": doc}, ensure_ascii=False) + "\n" for doc in documents)
    )
    _write_if_changed(
        qa_path, qa_jsonl_text([item for update in updates[: index + 1] for item in update.knowledge.qa])
    )
    return documents_path, qa_path
