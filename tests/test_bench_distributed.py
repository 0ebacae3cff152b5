"""Benchmarks on two CPU processes (torchrun, gloo): the questions shared out, the same metrics on every rank and as
on one process."""

import json
import os
import shutil

import processes
import pytest
from tiny import make_tiny_tokenizer, write_gsm8k_dir
from trainer_kinds import talkative_model

from trl_maskft.evaluation.lm_eval import BenchmarkConfig

harness = pytest.importorskip("trl_maskft.evaluation.lm_eval.harness", exc_type=ImportError)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROWS = [
    {"question": f"Tom has {n} cats and gets 2 more. How many has he?", "answer": f"#### {n + 2}"} for n in (1, 2, 4)
]


@pytest.mark.distributed
def test_two_processes_share_the_questions_and_agree_with_one(tmp_path):
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not installed")
    gsm8k = write_gsm8k_dir(tmp_path / "gsm8k", ROWS)
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    script = os.path.join(HERE, "distributed_bench.py")
    cmd = ["torchrun", "--standalone", "--nproc_per_node", "2", script, str(tmp_path), str(gsm8k)]
    result = processes.run(cmd, env=env, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    ranks = results["ranks"]
    assert ranks[0]["metrics"] == ranks[1]["metrics"]  # broadcast from the main process
    assert [rank["rows"] for rank in ranks] == [[2], [2]]  # 2 + 1 questions, the short share padded by lm-eval

    tokenizer = make_tiny_tokenizer()
    config = BenchmarkConfig(
        bench_tasks=["maskft_gsm8k", "maskft_gpqa_diamond"], bench_limit=3, bench_max_new_tokens=6, bench_batch_size=2,
        bench_data=[f"maskft_gsm8k={gsm8k}", f"maskft_gpqa_diamond={ROOT}/examples/data/gpqa/gpqa_diamond.csv"],
    )  # fmt: skip
    metrics, records = harness.Benchmarks(config).evaluate(talkative_model(tokenizer), tokenizer)
    assert ranks[0]["metrics"] == metrics

    def comparable(record_list):  # in question order; log-likelihoods to 4 decimals (batches differ in padding)
        rounded = [json.loads(json.dumps(r), parse_float=lambda x: round(float(x), 4)) for r in record_list]
        return sorted(rounded, key=lambda r: (r["task"], r["filter"], r["doc_id"]))

    assert comparable(results["records"]) == comparable(records)  # every question once, the same answers
