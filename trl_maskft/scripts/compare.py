"""Compare training arms (plain SFT, masked SFT, and diffusion / paraphrase SFT when installed) on one dataset, one
model and one budget: forward/backward QA and retention per epoch, wall time, a markdown table, CSV/JSON metrics and a
plot.

```bash
trl-maskft-compare --arms sft masked_sft --output_dir outputs/compare/people --num_train_epochs 40
```

Each arm runs its own script's `main()` with `<recipes_dir>/<arm>/<config_name>` and the extra `--key value`
arguments, each arm receiving only the keys its script accepts (e.g. `--mask_token` goes to masked SFT only); a key
no arm accepts is an error. Arm `<arm>` writes to `<output_dir>/<arm>`. An arm whose `qa_metrics.jsonl` and done
marker exist from a run with the same arguments is not rerun.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import time
from collections.abc import Callable

from tqdm.auto import tqdm

from ..evaluation.reporting import comparison_report, plot_rouge1, write_metrics_csv
from ..pipeline.recipe_parser import unknown_key_hint
from ..runtime.recipe_checks import bullet_list

ARMS = ("sft", "masked_sft", "diffusion_sft", "paraphrase_sft")
DONE_MARKER = "compare_done.json"
METRICS_FILE = "qa_metrics.jsonl"
RETENTION_FILE = "retain_metrics.jsonl"


def available_arms() -> list[str]:
    """The arms of `ARMS` whose script `trl_maskft.scripts.<arm>` exists."""
    return [arm for arm in ARMS if importlib.util.find_spec(f"trl_maskft.scripts.{arm}") is not None]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--arms", nargs="+", default=["sft", "masked_sft"], help=f"Arms to run, among {ARMS}.")
    parser.add_argument("--output_dir", default="outputs/compare", help="Folder of the comparison and its arms.")
    parser.add_argument("--recipes_dir", default="recipes/smollm2-135m-instruct", help="Holds `<arm>/<config>`.")
    parser.add_argument("--config_name", default="config_people.yaml", help="Recipe file name inside each arm.")
    return parser


def split_overrides(extra: list[str]) -> list[tuple[str, list[str]]]:
    """``["--a", "1", "--b=x", "--c"]`` -> ``[("a", ["1"]), ("b", ["x"]), ("c", [])]``."""
    groups: list[tuple[str, list[str]]] = []
    for token in extra:
        if token.startswith("--"):
            key, sep, value = token[2:].partition("=")
            groups.append((key, [value] if sep else []))
        elif groups:
            groups[-1][1].append(token)
        else:
            raise ValueError(f"Unexpected argument {token!r}: overrides are `--key value` pairs.")
    return groups


def accepted_keys(arm: str) -> set[str]:
    """Command-line keys of an arm's script: the fields of its parser's dataclasses, `no_<bool>` and `config`."""
    parser = importlib.import_module(f"trl_maskft.scripts.{arm}").make_parser()
    names = {f.name for dtype in parser.dataclass_types for f in dataclasses.fields(dtype)}
    return names | {f"no_{name}" for name in names} | {"config"}


def arm_argv(overrides: list[tuple[str, list[str]]], keys: set[str], recipe: str, output_dir: str) -> list[str]:
    """The arm's command line: its recipe, the overrides it accepts, then its output folder."""
    argv = ["--config", recipe]
    for key, values in overrides:
        if key in keys:
            argv += [f"--{key}", *values]
    return argv + ["--output_dir", output_dir]


def _jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_history(arm_dir: str) -> list[dict]:
    """The per-epoch QA metrics an arm's `QAEvalCallback` appended to `qa_metrics.jsonl`, each row with the
    `retain_*` metrics its `RetentionCallback` logged at that epoch (`retain_metrics.jsonl`), if any."""
    history = _jsonl(os.path.join(arm_dir, METRICS_FILE))
    retention_file = os.path.join(arm_dir, RETENTION_FILE)
    retained = {row["epoch"]: row for row in _jsonl(retention_file)} if os.path.exists(retention_file) else {}
    return [{**row, **retained.get(row["epoch"], {})} for row in history]


def finished_run(arm_dir: str, argv: list[str], key: Callable[[list[str]], list[str]] = list) -> dict | None:
    """The done marker of an arm finished with the same command line (the same `key` of it), else None."""
    marker = os.path.join(arm_dir, DONE_MARKER)
    if not (os.path.exists(marker) and os.path.exists(os.path.join(arm_dir, METRICS_FILE))):
        return None
    with open(marker) as f:
        done = json.load(f)
    return done if key(done.get("argv", [])) == key(argv) else None


def run_arm(arm: str, argv: list[str], arm_dir: str) -> float:
    """Run one arm from scratch (deleting the files of an earlier run of it: `overwrite_run`), write its done marker
    and return its wall time in seconds."""
    start = time.perf_counter()
    importlib.import_module(f"trl_maskft.scripts.{arm}").main([*argv, "--overwrite_run", "true"])
    wall_time = time.perf_counter() - start
    with open(os.path.join(arm_dir, DONE_MARKER), "w") as f:
        json.dump({"argv": argv, "wall_time_s": wall_time}, f)
    return wall_time


def main(argv: list[str] | None = None) -> dict[str, dict]:
    """Run (or resume) every arm and write `comparison.md`, `metrics.csv`, `metrics.json` and `rouge1.png`."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(
            "trl-maskft-compare runs the arms one after another in one process and cannot be launched on several "
            "processes (each arm's script would end the process group for the next). Run it as a plain command, or "
            "launch each arm's script with `accelerate launch` and its recipe."
        )
    args, extra = make_parser().parse_known_args(argv)
    unknown = sorted(set(args.arms) - set(available_arms()))
    if unknown:
        raise ValueError(f"Unknown or unavailable arms {unknown}; available: {available_arms()}.")
    overrides = split_overrides(extra)
    keys = {arm: accepted_keys(arm) for arm in args.arms}
    known = set().union(*keys.values())
    unused = [(key, values) for key, values in overrides if key not in known]
    if unused:
        hints = [unknown_key_hint(key, known, " ".join(["--{key}", *values])) for key, values in unused]
        raise ValueError(f"No arm among {args.arms} accepts:{bullet_list(hints)}")

    results: dict[str, dict] = {}
    progress = tqdm(args.arms, desc="arms", unit="arm")
    for arm in progress:
        arm_dir = os.path.join(args.output_dir, arm)
        recipe = os.path.join(args.recipes_dir, arm, args.config_name)
        command = arm_argv(overrides, keys[arm], recipe, arm_dir)
        done = finished_run(arm_dir, command)
        progress.set_postfix(arm=arm, status="done before" if done else "running")
        wall_time = done["wall_time_s"] if done else run_arm(arm, command, arm_dir)
        results[arm] = {"argv": command, "wall_time_s": wall_time, "history": read_history(arm_dir)}

    os.makedirs(args.output_dir, exist_ok=True)
    histories = {arm: result["history"] for arm, result in results.items()}
    wall_times = {arm: result["wall_time_s"] for arm, result in results.items()}
    with open(os.path.join(args.output_dir, "comparison.md"), "w") as f:
        f.write(comparison_report(histories, wall_times))
    with open(os.path.join(args.output_dir, "metrics.json"), "w") as f:
        json.dump(results, f, indent=2)
    write_metrics_csv(os.path.join(args.output_dir, "metrics.csv"), histories)
    plot_rouge1(os.path.join(args.output_dir, "rouge1.png"), histories)
    print(comparison_report(histories, wall_times))
    return results


if __name__ == "__main__":
    main()
