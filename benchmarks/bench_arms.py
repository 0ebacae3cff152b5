"""Training arms side by side on one machine: tokens/s, peak memory, QA evaluation time, achieved FLOP/s.

    python benchmarks/bench_arms.py                          # default model, 30 people, 10 steps per arm
    python benchmarks/bench_arms.py --steps 20 --output bench.json

Each arm (plain SFT, masked SFT, and diffusion SFT when `trl_maskft.diffusion_sft.trainer` exists) runs its own
script's `main()` with its default recipe in a fresh subprocess, so that the peak resident memory (`ru_maxrss`) is the
arm's own. Tokens/s counts the tokens (padding included: the compute done) the trainer saw over its `train_runtime`
(first step included); the QA time is one evaluation of every QA item with the arm's own answering (greedy, or the
diffusion sampler). Achieved FLOP/s is `6 x params x tokens/s`, compared with a plain fp32 `torch.matmul` on this
machine (an upper bound for diffusion SFT, which projects only the masked positions onto the vocabulary).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch

from trl_maskft.evaluation.scheduled import ScheduledEvalCallback
from trl_maskft.runtime.precision import autocast_name, machine_header

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARMS = ("sft", "masked_sft", "diffusion_sft")


def matmul_flops(n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best FLOP/s of an ``n x n`` matrix product in `dtype` (fp32 by default) on torch's current threads."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def worker(arm: str, steps: int, num_people: int, batch_size: int, bf16: bool = False) -> dict:
    """Train one arm for ``steps`` steps, time its QA evaluations, and measure the process's peak memory.

    The QA items are asked before training (the shortest schedule, `qa_eval_epochs: [0]`: inside `train_runtime`, so
    its time is taken off) and on the final model (after `train_runtime`): that one is the arm's QA time."""
    script = importlib.import_module(f"trl_maskft.scripts.{arm}")
    recipe = os.path.join(ROOT, "recipes", "smollm2-135m-instruct", arm, "config_people.yaml")
    durations = []
    evaluate = ScheduledEvalCallback.evaluate

    def timed_evaluate(self, epoch):
        start = time.perf_counter()
        try:
            return evaluate(self, epoch)
        finally:
            durations.append(time.perf_counter() - start)

    ScheduledEvalCallback.evaluate = timed_evaluate
    with tempfile.TemporaryDirectory() as out:
        qa = script.main(
            ["--config", recipe, "--output_dir", out, "--max_steps", str(steps), "--num_people", str(num_people),
             "--per_device_train_batch_size", str(batch_size), "--qa_eval_epochs", "0", "--logging_steps", "1",
             "--include_num_input_tokens_seen", "true", "--bf16", str(bf16).lower()]
        )  # fmt: skip
        trainer = qa.trainer
        train_log = next(log for log in reversed(trainer.state.log_history) if "train_runtime" in log)
    before, final = durations  # epoch 0, and the final model
    train_s = train_log["train_runtime"] - before
    tokens = trainer.state.num_input_tokens_seen
    return {
        "arm": arm,
        "steps": trainer.state.global_step,
        "tokens": tokens,
        "train_s": train_s,
        "tokens_per_s": tokens / train_s,
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "qa_items": len(qa.items),
        "qa_eval_s": final,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mixed_precision": trainer.args.mixed_precision,
    }


def report(results: list[dict], matmul: float, dtype: str = "fp32") -> str:
    """Markdown table of the arms, their achieved FLOP/s against a `dtype` matmul's."""
    precisions = sorted({r["mixed_precision"] for r in results})
    lines = [
        f"{machine_header()}; precision: {', '.join(map(autocast_name, precisions))}",
        f"{dtype} matmul 2048^3: {matmul / 1e9:.1f} GFLOP/s",
        "",
        "| arm | steps | tokens/s | step (s) | peak RSS (MiB) | QA eval (s) | achieved GFLOP/s | vs matmul |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        achieved = 6 * r["params"] * r["tokens_per_s"]
        lines.append(
            f"| {r['arm']} | {r['steps']} | {r['tokens_per_s']:.1f} | {r['train_s'] / r['steps']:.2f} | "
            f"{r['peak_rss_mib']:.0f} | {r['qa_eval_s']:.1f} ({r['qa_items']} items) | {achieved / 1e9:.1f} | "
            f"{achieved / matmul:.2f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=None, help=f"Default: those of {ARMS} that exist.")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--num_people", type=int, default=30)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--output", default=None, help="Also write the results as JSON here.")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast, against a bf16 matmul")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.steps, args.num_people, args.batch_size, args.bf16)))
        return
    arms = args.arms or [
        arm for arm in ARMS if arm != "diffusion_sft" or importlib.util.find_spec("trl_maskft.diffusion_sft.trainer")
    ]
    results = []
    for arm in arms:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", arm, "--steps", str(args.steps),
               "--num_people", str(args.num_people), "--batch_size", str(args.batch_size),
               *(["--bf16"] if args.bf16 else [])]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{arm} failed:\n{proc.stderr[-4000:]}")
        results.append(json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:]))
    matmul = matmul_flops(dtype=torch.bfloat16 if args.bf16 else torch.float32)
    print(report(results, matmul, "bf16" if args.bf16 else "fp32"))
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"matmul_flops": matmul, "arms": results}, f, indent=2)


if __name__ == "__main__":
    main()
