"""Comparing nested results (pytest.approx compares flat sequences and mappings only, since pytest 9 strictly)."""

from __future__ import annotations

import math


def records_differences(actual: list[dict], expected: list[dict], rel: float = 1e-6) -> list[str]:
    """Where two lists of flat records (e.g. QA histories: one dict of metrics per evaluation) differ: each record
    must have the same keys, numbers equal to `rel` (relative; 1e-12 absolute around zero), everything else exactly
    equal. An empty list where they match."""
    if len(actual) != len(expected):
        return [f"{len(actual)} records, expected {len(expected)}"]
    problems = []
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        if got.keys() != want.keys():
            problems.append(f"record {index}: keys {sorted(got)} != {sorted(want)}")
            continue
        for key, value in want.items():
            if not values_match(got[key], value, rel):
                problems.append(f"record {index}, {key}: {got[key]!r} != {value!r}")
    return problems


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def values_match(got, want, rel: float) -> bool:
    if isinstance(got, bool) or isinstance(want, bool):  # True is no 1.0
        return type(got) is type(want) and got == want
    if is_number(want) and is_number(got):
        return math.isclose(got, want, rel_tol=rel, abs_tol=1e-12)
    return got == want
