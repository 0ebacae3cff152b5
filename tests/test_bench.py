"""lm-evaluation-harness benchmarks: the project's tasks on local data, their scorers against the project's own, the
checks of bad input, the live model (PEFT too), sharded generation, and a training run scored again from the command
line. Tiny models and 2-4 questions per task."""

import json
import os
import random
from types import SimpleNamespace

import pytest
import torch
from tiny import MASK_TOKEN, make_tiny_model, make_tiny_tokenizer, save_tiny_model, write_gsm8k_dir, write_tiny_recipe
from trainer_kinds import talkative_model

from trl_maskft.evaluation.lm_eval import BenchmarkCallback, BenchmarkConfig
from trl_maskft.evaluation.lm_eval.task_functions import gpqa_choices
from trl_maskft.evaluation.tasks import GSM8K
from trl_maskft.evaluation.tasks import loading as loading_module
from trl_maskft.evaluation.tasks.gsm8k import load_gsm8k
from trl_maskft.scripts import evaluate, masked_sft

harness = pytest.importorskip("trl_maskft.evaluation.lm_eval.harness", exc_type=ImportError)
from lm_eval import evaluator  # noqa: E402
from lm_eval.api.model import LM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MATH = f"maskft_math={ROOT}/examples/data/math"
GPQA = f"maskft_gpqa_diamond={ROOT}/examples/data/gpqa/gpqa_diamond.csv"
ROWS = [
    {"question": "Ann has 3 apples and buys 4 more. How many has she?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
    {"question": "A pen costs $2. How much do 600 pens cost?", "answer": "600 * 2 = <<600*2=1200>>1200\n#### 1,200"},
    {"question": "It is 5 degrees and drops by 8. What is it now?", "answer": "5 - 8 = <<5-8=-3>>-3\n#### -3"},
]  # fmt: skip


class CannedLM(LM):
    """Answers each question with the generation `replies` holds for the text after its "Question: ", cut at the
    stop sequences as lm-eval's HF model cuts them."""

    def __init__(self, replies):
        super().__init__()
        self.replies = replies

    def generate_until(self, requests, disable_tqdm=False):
        outputs = []
        for request in requests:
            context, kwargs = request.args
            text = self.replies[context.split("Question: ")[-1].split("\n")[0].split("Problem: ")[-1]]
            for stop in kwargs["until"]:
                text = text.split(stop)[0]
            outputs.append(text)
        return outputs

    def loglikelihood(self, requests):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError


def gsm8k_config(folder, **keys):
    return BenchmarkConfig(bench_tasks=["maskft_gsm8k"], bench_data=[f"maskft_gsm8k={folder}"], **keys)


# The same generations scored by the project's GSM8K rules and by lm-eval's gsm8k filters (maskft_gsm8k): they agree
# on usual answers and differ where docs/benchmarks_eval.md says.
AGREE = [
    ("#### 18", "18"), ("So the total is 3 + 4 = 7 apples.", "7"), ("It costs $1,200 in all.", "1200"),
    ("#### -3", "-3"), ("The answer is 72.", "72"), ("She picks 10-12 apples, so 12", "12"), ("3 apples", "3"),
    ("No idea.", "4"), ("#### 6\nso 6", "7"),
]  # fmt: skip
DIFFER = {  # generation, reference: (own exact, lm-eval strict, own flexible, lm-eval flexible)
    ("#### 3.50", "3.5"): (1.0, 0.0, 1.0, 0.0),  # lm-eval compares strings: "3.50" is not "3.5"
    ("#### $-5", "-5"): (1.0, 0.0, 1.0, 1.0),  # its strict regex wants the sign right after "#### "
    ("#### 1,2345", "12345"): (0.0, 1.0, 0.0, 1.0),  # it drops every comma; ours refuses a malformed group
    ("It is \u22124 degrees.", "-4"): (0.0, 0.0, 1.0, 0.0),  # ours reads the Unicode minus sign
    ("#### 5\nQuestion: x?\nAnswer: 9", "5"): (1.0, 1.0, 0.0, 1.0),  # it cuts the generation at "Question:"
}


def test_own_and_lm_eval_gsm8k_scorers_on_the_same_generations(tmp_path):
    cases = AGREE + list(DIFFER)
    rows = [{"question": f"Problem number {i}?", "answer": f"Work.\n#### {ref}"} for i, (_, ref) in enumerate(cases)]
    folder = write_gsm8k_dir(tmp_path / "gsm8k", rows)
    replies = {row["question"]: generation for row, (generation, _) in zip(rows, cases, strict=True)}
    benchmarks = harness.Benchmarks(gsm8k_config(folder))
    out = evaluator.simple_evaluate(
        model=CannedLM(replies), tasks=list(benchmarks.tasks.values()), task_manager=benchmarks.task_manager,
        bootstrap_iters=0, **benchmarks.config.evaluate_kwargs() | {"apply_chat_template": False},
    )  # fmt: skip
    theirs = {(s["doc_id"], s["filter"]): s["exact_match"] for s in out["samples"]["maskft_gsm8k"]}
    ours = GSM8K.score(GSM8K.qa_items(load_gsm8k(str(folder), "test")), [generation for generation, _ in cases])
    verdicts = [
        (own["exact_match"], theirs[i, "strict-match"], own["flexible_match"], theirs[i, "flexible-extract"])
        for i, own in enumerate(ours)
    ]
    assert all(own == lm_eval for own, lm_eval, _, _ in verdicts[: len(AGREE)])
    assert all(own == lm_eval for _, _, own, lm_eval in verdicts[: len(AGREE)])
    assert {sum(v[0] for v in verdicts[: len(AGREE)]), sum(v[2] for v in verdicts[: len(AGREE)])} != {0}
    assert verdicts[len(AGREE) :] == list(DIFFER.values())


def test_math_is_scored_by_math_verify_on_the_boxed_answer():
    config = BenchmarkConfig(bench_tasks=["maskft_math"], bench_data=[MATH], bench_limit=3)
    benchmarks = harness.Benchmarks(config)
    docs = list(benchmarks.tasks["maskft_math"].eval_docs)[:3]  # answers 12, 5, 1/2
    replies = dict(zip([d["problem"] for d in docs], ["\\boxed{12}", "x = 6", "so \\boxed{0.5}"], strict=True))
    out = evaluator.simple_evaluate(
        model=CannedLM(replies), tasks=list(benchmarks.tasks.values()), task_manager=benchmarks.task_manager,
        bootstrap_iters=0, **config.evaluate_kwargs() | {"apply_chat_template": False},
    )  # fmt: skip
    assert out["results"]["maskft_math"]["math_verify,none"] == pytest.approx(2 / 3)
    assert out["results"]["maskft_math"]["exact_match,none"] == pytest.approx(1 / 3)


def test_gpqa_answer_order_depends_on_the_question_alone():
    doc = {"Question": "Q1?", "Correct Answer": "right", **{f"Incorrect Answer {i}": f"wrong {i}" for i in (1, 2, 3)}}
    first = gpqa_choices(doc)
    random.seed(123)
    assert gpqa_choices(doc) == first  # not the global random state
    assert first[f"choice{'ABCD'.index(first['answer'][1]) + 1}"] == "right"
    letters = {gpqa_choices({**doc, "Question": f"Q{i}?"})["answer"] for i in range(20)}
    assert len(letters) > 1


def test_unknown_tasks_list_close_matches_and_offline_data_names_the_key(monkeypatch):
    with pytest.raises(ValueError, match=r"Unknown lm-eval task 'maskft_gsm8'.*Did you mean maskft_gsm8k"):
        harness.Benchmarks(BenchmarkConfig(bench_tasks=["maskft_gsm8"]))

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hub (offline)")

    monkeypatch.setattr(loading_module.datasets, "load_dataset", offline)  # lm-eval's loads go through it too
    with pytest.raises(ValueError, match=r"MATH dataset .*Hub failed(.|\n)*`bench_data: \[maskft_math=<path>\]`"):
        harness.Benchmarks(BenchmarkConfig(bench_tasks=["maskft_math"]))
    with pytest.raises(ValueError, match=r"'gsm8k' could not load its data(.|\n)*read local files: maskft_gpqa"):
        harness.Benchmarks(BenchmarkConfig(bench_tasks=["gsm8k"]))


def test_fewshot_counts_beyond_the_examples_are_refused(tmp_path):
    only_test = write_gsm8k_dir(tmp_path / "a", ROWS)
    os.remove(only_test / "train.jsonl")
    assert harness.Benchmarks(gsm8k_config(only_test)).tasks  # 0-shot needs no examples
    with pytest.raises(ValueError, match=r"`bench_num_fewshot: 1` asks for more .*'maskft_gsm8k' has \(0\)"):
        harness.Benchmarks(gsm8k_config(only_test, bench_num_fewshot=1))
    two = write_gsm8k_dir(tmp_path / "b", ROWS[:2], test_rows=ROWS)
    assert harness.Benchmarks(gsm8k_config(two, bench_num_fewshot=2)).tasks
    with pytest.raises(ValueError, match=r"has \(2\)"):
        harness.Benchmarks(gsm8k_config(two, bench_num_fewshot=3))
    with pytest.raises(ValueError, match=r"has \(5\)"):  # GPQA's examples are its 6 questions, less the one asked
        harness.Benchmarks(
            BenchmarkConfig(bench_tasks=["maskft_gpqa_diamond"], bench_data=[GPQA], bench_num_fewshot=6)
        )


def gpqa_loglikelihoods(model, tokenizer, **keys):
    config = BenchmarkConfig(bench_tasks=["maskft_gpqa_diamond"], bench_data=[GPQA], bench_limit=2, **keys)
    metrics, records = harness.Benchmarks(config).evaluate(model, tokenizer)
    assert set(metrics) == {"bench_maskft_gpqa_diamond_acc", "bench_maskft_gpqa_diamond_acc_norm"}
    return [loglikelihood for record in records for ((loglikelihood, _),) in record["responses"]]


def test_a_peft_model_is_scored_with_its_adapter():
    from peft import LoraConfig, get_peft_model

    tokenizer = make_tiny_tokenizer()
    base = gpqa_loglikelihoods(make_tiny_model(tokenizer), tokenizer)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(1)
    peft_model = get_peft_model(make_tiny_model(tokenizer), lora)
    with_adapter = gpqa_loglikelihoods(peft_model, tokenizer)
    assert with_adapter != base
    merged = gpqa_loglikelihoods(peft_model.merge_and_unload(), tokenizer)
    assert len(merged) == 8 and merged == pytest.approx(with_adapter, abs=1e-4)


def test_sharded_parameters_sync_every_generation_and_training_randomness_is_kept(monkeypatch, tmp_path):
    tokenizer = make_tiny_tokenizer()
    model = talkative_model(tokenizer)
    calls = []
    generate = model.generate

    def recording_generate(*args, synced_gpus=False, **kwargs):
        calls.append(synced_gpus)
        return generate(*args, **kwargs)  # one real process: nothing to sync with

    monkeypatch.setattr(model, "generate", recording_generate)
    benchmarks = harness.Benchmarks(gsm8k_config(write_gsm8k_dir(tmp_path, ROWS), bench_max_new_tokens=4))
    random.seed(5)
    torch.manual_seed(5)
    before = random.random(), torch.rand(1)
    random.seed(5)
    torch.manual_seed(5)
    sharded, _ = benchmarks.evaluate(model, tokenizer, sharded=True)
    assert (random.random(), torch.rand(1)) == before  # lm-eval seeds the generators: they are restored
    assert calls == [True]  # one batch of 3 questions
    assert benchmarks.evaluate(model, tokenizer)[0] == sharded and calls == [True, False]
    lm = harness.LiveLM(model, tokenizer, 2, SimpleNamespace(num_processes=2, process_index=1), logits_cache=False)
    assert (lm.rank, lm.world_size, lm.logits_cache) == (1, 2, False)  # questions shared out, no context grouping
    assert harness.LiveLM(model, tokenizer, 2).world_size == 1


def test_a_run_logs_benchmarks_and_its_saved_model_scores_the_same_from_the_command_line(tmp_path):
    save_tiny_model(tmp_path / "model")
    keys = {
        "task": "gsm8k", "dataset_name": str(write_gsm8k_dir(tmp_path / "gsm8k", ROWS)), "qa_max_items": 2,
        "qa_max_new_tokens": 4, "num_train_epochs": 1, "per_device_train_batch_size": 3, "learning_rate": 1e-3,
        "mask_token": MASK_TOKEN, "eval_strategy": "epoch",
        "metric_for_best_model": "eval_bench_maskft_gpqa_diamond_acc",
        "bench_tasks": ["maskft_gsm8k", "maskft_math", "maskft_gpqa_diamond"], "bench_limit": 2,
        "bench_max_new_tokens": 4, "bench_batch_size": 2, "bench_data": [f"maskft_gsm8k={tmp_path}/gsm8k", MATH, GPQA],
    }  # fmt: skip
    recipe = write_tiny_recipe(tmp_path, **keys)
    trainer = masked_sft.main(["--config", recipe]).trainer
    bench = next(c for c in trainer.callback_handler.callbacks if isinstance(c, BenchmarkCallback))
    assert [row["epoch"] for row in bench.history] == [0, 1]
    assert trainer.state.best_metric == bench.history[-1]["bench_maskft_gpqa_diamond_acc"]  # seen by the Trainer
    out = tmp_path / "out"
    assert len((out / "bench_metrics.jsonl").read_text().splitlines()) == 2
    records = [[json.loads(line) for line in open(out / "bench_generations" / f"epoch_{k}.jsonl")] for k in (0, 1)]
    assert {r["task"] for r in records[1]} == {"maskft_gsm8k", "maskft_math", "maskft_gpqa_diamond"}
    gpqa = [[r["responses"] for r in epoch if r["task"] == "maskft_gpqa_diamond"] for epoch in records]
    assert gpqa[0] != gpqa[1]  # the model being trained, not a copy
    card = (out / "README.md").read_text()
    assert "QA accuracy" not in card and "GSM8K accuracy" in card and "Benchmarks (lm-evaluation-harness)" in card
    assert "python -m trl_maskft.scripts.evaluate --model_name_or_path" in card
    metrics = evaluate.main(["--recipe", recipe, "--output_dir", str(tmp_path / "eval")])
    assert metrics == {k: v for k, v in bench.history[-1].items() if k != "epoch"}
    saved = json.loads((tmp_path / "eval" / "bench_results.json").read_text())
    assert saved["metrics"] == metrics and saved["settings"]["bench_limit"] == 2
    with pytest.raises(ValueError, match=r"`metric_for_best_model=eval_bench_maskft_gsm8k_accuracy` is not a metric"):
        bench.on_train_begin(
            SimpleNamespace(metric_for_best_model="eval_bench_maskft_gsm8k_accuracy"), trainer.state, None
        )
