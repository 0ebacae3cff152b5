"""What a sequence of updates retained (continual learning: the accuracy matrix R, average accuracy, backward
transfer, and how much of the forgetting is later facts answered in the earlier ones' place) and what its edits
changed (knowledge editing: efficacy, old answers, generalization, locality), as pure functions of the QA metrics and
generations each update's run wrote.

R[i][j] is the mean ROUGE-1 of the QA group `update_<j+1>` (facts that no edit changes) after update `i+1`, per
direction; update `i+1` is asked the groups of updates 1..i+1, so R is lower-triangular (None above the diagonal).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..data.people_updates import group_update, is_edit_group, update_group
from ..data.schema import DIRECTIONS, QAItem
from ..evaluation.qa_scoring import score_answer

Matrix = list[list[float | None]]


def retention_matrix(final_rows: Sequence[dict], direction: str, metric: str = "rouge1") -> Matrix:
    """R for `direction` from the final QA metrics row of each update, in order (`qa_{direction}_{group}_{metric}`);
    None where the row has no such group (above the diagonal, or a group without questions in `direction`)."""
    size = len(final_rows)
    return [
        [row.get(f"qa_{direction}_{update_group(j + 1)}_{metric}") if j <= i else None for j in range(size)]
        for i, row in enumerate(final_rows)
    ]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def average_accuracy(matrix: Matrix) -> float | None:
    """The mean of the last row of R: how much of every update the final model knows."""
    return _mean([value for value in matrix[-1] if value is not None])


def backward_transfer(matrix: Matrix) -> float | None:
    """Mean over the earlier updates j of R[T][j] - R[j][j] (negative: forgetting); None for a single update."""
    last = len(matrix) - 1
    gaps = [
        matrix[last][j] - matrix[j][j] for j in range(last) if matrix[last][j] is not None and matrix[j][j] is not None
    ]
    return _mean(gaps)


def _key(question: str, direction: str, group: str) -> tuple[str, str, str]:
    return question, direction, group


def edit_metrics(records: Sequence[dict], items: Sequence[QAItem], qa_score: str = "paper") -> dict[str, dict]:
    """Per direction, from one evaluation's generation records (`question`, `direction`, `group`, `prediction`,
    `contains`) and the QA items asked (which hold `old_answers`):

    - `efficacy`: share of the edit questions (groups `*_edits`) whose answer contains the new answer;
    - `old_answer`: share of the edit questions with `old_answers` whose answer still contains an old one;
    - `efficacy_by_phrasing`: efficacy of the 1st, 2nd... phrasing of each edited fact (its questions in order);
    - `generalization`: share of the edited facts answered with the new answer under every phrasing;
    - `locality`: share of the other questions (unedited facts of this and earlier updates) answered correctly.

    A direction without edit questions is left out.
    """
    old_answers = {_key(item.question, item.direction, item.group): item.old_answers for item in items}
    results = {}
    for direction in DIRECTIONS:
        rows = [record for record in records if record["direction"] == direction]
        edits = [record for record in rows if is_edit_group(record["group"])]
        if not edits:
            continue
        facts: dict[tuple, list[float]] = defaultdict(list)
        old = []
        for record in edits:
            previous = old_answers.get(_key(record["question"], direction, record["group"]), ())
            facts[(record["group"], tuple(record["answers"]), previous)].append(float(record["contains"]))
            if previous:
                old.append(score_answer(record["prediction"], previous, qa_score)["contains"])
        phrasings = max(len(scores) for scores in facts.values())
        by_phrasing = [_mean([s[k] for s in facts.values() if len(s) > k]) for k in range(phrasings)]
        results[direction] = {
            "efficacy": _mean([float(record["contains"]) for record in edits]),
            "old_answer": _mean(old),
            "efficacy_by_phrasing": by_phrasing,
            "generalization": _mean([float(all(scores)) for scores in facts.values()]),
            "locality": _mean([float(record["contains"]) for record in rows if not is_edit_group(record["group"])]),
        }
    return results


def later_fact_answers(records: Sequence[dict], qa_score: str = "paper") -> dict[str, float]:
    """Per direction, from the final evaluation's generation records (`direction`, `group`, `answers`,
    `prediction`): the share of the questions on the unedited facts of earlier updates (groups `update_<j>`, j below
    the last update asked) whose answer is closer by ROUGE-1 recall to the answer of a fact taught by a later update
    (new or edited) than to its own. Forgetting where this share is high is interference: the newer facts answer
    the older questions ("Who is A?" -> "A is <B's description>."), not answers lost to nonsense.

    A direction without questions on earlier updates is left out.
    """
    results = {}
    for direction in DIRECTIONS:
        rows = [record for record in records if record["direction"] == direction]
        last = max((group_update(record["group"]) for record in rows), default=0)
        earlier = [r for r in rows if group_update(r["group"]) < last and not is_edit_group(r["group"])]
        if not earlier:
            continue
        taught: dict[int, set[str]] = defaultdict(set)
        for record in rows:
            taught[group_update(record["group"])].update(record["answers"])
        later = {u: sorted(set().union(*(taught[v] for v in taught if v > u))) for u in taught}
        taken = []
        for record in earlier:
            own = score_answer(record["prediction"], record["answers"], qa_score)["rouge1"]
            newer = score_answer(record["prediction"], later[group_update(record["group"])], qa_score)["rouge1"]
            taken.append(float(newer > own))
        results[direction] = _mean(taken)
    return results
