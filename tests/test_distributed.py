"""Two CPU processes (torchrun, gloo): masks per rank, determinism per seed, and QA answers split, gathered in order
and scored like a single-process evaluation of the same model."""

import dataclasses
import json
import os
import shutil
from types import SimpleNamespace

import processes
import pytest
from accelerate import PartialState
from trainer_kinds import ITEMS, KINDS, make_trainer
from transformers import AutoModelForCausalLM, AutoTokenizer

from trl_maskft import QAEvalCallback
from trl_maskft.evaluation.qa_callback import drop_padding, score_answers
from trl_maskft.evaluation.qa_scoring import aggregate_scores

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("num_processes", [2, 3, 4, 8])
@pytest.mark.parametrize("num_items", [1, 5, 7, 30])
def test_padding_dropped_keeps_the_order(num_processes, num_items):
    """`split_between_processes` pads every short share at its end, i.e. in the middle of the gathered list once two
    or more ranks are short (e.g. 5 items on 4 ranks: 2, 1+1, 1+1, 1+1)."""
    items = list(range(num_items))
    shares = []
    for rank in range(num_processes):
        state = SimpleNamespace(num_processes=num_processes, process_index=rank)
        with PartialState.split_between_processes(state, items, apply_padding=True) as share:
            shares.append(list(share))
    assert len({len(share) for share in shares}) == 1  # every rank runs the same number of generations
    assert drop_padding(shares, num_items) == items


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """Every trainer kind trained twice under `torchrun --nproc_per_node 2` (see distributed_train.py)."""
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not installed")
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = ["torchrun", "--standalone", "--nproc_per_node", "2", os.path.join(HERE, "distributed_train.py"), str(out)]
    result = processes.run([*cmd, *KINDS], env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "results.json") as f:
        results = json.load(f)
    assert results["world_size"] == 2
    return out, results["results"]


@pytest.mark.distributed
@pytest.mark.parametrize("kind", KINDS)
def test_masks_differ_per_rank_and_runs_repeat_per_seed(ddp, kind):
    first, second = ddp[1][kind]
    rank0, rank1 = first["inputs"]
    assert len(rank0) == len(rank1) == len(first["losses"]) == 4
    # the same document on every row: the inputs differ only where the masks differ
    assert all(a != b for a, b in zip(rank0, rank1, strict=True))
    assert second["losses"] == first["losses"] and second["inputs"] == first["inputs"]


@pytest.mark.distributed
@pytest.mark.parametrize("kind", KINDS)
def test_qa_equals_single_process_evaluation_and_is_logged_once(ddp, kind, tmp_path):
    out, results = ddp
    run_dir = out / kind / "run0"
    history = results[kind][0]["history"]
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert len((run_dir / "qa_metrics.jsonl").read_text().splitlines()) == 3  # once, not once per rank
    with open(run_dir / "qa_generations" / "epoch_2.jsonl") as f:
        ddp_answers = [json.loads(line)["prediction"] for line in f]

    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    trainer = make_trainer(kind, tmp_path, AutoModelForCausalLM.from_pretrained(run_dir), tokenizer)
    qa = QAEvalCallback(trainer, ITEMS, dataclasses.replace(KINDS[kind].answerer, batch_size=5))
    answers = qa.answer(ITEMS)
    assert answers == ddp_answers and len(set(answers)) > 1
    assert aggregate_scores(score_answers(ITEMS, answers)) == pytest.approx(
        {k: v for k, v in history[-1].items() if k != "epoch"}
    )
