"""MATH (Hendrycks et al. 2021, arXiv 2103.03874) as a task, in the rows of `DigitalLearningGmbH/MATH-lighteval`
(`problem`, `level`, `solution` with the final answer in `\\boxed{}`, `type`): loading, boxed-answer extraction and
two verdicts.

Rows become `prompt` (the problem) / `completion` (the worked solution) strings, trained on as GSM8K's are. A
prediction is right under *exact match* when the content of its last `\\boxed{}` equals the reference's (spaces
ignored), and under *math-verify* when `math_verify` finds it equivalent to the reference ("1/2", "\\frac{1}{2}" and
"0.5" are one answer): math-verify extracts the boxed answer first, else the last expression. math-verify is in the
`eval` extra (`pip install 'trl-maskft[eval]'`).
"""

from __future__ import annotations

from datasets import Dataset

from ..extras import require_eval
from .base import AnswerTask
from .loading import TaskData, prompt_completion

HUB_ID = "DigitalLearningGmbH/MATH-lighteval"
_BOXES = ("\\boxed{", "\\fbox{")

MATH_DATA = TaskData(
    label="MATH",
    hub_id=HUB_ID,
    hub_config=None,
    fields=("problem", "solution"),
    local_format='one {"problem", "solution", "level", "type"} object per line, as in ' + HUB_ID,
)


def load_math(
    source: str = HUB_ID, split: str = "train", config: str | None = None, max_samples: int | None = None
) -> Dataset:
    """The first `max_samples` (default: all) rows of a MATH split as `prompt`/`completion` strings, from a folder of
    `<split>.jsonl` files or a Hub dataset with `problem` and `solution` columns
    (`trl_maskft.evaluation.tasks.loading`)."""
    return prompt_completion(MATH_DATA.load(source, split, config), "problem", "solution", max_samples)


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (or `\\fbox{...}`) of `text`, braces balanced; None without one."""
    start = max(text.rfind(box) + len(box) if box in text else -1 for box in _BOXES)
    if start < 0:
        return None
    depth = 1
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end].strip()
    return None  # unbalanced: cut off


def math_verify_match(prediction: str, reference: str) -> bool:
    """Whether math-verify finds the answer of `prediction` (its boxed answer, else its last expression) equivalent
    to the `reference` answer."""
    math_verify = require_eval("math_verify")
    return bool(math_verify.verify(math_verify.parse(f"\\boxed{{{reference}}}"), math_verify.parse(prediction)))


def judge_math(prediction: str, reference: str) -> dict:
    """The boxed answer of `prediction` and both verdicts against the `reference` answer."""
    boxed = last_boxed(prediction)
    same = boxed is not None and boxed.replace(" ", "") == reference.replace(" ", "")
    return {
        "boxed_answer": boxed,
        "exact_match": float(same),
        "math_verify": float(math_verify_match(prediction, reference)),
    }


MATH = AnswerTask(
    name="math",
    label="MATH",
    title="MATH accuracy (0-shot, greedy; last \\boxed{} answer exactly / equivalent by math-verify)",
    rules=("exact_match", "math_verify"),
    rule_labels=("exact match", "math-verify"),
    load=load_math,
    reference=last_boxed,
    reference_name="final answer in \\boxed{}",
    judge=judge_math,
    requires=("math_verify",),
)
