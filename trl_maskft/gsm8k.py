"""GSM8K (Cobbe et al. 2021, arXiv 2110.14168): loading, answer extraction, accuracy and 0-shot greedy evaluation.

Rows become `prompt` (the question) / `completion` (the worked answer, ending in `#### <number>`) strings, which
`MaskedSFTTrainer` masks inside its question/answer instruction and `SFTTrainer` trains on as a chat
(`to_conversational`). The model is asked each test question alone in its chat template (0-shot) and answers greedily;
a prediction is right under *exact match* when the number after its first `####` equals the reference's (as in
lm-evaluation-harness's strict match: a generation that goes on to invent another question and answer is scored on its
own), and under the *flexible* rule when its last number does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import datasets
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .callbacks import QAEvalCallback
from .data.qa_io import _field, _jsonl_rows
from .data.schema import QAItem
from .generation import chat_prompts, greedy_generate
from .reporting import markdown_table, metric_cell

HUB_ID = "openai/gsm8k"
HUB_CONFIG = "main"  # the configuration of `HUB_ID` with plain answers (the other, "socratic", adds sub-questions)
GROUP = "gsm8k"
RULES = ("exact_match", "flexible_match")  # metric `qa_gsm8k_<rule>`: the mean verdict of the records' `<rule>`

# A number: a minus sign only where no word or digit precedes it ("-3", not the "-12" of "10-12"); digits in groups of
# three after commas or without them, never cut short ("1,2345" is no number, not 1234); an optional decimal part.
_INTEGER = r"(?<![\d.])(?<!\d,)(?:\d{1,3}(?:,\d{3})+|\d+)(?![\d,]*\d)"
_NUMBER = rf"(?:(?<!\w)-)?(?:{_INTEGER}(?:\.\d+)?|(?<![\d.])\.\d+)"
_FINAL = re.compile(rf"####\s*(-?)\s*\$?\s*({_NUMBER})")  # the sign may come before the dollar: "#### -$5"
_MINUS = str.maketrans({"\u2212": "-"})  # the Unicode minus sign


def load_gsm8k(
    source: str = HUB_ID, split: str = "train", config: str | None = None, max_samples: int | None = None
) -> Dataset:
    """The first `max_samples` (default: all) rows of a GSM8K split as `prompt`/`completion` strings.

    `source` is a folder holding `<split>.jsonl` (`{"question", "answer"}` per line, as in openai/grade-school-math)
    or a Hub dataset id with `question` and `answer` columns (configuration `config`; by default `"main"` for
    `openai/gsm8k`, none for other ids).
    """
    if os.path.isdir(source):
        path = os.path.join(source, f"{split}.jsonl")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: a local GSM8K folder holds <split>.jsonl files.")
        rows = []
        for line_number, row in _jsonl_rows(path):
            question, answer = (_field(row, name, path, line_number) for name in ("question", "answer"))
            if not (isinstance(question, str) and isinstance(answer, str)):
                raise ValueError(f"{path}, line {line_number}: 'question' and 'answer' must be strings.")
            rows.append({"question": question, "answer": answer})
        dataset = Dataset.from_list(rows)
    else:
        dataset = _hub_gsm8k(source, split, config or (HUB_CONFIG if source == HUB_ID else None))
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    return dataset.select_columns(["question", "answer"]).rename_columns(
        {"question": "prompt", "answer": "completion"}
    )


def _hub_gsm8k(name: str, split: str, config: str | None) -> Dataset:
    """Split `split` of Hub dataset `name`; a clear error when it cannot be loaded or lacks the GSM8K columns."""
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except (OSError, ValueError) as err:  # not found, offline, unreachable, unknown configuration or split
        raise ValueError(
            f"GSM8K dataset {name!r} (configuration {config!r}, split {split!r}) is not a local folder and loading it "
            f"from the Hub failed: {err}\nWithout the Hub, set `dataset_name` to a folder of train.jsonl and "
            'test.jsonl (one {"question", "answer"} object per line, as in openai/grade-school-math), such as '
            "../shared/data/gsm8k."
        ) from err
    if not {"question", "answer"} <= set(dataset.column_names):
        raise ValueError(
            f"The Hub dataset {name!r} has columns {dataset.column_names}; GSM8K needs 'question' and 'answer'."
        )
    return dataset


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


def gsm8k_qa_items(dataset: Dataset) -> list[QAItem]:
    """Evaluation items of prompt/completion rows: the question, and the final number of the answer as reference."""
    items = []
    for i, row in enumerate(dataset):
        reference = extract_final_answer(row["completion"])
        if reference is None:
            raise ValueError(f"GSM8K row {i} has no final answer after '####': {row['completion'][-80:]!r}")
        items.append(QAItem(row["prompt"], reference, "forward", GROUP))
    return items


def score_gsm8k(items: Sequence[QAItem], predictions: Sequence[str]) -> list[dict]:
    """One record per item: question, reference, prediction, the numbers extracted from it and both verdicts."""
    records = []
    for item, prediction in zip(items, predictions, strict=True):
        final, last = extract_final_answer(prediction), extract_last_number(prediction)
        records.append(
            {
                "question": item.question,
                "reference": item.answer,
                "prediction": prediction,
                "final_answer": final,
                "last_number": last,
                "exact_match": float(final == item.answer),
                "flexible_match": float(last == item.answer),
            }
        )
    return records


def gsm8k_accuracy(records: Sequence[dict]) -> dict[str, float]:
    """`qa_gsm8k_exact_match` and `qa_gsm8k_flexible_match`: the mean verdicts of `score_gsm8k`'s records."""
    return {f"qa_{GROUP}_{rule}": sum(r[rule] for r in records) / len(records) for rule in RULES}


def evaluate_gsm8k(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[QAItem],
    max_new_tokens: int = 256,
    batch_size: int = 16,
    system_prompt: str | None = None,
) -> tuple[dict[str, float], list[dict]]:
    """0-shot greedy answers of `model` to `items` (see `gsm8k_qa_items`): `(accuracy, records)`."""
    prompts = chat_prompts(tokenizer, [item.question for item in items], system_prompt)
    records = score_gsm8k(items, greedy_generate(model, tokenizer, prompts, max_new_tokens, batch_size))
    return gsm8k_accuracy(records), records


class GSM8KEvalCallback(QAEvalCallback):
    """[`QAEvalCallback`] for GSM8K items: logs `qa_gsm8k_exact_match` and `qa_gsm8k_flexible_match` (as `eval_qa_*`
    too, for `metric_for_best_model`); generate 256 new tokens, as the paper does."""

    title = "GSM8K accuracy (0-shot, greedy; final number after '####' / last number)"

    def score(self, predictions: Sequence[str]) -> tuple[list[dict], dict[str, float]]:
        records = score_gsm8k(self.items, predictions)
        return records, gsm8k_accuracy(records)

    def summary(self) -> str:
        rows = ([str(row["epoch"]), *(metric_cell(row[f"qa_{GROUP}_{r}"]) for r in RULES)] for row in self.history)
        return markdown_table(["epoch", "exact match", "flexible match"], rows)
