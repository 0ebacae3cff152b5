"""QA evaluation during training: forward and backward questions, answered greedily and scored by ROUGE-1 recall."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from accelerate.utils import gather_object
from transformers import PreTrainedModel, Trainer

from ..data.qa_checks import check_qa_items
from ..data.schema import QAItem
from .answering import Answerer, GreedyAnswerer
from .generation import chat_prompts
from .qa_scoring import aggregate_scores, check_qa_score, score_answer
from .reporting import history_table
from .scheduled import (
    ScheduledEvalCallback,
    evaluation_model,
    params_sharded,
)


def drop_padding(per_rank: Sequence[Sequence], num_items: int) -> list:
    """Concatenate the outputs of each rank on its share of `num_items` inputs split by
    `split_between_processes(..., apply_padding=True)`, without the padding repeated at the end of the shorter shares.
    """
    base, extra = divmod(num_items, len(per_rank))
    return [output for rank, outputs in enumerate(per_rank) for output in outputs[: base + (rank < extra)]]


def across_processes(trainer: Trainer, inputs: Sequence, compute: Callable[[PreTrainedModel, list], list]) -> list:
    """``compute(model, share)`` of the trainer's evaluation model (`evaluation_model`) on each process's share of
    `inputs` (one output per input), gathered in order and returned on every rank. The shares are padded to the same
    length, so every process runs the same number of forward passes (as sharded parameters need)."""
    accelerator = trainer.accelerator
    with (
        accelerator.split_between_processes(list(inputs), apply_padding=True) as local,
        evaluation_model(trainer) as unwrapped,
    ):
        outputs = compute(unwrapped, local)
    return drop_padding(gather_object([outputs]), len(inputs)) if accelerator.num_processes > 1 else outputs


def score_answers(items: Sequence[QAItem], predictions: Sequence[str], qa_score: str = "paper") -> list[dict]:
    """One record per item: question, references, prediction and both scores (`rouge1`, `contains`) by the QA score
    named `qa_score` (`trl_maskft.evaluation.qa_scoring.QA_SCORES`)."""
    return [
        {
            "question": item.question,
            "answers": list(item.answers),
            "direction": item.direction,
            "group": item.group,
            "prediction": prediction,
            **score_answer(prediction, item.answers, qa_score),
        }
        for item, prediction in zip(items, predictions, strict=True)
    ]


class QAEvalCallback(ScheduledEvalCallback):
    """Asks the QA items at the start of training (epoch 0) and after scheduled epochs; logs `qa_*` metrics.

    Questions are split across processes and gathered in order. The schedule, logging, files (`qa_metrics.jsonl`,
    `qa_generations/epoch_<k>.jsonl`), resuming, `eval_qa_*` metrics for `metric_for_best_model` (e.g.
    `eval_qa_backward_rouge1`) and the best checkpoint's row are those of `ScheduledEvalCallback`.

    Args:
        trainer: the trainer whose model is evaluated.
        items: the QA items.
        answerer: how the questions are answered, with all its settings (`trl_maskft.evaluation.answering`); default
            `GreedyAnswerer()`: greedy, 128 new tokens (the paper), 16 questions per generate call.
        eval_every: evaluate every N epochs (the final model is always evaluated at the end).
        eval_epochs: evaluate exactly after these epochs instead (0 = before training).
        system_prompt: system message of the questions; None keeps the template default.
        qa_score: how answers are scored, `"paper"` (the paper's exact ROUGE-1), `"lenient"` or `"robust"`
            (`trl_maskft.evaluation.qa_scoring`).

    Subclasses score other tasks by overriding `score`, `summary` and `title` (see `trl_maskft.evaluation.tasks`).
    """

    prefix = "qa"
    schedule_keys = ("qa_eval_every", "qa_eval_epochs")
    title = "QA accuracy (ROUGE-1 recall of the reference, exact containment)"
    nothing_logged = "No QA evaluation was logged."

    def __init__(
        self,
        trainer: Trainer,
        items: Sequence[QAItem],
        answerer: Answerer | None = None,
        eval_every: int = 1,
        eval_epochs: Sequence[int] | None = None,
        system_prompt: str | None = None,
        qa_score: str = "paper",
    ):
        if not items:
            raise ValueError("QAEvalCallback needs at least one QA item.")
        check_qa_items(items)
        check_qa_score(qa_score)
        super().__init__(trainer, eval_every, eval_epochs)
        self.items = list(items)
        self.answerer = GreedyAnswerer() if answerer is None else answerer
        self.system_prompt = system_prompt
        self.qa_score = qa_score

    def answer(self, items: Sequence[QAItem]) -> list[str]:
        """Answers of the current model to ``items``, computed across all processes and returned on every rank."""
        trainer = self.trainer
        tokenizer = trainer.processing_class
        prompts = chat_prompts(tokenizer, [item.question for item in items], self.system_prompt)
        synced = params_sharded(trainer)
        return across_processes(trainer, prompts, lambda model, local: self.answerer(model, tokenizer, local, synced))

    def measure(self) -> tuple[list[dict], dict[str, float]]:
        return self.score(self.answer(self.items))

    def metric_names(self) -> set[str]:
        return set(self.score([""] * len(self.items))[1])

    def score(self, predictions: Sequence[str]) -> tuple[list[dict], dict[str, float]]:
        """Per-item records (saved as generations) and `qa_*` metrics of the answers to `items`."""
        records = score_answers(self.items, predictions, self.qa_score)
        return records, aggregate_scores(records)

    def summary(self) -> str:
        """Markdown table of `history`, one row per evaluated epoch."""
        return history_table(self.history)

    def card_quick_start(self, model_id: str, trust_remote_code: bool = False) -> str:
        """The model card's quick start: the model answering a question as this callback asks them (its answerer and
        system prompt)."""
        return self.answerer.quick_start(model_id, self.system_prompt, trust_remote_code)

    def card_description(self) -> str:
        return (
            f"asked by `{type(self).__name__}` in the chat template before training (epoch 0) and after the "
            "evaluated epochs"
        )
