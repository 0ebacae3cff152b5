"""The retention settings of a run (recipe keys `retain_*`): what is measured beside injection to tell what the
model forgot, with how many tokens, and from which files. One object carries them from the recipe to the callback
(`RetentionCallback`), which asks on the QA callback's schedule."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ...data.corpus_files import is_local, load_split, local_files
from ...data.corpus_text import column_names
from ...data.instructions import load_instructions
from ...data.known_facts import load_known_facts
from ...data.schema import QAItem
from ...runtime.recipe_checks import require_positive


@dataclass
class RetentionConfig:
    """What retention measures (`trl_maskft.evaluation.retention`): the known facts the base model answered right
    that the trained model still answers (`retain_known_facts`), the NLL of the base model's own answers to generic
    instructions (`retain_self_nll`) and, with `retain_data`, the NLL of a fixed sample of general text
    (`retain_text_nll`)."""

    retain_eval: bool = field(
        default=True,
        metadata={"help": "Measure retention beside the QA evaluation, on its schedule (`retain_*` metrics)."},
    )
    retain_facts_file: str | None = field(
        default=None,
        metadata={
            "help": "JSONL of your own known facts in the QA format {question, answer, direction, group}, asked "
            "besides the 250 built-in ones."
        },
    )
    retain_instructions_file: str | None = field(
        default=None,
        metadata={
            "help": "JSONL of generic instructions {instruction} the base model answers at epoch 0 "
            "(`retain_self_nll`); default: the 60 built-in ones."
        },
    )
    retain_eval_every: int | None = field(
        default=None,
        metadata={
            "help": "Measure retention every N epochs (and before training and at the end); default: on the QA "
            "schedule (`qa_eval_every` / `qa_eval_epochs`). Each measurement generates the known facts' answers: a "
            "sparser schedule costs less."
        },
    )
    retain_max_new_tokens: int = field(default=16, metadata={"help": "Tokens generated per known-fact answer."})
    retain_self_max_new_tokens: int = field(
        default=48, metadata={"help": "Tokens of the base model's answers to the instructions (greedy)."}
    )
    retain_batch_size: int = field(
        default=64,
        metadata={"help": "Known facts or instructions per generate call, and answers or texts per forward pass."},
    )
    retain_data: str | None = field(
        default=None,
        metadata={
            "help": "General text whose per-token NLL is measured (`retain_text_nll`): local files "
            "(.jsonl/.json/.parquet/.csv/.txt) or a Hub dataset id; none: not measured."
        },
    )
    retain_data_config: str | None = field(default=None, metadata={"help": "Hub configuration of `retain_data`."})
    retain_data_split: str = field(default="train", metadata={"help": "Split of `retain_data`."})
    retain_text_column: str = field(default="text", metadata={"help": "Column of `retain_data` holding the text."})
    retain_num_texts: int = field(
        default=64, metadata={"help": "Texts of `retain_data` measured, drawn once with a fixed seed (0)."}
    )
    retain_max_length: int = field(default=256, metadata={"help": "Tokens kept of each `retain_data` text."})

    def __post_init__(self):
        names = ("retain_max_new_tokens", "retain_self_max_new_tokens", "retain_batch_size", "retain_num_texts")
        require_positive(self, (*names, "retain_max_length", "retain_eval_every"))

    def known_facts(self) -> list[QAItem]:
        """The built-in known facts and those of `retain_facts_file`."""
        return load_known_facts(self.retain_facts_file)

    def instructions(self) -> list[str]:
        """The instructions of `retain_instructions_file` (default: the built-in ones)."""
        return load_instructions(self.retain_instructions_file)

    def texts(self) -> list[str]:
        """`retain_num_texts` texts of `retain_data` (all when it has fewer), drawn with seed 0 and in that order;
        empty without `retain_data`. A clear error naming the columns there when `retain_text_column` is not one."""
        if self.retain_data is None:
            return []
        name = self.retain_data
        files = {self.retain_data_split: local_files(name)} if is_local(name) else None
        dataset = load_split(name, self.retain_data_config, self.retain_data_split, data_files=files)
        columns = column_names(dataset)
        if self.retain_text_column not in columns:
            raise ValueError(
                f"`retain_data` {name!r} ({self.retain_data_split}) has no column {self.retain_text_column!r} "
                f"(`retain_text_column`); its columns are {columns}. Set `retain_text_column` to the column of text."
            )
        rows = sorted(random.Random(0).sample(range(len(dataset)), min(self.retain_num_texts, len(dataset))))
        texts = dataset.select(rows)[self.retain_text_column]
        bad = next((row for row, text in zip(rows, texts, strict=True) if not (isinstance(text, str) and text)), None)
        if bad is not None:
            raise ValueError(
                f"`retain_data` {name!r}, row {bad}: `{self.retain_text_column}` is not a non-empty string "
                f"({texts[rows.index(bad)]!r}). Remove the row or name the text column."
            )
        return texts

    def describe(self) -> str:
        """The settings in words, for reports and the model card."""
        text = f", per-token NLL of {self.retain_num_texts} texts of {self.retain_data!r}" if self.retain_data else ""
        return (
            f"known facts answered with at most {self.retain_max_new_tokens} new tokens and scored by lenient "
            f"containment; the base model's greedy answers ({self.retain_self_max_new_tokens} new tokens) to generic "
            f"instructions scored by per-token NLL{text}"
        )
