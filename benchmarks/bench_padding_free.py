"""Real (non-pad) tokens/s of padding-free vs padded masked SFT on the same reconstruction examples.

    python benchmarks/bench_padding_free.py                      # SmolLM2-135M-Instruct, fp32, CPU
    python benchmarks/bench_padding_free.py --tiny               # smoke test on the tiny test model (seconds)
    python benchmarks/bench_padding_free.py --device cuda --bf16 --attn flash_attention_2 --num_chunks 256 \
        --batch_size 16 --steps 12

The corpus is synthetic: chunks of spread-out lengths (uniform in `--min_tokens`..`--max_tokens` tokens, 50-512 by
default), each one reconstruction chat (about twice its length). Every arm trains the same chats in the same order
with `MaskedSFTTrainer` (`padded`: padded batches with an attention mask; `padding_free`: each batch's chats in one
row with restarting position ids; `packing`: `bfd` rows of at most `--max_length` tokens, optional). The first step of
each arm is a warm-up and is not timed; the arms alternate over `--repeats` and each keeps its best repeat, so that
load from other processes hits them alike. The target (issue 11): padding-free pays back the padding, i.e.
padding-free >= 0.9 x padded / (1 - padding fraction).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile

import torch
from bench_masked_sft import StepTimer  # this folder is on `sys.path` when the script runs
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.evaluation.reporting import markdown_table
from trl_maskft.runtime.default_model import DEFAULT_MODEL, resolve_model_path

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
ARMS = {"padded": {}, "padding_free": {"padding_free": True}, "packing": {"packing": True}}


def machine(device: str) -> str:
    """The accelerator, or the CPU model and its matmul-relevant flags as `lscpu` names them."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    return f"{fields.get('Model name', '?').strip()}, flags {' '.join(f for f in CPU_FLAGS if f in flags) or 'none'}"


def load(args):
    """Model and tokenizer: the tiny test model (`--tiny`) or `--model` resolved by `resolve_model_path`."""
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    if args.tiny:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
        from tiny import MASK_TOKEN, make_tiny_model, make_tiny_tokenizer

        tokenizer = make_tiny_tokenizer()
        args.mask_token = MASK_TOKEN
        return lambda: make_tiny_model(tokenizer, attn_implementation=args.attn).to(dtype), tokenizer
    path = resolve_model_path(args.model)
    model = lambda: AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=args.attn)  # noqa: E731
    return model, AutoTokenizer.from_pretrained(path)


def synthetic_chunks(tokenizer, num_chunks: int, low: int, high: int, seed: int = 0) -> list[str]:
    """`num_chunks` texts of about U(low, high) tokens each, made of pseudo-words that no model knows."""
    rng = random.Random(seed)
    syllables = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "an", "or", "el")]
    words = " ".join("".join(rng.choices(syllables, k=rng.randint(1, 3))) for _ in range(num_chunks * high))
    ids = tokenizer.encode(words, add_special_tokens=False)
    chunks, start = [], 0
    for _ in range(num_chunks):
        n = rng.randint(low, high)
        chunks.append(tokenizer.decode(ids[start : start + n]).strip())
        start += n
    return chunks


class CountingCollator:
    """Wraps the trainer's collator and records every batch's real tokens and its collated (padded) size."""

    def __init__(self, collator):
        self.collator, self.real, self.total = collator, [], []

    def __call__(self, rows):
        batch = self.collator(rows)
        mask = batch.get("attention_mask")
        self.real.append(int(mask.sum()) if mask is not None else batch["input_ids"].numel())
        self.total.append(batch["input_ids"].numel())
        return batch


def run_arm(make_model, tokenizer, dataset, options, args, out) -> dict:
    config = MaskedSFTConfig(
        output_dir=out,
        mask_token=args.mask_token,
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        max_length=args.max_length if options.get("packing") else None,
        learning_rate=1e-5,
        bf16=args.bf16,
        use_cpu=args.device == "cpu",
        save_strategy="no",
        report_to="none",
        logging_steps=10**6,
        seed=0,
        activation_checkpointing=False,
        disable_tqdm=True,
        **options,
    )
    trainer = MaskedSFTTrainer(model=make_model(), args=config, train_dataset=dataset, processing_class=tokenizer)
    counter, timer = CountingCollator(trainer.data_collator), StepTimer()
    trainer.data_collator = counter
    trainer.add_callback(timer)
    trainer.train()
    real, total = sum(counter.real[1 : args.steps]), sum(counter.total[1 : args.steps])
    return {"time": sum(timer.times), "real": real, "total": total}


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model path, Hub id or the embedded default's alias")
    parser.add_argument("--tiny", action="store_true", help="the tiny random test model (a smoke test)")
    parser.add_argument("--mask_token", default=" []", help="one token of the model's tokenizer")
    parser.add_argument("--num_chunks", type=int, default=24)
    parser.add_argument("--min_tokens", type=int, default=50)
    parser.add_argument("--max_tokens", type=int, default=512)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4, help="steps per arm and repeat; the first is not timed")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--arms", default="padded,padding_free", help=f"comma-separated, of {list(ARMS)}")
    parser.add_argument("--max_length", type=int, default=2048, help="row length of the `packing` arm")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--bf16", action="store_true", help="bf16 weights and autocast (default: fp32)")
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager", "flash_attention_2", "flex_attention"])
    args = parser.parse_args(argv)
    arms = args.arms.split(",")
    if unknown := set(arms) - set(ARMS):
        parser.error(f"unknown arms {sorted(unknown)}; choose from {list(ARMS)}")
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step is not timed)")

    make_model, tokenizer = load(args)
    dataset = Dataset.from_dict(
        {"text": synthetic_chunks(tokenizer, args.num_chunks, args.min_tokens, args.max_tokens)}
    )
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.repeats):
            for arm in arms:
                results[arm].append(run_arm(make_model, tokenizer, dataset, ARMS[arm], args, out))
    best = {arm: min(runs, key=lambda r: r["time"]) for arm, runs in results.items()}
    tps = {arm: r["real"] / r["time"] for arm, r in best.items()}
    rows = [[arm, f"{tps[arm]:.1f}", f"{1 - r['real'] / r['total']:.3f}", f"{r['real']}"] for arm, r in best.items()]
    precision = "bf16" if args.bf16 else "fp32"
    print(
        f"### Masked SFT, padding-free vs padded: {'tiny test model' if args.tiny else args.model}, {args.device} "
        f"({machine(args.device)}), {precision}, torch threads {torch.get_num_threads()}, attention {args.attn}\n"
        f"{args.num_chunks} chunks of {args.min_tokens}-{args.max_tokens} tokens, batch {args.batch_size}, "
        f"{args.steps - 1} timed steps x best of {args.repeats}\n"
    )
    print(markdown_table(["arm", "real tokens/s", "padding fraction", "real tokens timed"], rows))
    if "padded" in best and "padding_free" in best:
        padding = 1 - best["padded"]["real"] / best["padded"]["total"]
        target = 0.9 * tps["padded"] / (1 - padding)
        verdict = "PASS" if tps["padding_free"] >= target else "FAIL"
        ratio = tps["padding_free"] / tps["padded"]
        print(
            f"\npadding-free {tps['padding_free']:.1f} tokens/s vs target 0.9 x {tps['padded']:.1f} / "
            f"(1 - {padding:.3f}) = {target:.1f}: {verdict} ({ratio:.2f}x padded)"
        )
    return best


if __name__ == "__main__":
    main()
