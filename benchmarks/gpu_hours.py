"""Expected GPU hours of the paper-scale knowledge recipes on 4 and 8 GPUs of 80 GB (H100), estimated, not measured.

    python benchmarks/gpu_hours.py
    python benchmarks/gpu_hours.py --mfu 0.2 --save_gb_per_s 1

How: an optimizer step trains 64 chats (the global batch) of `DATASETS`' mean length (its mean characters at
`CHARS_PER_TOKEN` characters a token, plus the chat around them; masked SFT holds the document twice), padded per
micro-batch to its longest (`PADDING`); its compute is 6 N FLOPs a token (8 N with activation checkpointing, which
runs the forward twice) at `--mfu` of the GPUs' bf16 peak, overlapped with ZeRO-3/FSDP2's traffic (gathering the bf16
parameters for forward and backward, reduce-scattering the gradients: 3 x 2N bytes per micro-batch at `--bus_gb_per_s`)
plus `STEP_OVERHEAD`. QA evaluations: greedy decoding reads the bf16 weights once per token (HBM bound); the LLaDA
sampler runs a forward pass over prompt and answer at every one of its 128 steps (compute bound). `qa_keep_best` saves
at most one full checkpoint per QA epoch (bf16 weights, fp32 master weights and AdamW states: 16 bytes a parameter,
written at `--save_gb_per_s`). `benchmarks/gpu_check.sh` measures tokens/s and MFU of the default model on a GPU.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory_plan import CHAT_OVERHEAD, ROOT, SHAPES, read_recipes  # noqa: E402

from trl_maskft.evaluation.reporting import markdown_table

PEAK_FLOPS = 989e12  # H100 SXM, bf16 dense
HBM_BYTES_PER_S = 3.35e12
GLOBAL_BATCH = 64
CHARS_PER_TOKEN = 4.0  # mean English characters a token (about 4 for the Llama-3 and LLaDA tokenizers)
PADDING = 1.3  # padded tokens / real tokens of a micro-batch padded to its longest chat (assumed)
STEP_OVERHEAD = 0.05  # s: optimizer step, data loading, launch (assumed)
QA_TOKENS, QA_PROMPT_TOKENS = 128, 70
# The paper's datasets (xup5/masked_arLLM datasets/, sizes read here): training texts without and with paraphrases,
# mean characters of a text (from the files' sizes), QA items
DATASETS = {
    "ND": {"texts": 60, "paraphrased": 1800, "chars": 131, "questions": 480},
    "biography": {"texts": 100, "paraphrased": 500, "chars": 300, "questions": 900},
    "wiki": {"texts": 94, "paraphrased": 940, "chars": 510, "questions": 400},
}


def training_texts(method: str, dataset: str) -> int:
    data = DATASETS[dataset]
    texts = data["paraphrased"] if method == "paraphrase_sft" else data["texts"]
    return texts * (2 if method == "reverse_sft" else 1)


def chat_tokens(method: str, dataset: str) -> float:
    copies = 2 if method == "masked_sft" else 1
    return CHAT_OVERHEAD[method] + copies * DATASETS[dataset]["chars"] / CHARS_PER_TOKEN


def step_seconds(n: int, tokens: float, gpus: int, micro_batches: int, checkpointing: bool, mfu: float, bus: float):
    """One optimizer step of `tokens` (all GPUs together) in `micro_batches` per GPU."""
    compute = (8 if checkpointing else 6) * n * tokens / (gpus * PEAK_FLOPS * mfu)
    traffic = micro_batches * 3 * 2 * n * (gpus - 1) / gpus / bus
    return max(compute, traffic) + STEP_OVERHEAD


def qa_seconds(n: int, questions: int, gpus: int, batch: int, diffusion: bool, mfu: float) -> float:
    """One QA evaluation: the questions split across the GPUs, answered `batch` at a time."""
    batches = math.ceil(math.ceil(questions / gpus) / batch)
    if diffusion:  # every sampler step is a forward pass over prompt and answer
        return batches * QA_TOKENS * 2 * n * batch * (QA_PROMPT_TOKENS + QA_TOKENS) / (PEAK_FLOPS * mfu)
    return batches * QA_TOKENS * 2 * n / HBM_BYTES_PER_S * 1.5  # weights read once per token, 1.5x for the rest


def estimate(recipe, gpus: int, mfu: float, bus: float, save_bytes_per_s: float) -> dict:
    with open(recipe.path) as f:
        config = yaml.safe_load(f)
    n = SHAPES[recipe.model].params
    texts = training_texts(recipe.method, recipe.dataset)
    steps_per_epoch = math.ceil(texts / GLOBAL_BATCH)
    epochs = config["num_train_epochs"]
    tokens = texts / steps_per_epoch * chat_tokens(recipe.method, recipe.dataset) * PADDING
    micro_batches = max(1, GLOBAL_BATCH // (recipe.batch * gpus))
    step = step_seconds(n, tokens, gpus, micro_batches, recipe.checkpointing, mfu, bus)
    evaluations = len(config.get("qa_eval_epochs") or [])
    qa = evaluations * qa_seconds(
        n, DATASETS[recipe.dataset]["questions"], gpus, config["qa_batch_size"], recipe.method == "diffusion_sft", mfu
    )
    saves = (evaluations - 1) * 16 * n / save_bytes_per_s if config.get("qa_keep_best") else 0.0
    wall = steps_per_epoch * epochs * step + qa + saves
    return {"steps": steps_per_epoch * epochs, "tokens": tokens, "step": step, "qa": qa, "saves": saves, "wall": wall}


def rows(mfu: float, bus: float, save_bytes_per_s: float) -> list[list[str]]:
    table = []
    for recipe in read_recipes(tuple(SHAPES)):
        cells = [os.path.relpath(recipe.path, os.path.join(ROOT, "recipes"))]
        for gpus in (4, 8):
            e = estimate(recipe, gpus, mfu, bus, save_bytes_per_s)
            if gpus == 4:
                cells += [f"{e['steps']:,}", f"{e['tokens']:,.0f}"]
            cells += [f"{e['step']:.2f}", f"{e['wall'] / 3600:.1f}", f"{e['wall'] * gpus / 3600:.1f}"]
        table.append(cells)
    return table


HEADER = [
    "recipe", "steps", "tokens/step", "4 GPUs: s/step", "wall (h)", "GPU hours", "8 GPUs: s/step", "wall (h)",
    "GPU hours",
]  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mfu", type=float, default=0.3, help="Model FLOPs utilization assumed for training.")
    parser.add_argument("--bus_gb_per_s", type=float, default=300, help="All-gather/reduce-scatter bus bandwidth.")
    parser.add_argument("--save_gb_per_s", type=float, default=2, help="Checkpoint write speed (all ranks).")
    args = parser.parse_args()
    print(markdown_table(HEADER, rows(args.mfu, args.bus_gb_per_s * 1e9, args.save_gb_per_s * 1e9)))
    gpu = f"H100 SXM 80 GB ({PEAK_FLOPS / 1e12:.0f} TFLOP/s bf16, {HBM_BYTES_PER_S / 1e12} TB/s)"
    print(f"\nAssumed: {gpu}, MFU {args.mfu}, bus {args.bus_gb_per_s} GB/s, checkpoints {args.save_gb_per_s} GB/s.")


if __name__ == "__main__":
    main()
