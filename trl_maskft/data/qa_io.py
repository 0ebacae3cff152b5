"""Reading and writing local knowledge beside the documents (a corpus, `trl_maskft.data.corpus`): paraphrases and QA
items (JSONL).

A QA line is
`{"question": str, "answer": str | list[str], "direction": "forward" | "backward", "group": str,
"old_answers": list[str]}` (`group` and `old_answers`, the answers of an edited fact before its edit, optional);
the paper's test lines, `{"group", "task", "question", "answer"}`, are read too (`paper_format.paper_direction`).
Blank lines are skipped; errors name the file and the 1-based line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

from ..runtime.text_files import text_lines
from .paper_format import paper_direction
from .schema import QAItem

PathLike = str | os.PathLike


def read_jsonl_rows(path: PathLike) -> Iterator[tuple[int, dict]]:
    """`(line number, object)` for every non-blank line of a JSONL file."""
    for line_number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {line_number}: malformed JSON ({err.msg}).") from err
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {line_number}: expected a JSON object, got {type(row).__name__}.")
        yield line_number, row


def require_field(row: dict, name: str, path: PathLike, line_number: int):
    """Field `name` of the JSONL line `line_number` of `path`; a clear error naming both when it is missing."""
    if name not in row:
        raise ValueError(f"{path}, line {line_number}: missing field {name!r}.")
    return row[name]


def load_qa_jsonl(path: PathLike) -> list[QAItem]:
    """QA items from a JSONL file; raises `ValueError` on a malformed line, a missing field or a bad value. Lines of
    the paper's test files, labelled by `task` (and `group`) instead of `direction`, get `paper_direction`'s."""
    items = []
    for line_number, row in read_jsonl_rows(path):
        paper = "task" in row and "direction" not in row  # a line of the paper's test files
        label = "task" if paper else "direction"
        question, answer, direction = (
            require_field(row, name, path, line_number) for name in ("question", "answer", label)
        )
        try:
            direction = paper_direction(direction, row.get("group", "")) if paper else direction
            old = row.get("old_answers", ())
            group = row.get("group", "")
            items.append(QAItem(question, answers=answer, direction=direction, group=group, old_answers=old))
        except ValueError as err:
            raise ValueError(f"{path}, line {line_number}: {err}") from err
    if not items:
        raise ValueError(f"{path} holds no QA items.")
    return items


def _string_list(row: dict, name: str, path: PathLike, line_number: int) -> list[str]:
    """Field `name` of a JSONL line, which must be a (possibly empty) list of non-empty strings."""
    value = require_field(row, name, path, line_number)
    if not (isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)):
        raise ValueError(f"{path}, line {line_number}: field {name!r} must be a list of non-empty strings.")
    return value


def load_paraphrases_jsonl(path: PathLike, num_documents: int) -> list[list[str]]:
    """Paraphrase sets from a JSONL file, one `{"paraphrases": [str, ...]}` per line (the list may be empty), in the
    order of the `num_documents` documents they paraphrase."""
    sets = [_string_list(row, "paraphrases", path, line_number) for line_number, row in read_jsonl_rows(path)]
    if len(sets) != num_documents:
        raise ValueError(f"{path} holds {len(sets)} paraphrase sets for {num_documents} documents; give one per line.")
    return sets


def qa_jsonl_text(items: Sequence[QAItem]) -> str:
    """QA items as JSONL lines; `answer` is a string for a single reference and a list otherwise, `old_answers` is
    written for an edited fact only."""
    lines = []
    for item in items:
        answer = item.answer if len(item.answers) == 1 else list(item.answers)
        row = {"question": item.question, "answer": answer, "direction": item.direction, "group": item.group}
        if item.old_answers:
            row["old_answers"] = list(item.old_answers)
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(lines)


def save_qa_jsonl(items: Sequence[QAItem], path: PathLike) -> None:
    """Write QA items as JSONL (`qa_jsonl_text`)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(qa_jsonl_text(items))
