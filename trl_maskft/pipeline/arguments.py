"""The script arguments of the training scripts, beside the trainer config and TRL's `ModelConfig`: the knowledge
data and its QA evaluation (`KnowledgeScriptArguments`), and the benchmark task a run trains on (`TaskArguments`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..evaluation.answering import GreedyAnswerer
from ..evaluation.generation import greedy_config
from ..evaluation.qa_scoring import QA_SCORES, check_qa_score
from ..evaluation.tasks import TASKS
from ..runtime.recipe_checks import require_positive

KNOWLEDGE = "knowledge"


@dataclass
class KnowledgeScriptArguments:
    """Data and QA evaluation of a knowledge-injection run."""

    dataset_name: str = field(
        default="people",
        metadata={
            "help": "'people', 'biographies', 'biographies:<file.jsonl>', 'name_description:<folder>', "
            "'masked_arllm:<folder>:<ND|biography|wiki>' (the paper's data), or a corpus: local files "
            "(.jsonl/.json/.parquet/.csv/.txt: a file, a folder or a glob) or a Hub dataset id (see "
            "`trl_maskft.data.sources` and `trl_maskft.data.corpus`); with a task (`task: gsm8k`, `task: math`), "
            "a folder of its {train,test}.jsonl or a Hub id such as 'openai/gsm8k' or "
            "'DigitalLearningGmbH/MATH-lighteval'."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    qa_file: str | None = field(
        default=None,
        metadata={"help": "JSONL of QA items {question, answer, direction, group} for a corpus (optional)."},
    )
    num_people: int = field(default=30, metadata={"help": "Size of the built-in dataset."})
    dataset_seed: int = field(
        default=0, metadata={"help": "Seed of the built-in dataset and of a corpus's held-out rows."}
    )
    qa_templates_per_person: int | None = field(
        default=None,
        metadata={"help": "Built-in people: question templates asked per person and direction (default one)."},
    )
    sft_prompt: str = field(default="Tell me a fact.", metadata={"help": "User turn of the plain SFT baseline."})
    qa_max_new_tokens: int = field(default=128, metadata={"help": "Tokens generated per QA answer."})
    qa_batch_size: int = field(default=16, metadata={"help": "Questions per generate call."})
    qa_eval_every: int = field(default=1, metadata={"help": "Ask the QA items every N epochs (and at 0 and the end)."})
    qa_eval_epochs: list[int] | None = field(
        default=None, metadata={"help": "Ask the QA items after exactly these epochs (0 = before training)."}
    )
    qa_max_items: int | None = field(
        default=None,
        metadata={
            "help": "Ask only N QA items, balanced over direction and group and drawn with `dataset_seed` (the same "
            "questions for every training seed); GSM8K: the first N test questions."
        },
    )
    overwrite_run: bool = field(
        default=False,
        metadata={
            "help": "Delete the files the earlier run in `output_dir` recorded writing (its `_trl_maskft_run.json`; "
            "other files are kept and named) before training; without it a folder that is not empty is refused (see "
            "`trl_maskft.runtime.run_folder`)."
        },
    )
    qa_score: str = field(
        default="paper",
        metadata={
            "help": "How QA answers are scored: 'paper' (the paper's exact ROUGE-1: case-sensitive, each distinct "
            "word once), 'lenient' (lowercased, repeats counted) or 'robust' (lenient for any script: NFKC, Unicode "
            "punctuation removed, CJK per character); see `trl_maskft.evaluation.qa_scoring`.",
            "choices": list(QA_SCORES),
        },
    )
    qa_best_metric: str | None = field(
        default=None,
        metadata={
            "help": "QA metric that picks the best evaluated epoch, reported in qa_summary.md and the card (default: "
            "qa_mean_rouge1, the mean of forward and backward ROUGE-1, the paper's selection)."
        },
    )
    qa_keep_best: bool = field(
        default=False,
        metadata={
            "help": "Save the model of the best evaluated epoch: a checkpoint at each QA epoch that improves "
            "`qa_best_metric` (bounded by `save_total_limit`), loaded at the end of training."
        },
    )

    def __post_init__(self):
        check_qa_score(self.qa_score)
        require_positive(self, ("qa_max_new_tokens", "qa_batch_size", "qa_eval_every"))

    def greedy_answerer(self) -> GreedyAnswerer:
        """Greedy answers of at most `qa_max_new_tokens` tokens, `qa_batch_size` questions per generate call."""
        return GreedyAnswerer(greedy_config(self.qa_max_new_tokens), self.qa_batch_size)

    def qa_schedule(self) -> dict:
        """The QA callback's schedule (`eval_every`, `eval_epochs`)."""
        return {"eval_every": self.qa_eval_every, "eval_epochs": self.qa_eval_epochs}


@dataclass
class TaskArguments:
    """What the sft and masked_sft scripts train on: knowledge documents, or a benchmark task's prompt/completion
    rows scored by answer accuracy (`trl_maskft.evaluation.tasks`)."""

    task: str = field(
        default=KNOWLEDGE,
        metadata={
            "help": "'knowledge': documents with forward/backward QA; a task name (e.g. 'gsm8k'): its "
            "prompt/completion SFT scored by answer accuracy.",
            "choices": [KNOWLEDGE, *TASKS],
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "A task: train on its first N training rows only."}
    )
    max_train_tokens: int | None = field(
        default=None,
        metadata={
            "help": "A task: drop the training pairs over N tokens (prompt + completion; MATH in the paper: 512)."
        },
    )

    def __post_init__(self):
        if self.task != KNOWLEDGE and self.task not in TASKS:
            raise ValueError(f"`task` must be one of {[KNOWLEDGE, *TASKS]}, got {self.task!r}.")
        for name in ("max_train_samples", "max_train_tokens"):
            if self.task == KNOWLEDGE and getattr(self, name) is not None:
                raise ValueError(f"`{name}` applies to a task (e.g. `task: gsm8k`) only.")
