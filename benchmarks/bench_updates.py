"""Sequential updates with edits on the CPU: plain vs masked SFT, with and without replay, over seeds (issue 21).

    python benchmarks/bench_updates.py                          # seeds 42 43 44, sft and masked_sft, replay 0 and 0.5
    python benchmarks/bench_updates.py --seeds 1 2 --output_dir /tmp/upd --set model_name_or_path=<tiny model> \\
        num_train_epochs=2 lr_scheduler_type=constant 'lr_scheduler_kwargs={}' "masked_sft.mask_token='[]'"  # smoke

Each (method, replay ratio, seed) runs `trl-maskft-updates` on `<recipes_dir>/<method>/updates/<config_name>` (3
updates of 10 people, the third editing 5 of them) with `seed`, `update_replay_ratio` and `output_dir` set, plus the
`--set key=value` overrides (YAML values; `masked_sft.key=value` for one method), as a process of its own timed from
start to exit; a sequence finished before is not retrained (the runner skips finished updates). Prints the machine and
precision, then a markdown table of method x replay x seed after the last update: per direction the average accuracy
and the lowest ROUGE-1 on an earlier set, the forward edit efficacy, the share still giving the old answer, the share
of earlier sets' answers nearer a later fact (per direction), the wall time, and whether the issue's goal is met
(backward >= 0.7 on every earlier set, efficacy >= 0.8, old answers <= 0.1, and with `--max_wall_s` the sum of the
updates' wall times at most that); writes it to `<output_dir>/updates_seeds.md` with each arm's seed-mean R as
`<output_dir>/<method>_replay<ratio>.png`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import yaml

from trl_maskft.runtime.precision import machine_header
from trl_maskft.updates.report import plot_matrices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "recipes", "smollm2-135m-instruct")
DIRECTIONS = ("forward", "backward")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--methods", nargs="+", default=["sft", "masked_sft"])
    parser.add_argument("--replay_ratios", nargs="+", type=float, default=[0.0, 0.5])
    parser.add_argument("--recipes_dir", default=RECIPES)
    parser.add_argument(
        "--config_name", default="config_people.yaml", help="Recipe in <recipes_dir>/<method>/updates."
    )
    parser.add_argument("--output_dir", default="outputs/updates_seeds")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Recipe overrides for every run.")
    parser.add_argument("--min_backward", type=float, default=0.7)
    parser.add_argument("--min_efficacy", type=float, default=0.8)
    parser.add_argument("--max_old_answer", type=float, default=0.1)
    parser.add_argument(
        "--max_wall_s",
        type=float,
        default=None,
        help="Wall-time limit of a sequence (the goal: 3x the default run's).",
    )
    return parser


def overrides(pairs: list[str], method: str) -> dict:
    """`["a=1", "masked_sft.b=x"]` -> `{"a": 1, "b": "x"}` for `masked_sft` (values read as YAML; a key prefixed
    with a method applies to that method only)."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"`--set {pair}`: write `key=value` or `method.key=value`.")
        prefix, dot, name = key.rpartition(".")
        if not dot or prefix == method:
            result[name] = yaml.safe_load(value)
    return result


def load_recipe(method: str, args) -> dict:
    """The method's updates recipe with the overrides of `--set`."""
    with open(os.path.join(args.recipes_dir, method, "updates", args.config_name)) as f:
        return {**yaml.safe_load(f), **overrides(args.set, method)}


def run_once(method: str, ratio: float, seed: int, args) -> dict:
    """Run (or finish) one sequence; its `updates.json` numbers and the wall time of this process."""
    out = os.path.join(args.output_dir, f"{method}_replay{ratio:g}_seed{seed}")
    keys = {**load_recipe(method, args), "seed": seed, "update_replay_ratio": ratio, "output_dir": out}
    os.makedirs(args.output_dir, exist_ok=True)
    recipe = f"{out}.yaml"
    with open(recipe, "w") as f:
        yaml.safe_dump(keys, f, sort_keys=False)
    start = time.perf_counter()
    with open(f"{out}.log", "a") as log:
        subprocess.run([sys.executable, "-m", "trl_maskft.scripts.updates", "--config", recipe], check=True,
                       stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    with open(os.path.join(out, "updates.json")) as f:
        return {**json.load(f), "process_s": time.perf_counter() - start}


def lowest_earlier(matrix: list[list[float | None]]) -> float | None:
    """The lowest value of R's last row on the sets before the last."""
    values = [value for value in matrix[-1][:-1] if value is not None]
    return min(values) if values else None


def cell(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def row(method: str, ratio: float, seed: int, result: dict, args) -> tuple[str, bool]:
    """One table row and whether it meets the goal."""
    matrices, edits = result["matrices"], result["edits"].get("forward", {})
    low = {d: lowest_earlier(matrices[d]) for d in DIRECTIONS}
    efficacy, old = edits.get("efficacy"), edits.get("old_answer")
    met = (
        low["backward"] is not None and low["backward"] >= args.min_backward
        and efficacy is not None and efficacy >= args.min_efficacy
        and old is not None and old <= args.max_old_answer
        and (args.max_wall_s is None or sum(result["wall_time_s"]) <= args.max_wall_s)
    )  # fmt: skip
    cells = [method, f"{ratio:g}", str(seed)]
    cells += [f"{cell(result['average_accuracy'][d])} / {cell(low[d])}" for d in DIRECTIONS]
    later = result.get("later_fact", {})
    cells += [cell(efficacy), cell(old), " / ".join(cell(later.get(d)) for d in DIRECTIONS)]
    cells += [f"{sum(result['wall_time_s']):.0f}", "yes" if met else "no"]
    return "| " + " | ".join(cells) + " |", met


def mean_matrix(matrices: list[list[list[float | None]]]) -> list[list[float | None]]:
    size = len(matrices[0])
    return [
        [None if matrices[0][i][j] is None else sum(m[i][j] for m in matrices) / len(matrices) for j in range(size)]
        for i in range(size)
    ]


def main(argv: list[str] | None = None) -> str:
    args = make_parser().parse_args(argv)
    precisions = sorted(
        {f"dtype {k.get('dtype')}, bf16 {k.get('bf16')}" for k in map(lambda m: load_recipe(m, args), args.methods)}
    )
    header = f"{machine_header()}; precision: {'; '.join(precisions)}"
    print(header, flush=True)  # before the runs, which take hours
    lines = [
        header,
        "",
        "| method | replay | seed | forward avg / lowest earlier | backward avg / lowest earlier | edit efficacy | "
        "old answer | later-fact answers fwd / bwd | wall (s) | goal |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in args.methods:
        for ratio in args.replay_ratios:
            results = [run_once(method, ratio, seed, args) for seed in args.seeds]
            lines += [row(method, ratio, seed, r, args)[0] for seed, r in zip(args.seeds, results, strict=True)]
            means = {d: mean_matrix([r["matrices"][d] for r in results]) for d in DIRECTIONS}
            plot_matrices(os.path.join(args.output_dir, f"{method}_replay{ratio:g}.png"), means)
    table = "\n".join(lines) + "\n"
    with open(os.path.join(args.output_dir, "updates_seeds.md"), "w") as f:
        f.write(table)
    print(table)
    return table


if __name__ == "__main__":
    main()
