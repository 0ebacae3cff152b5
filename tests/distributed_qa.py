"""Run under `torchrun --nproc_per_node 2`: QA answers and masks across two CPU processes (see test_qa_callback)."""

import sys

import torch.distributed as dist
from accelerate.utils import gather_object
from datasets import Dataset
from launched import run_and_exit, save_and_end
from tiny import make_tiny_tokenizer
from trainer_kinds import ITEMS, talkative_model

from trl_maskft import GreedyAnswerer, MaskedSFTConfig, MaskedSFTTrainer, QAEvalCallback
from trl_maskft.evaluation.generation import greedy_config


def main(out_dir):
    tokenizer = make_tiny_tokenizer()
    args = MaskedSFTConfig(
        output_dir=out_dir, per_device_train_batch_size=1, report_to="none", use_cpu=True, bf16=False
    )
    docs = Dataset.from_dict({"text": ["Alice Thornbury is the painter of a glass bridge."] * 2})
    trainer = MaskedSFTTrainer(
        model=talkative_model(tokenizer), args=args, train_dataset=docs, processing_class=tokenizer
    )
    answers = QAEvalCallback(trainer, ITEMS, GreedyAnswerer(greedy_config(12), 2)).answer(ITEMS)
    batch = next(iter(trainer.get_train_dataloader()))
    masks = gather_object([batch["input_ids"].tolist()])
    results = {"world_size": dist.get_world_size(), "answers": answers, "rank_masks": masks}
    save_and_end(trainer, f"{out_dir}/answers.json", results)


if __name__ == "__main__":
    run_and_exit(main, sys.argv[1])
