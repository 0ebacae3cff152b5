"""Evaluations scheduled on epochs during training: the machinery shared by the QA callback (`qa_*` metrics) and the
benchmark callback (`bench_*` metrics): when to evaluate, logging through the trainer, the files under `output_dir`,
resuming, and the metrics the Trainer's best-model tracking and early stopping can name (`eval_<prefix>_*`)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence

from transformers import PreTrainedModel, Trainer, TrainerCallback
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from trl.models.utils import unwrap_model_for_generation

from .selection import check_qa_schedule


def logged_history(log_history: Sequence[dict], prefix: str = "qa") -> list[dict]:
    """The rows a `ScheduledEvalCallback` with `prefix` logged (``{"epoch", "<prefix>_*": ...}``), in order, from a
    trainer's `log_history`."""
    epoch_key = f"{prefix}_epoch"
    return [
        {"epoch": log[epoch_key], **{k: v for k, v in log.items() if k.startswith(f"{prefix}_") and k != epoch_key}}
        for log in log_history
        if epoch_key in log
    ]


def epoch_label(epoch: float) -> int | float:
    """`epoch` to 2 decimals, an int when whole: the `epoch` of a row and the name of its generations file."""
    epoch = round(epoch, 2)
    return int(epoch) if epoch == int(epoch) else epoch


def names_metric(metric: str | None, prefix: str) -> bool:
    """Whether `metric_for_best_model` names a metric of the callback with `prefix` (`[eval_]<prefix>_*`)."""
    return metric is not None and metric.removeprefix("eval_").startswith(f"{prefix}_")


def params_sharded(trainer: Trainer) -> bool:
    """Whether every process must take part in each forward pass (ZeRO-3 or FSDP on several processes)."""
    return trainer.accelerator.num_processes > 1 and (is_deepspeed_zero3_enabled() or trainer.is_fsdp_enabled)


@contextlib.contextmanager
def evaluation_model(trainer: Trainer) -> Iterator[PreTrainedModel]:
    """The trainer's model unwrapped for generation (ZeRO-3 weights gathered, gradient checkpointing off) in eval
    mode; its training mode is restored afterwards."""
    model = trainer.model_wrapped
    was_training = model.training
    model.eval()
    try:
        with unwrap_model_for_generation(model, trainer.accelerator) as unwrapped:
            yield unwrapped
    finally:
        model.train(was_training)


class ScheduledEvalCallback(TrainerCallback):
    """Evaluates at the start of training (epoch 0), after scheduled epochs and at the end; logs `<prefix>_*` metrics.

    Subclasses compute the metrics in `measure` (``-> (records, metrics)``, the same on every process) and render
    `summary`. Metrics are logged with `trainer.log`, kept in `history` and appended to `<prefix>_metrics.jsonl`; the
    records go to `<output_dir>/<prefix>_generations/epoch_<k>.jsonl`. A run resumed from a checkpoint restores
    `history` (and rewrites `<prefix>_metrics.jsonl`, deleting the records of the rows it drops) from the checkpoint's
    logs. It does not evaluate epoch 0 again, but it does evaluate the epoch that ends at the checkpoint when the
    checkpoint was saved on that epoch's last step, before the epoch was evaluated.

    When the Trainer evaluates at the step of such an evaluation, the metrics are added to its metrics as
    `eval_<prefix>_*`, so that `metric_for_best_model` can name them; they are never carried over to later
    evaluations. Such a `metric_for_best_model` therefore needs `eval_strategy="epoch"` and an evaluation after every
    epoch: other schedules are refused when training begins, and so is a metric name the callback does not produce
    (when `metric_names` knows them). Add the callback with `add_to_trainer` so that callbacks reading these metrics
    in `on_evaluate` (e.g. `EarlyStoppingCallback`) run after it.

    With `load_best_model_at_end`, the Trainer replaces the final weights with the best checkpoint's before
    `on_train_end`: the callback then records that checkpoint and its row (evaluating it if it has none) in
    `best_loaded`, and `weights_note` says so.

    Args:
        trainer: the trainer whose model is evaluated.
        eval_every: evaluate every N epochs (the final model is always evaluated at the end).
        eval_epochs: evaluate exactly after these epochs instead (0 = before training).
    """

    # set by every subclass: the metrics' prefix (`qa`, `bench`) and the recipe keys of its schedule, for messages
    prefix: str
    schedule_keys: tuple[str, str]
    title = "Evaluation"
    nothing_logged = "No evaluation was logged."  # the card's evaluation section before any row

    def __init__(self, trainer: Trainer, eval_every: int = 1, eval_epochs: Sequence[int] | None = None):
        if not hasattr(self, "prefix") or not hasattr(self, "schedule_keys"):
            raise TypeError(f"{type(self).__name__} must set `prefix` and `schedule_keys` (see `QAEvalCallback`).")
        if eval_every < 1:
            raise ValueError(f"`eval_every` must be a positive number of epochs, got {eval_every}.")
        self.trainer = trainer
        self.eval_every = eval_every
        self.eval_epochs = None if eval_epochs is None else set(eval_epochs)
        self.history: list[dict] = []
        self.latest: dict[str, float] = {}
        self.latest_step: int | None = None  # global step of `latest`; None for rows restored from a checkpoint
        self.best_loaded: dict | None = None
        self.selection = None  # a `best_epoch.BestEpochCallback` reporting the best epoch, if any

    @property
    def summary_file(self) -> str:
        """Where the scripts save `report()` in `output_dir`."""
        return f"{self.prefix}_summary.md"

    def measure(self) -> tuple[list[dict], dict[str, float]]:
        """Per-item records and `<prefix>_*` metrics of the current model, on every process."""
        raise NotImplementedError

    def summary(self) -> str:
        """Markdown table of `history`, one row per evaluated epoch."""
        raise NotImplementedError

    def metric_names(self) -> set[str] | None:
        """The `<prefix>_*` metrics `measure` logs, None when unknown before the first evaluation."""
        return None

    def add_to_trainer(self) -> None:
        """Add the callback to its trainer ahead of the others (also those passed when the trainer was built), after
        the scheduled evaluations already added, so that callbacks reading `eval_<prefix>_*` in `on_evaluate` (e.g.
        `EarlyStoppingCallback`) see this evaluation's."""
        callbacks = self.trainer.callback_handler.callbacks
        position = next((i for i, cb in enumerate(callbacks) if not isinstance(cb, ScheduledEvalCallback)), None)
        callbacks.insert(len(callbacks) if position is None else position, self)

    def _due(self, epoch: int) -> bool:
        if self.eval_epochs is not None:
            return epoch in self.eval_epochs
        return epoch % self.eval_every == 0

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
        """`summary` and, if any, `weights_note` (printed and saved as `<prefix>_summary.md`)."""
        note = self.weights_note()
        return self.summary() if note is None else f"{self.summary()}\n\n{note}"

    def card_description(self) -> str:
        """How the rows of `summary` were measured, for the card (after `title`)."""
        return f"measured by `{type(self).__name__}` before training (epoch 0) and after the evaluated epochs"

    def card_evaluation(self) -> str:
        """The model card's evaluation section: the title, how it was measured, which row the weights are and the
        table (`summary`)."""
        if not self.history:
            return self.nothing_logged
        note = self.weights_note() or "The last row is the final model."
        return f"{self.title}, {self.card_description()}. {note}\n\n{self.summary()}"

    def evaluate(self, epoch: int) -> dict[str, float]:
        """Measure; log, record and return the metrics."""
        records, metrics = self.measure()
        self.latest, self.latest_step = metrics, self.trainer.state.global_step
        self.history.append({"epoch": epoch, **metrics})
        trainer = self.trainer
        Trainer.log(trainer, {**metrics, f"{self.prefix}_epoch": epoch})
        if trainer.is_world_process_zero():
            folder = os.path.join(trainer.args.output_dir, f"{self.prefix}_generations")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"epoch_{epoch}.jsonl"), "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)
            with open(os.path.join(trainer.args.output_dir, f"{self.prefix}_metrics.jsonl"), "a") as f:
                f.write(json.dumps(self.history[-1]) + "\n")
        return metrics

    def _check_best_metric(self, args, state) -> None:
        """A `metric_for_best_model` of this callback is only compared when it evaluated at that very evaluation, and
        must be one of its metrics."""
        metric = args.metric_for_best_model
        if not names_metric(metric, self.prefix):
            return
        known = self.metric_names()
        if known is not None and metric.removeprefix("eval_") not in known:
            raise ValueError(
                f"`metric_for_best_model={metric}` is not a metric of `{type(self).__name__}`, which logs "
                f"{', '.join(f'eval_{name}' for name in sorted(known))}."
            )
        # Every epoch is evaluated with `eval_every == 1` and no list; otherwise the first epoch not evaluated comes
        # early, so the scan stops soon also when `num_train_epochs` is huge (an iterable dataset with `max_steps`)
        every_epoch = self.eval_epochs is None and self.eval_every == 1
        epochs = range(1, state.num_train_epochs + 1)
        missing = None if every_epoch else next((epoch for epoch in epochs if not self._due(epoch)), None)
        strategy = getattr(args.eval_strategy, "value", args.eval_strategy)
        if strategy != "epoch" or missing is not None:
            every, listed = self.schedule_keys
            raise ValueError(
                f"`metric_for_best_model={metric}` is a `{self.prefix}_*` metric, computed only at the end of the "
                f"epochs `{type(self).__name__}` evaluates, so the Trainer must evaluate after every epoch and the "
                f"callback must evaluate then: got `eval_strategy={strategy}` and no evaluation after epoch "
                f"{missing if missing is not None else '(none missing)'}. Set `eval_strategy: epoch` and "
                f"`{every}: 1` without `{listed}`, or pick a `metric_for_best_model` that is not a `{self.prefix}_*` "
                "metric (e.g. `eval_loss`)."
            )

    def _clean_generations(self, output_dir: str) -> None:
        """Delete the record files of rows not in `history` (a fresh start, or logged after the checkpoint)."""
        folder = os.path.join(output_dir, f"{self.prefix}_generations")
        kept = {f"epoch_{row['epoch']}.jsonl" for row in self.history}
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            if name.startswith("epoch_") and name.endswith(".jsonl") and name not in kept:
                os.remove(os.path.join(folder, name))

    def on_train_begin(self, args, state, control, **kwargs):
        check_qa_schedule(self.eval_epochs, state.num_train_epochs)
        self._check_best_metric(args, state)
        # The state's logs hold the rows of this run: none on a fresh start, those up to the checkpoint on resume
        self.history = logged_history(state.log_history, self.prefix)
        self.latest = {k: v for k, v in self.history[-1].items() if k != "epoch"} if self.history else {}
        self.latest_step = None
        self.best_loaded = None
        if self.trainer.is_world_process_zero():
            os.makedirs(args.output_dir, exist_ok=True)
            with open(os.path.join(args.output_dir, f"{self.prefix}_metrics.jsonl"), "w") as f:
                f.writelines(json.dumps(row) + "\n" for row in self.history)
            self._clean_generations(args.output_dir)
        # Epoch 0 of a fresh run, or the epoch ending at a checkpoint saved on its last step, before `on_epoch_end`
        if float(state.epoch).is_integer():
            self._evaluate_if_due(int(state.epoch))

    def on_epoch_end(self, args, state, control, **kwargs):
        epoch = epoch_label(state.epoch)
        if isinstance(epoch, int):  # not an epoch cut short by `max_steps`: `on_train_end` evaluates that one
            self._evaluate_if_due(epoch)

    def _evaluate_if_due(self, epoch: int) -> None:
        """Evaluate after `epoch` if it is scheduled and not evaluated yet (a resumed run may have evaluated it)."""
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
        row = next((log for log in logs if f"{self.prefix}_epoch" in log), None)
        if row is None:  # not evaluated by this callback (e.g. best by `eval_loss`, mid-epoch): evaluate it now
            epoch = epoch_label(next(log["epoch"] for log in logs if "epoch" in log))
            self.evaluate(epoch)
        else:
            epoch = row[f"{self.prefix}_epoch"]
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
