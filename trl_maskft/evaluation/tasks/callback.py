"""Scoring a task (`AnswerTask`) during training and on a saved model: 0-shot answers in the chat template."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from ...data.schema import QAItem
from ..answering import Answerer, GreedyAnswerer
from ..generation import chat_prompts, greedy_config
from ..qa_callback import QAEvalCallback
from ..reporting import markdown_table, metric_cell
from .base import AnswerTask

MAX_NEW_TOKENS = 256  # the paper's budget for math answers


def task_answerer(answerer: Answerer | None = None) -> Answerer:
    """`answerer`, or by default greedy answers of at most 256 new tokens."""
    return GreedyAnswerer(greedy_config(MAX_NEW_TOKENS)) if answerer is None else answerer


class TaskEvalCallback(QAEvalCallback):
    """[`QAEvalCallback`] for the items of `task`: logs `qa_<task>_<rule>` (as `eval_qa_*` too, for
    `metric_for_best_model`); by default answers greedily with 256 new tokens, as the paper does."""

    def __init__(self, trainer: Trainer, task: AnswerTask, items: Sequence[QAItem], answerer: Answerer | None = None,
                 **schedule):  # fmt: skip
        super().__init__(trainer, items, task_answerer(answerer), **schedule)
        self.task = task
        self.title = task.title

    def score(self, predictions: Sequence[str]) -> tuple[list[dict], dict[str, float]]:
        records = self.task.score(self.items, predictions)
        return records, self.task.accuracy(records)

    def summary(self) -> str:
        keys = [f"qa_{self.task.name}_{rule}" for rule in self.task.rules]
        rows = ([str(row["epoch"]), *(metric_cell(row[key]) for key in keys)] for row in self.history)
        return markdown_table(["epoch", *self.task.rule_labels], rows)


def evaluate_task(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: AnswerTask,
    items: Sequence[QAItem],
    answerer: Answerer | None = None,
    system_prompt: str | None = None,
) -> tuple[dict[str, float], list[dict]]:
    """0-shot answers of `model` to `items` (`task.qa_items`), by default greedy with 256 new tokens:
    `(accuracy, records)`."""
    prompts = chat_prompts(tokenizer, [item.question for item in items], system_prompt)
    records = task.score(items, task_answerer(answerer)(model, tokenizer, prompts))
    return task.accuracy(records), records
