"""Model cards and Hub pushes of real short script runs; only the two Hub calls are replaced."""

import importlib
import os

import pytest
from huggingface_hub import HfApi, RepoUrl
from huggingface_hub.errors import OfflineModeIsEnabled
from tiny import save_tiny_model, write_gsm8k_dir, write_tiny_recipe
from trainer_kinds import KINDS, QA_TOKENS

from trl_maskft.evaluation.model_card import PAPER_ID
from trl_maskft.evaluation.tasks import GSM8K
from trl_maskft.evaluation.tasks.callback import TaskEvalCallback
from trl_maskft.pipeline.run import train_and_report
from trl_maskft.runtime.run_manifest import write_manifest


@pytest.fixture
def recipe(tmp_path):
    """Writes a recipe for the script `kind` on a tiny saved model (plus `extra` keys) and returns its path."""
    save_tiny_model(tmp_path / "model")

    def write(kind, **extra):
        spec = KINDS.get(kind)  # None for the SFTTrainer baselines
        config = {
            "dataset_name": "people",
            "num_people": 4,
            "qa_max_items": 4,
            "qa_max_new_tokens": QA_TOKENS,
            "num_train_epochs": 1,
            "per_device_train_batch_size": 4,
            **(spec.config if spec else {}),
            **(spec.script_config if spec else {}),
            **extra,
        }
        return write_tiny_recipe(tmp_path, f"config_{kind}.yaml", **config)

    return write


def run_script(kind, recipe_path):
    return importlib.import_module(f"trl_maskft.scripts.{kind}").main(["--config", recipe_path])


def quick_start(card):
    return card.split("## Quick start")[1].split("## Knowledge")[0]


@pytest.fixture
def hub(monkeypatch):
    """Records `create_repo` and `upload_folder` (with the card and the generation files as uploaded) instead of
    calling the Hub."""
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"] = {"repo_id": repo_id, **kwargs}
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, **kwargs):
        calls["upload_folder"] = kwargs
        with open(os.path.join(kwargs["folder_path"], "README.md")) as f:
            calls["card"] = f.read()
        calls["generations"] = sorted(os.listdir(os.path.join(kwargs["folder_path"], "qa_generations")))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


@pytest.mark.parametrize("kind", KINDS)
def test_push_uploads_the_run_with_its_card(kind, recipe, hub, tmp_path):
    repo = f"me/tiny-{kind}"
    hub_keys = {"hub_model_id": repo, "hub_private_repo": True, "hub_token": "hf_test", "hub_revision": "v1"}
    path = recipe(kind, push_to_hub=True, overwrite_run=True, **hub_keys)
    leftover = tmp_path / "out" / "qa_generations" / "epoch_1.5.jsonl"  # of an earlier, interrupted run
    leftover.parent.mkdir(parents=True)
    leftover.write_text("{}\n")
    write_manifest(str(tmp_path / "out"), {"qa_generations/", "qa_generations/epoch_1.5.jsonl"})  # its record
    qa = run_script(kind, path)

    create = hub["create_repo"]
    assert create["repo_id"] == repo and create["exist_ok"] and create["private"] is True
    assert create["token"] == "hf_test"
    upload = hub["upload_folder"]
    assert upload["repo_id"] == repo and upload["folder_path"] == str(tmp_path / "out")
    assert upload["token"] == "hf_test" and upload["revision"] == "v1"
    assert upload["commit_message"] == "End of training" and "checkpoint-*" in upload["ignore_patterns"]
    assert hub["generations"] == ["epoch_0.jsonl", "epoch_1.jsonl"]  # the leftover is not uploaded
    card = hub["card"]
    assert f"**{KINDS[kind].trainer_cls._name}**" in card and PAPER_ID in card
    assert f"Recipe: `{path}`" in card and "Dataset: `people`" in card and "huggingface.co/datasets" not in card
    assert [row["epoch"] for row in qa.history] == [0, 1] and qa.summary() in card
    assert qa.title in card and "The last row is the final model." in card
    assert KINDS[kind].quick_start in card and repo in quick_start(card)
    assert card.count("## Quick start") == 1  # TRL's quick start is replaced, not kept


@pytest.mark.parametrize(
    "script,extra,method",
    [
        ("sft", {}, "plain SFT"),
        ("paraphrase_sft", {"paraphrases": "same_order"}, "paraphrase SFT (same-order)"),
        ("paraphrase_sft", {"paraphrases": "permuted", "sft_format": "text"}, "paraphrase SFT (permuted) on raw text"),
        ("reverse_sft", {"reverse_training": True}, "reverse training"),
    ],
)
def test_baseline_cards_name_their_method(script, extra, method, recipe, tmp_path):
    path = recipe(script, **extra)
    qa = run_script(script, path)
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"Trained with **{method}** using trl-maskft" in card and PAPER_ID in card
    assert f"Recipe: `{path}`" in card and "Dataset: `people`" in card and "- trl-maskft" in card
    assert qa.summary() in card and "backward ROUGE-1" in card
    assert 'pipeline("text-generation"' in quick_start(card) and card.count("## Quick start") == 1


def test_gsm8k_card_shows_the_gsm8k_table(recipe, tmp_path):
    rows = [{"question": f"What is {a} + 2?", "answer": f"{a} + 2 = {a + 2}\n#### {a + 2}"} for a in range(4)]
    folder = write_gsm8k_dir(tmp_path / "gsm8k", rows)
    qa = run_script("masked_sft", recipe("masked_sft", task="gsm8k", dataset_name=str(folder), qa_max_items=2))
    assert isinstance(qa, TaskEvalCallback) and qa.task is GSM8K
    card = (tmp_path / "out" / "README.md").read_text()
    assert qa.title in card and "| epoch | exact match | flexible match |" in card and qa.summary() in card
    assert "forward ROUGE-1" not in card and "No QA evaluation" not in card


@pytest.mark.parametrize(
    "kind,extra,expected",
    [
        (
            "masked_sft",
            {"system_prompt": "Answer in one sentence.", "qa_max_new_tokens": 6},
            ["'role': 'system', 'content': 'Answer in one sentence.'", "max_new_tokens=6,"],
        ),
        (
            "diffusion_sft",
            {"qa_block_length": 2, "qa_steps": 3, "qa_cfg_scale": 0.5, "qa_max_new_tokens": 6},
            ["max_new_tokens=6,", "steps=3,", "block_length=2,", "cfg_scale=0.5,", "remasking='low_confidence',"],
        ),
    ],
)
def test_quick_start_uses_the_run_settings(kind, extra, expected, recipe, tmp_path):
    run_script(kind, recipe(kind, **extra))
    start = quick_start((tmp_path / "out" / "README.md").read_text())
    for text in expected:
        assert text in start, text
    assert "block_length=4" not in start and "max_new_tokens=128" not in start


def test_failed_push_says_so_and_keeps_the_run(recipe, monkeypatch, tmp_path):
    def offline(self, *args, **kwargs):
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co/api/repos/create: offline mode is enabled.")

    monkeypatch.setattr(HfApi, "create_repo", offline)
    with pytest.raises(SystemExit) as exit_info:
        run_script("masked_sft", recipe("masked_sft", push_to_hub=True, hub_model_id="me/tiny"))
    message = str(exit_info.value.code)  # a message, i.e. exit status 1
    out = tmp_path / "out"
    assert "'me/tiny' failed (OfflineModeIsEnabled" in message and f"saved in '{out}'" in message
    assert "hf auth login" in message and "hf upload me/tiny" in message
    for name in ("model.safetensors", "tokenizer.json", "README.md", "qa_summary.md", "qa_metrics.jsonl"):
        assert (out / name).is_file(), name
    assert "Masked SFT" in (out / "README.md").read_text()


def test_pushing_checkpoints_offline_stops_before_training_with_a_message(recipe, monkeypatch, tmp_path):
    def offline(self, *args, **kwargs):
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co/api/repos/create: offline mode is enabled.")

    monkeypatch.setattr(HfApi, "create_repo", offline)
    path = recipe(
        "masked_sft", push_to_hub=True, hub_model_id="me/tiny", hub_strategy="every_save", save_strategy="epoch"
    )
    with pytest.raises(SystemExit) as exit_info:
        run_script("masked_sft", path)
    message = str(exit_info.value.code)
    assert "Creating the Hub repo 'me/tiny' failed (OfflineModeIsEnabled" in message
    assert "`hub_strategy: every_save`" in message and "hf auth login" in message and "HF_TOKEN" in message
    assert "`push_to_hub: false`" in message and "`hub_strategy: end`" in message
    assert not (tmp_path / "out" / "qa_metrics.jsonl").exists()  # nothing trained


class Built(Exception):
    """Raised by `RecordingTrainer` once it has the arguments the script built it with."""


class RecordingTrainer:
    def __init__(self, **kwargs):
        raise Built(kwargs)


@pytest.mark.parametrize("bits", ["load_in_4bit", "load_in_8bit"])
def test_quantization_arguments_reach_the_trainer(bits, tmp_path):
    from trl import ModelConfig, SFTConfig

    args = SFTConfig(str(tmp_path), use_cpu=True, bf16=False, report_to="none")
    model_args = ModelConfig(model_name_or_path=str(tmp_path), **{bits: True})
    with pytest.raises(Built) as built:
        train_and_report(RecordingTrainer, args, model_args, None, evaluation=None, dataset_name="people")
    quantization = built.value.args[0]["quantization_config"]
    assert getattr(quantization, bits) is True
    assert "quantization_config" not in args.model_init_kwargs  # given once, as the trainer argument
