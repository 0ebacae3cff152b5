"""Benchmark tasks trained as prompt/completion SFT and scored by answer accuracy (GSM8K, MATH): what a task is
(`AnswerTask`), the tasks by name (`TASKS`) and the callback that scores them during training (`tasks.callback`)."""

from .base import AnswerTask
from .gsm8k import GSM8K
from .math import MATH

TASKS: dict[str, AnswerTask] = {task.name: task for task in (GSM8K, MATH)}


def get_task(name: str) -> AnswerTask:
    """The task called `name`, its optional dependencies checked; a clear error naming the known tasks otherwise."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; known tasks: {', '.join(TASKS)}.")
    TASKS[name].check_installed()
    return TASKS[name]


__all__ = ["GSM8K", "MATH", "TASKS", "AnswerTask", "get_task"]
