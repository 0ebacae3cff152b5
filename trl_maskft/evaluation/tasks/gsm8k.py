"""GSM8K (Cobbe et al. 2021, arXiv 2110.14168) as a task: loading, answer extraction and the two verdicts.

Rows become `prompt` (the question) / `completion` (the worked answer, ending in `#### <number>`) strings, which
`MaskedSFTTrainer` masks inside its question/answer instruction and `SFTTrainer` trains on as a chat
(`to_conversational`). The model is asked each test question alone in its chat template (0-shot) and answers greedily;
a prediction is right under *exact match* when the number after its first `####` equals the reference's (as in
lm-evaluation-harness's strict match: a generation that goes on to invent another question and answer is scored on its
own), and under the *flexible* rule when its last number does.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from datasets import Dataset

from .base import AnswerTask
from .loading import TaskData, prompt_completion

HUB_ID = "openai/gsm8k"
HUB_CONFIG = "main"  # the configuration of `HUB_ID` with plain answers (the other, "socratic", adds sub-questions)

# A number: a minus sign only where no word or digit precedes it ("-3", not the "-12" of "10-12"); digits in groups of
# three after commas or without them, never cut short ("1,2345" is no number, not 1234); an optional decimal part.
_INTEGER = r"(?<![\d.])(?<!\d,)(?:\d{1,3}(?:,\d{3})+|\d+)(?![\d,]*\d)"
_NUMBER = rf"(?:(?<!\w)-)?(?:{_INTEGER}(?:\.\d+)?|(?<![\d.])\.\d+)"
_FINAL = re.compile(rf"####\s*(-?)\s*\$?\s*({_NUMBER})")  # the sign may come before the dollar: "#### -$5"
_MINUS = str.maketrans({"\u2212": "-"})  # the Unicode minus sign


GSM8K_DATA = TaskData(
    label="GSM8K",
    hub_id=HUB_ID,
    hub_config=HUB_CONFIG,
    fields=("question", "answer"),
    local_format='one {"question", "answer"} object per line, as in openai/grade-school-math',
    local_example="../shared/data/gsm8k",
)


def load_gsm8k(
    source: str = HUB_ID, split: str = "train", config: str | None = None, max_samples: int | None = None
) -> Dataset:
    """The first `max_samples` (default: all) rows of a GSM8K split as `prompt`/`completion` strings.

    `source` is a folder holding `<split>.jsonl` (`{"question", "answer"}` per line, as in openai/grade-school-math)
    or a Hub dataset id with `question` and `answer` columns (configuration `config`; by default `"main"` for
    `openai/gsm8k`, none for other ids); see `trl_maskft.evaluation.tasks.loading`.
    """
    return prompt_completion(GSM8K_DATA.load(source, split, config), "question", "answer", max_samples)


def normalize_number(text: str) -> str | None:
    """A number in canonical form ("1,234.50" -> "1234.5", "-0" -> "0", ".5" -> "0.5"); None if it is not one."""
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    value = value.normalize() + 0  # + 0 turns -0 into 0
    return f"{value:f}"


def extract_final_answer(text: str) -> str | None:
    """The normalized number after the first `####` of `text` that a number follows ("#### 1,234", "####-3",
    "#### -$5", "#### $18.00 dollars")."""
    match = _FINAL.search(text.translate(_MINUS))
    return normalize_number(match[1] + match[2]) if match else None


def extract_last_number(text: str) -> str | None:
    """The normalized last number of `text`, wherever it is (the flexible rule)."""
    matches = re.findall(_NUMBER, text.translate(_MINUS))
    return normalize_number(matches[-1]) if matches else None


def judge_gsm8k(prediction: str, reference: str) -> dict:
    """The numbers extracted from `prediction` and both verdicts against the normalized `reference` number."""
    final, last = extract_final_answer(prediction), extract_last_number(prediction)
    return {
        "final_answer": final,
        "last_number": last,
        "exact_match": float(final == reference),
        "flexible_match": float(last == reference),
    }


GSM8K = AnswerTask(
    name="gsm8k",
    label="GSM8K",
    title="GSM8K accuracy (0-shot, greedy; final number after '####' / last number)",
    rules=("exact_match", "flexible_match"),
    rule_labels=("exact match", "flexible match"),
    load=load_gsm8k,
    reference=extract_final_answer,
    reference_name="final answer after '####'",
    judge=judge_gsm8k,
)
