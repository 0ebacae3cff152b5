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

# (model, tokenizer, rendered prompts, synced_gpus) -> answers
AnswerFn = Callable[..., list[str]]


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
    `<output_dir>/qa_generations/epoch_<k>.jsonl`.

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
    """

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
        gathered = gather_object(local) if accelerator.num_processes > 1 else local
        return gathered[: len(items)]

    def evaluate(self, epoch: int) -> dict[str, float]:
        """Answer and score every item; log, record and return the metrics."""
        records = score_answers(self.items, self.answer(self.items))
        metrics = aggregate_scores(records)
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
