"""QA evaluation during training: forward and backward questions, answered greedily and scored by ROUGE-1 recall."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

from accelerate.utils import gather_object
from transformers import Trainer, TrainerCallback
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from trl.models.utils import unwrap_model_for_generation

from .data.schema import QAItem
from .generation import chat_prompts, greedy_generate
from .metrics import aggregate_scores, contains_answer, rouge1_recall
from .reporting import history_table

# (model, tokenizer, rendered prompts, synced_gpus) -> answers
AnswerFn = Callable[..., list[str]]


def qa_history(log_history: Sequence[dict]) -> list[dict]:
    """The rows `QAEvalCallback` logged (``{"epoch", "qa_*": ...}``), in order, from a trainer's `log_history`."""
    return [
        {"epoch": log["qa_epoch"], **{k: v for k, v in log.items() if k.startswith("qa_") and k != "qa_epoch"}}
        for log in log_history
        if "qa_epoch" in log
    ]


def drop_padding(per_rank: Sequence[Sequence], num_items: int) -> list:
    """Concatenate the outputs of each rank on its share of `num_items` inputs split by
    `split_between_processes(..., apply_padding=True)`, without the padding repeated at the end of the shorter shares.
    """
    base, extra = divmod(num_items, len(per_rank))
    return [output for rank, outputs in enumerate(per_rank) for output in outputs[: base + (rank < extra)]]


def score_answers(items: Sequence[QAItem], predictions: Sequence[str]) -> list[dict]:
    """One record per item: question, references, prediction and both scores."""
    return [
        {
            "question": item.question,
            "answers": list(item.answers),
            "direction": item.direction,
            "group": item.group,
            "prediction": prediction,
            "rouge1": rouge1_recall(prediction, item.answers),
            "contains": contains_answer(prediction, item.answers),
        }
        for item, prediction in zip(items, predictions, strict=True)
    ]


class QAEvalCallback(TrainerCallback):
    """Asks the QA items at the start of training (epoch 0) and after scheduled epochs; logs `qa_*` metrics.

    Questions are split across processes and gathered in order. Metrics are logged with `trainer.log`, kept in
    `history`, appended to `qa_metrics.jsonl` and, when the trainer evaluates, added to its metrics as `eval_qa_*`
    so that `metric_for_best_model` can name them (e.g. `eval_qa_backward_rouge1`). Generations go to
    `<output_dir>/qa_generations/epoch_<k>.jsonl`. A run resumed from a checkpoint restores `history` (and rewrites
    `qa_metrics.jsonl`) from the checkpoint's logs and does not ask epoch 0 again.

    Args:
        trainer: the trainer whose model is evaluated.
        items: the QA items.
        max_new_tokens: generation budget (the paper: 128).
        batch_size: questions per generate call.
        eval_every: evaluate every N epochs (the final model is always evaluated at the end).
        eval_epochs: evaluate exactly after these epochs instead (0 = before training).
        system_prompt: system message of the questions; None keeps the template default.
        answer_fn: replaces greedy autoregressive generation, e.g. a diffusion sampler; called as
            `answer_fn(model, tokenizer, prompts, synced_gpus=...)`.

    Subclasses score other tasks by overriding `score`, `summary` and `title` (see `trl_maskft.gsm8k`).
    """

    title = "QA accuracy (ROUGE-1 recall of the reference, exact containment)"

    def __init__(
        self,
        trainer: Trainer,
        items: Sequence[QAItem],
        max_new_tokens: int = 128,
        batch_size: int = 16,
        eval_every: int = 1,
        eval_epochs: Sequence[int] | None = None,
        system_prompt: str | None = None,
        answer_fn: AnswerFn | None = None,
    ):
        if not items:
            raise ValueError("QAEvalCallback needs at least one QA item.")
        if eval_every < 1:
            raise ValueError(f"`eval_every` must be a positive number of epochs, got {eval_every}.")
        self.trainer = trainer
        self.items = list(items)
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.eval_every = eval_every
        self.eval_epochs = None if eval_epochs is None else set(eval_epochs)
        self.system_prompt = system_prompt
        self.answer_fn = answer_fn
        self.history: list[dict] = []
        self.latest: dict[str, float] = {}

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
                if self.answer_fn is None:
                    local = greedy_generate(
                        unwrapped, tokenizer, local_prompts, self.max_new_tokens, self.batch_size, synced
                    )
                else:
                    local = self.answer_fn(unwrapped, tokenizer, local_prompts, synced_gpus=synced)
        finally:
            model.train(was_training)
        return drop_padding(gather_object([local]), len(items)) if accelerator.num_processes > 1 else local

    def score(self, predictions: Sequence[str]) -> tuple[list[dict], dict[str, float]]:
        """Per-item records (saved as generations) and `qa_*` metrics of the answers to `items`."""
        records = score_answers(self.items, predictions)
        return records, aggregate_scores(records)

    def summary(self) -> str:
        """Markdown table of `history`, one row per evaluated epoch (printed and saved as `qa_summary.md`)."""
        return history_table(self.history)

    def evaluate(self, epoch: int) -> dict[str, float]:
        """Answer and score every item; log, record and return the metrics."""
        records, metrics = self.score(self.answer(self.items))
        self.latest = metrics
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

    def on_train_begin(self, args, state, control, **kwargs):
        # The state's logs hold the QA rows of this run: none on a fresh start, those up to the checkpoint on resume
        self.history = qa_history(state.log_history)
        self.latest = {k: v for k, v in self.history[-1].items() if k != "epoch"} if self.history else {}
        if self.trainer.is_world_process_zero():
            os.makedirs(args.output_dir, exist_ok=True)
            with open(os.path.join(args.output_dir, "qa_metrics.jsonl"), "w") as f:
                f.writelines(json.dumps(row) + "\n" for row in self.history)
        if state.global_step == 0 and self._due(0):
            self.evaluate(0)

    def on_epoch_end(self, args, state, control, **kwargs):
        epoch = round(state.epoch)
        if self._due(epoch):
            self.evaluate(epoch)

    def on_train_end(self, args, state, control, **kwargs):
        """The final model is always evaluated, also when training stops between scheduled epochs."""
        epoch = round(state.epoch, 2)
        if not self.history or self.history[-1]["epoch"] != epoch:
            self.evaluate(int(epoch) if epoch == int(epoch) else epoch)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics is not None:
            metrics.update({f"eval_{k}": v for k, v in self.latest.items()})
