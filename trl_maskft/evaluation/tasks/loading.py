"""Loading a benchmark's rows from local files or the Hub, with errors that say how to do without the Hub.

A local source is a folder of `<split>.jsonl` (one JSON object a line) or `<split>.csv` files, or one such file for
the evaluation split; anything else is a Hub dataset id. The same sources serve training (`dataset_name`) and the
lm-eval tasks of `trl_maskft/evaluation/lm_eval/tasks` (`bench_data`).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import datasets
from datasets import Dataset

from ...data.qa_io import read_jsonl_rows, require_field

LOCAL_SUFFIXES = (".jsonl", ".csv")


def _csv_rows(path: str):
    """`(line number, row)` of a CSV file with a header line (line numbers of the row's first line)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            yield reader.line_num, row


def local_split_path(source: str, split: str) -> str | None:
    """The file of `split` in a local source (a file stands for the evaluation split), None if there is none."""
    if os.path.isfile(source):
        return source
    return next((p for s in LOCAL_SUFFIXES if os.path.isfile(p := os.path.join(source, f"{split}{s}"))), None)


def is_local(source: str) -> bool:
    """Whether `source` names local files (a folder, or a .jsonl/.csv file) rather than a Hub dataset id."""
    return os.path.isdir(source) or (os.path.isfile(source) and source.endswith(LOCAL_SUFFIXES))


@dataclass(frozen=True)
class TaskData:
    """Where a benchmark's rows come from and which columns they need.

    Args:
        label: the benchmark's name in messages.
        hub_id: its dataset on the Hub.
        hub_config: the configuration of `hub_id` (other Hub ids get the configuration asked for, or none).
        fields: the string columns every row needs.
        local_format: what a local file holds, for the error when the Hub cannot be reached.
        local_example: a local copy to point to in that error, if any.
    """

    label: str
    hub_id: str
    hub_config: str | None
    fields: tuple[str, ...]
    local_format: str
    local_example: str | None = None

    def load(self, source: str, split: str, config: str | None = None, key: str = "dataset_name") -> Dataset:
        """Split `split` of `source` with at least the columns `fields`; `key` is the setting that names local
        files, for the error when `source` is a Hub id that cannot be loaded."""
        if is_local(source):
            return self._local(source, split)
        return self._hub(source, split, config or (self.hub_config if source == self.hub_id else None), key)

    def _local(self, source: str, split: str) -> Dataset:
        path = local_split_path(source, split)
        if path is None:
            raise FileNotFoundError(
                f"{os.path.join(source, split)}.jsonl not found: a local {self.label} folder holds <split>.jsonl "
                "(or <split>.csv) files."
            )
        rows = []
        for line_number, row in (_csv_rows if path.endswith(".csv") else read_jsonl_rows)(path):
            values = [require_field(row, name, path, line_number) for name in self.fields]
            if not all(isinstance(value, str) for value in values):
                names = " and ".join(repr(name) for name in self.fields)
                raise ValueError(f"{path}, line {line_number}: {names} must be strings.")
            rows.append(row)
        if not rows:
            raise ValueError(f"{path} holds no {self.label} rows.")
        return Dataset.from_list(rows)

    def _hub(self, name: str, split: str, config: str | None, key: str) -> Dataset:
        try:
            dataset = datasets.load_dataset(name, config, split=split)
        except (OSError, ValueError) as err:  # not found, offline, unreachable, unknown configuration or split
            example = f", such as {self.local_example}" if self.local_example else ""
            raise ValueError(
                f"{self.label} dataset {name!r} (configuration {config!r}, split {split!r}) is not a local folder "
                f"and loading it from the Hub failed: {err}\nWithout the Hub, set `{key}` to a folder of "
                f"<split>.jsonl files ({self.local_format}){example}."
            ) from err
        if not set(self.fields) <= set(dataset.column_names):
            needs = " and ".join(repr(name) for name in self.fields)
            raise ValueError(
                f"The Hub dataset {name!r} has columns {dataset.column_names}; {self.label} needs {needs}."
            )
        return dataset


def prompt_completion(dataset: Dataset, prompt: str, completion: str, max_samples: int | None = None) -> Dataset:
    """The first `max_samples` (default: all) rows as `prompt`/`completion` strings, from columns `prompt` and
    `completion`."""
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    return dataset.select_columns([prompt, completion]).rename_columns({prompt: "prompt", completion: "completion"})


def drop_long_pairs(dataset: Dataset, tokenizer, max_tokens: int) -> tuple[Dataset, int]:
    """The `prompt`/`completion` rows of at most `max_tokens` tokens (prompt and completion, no special tokens, in
    `tokenizer`), and how many longer rows were dropped."""
    lengths = [
        len(prompt) + len(completion)
        for prompt, completion in zip(
            tokenizer(list(dataset["prompt"]), add_special_tokens=False)["input_ids"],
            tokenizer(list(dataset["completion"]), add_special_tokens=False)["input_ids"],
            strict=True,
        )
    ]
    kept = [i for i, length in enumerate(lengths) if length <= max_tokens]
    return dataset.select(kept), len(dataset) - len(kept)
