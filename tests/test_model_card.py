"""Model cards and Hub pushes of real short script runs; only the two Hub calls are replaced."""

import importlib
import os

import pytest
import yaml
from huggingface_hub import HfApi, RepoUrl
from huggingface_hub.errors import OfflineModeIsEnabled
from tiny import make_tiny_model, make_tiny_tokenizer
from trainer_kinds import KINDS, QA_TOKENS

from trl_maskft.model_card import PAPER_ID
from trl_maskft.reporting import history_table


@pytest.fixture
def recipe(tmp_path):
    """Writes a recipe for `kind` on a tiny saved model (plus `extra` keys) and returns its path."""
    model_dir = tmp_path / "model"
    tokenizer = make_tiny_tokenizer()
    make_tiny_model(tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)

    def write(kind, **extra):
        config = {
            "model_name_or_path": str(model_dir),
            "output_dir": str(tmp_path / "out"),
            "dataset_name": "people",
            "num_people": 4,
            "qa_max_items": 4,
            "qa_max_new_tokens": QA_TOKENS,
            "num_train_epochs": 1,
            "per_device_train_batch_size": 4,
            "use_cpu": True,
            "bf16": False,
            "activation_checkpointing": False,
            "save_strategy": "no",
            "report_to": "none",
            **KINDS[kind].config,
            **KINDS[kind].script_config,
            **extra,
        }
        path = tmp_path / f"config_{kind}.yaml"
        path.write_text(yaml.safe_dump(config))
        return str(path)

    return write


def run_script(kind, recipe_path):
    return importlib.import_module(f"trl_maskft.scripts.{kind}").main(["--config", recipe_path])


@pytest.fixture
def hub(monkeypatch):
    """Records `create_repo` and `upload_folder` (and the card as uploaded) instead of calling the Hub."""
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"] = {"repo_id": repo_id, **kwargs}
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, **kwargs):
        calls["upload_folder"] = kwargs
        with open(os.path.join(kwargs["folder_path"], "README.md")) as f:
            calls["card"] = f.read()

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


@pytest.mark.parametrize("kind", KINDS)
def test_push_uploads_the_run_with_its_card(kind, recipe, hub, tmp_path):
    repo = f"me/tiny-{kind}"
    path = recipe(kind, push_to_hub=True, hub_model_id=repo)
    qa = run_script(kind, path)

    assert hub["create_repo"]["repo_id"] == repo and hub["create_repo"]["exist_ok"]
    upload = hub["upload_folder"]
    assert upload["repo_id"] == repo and upload["folder_path"] == str(tmp_path / "out")
    assert upload["commit_message"] == "End of training" and "checkpoint-*" in upload["ignore_patterns"]
    card = hub["card"]
    assert f"**{KINDS[kind].trainer_cls._name}**" in card and PAPER_ID in card
    assert f"Recipe: `{path}`" in card and "Dataset: `people`" in card and "huggingface.co/datasets" not in card
    assert [row["epoch"] for row in qa.history] == [0, 1] and history_table(qa.history) in card
    assert KINDS[kind].quick_start in card and repo in card.split("## Quick start")[1].split("## Knowledge")[0]
    assert card.count("## Quick start") == 1  # TRL's quick start is replaced, not kept


def test_failed_push_says_so_and_keeps_the_run(recipe, monkeypatch, tmp_path):
    def offline(self, *args, **kwargs):
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co/api/repos/create: offline mode is enabled.")

    monkeypatch.setattr(HfApi, "create_repo", offline)
    with pytest.raises(SystemExit) as exit_info:
        run_script("masked_sft", recipe("masked_sft", push_to_hub=True, hub_model_id="me/tiny"))
    message = str(exit_info.value.code)  # a message, i.e. exit status 1
    out = tmp_path / "out"
    assert "'me/tiny' failed (OfflineModeIsEnabled" in message and f"saved in '{out}'" in message
    for name in ("model.safetensors", "tokenizer.json", "README.md", "qa_summary.md", "qa_metrics.jsonl"):
        assert (out / name).is_file(), name
    assert "Masked SFT" in (out / "README.md").read_text()
