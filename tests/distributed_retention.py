"""Run under 2 CPU processes: retention's metrics and records across processes (see test_retention)."""

import sys

import torch.distributed as dist
from launched import run_and_exit, save_and_end
from tiny import make_tiny_tokenizer
from trainer_kinds import make_trainer, talkative_model

from trl_maskft.data.known_facts import load_known_facts
from trl_maskft.evaluation.answering import GreedyAnswerer
from trl_maskft.evaluation.retention import RetentionCallback, RetentionConfig

INSTRUCTIONS = ["Write a short poem.", "Say hello.", "Describe a cat.", "Name a color.", "Count to three."]
TEXTS = ["Cats sleep a lot.", "The river runs to the sea, past the old mill.", "Bread is baked in ovens."]


def measure(out_dir) -> tuple[list[dict], dict]:
    """Epoch 0 and a second measure of the same tiny model (5 facts, 5 instructions, 3 texts: odd shares)."""
    tokenizer = make_tiny_tokenizer()
    trainer = make_trainer("masked_sft", out_dir, talkative_model(tokenizer), tokenizer)
    config = RetentionConfig(retain_max_new_tokens=6, retain_self_max_new_tokens=6, retain_batch_size=2)
    facts = load_known_facts()[:5]
    callback = RetentionCallback(trainer, config, GreedyAnswerer(batch_size=2), facts, INSTRUCTIONS, TEXTS)
    callback.evaluate(0)
    records, metrics = callback.measure()
    return trainer, records, metrics


def main(out_dir):
    trainer, records, metrics = measure(out_dir)
    results = {"world_size": dist.get_world_size(), "records": records, "metrics": metrics}
    save_and_end(trainer, f"{out_dir}/retention.json", results)


if __name__ == "__main__":
    run_and_exit(main, sys.argv[1])
