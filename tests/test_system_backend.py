"""The system backend's own guards, on real files and processes."""
import subprocess
import sys

import pytest

from unitaudit.remediation import system_backend
from unitaudit.model import Operation, OperationKind
from unitaudit.remediation.system_backend import StepFailed, SystemBackend, dpkg_locked


@pytest.fixture
def locks(tmp_path, monkeypatch):
    paths = (str(tmp_path / "lock-frontend"), str(tmp_path / "lock"))
    for p in paths:
        open(p, "w").close()
    monkeypatch.setattr(system_backend, "DPKG_LOCKS", paths)
    return paths


def test_dpkg_lock_held_by_another_process_is_seen(locks):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(%r, os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(30)") % locks[0]], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert dpkg_locked()
    finally:
        holder.kill()
        holder.wait()
    assert not dpkg_locked()


class _Store:
    def __init__(self):
        self.irreversible = []

    def record_irreversible(self, run, what):
        self.irreversible.append(what)


def test_apt_reinstall_is_refused_while_dpkg_is_locked_and_nothing_runs(locks):
    store = _Store()
    backend = SystemBackend(store, 1)
    hold = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, time; fd = os.open(%r, os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(30)") % locks[0]], stdout=subprocess.PIPE, text=True)
    try:
        assert hold.stdout.readline().strip() == "held"
        with pytest.raises(StepFailed, match="dpkg is locked"):
            backend.perform(Operation(OperationKind.RUN, "avahi-daemon", argv=("apt-get", "install", "--reinstall", "avahi-daemon")))
    finally:
        hold.kill()
        hold.wait()
    assert store.irreversible == []
    assert backend.performed == []


def test_quarantine_check_needs_logrotate_to_name_the_file(tmp_path):
    broken = tmp_path / "clink-agent"
    broken.write_text("/var/log/clink-agent/*.log {\n    daily\n} extra\n")
    good = tmp_path / "good"
    good.write_text("/var/log/good/*.log {\n    daily\n}\n")
    backend = SystemBackend(_Store(), 1)
    backend.perform(Operation(OperationKind.CHECK, str(broken), argv=("logrotate", "-d", str(broken))))
    with pytest.raises(StepFailed, match="reports no error"):
        backend.perform(Operation(OperationKind.CHECK, str(good), argv=("logrotate", "-d", str(good))))
