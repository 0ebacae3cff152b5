"""The benchmark settings of a run (recipe keys `bench_*`): which lm-evaluation-harness tasks are scored, how, when,
and from which local files. One object carries them from the recipe to the callback, the model card and the
evaluation command (`trl_maskft.scripts.evaluate`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ...runtime.recipe_checks import require_positive

TASK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks")


def project_tasks() -> list[str]:
    """The tasks of the project's task folder (`trl_maskft/evaluation/lm_eval/tasks`, one `<task>.yaml` each): the
    tasks that read local files through `bench_data`."""
    return sorted(name.removesuffix(".yaml") for name in os.listdir(TASK_DIR) if name.endswith(".yaml"))


@dataclass
class BenchmarkConfig:
    """Benchmarks scored with lm-evaluation-harness on the model being trained (`BenchmarkCallback`) and on a saved
    model (`trl_maskft.scripts.evaluate`), with the same settings. Needs the `eval` extra."""

    bench_tasks: list[str] | None = field(
        default=None,
        metadata={
            "help": "lm-eval tasks to score, e.g. the project's maskft_gsm8k, maskft_math, maskft_gpqa_diamond "
            "(trl_maskft/evaluation/lm_eval/tasks) or any task lm-eval knows; none: no benchmarks."
        },
    )
    bench_num_fewshot: int = field(
        default=0, metadata={"help": "Few-shot examples per question (tasks fixed at 0-shot stay 0-shot)."}
    )
    bench_max_new_tokens: int = field(default=256, metadata={"help": "Tokens generated per answer (the paper: 256)."})
    bench_apply_chat_template: bool = field(
        default=True, metadata={"help": "Ask in the model's chat template (the paper's setting)."}
    )
    bench_system_prompt: str | None = field(default=None, metadata={"help": "System message of the questions."})
    bench_limit: int | None = field(default=None, metadata={"help": "Score only the first N questions of each task."})
    bench_batch_size: int = field(default=16, metadata={"help": "Questions per forward/generate call."})
    bench_data: list[str] | None = field(
        default=None,
        metadata={
            "help": "Local files of the project's tasks, as 'task=path' (a folder of <split>.jsonl/.csv files or one "
            "file for the evaluation split), e.g. 'maskft_gsm8k=../shared/data/gsm8k'; other tasks read the Hub."
        },
    )
    bench_eval_every: int = field(default=1, metadata={"help": "Score every N epochs (and at 0 and the end)."})
    bench_eval_epochs: list[int] | None = field(
        default=None, metadata={"help": "Score after exactly these epochs instead (0 = before training)."}
    )

    def __post_init__(self):
        require_positive(self, ("bench_max_new_tokens", "bench_batch_size", "bench_eval_every", "bench_limit"))
        if self.bench_num_fewshot < 0:
            raise ValueError(f"`bench_num_fewshot` must be 0 or more, got {self.bench_num_fewshot}.")
        if self.bench_tasks is not None and len(set(self.bench_tasks)) != len(self.bench_tasks):
            raise ValueError(f"`bench_tasks` names a task twice: {self.bench_tasks}.")
        self.local_data()  # checks `bench_data`

    @property
    def enabled(self) -> bool:
        return bool(self.bench_tasks)

    def local_data(self) -> dict[str, str]:
        """`bench_data` as ``{task: path}``; a clear error on a malformed entry, a task that is not scored or reads
        no local files, or a path that does not exist."""
        data = {}
        for entry in self.bench_data or []:
            task, sep, path = entry.partition("=")
            if not sep or not task or not path:
                raise ValueError(f"`bench_data` entries are 'task=path', got {entry!r}.")
            if task not in (self.bench_tasks or []):
                raise ValueError(f"`bench_data` names {task!r}, which is not in `bench_tasks` {self.bench_tasks}.")
            if task not in project_tasks():
                raise ValueError(
                    f"`bench_data` names {task!r}, which reads its data from the Hub only; the tasks that read local "
                    f"files are {', '.join(project_tasks())}."
                )
            if not os.path.exists(path):
                raise FileNotFoundError(f"`bench_data` of {task!r}: {path} does not exist.")
            data[task] = path
        return data

    def schedule(self) -> dict:
        """The callback's schedule (`eval_every`, `eval_epochs`)."""
        return {"eval_every": self.bench_eval_every, "eval_epochs": self.bench_eval_epochs}

    def evaluate_kwargs(self) -> dict:
        """The settings of `lm_eval.simple_evaluate` (besides the model, the tasks and the task manager)."""
        return {
            "num_fewshot": self.bench_num_fewshot,
            "limit": self.bench_limit,
            "apply_chat_template": self.bench_apply_chat_template,
            "system_instruction": self.bench_system_prompt,
            "gen_kwargs": {"max_gen_toks": self.bench_max_new_tokens},
        }

    def describe(self) -> str:
        """The settings in words, for reports and the model card."""
        chat = "in the chat template" if self.bench_apply_chat_template else "without chat template"
        limit = f", first {self.bench_limit} questions per task" if self.bench_limit else ""
        return f"{self.bench_num_fewshot}-shot, {chat}, greedy, at most {self.bench_max_new_tokens} new tokens{limit}"
