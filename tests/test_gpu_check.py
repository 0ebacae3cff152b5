"""The GPU check's orchestration on the CPU, without running its checks: every check is time-boxed, a failing or
missing one gets its row, and the one table always prints. (`bash benchmarks/gpu_check.sh --cpu` runs every check
for 1 step on a tiny model, in about 3 minutes here: too slow for the suite.)"""

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("gpu_check", os.path.join(ROOT, "benchmarks", "gpu_check.py"))
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def fake_check(monkeypatch, tmp_path, body):
    """Checks run `body` (a Python script) instead of this module."""
    script = tmp_path / "check.py"
    script.write_text(body)
    monkeypatch.setattr(gpu_check, "__file__", str(script))


def test_a_check_that_fails_or_runs_out_of_time_gets_its_rows(monkeypatch, tmp_path):
    fake_check(monkeypatch, tmp_path, "import sys, time\ntime.sleep(5)")
    assert gpu_check.run_check("train", 0.5, True, str(tmp_path)) == [("failed", "timed out after 0 s")] * 3
    fake_check(monkeypatch, tmp_path, "raise ValueError('FSDP2 | broke')")
    ((result, detail),) = gpu_check.run_check("fsdp2", 30, True, str(tmp_path))
    assert result == "failed" and detail.startswith("exit 1 after") and detail.endswith("ValueError: FSDP2 / broke")
    fake_check(monkeypatch, tmp_path, 'print("log line")\nprint(\'{"rows": [["ran", "3 steps"]]}\')')
    assert gpu_check.run_check("zero3", 30, True, str(tmp_path)) == [("ran", "3 steps")]


def test_padding_free_is_na_without_its_benchmark(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_check, "HERE", str(tmp_path))
    (row,) = gpu_check.check_padding_free(True, str(tmp_path))
    assert row == ("n/a", "benchmarks/bench_padding_free.py is not in this checkout")


def test_the_table_prints_even_without_time_for_any_check(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["gpu_check.py", "--cpu", "--budget", "0"])
    gpu_check.main()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:2] == ["| check | result | details |", "|---|---|---|"]
    assert len(lines) == 2 + sum(len(labels) for _, labels in gpu_check.CHECKS.values())
    assert all("| failed | no time left in --budget |" in line for line in lines[2:])
