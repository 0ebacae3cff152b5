"""The replay rows of a run, tokenized: rows of `replay_data` (a local file or Hub dataset of chat `messages`,
`prompt`/`completion` or plain text rows, read by `trl_maskft.data.corpus_files.load_split`), or for
`replay_data: self` the base model's own answers to generic instructions, generated once and saved in `output_dir`
(`SELF_REPLAY_FILE`), which a resumed run reads back instead of asking its changed model again."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable

from transformers import PreTrainedTokenizerBase

from ..data.corpus_files import is_local, load_split, local_files
from ..data.corpus_text import column_names
from ..data.instructions import BUILTIN_REPLAY_INSTRUCTIONS, load_instructions
from ..data.qa_io import read_jsonl_rows, require_field
from .replay_config import SELF_REPLAY
from .replay_mixing import chat_example, text_example

logger = logging.getLogger(__name__)

SELF_REPLAY_FILE = "self_replay.jsonl"


def replay_format(columns: list[str], text_field: str, name: str) -> str:
    """How the rows of `replay_data` `name` are read, from its columns: `messages`, `prompt` (with `completion`) or
    `text` (the column `text_field`); an error naming the columns and the key otherwise."""
    if "messages" in columns:
        return "messages"
    if "prompt" in columns and "completion" in columns:
        return "prompt"
    if text_field in columns:
        return "text"
    raise ValueError(
        f"`replay_data` {name!r} has no column `messages`, no `prompt`/`completion` pair and no text column "
        f"`replay_text_field: {text_field}` (its columns: {', '.join(columns)}). Name its text column with "
        "`replay_text_field`, or give chat `messages` or `prompt`/`completion` rows."
    )


def dataset_examples(args, tokenizer: PreTrainedTokenizerBase) -> list[dict]:
    """The tokenized rows of `args.replay_data` (split `args.replay_split`)."""
    name = args.replay_data
    files = {args.replay_split: local_files(name)} if is_local(name) else None
    try:
        dataset = load_split(name, None, args.replay_split, data_files=files)
    except ValueError as err:  # its messages name the corpus keys: say which key this is
        raise ValueError(f"`replay_data: {name}`: {err}") from err
    kind = replay_format(column_names(dataset), args.replay_text_field, name)
    examples = []
    for index, row in enumerate(dataset):
        if kind == "text":
            examples.append(text_example(tokenizer, row[args.replay_text_field], args.max_length))
            continue
        chat = row["messages"] if kind == "messages" else chat_turns(row["prompt"], row["completion"])
        try:
            examples.append(chat_example(tokenizer, chat, args.max_length))
        except ValueError as err:
            raise ValueError(f"`replay_data` {name!r}, row {index}: {err}") from err
    return examples


def chat_turns(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def read_self_replay(path: str) -> list[tuple[str, str]]:
    """The (instruction, answer) pairs of a saved self-replay file."""
    return [
        (require_field(row, "instruction", path, line), require_field(row, "answer", path, line))
        for line, row in read_jsonl_rows(path)
    ]


def self_replay_pairs(args, answer: Callable[[list[str]], list[str]], main_process: bool) -> list[tuple[str, str]]:
    """The base model's answers to the replay instructions: read from `output_dir` when a run saved them there (a
    resumed run), else `answer`-ed now (on every process) and saved by the main process."""
    path = os.path.join(args.output_dir, SELF_REPLAY_FILE)
    if os.path.isfile(path):
        logger.info("Self-replay: reusing the base model's answers saved in %s.", path)
        return read_self_replay(path)
    instructions = load_instructions(args.replay_instructions_file or BUILTIN_REPLAY_INSTRUCTIONS)
    pairs = list(zip(instructions, answer(instructions), strict=True))
    if main_process:
        os.makedirs(args.output_dir, exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as file:
            for instruction, text in pairs:
                file.write(json.dumps({"instruction": instruction, "answer": text}, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
    return pairs


def replay_examples(
    args, tokenizer: PreTrainedTokenizerBase, answer: Callable[[list[str]], list[str]], main_process: bool = True
) -> list[dict]:
    """The tokenized replay rows of the run (`input_ids`, `labels` on the answer tokens)."""
    if args.replay_data != SELF_REPLAY:
        return dataset_examples(args, tokenizer)
    pairs = self_replay_pairs(args, answer, main_process)
    return [chat_example(tokenizer, chat_turns(*pair), args.max_length) for pair in pairs]
