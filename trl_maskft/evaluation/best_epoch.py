"""The best evaluated QA epoch of a run, reported and (with `keep_weights`) kept as the saved model.

`BestEpochCallback` watches a `QAEvalCallback`. After every QA evaluation that improves the selection metric
(`trl_maskft.evaluation.selection`), it asks the Trainer to save a checkpoint there, and only there, and marks it as
the best (`state.best_model_checkpoint`), so that `save_total_limit` never deletes it; at the end of training it loads
that checkpoint with the Trainer's own loader of best checkpoints (DDP, FSDP, DeepSpeed and PEFT alike), so the model
the run saves and pushes is the best epoch's. A new best at the last step is not saved: the final weights are that
epoch's. The checkpoints are full ones, so a run can also be resumed from them (the best is restored with the Trainer
state).
"""

from __future__ import annotations

import os

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .qa_callback import QAEvalCallback
from .scheduled import epoch_label
from .selection import best_epoch, describe_best, resolve_metric, with_means


class BestEpochCallback(TrainerCallback):
    """Reports the best evaluated epoch of `qa` by `metric` and, with `keep_weights`, makes it the saved model.

    Add it after `qa` (`trainer.add_callback`): its `on_epoch_end` and `on_train_end` read the rows `qa` has just
    added. It sets `qa.selection`, so that `qa.weights_note()` (in `qa_summary.md` and the model card) says which
    epoch was best, with its scores, and which weights were saved.

    Args:
        qa: the QA callback whose `history` is selected from.
        metric: a metric of `qa`'s items or a `qa_mean_<m>` of both directions; by default `qa_mean_rouge1` (the
            paper's selection) where the items produce it.
        keep_weights: keep the best epoch's weights (see the module's doc).
    """

    def __init__(self, qa: QAEvalCallback, metric: str | None = None, keep_weights: bool = False):
        self.metric = resolve_metric(metric, qa.metric_names())
        trainer, args = qa.trainer, qa.trainer.args
        if keep_weights and self.metric is None:
            raise ValueError(
                "`qa_keep_best` needs a `qa_best_metric`: these QA items have no forward and backward scores to take "
                "the default `qa_mean_rouge1` from."
            )
        if keep_weights and args.load_best_model_at_end:
            raise ValueError(
                "`qa_keep_best` and `load_best_model_at_end` both choose the saved model: keep one (`qa_keep_best` "
                "selects among the QA epochs by `qa_best_metric`, `load_best_model_at_end` among the Trainer's "
                "evaluations by `metric_for_best_model`)."
            )
        if keep_weights and args.save_only_model and (trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled):
            raise ValueError(
                "`qa_keep_best` loads the best checkpoint at the end, which under DeepSpeed or FSDP needs full "
                "checkpoints: unset `save_only_model`."
            )
        self.qa, self.keep_weights = qa, keep_weights
        self.best: dict | None = None
        self.loaded: str | None = None  # the checkpoint loaded at the end
        self.missing: str | None = None  # the best checkpoint, when it could not be loaded
        if self.metric is not None:
            qa.selection = self

    def on_epoch_end(self, args, state, control, **kwargs):
        history = self.qa.history
        asked_now = history and self.qa.latest_step == state.global_step
        if not (self.keep_weights and asked_now and best_epoch(history, self.metric) is history[-1]):
            return
        if state.global_step >= state.max_steps:  # the final weights are this epoch's: nothing to save
            return
        control.should_save = True
        state.best_metric = with_means(history[-1])[self.metric]
        state.best_global_step = state.global_step
        state.best_model_checkpoint = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")

    def on_train_end(self, args, state, control, **kwargs):
        history = self.qa.history
        self.best = best_epoch(history, self.metric)
        final = self.best is history[-1] and self.best["epoch"] == epoch_label(state.epoch)
        if not self.keep_weights or self.best is None or final:
            return
        checkpoint = state.best_model_checkpoint
        value = with_means(self.best)[self.metric]
        if checkpoint is None or not os.path.isdir(checkpoint) or state.best_metric != value:
            self.missing = checkpoint or f"{PREFIX_CHECKPOINT_DIR}-?"
            return
        self.qa.trainer._load_best_model()  # the Trainer's loader of `state.best_model_checkpoint`
        self.loaded = os.path.basename(checkpoint)

    def note(self) -> str | None:
        """The best epoch with its scores and which weights the saved model is; None before the end of training."""
        if self.best is None:
            return None
        best = describe_best(self.best, self.metric)
        if self.qa.best_loaded is not None:  # `load_best_model_at_end`: `qa.weights_note` says which weights
            return best
        if self.loaded:
            return (
                f"{best} The saved model is that epoch's weights: `{self.loaded}`, saved when the epoch was evaluated "
                "(`qa_keep_best`) and loaded at the end of training; the rows after it are not the saved model."
            )
        if self.missing:
            return (
                f"{best} Its checkpoint `{os.path.basename(self.missing)}` was not found at the end of training, so "
                "the saved model is the final model (the last row), not that epoch's weights."
            )
        if self.keep_weights or self.best is self.qa.history[-1]:
            return f"{best} The last row is the final model. The saved model is that epoch's weights."
        return f"{best} The last row is the final model. Set `qa_keep_best: true` to save the best epoch's instead."
