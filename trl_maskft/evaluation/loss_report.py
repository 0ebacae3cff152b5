"""The report of a run without QA items (a corpus alone): the evaluation loss per evaluation, on the held-out rows
(masked SFT: the masked reconstruction loss), in `eval_summary.md`, the printed summary and the model card."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import Trainer, TrainerCallback

from .answering import GreedyAnswerer
from .reporting import markdown_table, metric_cell


def loss_history(log_history: Sequence[dict]) -> list[dict]:
    """``{"step", "epoch", "eval_loss"}`` of every evaluation in a trainer's `log_history`, in order."""
    return [
        {"step": log["step"], "epoch": log.get("epoch"), "eval_loss": log["eval_loss"]}
        for log in log_history
        if "eval_loss" in log
    ]


def final_training_loss(log_history: Sequence[dict]) -> float | None:
    """The last logged training loss, None when none was logged."""
    losses = [log["loss"] for log in log_history if "loss" in log]
    return losses[-1] if losses else None


class LossReport(TrainerCallback):
    """What a run without QA items reports: a table of its evaluations' `eval_loss` (none without `eval_strategy`),
    and the last training loss. It has the card sections of the QA callbacks (`card_quick_start`,
    `card_evaluation`), so the model card shows the table."""

    title = "Evaluation loss on the held-out rows (`eval_loss`; masked SFT: the masked reconstruction loss)"
    summary_file = "eval_summary.md"

    def __init__(self, trainer: Trainer):
        self.trainer = trainer

    def add_to_trainer(self) -> None:
        self.trainer.add_callback(self)

    def summary(self) -> str:
        """Markdown table of the evaluations, then the last training loss."""
        log_history = self.trainer.state.log_history
        history = loss_history(log_history)
        if history:
            rows = ([str(row["step"]), metric_cell(row["epoch"]), f"{row['eval_loss']:.4f}"] for row in history)
            table = markdown_table(["step", "epoch", "eval_loss"], rows)
        else:
            table = (
                "No evaluation loss was logged: set `eval_strategy` and hold out rows (`dataset_test_split` or "
                "`dataset_test_size`)."
            )
        loss = final_training_loss(log_history)
        return table if loss is None else f"{table}\n\nLast training loss: {loss:.4f}."

    def report(self) -> str:
        return self.summary()

    def card_quick_start(self, model_id: str, trust_remote_code: bool = False) -> str:
        default = getattr(self.trainer, "default_answerer", None)
        answerer = default() if default is not None else GreedyAnswerer()
        return answerer.quick_start(model_id, None, trust_remote_code)

    def card_evaluation(self) -> str:
        return f"{self.title}.\n\n{self.summary()}"
