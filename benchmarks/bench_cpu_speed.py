"""CPU speed of the default masked SFT step, as a fraction of a plain fp32 matmul on the same threads, and what pays.

    python benchmarks/bench_cpu_speed.py                                   # the default recipe's step, fp32
    python benchmarks/bench_cpu_speed.py --variants base unfused compile batch10 bf16 --steps 8
    python benchmarks/bench_cpu_speed.py --threads 1 2 --variants base unfused
    python benchmarks/bench_cpu_speed.py --qa --variants base              # also the cost of the QA evaluations

For each thread count, one run measures the best FLOP/s of a 2048^3 `torch.matmul` in fp32 (and in bf16 where the CPU
multiplies bf16 natively, or with `--bf16_matmul`), then trains the default masked recipe
(`recipes/smollm2-135m-instruct/masked_sft/config_people.yaml`) with each variant's overrides for `--steps` steps and
times them, the first `--warmup` left out: median step time, tokens per step (padding included: the compute done),
achieved FLOP/s = 6 x parameters x tokens / step time, and its fraction of the fp32 matmul (the goal: >= 0.65).
Variants combine with "+" (`compile+batch10`); `--repeats` alternates them and keeps each one's best median, so that
load from other processes hits all alike. With `--qa`, one evaluation of the recipe's QA items is timed at the
recipe's `qa_batch_size` and with every question in one batch, and the QA time of the recipe's schedule is set beside
an evaluation every 10 epochs. Timings on a shared machine are noisy: say so where you record them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time

import torch
from bench_arms import matmul_flops
from bench_gsm8k import StepMeter

from trl_maskft import MaskedSFTTrainer, QAEvalCallback
from trl_maskft.evaluation.reporting import markdown_table
from trl_maskft.pipeline.inputs import load_knowledge
from trl_maskft.pipeline.run import set_model_init_kwargs
from trl_maskft.runtime.precision import autocast_name, cpu_description, has_native_bf16
from trl_maskft.scripts.masked_sft import make_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "smollm2-135m-instruct", "masked_sft", "config_people.yaml")
# Recipe overrides of each variant
VARIANTS = {
    "base": [],
    # the recipes' `adamw_torch_fused` (one fused AdamW kernel) against the loop over the parameters
    "unfused": ["--optim", "adamw_torch"],
    "compile": ["--torch_compile", "true"],  # torch.compile (inductor) of the model
    "batch10": ["--per_device_train_batch_size", "10"],  # the 10 documents in one step: fewer, larger steps
    "pad64": ["--pad_to_multiple_of", "64"],  # fixed shapes (fewer recompilations with compile), more padding
    "bf16": ["--bf16", "true"],  # bf16 autocast: pays only with native bf16 matmuls (AVX512-BF16/AMX)
}


def build(recipe: str, overrides: list[str], output_dir: str, steps: int):
    """The recipe's trainer (its model, data and config, with `overrides`) for `steps` steps, and its script
    arguments and QA items."""
    argv = ["--config", recipe, "--output_dir", output_dir, "--max_steps", str(steps), "--logging_steps", "1000000",
            "--include_num_input_tokens_seen", "true", *overrides]  # fmt: skip
    script_args, _, _, training_args, model_args, _ = make_parser().parse_args_and_config(argv)
    knowledge = load_knowledge(script_args)
    model = set_model_init_kwargs(training_args, model_args)
    trainer = MaskedSFTTrainer(model=model, args=training_args, train_dataset=knowledge.documents_dataset())
    return trainer, script_args, knowledge.qa


def time_steps(recipe: str, variant: str, args) -> dict:
    """Train `variant` for `args.steps` steps; its median step time and tokens per step after the warm-up."""
    overrides = [x for part in variant.split("+") for x in VARIANTS[part]]
    with tempfile.TemporaryDirectory() as out:
        trainer, _, _ = build(recipe, overrides, out, args.steps)
        timer = StepMeter()  # wall time and input tokens of every step
        trainer.add_callback(timer)
        trainer.train()
        times, tokens = timer.times[args.warmup :], timer.tokens[args.warmup :]
        params = sum(p.numel() for p in trainer.model.parameters())
        precision = trainer.args.mixed_precision
    if "compile" in variant:
        torch._dynamo.reset()  # the next variant compiles (or not) afresh
    return {"step_s": statistics.median(times), "tokens": statistics.mean(tokens), "params": params,
            "precision": autocast_name(precision)}  # fmt: skip


def qa_costs(recipe: str, args) -> list[str]:
    """Time one QA evaluation at the recipe's batch size and in one batch; the QA time of its schedule."""
    with tempfile.TemporaryDirectory() as out:
        trainer, script_args, items = build(recipe, [], out, 1)
        lines, epochs = [], trainer.args.num_train_epochs
        for batch_size in dict.fromkeys([min(script_args.qa_batch_size, len(items)), len(items)]):
            answerer = dataclasses.replace(script_args.greedy_answerer(), batch_size=batch_size)
            qa = QAEvalCallback(trainer, items, answerer, system_prompt=trainer.args.system_prompt)
            start = time.perf_counter()
            qa.answer(items)
            seconds = time.perf_counter() - start
            for every in dict.fromkeys([script_args.qa_eval_every, 10]):
                count = len(range(0, int(epochs) + 1, every)) + (int(epochs) % every != 0)  # 0, every N, the end
                lines.append(f"| {len(items)} | {batch_size} | {seconds:.1f} | every {every} epochs: {count} | "
                             f"{count * seconds:.0f} |")  # fmt: skip
    header = "| questions | batch | one evaluation (s) | evaluations in the run | QA time of the run (s) |"
    return ["", header, "|---|---|---|---|---|", *lines]


def table_row(run: dict) -> list[str]:
    """A result as cells of the printed table."""
    bf16 = run["bf16_matmul_flops"]
    return [
        run["variant"],
        str(run["threads"]),
        run["precision"],
        f"{run['tokens']:.0f}",
        f"{run['step_s']:.2f}",
        f"{run['tokens'] / run['step_s']:.1f}",
        f"{run['achieved_flops'] / 1e9:.1f}",
        f"{run['achieved_flops'] / run['fp32_matmul_flops']:.2f}",
        f"{run['fp32_matmul_flops'] / 1e9:.1f}",
        "-" if bf16 is None else f"{bf16 / 1e9:.1f}",
        "-" if run["vs_base"] is None else f"{run['vs_base']:.2f}x",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--variants", nargs="+", default=["base"], help=f"Among {list(VARIANTS)}, combined with +.")
    parser.add_argument("--threads", nargs="+", type=int, default=[torch.get_num_threads()])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=1, help="Untimed first steps (compile: 2 or more).")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--bf16_matmul", action="store_true", help="Time the bf16 matmul without native bf16 too.")
    parser.add_argument("--qa", action="store_true", help="Also time the QA evaluations.")
    parser.add_argument("--output", default=None, help="Also write the results as JSON here.")
    args = parser.parse_args()
    unknown = {part for variant in args.variants for part in variant.split("+")} - set(VARIANTS)
    if unknown or args.steps <= args.warmup:
        parser.error(f"unknown variants {sorted(unknown)}" if unknown else "--steps must exceed --warmup")
    native = has_native_bf16()
    print(f"CPU: {cpu_description()}; torch {torch.__version__}; recipe {os.path.relpath(args.recipe, ROOT)}")
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        fp32 = matmul_flops()
        bf16 = matmul_flops(dtype=torch.bfloat16, repeats=2) if native or args.bf16_matmul else None
        best: dict[str, dict] = {}
        for _ in range(args.repeats):
            for variant in args.variants:
                run = time_steps(args.recipe, variant, args)
                if variant not in best or run["step_s"] < best[variant]["step_s"]:
                    best[variant] = run
        for variant, run in best.items():
            run.update(variant=variant, threads=threads, fp32_matmul_flops=fp32, bf16_matmul_flops=bf16)
            run["achieved_flops"] = 6 * run["params"] * run["tokens"] / run["step_s"]
            run["vs_base"] = best["base"]["step_s"] / run["step_s"] if "base" in best else None
            results.append(run)
    header = ["variant", "threads", "precision", "tokens/step", "step (s)", "tokens/s", "achieved GFLOP/s",
              "of fp32 matmul", "fp32 matmul GFLOP/s", "bf16 matmul GFLOP/s", "vs base"]  # fmt: skip
    print(f"median step of {args.steps - args.warmup} after {args.warmup} warm-up, best of {args.repeats}; goal: the "
          "step at >= 0.65 of the fp32 matmul\n")  # fmt: skip
    print(markdown_table(header, map(table_row, results)))
    if args.qa:
        print("\n".join(qa_costs(args.recipe, args)))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
