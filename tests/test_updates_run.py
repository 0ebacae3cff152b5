"""A sequence of updates on a tiny model: the models chain, every update is asked the sets so far, the reports are
written; a rerun skips finished updates, an interrupted one resumes from its last complete checkpoint, and a changed
recipe is refused."""

import csv
import json

import pytest
import yaml
from corpus_helpers import isolated_datasets_cache  # noqa: F401
from tiny import MASK_TOKEN, save_tiny_model, write_tiny_recipe

from trl_maskft.scripts import updates as updates_script

UPDATES = [
    {"dataset_name": "people", "num_people": 2},
    {"dataset_name": "people", "num_people": 2},
    {"dataset_name": "people", "num_people": 2, "num_edits": 1},
]


def sequence_recipe(tmp_path, **keys):
    save_tiny_model(tmp_path / "model")
    defaults = {
        "updates_method": "masked_sft", "updates": UPDATES, "update_replay_ratio": 0.5, "mask_token": MASK_TOKEN,
        "max_length": 160, "num_train_epochs": 1, "per_device_train_batch_size": 4, "qa_templates_per_person": 2,
        "qa_max_new_tokens": 4,
    }  # fmt: skip
    return write_tiny_recipe(tmp_path, "updates.yaml", **{**defaults, **keys})


def run_recipe(tmp_path, update):
    with open(tmp_path / "out" / "data" / f"update_{update}" / "recipe.yaml") as f:
        return yaml.safe_load(f)


def test_a_sequence_chains_the_models_and_reports_the_retention_matrix(tmp_path, capsys):
    assert updates_script.main(["--config", sequence_recipe(tmp_path)]) is None  # the console script exits with 0
    out = tmp_path / "out"
    report = (out / "updates.md").read_text()
    assert run_recipe(tmp_path, 1)["model_name_or_path"] == str(tmp_path / "model")
    assert [run_recipe(tmp_path, k)["model_name_or_path"] for k in (2, 3)] == [
        str(out / "update_1"),
        str(out / "update_2"),
    ]
    for k in (1, 2, 3):
        assert (out / f"update_{k}" / "model.safetensors").exists()
        history = [json.loads(line) for line in (out / f"update_{k}" / "qa_metrics.jsonl").read_text().splitlines()]
        asked = {key.split("_", 2)[2].rsplit("_", 1)[0] for key in history[-1] if key.startswith("qa_forward_update")}
        assert asked == {f"update_{j}" for j in range(1, k + 1)} | ({"update_3_edits"} if k == 3 else set())
    documents = (out / "data" / "update_3" / "documents.jsonl").read_text().splitlines()
    assert len(documents) == 3 + 2  # 2 new people and 1 edit, plus half as many replayed earlier documents
    with open(out / "updates.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["after_update"], r["set"]) for r in rows if r["direction"] == "forward"] == [
        ("1", "1"), ("2", "1"), ("2", "2"), ("3", "1"), ("3", "2"), ("3", "3")
    ]  # fmt: skip
    assert (out / "updates.png").stat().st_size > 0
    assert report in capsys.readouterr().out
    assert "| after update | set 1 | set 2 | set 3 |" in report and "| forward | " in report
    later = json.loads((out / "updates.json").read_text())["later_fact"]
    assert set(later) == {"forward", "backward"} and all(0.0 <= share <= 1.0 for share in later.values())
    assert f"than to their own (interference): {later['forward']:.2f}." in report


def test_a_rerun_skips_finished_updates_and_continues_the_interrupted_one(tmp_path, monkeypatch):
    recipe = sequence_recipe(tmp_path)
    real_run, calls = updates_script.run_update, []

    def crash_in_update_2(method, recipe_file, extra, launcher):
        calls.append((recipe_file, extra))
        if "update_2" in recipe_file:
            raise KeyboardInterrupt
        real_run(method, recipe_file, extra, launcher)

    monkeypatch.setattr(updates_script, "run_update", crash_in_update_2)
    with pytest.raises(KeyboardInterrupt):
        updates_script.main(["--config", recipe])
    monkeypatch.setattr(updates_script, "run_update", lambda *args: calls.append(args[1:3]) or real_run(*args))
    updates_script.main(["--config", recipe])
    assert [(path.split("/")[-2], extra) for path, extra in calls] == [
        ("update_1", []), ("update_2", []), ("update_2", []), ("update_3", [])
    ]  # fmt: skip
    assert (tmp_path / "out" / "updates.md").exists()


def test_an_interrupted_update_resumes_from_its_last_checkpoint_and_changed_recipes_or_data_are_refused(
    tmp_path, monkeypatch
):
    recipe = sequence_recipe(tmp_path, save_strategy="epoch", num_train_epochs=2)
    updates_script.main(["--config", recipe])
    # Update 2 interrupted after its last checkpoint: no done marker
    (tmp_path / "out" / "data" / "update_2" / "update_done.json").unlink()
    real_run, calls = updates_script.run_update, []
    monkeypatch.setattr(updates_script, "run_update", lambda *args: calls.append(args[1:3]) or real_run(*args))
    updates_script.main(["--config", recipe])
    assert [(path.split("/")[-2], extra) for path, extra in calls] == [
        ("update_2", ["--resume_from_checkpoint", "last"])
    ]  # fmt: skip
    with open(recipe) as f:
        keys = yaml.safe_load(f)
    with open(recipe, "w") as f:
        yaml.safe_dump({**keys, "learning_rate": 1e-3}, f)
    with pytest.raises(
        ValueError,
        match=r"Update 1 \(.*update_1\) finished with another recipe or data \(changed: \['learning_rate'\]\)",
    ):
        updates_script.main(["--config", recipe])
    with open(recipe, "w") as f:
        yaml.safe_dump({**keys, "update_replay_ratio": 0.0}, f)  # update 2 replays nothing now: other documents
    with pytest.raises(ValueError, match=r"Update 2 \(.*update_2\) .* \(changed: \['documents.jsonl'\]\)"):
        updates_script.main(["--config", recipe])


def test_a_key_the_method_does_not_accept_is_refused_before_training(tmp_path):
    recipe = sequence_recipe(tmp_path, mask_tokn="[]")
    with pytest.raises(
        ValueError, match=r"(?s)updates.yaml \(`updates_method: masked_sft`\).*did you mean `mask_token`"
    ):
        updates_script.main(["--config", recipe])
    assert not (tmp_path / "out").exists()


def test_a_launcher_runs_each_update_as_a_process_of_its_own(monkeypatch):
    commands = []
    monkeypatch.setattr(updates_script.subprocess, "run", lambda command, check: commands.append((command, check)))
    updates_script.run_update(
        "sft", "u/recipe.yaml", ["--overwrite_run", "true"], "accelerate launch --config_file c.yaml"
    )
    assert commands == [(
        ["accelerate", "launch", "--config_file", "c.yaml", "-m", "trl_maskft.scripts.sft",
         "--config", "u/recipe.yaml", "--overwrite_run", "true"],
        True,
    )]  # fmt: skip


def test_the_runner_refuses_a_multi_process_launch(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="--launcher"):
        updates_script.main(["--config", "any.yaml"])
