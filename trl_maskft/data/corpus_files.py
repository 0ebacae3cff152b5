"""Where a corpus comes from: local files (a file, a folder or a glob of `.jsonl`/`.json`/`.parquet`/`.csv`/`.txt`)
read with the `datasets` builder of their format, or a Hugging Face Hub dataset id.

Every file goes to the split `trl_maskft.data.corpus_splits` gives it (a folder's files by the split words of their
names, every other file `train`; a file or a glob: `train`). The `.txt` files of a corpus give one document per file,
paragraph or line (`sample_by`). An empty file is an error naming it.
"""

from __future__ import annotations

import glob
import os

import datasets
from datasets.exceptions import DatasetGenerationError

from ..runtime.text_files import text_lines

BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".txt": "text"}
GLOB_CHARACTERS = "*?["


def is_local(name: str) -> bool:
    """Whether `name` names local files (an existing path or a glob pattern) rather than a Hub dataset."""
    return os.path.exists(name) or any(c in name for c in GLOB_CHARACTERS)


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def local_files(name: str) -> list[str]:
    """The corpus files of a file, folder (recursively, hidden files skipped) or glob, sorted."""
    if os.path.isfile(name):
        files = [name]
    elif os.path.isdir(name):
        files = [
            os.path.join(root, file)
            for root, dirs, names in os.walk(name)
            if not any(part.startswith(".") for part in os.path.relpath(root, name).split(os.sep) if part != ".")
            for file in names
            if not file.startswith(".") and _extension(file) in BUILDERS
        ]
    else:
        files = [path for path in glob.glob(name, recursive=True) if os.path.isfile(path)]
    if not files:
        raise ValueError(
            f"`dataset_name` {name!r} holds no corpus files: expected {', '.join(BUILDERS)} files (a file, a folder "
            "or a glob such as 'data/*.jsonl')."
        )
    return sorted(files)


def builder_of(files: list[str]) -> str:
    """The one `datasets` builder that reads all of `files`; a clear error for other or mixed formats."""
    unknown = sorted({path for path in files if _extension(path) not in BUILDERS})
    if unknown:
        raise ValueError(f"Cannot read {unknown[0]!r} as a corpus: supported formats are {', '.join(BUILDERS)}.")
    builders = sorted({BUILDERS[_extension(path)] for path in files})
    if len(builders) > 1:
        raise ValueError(
            f"The corpus files mix formats ({', '.join(builders)}); keep one format per corpus, e.g. with a glob such "
            "as 'data/*.jsonl'."
        )
    return builders[0]


def check_utf8(name: str) -> None:
    """Where the local corpus files of `name` hold a byte that is not UTF-8, a `ValueError` naming the file, the line
    and the byte (`text_lines`); called once `datasets` has failed on such a byte, which it reports without either."""
    if is_local(name):
        for path in local_files(name):
            for _ in text_lines(path):
                pass


def text_file_rows(files: list[str], rows: int, sample_by: str) -> list[str]:
    """The log line of `.txt` files read one row per line or paragraph (`sample_by`) that gave more rows than files:
    how many files became how many rows."""
    texts = [path for path in files if _extension(path) == ".txt"]
    if not texts or sample_by == "document" or rows <= len(texts):
        return []
    return [
        f"{len(texts)} .txt file(s) became {rows:,} rows, one per {sample_by} (`txt_sample_by: {sample_by}`; "
        "`txt_sample_by: document` keeps each file one document)"
    ]


def check_not_empty(files: list[str]) -> None:
    """A clear error naming the corpus files of 0 bytes (`datasets` fails on them without naming them)."""
    empty = [path for path in files if os.path.getsize(path) == 0]
    if empty:
        raise ValueError(
            f"The corpus file(s) {', '.join(map(repr, empty))} are empty (0 bytes): write their rows or remove them "
            "from `dataset_name`."
        )


def load_split(
    name: str,
    config: str | None,
    split: str,
    streaming: bool = False,
    sample_by: str = "document",
    data_files: dict[str, list[str]] | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """Split `split` of the corpus `name` (local files, `data_files`: `{split: files}`, or a Hub id; `config` is the
    Hub configuration), memory-mapped from the `datasets` cache or, with `streaming`, read as it is iterated. Clear
    errors for empty files, a missing split and a Hub dataset that cannot be loaded."""
    kwargs: dict = {"split": split, "streaming": streaming}
    if data_files is not None:
        files = [path for paths in data_files.values() for path in paths]
        builder = builder_of(files)
        if config is not None:
            raise ValueError(f"`dataset_config` ({config!r}) names a Hub configuration; local files have none.")
        check_not_empty(files)
        kwargs["data_files"] = data_files
        if builder == "text":
            kwargs["sample_by"] = sample_by
        path, source = builder, f"the local files {name!r}"
    else:
        path, source = name, f"the Hub dataset {name!r}"
        kwargs["name"] = config
    try:
        return datasets.load_dataset(path, **kwargs)
    except DatasetGenerationError as err:  # unreadable files: name the cause, not only "an error occurred"
        cause = err.__cause__ or err.__context__
        if isinstance(cause, UnicodeDecodeError):
            check_utf8(name)
        raise ValueError(f"Reading {source} failed: {cause or err}. Fix or remove the malformed file or row.") from err
    except ValueError as err:
        if "corresponds to no data" in str(err):
            raise ValueError(f"{source} holds no rows (split {split!r}): check the files.") from err
        if "split" in str(err).lower():
            raise ValueError(f"{source} has no split {split!r} ({err}); name an existing split.") from err
        raise ValueError(f"Loading {source} failed: {err}") from err
    except OSError as err:  # not found, offline, unreachable
        raise ValueError(
            f"`dataset_name` {name!r} is not a built-in dataset, not existing local files, and loading it from the "
            f"Hub failed: {err}"
        ) from err
