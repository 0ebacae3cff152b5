"""A full disk, said as such: recognise the errors the writers raise when the disk holding a save is full (the
`errno` of Python's writes, safetensors' `os error 28`, and torch's zip writer, which hides the errno behind
`[enforce fail at inline_container.cc:...]`), and name the device."""

from __future__ import annotations

import errno
import os
import shutil

NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NO_SPACE_TEXTS = ("No space left on device", "Disk quota exceeded", "os error 28")
# What `torch.save` raises when a write of its zip writer (`caffe2::serialize::PyTorchStreamWriter`) fails
TORCH_WRITER = "inline_container.cc"
TORCH_WRITE_FAILURES = ("file write failed", "unexpected pos")


class NoSpaceLeft(OSError):
    """A save failed for want of disk space; the message names the device and what was kept."""


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, raised by a save, says that the disk is full."""
    if isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS:
        return True
    text = str(error)
    torch_write = TORCH_WRITER in text and any(failure in text for failure in TORCH_WRITE_FAILURES)
    return torch_write or any(no_space in text for no_space in NO_SPACE_TEXTS)


def mount_point(path: str) -> str:
    """The mount point of the filesystem holding `path` (or its nearest existing parent)."""
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def device(path: str) -> str:
    """The device holding `path`, as a user finds it: its name, mount point and free space, e.g. "/dev/sda1
    (mounted on /data, 12.0 MB free)"."""
    mount = mount_point(path)
    name = None
    try:
        with open("/proc/self/mounts") as f:  # the last entry of a mount point is the one in use
            names = [line.split()[0] for line in f if len(line.split()) > 1 and line.split()[1] == mount]
        name = names[-1] if names else None
    except OSError:  # not Linux
        pass
    free = shutil.disk_usage(mount).free / 1e6
    return f"{name or 'the device'} (mounted on {mount}, {free:.1f} MB free)"
