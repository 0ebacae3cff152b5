"""Benchmarks during training: lm-evaluation-harness tasks scored on the model being trained (not reloaded from
disk), on the schedule of the QA callback, as `bench_*` metrics (and `eval_bench_*` for `metric_for_best_model`)."""

from __future__ import annotations

import shlex

from transformers import Trainer

from ..extras import require_eval
from ..reporting import markdown_table, metric_cell
from ..scheduled import ScheduledEvalCallback, evaluation_model, names_metric, params_sharded
from .config import BenchmarkConfig


class BenchmarkCallback(ScheduledEvalCallback):
    """Scores the tasks of `config` before training (epoch 0), after scheduled epochs and at the end; logs
    `bench_<task>_<metric>[_<filter>]` metrics (e.g. `bench_maskft_gsm8k_exact_match_flexible_extract`).

    The tasks and their data are loaded and checked when the callback is made (before training). Every process runs
    lm-eval: the questions are shared out across processes, every process takes part in the forward passes (so
    FSDP/ZeRO-3 work), and the metrics are the same on all (`trl_maskft.evaluation.lm_eval.harness`). A PEFT model is
    scored with its adapter. Per-sample records go to `<output_dir>/bench_generations/epoch_<k>.jsonl`, the rows to
    `bench_metrics.jsonl`; the schedule, resuming and `metric_for_best_model` (e.g.
    `eval_bench_maskft_gsm8k_exact_match_flexible_extract`) are those of `ScheduledEvalCallback`.
    """

    prefix = "bench"
    title = "Benchmarks (lm-evaluation-harness)"
    nothing_logged = "No benchmark was scored."
    schedule_keys = ("bench_eval_every", "bench_eval_epochs")

    def __init__(self, trainer: Trainer, config: BenchmarkConfig):
        super().__init__(trainer, **config.schedule())
        self.config = config
        self.benchmarks = require_eval("trl_maskft.evaluation.lm_eval.harness").Benchmarks(config)

    def metric_names(self) -> set[str]:
        return self.benchmarks.metric_names()

    def measure(self) -> tuple[list[dict], dict[str, float]]:
        trainer = self.trainer
        with evaluation_model(trainer) as model:
            metrics, records = self.benchmarks.evaluate(
                model, trainer.processing_class, trainer.accelerator, sharded=params_sharded(trainer)
            )
        return records, metrics

    def summary(self) -> str:
        keys = sorted({key for row in self.history for key in row if key != "epoch"})
        rows = ([str(row["epoch"]), *(metric_cell(row.get(key)) for key in keys)] for row in self.history)
        return markdown_table(["epoch", *(key.removeprefix("bench_") for key in keys)], rows)

    def card_description(self) -> str:
        from .harness import LM_EVAL_VERSION

        return (
            f"lm-eval {LM_EVAL_VERSION}, scored by `{type(self).__name__}` before training (epoch 0) and after the "
            f"evaluated epochs: tasks {', '.join(self.config.bench_tasks)}; {self.config.describe()}"
        )

    def card_evaluation(self) -> str:
        """The base class's section, and the command that scores a saved model the same way."""
        if not self.history:
            return super().card_evaluation()
        args = self.trainer.args
        command = evaluate_command(args.hub_model_id or args.output_dir, self.config)
        return f"{super().card_evaluation()}\n\nScore the model the same way:\n\n```bash\n{command}\n```"


def evaluate_command(model_id: str, config: BenchmarkConfig) -> str:
    """`python -m trl_maskft.scripts.evaluate` with the settings of `config` that differ from the defaults."""
    defaults = BenchmarkConfig()
    parts = ["python", "-m", "trl_maskft.scripts.evaluate", "--model_name_or_path", model_id]
    for name, value in vars(config).items():
        if value == getattr(defaults, name) or name in ("bench_eval_every", "bench_eval_epochs"):
            continue
        values = value if isinstance(value, list) else [value]
        parts += [f"--{name}", *(str(v) for v in values)]
    return shlex.join(parts)


def add_benchmarks(trainer: Trainer, config: BenchmarkConfig | None) -> BenchmarkCallback | None:
    """Add a `BenchmarkCallback` to `trainer` when `config` names tasks (`add_to_trainer`); a clear error when
    `metric_for_best_model` names a benchmark metric and there is none."""
    if config is not None and config.enabled:
        callback = BenchmarkCallback(trainer, config)
        callback.add_to_trainer()
        return callback
    if names_metric(trainer.args.metric_for_best_model, "bench"):
        raise ValueError(
            f"`metric_for_best_model={trainer.args.metric_for_best_model}` is a benchmark metric, but `bench_tasks` "
            "names no benchmark: set `bench_tasks` (e.g. [maskft_gsm8k]) or pick another metric."
        )
    return None
