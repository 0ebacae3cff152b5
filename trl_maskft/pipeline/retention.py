"""Retention beside the QA evaluation of a run (`trl_maskft.evaluation.retention`): its inputs read and checked
before the model is loaded, its callback added with the QA callback, on its schedule."""

from __future__ import annotations

from collections.abc import Callable

from transformers import Trainer

from ..evaluation.answering import Answerer
from ..evaluation.retention import RetentionCallback, RetentionConfig

# Adds the run's retention callback to its trainer, its table saved in the given summary file, and returns it
Retention = Callable[[Trainer, str], RetentionCallback]


def retention_evaluation(
    config: RetentionConfig | None, answerer: Answerer, schedule: dict, system_prompt: str | None = None
) -> Retention | None:
    """The retention callback of a run answering as `answerer` on the QA `schedule` (or every `retain_eval_every`
    epochs); None when `retain_eval` is off
    (or there is no `config`). The known facts, the instructions and the `retain_data` sample are read now, so that
    a bad file or column is refused before the model is loaded."""
    if config is None or not config.retain_eval:
        return None
    if config.retain_data is not None and not answerer.autoregressive:
        raise ValueError(
            "`retain_data` is scored by a left-to-right per-token NLL, which means nothing for a masked-diffusion "
            "model: remove `retain_data` (the known facts are still measured)."
        )
    facts, instructions, texts = config.known_facts(), config.instructions(), config.texts()
    if config.retain_eval_every is not None:
        schedule = {"eval_every": config.retain_eval_every, "eval_epochs": None}

    def retention(trainer: Trainer, beside: str) -> RetentionCallback:
        callback = RetentionCallback(
            trainer, config, answerer, facts, instructions, texts, system_prompt=system_prompt, beside=beside,
            **schedule,
        )  # fmt: skip
        callback.add_to_trainer()
        return callback

    return retention


def added_retention(trainer: Trainer) -> list[RetentionCallback]:
    """The retention callbacks of `trainer` (at most one), for the run's reports."""
    return [callback for callback in trainer.callback_handler.callbacks if isinstance(callback, RetentionCallback)]
