"""The files and facts a diagnosis reads on this machine, copied through the recording probe, so
that every path's owner, mode and link target is recorded as it is copied.

Copied whole (a file missing from the copy is missing on the machine): systemd's unit
directories, the bus's service directories, /etc/logrotate.d; then single files: logrotate.conf,
os-release, the /proc and /sys files the kernel figures come from, every dkms.conf; then whatever
the scan's own diagnosis read.  Beyond that, the facts a diagnosis of another window could ask:
the owner of every unit file and logrotate file, the module file of every module an
ExecStartPre= or ExecStart= of a loaded unit loads with modprobe, and the directories the
logrotate files name.  Nothing is written but the copy in the bundle's directory.
"""
import os
import posixpath
from typing import Callable, Iterable, List, Optional, Set, Tuple

from unitaudit.analysis.diagnosis.missing_unit import BUS_SERVICE_DIRS, UNIT_DIRS
from unitaudit.collect.recording import RecordingProbe
from unitaudit.model import LiveState
from unitaudit.util.names import is_module_name, is_safe_path

WHOLE_DIRS = UNIT_DIRS + BUS_SERVICE_DIRS + ("/etc/logrotate.d",)
FILES = ("/etc/logrotate.conf", "/etc/os-release", "/usr/lib/os-release", "/etc/debian_version",
         "/etc/deepin-version", "/etc/os-version",
         "/proc/meminfo", "/proc/slabinfo", "/proc/cgroups", "/proc/self/mountinfo", "/proc/modules",
         "/proc/sys/kernel/osrelease", "/sys/fs/cgroup/cgroup.stat")
MAX_FILE = 4 << 20  # a unit or config file is kilobytes; a bigger one is left out and said
MAX_DEPTH = 4  # /etc/systemd/system/x.target.wants/y.service is 1 below; drop-ins are 1 below too

Copy = Callable[[str, bytes], None]  # (path on the machine, its bytes) -> into the bundle


class Gathered:
    """What was copied and what was left out, for the manifest."""

    def __init__(self) -> None:
        self.copied: List[str] = []
        self.left_out: List[Tuple[str, str]] = []
        self.complete_dirs: List[str] = []


def gather(probe: RecordingProbe, live: Optional[LiveState], copy: Copy) -> Gathered:
    done = Gathered()
    seen: Set[str] = set()
    for d in WHOLE_DIRS:
        real = probe.resolve(d)
        if real in seen:
            continue
        seen.add(real)
        if probe.stat(d, follow=True).is_dir:
            _copy_tree(probe, real, copy, done, 0)
            done.complete_dirs.append(real)
    for path in FILES + _dkms_confs(probe):
        _copy_file(probe, path, copy, done, quiet_if_missing=True)
    probe.stat("/lib/modules/" + probe.kernel_release(), follow=True)
    _more_facts(probe, live)
    for path in sorted(probe.files_read - set(done.copied)):  # what the scan's diagnosis read elsewhere
        _copy_file(probe, path, copy, done, quiet_if_missing=True)
    return done


def _copy_tree(probe: RecordingProbe, directory: str, copy: Copy, done: Gathered, depth: int) -> None:
    if depth > MAX_DEPTH:
        done.left_out.append((directory, "deeper than %d levels" % MAX_DEPTH))
        return
    for name in probe.list_dir(directory):
        path = posixpath.join(directory, name)
        if not is_safe_path(path):
            continue
        info = probe.stat(path)
        if info.is_symlink:
            probe.stat(path, follow=True)  # where it leads, and whether it leads anywhere
        elif info.is_dir:
            _copy_tree(probe, path, copy, done, depth + 1)
        elif info.exists:
            _copy_file(probe, path, copy, done)


def _copy_file(probe: RecordingProbe, path: str, copy: Copy, done: Gathered, quiet_if_missing: bool = False) -> None:
    info = probe.stat(path)
    if info.is_symlink:
        info = probe.stat(path, follow=True)
        path = probe.resolve(path)
        probe.stat(path)
    if path in done.copied:
        return  # reached again through a link (/etc/os-release -> ../usr/lib/os-release)
    if not info.exists or info.is_dir:
        if not quiet_if_missing:
            done.left_out.append((path, "not a regular file"))
        return
    data = probe.read_bytes(path, MAX_FILE + 1)
    if data is None:
        done.left_out.append((path, "unreadable (permission?): run collect as root"))
        return
    if len(data) > MAX_FILE:
        done.left_out.append((path, "larger than %d MiB" % (MAX_FILE >> 20)))
        return
    for parent in _parents(path):
        probe.stat(parent)
    copy(path, data)
    done.copied.append(path)


def _parents(path: str) -> Iterable[str]:
    parent = posixpath.dirname(path)
    while parent not in ("/", ""):
        yield parent
        parent = posixpath.dirname(parent)


def _dkms_confs(probe: RecordingProbe) -> Tuple[str, ...]:
    return tuple("/usr/src/%s/dkms.conf" % e for e in probe.list_dir("/usr/src") if is_safe_path("/usr/src/" + e))


def _more_facts(probe: RecordingProbe, live: Optional[LiveState]) -> None:
    """Answers a diagnosis of other findings could need: owners, modules, log directories."""
    release = probe.kernel_release()
    owned = [p for p in probe.stats if not p[1]]
    probe.packages_of([p for p, _f in owned if not probe.stats[(p, False)].is_dir])
    for unit in (live.units if live is not None else ()):
        for run in unit.exec_start_pre:
            module = _modprobe_target(run.path, run.argv)
            if module is not None:
                try:
                    probe.module_file(module, release)
                except Exception:  # noqa: BLE001 - modinfo missing or failing: no answer recorded
                    pass
            if is_safe_path(run.path):
                probe.stat(run.path, follow=True)
        if unit.fragment_path and is_safe_path(unit.fragment_path):
            probe.packages_of([unit.fragment_path])
    for name in probe.list_dir("/etc/logrotate.d"):
        text = probe.read_text("/etc/logrotate.d/" + name, limit=MAX_FILE) or ""
        for directory in _log_dirs(text):
            probe.stat(directory)
    for entry in probe.list_dir("/var/lib/dkms"):
        for version in probe.list_dir("/var/lib/dkms/" + entry):
            probe.stat("/var/lib/dkms/%s/%s/%s" % (entry, version, release), follow=True)


def _modprobe_target(path: str, argv: Tuple[str, ...]) -> Optional[str]:
    if posixpath.basename(path) != "modprobe":
        return None
    names = [a for a in argv[1:] if not a.startswith("-")]
    return names[0] if names and is_module_name(names[0]) else None


def _log_dirs(text: str) -> Set[str]:
    """The directories of the log paths a logrotate file names (the lines before its `{`)."""
    out: Set[str] = set()
    for line in text.splitlines():
        head = line.split("{", 1)[0] if "{" in line else (line if line.strip().startswith("/") else "")
        for word in head.split():
            word = word.strip("\"'")
            if word.startswith("/") and "*" not in posixpath.dirname(word):
                parent = posixpath.normpath(posixpath.dirname(word))
                if is_safe_path(parent):
                    out.add(parent)
    return out


def host_name() -> str:
    return os.uname().nodename
