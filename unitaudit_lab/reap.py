"""Labs a killed run left behind (SIGKILL skips every `finally`): torn down on the next start."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from unitaudit_lab.cgroups import remove_cgroups
from unitaudit.util.processes import is_alive
from unitaudit_lab.host import mounted_under, nspawn_pids_for
from unitaudit_lab.machine import LAB_PARENT, LAB_PREFIX


def reap_stale() -> list[str]:
    """Tear down labs whose owner process is gone (a run killed with SIGKILL, a crashed CI job):
    kill their nspawn, unmount, remove.  Labs of live processes (a concurrent run) are left alone.
    Returns what was cleaned, for the log."""
    cleaned = []
    for entry in sorted(os.listdir(LAB_PARENT)):
        d = Path(LAB_PARENT) / entry
        if not entry.startswith(LAB_PREFIX) or not d.is_dir():
            continue
        if _in_use(d):
            continue  # a live run's lab (or one whose owner is unknown and still running): not ours
        if _reap(d):
            cleaned.append(str(d))
    return cleaned


def _in_use(d: Path) -> bool:
    try:
        owner = int((d / "owner").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        owner = 0
    return bool((owner and is_alive(owner, None)) or (not owner and nspawn_pids_for(str(d / "root"))))


def _reap(d: Path) -> bool:
    """Kill, unmount and remove one abandoned lab; False when a mount would not go."""
    root = str(d / "root")
    for pid in nspawn_pids_for(root):
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + 10
    while nspawn_pids_for(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    for _ in range(10):
        if not mounted_under(root):
            break
        if subprocess.run(["umount", root], capture_output=True).returncode != 0:
            time.sleep(0.3)
    if mounted_under(root):
        subprocess.run(["umount", "-l", root], capture_output=True)
    if mounted_under(str(d)):
        return False
    try:
        remove_cgroups((d / "cgroups").read_text().split())
    except OSError:
        pass
    shutil.rmtree(d, ignore_errors=True)
    return True
