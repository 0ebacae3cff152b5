"""The `trl-maskft-*` console scripts exit 0 after a run whose `main()` returned its report (issue found while adding
`trl-maskft-updates`: `sys.exit(report)` exited 1)."""

import configparser
import importlib
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def entry_points() -> dict[str, str]:
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(line.replace(" ", "").split("=") for line in lines)


@pytest.mark.parametrize("name", sorted(entry_points()))
def test_a_console_script_exits_0_when_its_main_returns_a_report(name, monkeypatch):
    module_name, function = entry_points()[name].split(":")
    calls = []
    scripts = {"trl-maskft-eval": "evaluate"}
    script = scripts.get(name, name.removeprefix("trl-maskft-").replace("-", "_"))
    monkeypatch.setattr(
        importlib.import_module(f"trl_maskft.scripts.{script}"), "main", lambda: calls.append(1) or {"qa": 1.0}
    )
    monkeypatch.setattr(sys, "argv", [name])
    entry = getattr(importlib.import_module(module_name), function)  # after the patch: `main` itself on old entries
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(entry())  # what the generated console script does
    assert calls == [1]
    assert exit_info.value.code is None
