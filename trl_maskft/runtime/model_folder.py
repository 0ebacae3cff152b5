"""What a local model folder must hold to be loaded (`trl-maskft-eval`): a config, weights and a tokenizer, checked
before anything is loaded, so that a folder without a model is named as such (transformers blames a missing
`sentencepiece` when it finds no tokenizer file)."""

from __future__ import annotations

import os

from .checkpoints import WEIGHT_FILES, last_complete_checkpoint

CONFIG_FILES = ("config.json", "adapter_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
NEEDED = {
    CONFIG_FILES: "config.json (a PEFT adapter: adapter_config.json)",
    WEIGHT_FILES: "the weights (model.safetensors, or its shards with model.safetensors.index.json, or "
    "pytorch_model.bin; an adapter: adapter_model.safetensors)",
    TOKENIZER_FILES: "the tokenizer (tokenizer.json and tokenizer_config.json)",
}
SHOWN = 10  # names of a folder listed in the message


def check_model_folder(path: str) -> None:
    """A clear error for a local folder `path` that lacks a config, weights or a tokenizer, naming what it lacks,
    what it holds and, when it holds a complete checkpoint, the newest one to load instead; nothing for a complete
    folder or a name that is not a local folder (a Hub id, the default model's alias)."""
    if not os.path.isdir(path):
        return
    names = sorted(os.listdir(path))
    missing = [description for files, description in NEEDED.items() if not set(files) & set(names)]
    if not missing:
        return
    shown = ", ".join(names[:SHOWN]) + (f" (and {len(names) - SHOWN} more)" if len(names) > SHOWN else "")
    checkpoint = last_complete_checkpoint(path)
    newest = f" Its newest complete checkpoint holds one: `--model_name_or_path {checkpoint}`." if checkpoint else ""
    raise FileNotFoundError(
        f"`model_name_or_path` {path!r} is a folder without a model: it lacks {'; '.join(missing)}. It holds "
        f"{shown or 'nothing'}. A model folder is what a training run saves in its `output_dir` when it ends "
        f"(config, weights and tokenizer): point at one, or at a Hub id.{newest}"
    )
