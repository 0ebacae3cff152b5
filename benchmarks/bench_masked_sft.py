"""Masked SFT vs plain SFT throughput on the same sequences, padding, and batched vs one-at-a-time QA generation.

    python benchmarks/bench_masked_sft.py                       # default model, 30 people
    python benchmarks/bench_masked_sft.py --steps 20 --batch_size 8

Prints tokens/s of `MaskedSFTTrainer` and of the plain SFT baselines' trainer (`BaselineSFTTrainer`) given the very
same token sequences (unmasked), the padding fraction of the collated batches, and the speed-up of the QA callback's
batched greedy generation over asking one question at a time. fp32 unless `--bf16`.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from trl_maskft import BaselineSFTConfig, GreedyAnswerer, MaskedSFTConfig, MaskedSFTTrainer, QAEvalCallback
from trl_maskft.baselines.trainer import BaselineSFTTrainer
from trl_maskft.data import build_people_dataset
from trl_maskft.evaluation.generation import greedy_config
from trl_maskft.runtime.default_model import resolve_model_path
from trl_maskft.runtime.precision import machine_header


class StepTimer(TrainerCallback):
    """Wall time and real (non-pad) tokens of every step after the first (warm-up)."""

    def __init__(self):
        self.times, self.start = [], None

    def on_step_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step > 1:
            self.times.append(time.perf_counter() - self.start)


def run(trainer, timer) -> float:
    trainer.add_callback(timer)
    trainer.train()
    return sum(timer.times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--mask_token", default=" []", help="one token of the model's tokenizer")
    parser.add_argument("--num_people", type=int, default=30)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--qa_items", type=int, default=16)
    parser.add_argument("--qa_max_new_tokens", type=int, default=32)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (pays only with AVX512-BF16/AMX)")
    args = parser.parse_args()
    torch.manual_seed(0)

    path = resolve_model_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    knowledge = build_people_dataset(args.num_people, seed=0)
    common = dict(
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=1e-5,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=args.bf16,  # fp32 unless --bf16 (bf16 autocast: worth it only with AVX512-BF16/AMX)
        logging_steps=10**6,
        seed=0,
        dataloader_drop_last=True,
        activation_checkpointing=False,
    )
    with tempfile.TemporaryDirectory() as out:

        def masked_trainer():
            return MaskedSFTTrainer(
                model=AutoModelForCausalLM.from_pretrained(path),
                args=MaskedSFTConfig(output_dir=out, mask_token=args.mask_token, **common),
                train_dataset=knowledge.documents_dataset(),
                processing_class=tokenizer,
            )

        masked = masked_trainer()
        rows = masked.train_dataset

        def plain_trainer():
            return BaselineSFTTrainer(  # the baselines' trainer: the same loss path as masked SFT's
                model=AutoModelForCausalLM.from_pretrained(path),
                args=BaselineSFTConfig(output_dir=out, dataset_kwargs={"skip_prepare_dataset": True}, **common),
                train_dataset=rows.select_columns(["input_ids", "labels"]),
                processing_class=tokenizer,
            )

        batches = [masked.data_collator([rows[i] for i in range(s, min(s + args.batch_size, len(rows)))])
                   for s in range(0, len(rows), args.batch_size)]  # fmt: skip
        real = sum(int(b["attention_mask"].sum()) for b in batches)
        total = sum(b["attention_mask"].numel() for b in batches)
        tokens_per_step = real / len(batches)
        # Alternate the arms and keep each one's best repeat, so that load from other processes hits both alike.
        times = {"plain": [], "masked": []}
        for _ in range(args.repeats):
            times["plain"].append(run(plain_trainer(), StepTimer()))
            times["masked"].append(run(masked_trainer(), StepTimer()))

        timed_steps = args.steps - 1
        plain_tps = tokens_per_step * timed_steps / min(times["plain"])
        masked_tps = tokens_per_step * timed_steps / min(times["masked"])
        print(machine_header(masked.args.mixed_precision))
        print(f"model: {args.model}  batch {args.batch_size}  steps timed {timed_steps} x {args.repeats} repeats")
        print(f"padding fraction of collated batches: {1 - real / total:.3f}")
        print(f"plain SFT  : {plain_tps:8.1f} tokens/s")
        print(f"masked SFT : {masked_tps:8.1f} tokens/s  ({masked_tps / plain_tps:.3f}x plain; target >= 0.95x)")

        items = knowledge.qa[: args.qa_items]
        answerer = GreedyAnswerer(greedy_config(args.qa_max_new_tokens), len(items))
        callback = QAEvalCallback(masked, items, answerer)
        start = time.perf_counter()
        callback.answer(items)
        batched = time.perf_counter() - start
        answerer.batch_size = 1
        start = time.perf_counter()
        callback.answer(items)
        single = time.perf_counter() - start
        print(f"QA generation, {len(items)} questions x {args.qa_max_new_tokens} new tokens: batched {batched:.1f} s, "
              f"one at a time {single:.1f} s, speed-up {single / batched:.1f}x (target >= 5x)")  # fmt: skip


if __name__ == "__main__":
    main()
