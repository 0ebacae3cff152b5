"""The benchmark settings (`bench_*` recipe keys): strict checks without lm-eval, the task folder, the `eval` extra."""

import configparser
import os
import sys
from types import SimpleNamespace

import pytest
import yaml

from trl_maskft.evaluation.extras import require_eval
from trl_maskft.evaluation.lm_eval import TASK_DIR, BenchmarkConfig, add_benchmarks, evaluate_command, project_tasks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MATH_SAMPLE = os.path.join(ROOT, "examples", "data", "math")


def test_the_task_folder_holds_one_task_per_file_named_after_it():
    assert project_tasks() == ["maskft_gpqa_diamond", "maskft_gsm8k", "maskft_math"]
    for name in project_tasks():
        with open(os.path.join(TASK_DIR, f"{name}.yaml")) as f:
            text = f.read()
        assert f"\ntask: {name}\n" in text and f"  task: {name}\n" in text  # the task and its local-data key


@pytest.mark.parametrize(
    "keys,error,match",
    [
        ({"bench_data": ["maskft_math"]}, ValueError, "entries are 'task=path'"),
        ({"bench_data": [f"maskft_gsm8k={MATH_SAMPLE}"]}, ValueError, "'maskft_gsm8k', which is not in `bench_tasks`"),
        ({"bench_tasks": ["gsm8k"], "bench_data": ["gsm8k=x"]}, ValueError, "reads its data from the Hub only"),
        ({"bench_data": ["maskft_math=/no/such/folder"]}, FileNotFoundError, "/no/such/folder does not exist"),
        ({"bench_num_fewshot": -1}, ValueError, "`bench_num_fewshot` must be 0 or more"),
        ({"bench_limit": 0}, ValueError, "`bench_limit` must be a positive number"),
        ({"bench_tasks": ["maskft_math", "maskft_math"]}, ValueError, "names a task twice"),
    ],
)
def test_bad_settings_are_refused(keys, error, match):
    with pytest.raises(error, match=match):
        BenchmarkConfig(**{"bench_tasks": ["maskft_math"], **keys})


def test_settings_travel_as_one_object():
    config = BenchmarkConfig(
        bench_tasks=["maskft_math"], bench_data=[f"maskft_math={MATH_SAMPLE}"], bench_limit=4, bench_num_fewshot=2
    )
    assert config.enabled and not BenchmarkConfig().enabled
    assert config.local_data() == {"maskft_math": MATH_SAMPLE}
    assert config.evaluate_kwargs() == {
        "num_fewshot": 2,
        "limit": 4,
        "apply_chat_template": True,
        "system_instruction": None,
        "gen_kwargs": {"max_gen_toks": 256},
    }
    described = "2-shot, in the chat template, greedy, at most 256 new tokens, first 4 questions per task"
    assert config.describe() == described
    assert evaluate_command("me/model", config) == (
        "python -m trl_maskft.scripts.evaluate --model_name_or_path me/model --bench_tasks maskft_math "
        f"--bench_num_fewshot 2 --bench_limit 4 --bench_data maskft_math={MATH_SAMPLE}"
    )


def test_a_missing_eval_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "trl_maskft.evaluation.lm_eval.harness", raising=False)
    with pytest.raises(ImportError, match=r"lm-eval is not installed.*pip install 'trl-maskft\[eval\]'"):
        require_eval("trl_maskft.evaluation.lm_eval.harness")
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):  # not an eval module: not disguised
        require_eval("no_such_module")


def test_the_eval_extra_is_pinned_and_in_dev():
    setup = configparser.ConfigParser()
    setup.read(os.path.join(ROOT, "setup.cfg"))
    extras = setup["options.extras_require"]
    pins = [line for line in extras["eval"].split("\n") if line]
    assert pins == ["lm-eval==0.4.13", "math-verify==0.9.0"]
    assert set(pins) <= set(extras["dev"].split("\n"))  # CI (`.[dev]`) runs the benchmark tests
    assert "tasks/*.yaml" in setup["options.package_data"]["trl_maskft.evaluation.lm_eval"]
    with open(os.path.join(TASK_DIR, "maskft_gsm8k.yaml")) as f:
        yaml.safe_load(f.read().replace("!function ", ""))  # valid YAML


def test_a_benchmark_metric_for_best_model_needs_benchmarks():
    trainer = SimpleNamespace(args=SimpleNamespace(metric_for_best_model="eval_bench_maskft_math_math_verify"))
    with pytest.raises(ValueError, match="is a benchmark metric, but `bench_tasks` names no benchmark"):
        add_benchmarks(trainer, BenchmarkConfig())
    trainer.args.metric_for_best_model = "eval_loss"
    assert add_benchmarks(trainer, None) is None
