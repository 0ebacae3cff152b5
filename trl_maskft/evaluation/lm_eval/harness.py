"""lm-evaluation-harness on a model in memory: the tasks of a `BenchmarkConfig`, loaded and checked once, scored with
`lm_eval.simple_evaluate` as `bench_<task>_<metric>[_<filter>]` metrics and per-sample records.

Import it through `trl_maskft.evaluation.extras.require_eval("trl_maskft.evaluation.lm_eval.harness")` (it needs the
`eval` extra). On several processes the questions are shared out: each process answers every N-th question (lm-eval's
own data parallelism, through the trainer's accelerator), lm-eval pads the shorter shares so that every process runs
the same number of batches, and the metrics, computed on the main process, are broadcast to all. With sharded
parameters (FSDP, ZeRO-3) every process takes part in every forward pass: generation runs with `synced_gpus` and
log-likelihood requests are batched without lm-eval's context grouping, so the batches line up across processes.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.metadata
import json
import logging
import random
import re
from collections.abc import Iterator

import numpy as np
import torch
from accelerate.utils import broadcast_object_list
from lm_eval import evaluator
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager

from .config import TASK_DIR, BenchmarkConfig, project_tasks
from .task_functions import local_data_key

LM_EVAL_VERSION = importlib.metadata.version("lm-eval")


def metric_key(task: str, metric: str, filter_name: str = "none") -> str:
    """The logged name of `metric` of `task` under `filter_name`: `bench_<task>_<metric>[_<filter>]`."""
    name = f"bench_{task}_{metric}" + ("" if filter_name == "none" else f"_{filter_name}")
    return re.sub(r"\W", "_", name)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore the Python, NumPy and torch random states afterwards: lm-eval seeds them on every call, which must not
    change the training's randomness."""
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@functools.lru_cache(maxsize=4)
def task_manager(include_defaults: bool, local_data: tuple[tuple[str, str], ...] = ()) -> TaskManager:
    """lm-eval's task index of the project's task folder (and of lm-eval's own tasks with `include_defaults`, which
    takes long to build: it is made once per process), passing `local_data` to the project's tasks."""
    metadata = {"local_data": dict(local_data)}
    return TaskManager(include_path=TASK_DIR, include_defaults=include_defaults, metadata=metadata)


class LiveLM(HFLM):
    """lm-eval's HF model on a model in memory (a `PreTrainedModel` or a PEFT model, not reloaded); with an
    `accelerator` of several processes, the questions are shared out across them."""

    def __init__(self, model, tokenizer, batch_size: int, accelerator=None, logits_cache: bool = True):
        quiet = logging.getLogger("lm_eval.models.huggingface")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # its warnings about a model passed as an object, which is what we mean
        try:
            super().__init__(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, logits_cache=logits_cache)
        finally:
            quiet.setLevel(level)
        self._shared = accelerator if accelerator is not None and accelerator.num_processes > 1 else None
        if self._shared is not None:
            self.accelerator = self._shared  # lm-eval's gathers and barriers

    @property
    def rank(self) -> int:
        return self._shared.process_index if self._shared else 0

    @property
    def world_size(self) -> int:
        return self._shared.num_processes if self._shared else 1


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def sample_record(task: str, sample: dict, repeats: int = 1) -> dict:
    """One per-sample record of `simple_evaluate`'s `samples`: the prompt, target, responses and metric values.

    The responses are cut to the task's `repeats` per request: on several processes lm-eval pads a short share by
    running its last request again and appends those responses to that request's own."""
    return _json_safe(
        {
            "task": task,
            "doc_id": sample["doc_id"],
            "filter": sample["filter"],
            "prompt": sample["arguments"][0][0],
            "target": sample["target"],
            "responses": [responses[:repeats] for responses in sample["resps"]],
            "filtered_responses": sample["filtered_resps"],
            **{metric: sample[metric] for metric in sample["metrics"]},
        }
    )


class Benchmarks:
    """The tasks of `config`, loaded (data included) and checked once: unknown names (with close matches), data
    that cannot be loaded (naming the key for local files), few-shot counts larger than a task's examples."""

    def __init__(self, config: BenchmarkConfig):
        if not config.enabled:
            raise ValueError("No benchmark to score: set `bench_tasks`.")
        self.config = config
        project = project_tasks()
        include_defaults = not set(config.bench_tasks) <= set(project)
        self.task_manager = task_manager(include_defaults, tuple(sorted(config.local_data().items())))
        known = self.task_manager.all_tasks
        for name in config.bench_tasks:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise ValueError(
                    f"Unknown lm-eval task {name!r} in `bench_tasks`.{hint} The project's tasks: {', '.join(project)}."
                )
        self.tasks = {}
        for name in config.bench_tasks:
            self.tasks.update(self._load(name, project))
        for name, task in self.tasks.items():
            self._check_fewshot(name, task)

    def _load(self, name: str, project: list[str]) -> dict:
        try:
            return self.task_manager.load([name])["tasks"]
        except Exception as err:
            if name in project:  # the project's loaders name the key for local files themselves
                raise
            raise ValueError(
                f"lm-eval task {name!r} could not load its data ({type(err).__name__}: {err}). Offline, score the "
                f"project's tasks, which read local files: {', '.join(project)}, e.g. {local_data_key(project[0])}."
            ) from err

    def _check_fewshot(self, name: str, task) -> None:
        shots = 0 if task.get_config("num_fewshot") == 0 else self.config.bench_num_fewshot  # 0 fixed: lm-eval's rule
        if not shots:
            return
        docs = task.fewshot_docs()
        available = 0 if docs is None else len(docs)
        config = task.config
        if (config.fewshot_split or config.training_split) == (config.test_split or config.validation_split):
            available -= 1  # the examples come from the questions' own split, without the question asked
        if shots > available:
            raise ValueError(
                f"`bench_num_fewshot: {shots}` asks for more few-shot examples than task {name!r} has "
                f"({max(available, 0)}); lower it, or give the task a few-shot split (for the project's tasks, a "
                "train.jsonl beside the local test file)."
            )

    def metric_names(self) -> set[str]:
        """The `bench_*` metrics `evaluate` logs."""
        names = set()
        for name, task in self.tasks.items():
            filters = [f["name"] for f in task.config.filter_list or []] or ["none"]
            names |= {metric_key(name, metric, f) for metric in task.aggregation() for f in filters}
        return names

    def evaluate(self, model, tokenizer, accelerator=None, sharded: bool = False) -> tuple[dict[str, float], list]:
        """`bench_*` metrics of `model` (on every process) and its per-sample records (on the main process; none on
        the others), the questions shared out over `accelerator`'s processes; `sharded`: FSDP/ZeRO-3 parameters."""
        metrics, records = {}, []
        kwargs = self.config.evaluate_kwargs()
        kwargs["gen_kwargs"]["synced_gpus"] = sharded  # always set: lm-eval keeps it in the (reused) task's config
        with preserved_rng():
            lm = LiveLM(model, tokenizer, self.config.bench_batch_size, accelerator, logits_cache=not sharded)
            for name, task in self.tasks.items():
                out = evaluator.simple_evaluate(
                    model=lm, tasks=[task], task_manager=self.task_manager, bootstrap_iters=0, **kwargs
                )
                if out is None:  # not the main process
                    continue
                for key, value in out["results"][name].items():
                    metric, _, filter_name = key.partition(",")
                    if filter_name and not metric.endswith("_stderr"):
                        metrics[metric_key(name, metric, filter_name)] = float(value)
                repeats = task.config.repeats or 1
                records += [sample_record(name, sample, repeats) for sample in out["samples"][name]]
        if lm.world_size > 1:
            metrics = broadcast_object_list([metrics])[0]
        return metrics, records
