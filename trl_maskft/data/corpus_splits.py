"""The split of every file of a local corpus, decided here, listed in the run's log and checked against the splits the
run reads, so that no file is dropped or set aside without a word.

A file or a glob is one `train` split. In a folder, a file goes to the split whose word its name or one of its
folders holds between separators (`-`, `_`, `.`, a space, digits; the words of `datasets`: `train`/`training`,
`validation`/`valid`/`dev`/`val`, `test`/`testing`/`eval`/`evaluation`), e.g. `part-train.jsonl` or
`test/a.jsonl`; every other file is `train`. A file whose path names two splits, a split the run neither trains on
(`dataset_train_split`) nor holds out (`dataset_test_split`), and a split the run names but no file is in, are errors
naming the files and the keys that place them.
"""

from __future__ import annotations

import os
import re

from datasets.data_files import SPLIT_KEYWORDS

SEPARATORS = re.compile(r"[-._ 0-9]+")
SPLIT_WORDS = {word: str(split) for split, words in SPLIT_KEYWORDS.items() for word in words}
SPLIT_HELP = "train: train, training; validation: validation, valid, dev, val; test: test, testing, eval, evaluation"


def named_splits(relative_path: str) -> set[str]:
    """The splits whose words the folders and the file name (without its extension) of `relative_path` hold."""
    *folders, file = relative_path.split(os.sep)
    parts = [*folders, os.path.splitext(file)[0]]
    return {SPLIT_WORDS[word] for part in parts for word in SEPARATORS.split(part.lower()) if word in SPLIT_WORDS}


def file_splits(name: str, files: list[str]) -> dict[str, list[str]]:
    """`{split: files}` of the corpus files `files` of `dataset_name` `name` (see the module's doc)."""
    if not os.path.isdir(name):
        return {"train": files}
    splits: dict[str, list[str]] = {}
    for path in files:
        found = named_splits(os.path.relpath(path, name))
        if len(found) > 1:
            raise ValueError(
                f"The corpus file {path!r} names the splits {sorted(found)} in its path ({SPLIT_HELP}): rename it or "
                "its folder so that it names one split (files that name none are `train`)."
            )
        splits.setdefault(found.pop() if found else "train", []).append(path)
    return splits


def describe_splits(name: str, splits: dict[str, list[str]]) -> list[str]:
    """One line per split: its files, relative to a folder `name`."""
    root = name if os.path.isdir(name) else None
    return [
        f"{name} [{split}] {len(files)} file(s): {', '.join(os.path.relpath(p, root) if root else p for p in files)}"
        for split, files in sorted(splits.items())
    ]


def check_splits(name: str, splits: dict[str, list[str]], train_split: str, test_split: str | None) -> None:
    """A clear error for a split the run reads that no file is in, and for files in a split the run does not read."""
    listing = "; ".join(describe_splits(name, splits))
    for key, split in (("dataset_train_split", train_split), ("dataset_test_split", test_split)):
        if split is not None and split not in splits:
            raise ValueError(
                f"The local files {name!r} has no split {split!r} (`{key}`): {listing}. A folder's file goes to the "
                f"split its name or folder names ({SPLIT_HELP}); every other file is `train`. Name an existing split "
                "or rename the files."
            )
    unused = {split: files for split, files in splits.items() if split not in (train_split, test_split)}
    if unused:
        files = [path for paths in unused.values() for path in paths]
        held = f" and holds out {test_split!r} (`dataset_test_split`)" if test_split else ""
        extension = os.path.splitext(files[0])[1]
        raise ValueError(
            f"{len(files)} file(s) of {name!r} are in a split this run does not read: "
            f"{'; '.join(describe_splits(name, unused))}. A folder's file goes to the split its name or folder names "
            f"({SPLIT_HELP}); every other file is `train`. The run trains on {train_split!r} (`dataset_train_split`)"
            f"{held}. Name the files to train on as a file or a glob (`dataset_name: '{name.rstrip(os.sep)}/**/*"
            f"{extension}'` reads every file as `train`), rename them without the split word, move them out of the "
            f"folder, or evaluate on them: `dataset_test_split: {sorted(unused)[0]}` (with `eval_strategy`)."
        )
