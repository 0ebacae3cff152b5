"""MATH: loading MATH-lighteval rows, boxed answers, math-verify verdicts, the 512-token filter and `task: math`."""

import os
import sys

import pytest
from datasets import Dataset
from tiny import MASK_TOKEN, make_tiny_tokenizer, save_tiny_model, write_jsonl, write_tiny_recipe

from trl_maskft.evaluation.tasks import MATH, get_task
from trl_maskft.evaluation.tasks import loading as loading_module
from trl_maskft.evaluation.tasks.loading import drop_long_pairs
from trl_maskft.evaluation.tasks.math import judge_math, last_boxed, load_math
from trl_maskft.scripts import masked_sft

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "examples", "data", "math")
pytest.importorskip("math_verify")


@pytest.mark.parametrize(
    "text,boxed",
    [
        ("so $x = \\boxed{4}$.", "4"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("first \\boxed{1}, then \\boxed{ 2 }", "2"),  # the last one, stripped
        ("\\boxed{\\{1, 2\\}} and \\boxed{a^{2}}", "a^{2}"),
        ("\\fbox{7}", "7"),
        ("no box here: 42", None),
        ("cut off \\boxed{\\frac{1}{2", None),
    ],
)
def test_last_boxed(text, boxed):
    assert last_boxed(text) == boxed


@pytest.mark.parametrize("prediction", ["\\boxed{\\frac{1}{2}}", "it is \\boxed{1/2}", "\\boxed{0.5}", "$\\dfrac12$"])
def test_math_verify_finds_one_half_in_its_three_spellings(prediction):
    verdicts = judge_math(prediction, "\\frac{1}{2}")
    assert verdicts["math_verify"] == 1.0
    assert verdicts["exact_match"] == float(prediction == "\\boxed{\\frac{1}{2}}")


def test_wrong_or_missing_answers_score_zero():
    assert judge_math("\\boxed{2}", "\\frac{1}{2}") == {"boxed_answer": "2", "exact_match": 0.0, "math_verify": 0.0}
    assert judge_math("I do not know.", "3")["math_verify"] == 0.0


def test_local_sample_loads_in_the_math_lighteval_columns():
    train, test = load_math(SAMPLE, "train"), load_math(SAMPLE, "test")
    assert (len(train), len(test)) == (24, 8) and test.column_names == ["prompt", "completion"]
    items = MATH.qa_items(test)
    assert [item.answer for item in items[:3]] == ["12", "5", "\\frac{1}{2}"] and {i.group for i in items} == {"math"}
    records = MATH.score(items[:2], ["The answer is \\boxed{12}.", "\\boxed{6}"])
    assert MATH.accuracy(records) == {"qa_math_exact_match": 0.5, "qa_math_math_verify": 0.5}
    with pytest.raises(ValueError, match="MATH row 0 has no final answer in \\\\boxed"):
        MATH.qa_items(Dataset.from_list([{"prompt": "Q?", "completion": "It is 4."}]))


def test_math_from_the_hub_and_offline(monkeypatch, tmp_path):
    calls = []

    def load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        if name == "offline/math":
            raise ConnectionError("Couldn't reach the Hub")
        return Dataset.from_dict({"problem": ["Q?"], "level": ["Level 1"], "solution": ["\\boxed{1}"], "type": ["A"]})

    monkeypatch.setattr(loading_module.datasets, "load_dataset", load_dataset)
    assert load_math(split="test").to_dict() == {"prompt": ["Q?"], "completion": ["\\boxed{1}"]}
    assert calls == [("DigitalLearningGmbH/MATH-lighteval", None, "test")]
    with pytest.raises(ValueError, match=r"'offline/math' .*Hub failed(.|\n)*set `dataset_name` to a folder"):
        load_math("offline/math")
    write_jsonl(tmp_path / "train.jsonl", [{"problem": "Q?"}])
    with pytest.raises(ValueError, match=r"train\.jsonl, line 1: missing field 'solution'"):
        load_math(str(tmp_path), "train")


def test_long_pairs_are_dropped_and_counted():
    tokenizer = make_tiny_tokenizer()
    train = load_math(SAMPLE, "train")
    kept, dropped = drop_long_pairs(train, tokenizer, 512)
    assert dropped == 1 and len(kept) == 23  # the sample's one long worked solution
    assert all("Add them one at a time" not in prompt for prompt in kept["prompt"])
    assert drop_long_pairs(train, tokenizer, 10**6)[1] == 0


def test_math_needs_math_verify(monkeypatch):
    monkeypatch.setitem(sys.modules, "math_verify", None)  # as if not installed
    with pytest.raises(ImportError, match=r"math-verify is not installed.*pip install 'trl-maskft\[eval\]'"):
        get_task("math")


def test_masked_sft_runs_math_with_the_token_filter(tmp_path, capsys):
    save_tiny_model(tmp_path / "model")
    recipe = write_tiny_recipe(
        tmp_path, task="math", dataset_name=SAMPLE, max_train_tokens=512, max_train_samples=20, qa_max_items=2,
        qa_max_new_tokens=4, qa_eval_epochs=[0], num_train_epochs=1, per_device_train_batch_size=10,
        mask_token=MASK_TOKEN,
    )  # fmt: skip
    qa = masked_sft.main(["--config", recipe])
    assert "Dropped 1 of 24 MATH training pairs over 512 tokens" in capsys.readouterr().out
    assert len(qa.trainer.train_dataset) == 20 and qa.task is MATH  # filtered, then the first 20
    assert [row["epoch"] for row in qa.history] == [0, 1] and "qa_math_math_verify" in qa.history[0]
