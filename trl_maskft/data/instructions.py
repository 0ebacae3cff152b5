"""Generic instructions, without any knowledge to inject: what the model's own behaviour is measured on (retention)
and what self-replay asks the base model before training.

A file of instructions is JSONL, one `{"instruction": str}` per line; the built-in set (`builtin/instructions.jsonl`,
60 everyday requests written for this project) is used when no file is given. Errors name the file and the line.
"""

from __future__ import annotations

import os

from .qa_io import PathLike, read_jsonl_rows, require_field

BUILTIN_INSTRUCTIONS = os.path.join(os.path.dirname(__file__), "builtin", "instructions.jsonl")
# What self-replay asks the base model (`replay_data: self`): other everyday requests, none of the 60 above, so that
# retention measures on instructions the run never trained on
BUILTIN_REPLAY_INSTRUCTIONS = os.path.join(os.path.dirname(__file__), "builtin", "replay_instructions.jsonl")


def load_instructions(path: PathLike | None = None) -> list[str]:
    """The instructions of the JSONL file `path` (default: the built-in set), in file order; each must be a non-empty
    string, and the file must hold at least one."""
    path = BUILTIN_INSTRUCTIONS if path is None else path
    instructions = []
    for line_number, row in read_jsonl_rows(path):
        instruction = require_field(row, "instruction", path, line_number)
        if not (isinstance(instruction, str) and instruction.strip()):
            raise ValueError(f"{path}, line {line_number}: `instruction` must be a non-empty string.")
        instructions.append(instruction)
    if not instructions:
        raise ValueError(f'{path} holds no instructions; give one `{{"instruction": ...}}` per line.')
    return instructions
