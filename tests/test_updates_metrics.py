"""The retention matrix R, average accuracy, backward transfer and the edit metrics, hand-computed on made-up
numbers and answers (no model)."""

import pytest

from trl_maskft.data.people_updates import group_update, is_edit_group, update_group
from trl_maskft.data.schema import QAItem
from trl_maskft.updates.metrics import (
    average_accuracy,
    backward_transfer,
    edit_metrics,
    later_fact_answers,
    retention_matrix,
)
from trl_maskft.updates.report import matrix_table, updates_report

ROWS = [
    {"epoch": 1, "qa_forward_update_1_rouge1": 0.8, "qa_backward_update_1_rouge1": 0.4},
    {"epoch": 1, "qa_forward_update_1_rouge1": 0.6, "qa_forward_update_2_rouge1": 0.9},
    {"qa_forward_update_1_rouge1": 0.5, "qa_forward_update_2_rouge1": 0.7, "qa_forward_update_3_rouge1": 1.0},
]


def test_the_retention_matrix_average_accuracy_and_backward_transfer():
    matrix = retention_matrix(ROWS, "forward")
    assert matrix == [[0.8, None, None], [0.6, 0.9, None], [0.5, 0.7, 1.0]]
    assert average_accuracy(matrix) == pytest.approx((0.5 + 0.7 + 1.0) / 3)
    assert backward_transfer(matrix) == pytest.approx(((0.5 - 0.8) + (0.7 - 0.9)) / 2)
    assert backward_transfer([[0.3]]) is None
    assert retention_matrix(ROWS, "backward")[2] == [None, None, None]  # groups without backward questions
    assert matrix_table(matrix).splitlines()[2:] == [
        "| 1 | 0.80 |  |  |",
        "| 2 | 0.60 | 0.90 |  |",
        "| 3 | 0.50 | 0.70 | 1.00 |",
    ]


NEW_A, OLD_A = "the author of 'The Winter Almanac'", "the director of 'The Silent Orchard'"
NEW_B, OLD_B = "the inventor of the glass kite", "the composer of the 'Rhapsody in Amber'"


def _edit(question, new, old, direction="forward"):
    return QAItem(question, new, direction, "update_3_edits", (old,) if old else ())


ITEMS = [
    *(_edit(f"A{k}?", NEW_A, OLD_A) for k in range(3)),
    *(_edit(f"B{k}?", NEW_B, OLD_B) for k in range(3)),
    *(_edit(f"Who is {NEW_A} {k}?", "Ada Vexley", None, "backward") for k in range(2)),
]


def _record(item, prediction, contains):
    return {"question": item.question, "answers": list(item.answers), "direction": item.direction,
            "group": item.group, "prediction": prediction, "contains": contains}  # fmt: skip


def test_edit_metrics_by_hand():
    predictions = [
        (f"She is {NEW_A}.", 1.0), (NEW_A, 1.0), (NEW_A, 1.0),  # fact A: new answer under all 3 phrasings
        (OLD_B, 0.0), (NEW_B, 1.0), ("I do not know.", 0.0),  # fact B: old, new, neither
        ("Ada Vexley", 1.0), ("Bob", 0.0),  # backward: one phrasing of 2
    ]  # fmt: skip
    records = [_record(item, *answer) for item, answer in zip(ITEMS, predictions, strict=True)]
    unedited = [QAItem(f"U{k}?", "x", "forward", "update_1") for k in range(4)] + [
        QAItem("V?", "y", "backward", "update_2")
    ]
    records += [
        _record(item, "", contains) for item, contains in zip(unedited, [1.0, 1.0, 0.0, 1.0, 0.0], strict=True)
    ]
    metrics = edit_metrics(records, ITEMS + unedited)
    forward, backward = metrics["forward"], metrics["backward"]
    assert forward["efficacy"] == pytest.approx(4 / 6)
    assert forward["old_answer"] == pytest.approx(1 / 6)  # only B's first phrasing still gives the old answer
    assert forward["efficacy_by_phrasing"] == pytest.approx([0.5, 1.0, 0.5])
    assert forward["generalization"] == pytest.approx(0.5)  # A under every phrasing, B not
    assert forward["locality"] == pytest.approx(0.75)
    assert backward["efficacy"] == 0.5 and backward["old_answer"] is None
    assert backward["efficacy_by_phrasing"] == [1.0, 0.0] and backward["generalization"] == 0.0
    assert backward["locality"] == 0.0
    report = updates_report({"forward": retention_matrix(ROWS, "forward")}, [10.0, 12.5, 20.0], metrics)
    assert "| forward | 0.67 | 0.17 | 0.50 | 0.50 / 1.00 / 0.50 | 0.75 |" in report
    assert "| backward | 0.50 | - | 0.00 | 1.00 / 0.00 | 0.00 |" in report
    assert "Average accuracy (last row): 0.73. Backward transfer" in report and "| 2 | 12.5 |" in report
    assert "Retention" not in report  # no update measured it


def test_report_gives_each_updates_retention():
    rows = [
        {"retain_known_facts": 0.5, "retain_known_facts_kept": 10, "retain_known_facts_base": 20},
        {"retain_known_facts": 0.25, "retain_known_facts_kept": 2, "retain_known_facts_base": 8},
    ]
    rows[1] |= {"retain_self_nll": 1.5, "retain_self_nll_rise": 0.5}
    report = updates_report({"forward": [[1.0, None], [0.5, 1.0]]}, [1.0, 2.0], {}, rows)
    table = report.split("## Retention per update (against the model each update started from)")[1]
    assert "| 1 | 10/20 (0.500) | - | - |" in table
    assert "| 2 | 2/8 (0.250) | 1.500 (+50.0%) | - |" in table


def test_no_edit_questions_no_edit_metrics():
    records = [_record(QAItem("U?", "x", "forward", "update_1"), "x", 1.0)]
    assert edit_metrics(records, []) == {}


def _asked(group, answer, prediction, direction="forward"):
    return {"direction": direction, "group": group, "answers": [answer], "prediction": prediction}


def test_later_fact_answers_by_hand():
    kite, lantern = "the inventor of the glass kite", "the maker of the iron lantern"
    almanac = "the author of 'The Almanac'"
    records = [
        _asked("update_1", kite, f"Ada is {kite}."),  # her own fact
        _asked("update_1", "the first person to map the Mistwater", f"Ada is {lantern}."),  # update 2's fact
        _asked("update_1", "the director of 'Seven Winters'", f"Ada is {almanac}."),  # an edit of update 3
        _asked("update_1", "the composer of the 'Amber Rhapsody'", "I do not know."),  # lost, no later fact
        _asked("update_2", lantern, "Ada is the maker of the iron kite."),  # nearer its own fact
        _asked("update_2", "the first person to sail the Emerald Torrent", f"{almanac}"),  # update 3's fact
        _asked("update_3", almanac, "wrong"),  # the last update's own set: not asked about
        _asked("update_3_edits", almanac, almanac),
        _asked("update_1", "Ada Vexley", "Bo Quill", "backward"),  # update 2 taught Bo Quill
        _asked("update_2", "Bo Quill", "Bo Quill", "backward"),  # the last update asked backward: no earlier set
    ]  # fmt: skip
    later = later_fact_answers(records)
    assert later["forward"] == pytest.approx(3 / 6)  # lantern, almanac (edit), almanac (update 3)
    assert later["backward"] == 1.0
    assert later_fact_answers(records[6:8]) == {}  # only the last update asked
    assert group_update(update_group(12)) == group_update(update_group(12, edits=True)) == 12
    assert is_edit_group(update_group(12, edits=True)) and not is_edit_group(update_group(12))
    report = updates_report({"forward": [[1.0, None], [0.5, 1.0]]}, [1.0, 2.0], {}, (), later)
    assert "later update's fact than to their own (interference): 0.50." in report
