"""The backend that changes the system: each operation of a plan, recorded in the state store
before it is made (backups, moves, link changes, what cannot be undone)."""
import fcntl
import os
import subprocess
from typing import Optional

from unitaudit.errors import UnitauditError
from unitaudit.model import Operation, OperationKind
from unitaudit.remediation.executor import Backend
from unitaudit.remediation.systemd_bus import SystemdManager

DPKG_LOCKS = ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock")
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}


class StepFailed(UnitauditError):
    """One operation could not be made: the rest of that finding's steps are skipped."""


class SystemBackend(Backend):
    def __init__(self, store, run: int, bus_address: Optional[str] = None, timeout: float = 120.0):
        super().__init__()
        self.store = store
        self.run = run
        self.manager = SystemdManager(bus_address, timeout=timeout)

    def perform(self, op: Operation) -> None:
        how = {OperationKind.DBUS: self._dbus, OperationKind.WRITE: self._write, OperationKind.MOVE: self._move,
               OperationKind.CHECK: self._check, OperationKind.RUN: self._run}
        how[op.kind](op)
        self.performed.append(op)

    def _dbus(self, op: Operation) -> None:
        member = op.argv[0].rsplit(".", 1)[1]
        args = list(op.argv[1:])
        if member in ("ReenableUnitFiles", "MaskUnitFiles"):
            body = [[args[0]], args[1] == "runtime=true", args[2] == "force=true"]
        else:
            body = args
        reply = self.manager.call(member, body)
        if member in ("ReenableUnitFiles", "MaskUnitFiles"):
            changes = reply[-1]  # a(sss): type, file, destination
            self.store.record_links(self.run, [tuple(c) for c in changes])
        elif member == "ResetFailedUnit":
            self.store.record_irreversible(self.run, "reset-failed %s (NRestarts and the failed state cleared)" % args[0])

    def _write(self, op: Operation) -> None:
        self.store.write_file(self.run, op.path, op.content or "")

    def _move(self, op: Operation) -> None:
        self.store.move_aside(self.run, op.path, op.destination)

    def _check(self, op: Operation) -> None:
        # logrotate exits 0 even on a config error; its own words name the file that fails:
        # "error: /etc/logrotate.d/clink-agent:8, unexpected text after }".
        r = subprocess.run(list(op.argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_ENV, timeout=60)
        if ("error: %s:" % op.target) not in r.stdout + r.stderr:
            raise StepFailed("`%s` reports no error in %s: not what fails, so it stays in place"
                             % (" ".join(op.argv), op.target))

    def _run(self, op: Operation) -> None:
        if op.argv[0] == "apt-get" and dpkg_locked():
            raise StepFailed("dpkg is locked (another package manager is running): %s not run" % " ".join(op.argv))
        self.store.record_irreversible(self.run, " ".join(op.argv))
        r = subprocess.run(list(op.argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_ENV, timeout=1800)
        if r.returncode != 0:
            last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["exit status %d" % r.returncode]
            raise StepFailed("%s failed: %s" % (" ".join(op.argv), last[0]))


def dpkg_locked() -> bool:
    """Is another apt/dpkg holding its lock?  Taken and released at once, like apt does."""
    for path in DPKG_LOCKS:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(fd, fcntl.LOCK_UN)
        except OSError:
            return True
        finally:
            os.close(fd)
    return False
