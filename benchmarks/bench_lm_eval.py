"""Speed of the benchmark callback's lm-eval path against the project's own batched GSM8K evaluation, on a CPU.

    python benchmarks/bench_lm_eval.py                       # 16 questions, 256 new tokens, batch 16
    python benchmarks/bench_lm_eval.py --questions 8 --max_new_tokens 128 --repeats 1

Both arms answer the first `--questions` GSM8K test problems with the same model in memory (default: the embedded
SmolLM2-135M-Instruct in float32, no autocast: `bf16=False`), greedily, in the chat template, `--batch_size` per
generate call with left padding, stopping at the end of turn: the own path is `evaluate_task` (what
`TaskEvalCallback` runs), the lm-eval path `Benchmarks.evaluate` on `maskft_gsm8k` (what `BenchmarkCallback` runs;
its tasks are loaded once, outside the timing, as the callback loads them when it is made). lm-eval asks
"Question: ...\\nAnswer:" where the own path asks the bare question, so the answers differ in length: compare the
generated tokens per second as well as the wall time. The arms alternate and each keeps its best repeat, so that
background load hits both alike. Prints a markdown table headed by the CPU (lscpu) and its vector/matrix flags.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from trl_maskft.evaluation.answering import GreedyAnswerer
from trl_maskft.evaluation.extras import require_eval
from trl_maskft.evaluation.generation import greedy_config
from trl_maskft.evaluation.lm_eval import BenchmarkConfig
from trl_maskft.evaluation.tasks import GSM8K
from trl_maskft.evaluation.tasks.callback import evaluate_task
from trl_maskft.evaluation.tasks.gsm8k import load_gsm8k
from trl_maskft.runtime.default_model import resolve_model_path

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_description() -> str:
    """`Model name` of lscpu and which of `FLAGS` the CPU has."""
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    model = fields.get("Model name", "unknown CPU").strip()
    return f"{model}, {fields.get('CPU(s)', '?').strip()} CPUs, flags: {' '.join(f for f in FLAGS if f in flags)}"


def generated_tokens(tokenizer, texts) -> int:
    return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])


def run_own(model, tokenizer, items, args) -> tuple[float, int, float]:
    answerer = GreedyAnswerer(greedy_config(args.max_new_tokens), args.batch_size)
    start = time.perf_counter()
    accuracy, records = evaluate_task(model, tokenizer, GSM8K, items, answerer)
    seconds = time.perf_counter() - start
    tokens = generated_tokens(tokenizer, (r["prediction"] for r in records))
    return seconds, tokens, accuracy["qa_gsm8k_flexible_match"]


def run_lm_eval(benchmarks, model, tokenizer) -> tuple[float, int, float]:
    start = time.perf_counter()
    with torch.no_grad():
        metrics, records = benchmarks.evaluate(model, tokenizer)
    seconds = time.perf_counter() - start
    answers = [r["responses"][0][0] for r in records if r["filter"] == "strict-match"]
    return seconds, generated_tokens(tokenizer, answers), metrics["bench_maskft_gsm8k_exact_match_flexible_extract"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--data", default="../shared/data/gsm8k", help="a local GSM8K folder of {train,test}.jsonl")
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    path = resolve_model_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    items = GSM8K.qa_items(load_gsm8k(args.data, "test", max_samples=args.questions))
    config = BenchmarkConfig(
        bench_tasks=["maskft_gsm8k"], bench_data=[f"maskft_gsm8k={args.data}"], bench_limit=args.questions,
        bench_max_new_tokens=args.max_new_tokens, bench_batch_size=args.batch_size,
    )  # fmt: skip
    benchmarks = require_eval("trl_maskft.evaluation.lm_eval.harness").Benchmarks(config)
    best = {}
    for _ in range(args.repeats):
        for arm, run in (("own", lambda: run_own(model, tokenizer, items, args)),
                         ("lm-eval", lambda: run_lm_eval(benchmarks, model, tokenizer))):  # fmt: skip
            result = run()
            if arm not in best or result[0] < best[arm][0]:
                best[arm] = result
            print(f"{arm}: {result[0]:.1f} s, {result[1]} tokens", flush=True)

    print(
        f"\nCPU: {cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads; precision: fp32 "
        f"(bf16=False, no autocast)\nmodel: {args.model}; {len(items)} GSM8K test questions, greedy, at most "
        f"{args.max_new_tokens} new tokens, batch {args.batch_size}; best of {args.repeats}\n"
    )
    print("| path | wall time (s) | generated tokens | tokens/s | flexible accuracy | time vs own |")
    print("|---|---|---|---|---|---|")
    for arm, (seconds, tokens, accuracy) in best.items():
        print(f"| {arm} | {seconds:.1f} | {tokens} | {tokens / seconds:.1f} | {accuracy:.3f} | "
              f"{seconds / best['own'][0]:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
