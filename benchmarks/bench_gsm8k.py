"""A short GSM8K run of the default model on a CPU: step time, tokens/s and accuracy before and after training.

    python benchmarks/bench_gsm8k.py                                   # masked SFT, then regular SFT
    python benchmarks/bench_gsm8k.py --methods masked_sft --train_samples 32

Asks the first `--eval_samples` test problems 0-shot (greedy, chat template, `--max_new_tokens` new tokens) with the
base model, trains a fresh copy per method for one epoch on the first `--train_samples` training problems, asks again
and prints a markdown table. Step time and tokens/s (non-padding tokens) leave out the first step (warm-up).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.data.transforms import to_conversational
from trl_maskft.evaluation.answering import GreedyAnswerer
from trl_maskft.evaluation.generation import greedy_config
from trl_maskft.evaluation.tasks import GSM8K
from trl_maskft.evaluation.tasks.callback import evaluate_task
from trl_maskft.evaluation.tasks.gsm8k import load_gsm8k
from trl_maskft.runtime.default_model import resolve_model_path
from trl_maskft.runtime.precision import machine_header


class StepMeter(TrainerCallback):
    """Wall time and non-padding input tokens of every step."""

    def __init__(self):
        self.times, self.tokens, self.start, self.seen = [], [], 0.0, 0

    def on_step_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self.start)
        self.tokens.append(state.num_input_tokens_seen - self.seen)
        self.seen = state.num_input_tokens_seen


def train(method: str, path: str, tokenizer, dataset, args, output_dir: str):
    """A fresh model trained for one epoch by `method`, and its `StepMeter`."""
    common = dict(
        output_dir=output_dir,
        learning_rate=args.learning_rate,
        lr_scheduler_type="constant",
        num_train_epochs=1,
        per_device_train_batch_size=args.batch_size,
        use_cpu=True,
        bf16=False,  # fp32
        report_to="none",
        save_strategy="no",
        logging_steps=10**6,
        seed=0,
        activation_checkpointing=False,
        include_num_input_tokens_seen="non_padding",
    )
    model = AutoModelForCausalLM.from_pretrained(path)
    if method == "masked_sft":
        config = MaskedSFTConfig(mask_token=args.mask_token, max_length=1024, **common)
        trainer = MaskedSFTTrainer(model, args=config, train_dataset=dataset, processing_class=tokenizer)
    else:
        config = SFTConfig(max_length=512, **common)
        trainer = SFTTrainer(model, args=config, train_dataset=to_conversational(dataset), processing_class=tokenizer)
    meter = StepMeter()
    trainer.add_callback(meter)
    trainer.train()
    return trainer.model, meter


def evaluate(model, tokenizer, items, args) -> tuple[dict[str, float], float]:
    start = time.perf_counter()
    answerer = GreedyAnswerer(greedy_config(args.max_new_tokens), len(items))
    accuracy, _ = evaluate_task(model, tokenizer, GSM8K, items, answerer)
    return accuracy, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--data", default="../shared/data/gsm8k", help="folder of {train,test}.jsonl or a Hub id")
    parser.add_argument("--methods", nargs="+", default=["masked_sft", "sft"], choices=["masked_sft", "sft"])
    parser.add_argument("--train_samples", type=int, default=48)
    parser.add_argument("--eval_samples", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--learning_rate", type=float, default=2e-5)
    parser.add_argument("--max_new_tokens", type=int, default=256)
    parser.add_argument("--mask_token", default=" []", help="one token of the model's tokenizer")
    args = parser.parse_args()

    path = resolve_model_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    dataset = load_gsm8k(args.data, "train", max_samples=args.train_samples)
    items = GSM8K.qa_items(load_gsm8k(args.data, "test", max_samples=args.eval_samples))
    before, before_time = evaluate(AutoModelForCausalLM.from_pretrained(path), tokenizer, items, args)
    print(f"base model: {before} ({len(items)} questions, {before_time:.0f} s)")

    rows = []
    for method in args.methods:
        with tempfile.TemporaryDirectory() as out:
            model, meter = train(method, path, tokenizer, dataset, args, out)
        after, after_time = evaluate(model, tokenizer, items, args)
        timed = slice(1, None) if len(meter.times) > 1 else slice(None)
        step = statistics.median(meter.times[timed])
        tokens_per_s = sum(meter.tokens[timed]) / sum(meter.times[timed])
        rows.append(
            f"| {method} | {len(dataset)} | {len(meter.times)} | {step:.1f} | {tokens_per_s:.0f} | "
            f"{before['qa_gsm8k_exact_match']:.2f} -> {after['qa_gsm8k_exact_match']:.2f} | "
            f"{before['qa_gsm8k_flexible_match']:.2f} -> {after['qa_gsm8k_flexible_match']:.2f} | {after_time:.0f} |"
        )
        print(rows[-1], flush=True)

    print(f"\n{machine_header('no')}")  # every method trains with bf16=False (see `train`)
    print(
        f"model: {args.model}  batch: {args.batch_size}  "
        f"lr: {args.learning_rate}  eval: first {len(items)} test problems, {args.max_new_tokens} new tokens, greedy\n"
    )
    print("| method | train problems | steps | step time (s, median) | tokens/s | exact match (before -> after) | "
          "flexible match (before -> after) | eval time after (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
