"""Well-known facts (capitals, chemical symbols, authors, planets, units, dates, ...): what retention checks the model
still knows after injection (`trl_maskft.evaluation.retention`).

The built-in set (`builtin/known_facts.jsonl`, 250 short questions written for this project, each with its accepted
answers and a `group` naming its category) is in the QA format of `load_qa_jsonl`; a user's own file in that format
is added to it. Errors name the file and the line.
"""

from __future__ import annotations

import os

from .qa_io import PathLike, load_qa_jsonl
from .schema import QAItem

BUILTIN_KNOWN_FACTS = os.path.join(os.path.dirname(__file__), "builtin", "known_facts.jsonl")


def load_known_facts(extra_file: PathLike | None = None, builtin: bool = True) -> list[QAItem]:
    """The built-in known facts (with `builtin`), followed by the QA items of `extra_file` (a user's own facts)."""
    if not builtin and extra_file is None:
        raise ValueError("No known facts to ask: keep the built-in set or give a facts file.")
    facts = load_qa_jsonl(BUILTIN_KNOWN_FACTS) if builtin else []
    return facts + (load_qa_jsonl(extra_file) if extra_file is not None else [])
