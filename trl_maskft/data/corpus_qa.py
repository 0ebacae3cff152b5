"""QA items and prompt/completion rows from a corpus's own question/answer columns (Webscale-RL's `question` and
`answer` beside `pretrain_text`), and the paper's drop of QA pairs over a number of tokens."""

from __future__ import annotations

from datasets import Dataset, IterableDataset

from .schema import DIRECTIONS, QAItem


def require_columns(columns: list[str], names: dict[str, str | None], source: str) -> None:
    """Every column named in `names` (key -> column, None = not asked for) is one of `columns`."""
    for key, column in names.items():
        if column is not None and column not in columns:
            raise ValueError(f"`{key}` names the column {column!r}, but {source} has the columns {columns}.")


def qa_items_from_rows(
    rows: Dataset | IterableDataset, question: str, answer: str, direction: str | None = None, source: str = ""
) -> list[QAItem]:
    """One QA item per row of `rows` (already cut to the rows to ask): its `question` and `answer` (a string or a
    list of accepted answers), asked in the row's `direction` column ("forward"/"backward") or forward."""
    items = []
    for number, row in enumerate(rows):
        value = row[direction] if direction is not None else "forward"
        if value not in DIRECTIONS:
            raise ValueError(f"{source} row {number}: `{direction}` is {value!r}, expected one of {DIRECTIONS}.")
        try:
            items.append(QAItem(question=row[question], answers=row[answer], direction=value))
        except ValueError as err:
            raise ValueError(f"{source} row {number}: {err}") from err
    return items


def qa_pair_rows(batch: dict, *, question: str, answer: str) -> dict:
    """A batch of corpus rows as prompt/completion rows (the question asked, the answer completed)."""
    return {"prompt": batch[question], "completion": [str(a) for a in batch[answer]]}


def pair_lengths(batch: dict, *, tokenizer, question: str, answer: str) -> list[int]:
    """Tokens of each QA pair of a batch: question plus answer."""
    questions = tokenizer(batch[question], add_special_tokens=False)["input_ids"]
    answers = tokenizer([str(a) for a in batch[answer]], add_special_tokens=False)["input_ids"]
    return [len(q) + len(a) for q, a in zip(questions, answers, strict=True)]


def short_pairs(batch: dict, *, tokenizer, question: str, answer: str, max_tokens: int) -> list[bool]:
    """Whether each QA pair of a batch has at most `max_tokens` tokens (`Dataset.filter(batched=True)`)."""
    return [n <= max_tokens for n in pair_lengths(batch, tokenizer=tokenizer, question=question, answer=answer)]
