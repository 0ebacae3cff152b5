"""Where the local JSON files of a corpus go wrong, by file and row, once `datasets` has read them into a column it
cannot use: a text cell that is not a string (which `datasets` reads as a column of JSON values, naming no row), and a
`.json` file that holds one object with the rows under a key (`{"data": [...]}`, read as one row of one column)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

from .qa_io import read_jsonl_rows


def json_rows(path: str) -> Iterator[tuple[str, object]]:
    """`(where, row)` for every row of a `.jsonl` file (`line N`) or of the array of a `.json` file (`row N`,
    counting from 1); nothing for other files, or a `.json` file that holds no array."""
    if path.endswith(".jsonl"):
        for line_number, row in read_jsonl_rows(path):
            yield f"line {line_number}", row
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
        if isinstance(rows, list):
            for number, row in enumerate(rows, start=1):
                yield f"row {number}", row


def first_non_text(files: Sequence[str], text_field: str) -> tuple[str, object] | None:
    """`("<file>, <line or row>", value)` of the first JSON row of `files` whose `text_field` is not a string (None
    for a row without it), None when every row has a string."""
    for path in files:
        for where, row in json_rows(path):
            value = row.get(text_field) if isinstance(row, dict) else row
            if not isinstance(value, str):
                return f"{path}, {where}", value
    return None


def check_json_arrays(files: Sequence[str]) -> None:
    """A clear error for a `.json` file that holds one object instead of an array of rows, naming its keys that hold
    lists (the rows, e.g. `{"data": [...]}`) and the fix."""
    for path in files:
        if not path.endswith(".json"):
            continue
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
        if isinstance(content, dict):
            keys = [key for key, value in content.items() if isinstance(value, list)]
            inner = f", its rows under {keys}" if keys else ""
            example = f"jq -c '.{keys[0]}[]' {path} > {os.path.splitext(path)[0]}.jsonl" if keys else ""
            raise ValueError(
                f"{path} holds one JSON object{inner}, not an array of rows: a `.json` corpus file is an array of "
                f'objects (`[{{"text": ...}}, ...]`) or JSON Lines (`.jsonl`, one object per line)'
                + (f"; convert it, e.g. `{example}`." if example else ".")
            )
