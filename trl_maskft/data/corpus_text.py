"""The text column of a corpus: it must exist and hold strings (checked on the Arrow column of a cached dataset, row
by row as a stream is read; a local JSON file's bad row named by file and line, `trl_maskft.data.corpus_json`), and
the documents kept by the length filter."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow.compute as pc
from datasets import Dataset, IterableDataset, Json, Value

from .corpus_json import check_json_arrays, first_non_text

STRING_TYPES = ("string", "large_string")


def first_row(dataset: Dataset | IterableDataset) -> dict | None:
    """The first row of a dataset or stream, None when it has none."""
    if isinstance(dataset, IterableDataset):
        return next(iter(dataset.take(1)), None)
    return dataset[0] if len(dataset) else None


def column_names(dataset: Dataset | IterableDataset) -> list[str]:
    """The columns of a dataset, or of a stream whose features are unknown, those of its first row."""
    if dataset.column_names is not None:
        return list(dataset.column_names)
    row = first_row(dataset)
    return [] if row is None else list(row)


def _not_text(text_field: str, where: str, value) -> ValueError:
    return ValueError(
        f"{where}: the text column `{text_field}` holds {value!r} ({type(value).__name__}), not a document string. "
        "Fix or remove that row, or name the column of documents with `dataset_text_field`."
    )


def _describe(feature) -> str:
    if isinstance(feature, Value):
        return f"{feature.dtype} values"
    return "values of several JSON types" if isinstance(feature, Json) else f"{type(feature).__name__} values"


def check_text_column(
    dataset: Dataset | IterableDataset, text_field: str, source: str, files: Sequence[str] = ()
) -> list[str]:
    """The columns of `dataset`, after checking that `text_field` is one of them and, for a cached dataset, that it
    holds strings in every row; a clear error naming the columns, the type or the first row without a string (in the
    local JSON `files` it was read from: the file and line)."""
    columns = column_names(dataset)
    if text_field not in columns:
        check_json_arrays(files)
        raise ValueError(
            f"{source} has no column {text_field!r} (`dataset_text_field`); its columns are {columns}. Set "
            "`dataset_text_field` to the column of documents (Webscale-RL's is 'pretrain_text')."
        )
    if isinstance(dataset, Dataset):
        feature = dataset.features[text_field]
        strings = isinstance(feature, Value) and feature.dtype in STRING_TYPES
        column = dataset.data.column(text_field)
        if not strings or column.null_count:
            found = first_non_text(files, text_field)
            if found is not None:
                raise _not_text(text_field, *found)
        if not strings:
            raise ValueError(
                f"{source}: the text column {text_field!r} holds {_describe(feature)}, not strings. Name the column "
                "of documents with `dataset_text_field`."
            )
        if column.null_count:
            row = pc.indices_nonzero(pc.is_null(column))[0].as_py()
            raise _not_text(text_field, f"{source}, row {row}", None)
    return columns


def check_stream_texts(batch: dict, *, text_field: str) -> dict:
    """Raise on a streamed row whose text is not a string (`IterableDataset.map(batched=True)`); rows unchanged."""
    for value in batch[text_field]:
        if not isinstance(value, str):
            raise _not_text(text_field, "A streamed row", value)
    return batch


def text_rows(dataset: Dataset | IterableDataset, text_field: str) -> Dataset | IterableDataset:
    """`dataset`, whose text cells are checked as a stream is read (a cached dataset is checked already)."""
    if isinstance(dataset, IterableDataset):
        return dataset.map(check_stream_texts, batched=True, fn_kwargs={"text_field": text_field})
    return dataset


def keep_text(batch: dict, *, text_field: str, max_chars: int | None) -> list[bool]:
    """Which documents of a batch are kept: not empty, and shorter than `max_chars` characters when it is set."""
    return [bool(text.strip()) and (max_chars is None or len(text) < max_chars) for text in batch[text_field]]
