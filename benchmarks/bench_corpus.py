"""Corpus input at scale: peak memory of loading, filtering, chunking and tokenizing synthetic corpora of growing size
(it must not grow with the corpus: nothing holds a Python list of the documents), and tokenization speed with
`dataset_num_proc` 1 and 2.

    python benchmarks/bench_corpus.py                                # 10k and 100k documents, 1 and 2 processes
    python benchmarks/bench_corpus.py --sizes 10000 --num_proc 1     # quicker

Each measurement runs in a fresh process (its own peak RSS, an empty `datasets` cache): `load_corpus` on a JSONL file
of synthetic documents (~800 characters, ~170 tokens of the default model, SmolLM2-135M-Instruct) in Webscale-RL's
schema, then `tokenize_for_masking` into masked SFT examples of 128-token chunks. No model is loaded and no float math
runs (precision does not apply). Prints the CPU (lscpu model and flags) and the load average: with other work on the
cores the timings are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

WORDS = "glass bridge harbour lantern marsh island river clock symphony fern mountain storm library map guild".split()
CHILD = "--child"


def write_corpus(path: str, n: int, seed: int = 0) -> None:
    """`n` synthetic rows (`pretrain_text`, `question`, `answer`), written one at a time."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            text = " ".join(
                f"Person {i} saw the {rng.choice(WORDS)} of {rng.choice(WORDS)} in {rng.randint(1800, 2000)}."
                for _ in range(18)
            )
            row = {"pretrain_text": text, "question": f"What did Person {i} see?", "answer": "it"}
            f.write(json.dumps(row) + "\n")


def cpu_description() -> str:
    """The CPU model and its flags of interest, from lscpu."""
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU (no lscpu)"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    shown = [flag for flag in flags if flag.startswith(("avx512", "amx")) or flag in ("avx2", "fma")]
    return f"{fields.get('Model name', '?').strip()}, {os.cpu_count()} cores; flags: {' '.join(shown) or 'none'}"


def child(path: str, num_proc: int) -> None:
    """Load and tokenize the corpus at `path`; print a JSON line of timings, counts and peak RSS."""
    from transformers import AutoTokenizer

    from trl_maskft import MaskedSFTConfig
    from trl_maskft.data.corpus import CorpusArguments, load_corpus
    from trl_maskft.masked_sft.data import tokenize_for_masking
    from trl_maskft.runtime.default_model import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m-instruct"))
    start = time.perf_counter()
    corpus = load_corpus(path, CorpusArguments(drop_document_chars=20000), "pretrain_text", num_proc=num_proc)
    loaded = time.perf_counter()
    args = MaskedSFTConfig(
        tempfile.mkdtemp(),
        use_cpu=True,
        mask_token=" []",
        dataset_text_field="pretrain_text",
        chunk_length=128,
        max_length=320,
        dataset_num_proc=num_proc,
    )
    dataset, report = tokenize_for_masking(corpus.train, tokenizer, args)
    done = time.perf_counter()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    children_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "documents": report.rows,
        "examples": report.examples,
        "tokens": report.tokens,
        "load_s": loaded - start,
        "tokenize_s": done - loaded,
        "peak_rss_mib": peak_mib,
        "worker_peak_rss_mib": children_mib,
    }
    print(json.dumps(result))


def measure(size: int, num_proc: int, folder: str) -> dict:
    path = os.path.join(folder, f"corpus_{size}.jsonl")
    if not os.path.exists(path):
        write_corpus(path, size)
    env = {**os.environ, "HF_DATASETS_CACHE": tempfile.mkdtemp(dir=folder)}  # nothing cached: tokenized afresh
    run = subprocess.run(
        [sys.executable, __file__, CHILD, path, str(num_proc)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--num_proc", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; precision: none (tokenization only)")
    print(f"Load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (timings noisy when above the cores)")
    print("\n| documents | dataset_num_proc | examples (128-token chunks) | tokens | load s | tokenize s | "
          "documents/s (tokenize) | peak RSS MiB (main) | peak RSS MiB (largest child process) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            for num_proc in args.num_proc if size == max(args.sizes) else args.num_proc[:1]:
                r = measure(size, num_proc, folder)
                print(
                    f"| {r['documents']:,} | {num_proc} | {r['examples']:,} | {r['tokens']:,} | {r['load_s']:.1f} | "
                    f"{r['tokenize_s']:.1f} | {r['documents'] / r['tokenize_s']:,.0f} | {r['peak_rss_mib']:.0f} | "
                    f"{r['worker_peak_rss_mib']:.0f} |",
                    flush=True,
                )
    print(f"Load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
