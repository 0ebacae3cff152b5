"""Diffusion SFT vs plain SFT step time on the same chats and model, and diffusion sampling throughput on CPU.

    python benchmarks/bench_diffusion.py                                  # tiny test model (seconds)
    python benchmarks/bench_diffusion.py --model smollm2-135m-instruct    # the default model

Both trainers get the built-in people as "Tell me a fact." -> document chats (what `scripts/diffusion_sft.py` trains
on) and the same batches; their median step times (warm-up steps excluded, runs alternated) are compared (target:
diffusion <= 1.1x plain). The sampler answers QA prompts with one token per step for block lengths 4 and 32; greedy
autoregressive generation (with a KV cache) is printed for reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

from trl_maskft import DiffusionAnswerer, GreedyAnswerer
from trl_maskft.data import build_people_dataset
from trl_maskft.data.transforms import sft_dataset
from trl_maskft.diffusion_sft.config import DiffusionSFTConfig
from trl_maskft.diffusion_sft.trainer import DiffusionSFTTrainer
from trl_maskft.evaluation.generation import chat_prompts, greedy_config
from trl_maskft.runtime.default_model import resolve_model_path
from trl_maskft.runtime.precision import machine_header

MASK = "<|mask|>"


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step after the first (warm-up)."""

    def __init__(self):
        self.times, self.start = [], None

    def on_step_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step > 1:
            self.times.append(time.perf_counter() - self.start)


def load(model_name: str):
    """Model and tokenizer: the tiny test model (``tiny``) or a path/alias resolved by `resolve_model_path`."""
    if model_name == "tiny":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
        from tiny import make_tiny_model, make_tiny_tokenizer

        tokenizer = make_tiny_tokenizer()
        return make_tiny_model(tokenizer), tokenizer
    path = resolve_model_path(model_name)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), AutoTokenizer.from_pretrained(path)


def step_times(trainer) -> list[float]:
    timer = StepTimer()
    trainer.add_callback(timer)
    trainer.train()
    return timer.times


def time_answers(answer, model, tokenizer, prompts) -> float:
    start = time.perf_counter()
    answer(model, tokenizer, prompts)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="'tiny' (tests/tiny.py) or a model path/alias.")
    parser.add_argument("--num_people", type=int, default=30)
    parser.add_argument("--steps", type=int, default=6, help="Steps per run; the first is not timed.")
    parser.add_argument("--repeats", type=int, default=2, help="Alternating plain/diffusion runs.")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--qa_items", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    args = parser.parse_args()

    knowledge = build_people_dataset(args.num_people, seed=0)
    dataset = sft_dataset(knowledge.documents, "Tell me a fact.")
    common = dict(
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=1e-5,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        logging_steps=10**6,
        seed=0,
        dataloader_drop_last=True,
    )
    times = {"plain": [], "diffusion": []}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.repeats):  # alternate, so that both see the same load of a shared machine
            model, tokenizer = load(args.model)
            plain = SFTTrainer(
                model, args=SFTConfig(output_dir=out, **common), train_dataset=dataset, processing_class=tokenizer
            )
            times["plain"] += step_times(plain)
            model, tokenizer = load(args.model)
            diffusion = DiffusionSFTTrainer(
                model, args=DiffusionSFTConfig(output_dir=out, mask_token=MASK, add_mask_token=True, **common),
                train_dataset=dataset, processing_class=tokenizer,
            )  # fmt: skip
            times["diffusion"] += step_times(diffusion)
    plain_time, diffusion_time = statistics.median(times["plain"]), statistics.median(times["diffusion"])
    print(machine_header(plain.args.mixed_precision))
    print(f"model: {args.model}  batch {args.batch_size}  "
          f"median of {len(times['plain'])} steps each ({args.repeats} alternating runs)")  # fmt: skip
    print(f"plain SFT step     : {plain_time:7.3f} s")
    print(f"diffusion SFT step : {diffusion_time:7.3f} s  ({diffusion_time / plain_time:.2f}x plain; target <= 1.1x)")

    model = diffusion.model.eval()
    prompts = chat_prompts(tokenizer, [item.question for item in knowledge.qa[: args.qa_items]])
    new_tokens = len(prompts) * args.max_new_tokens
    with torch.no_grad():
        for block_length in (4, 32):
            answer = DiffusionAnswerer(
                MASK, max_new_tokens=args.max_new_tokens, block_length=block_length, batch_size=len(prompts)
            )
            seconds = time_answers(answer, model, tokenizer, prompts)
            print(f"diffusion sampling, block length {block_length:2d}: {new_tokens / seconds:8.1f} tokens/s "
                  f"({len(prompts)} prompts x {args.max_new_tokens} tokens, {args.max_new_tokens} steps)")  # fmt: skip

        greedy = GreedyAnswerer(greedy_config(args.max_new_tokens), len(prompts))
        model.generation_config.eos_token_id = None  # generate exactly max_new_tokens for a fair count
        seconds = time_answers(greedy, model, tokenizer, prompts)
        print(f"greedy autoregressive (KV cache), for reference: {new_tokens / seconds:8.1f} tokens/s")


if __name__ == "__main__":
    main()
