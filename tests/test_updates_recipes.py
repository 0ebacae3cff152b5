"""The updates recipes: each parses strictly, its method's script accepts its keys with an update's data, and the
built-in people sequence is 3 updates of 10 people whose third edits 5; a source taught in parts (`part: k/n`)."""

import glob
import os

import pytest
import torch
from tiny import write_jsonl

from trl_maskft.data.schema import KnowledgeData, QAItem
from trl_maskft.scripts import updates as updates_script
from trl_maskft.updates.parts import knowledge_part, parse_part
from trl_maskft.updates.sequence import load_updates
from trl_maskft.updates.spec import parse_updates_recipe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = sorted(glob.glob(os.path.join(ROOT, "recipes", "*", "*", "updates", "*.yaml")))
CPU = [] if torch.cuda.is_available() else ["--use_cpu", "true"]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: os.path.relpath(p, ROOT))
def test_updates_recipes_parse_and_their_method_accepts_them(path, tmp_path):
    recipe = parse_updates_recipe(path)
    assert recipe.method == path.split(os.sep)[-3]
    updates_script.check_method_keys(recipe)
    documents = write_jsonl(tmp_path / "documents.jsonl", [{"text": "Ada is a painter."}])
    keys = updates_script.run_keys(recipe, 1, str(documents), str(tmp_path / "qa.jsonl"))
    assert keys["model_name_or_path"] == os.path.join(recipe.output_dir, "update_1")
    run_recipe = tmp_path / "run.yaml"
    run_recipe.write_text("\n".join(f"{key}: {value!r}" if isinstance(value, str) else f"{key}: {value}"
                                    for key, value in keys.items()))  # fmt: skip
    parser = updates_script.importlib.import_module(f"trl_maskft.scripts.{recipe.method}").make_parser()
    parsed = {}
    for config in parser.parse_args_and_config(["--config", str(run_recipe), *CPU]):
        parsed.update(vars(config))
    assert parsed["dataset_name"] == str(documents) and parsed["output_dir"] == keys["output_dir"]


def test_the_default_sequence_is_3_updates_of_10_people_the_third_editing_5():
    for method in ("masked_sft", "sft"):
        path = os.path.join(ROOT, "recipes", "smollm2-135m-instruct", method, "updates", "config_people.yaml")
        updates = load_updates(parse_updates_recipe(path))
        assert [len(update.knowledge.documents) for update in updates] == [10, 10, 15]
        assert [len(update.superseded) for update in updates] == [0, 0, 5]
        edits = [item for item in updates[2].knowledge.qa if item.group == "update_3_edits"]
        assert len(edits) == 5 * 3 * 2  # 3 phrasings per direction


FORWARD = [("Ada", "a painter"), ("Cy", "A baker"), ("Ed", "a cook")]


def test_a_source_taught_in_parts():
    knowledge = KnowledgeData(
        documents=["Ada is a painter.", "Bo is a pilot.", "Cy is a baker.", "Di is a nurse."],
        qa=[QAItem(f"Who is {name}?", answer, "forward") for name, answer in FORWARD]
        + [QAItem("Who is a nurse?", "Di", "backward")],
        entities=["Ada", "Bo", "Cy", "Di"],
    )  # fmt: skip
    first, unanswered = knowledge_part(knowledge, 1, 2)
    assert first.documents == ["Ada is a painter.", "Bo is a pilot."] and first.entities == ["Ada", "Bo"]
    assert [item.question for item in first.qa] == ["Who is Ada?"] and unanswered == 1  # nobody is a cook
    second, _ = knowledge_part(knowledge, 2, 2)
    assert [item.question for item in second.qa] == ["Who is Cy?", "Who is a nurse?"]  # case-insensitive
    assert parse_part("2/3") == (2, 3) and parse_part("4/3") is None and parse_part("0/3") is None
    assert parse_part(2) is None
