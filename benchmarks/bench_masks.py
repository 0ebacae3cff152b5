"""Which mask cures the reversal curse fastest? The paper's masking against span and entity masks and views (issue 22).

    python benchmarks/bench_masks.py                                   # 2 datasets x 6 settings x seeds 42 43 44
    python benchmarks/bench_masks.py --datasets people --settings paper entity --seeds 42 \
        --output_dir /tmp/masks --extra --num_train_epochs 2           # smoke

Every (dataset, setting, seed) is one masked SFT run of the dataset's recipe (`people`: the default recipe,
`masked_sft/config_people.yaml`; `nd20`: `masked_sft/config_name_description_mini.yaml`, 20 statements in the paper's
NameDescription format) with the setting's keys on the command line (`SETTINGS`), QA evaluated every
`--qa_eval_every` epochs (default 2), retention not measured (`--retain_eval false`: it would only add the same
time to every run), launched and timed as `bench_cure_seeds.run_once` does (a run finished before
with the same command line is not rerun). Per run: the epoch from which backward ROUGE-1 stays >= `--target` at every
later evaluation ("cured for good"), the wall time and tokens trained until then (pro rata of the run's: every epoch
trains the same chats, the evaluations are evenly spaced), final forward/backward, all tokens trained (TRL's
`num_tokens`). The goal: a setting cures in at most `--max_share` (2/3) of the paper's epochs and wall time on every
seed of every dataset, with final forward and backward no lower. Writes `<output_dir>/masks.md` (the machine, the
precision, the table, the verdict) and `<output_dir>/masks_<dataset>.png` (backward ROUGE-1 per epoch).
Run it alone on the machine, in fp32 (the recipes' `dtype: float32`, `bf16: false`).
"""

from __future__ import annotations

import argparse
import os
import re
import types

from bench_cure_seeds import RECIPES, ROOT, run_once  # this folder is on `sys.path` when the script runs

from trl_maskft.evaluation.reporting import final_and_best, markdown_table, metric_cell, plot_rouge1
from trl_maskft.runtime.precision import machine_header

PAPER = "paper"
DATASETS = {"people": "config_people.yaml", "nd20": "config_name_description_mini.yaml"}
SETTINGS = {
    PAPER: [],
    "span": ["--mask_unit", "span", "--mask_span_mean", "3"],
    "entity": ["--mask_unit", "entity"],
    "views2": ["--mask_views", "2"],
    "views2_comp": ["--mask_views", "2", "--mask_views_complementary", "true"],
    "entity_views2_comp": ["--mask_unit", "entity", "--mask_views", "2", "--mask_views_complementary", "true"],
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--qa_eval_every", type=int, default=2, help="Ask the QA items every N epochs.")
    parser.add_argument("--target", type=float, default=0.8, help="Backward ROUGE-1 that counts as cured.")
    parser.add_argument("--max_share", type=float, default=2 / 3, help="Of the paper's epochs and wall time.")
    parser.add_argument("--accelerate_config", default=os.path.join(ROOT, "accelerate_configs", "cpu.yaml"))
    parser.add_argument("--output_dir", default="outputs/bench_masks")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="More `--key value` for every run.")
    return parser


def cured_epoch(history: list[dict], target: float) -> float | None:
    """The first evaluated epoch from which backward ROUGE-1 is >= `target` at every later evaluation; None if the
    last evaluation is below it."""
    cured = None
    for row in history:
        value = row.get("qa_backward_rouge1")
        if value is None:
            continue
        cured = (cured if cured is not None else row["epoch"]) if value >= target else None
    return cured


def tokens_trained(log: str) -> int | None:
    """The last `num_tokens` a run's log printed (TRL's count of the tokens trained)."""
    found = re.findall(r"'num_tokens': '?([\d.e+]+)", log)
    return int(float(found[-1])) if found else None


def run_setting(dataset: str, setting: str, seed: int, args) -> dict:
    """One run (`bench_cure_seeds.run_once` under `<output_dir>/<dataset>/<setting>`) and what the table needs."""
    extra = [*SETTINGS[setting], "--qa_eval_every", str(args.qa_eval_every), "--retain_eval", "false", *args.extra]
    run_args = types.SimpleNamespace(
        output_dir=os.path.join(args.output_dir, dataset, setting),
        recipes_dir=RECIPES,
        config_name=DATASETS[dataset],
        accelerate_config=args.accelerate_config,
        extra=extra,
    )
    run = run_once("masked_sft", seed, run_args)
    with open(os.path.join(run_args.output_dir, "masked_sft", f"seed{seed}.log")) as f:
        tokens = tokens_trained(f.read())
    epochs = max(row["epoch"] for row in run["history"])
    cured = cured_epoch(run["history"], args.target)
    share = None if cured is None or not epochs else cured / epochs
    return {
        **run,
        "dataset": dataset,
        "setting": setting,
        "cured_epoch": cured,
        "cured_wall_s": None if share is None else share * run["wall_time_s"],
        "cured_tokens": None if share is None or tokens is None else round(share * tokens),
        "tokens": tokens,
        "final_fwd": final_and_best(run["history"], "qa_forward_rouge1")[0],
        "final_bwd": final_and_best(run["history"], "qa_backward_rouge1")[0],
    }


def beats_paper(run: dict, paper: dict, share: float) -> bool:
    """Whether a run cures in at most `share` of the paper run's epochs and wall time (same dataset and seed; any
    cure beats a paper run that never cures), with final forward and backward no lower."""
    no_lower = all((run[key] or 0) >= (paper[key] or 0) for key in ("final_fwd", "final_bwd"))
    if run["cured_epoch"] is None or paper["cured_epoch"] is None:
        return run["cured_epoch"] is not None and paper["cured_epoch"] is None and no_lower
    return (
        run["cured_epoch"] <= share * paper["cured_epoch"]
        and run["cured_wall_s"] <= share * paper["cured_wall_s"]
        and no_lower
    )


def _cell(value, unit: str = "", missing: str = "never") -> str:
    return missing if value is None else f"{value:g}{unit}" if isinstance(value, (int, float)) else str(value)


def report(runs: list[dict], args) -> str:
    """The header, the table of every run, and the goal's verdict per setting."""
    papers = {(r["dataset"], r["seed"]): r for r in runs if r["setting"] == PAPER}
    rows, wins = [], {}
    for run in runs:
        paper = papers.get((run["dataset"], run["seed"]))
        won = None if paper is None or run["setting"] == PAPER else beats_paper(run, paper, args.max_share)
        if won is not None:
            wins[run["setting"]] = wins.get(run["setting"], True) and won
        wall = None if run["cured_wall_s"] is None else round(run["cured_wall_s"])
        rows.append(
            [run["dataset"], run["setting"], str(run["seed"]), _cell(run["cured_epoch"]), _cell(wall, " s"),
             _cell(run["cured_tokens"], missing="never" if run["cured_epoch"] is None else "not logged"),
             metric_cell(run["final_fwd"]), metric_cell(run["final_bwd"]), _cell(run["tokens"], missing="not logged"),
             f"{run['wall_time_s']:.0f} s", {None: "-", True: "yes", False: "no"}[won]]
        )  # fmt: skip
    header = ["dataset", "setting", "seed", "cured at epoch", "wall to cure", "tokens to cure", "final fwd",
              "final bwd", "tokens trained", "wall", "beats paper"]  # fmt: skip
    verdicts = [f"- {setting}: {'wins on every seed and dataset' if won else 'does not win everywhere'}"
                for setting, won in wins.items()]  # fmt: skip
    winners = [setting for setting, won in wins.items() if won]
    return "\n".join(
        [
            machine_header(),  # the CPU's model and its avx2/avx512/bf16/AMX flags
            f"runs' precision: {'; '.join(sorted({run['precision'] for run in runs}))}",
            f"QA every {args.qa_eval_every} epochs; cured: backward ROUGE-1 >= {args.target} at that evaluation and "
            f"every later one; goal: at most {args.max_share:.2f} of the paper's epochs and wall time, final fwd "
            "and bwd no lower",
            f"extra arguments: {' '.join(args.extra) or 'none'}",
            "",
            markdown_table(header, rows),
            "",
            *verdicts,
            f"goal met by: {', '.join(winners) if winners else 'no setting'}",
        ]
    )


def main(argv: list[str] | None = None) -> list[dict]:
    args = make_parser().parse_args(argv)
    runs = [
        run_setting(dataset, setting, seed, args)
        for dataset in args.datasets
        for setting in args.settings
        for seed in args.seeds
    ]
    text = report(runs, args)
    print(text)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "masks.md"), "w") as f:
        f.write(text + "\n")
    for dataset in args.datasets:  # backward ROUGE-1 per evaluated epoch, a line per (setting, seed)
        histories = {f"{r['setting']} seed {r['seed']}": r["history"] for r in runs if r["dataset"] == dataset}
        plot_rouge1(os.path.join(args.output_dir, f"masks_{dataset}.png"), histories, directions=("backward",))
    return runs


if __name__ == "__main__":
    main()
