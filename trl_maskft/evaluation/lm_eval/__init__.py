"""Benchmarks with lm-evaluation-harness during and after training: the settings (`BenchmarkConfig`, recipe keys
`bench_*`), the callback (`BenchmarkCallback`), the project's task folder (`trl_maskft/evaluation/lm_eval/tasks`) and
the glue to lm-eval (`harness`, imported only when a benchmark is asked for: it needs the `eval` extra)."""

from .callback import BenchmarkCallback, add_benchmarks, evaluate_command
from .config import TASK_DIR, BenchmarkConfig, project_tasks

__all__ = ["TASK_DIR", "BenchmarkCallback", "BenchmarkConfig", "add_benchmarks", "evaluate_command", "project_tasks"]
