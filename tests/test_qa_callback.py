import json
import os
import shutil
import subprocess

import pytest
from datasets import Dataset
from tiny import make_tiny_model

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer, QAEvalCallback
from trl_maskft.callbacks import score_answers
from trl_maskft.data.schema import QAItem
from trl_maskft.generation import chat_prompts, greedy_generate
from trl_maskft.metrics import aggregate_scores

HERE = os.path.dirname(__file__)

ITEMS = [
    QAItem(question="Who is Alice Thornbury?", answers=("the painter of a glass bridge",), direction="forward"),
    QAItem(question="Who is the painter of a glass bridge?", answers=("Alice Thornbury",), direction="backward"),
    QAItem(question="Who is Bob Quillfeather?", answers=("the pilot of a red lighthouse",), direction="forward"),
    QAItem(question="Who is the pilot of a red lighthouse?", answers=("Bob Quillfeather",), direction="backward"),
    QAItem(question="Where does Clara Ashgrove live?", answers=("Lisbon",), direction="forward", group="city"),
]


def test_scores_on_hand_made_answers():
    predictions = [
        "She is the painter of a glass bridge.",  # full recall
        "That was Alice Smith.",  # half the name
        "He is a pilot.",  # "pilot" of {pilot, red, lighthouse}
        "I don't know.",
        "Clara lives in Lisbon, Portugal.",
    ]
    records = score_answers(ITEMS, predictions)
    assert [r["rouge1"] for r in records] == pytest.approx([1.0, 0.5, 1 / 3, 0.0, 1.0])
    assert [r["contains"] for r in records] == [1.0, 0.0, 0.0, 0.0, 1.0]
    metrics = aggregate_scores(records)
    assert metrics["qa_forward_rouge1"] == pytest.approx((1.0 + 1 / 3 + 1.0) / 3)
    assert metrics["qa_backward_rouge1"] == pytest.approx(0.25)
    assert metrics["qa_forward_contains"] == pytest.approx(2 / 3)
    assert metrics["qa_forward_city_rouge1"] == pytest.approx(1.0)


def make_trainer(tmp_path, model, tokenizer, **overrides):
    kwargs = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_train_epochs=2,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        learning_rate=1e-3,
    )
    args = MaskedSFTConfig(**{**kwargs, **overrides})
    docs = Dataset.from_dict({"text": ["Alice Thornbury is the painter of a glass bridge."] * 2})
    eval_docs = docs if args.eval_strategy != "no" else None
    return MaskedSFTTrainer(
        model=model, args=args, train_dataset=docs, eval_dataset=eval_docs, processing_class=tokenizer
    )


def talkative_model(tokenizer):
    """A random tiny model with large weights, so that different questions get different answers."""
    model = make_tiny_model(tokenizer, initializer_range=0.5)
    model.generation_config.eos_token_id = None
    return model


def test_batched_answers_equal_one_at_a_time_and_keep_padding_side(tmp_path, tiny_tokenizer):
    trainer = make_trainer(tmp_path, talkative_model(tiny_tokenizer), tiny_tokenizer)
    callback = QAEvalCallback(trainer, ITEMS, max_new_tokens=12, batch_size=3)
    tiny_tokenizer.padding_side = "right"
    batched = callback.answer(ITEMS)
    assert tiny_tokenizer.padding_side == "right"
    prompts = chat_prompts(tiny_tokenizer, [item.question for item in ITEMS])
    single = [greedy_generate(trainer.model, tiny_tokenizer, [p], max_new_tokens=12)[0] for p in prompts]
    assert batched == single
    assert len(set(batched)) > 1  # a real model answering different questions, not one constant


def test_callback_logs_per_epoch_and_writes_generations(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path, tiny_model, tiny_tokenizer, eval_strategy="epoch", metric_for_best_model="eval_qa_backward_rouge1"
    )
    callback = QAEvalCallback(trainer, ITEMS, max_new_tokens=8, eval_every=1)
    trainer.add_callback(callback)
    trainer.train()
    assert [h["epoch"] for h in callback.history] == [0, 1, 2]
    logged = [log for log in trainer.state.log_history if "qa_backward_rouge1" in log]
    assert [log["qa_epoch"] for log in logged] == [0, 1, 2]
    evals = [log for log in trainer.state.log_history if "eval_loss" in log]
    assert len(evals) == 2 and trainer.state.best_metric == max(h["qa_backward_rouge1"] for h in callback.history[1:])
    lines = (tmp_path / "qa_generations" / "epoch_2.jsonl").read_text().splitlines()
    assert [json.loads(line)["question"] for line in lines] == [item.question for item in ITEMS]
    assert len((tmp_path / "qa_metrics.jsonl").read_text().splitlines()) == 3


def test_eval_epochs_list(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, num_train_epochs=3)
    callback = QAEvalCallback(trainer, ITEMS[:2], max_new_tokens=4, eval_epochs=[1, 3])
    trainer.add_callback(callback)
    trainer.train()
    assert [h["epoch"] for h in callback.history] == [1, 3]


@pytest.mark.distributed
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_two_processes_answer_in_order_like_one(tmp_path, tiny_tokenizer):
    script = os.path.join(HERE, "distributed_qa.py")
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = ["torchrun", "--nproc_per_node", "2", "--master_port", "29517", script, str(tmp_path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads((tmp_path / "answers.json").read_text())
    assert out["world_size"] == 2
    trainer = make_trainer(tmp_path / "single", talkative_model(tiny_tokenizer), tiny_tokenizer)
    single = QAEvalCallback(trainer, ITEMS, max_new_tokens=12, batch_size=2).answer(ITEMS)
    assert out["answers"] == single and len(set(single)) > 1
    # the two ranks drew different masks for their different rows
    assert out["rank_masks"][0] != out["rank_masks"][1]
