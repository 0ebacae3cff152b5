"""One run at a time in an `output_dir`: a lock file naming its owner (host and process id).

A run's main process takes the lock before it writes anything and releases it when the run ends, also on an error or
a SIGTERM (`trl_maskft.runtime.preemption` ends the run with an exception). A lock whose owner process is gone (a run
killed with SIGKILL, or by a SIGTERM before training) is stale: on the owner's host it is detected and replaced; on
another host the message says how to clear it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

logger = logging.getLogger(__name__)

LOCK_FILE = "_trl_maskft_run.lock"  # `_*` is never pushed to the Hub


def lock_owner(output_dir: str) -> dict | None:
    """The owner recorded in the lock of `output_dir` (`host`, `pid`, `started`); None when there is no lock."""
    try:
        with open(os.path.join(output_dir, LOCK_FILE)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # being written by its owner right now, or damaged
        return {"host": "an unknown host", "pid": None, "started": "an unknown time"}


def is_running(pid: int) -> bool:
    """Whether a process `pid` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_stale(owner: dict) -> bool:
    """Whether the lock of `owner` was left by a process of this host that is gone."""
    return owner["host"] == socket.gethostname() and isinstance(owner["pid"], int) and not is_running(owner["pid"])


def _refusal(output_dir: str, owner: dict) -> str:
    path = os.path.join(output_dir, LOCK_FILE)
    same_host = owner["host"] == socket.gethostname()
    clear = (
        f"Wait for it to end (`ps -p {owner['pid']}` shows it), or write this run to another `output_dir`."
        if same_host
        else f"Wait for it to end, or write this run to another `output_dir`. If no run is writing there any more "
        f"(check on {owner['host']}: `ps -p {owner['pid']}`; a run killed with SIGKILL leaves its lock behind), "
        f"delete the lock file {path} and run again."
    )
    return (
        f"`output_dir` {output_dir!r} is in use by another run (host {owner['host']}, process {owner['pid']}, "
        f"started {owner['started']}; lock file {path}): two runs in one folder overwrite each other's files. {clear}"
    )


def take_lock(output_dir: str) -> None:
    """Lock `output_dir` (which must exist) for this process, replacing a stale lock; a `ValueError` naming the owner
    when another run holds it."""
    path = os.path.join(output_dir, LOCK_FILE)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = lock_owner(output_dir)
            if held is None:  # released meanwhile
                continue
            if not is_stale(held):
                raise ValueError(_refusal(output_dir, held)) from None
            logger.warning(f"Replacing the lock of process {held['pid']} in {output_dir}, which no longer runs.")
            os.remove(path)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(owner, f)
        return


def release_lock(output_dir: str) -> None:
    """Remove the lock of `output_dir` if this process holds it."""
    owner = lock_owner(output_dir)
    if owner is not None and owner["host"] == socket.gethostname() and owner["pid"] == os.getpid():
        os.remove(os.path.join(output_dir, LOCK_FILE))
