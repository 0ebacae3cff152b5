"""Writes docs/configuration.md, the reference of every recipe key trl-maskft adds to TRL or whose default it changes,
from the config dataclasses' `help` metadata (so the tables cannot drift from the code):

    python docs/make_reference.py          # rewrite docs/configuration.md
    python docs/make_reference.py --check  # exit 1 if docs/configuration.md is not current

tests/test_docs.py fails when the page is not current.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from trl import SFTConfig

from trl_maskft import BaselineSFTConfig, BenchmarkConfig, DiffusionSFTConfig, MaskedSFTConfig
from trl_maskft.data.corpus import CorpusArguments
from trl_maskft.evaluation.retention import RetentionConfig
from trl_maskft.pipeline.arguments import KnowledgeScriptArguments, TaskArguments
from trl_maskft.scripts.diffusion_sft import DiffusionSamplingArguments
from trl_maskft.scripts.sft import BaselineArguments

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configuration.md")

# (section title, dataclass, what it is, the TRL class whose keys and defaults are left out)
SECTIONS = [
    ("Masked SFT", MaskedSFTConfig, "the `masked_sft` script's trainer config", SFTConfig),
    ("Diffusion SFT", DiffusionSFTConfig, "the `diffusion_sft` script's trainer config", SFTConfig),
    ("Plain-SFT baselines", BaselineSFTConfig, "the trainer config of the baseline scripts", SFTConfig),
    ("Knowledge data and QA evaluation", KnowledgeScriptArguments, "every training script", None),
    ("Corpora", CorpusArguments, "`masked_sft` and the baselines", None),
    ("Tasks", TaskArguments, "`masked_sft` and `sft`", None),
    ("Baseline data", BaselineArguments, "`sft`, `paraphrase_sft`, `reverse_sft`", None),
    ("Diffusion sampling", DiffusionSamplingArguments, "`diffusion_sft`'s QA answers", None),
    ("Benchmarks (lm-evaluation-harness)", BenchmarkConfig, "`masked_sft`, `sft` and `trl-maskft-eval`", None),
    ("Retention (docs/retention.md)", RetentionConfig, "every training script", None),
]

HEADER = """# Configuration reference

Every recipe key that trl-maskft adds to TRL, or whose default it changes, with its default and meaning, generated
from the config dataclasses' `help` metadata by `python docs/make_reference.py` (do not edit this page by hand). All
other keys are TRL's (`SFTConfig`, `ModelConfig`) and transformers' (`TrainingArguments`) and keep their defaults
there. A recipe is parsed strictly: a key of none of its script's dataclasses is an error. Any key can be given on
the command line too (`--num_train_epochs 40`).
"""


def default_of(f: dataclasses.Field) -> object:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def own_fields(cls: type, base: type | None) -> list[dataclasses.Field]:
    """The fields of `cls` that `base` lacks or has with another default (all of them without a `base`)."""
    inherited = {f.name: default_of(f) for f in dataclasses.fields(base)} if base else {}
    return [
        f
        for f in dataclasses.fields(cls)
        if f.init and (f.name not in inherited or inherited[f.name] != default_of(f))
    ]


def row(f: dataclasses.Field, base: type | None) -> str:
    meaning = f.metadata.get("help", "")
    if f.metadata.get("choices"):
        meaning += " One of: " + ", ".join(f"`{choice}`" for choice in f.metadata["choices"]) + "."
    if base and f.name in {g.name for g in dataclasses.fields(base)}:
        meaning += f" (TRL's default: `{default_of(next(g for g in dataclasses.fields(base) if g.name == f.name))}`)"
    return f"| `{f.name}` | `{default_of(f)}` | {cell(meaning)} |"


def render() -> str:
    parts = [HEADER]
    parts += [f"- [{title}](#{anchor(title)}): {what}" for title, _, what, _ in SECTIONS]
    for title, cls, what, base in SECTIONS:
        parts += ["", f"## {title}", "", f"`{cls.__module__}.{cls.__name__}`: {what}.", ""]
        parts += ["| key | default | meaning |", "|---|---|---|"]
        parts += [row(f, base) for f in own_fields(cls, base)]
    return "\n".join(parts) + "\n"


def anchor(title: str) -> str:
    """GitHub's heading anchor."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is not current, write nothing")
    args = parser.parse_args(argv)
    text = render()
    current = open(PAGE).read() if os.path.exists(PAGE) else None
    if args.check:
        if current != text:
            print(f"{PAGE} is not current: run `python docs/make_reference.py`.", file=sys.stderr)
            return 1
        return 0
    with open(PAGE, "w") as f:
        f.write(text)
    print(f"Wrote {PAGE}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
