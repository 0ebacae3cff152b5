import json

import pytest

from trl_maskft.data.instructions import load_instructions


def test_builtin_instructions_are_distinct_and_enough():
    instructions = load_instructions()
    assert len(instructions) >= 50
    assert len(set(instructions)) == len(instructions)


def test_a_users_file_is_read_in_order(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(
        json.dumps({"instruction": "Say hi."}) + "\n\n" + json.dumps({"instruction": "Count to 3."}) + "\n"
    )
    assert load_instructions(path) == ["Say hi.", "Count to 3."]


@pytest.mark.parametrize(
    "lines, message",
    [
        ([{"prompt": "Say hi."}], "line 1: missing field 'instruction'"),
        ([{"instruction": "Say hi."}, {"instruction": "  "}], "line 2: `instruction` must be a non-empty string"),
        ([], "holds no instructions"),
    ],
)
def test_bad_instruction_files_name_the_line(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(ValueError, match=message):
        load_instructions(path)
