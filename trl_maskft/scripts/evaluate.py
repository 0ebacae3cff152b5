"""Score a saved model (a local folder, a PEFT adapter folder or a Hub id) on lm-evaluation-harness benchmarks with
the settings of a training run (recipe keys `bench_*`), as its `BenchmarkCallback` scored it during training.

```bash
# the benchmarks of a recipe, on the model the recipe saved (its `output_dir`)
python -m trl_maskft.scripts.evaluate --recipe recipes/smollm2-135m-instruct/masked_sft/config_math.yaml
# a model from the Hub, the same settings
python -m trl_maskft.scripts.evaluate --recipe recipes/qwen3-4b-instruct-2507/masked_sft/config_math.yaml \
    --model_name_or_path your-name/qwen3-4b-masked-sft-math
# or the settings on the command line (or in a YAML file given with --config)
python -m trl_maskft.scripts.evaluate --model_name_or_path outputs/smollm2-135m-instruct/masked_sft/math \
    --bench_tasks maskft_math --bench_data maskft_math=examples/data/math --bench_limit 8
```

`--recipe` takes a training recipe's `bench_*` keys (and its `output_dir` as the model); its other keys belong to
training and are not read. `--config` and the command line override them. Writes `bench_results.json` (metrics and
settings) and `bench_samples.jsonl` (per-sample records) to `output_dir` and prints the metrics. Under
`accelerate launch` with several processes, the questions are shared out as during training. Needs the `eval`
extra (`pip install 'trl-maskft[eval]'`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

import torch
import yaml
from accelerate import Accelerator, PartialState
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import ModelConfig, TrlParser

from ..evaluation.extras import require_eval
from ..evaluation.lm_eval import BenchmarkConfig
from ..evaluation.reporting import markdown_table, metric_cell
from ..runtime.default_model import resolve_model_path
from ..runtime.model_folder import check_model_folder


@dataclass
class EvaluateArguments:
    """Where the settings come from and where the results go."""

    recipe: str | None = field(
        default=None,
        metadata={"help": "A training recipe: score with its `bench_*` keys, by default the model it saved."},
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Folder of the results (default: outputs/eval/<model name>)."}
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Run the model's own code from the Hub."})


def make_parser() -> TrlParser:
    return TrlParser((EvaluateArguments, BenchmarkConfig, ModelConfig))


def recipe_defaults(recipe: str) -> dict:
    """The `bench_*` keys of a training recipe, and its `output_dir` as `model_name_or_path`."""
    with open(recipe) as f:
        config = yaml.safe_load(f) or {}
    defaults = {key: value for key, value in config.items() if key.startswith("bench_")}
    if not defaults.get("bench_tasks"):
        raise ValueError(f"The recipe {recipe} names no benchmark (`bench_tasks`).")
    if "output_dir" in config:
        defaults["model_name_or_path"] = config["output_dir"]
    return defaults


def load_model(model_args: ModelConfig, device: torch.device, trust_remote_code: bool = False):
    """The model (with its adapter, for a PEFT folder) and tokenizer of `model_args`, on `device`, in eval mode."""
    path = resolve_model_path(model_args.model_name_or_path)
    common = {"revision": model_args.model_revision, "trust_remote_code": trust_remote_code}
    tokenizer = AutoTokenizer.from_pretrained(path, **common)
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=model_args.dtype or "auto", attn_implementation=model_args.attn_implementation, **common
    )
    return model.to(device).eval(), tokenizer


def results_table(metrics: dict[str, float]) -> str:
    return markdown_table(["metric", "value"], ([key, metric_cell(value)] for key, value in sorted(metrics.items())))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = make_parser()
    eval_args, bench, model_args = parser.parse_args_and_config(args=argv)
    if eval_args.recipe is not None:  # its keys under --config and the command line
        parser.set_defaults(**recipe_defaults(eval_args.recipe))
        eval_args, bench, model_args = parser.parse_args_and_config(args=argv)
    if model_args.model_name_or_path is None:
        raise ValueError("Name the model to score: `--model_name_or_path` (or a `--recipe` with an `output_dir`).")
    check_model_folder(model_args.model_name_or_path)
    benchmarks = require_eval("trl_maskft.evaluation.lm_eval.harness").Benchmarks(bench)
    accelerator = Accelerator() if PartialState().num_processes > 1 else None
    device = accelerator.device if accelerator else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_model(model_args, device, eval_args.trust_remote_code)
    with torch.no_grad():
        metrics, records = benchmarks.evaluate(model, tokenizer, accelerator)
    name = os.path.basename(os.path.normpath(model_args.model_name_or_path))
    output_dir = eval_args.output_dir or os.path.join("outputs", "eval", name)
    if PartialState().is_main_process:
        os.makedirs(output_dir, exist_ok=True)
        results = {"model": model_args.model_name_or_path, "metrics": metrics, "settings": dataclasses.asdict(bench)}
        with open(os.path.join(output_dir, "bench_results.json"), "w") as f:
            json.dump(results, f, indent=2)
        with open(os.path.join(output_dir, "bench_samples.jsonl"), "w") as f:
            f.writelines(json.dumps(record) + "\n" for record in records)
        print(f"\n{model_args.model_name_or_path} ({bench.describe()}):\n{results_table(metrics)}\n")
        print(f"Results saved to {output_dir}.")
    return metrics


if __name__ == "__main__":
    main()
