"""Does the default recipe cure the reversal curse on every seed? Masked vs plain SFT over seeds, whole scripts timed.

    python benchmarks/bench_cure_seeds.py                                  # seeds 42 43 44, masked and plain SFT
    python benchmarks/bench_cure_seeds.py --seeds 42 --plot docs/time_to_cure_default.png
    python benchmarks/bench_cure_seeds.py --seeds 42 --output_dir /tmp/cure --extra --num_train_epochs 1  # smoke

Each (seed, arm) runs the arm's recipe (by default the README's first command's, `masked_sft/config_people.yaml`, and
`sft/config_people.yaml`) as `accelerate launch --config_file accelerate_configs/cpu.yaml -m trl_maskft.scripts.<arm>
--config <recipe> --seed <seed> --output_dir <output_dir>/<arm>/seed<seed> <extra>`, timed from launch to exit (model
load, QA evaluations, training, saving). A run finished before with the same command line (`run_key`: the recipe by
its path under `recipes/`, whichever clone launched it) is not rerun; a folder holding any other run is refused.
Prints a markdown table of seed x arm: final forward and backward ROUGE-1, best backward, wall time, and whether the
run meets the targets at the end of training (masked: final backward >= 0.8 and wall <= 12 min; plain: final
backward <= 0.15, its highest evaluation shown beside), then writes it to `<output_dir>/cure_seeds.md` and the
per-epoch curves of every run to the `--plot` PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

from trl_maskft.evaluation.reporting import final_and_best, markdown_table, metric_cell, plot_rouge1
from trl_maskft.runtime.precision import machine_header
from trl_maskft.scripts.compare import DONE_MARKER, finished_run, read_history

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "recipes", "smollm2-135m-instruct")
MASKED = "masked_sft"  # the arm that must cure; the others must not


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--arms", nargs="+", default=[MASKED, "sft"], help="Scripts `trl_maskft.scripts.<arm>`.")
    parser.add_argument("--config_name", default="config_people.yaml", help="Recipe file in recipes_dir/<arm>.")
    parser.add_argument("--recipes_dir", default=RECIPES)
    parser.add_argument("--accelerate_config", default=os.path.join(ROOT, "accelerate_configs", "cpu.yaml"))
    parser.add_argument("--output_dir", default="outputs/cure_seeds")
    parser.add_argument("--plot", default=None, help="PNG of the curves (default: <output_dir>/rouge1.png).")
    parser.add_argument("--min_masked_backward", type=float, default=0.8)
    parser.add_argument("--max_plain_backward", type=float, default=0.15)
    parser.add_argument("--max_masked_wall_s", type=float, default=12 * 60)
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="More `--key value` for every run.")
    return parser


def run_key(argv: list[str]) -> list[str]:
    """The command line a finished run is known by: a recipe under a `recipes/` folder is named from there on, so a
    run launched from another clone of the repository (another absolute path, the same recipe) is the same run."""
    folder = f"{os.sep}recipes{os.sep}"
    return [f"recipes{os.sep}{arg.rpartition(folder)[2]}" if folder in arg else arg for arg in argv]


def run_once(arm: str, seed: int, args) -> dict:
    """Launch one run (unless it finished before with the same command line); its wall time, history and precision."""
    out = os.path.join(args.output_dir, arm, f"seed{seed}")
    recipe = os.path.join(args.recipes_dir, arm, args.config_name)
    argv = ["--config", recipe, "--seed", str(seed), *args.extra, "--output_dir", out]
    log = f"{out}.log"  # beside the run's folder: a run starts only in an empty `output_dir`
    done = finished_run(out, argv, key=run_key)
    if done is None and os.path.isdir(out) and os.listdir(out):
        raise RuntimeError(
            f"{out} holds a run that did not finish with this command line (another one, or interrupted): delete "
            f"the folder to run it again, or choose another --output_dir (its log {log} is left as it is)"
        )
    if done is None:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", args.accelerate_config,
                   "-m", f"trl_maskft.scripts.{arm}", *argv]  # fmt: skip
        print(f"{arm} seed {seed}: running (log: {log})", flush=True)
        start = time.perf_counter()
        with open(log, "w") as f:
            status = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - start
        if status != 0:
            with open(log) as f:
                raise RuntimeError(f"{arm} seed {seed} failed (exit {status}):\n{f.read()[-3000:]}")
        done = {"argv": argv, "wall_time_s": wall}
        with open(os.path.join(out, DONE_MARKER), "w") as f:
            json.dump(done, f)
    with open(log) as f:
        precision = re.search(r"^Precision: (.*)$", f.read(), re.M)
    return {
        "arm": arm,
        "seed": seed,
        "wall_time_s": done["wall_time_s"],
        "history": read_history(out),
        "precision": precision[1] if precision else "not printed",
    }


def verdict(run: dict, args) -> bool:
    """Whether a run meets its arm's target, at the end of training: masked SFT cures (final backward at least
    `min_masked_backward`, within `max_masked_wall_s`), the others do not (final backward at most
    `max_plain_backward`; the table's "best bwd" shows their highest evaluation too)."""
    final_bwd, _ = final_and_best(run["history"], "qa_backward_rouge1")
    if final_bwd is None:
        return False
    if run["arm"] == MASKED:
        return final_bwd >= args.min_masked_backward and run["wall_time_s"] <= args.max_masked_wall_s
    return final_bwd <= args.max_plain_backward


def report(runs: list[dict], args) -> str:
    """The header (machine, precision, targets) and the seed x arm table."""
    rows = []
    for run in runs:
        final_fwd, _ = final_and_best(run["history"], "qa_forward_rouge1")
        final_bwd, best_bwd = final_and_best(run["history"], "qa_backward_rouge1")
        minutes, seconds = divmod(round(run["wall_time_s"]), 60)
        cells = [metric_cell(final_fwd), metric_cell(final_bwd), metric_cell(best_bwd)]
        rows.append([str(run["seed"]), run["arm"], *cells, f"{minutes} min {seconds:02d} s"])
        rows[-1].append("pass" if verdict(run, args) else "**FAIL**")
    precisions = sorted({run["precision"] for run in runs})
    lines = [
        machine_header(),  # this process's threads; each run's own precision line follows
        f"runs' precision: {'; '.join(precisions)}",
        f"targets: {MASKED} final backward >= {args.min_masked_backward} and wall <= {args.max_masked_wall_s / 60:g} "
        f"min; other arms final backward <= {args.max_plain_backward} (best bwd: their highest evaluation)",
        f"extra arguments: {' '.join(args.extra) or 'none'}",
        "",
        markdown_table(["seed", "arm", "final fwd", "final bwd", "best bwd", "wall", "target"], rows),
    ]
    passed = all(verdict(run, args) for run in runs)
    return "\n".join([*lines, "", f"all runs meet their targets: {'yes' if passed else 'NO'}"])


def main(argv: list[str] | None = None) -> list[dict]:
    args = make_parser().parse_args(argv)
    runs = [run_once(arm, seed, args) for seed in args.seeds for arm in args.arms]
    text = report(runs, args)
    print(text)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "cure_seeds.md"), "w") as f:
        f.write(text + "\n")
    histories = {f"{run['arm']} seed {run['seed']}": run["history"] for run in runs}
    plot_rouge1(args.plot or os.path.join(args.output_dir, "rouge1.png"), histories)
    return runs


if __name__ == "__main__":
    main()
