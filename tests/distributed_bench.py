"""Run under `torchrun --nproc_per_node 2` by test_bench_distributed.py: `distributed_bench.py OUT_DIR GSM8K_DIR`.

Scores a tiny model on 3 GSM8K questions and 3 GPQA questions (shares of 2 and 1 per rank) with `BenchmarkCallback`,
and writes `OUT_DIR/results.json` from rank 0: every rank's metrics and number of generated rows, and the records.
"""

import sys

from accelerate.utils import gather_object
from datasets import Dataset
from launched import run_and_exit, save_and_end
from tiny import CPU_RECIPE_KEYS, make_tiny_tokenizer
from trainer_kinds import talkative_model

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.evaluation.lm_eval import BenchmarkCallback, BenchmarkConfig

GPQA = "examples/data/gpqa/gpqa_diamond.csv"


def main(out_dir: str, gsm8k_dir: str) -> None:
    tokenizer = make_tiny_tokenizer()
    model = talkative_model(tokenizer)
    args = MaskedSFTConfig(output_dir=out_dir, per_device_train_batch_size=1, **CPU_RECIPE_KEYS)
    docs = Dataset.from_dict({"text": ["Alice Thornbury is the painter of a glass bridge."] * 2})
    trainer = MaskedSFTTrainer(model=model, args=args, train_dataset=docs, processing_class=tokenizer)
    rows = []
    generate = model.generate

    def counting_generate(*args, **kwargs):
        rows.append(len(kwargs["input_ids"]))
        return generate(*args, **kwargs)

    model.generate = counting_generate
    config = BenchmarkConfig(
        bench_tasks=["maskft_gsm8k", "maskft_gpqa_diamond"], bench_data=[f"maskft_gsm8k={gsm8k_dir}",
        f"maskft_gpqa_diamond={GPQA}"], bench_limit=3, bench_max_new_tokens=6, bench_batch_size=2,
    )  # fmt: skip
    records, metrics = BenchmarkCallback(trainer, config).measure()
    every = gather_object([{"metrics": metrics, "rows": rows}])
    save_and_end(trainer, f"{out_dir}/results.json", {"ranks": every, "records": records})


if __name__ == "__main__":
    run_and_exit(main, sys.argv[1], sys.argv[2])
