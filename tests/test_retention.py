"""Retention (`trl_maskft.evaluation.retention`): each metric on a tiny model, the NLL against a hand computation, the
reports, and the bad inputs refused before the model is loaded."""

import importlib
import json
import math
import os
import sys

import distributed_retention
import processes
import pytest
import torch
from test_qa_callback import free_port
from tiny import MASK_TOKEN, save_tiny_model, write_instructions, write_jsonl, write_tiny_recipe
from trainer_kinds import DOCS, KINDS, make_trainer, talkative_model

from trl_maskft.data.known_facts import load_known_facts
from trl_maskft.data.schema import QAItem
from trl_maskft.evaluation.answering import GreedyAnswerer
from trl_maskft.evaluation.generation import chat_prompts, generate_answers, greedy_config
from trl_maskft.evaluation.reporting import comparison_table, plot_rouge1
from trl_maskft.evaluation.retention import RetentionCallback, RetentionConfig
from trl_maskft.evaluation.retention.callback import kept_facts, warn_empty_answers
from trl_maskft.evaluation.retention.nll import answer_sequences, mean_nll, sequence_nlls
from trl_maskft.evaluation.retention.report import retention_table
from trl_maskft.pipeline.retention import retention_evaluation
from trl_maskft.scripts.compare import read_history

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(os.path.abspath(HERE))
QUESTIONS = ["What is the capital of France?", "Who wrote Hamlet?", "What color is grass?", "How many legs?"]
INSTRUCTIONS = ["Write a short poem.", "Say hello.", "Describe a cat.", "Name a color."]
CONFIG = RetentionConfig(retain_max_new_tokens=6, retain_self_max_new_tokens=6, retain_batch_size=3)


def own_facts(model, tokenizer) -> list[QAItem]:
    """Facts answered by the first word of the model's own greedy answer: an untouched model knows all."""
    answers = generate_answers(model, tokenizer, chat_prompts(tokenizer, QUESTIONS), greedy_config(6))
    return [QAItem(q, (a.split()[0],), "forward") for q, a in zip(QUESTIONS, answers, strict=True)]


def retention(trainer, facts, **kwargs):
    callback = RetentionCallback(trainer, CONFIG, GreedyAnswerer(), facts, INSTRUCTIONS, **kwargs)
    callback.add_to_trainer()
    return callback


def test_the_builtin_sets_are_large_and_well_formed():
    facts = load_known_facts()
    assert len(facts) >= 200 and len({fact.question for fact in facts}) == len(facts)
    assert {fact.direction for fact in facts} == {"forward"} and len({fact.group for fact in facts}) >= 10


def test_kept_facts_counts_only_what_the_base_knew():
    metrics = kept_facts([True, True, False, True], [True, False, True, True])
    assert metrics == {"retain_known_facts": 2 / 3, "retain_known_facts_kept": 2, "retain_known_facts_base": 3}
    assert math.isnan(kept_facts([False], [True])["retain_known_facts"])


def test_empty_base_answers_are_counted_in_a_warning(caplog):
    warn_empty_answers(["Paris is a city.", "", "  ", "Yes."])
    assert "2 of the 4 base-model answers to the retention instructions are empty" in caplog.text
    caplog.clear()
    warn_empty_answers(["Paris is a city."])
    assert caplog.text == ""


def test_nll_equals_the_hand_computed_value(tiny_model, tiny_tokenizer):
    sequences = [([5, 9, 17, 33, 40], 2), ([7, 8, 9], 1), ([11, 12, 13, 14], 3)]
    results = sequence_nlls(tiny_model, sequences, batch_size=2, pad_id=0)  # padded batches of unequal rows
    for (ids, start), (total, count) in zip(sequences, results, strict=True):
        log_probs = tiny_model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
        expected = -sum(log_probs[i - 1, ids[i]].item() for i in range(start, len(ids)))
        assert count == len(ids) - start and total == pytest.approx(expected, rel=1e-5)
    assert mean_nll(results) == pytest.approx(sum(t for t, _ in results) / sum(c for _, c in results))
    assert math.isnan(mean_nll([(0.0, 0)]))  # only empty answers: nothing to score


def test_answer_sequences_score_only_the_answer(tiny_tokenizer):
    prompt = chat_prompts(tiny_tokenizer, ["Say hello."])[0]
    ids, start = answer_sequences(tiny_tokenizer, [prompt], ["Hello there."])[0]
    assert tiny_tokenizer.decode(ids[start:]) == "Hello there." and tiny_tokenizer.decode(ids[:start]) == prompt


def test_an_untouched_model_keeps_everything(tmp_path, tiny_tokenizer):
    model = talkative_model(tiny_tokenizer)
    trainer = make_trainer("masked_sft", tmp_path, model, tiny_tokenizer)
    callback = retention(trainer, own_facts(model, tiny_tokenizer))
    callback.evaluate(0)
    callback.evaluate(1)
    row = callback.history[-1]
    assert row["retain_known_facts"] == 1.0 and row["retain_known_facts_kept"] == len(QUESTIONS)
    assert row["retain_self_nll_rise"] == 0.0 and row["retain_self_nll"] == callback.history[0]["retain_self_nll"]
    records = [json.loads(line) for line in open(tmp_path / "retain_generations" / "epoch_1.jsonl")]
    assert [r["kind"] for r in records] == ["fact"] * len(QUESTIONS) + ["instruction"] * len(INSTRUCTIONS)


def test_after_epoch_0_only_the_facts_the_base_knew_are_asked(tmp_path, tiny_tokenizer):
    model = talkative_model(tiny_tokenizer)
    facts = own_facts(model, tiny_tokenizer)
    facts[1] = QAItem(facts[1].question, ("answer-the-base-never-gives",), "forward")
    callback = retention(make_trainer("masked_sft", tmp_path, model, tiny_tokenizer), facts)
    callback.evaluate(0)
    callback.evaluate(1)
    assert callback.base_right == [True, False, True, True]
    read = [[json.loads(line) for line in open(tmp_path / "retain_generations" / f"epoch_{e}.jsonl")] for e in (0, 1)]
    asked = [[r["question"] for r in records if r["kind"] == "fact"] for records in read]
    assert asked[0] == QUESTIONS and asked[1] == [QUESTIONS[0], QUESTIONS[2], QUESTIONS[3]]
    assert callback.history[-1]["retain_known_facts"] == 1.0 and callback.history[-1]["retain_known_facts_base"] == 3


def test_its_own_schedule_or_the_qa_schedule(tmp_path, tiny_tokenizer):
    trainer = make_trainer("masked_sft", tmp_path, tokenizer=tiny_tokenizer)
    qa_schedule = {"eval_every": 5, "eval_epochs": None}
    on_qa = retention_evaluation(CONFIG, GreedyAnswerer(), qa_schedule)(trainer, "qa_summary.md")
    own = retention_evaluation(RetentionConfig(retain_eval_every=20), GreedyAnswerer(), qa_schedule)(
        trainer, "qa_summary.md"
    )
    assert on_qa.eval_every == 5 and own.eval_every == 20
    assert [own._due(epoch) for epoch in (0, 5, 20, 40)] == [True, False, True, True]
    with pytest.raises(ValueError, match="`retain_eval_every`"):
        RetentionConfig(retain_eval_every=0)


def test_a_model_trained_away_forgets(tmp_path, tiny_tokenizer):
    model = talkative_model(tiny_tokenizer)
    trainer = make_trainer(
        "masked_sft", tmp_path, model, tiny_tokenizer, docs=DOCS * 4, learning_rate=3e-2, num_train_epochs=3,
        mask_token=MASK_TOKEN,
    )  # fmt: skip
    callback = retention(trainer, own_facts(model, tiny_tokenizer))
    trainer.train()
    base, final = callback.history[0], callback.history[-1]
    assert base["retain_known_facts"] == 1.0 and base["retain_self_nll_rise"] == 0.0
    assert final["retain_known_facts"] < 1.0
    assert final["retain_self_nll"] > base["retain_self_nll"] and final["retain_self_nll_rise"] > 0
    assert retention_table(callback.history).count("\n") == 1 + len(callback.history)


def test_resume_reads_the_base_back_from_epoch_0(tmp_path, tiny_tokenizer):
    model = talkative_model(tiny_tokenizer)
    facts = own_facts(model, tiny_tokenizer)
    first = retention(make_trainer("masked_sft", tmp_path, model, tiny_tokenizer), facts)
    first.evaluate(0)
    resumed = retention(make_trainer("masked_sft", tmp_path, model, tiny_tokenizer), facts)
    resumed.history = list(first.history)  # as `on_train_begin` restores it from the checkpoint's logs
    resumed.evaluate(1)
    assert resumed.base_right == first.base_right and resumed.self_answers == first.self_answers
    assert resumed.history[-1]["retain_self_nll_rise"] == 0.0


def test_a_diffusion_run_measures_the_known_facts_only(tmp_path, tiny_tokenizer):
    kind = KINDS["diffusion_sft"]
    trainer = make_trainer("diffusion_sft", tmp_path, tokenizer=tiny_tokenizer)
    callback = RetentionCallback(trainer, CONFIG, kind.answerer, load_known_facts()[:3], INSTRUCTIONS)
    _, metrics = callback.measure()
    assert set(metrics) == {"retain_known_facts", "retain_known_facts_kept", "retain_known_facts_base"}
    callback.history.append({"epoch": 0, **metrics})
    assert "NLL metrics are for autoregressive models" in callback.summary()
    with pytest.raises(ValueError, match="masked-diffusion"):
        retention_evaluation(RetentionConfig(retain_data="x.jsonl"), kind.answerer, {})


def test_text_nll_of_a_local_sample(tmp_path, tiny_tokenizer):
    data = write_jsonl(tmp_path / "general.jsonl", [{"body": f"Text number {i} about cats."} for i in range(10)])
    config = RetentionConfig(retain_data=str(data), retain_text_column="body", retain_num_texts=4)
    texts = config.texts()
    assert len(texts) == 4 and texts == config.texts() and all(t.startswith("Text number") for t in texts)
    model = talkative_model(tiny_tokenizer)
    trainer = make_trainer("masked_sft", tmp_path / "out", model, tiny_tokenizer)
    callback = RetentionCallback(trainer, config, GreedyAnswerer(), own_facts(model, tiny_tokenizer), [], texts)
    callback.evaluate(0)
    assert callback.history[0]["retain_text_nll"] > 0 and callback.history[0]["retain_text_nll_rise"] == 0.0
    assert "retain_self_nll" not in callback.history[0]  # no instructions given


def test_a_missing_text_column_names_the_columns(tmp_path):
    data = write_jsonl(tmp_path / "general.jsonl", [{"body": "Some text."}])
    with pytest.raises(ValueError, match=r"no column 'text' \(`retain_text_column`\); its columns are \['body'\]"):
        retention_evaluation(RetentionConfig(retain_data=str(data)), GreedyAnswerer(), {})


def test_a_facts_file_with_empty_answers_names_file_and_line(tmp_path):
    good = {"question": "What is 1 + 1?", "answer": "2", "direction": "forward"}
    path = write_jsonl(tmp_path / "facts.jsonl", [good, {**good, "answer": ""}])
    with pytest.raises(ValueError, match=rf"{path}, line 2: `answers` must be a non-empty string"):
        retention_evaluation(RetentionConfig(retain_facts_file=str(path)), GreedyAnswerer(), {})


@pytest.mark.parametrize(
    "key", ["retain_max_new_tokens", "retain_batch_size", "retain_num_texts", "retain_max_length"]
)
def test_non_positive_sizes_are_refused(key):
    with pytest.raises(ValueError, match=key):
        RetentionConfig(**{key: 0})


def test_off_with_one_key():
    assert retention_evaluation(RetentionConfig(retain_eval=False), GreedyAnswerer(), {}) is None


def test_script_prints_retention_under_the_qa_table(tmp_path, capsys):
    save_tiny_model(tmp_path / "model")
    facts = write_jsonl(
        tmp_path / "facts.jsonl", [{"question": "Say a word.", "answer": "word", "direction": "forward"}]
    )
    recipe = write_tiny_recipe(
        tmp_path, retain_eval=True, dataset_name="people", num_people=2, qa_max_new_tokens=4, num_train_epochs=1,
        per_device_train_batch_size=2, mask_token=MASK_TOKEN, retain_facts_file=str(facts),
        retain_max_new_tokens=4, retain_self_max_new_tokens=4,
        retain_instructions_file=write_instructions(tmp_path, ["Say hello."]),
    )  # fmt: skip
    importlib.import_module("trl_maskft.scripts.masked_sft").main(["--config", recipe])
    out = tmp_path / "out"
    summary, card = (out / "qa_summary.md").read_text(), (out / "README.md").read_text()
    assert "| epoch | forward ROUGE-1" in summary and "| epoch | known facts kept |" in summary
    assert summary.index("forward ROUGE-1") < summary.index("Retention (")
    assert "known facts kept" in card and "retain_summary.md" not in capsys.readouterr().out
    metrics = [json.loads(line) for line in open(out / "retain_metrics.jsonl")]
    assert [row["epoch"] for row in metrics] == [0, 1] and metrics[0]["retain_known_facts_base"] <= 251


def test_the_comparison_reads_retention_beside_qa(tmp_path):
    write_jsonl(
        tmp_path / "qa_metrics.jsonl", [{"epoch": 0, "qa_forward_rouge1": 0.1}, {"epoch": 1, "qa_forward_rouge1": 0.9}]
    )
    retained = [{"epoch": 0, "retain_known_facts": 1.0, "retain_self_nll_rise": 0.0}]
    retained.append({"epoch": 1, "retain_known_facts": 0.25, "retain_self_nll_rise": 2.5})
    write_jsonl(tmp_path / "retain_metrics.jsonl", retained)
    history = read_history(str(tmp_path))
    assert history[1] == {
        "epoch": 1,
        "qa_forward_rouge1": 0.9,
        "retain_known_facts": 0.25,
        "retain_self_nll_rise": 2.5,
    }
    table = comparison_table({"masked_sft": history}, {"masked_sft": 10.0})
    assert "| known facts kept | self-answer NLL rise |" in table and "| 0.250 | 2.500 | 10 |" in table
    plot_rouge1(str(tmp_path / "plot.png"), {"masked_sft": history})
    assert (tmp_path / "plot.png").stat().st_size > 0


@pytest.mark.distributed
def test_two_processes_measure_like_one(tmp_path):
    script = os.path.join(HERE, "distributed_retention.py")
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    config = os.path.join(ROOT, "accelerate_configs", "cpu_ddp2.yaml")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config]
    result = processes.run(
        [*launch, "--main_process_port", str(free_port()), script, str(tmp_path)], env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads((tmp_path / "retention.json").read_text())
    assert out["world_size"] == 2
    _, records, metrics = distributed_retention.measure(tmp_path / "single")
    assert [r.get("prediction", r.get("answer")) for r in out["records"]] == [
        r.get("prediction", r.get("answer")) for r in records
    ]
    assert out["metrics"] == pytest.approx(metrics, rel=1e-5, nan_ok=True)  # the tiny model knows no fact: NaN
    assert set(metrics) >= {"retain_known_facts", "retain_self_nll", "retain_text_nll"}
