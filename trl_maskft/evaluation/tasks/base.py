"""What a benchmark task is: how its rows load as prompt/completion strings, which reference answer each completion
holds, and how a prediction is judged against it, under one or more rules (`qa_<task>_<rule>` metrics)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from datasets import Dataset

from ...data.schema import QAItem
from ..extras import require_eval


@dataclass(frozen=True)
class AnswerTask:
    """A task scored by answer accuracy.

    Args:
        name: the task's name (`task:` in recipes) and the group of its QA items.
        label: its name in messages.
        title: the heading of its results table.
        rules: the verdicts `judge` gives, in table order; metric `qa_<name>_<rule>` is the mean of each.
        rule_labels: the table's column heading of each rule.
        load: ``load(source, split, config, max_samples) -> Dataset`` of `prompt`/`completion` strings.
        reference: the reference answer held by a completion, None when it has none.
        reference_name: what `reference` looks for, in the error on a completion without one.
        judge: ``judge(prediction, reference) -> dict`` of what was extracted from the prediction and one verdict
            (0.0 or 1.0) per rule.
        requires: the modules of the `eval` extra that `judge` imports (checked by `check_installed`).
    """

    name: str
    label: str
    title: str
    rules: tuple[str, ...]
    rule_labels: tuple[str, ...]
    load: Callable[..., Dataset]
    reference: Callable[[str], str | None]
    reference_name: str
    judge: Callable[[str, str], dict]
    requires: tuple[str, ...] = ()

    def check_installed(self) -> None:
        """A clear error naming the `eval` extra when a module `judge` needs is missing."""
        for module in self.requires:
            require_eval(module)

    def qa_items(self, dataset: Dataset) -> list[QAItem]:
        """Evaluation items of prompt/completion rows: the prompt, and the reference answer of the completion."""
        items = []
        for i, row in enumerate(dataset):
            reference = self.reference(row["completion"])
            if reference is None:
                raise ValueError(f"{self.label} row {i} has no {self.reference_name}: {row['completion'][-80:]!r}")
            items.append(QAItem(row["prompt"], reference, "forward", self.name))
        return items

    def score(self, items: Sequence[QAItem], predictions: Sequence[str]) -> list[dict]:
        """One record per item: question, reference, prediction, what `judge` extracted and its verdicts."""
        return [
            {"question": item.question, "reference": item.answer, "prediction": prediction,
             **self.judge(prediction, item.answer)}
            for item, prediction in zip(items, predictions, strict=True)
        ]  # fmt: skip

    def accuracy(self, records: Sequence[dict]) -> dict[str, float]:
        """`qa_<name>_<rule>`: the mean verdict of each rule over `records`."""
        return {f"qa_{self.name}_{rule}": sum(r[rule] for r in records) / len(records) for rule in self.rules}
