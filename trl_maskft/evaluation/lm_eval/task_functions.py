"""The functions the YAML tasks of `trl_maskft/evaluation/lm_eval/tasks` name (through `maskft_utils.py`): their data,
from local files or the Hub; GPQA's answer order; MATH's math-verify scoring.

lm-eval calls `task_dataset` (a task's `custom_dataset`) with the task's `dataset_kwargs` and the task manager's
metadata, whose `local_data` maps task names to local sources (recipes: `bench_data`; the `lm_eval` command:
`--metadata '{"local_data": {"maskft_gsm8k": "../shared/data/gsm8k"}}'`).
"""

from __future__ import annotations

import hashlib
import os
import random

from datasets import Dataset, DatasetDict

from ..tasks.gsm8k import GSM8K_DATA
from ..tasks.loading import TaskData, is_local, local_split_path
from ..tasks.math import MATH_DATA, judge_math, last_boxed

GPQA_DATA = TaskData(
    label="GPQA",
    hub_id="Idavidrein/gpqa",
    hub_config="gpqa_diamond",
    fields=("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"),
    local_format="the columns of Idavidrein/gpqa, such as gpqa_diamond.csv",
)
DATA = {"gsm8k": GSM8K_DATA, "math": MATH_DATA, "gpqa_diamond": GPQA_DATA}


def local_data_key(task: str) -> str:
    """How to name local files for `task`, in recipes and on the `lm_eval` command line."""
    return f'`bench_data: [{task}=<path>]` (lm_eval: `--metadata \'{{"local_data": {{"{task}": "<path>"}}}}\'`)'


def task_dataset(
    task: str,
    data: str,
    eval_split: str,
    fewshot_split: str | None = None,
    local_data: dict[str, str] | None = None,
    **metadata,
) -> DatasetDict:
    """The splits `eval_split` and `fewshot_split` of `task` in the rows of `DATA[data]`: from `local_data[task]`
    when given, else from the Hub."""
    spec = DATA[data]
    source = (local_data or {}).get(task, spec.hub_id)
    splits = {eval_split: spec.load(source, eval_split, key=local_data_key(task))}
    # a local folder may lack the few-shot split and a local file stands for the evaluation split only: then the
    # few-shot split is empty (0-shot needs none; more shots are refused by `trl_maskft.evaluation.lm_eval.harness`)
    if fewshot_split and fewshot_split != eval_split:
        if not is_local(source) or (os.path.isdir(source) and local_split_path(source, fewshot_split)):
            splits[fewshot_split] = spec.load(source, fewshot_split, key=local_data_key(task))
        else:
            splits[fewshot_split] = splits[eval_split].select([])
    return DatasetDict(splits)


def _clean(text: str) -> str:
    return " ".join(text.replace(" [title]", ". ").split())


def gpqa_choices(doc: dict) -> dict:
    """The four answers of a GPQA row in an order drawn from its question alone (the same in every run and process),
    and the letter of the correct one."""
    answers = [_clean(doc[f"Incorrect Answer {i}"]) for i in (1, 2, 3)] + [_clean(doc["Correct Answer"])]
    order = list(range(4))
    random.Random(hashlib.sha256(doc["Question"].encode()).hexdigest()).shuffle(order)
    choices = [answers[i] for i in order]
    return {
        **{f"choice{i + 1}": choice for i, choice in enumerate(choices)},
        "answer": f"({'ABCD'[order.index(3)]})",
    }


def gpqa_process_docs(dataset: Dataset) -> Dataset:
    """GPQA rows with `choice1`..`choice4` and `answer` (`gpqa_choices`)."""
    return dataset.map(gpqa_choices)


def math_process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """The verdicts of `trl_maskft.evaluation.tasks.math.judge_math` on the generation for a MATH row."""
    reference = last_boxed(doc["solution"])
    if reference is None:
        raise ValueError(f"MATH row without a \\boxed{{}} answer in its solution: {doc['solution'][-80:]!r}")
    verdicts = judge_math(results[0], reference)
    return {"exact_match": verdicts["exact_match"], "math_verify": verdicts["math_verify"]}
