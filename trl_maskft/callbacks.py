"""QA evaluation during training: forward and backward questions, answered greedily and scored by ROUGE-1 recall."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from accelerate.utils import gather_object
from transformers import Trainer, TrainerCallback
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from trl.models.utils import unwrap_model_for_generation

from .answering import Answerer, GreedyAnswerer
from .data.qa_checks import check_qa_items
from .data.schema import QAItem
from .generation import chat_prompts
from .metrics import aggregate_scores, check_qa_score, score_answer
from .reporting import history_table
from .selection import check_qa_schedule


def qa_history(log_history: Sequence[dict]) -> list[dict]:
    """The rows `QAEvalCallback` logged (``{"epoch", "qa_*": ...}``), in order, from a trainer's `log_history`."""
    return [
        {"epoch": log["qa_epoch"], **{k: v for k, v in log.items() if k.startswith("qa_") and k != "qa_epoch"}}
        for log in log_history
        if "qa_epoch" in log
    ]


def epoch_label(epoch: float) -> int | float:
    """`epoch` to 2 decimals, an int when whole: the `epoch` of a QA row and the name of its generations file."""
    epoch = round(epoch, 2)
    return int(epoch) if epoch == int(epoch) else epoch


def is_qa_metric(metric: str | None) -> bool:
    """Whether `metric_for_best_model` names a metric of `QAEvalCallback` (`[eval_]qa_*`)."""
    return metric is not None and metric.removeprefix("eval_").startswith("qa_")


def drop_padding(per_rank: Sequence[Sequence], num_items: int) -> list:
    """Concatenate the outputs of each rank on its share of `num_items` inputs split by
    `split_between_processes(..., apply_padding=True)`, without the padding repeated at the end of the shorter shares.
    """
    base, extra = divmod(num_items, len(per_rank))
    return [output for rank, outputs in enumerate(per_rank) for output in outputs[: base + (rank < extra)]]


def score_answers(items: Sequence[QAItem], predictions: Sequence[str], qa_score: str = "paper") -> list[dict]:
    """One record per item: question, references, prediction and both scores (`rouge1`, `contains`) by the QA score
    named `qa_score` (`trl_maskft.metrics.QA_SCORES`)."""
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


class QAEvalCallback(TrainerCallback):
    """Asks the QA items at the start of training (epoch 0) and after scheduled epochs; logs `qa_*` metrics.

    Questions are split across processes and gathered in order. Metrics are logged with `trainer.log`, kept in
    `history` and appended to `qa_metrics.jsonl`; generations go to `<output_dir>/qa_generations/epoch_<k>.jsonl`.
    A run resumed from a checkpoint restores `history` (and rewrites `qa_metrics.jsonl`, deleting the generations of
    the rows it drops) from the checkpoint's logs. It does not ask epoch 0 again, but it does ask the epoch that ends
    at the checkpoint when the checkpoint was saved on that epoch's last step, before the epoch was asked.

    When the Trainer evaluates at the step of a QA evaluation, the QA metrics are added to its metrics as `eval_qa_*`,
    so that `metric_for_best_model` can name them (e.g. `eval_qa_backward_rouge1`); they are never carried over to
    later evaluations. A QA `metric_for_best_model` therefore needs `eval_strategy="epoch"` and the QA items asked
    after every epoch: other schedules are refused when training begins. Add the callback with `add_to_trainer` so
    that callbacks reading these metrics in `on_evaluate` (e.g. `EarlyStoppingCallback`) run after it.

    With `load_best_model_at_end`, the Trainer replaces the final weights with the best checkpoint's before
    `on_train_end`: the callback then records that checkpoint and its row (asking it if it has none) in `best_loaded`,
    and `weights_note` says so (in `qa_summary.md` and the model card).

    Args:
        trainer: the trainer whose model is evaluated.
        items: the QA items.
        answerer: how the questions are answered, with all its settings (`trl_maskft.answering`); default
            `GreedyAnswerer()`: greedy, 128 new tokens (the paper), 16 questions per generate call.
        eval_every: evaluate every N epochs (the final model is always evaluated at the end).
        eval_epochs: evaluate exactly after these epochs instead (0 = before training).
        system_prompt: system message of the questions; None keeps the template default.
        qa_score: how answers are scored, `"paper"` (the paper's exact ROUGE-1), `"lenient"` or `"robust"`
            (`trl_maskft.metrics`).

    Subclasses score other tasks by overriding `score`, `summary` and `title` (see `trl_maskft.tasks`).
    """

    title = "QA accuracy (ROUGE-1 recall of the reference, exact containment)"
    summary_file = "qa_summary.md"  # where the scripts save `report()`

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
        if eval_every < 1:
            raise ValueError(f"`eval_every` must be a positive number of epochs, got {eval_every}.")
        self.trainer = trainer
        self.items = list(items)
        self.answerer = GreedyAnswerer() if answerer is None else answerer
        self.eval_every = eval_every
        self.eval_epochs = None if eval_epochs is None else set(eval_epochs)
        self.system_prompt = system_prompt
        self.qa_score = qa_score
        self.history: list[dict] = []
        self.latest: dict[str, float] = {}
        self.latest_step: int | None = None  # global step of `latest`; None for rows restored from a checkpoint
        self.best_loaded: dict | None = None
        self.selection = None  # a `best_epoch.BestEpochCallback` reporting the best epoch, if any

    def add_to_trainer(self) -> None:
        """Add the callback to its trainer ahead of the others (also those passed when the trainer was built), so that
        callbacks reading `eval_qa_*` in `on_evaluate` (e.g. `EarlyStoppingCallback`) see this evaluation's."""
        self.trainer.callback_handler.callbacks.insert(0, self)

    def _due(self, epoch: int) -> bool:
        if self.eval_epochs is not None:
            return epoch in self.eval_epochs
        return epoch % self.eval_every == 0

    def answer(self, items: Sequence[QAItem]) -> list[str]:
        """Answers of the current model to ``items``, computed across all processes and returned on every rank."""
        trainer = self.trainer
        accelerator = trainer.accelerator
        tokenizer = trainer.processing_class
        prompts = chat_prompts(tokenizer, [item.question for item in items], self.system_prompt)
        synced = accelerator.num_processes > 1 and (is_deepspeed_zero3_enabled() or trainer.is_fsdp_enabled)
        model = trainer.model_wrapped
        was_training = model.training
        model.eval()
        try:
            with (
                accelerator.split_between_processes(prompts, apply_padding=True) as local_prompts,
                unwrap_model_for_generation(model, accelerator) as unwrapped,
            ):
                local = self.answerer(unwrapped, tokenizer, local_prompts, synced_gpus=synced)
        finally:
            model.train(was_training)
        return drop_padding(gather_object([local]), len(items)) if accelerator.num_processes > 1 else local

    def score(self, predictions: Sequence[str]) -> tuple[list[dict], dict[str, float]]:
        """Per-item records (saved as generations) and `qa_*` metrics of the answers to `items`."""
        records = score_answers(self.items, predictions, self.qa_score)
        return records, aggregate_scores(records)

    def summary(self) -> str:
        """Markdown table of `history`, one row per evaluated epoch."""
        return history_table(self.history)

    def weights_note(self) -> str | None:
        """Which checkpoint and row the saved weights are when the Trainer loaded its best checkpoint at the end; None
        when they are the final weights, i.e. the last row. The best epoch of `selection` comes first."""
        selection = None if self.selection is None else self.selection.note()
        if self.best_loaded is None:
            return selection
        best = self.best_loaded
        return (f"{selection} " if selection else "") + (
            f"The saved model is the best checkpoint by `{best['metric']}` ({best['value']:.4g}), "
            f"`{best['checkpoint']}` (epoch {best['epoch']}), loaded at the end of training "
            f"(`load_best_model_at_end`): its row is the one of epoch {best['epoch']}."
        )

    def report(self) -> str:
        """`summary` and, if any, `weights_note` (printed and saved as `qa_summary.md`)."""
        note = self.weights_note()
        return self.summary() if note is None else f"{self.summary()}\n\n{note}"

    def card_quick_start(self, model_id: str, trust_remote_code: bool = False) -> str:
        """The model card's quick start: the model answering a question as this callback asks them (its answerer and
        system prompt)."""
        return self.answerer.quick_start(model_id, self.system_prompt, trust_remote_code)

    def card_evaluation(self) -> str:
        """The model card's evaluation section: the title, the table (`summary`) and which row the weights are."""
        if not self.history:
            return "No QA evaluation was logged."
        note = self.weights_note() or "The last row is the final model."
        return (
            f"{self.title}, asked by `{type(self).__name__}` in the chat template before training (epoch 0) and "
            f"after the evaluated epochs. {note}\n\n{self.summary()}"
        )

    def evaluate(self, epoch: int) -> dict[str, float]:
        """Answer and score every item; log, record and return the metrics."""
        records, metrics = self.score(self.answer(self.items))
        self.latest, self.latest_step = metrics, self.trainer.state.global_step
        self.history.append({"epoch": epoch, **metrics})
        trainer = self.trainer
        Trainer.log(trainer, {**metrics, "qa_epoch": epoch})
        if trainer.is_world_process_zero():
            folder = os.path.join(trainer.args.output_dir, "qa_generations")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"epoch_{epoch}.jsonl"), "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)
            with open(os.path.join(trainer.args.output_dir, "qa_metrics.jsonl"), "a") as f:
                f.write(json.dumps(self.history[-1]) + "\n")
        return metrics

    def _check_best_metric_schedule(self, args, state) -> None:
        """A QA `metric_for_best_model` is only compared when the QA items were asked at that very evaluation."""
        if not is_qa_metric(args.metric_for_best_model):
            return
        # Every epoch is asked with `eval_every == 1` and no list; otherwise the first epoch not asked comes early,
        # so the scan stops soon also when `num_train_epochs` is huge (an iterable dataset with `max_steps`)
        every_epoch = self.eval_epochs is None and self.eval_every == 1
        epochs = range(1, state.num_train_epochs + 1)
        missing = None if every_epoch else next((epoch for epoch in epochs if not self._due(epoch)), None)
        strategy = getattr(args.eval_strategy, "value", args.eval_strategy)
        if strategy != "epoch" or missing is not None:
            raise ValueError(
                f"`metric_for_best_model={args.metric_for_best_model}` is a QA metric, computed only at the end of "
                "the epochs the QA items are asked at, so the Trainer must evaluate after every epoch and the QA "
                f"items must be asked then: got `eval_strategy={strategy}` and no QA evaluation after epoch "
                f"{missing if missing is not None else '(none missing)'}. Set `eval_strategy: epoch` and "
                "`qa_eval_every: 1` without `qa_eval_epochs`, or pick a `metric_for_best_model` that is not a QA "
                "metric (e.g. `eval_loss`)."
            )

    def _clean_generations(self, output_dir: str) -> None:
        """Delete the generation files of rows not in `history` (a fresh start, or logged after the checkpoint)."""
        folder = os.path.join(output_dir, "qa_generations")
        kept = {f"epoch_{row['epoch']}.jsonl" for row in self.history}
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            if name.startswith("epoch_") and name.endswith(".jsonl") and name not in kept:
                os.remove(os.path.join(folder, name))

    def on_train_begin(self, args, state, control, **kwargs):
        check_qa_schedule(self.eval_epochs, state.num_train_epochs)
        self._check_best_metric_schedule(args, state)
        # The state's logs hold the QA rows of this run: none on a fresh start, those up to the checkpoint on resume
        self.history = qa_history(state.log_history)
        self.latest = {k: v for k, v in self.history[-1].items() if k != "epoch"} if self.history else {}
        self.latest_step = None
        self.best_loaded = None
        if self.trainer.is_world_process_zero():
            os.makedirs(args.output_dir, exist_ok=True)
            with open(os.path.join(args.output_dir, "qa_metrics.jsonl"), "w") as f:
                f.writelines(json.dumps(row) + "\n" for row in self.history)
            self._clean_generations(args.output_dir)
        # Epoch 0 of a fresh run, or the epoch ending at a checkpoint saved on its last step, before `on_epoch_end`
        if float(state.epoch).is_integer():
            self._evaluate_if_due(int(state.epoch))

    def on_epoch_end(self, args, state, control, **kwargs):
        self._evaluate_if_due(round(state.epoch))

    def _evaluate_if_due(self, epoch: int) -> None:
        """Ask the QA items after `epoch` if it is scheduled and not asked yet (a resumed run may have asked it)."""
        if self._due(epoch) and all(row["epoch"] != epoch for row in self.history):
            self.evaluate(epoch)

    def on_train_end(self, args, state, control, **kwargs):
        """The final model is always evaluated, also when training stops between scheduled epochs; when the Trainer
        loaded its best checkpoint instead, that checkpoint is recorded in `best_loaded` with its row."""
        if args.load_best_model_at_end and state.best_model_checkpoint is not None:
            self._record_best(args, state)
            return
        epoch = epoch_label(state.epoch)
        if not self.history or self.history[-1]["epoch"] != epoch:
            self.evaluate(epoch)

    def _record_best(self, args, state) -> None:
        step = state.best_global_step
        logs = [log for log in state.log_history if log.get("step") == step]
        row = next((log for log in logs if "qa_epoch" in log), None)
        if row is None:  # not a QA evaluation (e.g. by `eval_loss`, mid-epoch): ask the loaded weights now
            epoch = epoch_label(next(log["epoch"] for log in logs if "epoch" in log))
            self.evaluate(epoch)
        else:
            epoch = row["qa_epoch"]
        self.best_loaded = {
            "checkpoint": os.path.basename(state.best_model_checkpoint),
            "step": step,
            "epoch": epoch,
            "metric": args.metric_for_best_model,
            "value": state.best_metric,
        }

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics is not None and self.latest_step == state.global_step:
            metrics.update({f"eval_{k}": v for k, v in self.latest.items()})
