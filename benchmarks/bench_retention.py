"""What injection costs the model, and what keeping it costs: the default people recipe's settings over seeds, with
forward/backward QA, the known facts kept and the rise of the self-answer NLL, whole scripts timed.

    python benchmarks/bench_retention.py                                      # every setting, seeds 42 43 44
    python benchmarks/bench_retention.py --settings masked masked+self-replay --seeds 42
  python benchmarks/bench_retention.py --define "a|masked_sft|config_people.yaml|--replay_data self --replay_ratio .3"
    python benchmarks/bench_retention.py --seeds 42 --output_dir /tmp/ret --extra --num_train_epochs 1  # smoke

Each (setting, seed) runs the setting's recipe under `recipes/smollm2-135m-instruct/<arm>/` with its overrides,
launched and timed as `bench_cure_seeds.run_once` does (under `<output_dir>/<setting>`; a run finished before with the
same command line is not rerun). Prints and writes `<output_dir>/retention.md`: a row per setting and seed (final
forward and backward ROUGE-1, known facts kept, self-answer NLL rise, wall time, the goal) and a row per setting with
the worst seed; and `<output_dir>/retention.png`: backward QA against known facts kept, one point per run.

The goal (issue 20): backward >= 0.8, forward >= 0.95, >= 95% of the known facts kept, self-answer NLL rise <= 10% of
its epoch-0 value, wall time <= 1.5x the `masked` setting's (the default recipe's) on the same seed, on every seed.
"""

from __future__ import annotations

import argparse
import os
import types

from bench_cure_seeds import RECIPES, ROOT, run_once  # this folder is on `sys.path` when the script runs

from trl_maskft.evaluation.reporting import final_and_best, markdown_table, metric_cell
from trl_maskft.runtime.precision import machine_header

BASELINE = "masked"  # the default recipe: the wall time every setting is compared with
SELF_REPLAY = ["--replay_data", "self", "--replay_ratio", "0.5", "--replay_max_new_tokens", "64"]
SETTINGS: dict[str, tuple[str, str, list[str]]] = {  # name: (arm, recipe file, overrides)
    "sft": ("sft", "config_people.yaml", []),
    BASELINE: ("masked_sft", "config_people.yaml", []),
    "masked+self-replay": ("masked_sft", "config_people.yaml", SELF_REPLAY),
    "masked+self-replay+kl": ("masked_sft", "config_people.yaml", [*SELF_REPLAY, "--kl_to_base", "0.2"]),
    "masked+lora": ("masked_sft", "config_people_lora.yaml", []),
    "masked+lora+self-replay": ("masked_sft", "config_people_lora.yaml", SELF_REPLAY),
}
GOAL = {"backward": 0.8, "forward": 0.95, "known_facts": 0.95, "nll_rise": 0.10, "wall_ratio": 1.5}


def define(text: str) -> tuple[str, tuple[str, str, list[str]]]:
    """`"name|arm|recipe file|--key value ..."` -> a setting."""
    parts = text.split("|")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"--define takes 'name|arm|recipe file|--key value ...', got {text!r}.")
    name, arm, recipe, overrides = parts
    return name, (arm, recipe, overrides.split())


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), help=f"Among {list(SETTINGS)}.")
    parser.add_argument("--define", type=define, action="append", default=[], help="Another setting (see above).")
    parser.add_argument("--accelerate_config", default=os.path.join(ROOT, "accelerate_configs", "cpu.yaml"))
    parser.add_argument("--output_dir", default="outputs/retention")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="More `--key value` for every run.")
    return parser


def run_setting(name: str, setting: tuple[str, str, list[str]], seed: int, args) -> dict:
    """One run of a setting and the numbers of its final evaluation."""
    arm, recipe, overrides = setting
    run_args = types.SimpleNamespace(
        output_dir=os.path.join(args.output_dir, name),
        recipes_dir=RECIPES,
        config_name=recipe,
        accelerate_config=args.accelerate_config,
        extra=[*overrides, *args.extra],
    )
    run = run_once(arm, seed, run_args)
    final = {key: final_and_best(run["history"], key)[0] for key in run["history"][-1]} if run["history"] else {}
    return {
        **run,
        "setting": name,
        "forward": final.get("qa_forward_rouge1"),
        "backward": final.get("qa_backward_rouge1"),
        "known_facts": final.get("retain_known_facts"),
        "known_base": final.get("retain_known_facts_base"),
        "nll_rise": final.get("retain_self_nll_rise"),
    }


def meets_goal(run: dict, baseline_wall: float | None) -> bool:
    """Whether one run meets every part of `GOAL` (the wall time against the default recipe's on its seed)."""
    values = [run[key] for key in ("forward", "backward", "known_facts", "nll_rise")]
    if any(value is None for value in values) or baseline_wall is None:
        return False
    return (
        run["backward"] >= GOAL["backward"]
        and run["forward"] >= GOAL["forward"]
        and run["known_facts"] >= GOAL["known_facts"]
        and run["nll_rise"] <= GOAL["nll_rise"]
        and run["wall_time_s"] <= GOAL["wall_ratio"] * baseline_wall
    )


def worst(runs: list[dict], key: str, highest_is_worst: bool = False) -> float | None:
    values = [run[key] for run in runs if run[key] is not None]
    return None if not values else (max(values) if highest_is_worst else min(values))


def report(runs: list[dict], args) -> str:
    walls = {run["seed"]: run["wall_time_s"] for run in runs if run["setting"] == BASELINE}
    header = ["setting", "seed", "final fwd", "final bwd", "known facts kept", "self-NLL rise", "wall", "goal"]
    rows, by_setting = [], {}
    for run in runs:
        minutes, seconds = divmod(round(run["wall_time_s"]), 60)
        kept = metric_cell(run["known_facts"]) + ("" if run["known_base"] is None else f" of {run['known_base']:.0f}")
        cells = [metric_cell(run["forward"]), metric_cell(run["backward"]), kept, metric_cell(run["nll_rise"])]
        passed = meets_goal(run, walls.get(run["seed"]))
        rows.append(
            [run["setting"], str(run["seed"]), *cells, f"{minutes} min {seconds:02d} s", "pass" if passed else "-"]
        )
        by_setting.setdefault(run["setting"], []).append((run, passed))
    summary = []
    for name, entries in by_setting.items():
        group = [run for run, _ in entries]
        cells = [worst(group, "forward"), worst(group, "backward"), worst(group, "known_facts")]
        rise = worst(group, "nll_rise", highest_is_worst=True)
        longest = max(run["wall_time_s"] for run in group)
        verdict = "**every seed**" if all(passed for _, passed in entries) else "no"
        summary.append([name, *map(metric_cell, cells), metric_cell(rise), f"{longest / 60:.1f} min", verdict])
    return "\n".join(
        [
            machine_header(),
            f"runs' precision: {'; '.join(sorted({run['precision'] for run in runs}))}",
            f"goal: backward >= {GOAL['backward']}, forward >= {GOAL['forward']}, known facts kept >= "
            f"{GOAL['known_facts']}, self-answer NLL rise <= {GOAL['nll_rise']}, wall <= {GOAL['wall_ratio']}x "
            f"`{BASELINE}` on the same seed",
            f"extra arguments: {' '.join(args.extra) or 'none'}",
            "",
            markdown_table(header, rows),
            "",
            "Worst seed per setting:",
            "",
            markdown_table(
                ["setting", "fwd", "bwd", "known facts kept", "self-NLL rise", "longest wall", "goal"], summary
            ),
        ]
    )


def plot(path: str, runs: list[dict]) -> None:
    """Backward QA against the known facts kept, one point per run, one colour per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in dict.fromkeys(run["setting"] for run in runs):
        points = [
            (r["known_facts"], r["backward"]) for r in runs if r["setting"] == name and r["known_facts"] is not None
        ]
        if points:
            ax.scatter(*zip(*points, strict=True), label=name, s=40)
    ax.axvline(GOAL["known_facts"], color="grey", ls="--", lw=1)
    ax.axhline(GOAL["backward"], color="grey", ls="--", lw=1)
    ax.set(xlabel="known facts kept (retain_known_facts)", ylabel="final backward ROUGE-1", xlim=(-0.02, 1.02))
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    args = make_parser().parse_args(argv)
    settings = {**SETTINGS, **dict(args.define)}
    names = list(dict.fromkeys([*args.settings, *(name for name, _ in args.define)]))
    unknown = [name for name in names if name not in settings]
    if unknown:
        raise SystemExit(f"Unknown settings {unknown}; choose among {list(settings)} or add one with --define.")
    runs = [run_setting(name, settings[name], seed, args) for seed in args.seeds for name in names]
    text = report(runs, args)
    print(text)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "retention.md"), "w") as f:
        f.write(text + "\n")
    plot(os.path.join(args.output_dir, "retention.png"), runs)
    return runs


if __name__ == "__main__":
    main()
