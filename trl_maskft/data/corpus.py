"""Corpora for masked continued pretraining: local files or a Hub dataset read through `datasets` (memory-mapped, or
streamed), never as a Python list of documents, with the paper's preprocessing and optional QA items.

`load_corpus` reads the `dataset_train_split` of `dataset_name` (see `trl_maskft.data.corpus_files`; local files are
listed in `Corpus.log` with their splits, `trl_maskft.data.corpus_splits`), checks its text column
(`dataset_text_field`, Webscale-RL's is `pretrain_text`), keeps every `keep_every`-th row, drops empty
documents and those of `drop_document_chars` characters or more, and keeps the first `max_train_rows` rows; each step
is counted in `Corpus.log`. Held-out rows for the evaluation loss come from `dataset_test_split` or from
`dataset_test_size` (a share or a number of the training rows). QA items come from `qa_file` and from the corpus's own
columns (`qa_question_field`, `qa_answer_field`, optionally `qa_direction_field`), asked about the first training
rows. With `train_on: qa` the training rows are the QA pairs as prompt/completion rows instead of the documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset, IterableDataset

from ..runtime.recipe_checks import check_test_size
from .corpus_files import check_utf8, is_local, load_split, local_files, text_file_rows
from .corpus_qa import qa_items_from_rows, qa_pair_rows, require_columns, short_pairs
from .corpus_splits import check_splits, describe_splits, file_splits
from .corpus_text import check_text_column, first_row, keep_text, text_rows
from .qa_io import load_qa_jsonl
from .schema import QAItem

TRAIN_ON = ("text", "qa")
SAMPLE_BY = ("line", "paragraph", "document")


@dataclass
class CorpusArguments:
    """How a corpus (local files or a Hub dataset) is read, preprocessed, held out and asked about."""

    dataset_train_split: str = field(default="train", metadata={"help": "Split of the corpus to train on."})
    dataset_test_split: str | None = field(
        default=None, metadata={"help": "Split of held-out rows for the evaluation loss (with `eval_strategy`)."}
    )
    dataset_test_size: float | None = field(
        default=None,
        metadata={
            "help": "Hold out this share (strictly between 0 and 1) or whole number (>= 1) of the training rows for "
            "the evaluation loss."
        },
    )
    dataset_streaming: bool = field(
        default=False,
        metadata={"help": "Stream the corpus (an IterableDataset) instead of caching it; needs max_steps."},
    )
    txt_sample_by: str = field(
        default="document",
        metadata={"help": "`.txt` files: one document per file, paragraph or line.", "choices": list(SAMPLE_BY)},
    )
    keep_every: int = field(default=1, metadata={"help": "Keep every k-th row (rows 0, k, 2k, ...)."})
    drop_document_chars: int | None = field(
        default=None,
        metadata={"help": "Drop documents of this many characters or more (the paper's Webscale-RL CPT: 20000)."},
    )
    max_train_rows: int | None = field(
        default=None, metadata={"help": "Train on the first N rows left after the other filters."}
    )
    train_on: str = field(
        default="text",
        metadata={"help": "'text': the documents; 'qa': the QA pairs of the QA columns.", "choices": list(TRAIN_ON)},
    )
    qa_question_field: str | None = field(default=None, metadata={"help": "Column of questions (e.g. 'question')."})
    qa_answer_field: str | None = field(default=None, metadata={"help": "Column of answers (e.g. 'answer')."})
    qa_direction_field: str | None = field(
        default=None, metadata={"help": "Column of QA directions ('forward'/'backward'); default all forward."}
    )
    qa_max_tokens: int | None = field(
        default=None,
        metadata={"help": "`train_on: qa`: drop QA pairs of more than N tokens (the paper's Webscale-RL SFT: 512)."},
    )

    def __post_init__(self):
        if self.keep_every < 1:
            raise ValueError(f"`keep_every` must be at least 1 (every row), got {self.keep_every}.")
        for key in ("drop_document_chars", "max_train_rows", "qa_max_tokens"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"`{key}` must be a positive number, got {getattr(self, key)}.")
        if self.train_on not in TRAIN_ON:
            raise ValueError(f"`train_on` must be one of {TRAIN_ON}, got {self.train_on!r}.")
        if self.txt_sample_by not in SAMPLE_BY:
            raise ValueError(f"`txt_sample_by` must be one of {SAMPLE_BY}, got {self.txt_sample_by!r}.")
        if (self.qa_question_field is None) != (self.qa_answer_field is None):
            raise ValueError("Set `qa_question_field` and `qa_answer_field` together (the QA columns of the corpus).")
        if self.qa_question_field is None and (self.train_on == "qa" or self.qa_direction_field or self.qa_max_tokens):
            raise ValueError(
                "`train_on: qa`, `qa_direction_field` and `qa_max_tokens` need the QA columns: set "
                "`qa_question_field` and `qa_answer_field`."
            )
        if self.qa_max_tokens is not None and self.train_on != "qa":
            raise ValueError("`qa_max_tokens` drops QA pairs from training: it applies with `train_on: qa` only.")
        if self.dataset_test_split is not None and self.dataset_test_size is not None:
            raise ValueError("Hold out rows with `dataset_test_split` or with `dataset_test_size`, not both.")
        check_test_size(self.dataset_test_size)

    @property
    def qa_columns(self) -> dict[str, str | None]:
        return {
            "qa_question_field": self.qa_question_field,
            "qa_answer_field": self.qa_answer_field,
            "qa_direction_field": self.qa_direction_field,
        }


@dataclass
class Corpus:
    """A loaded corpus: the rows to train on (documents in the text column, or with `train_on: qa` prompt/completion
    rows), held-out rows for the evaluation loss (None: none), the QA items to ask, and what loading did (`log`)."""

    train: Dataset | IterableDataset
    eval: Dataset | IterableDataset | None = None
    qa: list[QAItem] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def preprocess(dataset, args: CorpusArguments, text_field: str, num_proc: int | None, log: list[str], cap: bool):
    """Every `keep_every`-th row, without empty documents and those of `drop_document_chars` characters or more, the
    first `max_train_rows` of them (with `cap`); each step's count appended to `log` (map-style only)."""
    streamed = isinstance(dataset, IterableDataset)
    if args.keep_every > 1:
        if streamed:  # a stream's rows are numbered per shard: every k-th row of each shard
            dataset = dataset.filter(lambda _, i: i % args.keep_every == 0, with_indices=True)
        else:
            dataset = dataset.select(range(0, len(dataset), args.keep_every))
            log.append(f"kept 1 row in {args.keep_every} (`keep_every`): {len(dataset):,}")
    before = None if streamed else len(dataset)
    kwargs = {} if streamed else {"num_proc": num_proc, "desc": "Filtering documents"}
    dataset = dataset.filter(
        keep_text, batched=True, fn_kwargs={"text_field": text_field, "max_chars": args.drop_document_chars}, **kwargs
    )
    if not streamed:
        limit = f" or of {args.drop_document_chars:,} characters or more" if args.drop_document_chars else ""
        log.append(f"dropped {before - len(dataset):,} empty documents{limit}: {len(dataset):,}")
    if cap and args.max_train_rows is not None:
        if streamed:
            dataset = dataset.take(args.max_train_rows)
        else:
            dataset = dataset.select(range(min(args.max_train_rows, len(dataset))))
            log.append(f"kept the first {len(dataset):,} rows (`max_train_rows`)")
    return dataset


def hold_out(train, args: CorpusArguments, seed: int):
    """``(train, held out)`` by `dataset_test_size`: a random share or number of rows, or for a stream its first
    rows."""
    size = args.dataset_test_size
    if isinstance(train, IterableDataset):
        if size < 1 or size != int(size):
            raise ValueError(
                "A stream holds out a number of its first rows: `dataset_test_size` must be a whole number, got "
                f"{size}."
            )
        return train.skip(int(size)), train.take(int(size))
    split = train.train_test_split(test_size=int(size) if size >= 1 else size, seed=seed)
    return split["train"], split["test"]


def load_corpus(
    name: str,
    args: CorpusArguments,
    text_field: str = "text",
    dataset_config: str | None = None,
    qa_file: str | None = None,
    qa_max_items: int | None = None,
    seed: int = 0,
    num_proc: int | None = None,
    tokenizer=None,
) -> Corpus:
    """The corpus `name` (local files or a Hub id) read, preprocessed and held out by `args`; see the module's doc.
    `tokenizer` counts the tokens of QA pairs (`qa_max_tokens`)."""
    streamed = args.dataset_streaming
    log: list[str] = []
    files = file_splits(name, local_files(name)) if is_local(name) else None
    if files is not None:
        check_splits(name, files, args.dataset_train_split, args.dataset_test_split)
        log += describe_splits(name, files)

    def split(split_name: str, cap: bool, log: list[str]):
        dataset = load_split(name, dataset_config, split_name, streamed, args.txt_sample_by, files)
        split_files = files[split_name] if files else []
        columns = check_text_column(dataset, text_field, f"{name!r} ({split_name})", split_files)
        require_columns(columns, args.qa_columns, f"{name!r} ({split_name})")
        if not streamed:
            log.append(f"{name} [{split_name}]: {len(dataset):,} rows")
            log += text_file_rows(split_files, len(dataset), args.txt_sample_by)
        try:
            return preprocess(text_rows(dataset, text_field), args, text_field, num_proc, log, cap)
        except UnicodeDecodeError as err:  # pyarrow reads JSON strings without checking them
            check_utf8(name)  # the file and line, for local files
            raise ValueError(
                f"{name!r} ({split_name}) holds text that is not UTF-8 ({err}). Save the files as UTF-8 (e.g. "
                "`iconv -f latin1 -t utf-8`)."
            ) from None

    train = split(args.dataset_train_split, True, log)
    if first_row(train) is None:
        raise ValueError(
            f"The corpus {name!r} has no documents left after filtering (split {args.dataset_train_split!r}, "
            f"`keep_every`={args.keep_every}, `drop_document_chars`={args.drop_document_chars}, empty documents "
            f"dropped). Check `dataset_text_field` ({text_field!r}) and loosen the filters."
        )
    held_out = None
    if args.dataset_test_split is not None:
        held_out = split(args.dataset_test_split, False, log)
    elif args.dataset_test_size is not None:
        train, held_out = hold_out(train, args, seed)
        if not streamed:
            log.append(f"held out {len(held_out):,} rows for evaluation (`dataset_test_size`), {len(train):,} left")
    qa = load_qa_jsonl(qa_file) if qa_file else []
    if args.qa_question_field is not None:
        if streamed and qa_max_items is None:
            raise ValueError("A streamed corpus asks the QA items of its first rows: set `qa_max_items`.")
        asked = (
            train.take(qa_max_items) if streamed else train.select(range(min(qa_max_items or len(train), len(train))))
        )
        qa += qa_items_from_rows(asked, args.qa_question_field, args.qa_answer_field, args.qa_direction_field, name)
    if args.train_on == "qa":
        train = qa_pairs(train, args, tokenizer, num_proc, log)
        held_out = None if held_out is None else qa_pairs(held_out, args, tokenizer, num_proc, log)
    return Corpus(train=train, eval=held_out, qa=qa, log=log)


def qa_pairs(dataset, args: CorpusArguments, tokenizer, num_proc, log: list[str]):
    """The QA pairs of `dataset` as prompt/completion rows, without those of more than `qa_max_tokens` tokens."""
    columns = {"question": args.qa_question_field, "answer": args.qa_answer_field}
    streamed = isinstance(dataset, IterableDataset)
    kwargs = {} if streamed else {"num_proc": num_proc}
    if args.qa_max_tokens is not None:
        if tokenizer is None:
            raise ValueError("`qa_max_tokens` counts tokens: pass the model's tokenizer to `load_corpus`.")
        before = None if streamed else len(dataset)
        fn_kwargs = {"tokenizer": tokenizer, "max_tokens": args.qa_max_tokens, **columns}
        dataset = dataset.filter(short_pairs, batched=True, fn_kwargs=fn_kwargs, **kwargs)
        if not streamed:
            log.append(
                f"dropped {before - len(dataset):,} QA pairs of more than {args.qa_max_tokens} tokens: "
                f"{len(dataset):,}"
            )
    names = list(dataset.column_names) if dataset.column_names is not None else None
    return dataset.map(qa_pair_rows, batched=True, fn_kwargs=columns, remove_columns=names, **kwargs)
