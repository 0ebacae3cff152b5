"""Reading the project's local text files (recipes, documents, QA items, paraphrases) line by line, as UTF-8."""

from __future__ import annotations

import os
from collections.abc import Iterator


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """`(1-based line number, line)` for every line of the UTF-8 file `path`; a byte that is not UTF-8 is a
    `ValueError` naming the file, the line and the byte."""
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            try:
                yield line_number, raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{path}, line {line_number}: byte {raw[err.start]:#04x} at position {err.start + 1} is not "
                    f"UTF-8 ({err.reason}). Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
                ) from None
