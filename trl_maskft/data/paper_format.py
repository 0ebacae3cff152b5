"""The file formats of the paper's own data (arXiv 2510.09885; its repository xup5/masked_arLLM, `datasets/`).

- Training files (`*_train_*.json`) are one JSON array of documents, each `{"text": str}` (as the paper's files) or
  a plain string.
- Test files (`*_test.jsonl`) have one `{"group", "task", "question", "answer"}` per line. `task` is `"N2D"`
  (the question gives a name and asks a description or attribute) or `"D2N"` (the reverse) for NameDescription and
  Biography, `"forward"` or `"backward"` for Wiki; `group` is `"NameIsDescription"` or `"DescriptionIsName"` for
  NameDescription (how the training statement orders the person), `""` otherwise. `paper_direction` turns them into
  this project's directions.
"""

from __future__ import annotations

import json
import os

from .schema import DIRECTIONS

# NameDescription groups: the order of the training statement, and the task that asks in that order (forward)
STATEMENT_ORDER = {"NameIsDescription": "N2D", "DescriptionIsName": "D2N"}
TASKS = ("N2D", "D2N")


def paper_direction(task: str, group: str = "") -> str:
    """The direction of a test item of the paper: `task` itself when it is "forward" or "backward" (Wiki); for
    NameDescription (`group` "NameIsDescription" or "DescriptionIsName") forward when `task` asks in the order of the
    training statement (N2D about a NameIsDescription statement, D2N about a DescriptionIsName one), backward
    otherwise; for Biography (no group: the biographies name the person first) N2D is forward and D2N backward."""
    if task in DIRECTIONS:
        return task
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; the paper's test items have 'N2D', 'D2N', 'forward' or 'backward'.")
    if group and group not in STATEMENT_ORDER:
        raise ValueError(
            f"Unknown group {group!r} for task {task!r}; the paper's NameDescription groups are "
            f"{list(STATEMENT_ORDER)}, and Biography items have none."
        )
    return "forward" if task == STATEMENT_ORDER.get(group, "N2D") else "backward"


def read_json_texts(path: str | os.PathLike) -> list[str]:
    """The documents of a JSON file holding one array of `{"text": str}` objects or of strings (non-empty)."""
    with open(path, encoding="utf-8") as f:
        try:
            value = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path}: malformed JSON at line {err.lineno}, column {err.colno} ({err.msg}). A .json file of "
                'documents holds one JSON array, e.g. [{"text": "..."}, ...] or ["...", ...]; use .jsonl for one '
                "JSON object per line."
            ) from err
    if not isinstance(value, list):
        raise ValueError(
            f'{path}: expected a JSON array of documents ([{{"text": "..."}}, ...] or ["...", ...]), got a '
            f"{type(value).__name__}."
        )
    texts = []
    for index, item in enumerate(value):
        text = item.get("text") if isinstance(item, dict) else item
        if not (isinstance(text, str) and text.strip()):
            raise ValueError(
                f"{path}, item {index}: expected a non-empty string or an object with a non-empty 'text', got "
                f"{json.dumps(item)[:80]}."
            )
        texts.append(text)
    if not texts:
        raise ValueError(f"{path} holds no documents.")
    return texts
