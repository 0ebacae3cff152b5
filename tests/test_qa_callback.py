import json
import os
import socket
import sys

import processes
import pytest
from datasets import Dataset
from tiny import CPU_RECIPE_KEYS
from trainer_kinds import ITEMS, RightAt, talkative_model
from transformers import EarlyStoppingCallback, TrainerCallback

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer, QAEvalCallback
from trl_maskft.evaluation import scheduled as scheduled_eval
from trl_maskft.evaluation.answering import Answerer, GreedyAnswerer
from trl_maskft.evaluation.generation import chat_prompts, generate_answers, greedy_config
from trl_maskft.evaluation.qa_callback import score_answers
from trl_maskft.evaluation.qa_scoring import aggregate_scores
from trl_maskft.evaluation.scheduled import ScheduledEvalCallback

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(os.path.abspath(HERE))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def make_trainer(tmp_path, model, tokenizer, callbacks=None, **overrides):
    kwargs = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_train_epochs=2,
        learning_rate=1e-3,
        **CPU_RECIPE_KEYS,
    )
    args = MaskedSFTConfig(**{**kwargs, **overrides})
    docs = Dataset.from_dict({"text": ["Alice Thornbury is the painter of a glass bridge."] * 2})
    evals = docs if args.eval_strategy != "no" else None
    return MaskedSFTTrainer(
        model=model, args=args, train_dataset=docs, eval_dataset=evals, processing_class=tokenizer, callbacks=callbacks
    )


def test_batched_answers_equal_one_at_a_time_and_keep_padding_side(tmp_path, tiny_tokenizer):
    trainer = make_trainer(tmp_path, talkative_model(tiny_tokenizer), tiny_tokenizer)
    callback = QAEvalCallback(trainer, ITEMS, GreedyAnswerer(greedy_config(12), 3))
    tiny_tokenizer.padding_side = "right"
    batched = callback.answer(ITEMS)
    assert tiny_tokenizer.padding_side == "right"
    prompts = chat_prompts(tiny_tokenizer, [item.question for item in ITEMS])
    single = [generate_answers(trainer.model, tiny_tokenizer, [p], greedy_config(12))[0] for p in prompts]
    assert batched == single
    assert len(set(batched)) > 1  # a real model answering different questions, not one constant


def test_callback_logs_per_epoch_and_writes_generations(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer)
    callback = QAEvalCallback(trainer, ITEMS, GreedyAnswerer(greedy_config(8)), eval_every=1)
    callback.add_to_trainer()
    trainer.train()
    assert [h["epoch"] for h in callback.history] == [0, 1, 2]
    logged = [log for log in trainer.state.log_history if "qa_backward_rouge1" in log]
    assert [log["qa_epoch"] for log in logged] == [0, 1, 2]
    lines = (tmp_path / "qa_generations" / "epoch_2.jsonl").read_text().splitlines()
    assert [json.loads(line)["question"] for line in lines] == [item.question for item in ITEMS]
    assert len((tmp_path / "qa_metrics.jsonl").read_text().splitlines()) == 3


def test_eval_epochs_list(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, num_train_epochs=3)
    callback = QAEvalCallback(trainer, ITEMS[:2], GreedyAnswerer(greedy_config(4)), eval_epochs=[1, 3])
    trainer.add_callback(callback)
    trainer.train()
    assert [h["epoch"] for h in callback.history] == [1, 3]


class MetricsSeen(TrainerCallback):
    """Records the metrics of every evaluation as the callbacks after it see them."""

    def __init__(self):
        self.seen = []

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.seen.append((state.global_step, sorted(k for k in metrics if k.startswith("eval_qa_"))))


def test_evaluations_get_only_the_qa_metrics_of_their_step(tmp_path, tiny_model, tiny_tokenizer):
    # one step per epoch, an evaluation after every epoch, the QA items asked after epochs 0 and 2 (and 3, the end,
    # after the Trainer's last evaluation): only the evaluation of epoch 2 has QA metrics, none gets stale ones
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer, num_train_epochs=3, eval_strategy="epoch")
    seen = MetricsSeen()
    trainer.add_callback(seen)
    qa = QAEvalCallback(trainer, ITEMS[:2], GreedyAnswerer(greedy_config(4)), eval_every=2)
    qa.add_to_trainer()
    trainer.train()
    assert [row["epoch"] for row in qa.history] == [0, 2, 3]
    keys = sorted(f"eval_{key}" for key in qa.history[1] if key != "epoch")
    assert "eval_qa_backward_rouge1" in keys and seen.seen == [(1, []), (2, keys), (3, [])]


@pytest.mark.parametrize(
    "args,schedule,problem",
    [
        ({"eval_strategy": "steps", "eval_steps": 1}, {}, "eval_strategy=steps"),
        ({"eval_strategy": "epoch"}, {"eval_every": 2}, r"after epoch 1\."),
        ({"eval_strategy": "epoch"}, {"eval_epochs": [0, 2]}, r"after epoch 1\."),
    ],
)
def test_qa_metric_for_best_model_needs_a_qa_evaluation_at_every_evaluation(
    args, schedule, problem, tmp_path, tiny_model, tiny_tokenizer
):
    trainer = make_trainer(
        tmp_path, tiny_model, tiny_tokenizer, metric_for_best_model="eval_qa_forward_rouge1", **args
    )
    QAEvalCallback(trainer, ITEMS[:2], GreedyAnswerer(greedy_config(4)), **schedule).add_to_trainer()
    with pytest.raises(ValueError, match=problem) as error:
        trainer.train()
    assert "Set `eval_strategy: epoch` and `qa_eval_every: 1`" in str(error.value)
    assert trainer.state.global_step == 0 and not (tmp_path / "qa_metrics.jsonl").exists()  # refused at once


def test_best_metric_check_does_not_walk_an_endless_epoch_count(tmp_path, tiny_model, tiny_tokenizer):
    """An iterable dataset with `max_steps` makes `num_train_epochs` sys.maxsize: the check must still end at once."""
    trainer = make_trainer(
        tmp_path, tiny_model, tiny_tokenizer, metric_for_best_model="eval_qa_forward_rouge1", eval_strategy="epoch"
    )
    trainer.state.num_train_epochs = sys.maxsize
    every_epoch = QAEvalCallback(trainer, ITEMS[:2], GreedyAnswerer(greedy_config(4)))
    every_epoch.on_train_begin(trainer.args, trainer.state, trainer.control)  # no error, and it returns
    every_other = QAEvalCallback(trainer, ITEMS[:2], GreedyAnswerer(greedy_config(4)), eval_every=2)
    with pytest.raises(ValueError, match=r"after epoch 1\."):
        every_other.on_train_begin(trainer.args, trainer.state, trainer.control)


def test_an_epoch_is_asked_once_when_training_resumes_just_before_its_end(tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer)
    qa = QAEvalCallback(trainer, ITEMS[:2], GreedyAnswerer(greedy_config(4)))
    trainer.state.global_step, trainer.state.epoch = 299, 2.997  # a step checkpoint of epoch 3 (2 decimals: 3.0)
    trainer.state.log_history = [{"epoch": 0, "qa_epoch": 0, "qa_rouge1": 0.0, "step": 0}]
    qa.on_train_begin(trainer.args, trainer.state, trainer.control)
    assert [row["epoch"] for row in qa.history] == [0]  # epoch 3 is not over: not asked at the start
    trainer.state.global_step, trainer.state.epoch = 300, 3.0
    qa.on_epoch_end(trainer.args, trainer.state, trainer.control)
    qa.on_epoch_end(trainer.args, trainer.state, trainer.control)  # e.g. a checkpoint at the epoch's last step
    assert [row["epoch"] for row in qa.history] == [0, 3]


@pytest.mark.parametrize("first", [True, False])
def test_early_stopping_given_at_construction_sees_the_qa_metrics(first, tmp_path, tiny_model, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path,
        tiny_model,
        tiny_tokenizer,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=1)],
        num_train_epochs=4,
        eval_strategy="epoch",
        save_strategy="epoch",
        metric_for_best_model="eval_qa_backward_rouge1",
        load_best_model_at_end=True,
    )
    answers = RightAt(ITEMS, epochs=[1])
    answers.trainer = trainer
    qa = QAEvalCallback(trainer, ITEMS, answers)
    qa.add_to_trainer() if first else trainer.add_callback(qa)  # `add_callback` puts it after early stopping
    trainer.train()
    # best after epoch 1, worse after epoch 2: patience 1 stops there, unless early stopping never saw the metric
    assert trainer.state.epoch == (2 if first else 4)
    assert trainer.state.best_model_checkpoint == str(tmp_path / "checkpoint-1")


@pytest.mark.parametrize(
    "processes,zero3,fsdp,synced",
    [(2, True, False, True), (2, False, True, True), (2, False, False, False), (1, True, True, False)],
)
def test_generation_is_synced_when_parameters_are_sharded(
    processes, zero3, fsdp, synced, monkeypatch, tmp_path, tiny_model, tiny_tokenizer
):
    trainer = make_trainer(tmp_path, tiny_model, tiny_tokenizer)
    monkeypatch.setattr(type(trainer.accelerator), "num_processes", property(lambda self: processes))
    monkeypatch.setattr(scheduled_eval, "is_deepspeed_zero3_enabled", lambda: zero3)
    monkeypatch.setattr(trainer, "is_fsdp_enabled", fsdp)
    calls = []
    generate = tiny_model.generate

    def recording_generate(*args, synced_gpus, **kwargs):
        calls.append(synced_gpus)
        return generate(*args, synced_gpus=False, **kwargs)  # one real process: nothing to sync with

    monkeypatch.setattr(tiny_model, "generate", recording_generate)
    answers = QAEvalCallback(trainer, ITEMS, GreedyAnswerer(greedy_config(4), 2)).answer(ITEMS)
    assert len(answers) == len(ITEMS) and calls == [synced] * 3  # 3 batches, each synced (or not)
    seen = []

    class Recording(Answerer):
        def __call__(self, model, tokenizer, prompts, synced_gpus=False):
            seen.append(synced_gpus)
            return [""] * len(prompts)

    QAEvalCallback(trainer, ITEMS, Recording()).answer(ITEMS)
    assert seen == [synced]


@pytest.mark.distributed
def test_two_processes_answer_in_order_like_one(tmp_path, tiny_tokenizer):
    # launched the way the docs launch 2 CPU processes: accelerate's launcher with cpu_ddp2.yaml, on a free port
    script = os.path.join(HERE, "distributed_qa.py")
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    config = os.path.join(ROOT, "accelerate_configs", "cpu_ddp2.yaml")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config]
    cmd = [*launch, "--main_process_port", str(free_port()), script, str(tmp_path)]
    result = processes.run(cmd, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads((tmp_path / "answers.json").read_text())
    assert out["world_size"] == 2
    trainer = make_trainer(tmp_path / "single", talkative_model(tiny_tokenizer), tiny_tokenizer)
    single = QAEvalCallback(trainer, ITEMS, GreedyAnswerer(greedy_config(12), 2)).answer(ITEMS)
    assert out["answers"] == single and len(set(single)) > 1
    # the two ranks drew different masks for their different rows
    assert out["rank_masks"][0] != out["rank_masks"][1]


def test_the_generic_scheduled_evaluation_has_no_qa_defaults():
    assert not hasattr(ScheduledEvalCallback, "prefix") and not hasattr(ScheduledEvalCallback, "schedule_keys")
    assert QAEvalCallback.prefix == "qa" and QAEvalCallback.schedule_keys == ("qa_eval_every", "qa_eval_epochs")

    class Unnamed(ScheduledEvalCallback):
        pass

    with pytest.raises(TypeError, match="Unnamed must set `prefix` and `schedule_keys`"):
        Unnamed(trainer=None)
