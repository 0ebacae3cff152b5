"""Run under `torchrun --nproc_per_node 2` by test_distributed.py: `distributed_train.py OUT_DIR KIND...`.

For each trainer kind, trains twice (same seed) with the QA callback on 8 copies of one document, so that the ranks'
inputs differ only by their masks, and writes `OUT_DIR/results.json` from rank 0: per run, the step losses, every
rank's masked inputs at every step, and the QA history. Each run saves its final model to `OUT_DIR/<kind>/run<i>`.
"""

import dataclasses
import json
import os
import sys

import torch.distributed as dist
from accelerate.utils import gather_object
from launched import record_batches, run_and_exit
from tiny import make_tiny_tokenizer
from trainer_kinds import DOCS, ITEMS, KINDS, losses, make_trainer, talkative_model

from trl_maskft import QAEvalCallback


def run(kind: str, output_dir: str) -> dict:
    tokenizer = make_tiny_tokenizer()
    trainer = make_trainer(kind, output_dir, talkative_model(tokenizer), tokenizer, docs=DOCS[:1] * 8)
    inputs = record_batches(trainer, "input_ids")
    qa = QAEvalCallback(trainer, ITEMS, dataclasses.replace(KINDS[kind].answerer, batch_size=2))
    qa.add_to_trainer()
    trainer.train()
    trainer.save_model()
    return {"losses": losses(trainer), "inputs": gather_object([inputs]), "history": qa.history}


def main(out_dir: str, kinds: list[str]) -> None:
    results = {kind: [run(kind, os.path.join(out_dir, kind, f"run{i}")) for i in range(2)] for kind in kinds}
    if dist.get_rank() == 0:
        with open(os.path.join(out_dir, "results.json"), "w") as f:
            json.dump({"world_size": dist.get_world_size(), "results": results}, f)
    dist.destroy_process_group()  # exiting with gloo's threads alive can abort ("terminate called without...")


if __name__ == "__main__":
    run_and_exit(main, sys.argv[1], sys.argv[2:])
