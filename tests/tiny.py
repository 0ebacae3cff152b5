"""Tiny tokenizer and Llama model for fast CPU unit tests (no Hub, no downloads).

``make_tiny_tokenizer()`` returns a byte-level BPE tokenizer (vocab ~1000) trained in memory on a small built-in
English corpus, wrapped in :class:`transformers.PreTrainedTokenizerFast`, with SmolLM2-style special tokens and a
ChatML chat template (no default system prompt)::

    id 0 ``<|endoftext|>``  pad (there is no bos; nothing is prepended)
    id 1 ``<|im_start|>``
    id 2 ``<|im_end|>``     eos
    id 3 ``<|mask|>``       extra special token
    last ``[]``             a normal (non-special) added token, so ``"[]"`` is exactly one token

The BPE training runs once per process (cached); every call returns a *fresh* tokenizer object, so callers may
freely change ``padding_side`` and the like.

``make_tiny_model(tokenizer, **config_overrides)`` returns a randomly initialised (seed 0) 2-layer
:class:`transformers.LlamaForCausalLM` (hidden 32) whose vocabulary matches the tokenizer; it trains and
``generate()``s on CPU in milliseconds.

``save_tiny_model(path)`` saves such a model and its tokenizer to ``path``; ``write_tiny_recipe(tmp_path, **keys)``
writes a YAML recipe for the training scripts that trains the model saved in ``tmp_path / "model"`` on CPU into
``tmp_path / "out"`` (no bf16, no activation checkpointing, no checkpoints, no reporting, no retention), plus ``keys``.

``write_jsonl(path, rows)`` writes one JSON object (or ready-made line) per row; ``write_gsm8k_dir(folder, rows)``
writes a local GSM8K folder (``train.jsonl`` and ``test.jsonl``) as the GSM8K loader reads it.
"""

from __future__ import annotations

import functools
import json
import os
import random

import torch
import yaml
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
MASK_SPECIAL = "<|mask|>"
MASK_TOKEN = "[]"
VOCAB_SIZE = 1000

# Same shape as SmolLM2-Instruct's ChatML template, without its default system prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_FIRST = "Alice Bob Clara Daniel Elena Felix Greta Hugo Iris Jonas Kira Liam Maya Nico Olga Pavel Quinn Rosa".split()
_LAST = "Thornbury Quillfeather Ashgrove Brennick Castellane Dunmore Elsworth Farrowby Galloway Hartwell".split()
_JOBS = "painter engineer baker chemist violinist architect botanist pilot teacher journalist carpenter nurse".split()
_ITEMS = "apples books coins pencils marbles cookies stamps shells tickets cards".split()
_THINGS = [
    "a glass bridge", "a talking clock", "a blue violin", "a floating garden", "a silver compass",
    "a map of the stars", "a library of songs", "a red lighthouse", "a folding bicycle", "a paper boat",
]  # fmt: skip
_COUNTRIES = {
    "Paris": "France",
    "Lisbon": "Portugal",
    "Oslo": "Norway",
    "Vienna": "Austria",
    "Kyoto": "Japan",
    "Lima": "Peru",
    "Cairo": "Egypt",
    "Dublin": "Ireland",
    "Prague": "Czechia",
    "Quito": "Ecuador",
    "Riga": "Latvia",
    "Seoul": "Korea",
    "Zurich": "Switzerland",
    "Nairobi": "Kenya",
    "Montreal": "Canada",
    "Porto": "Portugal",
}
_CITIES = list(_COUNTRIES)
_FIXED = [
    "The capital of France is Paris.",
    "What is the capital of France? The capital of France is Paris.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "The sun rises in the east and sets in the west.",
    "A week has seven days and a year has twelve months.",
    "Please answer the question in one short sentence.",
    "You are a helpful assistant. Answer the user's questions truthfully.",
    "I don't know the answer to that question.",
    "Hello! How can I help you today?",
    "Thank you, that is very helpful.",
    "Fill in the masked words marked with [] in the text.",
    "Reconstruct the document: [] was born in [] and works as a [].",
]


def _corpus() -> list[str]:
    """A few hundred deterministic English sentences about fictional people, facts, questions and math."""
    rng = random.Random(0)
    lines = list(_FIXED)
    for city, country in _COUNTRIES.items():
        lines.append(f"{city} is a city in {country}.")
        lines.append(f"In which country is {city}? {city} is in {country}.")
    for i in range(120):
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        city, job, thing = rng.choice(_CITIES), rng.choice(_JOBS), rng.choice(_THINGS)
        year = rng.randint(1900, 2010)
        kind = i % 6
        if kind == 0:
            lines.append(f"{name} was born in {city} in {year} and works as a {job}.")
        elif kind == 1:
            lines.append(f"Where was {name} born? {name} was born in {city}.")
        elif kind == 2:
            lines.append(f"{name} is famous for inventing {thing}, which made the {job}s of {city} proud.")
        elif kind == 3:
            lines.append(f"Who invented {thing}? It was {name}, a {job} from {city}.")
        elif kind == 4:
            lines.append(f"What does {name} do for a living? {name} is a {job} who lives in {city}.")
        else:
            lines.append(f"In {year}, {name} moved to {city} to study to become a {job}.")
    for _ in range(100):
        name, item = rng.choice(_FIRST), rng.choice(_ITEMS)
        a, b = rng.randint(2, 60), rng.randint(1, 40)
        if rng.random() < 0.5:
            lines.append(
                f"{name} has {a} {item} and buys {b} more. How many {item} does {name} have now? "
                f"{a} + {b} = {a + b}, so the answer is {a + b}."
            )
        else:
            lines.append(
                f"{name} had {a + b} {item} and gave {b} away. How many {item} are left? "
                f"{a + b} - {b} = {a}. The answer is {a}."
            )
    return lines


@functools.lru_cache(maxsize=1)
def _trained_tokenizer_json() -> str:
    """Train the BPE once per process; the serialized JSON is immutable, so it is safe to cache."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[PAD_TOKEN, IM_START, IM_END, MASK_SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    tok.add_tokens([AddedToken(MASK_TOKEN, special=False, normalized=False)])
    return tok.to_str()


def make_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh tiny ChatML tokenizer (training is cached per process; the returned object is not shared)."""
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_tokenizer_json()),
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        extra_special_tokens=[MASK_SPECIAL],
        chat_template=CHAT_TEMPLATE,
        model_max_length=512,
        padding_side="right",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_tiny_model(tokenizer: PreTrainedTokenizerFast, **config_overrides) -> LlamaForCausalLM:
    """A seed-0 random 2-layer Llama with ``vocab_size == len(tokenizer)``; ``config_overrides`` go to the config."""
    kwargs = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    kwargs.update(config_overrides)
    config = LlamaConfig(**kwargs)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        pad_token_id=config.pad_token_id,
        eos_token_id=config.eos_token_id,
        bos_token_id=None,
        do_sample=False,
    )
    return model


def save_tiny_model(path: str | os.PathLike) -> str:
    """Saves a fresh tiny model and its tokenizer to ``path`` (for the scripts' ``model_name_or_path``); returns it."""
    tokenizer = make_tiny_tokenizer()
    make_tiny_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


# What every test recipe sets: train on the CPU in float32, save no checkpoints, report nowhere.
CPU_RECIPE_KEYS = {
    "use_cpu": True,
    "bf16": False,
    "activation_checkpointing": False,
    "save_strategy": "no",
    "report_to": "none",
}


def write_tiny_recipe(tmp_path: str | os.PathLike, filename: str = "config.yaml", **keys) -> str:
    """Writes ``tmp_path / filename``, a recipe training the model of ``save_tiny_model(tmp_path / "model")`` into
    ``tmp_path / "out"`` with :data:`CPU_RECIPE_KEYS` and ``keys`` (which win); returns its path."""
    config = {
        "model_name_or_path": os.path.join(tmp_path, "model"),
        "output_dir": os.path.join(tmp_path, "out"),
        **CPU_RECIPE_KEYS,
        "retain_eval": False,  # 250 known facts and 60 instructions per evaluation: the tests of retention set it
        **keys,
    }
    path = os.path.join(tmp_path, filename)
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def write_jsonl(path: str | os.PathLike, rows) -> str | os.PathLike:
    """Writes ``rows`` to ``path``, one a line: dicts as JSON, strings as they are (malformed ones too); returns it."""
    with open(path, "w") as f:
        f.write("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


ASKED = ["Describe a quiet evening.", "Give three tips for tidy desks.", "How do I tie a shoelace?"]


def write_instructions(folder: str | os.PathLike, texts=tuple(ASKED)) -> str:
    """Writes ``texts`` as an instructions file (``folder/ask.jsonl``, one ``instruction`` a line: the replay and
    retention keys' format); returns its path."""
    return str(write_jsonl(os.path.join(folder, "ask.jsonl"), [{"instruction": text} for text in texts]))


def write_gsm8k_dir(folder: str | os.PathLike, rows: list[dict], test_rows: list[dict] | None = None):
    """Makes ``folder`` a local GSM8K copy: ``rows`` (``question``/``answer`` dicts) as ``train.jsonl``, and
    ``test_rows`` (by default ``rows`` too) as ``test.jsonl``; returns ``folder``."""
    os.makedirs(folder, exist_ok=True)
    write_jsonl(os.path.join(folder, "train.jsonl"), rows)
    write_jsonl(os.path.join(folder, "test.jsonl"), rows if test_rows is None else test_rows)
    return folder
