"""Checks of a run's QA items as a whole: a question asked twice must be asked the same way, and answers the paper's
score cannot read are pointed out.

`QAEvalCallback` runs `check_qa_items` when it is built, the one place every QA item of a run passes through
(whichever source loaded it: built-in, NameDescription, a `qa_file`, GSM8K, or a library user's own list). The
knowledge scripts run `warn_non_ascii_answers` on the QA items they ask (a task's answers are scored by its own rules).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from .schema import QAItem

logger = logging.getLogger(__name__)

SHOWN = 3  # repeated questions quoted in a message


def _variant(item: QAItem) -> tuple:
    return frozenset(item.answers), item.direction, item.group


def _describe(item: QAItem) -> str:
    group = f", group {item.group!r}" if item.group else ""
    return f"{list(item.answers)} ({item.direction}{group})"


def repeated_questions(items: Sequence[QAItem]) -> list[list[int]]:
    """The positions of the items that ask the same question (whitespace collapsed), for every question asked more
    than once, in order of first appearance."""
    positions: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        positions[" ".join(item.question.split())].append(i)
    return [group for group in positions.values() if len(group) > 1]


def check_qa_items(items: Sequence[QAItem]) -> None:
    """Refuse a question asked more than once with different answers, direction or group (it would be scored against
    one reference here and another there); warn about exact repeats (each is asked and scored again, so its question
    weighs more in the means). Items are named by their 1-based position in `items`."""
    repeats = repeated_questions(items)
    conflicts = [group for group in repeats if len({_variant(items[i]) for i in group}) > 1]
    if conflicts:
        shown = "; ".join(
            f"{items[group[0]].question!r} is item "
            + " and ".join(f"{i + 1} with answers {_describe(items[i])}" for i in group)
            for group in conflicts[:SHOWN]
        )
        more = f" (and {len(conflicts) - SHOWN} more)" if len(conflicts) > SHOWN else ""
        raise ValueError(
            f"{len(conflicts)} question(s) are asked more than once with different answers, directions or groups: "
            f"{shown}{more}. Ask each question once, with all its accepted answers in one list "
            '(`"answer": ["...", "..."]` in a QA file), or remove the wrong item.'
        )
    if repeats:
        example = repeats[0]
        logger.warning(
            "%d question(s) are repeated exactly among the %d QA items (e.g. %r, items %s): each repeat is asked and "
            "scored again, so these questions weigh more in the means. Remove the repeats to weigh every question "
            "once.",
            len(repeats),
            len(items),
            items[example[0]].question,
            ", ".join(str(i + 1) for i in example),
        )


def warn_non_ascii_answers(items: Sequence[QAItem], qa_score: str) -> None:
    """One warning when the paper's score (`qa_score: paper`) is to score answers holding non-ASCII characters: it
    keeps curly quotes and accents and reads a text without spaces (Chinese, Japanese, Thai) as one word, so a correct
    answer can score 0.0; `qa_score: robust` scores them by Unicode rules."""
    if qa_score != "paper":
        return
    answers = [answer for item in items for answer in item.answers]
    affected = [answer for answer in answers if not answer.isascii()]
    if affected:
        logger.warning(
            "%d of the %d QA answers hold non-ASCII characters (e.g. %r), which the default `qa_score: paper` (the "
            "paper's exact ROUGE-1) normalises as ASCII text only: curly quotes and accents are kept and a text "
            "without spaces (Chinese, Japanese, Thai) is one word, so a correct answer can score 0.0. Set "
            "`qa_score: robust` to score them by Unicode rules (NFKC, Unicode punctuation removed, CJK by character).",
            len(affected),
            len(answers),
            affected[0],
        )
