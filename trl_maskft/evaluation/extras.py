"""Optional dependencies: lm-evaluation-harness and math-verify, the `eval` extra, imported only when a benchmark or
the MATH task is asked for."""

from __future__ import annotations

import importlib
from types import ModuleType

EVAL_EXTRA = "pip install 'trl-maskft[eval]'"
_PACKAGES = {"lm_eval": "lm-eval", "math_verify": "math-verify"}


def require_eval(module: str) -> ModuleType:
    """Import `module` (a module of the `eval` extra, `lm_eval` or `math_verify`, or one of ours that imports them); a
    clear error naming the extra if one is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing = (err.name or module).split(".")[0]
        if missing not in _PACKAGES:
            raise
        package = _PACKAGES[missing]
        raise ImportError(
            f"{package} is not installed: benchmarks (`bench_tasks`, trl_maskft.scripts.evaluate) and the MATH task "
            f"need the `eval` extra: {EVAL_EXTRA}"
        ) from err
