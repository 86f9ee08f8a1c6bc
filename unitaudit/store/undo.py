"""Undoing a fix run on the file system: every recorded change reversed, newest first, each
checked against what the run made.

A change that was never made (the run was killed after recording it) is already undone; the
temporary file of a write killed before its rename is removed; a file changed since by someone
else is left as is and reported, so that the admin's later edit is never lost.
"""
import errno
import os
from typing import Callable, Dict, List, Set

from unitaudit.model import UndoReport
from unitaudit.store.changes import Change, ChangeKind, path_state, same, sha256
from unitaudit.util.files import atomic_symlink, atomic_write, fsync_dir, remove_temp_leftovers


def undo_changes(run: int, changes: List[Change]) -> UndoReport:
    """Reverse `changes` (kind, detail; newest first) of fix run `run`.  An OSError of one
    change is reported with its path and the others are still undone."""
    report = UndoReport([], [], [], [], [], [])
    unknown = _links_of_unknown_state(run, changes, report)
    for kind, d in changes:
        if kind is ChangeKind.LINK and d["file"] in unknown:
            continue
        try:
            _UNDO[kind](run, d, report)
        except OSError as e:
            where = d.get("path") or d.get("file") or d.get("src")
            report.errors.append("%s: %s" % (where, e.strerror or e))
    return report


def _links_of_unknown_state(run: int, changes: List[Change], report: UndoReport) -> Set[str]:
    """Link files whose state before the run systemd did not give: left alone with all their
    changes (undoing only the later ones would remove a link that existed before the run), and
    said so."""
    first: Dict[str, dict] = {}
    for kind, d in reversed(changes):
        if kind is ChangeKind.LINK:
            first.setdefault(d["file"], d)
    unknown = {f for f, d in first.items() if d["before"]["kind"] == "unknown"}
    for f in sorted(unknown):
        now = path_state(f, content=False)
        report.cannot_undo.append("%s: systemd did not say where it pointed before fix run %d; left as is (%s)"
                                  % (f, run, "-> " + now["target"] if now["kind"] == "link" else now["kind"]))
    return unknown


def _undo_file(run: int, d: dict, report: UndoReport) -> None:
    path, before = d["path"], d["before"]
    report.removed.extend(remove_temp_leftovers(os.path.dirname(path)))
    now = path_state(path)
    if same(now, before):  # the write never happened (killed between backup and rename)
        (report.removed if before["kind"] == "absent" else report.restored).append(path)
        return
    if now != {"kind": "file", "sha256": d["new_sha256"]}:
        report.errors.append("%s changed since fix run %d wrote it; left as is (the backup is %s)"
                             % (path, run, d["backup"]))
        return
    if before["kind"] == "absent":
        os.unlink(path)
        fsync_dir(os.path.dirname(path))
        report.removed.append(path)
    elif before["kind"] == "link":
        atomic_symlink(path, before["target"], (before["uid"], before["gid"]), run)
        report.restored.append(path)
    else:
        with open(d["backup"], "rb") as f:
            old = f.read()
        if sha256(old) != before["sha256"]:
            report.errors.append("%s: its backup %s does not match what was recorded; left as is"
                                 % (path, d["backup"]))
            return
        atomic_write(path, old, before["mode"], (before["uid"], before["gid"]), before["mtime_ns"], run)
        report.restored.append(path)


def _undo_mkdir(run: int, d: dict, report: UndoReport) -> None:
    path = d["path"]
    if not os.path.isdir(path) or os.path.islink(path):
        return  # never created (killed before), or replaced by something that is not ours
    try:
        os.rmdir(path)
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        report.cannot_undo.append("%s: created by fix run %d, left in place: no longer empty" % (path, run))
        return
    fsync_dir(os.path.dirname(path))
    report.removed.append(path)


def _undo_move(run: int, d: dict, report: UndoReport) -> None:
    src, dst = d["src"], d["dst"]
    at_src, at_dst = os.path.lexists(src), os.path.lexists(dst)
    if at_dst and not at_src:
        os.rename(dst, src)
        for p in {os.path.dirname(src), os.path.dirname(dst)}:
            fsync_dir(p)
        report.moved_back.append(src)
    elif at_src and not at_dst:
        report.moved_back.append(src)  # the rename never happened
    else:
        report.errors.append("%s: cannot move back from %s (%s); left as is"
                             % (src, dst, "both exist" if at_src else "neither exists"))


def _undo_link(run: int, d: dict, report: UndoReport) -> None:
    file, before, after = d["file"], d["before"], d["after"]
    now = path_state(file, content=False)
    if now == before:
        pass  # the change was never made
    elif now != after:
        report.errors.append("%s changed since fix run %d (%s it); left as is" % (file, run, d["type"] + "ed"))
        return
    elif before["kind"] == "absent":
        os.unlink(file)
        fsync_dir(os.path.dirname(file))
    else:
        atomic_symlink(file, before["target"], None, run)
    if file not in report.links_restored:
        report.links_restored.append(file)


def _cannot_undo(run: int, d: dict, report: UndoReport) -> None:
    report.cannot_undo.append(d["what"])


_UNDO: Dict[ChangeKind, Callable[[int, dict, UndoReport], None]] = {
    ChangeKind.FILE: _undo_file,
    ChangeKind.MKDIR: _undo_mkdir,
    ChangeKind.MOVE: _undo_move,
    ChangeKind.LINK: _undo_link,
    ChangeKind.IRREVERSIBLE: _cannot_undo,
}
