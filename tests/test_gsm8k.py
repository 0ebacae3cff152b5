"""GSM8K: loading, answer extraction, masked twins of the answers, and the sft/masked_sft scripts' `task: gsm8k`."""

import json
import os

import pytest
import torch
from datasets import Dataset
from tiny import (
    MASK_TOKEN,
    make_tiny_model,
    make_tiny_tokenizer,
    save_tiny_model,
    write_gsm8k_dir,
    write_jsonl,
    write_tiny_recipe,
)

from trl_maskft import MaskedSFTConfig, MaskedSFTTrainer
from trl_maskft.common import IGNORE_INDEX
from trl_maskft.evaluation.answering import GreedyAnswerer
from trl_maskft.evaluation.generation import greedy_config
from trl_maskft.evaluation.tasks import GSM8K, get_task
from trl_maskft.evaluation.tasks import loading as loading_module
from trl_maskft.evaluation.tasks.callback import TaskEvalCallback, evaluate_task, task_answerer
from trl_maskft.evaluation.tasks.gsm8k import extract_final_answer, extract_last_number, load_gsm8k, normalize_number
from trl_maskft.scripts import masked_sft, sft

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_GSM8K = os.path.join(ROOT, "..", "shared", "data", "gsm8k")

TRAIN = [
    {"question": "Ann has 3 apples and buys 4 more. How many has she?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
    {"question": "A pen costs $2. How much do 600 pens cost?", "answer": "600 * 2 = <<600*2=1200>>1200\n#### 1,200"},
    {"question": "It is 5 degrees and drops by 8. What is it now?", "answer": "5 - 8 = <<5-8=-3>>-3\n#### -3"},
    {"question": "Half of 5 cookies?", "answer": "5 / 2 = <<5/2=2.5>>2.5\n#### 2.5"},
]  # fmt: skip


@pytest.fixture
def gsm8k_dir(tmp_path):
    return write_gsm8k_dir(tmp_path / "gsm8k", TRAIN, test_rows=TRAIN[::-1])


@pytest.mark.parametrize(
    "text,final,last",
    [
        ("She pays 3 * 6 = <<3*6=18>>18 dollars.\n#### 18", "18", "18"),
        ("#### 1,234", "1234", "1234"),
        ("The total is 1,234,567 people.\n####1,234,567", "1234567", "1234567"),
        ("It drops to -4 degrees.\n#### -4", "-4", "-4"),
        ("#### 2.50", "2.5", "2.5"),
        ("#### .5", "0.5", "0.5"),
        ("#### $18 dollars a day", "18", "18"),
        ("#### 42 apples. (Checked: 40 + 2.)", "42", "2"),
        ("#### 3\nActually #### 4", "3", "4"),  # the first '####', as lm-eval's strict match
        ("3 + 4 = 7\n#### 7\n\nQuestion: Tom has 2 cats and gets 3 more?\nAnswer: 2 + 3 = 5\n#### 5", "7", "5"),
        ("#### -0", "0", "0"),
        ("The answer is 72.", None, "72"),
        ("Between 3,4 and 5, pick 5.", None, "5"),
        ("No numbers here. ####", None, None),
        ("#### 1,2345", None, None),  # a malformed group is no number, not 1234
        ("She picks 10-12 apples.", None, "12"),  # a range, not -12
        ("For ages 3-5", None, "5"),
        ("5 - 8 = <<5-8=-3>>-3", None, "-3"),
        ("#### -$5", "-5", "5"),
        ("#### $-5", "-5", "-5"),
        ("#### \u22123", "-3", "-3"),  # the Unicode minus sign
        ("It is \u22124.5 degrees.", None, "-4.5"),
    ],
)
def test_answer_extraction(text, final, last):
    assert extract_final_answer(text) == final
    assert extract_last_number(text) == last


def test_normalize_number():
    assert [normalize_number(s) for s in ("1,200", "1200.00", "007", "-3.10", "1e3", "nan", "x")] == [
        "1200",
        "1200",
        "7",
        "-3.1",
        "1000",
        None,
        None,
    ]


def test_scoring_and_accuracy():
    items = GSM8K.qa_items(load_gsm8k_rows(TRAIN))
    assert [item.answer for item in items] == ["7", "1200", "-3", "2.5"]
    assert {item.direction for item in items} == {"forward"} and {item.group for item in items} == {"gsm8k"}
    predictions = ["3 + 4 = 7\n#### 7", "It costs 1,200 dollars.", "#### 3", "#### 2.50 cookies"]
    records = GSM8K.score(items, predictions)
    assert [r["exact_match"] for r in records] == [1.0, 0.0, 0.0, 1.0]
    assert [r["flexible_match"] for r in records] == [1.0, 1.0, 0.0, 1.0]
    assert GSM8K.accuracy(records) == {"qa_gsm8k_exact_match": 0.5, "qa_gsm8k_flexible_match": 0.75}


def load_gsm8k_rows(rows):
    return Dataset.from_list(rows).rename_columns({"question": "prompt", "answer": "completion"})


def test_load_local_gsm8k(gsm8k_dir):
    train = load_gsm8k(str(gsm8k_dir), "train")
    assert train.column_names == ["prompt", "completion"] and train[1]["completion"].endswith("#### 1,200")
    assert load_gsm8k(str(gsm8k_dir), "test", max_samples=2)["prompt"] == [TRAIN[3]["question"], TRAIN[2]["question"]]
    assert len(load_gsm8k(str(gsm8k_dir), "train", max_samples=100)) == 4


@pytest.mark.parametrize(
    "lines,match",
    [
        (['{"question": "Q?", "answer": "#### 1"}', '{"question": "Q?",'], r"train\.jsonl, line 2: malformed"),
        (['{"question": "Q?"}'], r"train\.jsonl, line 1: missing field 'answer'"),
        (['{"question": "Q?", "answer": 5}'], r"train\.jsonl, line 1: 'question' and 'answer' must be strings"),
    ],
)  # fmt: skip
def test_load_gsm8k_errors(gsm8k_dir, lines, match):
    write_jsonl(gsm8k_dir / "train.jsonl", lines)
    with pytest.raises(ValueError, match=match):
        load_gsm8k(str(gsm8k_dir), "train")
    with pytest.raises(FileNotFoundError, match=r"validation\.jsonl not found"):
        load_gsm8k(str(gsm8k_dir), "validation")
    with pytest.raises(ValueError, match="GSM8K row 0 has no final answer"):
        GSM8K.qa_items(load_gsm8k_rows([{"question": "Q?", "answer": "It is 4."}]))


def test_load_gsm8k_from_the_hub(monkeypatch):
    calls = []

    def load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        if name == "me/offline":
            raise ConnectionError("Couldn't reach 'me/offline' on the Hub (LocalEntryNotFoundError)")
        if name == "me/other":
            return Dataset.from_dict({"problem": ["Q?"], "solution": ["#### 1"]})
        return Dataset.from_dict({"question": ["Q1?", "Q2?", "Q3?"], "answer": ["#### 1", "#### 2", "#### 3"]})

    monkeypatch.setattr(loading_module.datasets, "load_dataset", load_dataset)
    dataset = load_gsm8k(split="test", max_samples=2)
    assert dataset.to_dict() == {"prompt": ["Q1?", "Q2?"], "completion": ["#### 1", "#### 2"]}
    load_gsm8k("openai/gsm8k", "train", config="socratic")
    load_gsm8k("me/gsm8k-copy", "train")  # "main" is openai/gsm8k's configuration only
    assert calls == [
        ("openai/gsm8k", "main", "test"),
        ("openai/gsm8k", "socratic", "train"),
        ("me/gsm8k-copy", None, "train"),
    ]
    with pytest.raises(ValueError, match=r"'me/offline' .*Hub failed: Couldn't reach(.|\n)*\.\./shared/data/gsm8k"):
        load_gsm8k("me/offline")
    with pytest.raises(ValueError, match=r"columns \['problem', 'solution'\]; GSM8K needs 'question' and 'answer'"):
        load_gsm8k("me/other")


@pytest.mark.skipif(not os.path.isdir(SHARED_GSM8K), reason="../shared/data/gsm8k is absent")
def test_shared_gsm8k_files():
    train, test = load_gsm8k(SHARED_GSM8K, "train"), load_gsm8k(SHARED_GSM8K, "test")
    assert (len(train), len(test)) == (7473, 1319)
    references = [item.answer for item in GSM8K.qa_items(test)]  # every test answer has a final number
    assert references[:3] == ["18", "3", "70000"] and all(r.lstrip("-").replace(".", "").isdigit() for r in references)


def test_masked_twins_cover_exactly_the_masked_answer_tokens(tmp_path):
    tokenizer = make_tiny_tokenizer()
    trainer = MaskedSFTTrainer(
        model=make_tiny_model(tokenizer),
        args=MaskedSFTConfig(
            output_dir=str(tmp_path), mask_token=MASK_TOKEN, report_to="none", use_cpu=True, bf16=False, seed=3
        ),
        train_dataset=load_gsm8k_rows(TRAIN),
        processing_class=tokenizer,
    )
    collator, dataset, mask_id = trainer.data_collator, trainer.train_dataset, trainer.mask_token_id
    assert collator.loss_on == "masked"
    examples = [dataset[i] for i in range(len(dataset))]
    batch = collator(examples)
    for row, example in enumerate(examples):
        start, twin, length = example["span_start"], example["twin_start"], example["span_length"]
        original = example["input_ids"]
        answer = tokenizer.decode(original[twin : twin + length])
        assert answer == TRAIN[row]["answer"] and tokenizer.decode(original[start : start + length]) == answer
        input_ids, labels = batch["input_ids"][row], batch["labels"][row]
        masked = [i for i in range(length) if input_ids[start + i] == mask_id]
        assert 0 < len(masked) < length or length < 3
        supervised = torch.nonzero(labels != IGNORE_INDEX).flatten().tolist()
        assert supervised == [twin + i for i in masked]  # exactly the twins of the masked answer tokens
        assert labels[supervised].tolist() == [original[twin + i] for i in masked]
        untouched = [i for i in range(len(original)) if not start <= i < start + length]
        assert input_ids[untouched].tolist() == [original[i] for i in untouched]  # question and chat unmasked


class StubGenerator:
    """Stands in for a model: records every `generate` call (the prompts, unpadded, and the arguments) and answers
    `reply` to every prompt."""

    device = torch.device("cpu")

    def __init__(self, tokenizer, reply):
        self.tokenizer, self.calls = tokenizer, []
        self.reply = torch.tensor(tokenizer(reply, add_special_tokens=False)["input_ids"])

    def generate(self, input_ids, attention_mask, **kwargs):
        prompts = [
            self.tokenizer.decode(ids[mask.bool()]) for ids, mask in zip(input_ids, attention_mask, strict=True)
        ]
        self.calls.append({"prompts": prompts, **kwargs})
        return torch.cat([input_ids, self.reply.expand(len(input_ids), -1)], dim=1)


def test_evaluate_gsm8k_asks_each_question_alone_and_decodes_greedily():
    tokenizer = make_tiny_tokenizer()
    model = StubGenerator(tokenizer, "3 + 4 = 7\n#### 7")
    items = GSM8K.qa_items(load_gsm8k_rows(TRAIN[:3]))
    accuracy, records = evaluate_task(model, tokenizer, GSM8K, items, GreedyAnswerer(greedy_config(256), 2))
    assert [len(call["prompts"]) for call in model.calls] == [2, 1]
    # 0-shot: the chat holds the question alone as the user turn, no worked example, no system prompt
    assert [prompt for call in model.calls for prompt in call["prompts"]] == [
        f"<|im_start|>user\n{row['question']}<|im_end|>\n<|im_start|>assistant\n" for row in TRAIN[:3]
    ]
    configs = [call["generation_config"] for call in model.calls]
    assert all(config.do_sample is False and config.max_new_tokens == 256 for config in configs)
    assert task_answerer().generation_config.max_new_tokens == 256  # the paper's budget, by default
    assert [r["prediction"] for r in records] == ["3 + 4 = 7\n#### 7"] * 3
    assert [r["exact_match"] for r in records] == [1.0, 0.0, 0.0]
    assert accuracy == {"qa_gsm8k_exact_match": 1 / 3, "qa_gsm8k_flexible_match": 1 / 3}


@pytest.mark.parametrize("script", [sft, masked_sft])
def test_scripts_run_gsm8k(script, gsm8k_dir, tmp_path):
    save_tiny_model(tmp_path / "model")
    config = {
        "task": "gsm8k",
        "dataset_name": str(gsm8k_dir),
        "max_train_samples": 2,
        "qa_max_items": 3,
        "qa_max_new_tokens": 4,
        "num_train_epochs": 1,
        "per_device_train_batch_size": 2,
        **({"mask_token": MASK_TOKEN} if script is masked_sft else {}),
    }
    recipe = write_tiny_recipe(tmp_path, **config)
    qa = script.main(["--config", recipe])
    assert (
        isinstance(qa, TaskEvalCallback)
        and qa.task is get_task("gsm8k")
        and len(qa.items) == 3
        and len(qa.trainer.train_dataset) == 2
    )
    assert [row["epoch"] for row in qa.history][0] == 0 and "qa_gsm8k_exact_match" in qa.history[-1]
    summary = (tmp_path / "out" / "qa_summary.md").read_text()
    assert summary.startswith("| epoch | exact match | flexible match |")
    generations = (tmp_path / "out" / "qa_generations" / "epoch_0.jsonl").read_text().splitlines()
    assert json.loads(generations[0])["reference"] == "2.5"
    if script is sft:
        first = qa.trainer.train_dataset[0]
        assert TRAIN[0]["question"] in qa.trainer.processing_class.decode(first["input_ids"])  # chats
        recipe = write_tiny_recipe(tmp_path, **config, reverse_training=True)
        with pytest.raises(ValueError, match="leave the baseline arguments"):
            script.main(["--config", recipe])
