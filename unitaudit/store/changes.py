"""The changes a fix run records, and the state of a path they compare: what was there before a
change (recorded), what the change leaves (predicted), what is there now (read again by undo).

A state is a small dict, stored as JSON in the change's row: {"kind": "absent"}, a regular file
{"kind": "file", "sha256", and when recorded "mode", "uid", "gid", "mtime_ns"}, a symlink
{"kind": "link", "target"} (and its owner when recorded), {"kind": "other"} for anything else,
and {"kind": "unknown"} when systemd did not say what a link was.
"""
import hashlib
import os
import stat
from enum import Enum
from typing import List, Optional, Tuple

from unitaudit.errors import StateError


class ChangeKind(str, Enum):
    """One row of a run's changes, in the order they were made."""

    FILE = "file"  # a file written (its backup and its state before)
    MKDIR = "mkdir"  # a directory a write needed
    MOVE = "move"  # a file moved aside
    LINK = "link"  # one of systemd's link changes (enable, mask)
    IRREVERSIBLE = "irreversible"  # a step undo cannot reverse (reset-failed, a package install)


Change = Tuple[ChangeKind, dict]  # one row of a run's changes: its kind and its detail


class LinkChange(str, Enum):
    """The type of a link change, as systemd's ReenableUnitFiles/MaskUnitFiles answer it."""

    SYMLINK = "symlink"
    UNLINK = "unlink"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def missing_parents(path: str) -> List[str]:
    """The directories a write must create, outermost first."""
    missing = []
    d = os.path.dirname(path)
    while not os.path.lexists(d):
        missing.append(d)
        d = os.path.dirname(d)
    if not os.path.isdir(d):
        raise StateError("%s: %s is not a directory" % (path, d))
    return missing[::-1]


def read_current(path: str) -> Tuple[dict, Optional[bytes]]:
    """What is at path now, in full (the state a write records before it), never following a
    symlink there, and a regular file's bytes.  StateError for what is neither."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"kind": "absent"}, None
    if stat.S_ISLNK(st.st_mode):
        return {"kind": "link", "target": os.readlink(path), "uid": st.st_uid, "gid": st.st_gid}, None
    if not stat.S_ISREG(st.st_mode):
        raise StateError("%s is not a regular file or a symlink: unitaudit does not replace it" % path)
    # O_NONBLOCK: a FIFO swapped in after the lstat must not hang the open; fstat checks again.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise StateError("%s is not a regular file: unitaudit does not replace it" % path)
        data = f.read()
    return {"kind": "file", "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "mtime_ns": st.st_mtime_ns, "sha256": sha256(data)}, data


def path_state(path: str, content: bool = True) -> dict:
    """Enough of what is at path to compare with a recorded state.  A regular file is known by
    its bytes' hash (content=True: a written file), or only as "other" (content=False: a link
    change, which never reads a file)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"kind": "absent"}
    if stat.S_ISLNK(st.st_mode):
        return {"kind": "link", "target": os.readlink(path)}
    if content and stat.S_ISREG(st.st_mode):
        try:
            state, _data = read_current(path)
        except StateError:  # replaced since the lstat by something else
            return {"kind": "other"}
        if state["kind"] == "file":
            return {"kind": "file", "sha256": state["sha256"]}
    return {"kind": "other"}


def same(now: dict, before: dict) -> bool:
    """Whether `now` (path_state) is what `before` (read_current, recorded) describes."""
    return now["kind"] == before["kind"] and all(now[k] == before[k] for k in ("sha256", "target") if k in now)


def link_after(change: LinkChange, destination: str) -> dict:
    """What a link change leaves at its file."""
    return {"kind": "link", "target": destination} if change is LinkChange.SYMLINK else {"kind": "absent"}
