"""The built-in updates of people and their edits, the updates recipe and the bad inputs of a sequence: an empty
update list, an update repeating an earlier one's documents (a warning), an old answer equal to the new one,
`old_answers` in the first update."""

import pytest
import yaml
from tiny import write_jsonl

from trl_maskft.data.people_updates import build_people_updates
from trl_maskft.data.qa_io import load_qa_jsonl, save_qa_jsonl
from trl_maskft.data.schema import QAItem
from trl_maskft.updates.sequence import load_updates, replayed
from trl_maskft.updates.spec import parse_updates_recipe


def test_people_updates_are_disjoint_and_edits_change_earlier_people():
    updates = build_people_updates([4, 4, 4], [0, 0, 3], seed=1, num_eval_templates=3)
    names = [{doc.split(" is ")[0] for doc in knowledge.documents[:4]} for knowledge, _ in updates]
    assert all(len(group) == 4 for group in names) and not (names[0] & names[1] or names[1] & names[2])
    third, superseded = updates[2]
    edit_docs = third.documents[4:]
    assert len(edit_docs) == 3 and len(superseded) == 3
    earlier_docs = updates[0][0].documents + updates[1][0].documents
    assert set(superseded) <= set(earlier_docs)
    new_descriptions = {doc.split(" is ", 1)[1] for doc in edit_docs}
    all_docs = [doc for knowledge, _ in updates for doc in knowledge.documents[:4]]
    assert not new_descriptions & {doc.split(" is ", 1)[1] for doc in all_docs}  # nobody had them
    edits = [item for item in third.qa if item.group == "update_3_edits"]
    forward = [item for item in edits if item.direction == "forward"]
    assert len(forward) == 9 and len(edits) == 18  # 3 phrasings per direction and person
    assert all(item.old_answers and item.old_answers[0] + "." in {d.split(" is ", 1)[1] for d in superseded}
               for item in forward)  # fmt: skip
    edited = {doc.split(" is ")[0] for doc in edit_docs}
    earlier_items = updates[0][0].qa + updates[1][0].qa
    assert not [item for item in earlier_items if any(name in item.question + item.answer for name in edited)]
    assert len(earlier_items) == (8 - 3) * 6  # the facts that stay true: 3 phrasings x 2 directions


def test_people_updates_refuse_impossible_edits():
    with pytest.raises(ValueError, match="first update cannot edit"):
        build_people_updates([3, 3], [1, 0])
    with pytest.raises(ValueError, match="Update 2 edits 4 people, but only 3"):
        build_people_updates([3, 3], [0, 4])


def test_old_answers_round_trip_and_an_old_answer_equal_to_the_new_one_is_an_error(tmp_path):
    item = QAItem("Who is A?", "a vintner", "forward", "update_2_edits", ("a director",))
    save_qa_jsonl([item], tmp_path / "qa.jsonl")
    assert load_qa_jsonl(tmp_path / "qa.jsonl") == [item]
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"question": "Who is B?", "answer": "a baker", "direction": "forward"},
        {"question": "Who is A?", "answer": "a vintner", "direction": "forward", "old_answers": ["a vintner"]},
    ])  # fmt: skip
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: old answer\(s\) \['a vintner'\] of 'Who is A\?' equal"):
        load_qa_jsonl(path)


def write_recipe(tmp_path, updates, **keys):
    path = tmp_path / "updates.yaml"
    recipe = {"updates_method": "masked_sft", "output_dir": str(tmp_path / "out"), "updates": updates, **keys}
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.mark.parametrize(
    ("updates", "keys", "message"),
    [
        ([], {}, "`updates` must be a non-empty list"),
        (None, {}, "`updates` must be a non-empty list"),
        ([{"dataset_name": "people", "num_peple": 3}], {}, r"`updates` item 1: unknown key\(s\) \['num_peple'\]"),
        ([{"dataset_name": "people", "num_edits": 2}], {}, "item 1: the first update cannot edit facts"),
        ([{"num_people": 3}], {}, "item 1: `dataset_name`"),
        ([{"dataset_name": "people"}], {"num_people": 3}, r"\['num_people'\] name an update's data"),
        ([{"dataset_name": "people"}], {"updates_method": "dpo"}, "`updates_method` must be one of"),
        ([{"dataset_name": "people"}], {"update_replay_ratio": -1}, "`update_replay_ratio` must be a number >= 0"),
        ([{"dataset_name": "people"}], {"qa_keep_best": True}, r"\['qa_keep_best'\] would save an earlier epoch"),
        ([{"dataset_name": "people", "part": "1/2"}], {}, r"\['part'\] do not apply to `dataset_name: people`"),
        ([{"dataset_name": "x.jsonl", "part": "3/2"}], {}, "`part` must be `k/n` with 1 <= k <= n"),
        (
            [{"dataset_name": "x.jsonl"}],
            {"qa_templates_per_person": 3},
            "applies to `people` updates, and there is none",
        ),
    ],
)
def test_bad_updates_recipes_are_refused_naming_the_file(tmp_path, updates, keys, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_updates_recipe(write_recipe(tmp_path, updates, **keys))
    assert "updates.yaml" in str(error.value)


def corpus_update(tmp_path, name, documents, qa_rows):
    documents_file = write_jsonl(tmp_path / f"{name}.jsonl", [{"text": doc} for doc in documents])
    return {"dataset_name": str(documents_file), "qa_file": str(write_jsonl(tmp_path / f"{name}_qa.jsonl", qa_rows))}


QA = {"question": "Who is Ada?", "answer": "a painter", "direction": "forward"}


def test_old_answers_in_the_first_update_are_an_error_naming_the_line(tmp_path):
    first = corpus_update(tmp_path, "week1", ["Ada is a painter."], [QA, {**QA, "old_answers": ["a baker"]}])
    recipe = parse_updates_recipe(write_recipe(tmp_path, [first]))
    with pytest.raises(ValueError, match=r"week1_qa.jsonl, line 2: `old_answers` on an item of the first update"):
        load_updates(recipe)


def test_an_update_repeating_earlier_documents_is_warned_and_corpus_edits_get_their_group(tmp_path):
    first = corpus_update(tmp_path, "week1", ["Ada is a painter.", "Bo is a pilot."], [QA])
    edit = {**QA, "answer": "a vintner", "old_answers": ["a painter"]}
    second = corpus_update(tmp_path, "week2", ["Bo is a pilot.", "Ada is a painter."], [edit])
    recipe = parse_updates_recipe(write_recipe(tmp_path, [first, second]))
    with pytest.warns(
        UserWarning, match=r"updates.yaml: update 2 \(.*week2.jsonl\) repeats the documents of update 1"
    ):
        updates = load_updates(recipe)
    assert [item.group for item in updates[1].knowledge.qa] == ["update_2_edits"]
    assert updates[1].knowledge.qa[0].old_answers == ("a painter",)


def test_replay_draws_current_earlier_documents_only(tmp_path):
    recipe = parse_updates_recipe(write_recipe(tmp_path, [
        {"dataset_name": "people", "num_people": 4}, {"dataset_name": "people", "num_people": 2, "num_edits": 2},
    ]))  # fmt: skip
    updates = load_updates(recipe)
    pool = set(updates[0].knowledge.documents) - set(updates[1].superseded)
    drawn = replayed(updates, 1, 0.5, seed=0)  # half of update 2's 4 documents
    assert len(drawn) == 2 and set(drawn) <= pool
    assert replayed(updates, 1, 10.0, seed=0) and set(replayed(updates, 1, 10.0, seed=0)) == pool  # at most all
    assert replayed(updates, 0, 1.0, seed=0) == []  # nothing before the first update
