"""Processes that tests start (launchers, training scripts) never outlive their test: each runs in a process group
of its own, and the whole group is killed when the test stops waiting for it (a timeout, a failure, Ctrl-C).

`run(cmd, timeout=...)` is `subprocess.run(..., capture_output=True, text=True)` for such a group; `started(cmd)`
is a context manager around `subprocess.Popen` for tests that signal or poll a running launch.
"""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import contextmanager


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL every process of `process`'s group (its launcher's workers too), then reap `process`."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is gone already
        pass
    process.wait()


@contextmanager
def started(cmd: list[str], **kwargs):
    """`subprocess.Popen(cmd, **kwargs)` in a new process group, killed whole when the block ends (a process that
    the test needs to outlive the block must be waited for inside it)."""
    process = subprocess.Popen(cmd, start_new_session=True, **kwargs)
    try:
        yield process
    finally:
        kill_group(process)


def run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run `cmd` to its end with its output captured as text; on `timeout` (seconds) the whole group is killed and
    `subprocess.TimeoutExpired` raised with the output so far."""
    with started(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            kill_group(process)
            stdout, stderr = process.communicate()
            raise subprocess.TimeoutExpired(cmd, timeout, stdout, stderr) from expired
    return subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)
