"""The console scripts (`trl-maskft-*` of setup.cfg): each runs its script's `main()` and exits 0 when it returns.

The scripts' `main()` return what they ran (a report, metrics) for Python callers and tests; a console entry point's
return value becomes the exit status (`sys.exit(value)`: any object but None or 0 exits 1), so the entry points are
these functions, which return nothing.
"""

from __future__ import annotations

import importlib


def _run(script: str) -> None:
    importlib.import_module(f"trl_maskft.scripts.{script}").main()


def sft() -> None:
    _run("sft")


def masked_sft() -> None:
    _run("masked_sft")


def diffusion_sft() -> None:
    _run("diffusion_sft")


def compare() -> None:
    _run("compare")


def updates() -> None:
    _run("updates")


def evaluate() -> None:
    _run("evaluate")
