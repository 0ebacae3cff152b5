"""Run under `torchrun --nproc_per_node 2` by test_replay_methods.py: `distributed_replay.py OUT_DIR INSTRUCTIONS`.

Trains masked SFT with self-replay (the base model's answers to INSTRUCTIONS, generated across both ranks) and
`kl_to_base`, and writes `OUT_DIR/results.json` from rank 0: the world size, every rank's replay inputs per step, and
the logged `replay_loss` and `kl_to_base`.
"""

import os
import sys

import torch.distributed as dist
from accelerate.utils import gather_object
from launched import record_batches, run_and_exit, save_and_end
from tiny import make_tiny_model, make_tiny_tokenizer
from trainer_kinds import DOCS, make_trainer


def main(out_dir: str, instructions: str) -> None:
    tokenizer = make_tiny_tokenizer()
    trainer = make_trainer(
        "masked_sft", os.path.join(out_dir, "run"), make_tiny_model(tokenizer), tokenizer, docs=DOCS[:4],
        replay_data="self", replay_ratio=0.5, kl_to_base=0.5, replay_instructions_file=instructions,
        replay_max_new_tokens=4, learning_rate=1e-2,
    )  # fmt: skip
    replay_inputs = record_batches(trainer, "replay_input_ids")
    trainer.train()
    logs = [{k: h[k] for k in ("replay_loss", "kl_to_base")} for h in trainer.state.log_history if "kl_to_base" in h]
    results = {"world_size": dist.get_world_size(), "replay": gather_object([replay_inputs]), "logs": logs}
    save_and_end(trainer, os.path.join(out_dir, "results.json"), results)


if __name__ == "__main__":
    run_and_exit(main, sys.argv[1], sys.argv[2])
