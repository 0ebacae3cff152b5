"""The checks of `benchmarks/gpu_check.sh`, each in its own time-boxed process, printed as one markdown table.

    python benchmarks/gpu_check.py                # on a GPU: bf16, the default model (SmolLM2-135M-Instruct)
    python benchmarks/gpu_check.py --cpu          # dry run on the CPU: every check for 1 step on a tiny model

Checks: the GPU's bf16 matmul FLOP/s (8192^3 products), masked SFT and plain SFT tokens/s (non-padding tokens) and
MFU against that measurement (6 N FLOPs a token, N the model's parameters), QA answers/s of the QA callback, padded vs
padding-free masked SFT (`benchmarks/bench_padding_free.py`, when present), 3 steps under FSDP2 and ZeRO-3 with one
process, and the default people recipe with `--use_cpu false --bf16 true` and its time to backward ROUGE-1 >= 0.8.
A check that fails or runs out of time gets its error in the table; the others still run. The whole run keeps to
`--budget` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEOPLE = "recipes/smollm2-135m-instruct/masked_sft/config_people.yaml"
# check -> (seconds it may take on a GPU, table rows it fills)
CHECKS = {
    "matmul": (60, ["bf16 matmul, 8192^3"]),
    "train": (120, ["masked SFT", "plain SFT", "QA callback"]),
    "padding_free": (90, ["padded vs padding-free"]),
    "fsdp2": (75, ["FSDP2, 1 process, 3 steps"]),
    "zero3": (90, ["ZeRO-3, 1 process, 3 steps"]),
    "people": (200, ["default people recipe (bf16)"]),
}
RESERVE = 10  # seconds kept for every check still to run


def last_line(text: str, limit: int = 160) -> str:
    """The last non-empty line of `text` (e.g. a traceback's error), shortened and without table pipes."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "(no output)")[:limit].replace("|", "/")


def run_check(name: str, timeout: float, cpu: bool, workdir: str) -> list[tuple[str, str]]:
    """`(result, detail)` per row of check `name`, run as `--check name` in a subprocess of at most `timeout` s."""
    rows = CHECKS[name][1]
    command = [sys.executable, __file__, "--check", name, "--workdir", workdir, *(["--cpu"] if cpu else [])]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [("failed", f"timed out after {timeout:.0f} s")] * len(rows)
    took = time.perf_counter() - start
    results = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not results:
        return [
            ("failed", f"exit {done.returncode} after {took:.0f} s: {last_line(done.stderr + done.stdout)}")
        ] * len(rows)
    return [tuple(row) for row in json.loads(results[-1])["rows"]]


def table(results: dict[str, list[tuple[str, str]]]) -> str:
    from trl_maskft.evaluation.reporting import markdown_table

    rows = [
        [label, *row] for name, (_, labels) in CHECKS.items() for label, row in zip(labels, results[name], strict=True)
    ]
    return markdown_table(["check", "result", "details"], rows)


def launch_command(config: str, workdir: str, cpu: bool, *extra: str) -> list[str]:
    """`accelerate launch` of the masked SFT script on the default people recipe (the tiny model with `cpu`)."""
    port = str(29500 + os.getpid() % 1000)
    model = ["--model_name_or_path", tiny_model(workdir), "--mask_token", "[]"] if cpu else []
    device = ["--use_cpu", "true", "--bf16", "false"] if cpu else ["--use_cpu", "false", "--bf16", "true"]
    command = ["accelerate", "launch", "--config_file", config, "--num_processes", "1", "--main_process_port", port]
    return command + ["-m", "trl_maskft.scripts.masked_sft", "--config", PEOPLE, *device, *model, *extra]


def tiny_model(workdir: str) -> str:
    path = os.path.join(workdir, "tiny")
    if not os.path.isdir(path):
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from tiny import save_tiny_model

        save_tiny_model(path)
    return path


def check_matmul(cpu: bool, workdir: str) -> list:
    import torch

    size, dtype, device = (512, torch.float32, "cpu") if cpu else (8192, torch.bfloat16, "cuda")
    a, b = (torch.randn(size, size, dtype=dtype, device=device) for _ in range(2))
    for _ in range(3):
        a @ b
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    sync()
    flops = 10 * 2 * size**3 / (time.perf_counter() - start)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (dry run, fp32 512^3)"
    with open(os.path.join(workdir, "peak.json"), "w") as f:
        json.dump({"flops": flops}, f)
    return [(f"{flops / 1e12:.3g} TFLOP/s", f"{name}; torch {torch.__version__}; mean of 10 after 3 warm-ups")]


def check_train(cpu: bool, workdir: str) -> list:
    sys.path.insert(0, HERE)
    import torch
    from bench_masked_sft import StepTimer
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from trl_maskft import GreedyAnswerer, MaskedSFTConfig, MaskedSFTTrainer, QAEvalCallback
    from trl_maskft.data import build_people_dataset
    from trl_maskft.evaluation.generation import greedy_config
    from trl_maskft.runtime.default_model import DEFAULT_MODEL, resolve_model_path

    path = tiny_model(workdir) if cpu else resolve_model_path(DEFAULT_MODEL)
    steps, batch = (2, 4) if cpu else (30, 32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    knowledge = build_people_dataset(30, seed=0)
    common = dict(
        output_dir=os.path.join(workdir, "train"), per_device_train_batch_size=batch, max_steps=steps,
        learning_rate=1e-5, save_strategy="no", report_to="none", use_cpu=cpu, bf16=not cpu, logging_steps=10**6,
        seed=0, dataloader_drop_last=True, activation_checkpointing=False,
    )  # fmt: skip
    masked = MaskedSFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(path),
        args=MaskedSFTConfig(mask_token="[]" if cpu else " []", **common),
        train_dataset=knowledge.documents_dataset(),
        processing_class=tokenizer,
    )
    rows = masked.train_dataset
    plain = SFTTrainer(  # the same token sequences, unmasked
        model=AutoModelForCausalLM.from_pretrained(path),
        args=SFTConfig(dataset_kwargs={"skip_prepare_dataset": True}, **common),
        train_dataset=rows.select_columns(["input_ids", "labels"]),
        processing_class=tokenizer,
    )
    batches = [
        masked.data_collator([rows[i] for i in range(s, s + batch)]) for s in range(0, len(rows) - batch + 1, batch)
    ]
    tokens = sum(int(b["attention_mask"].sum()) for b in batches) / len(batches)
    params = sum(p.numel() for p in masked.model.parameters())
    with open(os.path.join(workdir, "peak.json")) as f:
        peak = json.load(f)["flops"]
    results = []
    for trainer in (masked, plain):
        timer = StepTimer()
        trainer.add_callback(timer)
        trainer.train()
        timed = timer.times or [float("nan")]
        speed = tokens * len(timed) / sum(timed)
        detail = f"{len(timed)} steps of {batch} chats ({tokens:.0f} real tokens), {'fp32' if cpu else 'bf16'}"
        results.append((f"{speed:,.0f} tokens/s, MFU {6 * params * speed / peak:.1%}", detail))
    items = knowledge.qa[:30]
    qa = QAEvalCallback(masked, items, GreedyAnswerer(greedy_config(32), len(items)))
    qa.answer(items[:2])  # warm-up
    if not cpu:
        torch.cuda.synchronize()
    start = time.perf_counter()
    qa.answer(items)
    took = time.perf_counter() - start
    results.append(
        (f"{len(items) / took:.1f} answers/s", f"{len(items)} questions, batch {len(items)}, 32 new tokens")
    )
    return results


def check_padding_free(cpu: bool, workdir: str) -> list:
    script = os.path.join(HERE, "bench_padding_free.py")
    if not os.path.exists(script):
        return [("n/a", "benchmarks/bench_padding_free.py is not in this checkout")]
    device = ["--device", "cpu"] if cpu else ["--device", "cuda", "--bf16"]
    done = subprocess.run([sys.executable, script, *device], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return [("failed", f"exit {done.returncode}: {last_line(done.stderr + done.stdout)}")]
    return [("ran", last_line(done.stdout, 300))]


def check_sharded(config: str, cpu: bool, workdir: str) -> list:
    out = os.path.join(workdir, os.path.basename(config).split(".")[0])
    extra = ["--max_steps", "3", "--num_people", "4", "--qa_max_items", "4", "--qa_eval_every", "1"]
    extra += ["--qa_max_new_tokens", "8", "--logging_steps", "1", "--output_dir", out]
    done = subprocess.run(launch_command(config, workdir, cpu, *extra), capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return [("failed", f"exit {done.returncode}: {last_line(done.stderr)}")]
    losses = re.findall(r"'loss': '?([\d.]+)", done.stdout + done.stderr)
    saved = os.path.exists(os.path.join(out, "config.json"))
    return [("ran", f"losses {' -> '.join(losses) or '(not logged)'}; model saved: {saved}")]


def check_people(cpu: bool, workdir: str) -> list:
    out = os.path.join(workdir, "people")
    metrics = os.path.join(out, "qa_metrics.jsonl")
    extra = ["--num_train_epochs", "1", "--num_people", "2", "--qa_max_new_tokens", "4"] if cpu else []
    config = "accelerate_configs/cpu.yaml" if cpu else "accelerate_configs/single_device.yaml"
    log = open(os.path.join(workdir, "people.log"), "w+")
    start = time.perf_counter()
    process = subprocess.Popen(launch_command(config, workdir, cpu, *extra, "--output_dir", out), stdout=log,
                               stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
    seen = []  # seconds since the start at which each QA row appeared
    while process.poll() is None or len(seen) < rows_in(metrics):
        seen += [time.perf_counter() - start] * (rows_in(metrics) - len(seen))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        log.seek(0)
        return [("failed", f"exit {process.returncode}: {last_line(log.read())}")]
    with open(metrics) as f:
        history = [json.loads(line) for line in f]
    reached = next((i for i, row in enumerate(history) if row.get("qa_backward_rouge1", 0) >= 0.8), None)
    scores = [round(row.get("qa_backward_rouge1", float("nan")), 2) for row in history]
    detail = f"whole run {wall:.0f} s (model load, training, {len(history)} QA evaluations); backward ROUGE-1 {scores}"
    if reached is None:
        return [("not reached", detail)]
    return [(f"backward >= 0.8 after {seen[reached]:.0f} s (epoch {history[reached]['epoch']})", detail)]


def rows_in(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def run_one(name: str, cpu: bool, workdir: str) -> None:
    if name in ("fsdp2", "zero3"):
        rows = check_sharded(f"accelerate_configs/{name}.yaml", cpu, workdir)
    else:
        rows = globals()[f"check_{name}"](cpu, workdir)
    print(json.dumps({"rows": rows}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="Dry run on the CPU: every check for 1 step, tiny model.")
    parser.add_argument("--budget", type=float, default=420, help="Seconds for all the checks together.")
    parser.add_argument("--only", nargs="*", choices=list(CHECKS), help="Run these checks only (the others: skipped).")
    parser.add_argument("--check", choices=list(CHECKS), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        return run_one(args.check, args.cpu, args.workdir)
    deadline = time.perf_counter() + args.budget
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for index, (name, (seconds, labels)) in enumerate(CHECKS.items()):
            if args.only is not None and name not in args.only:
                results[name] = [("skipped", "not in --only")] * len(labels)
                continue
            left = deadline - time.perf_counter() - RESERVE * (len(CHECKS) - index - 1)
            if left < 5:
                results[name] = [("failed", "no time left in --budget")] * len(labels)
                continue
            results[name] = run_check(name, min(seconds, left), args.cpu, workdir)
    print(table(results))


if __name__ == "__main__":
    main()
