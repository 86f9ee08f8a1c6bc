"""`unitaudit fix` on a real systemd: each seed loop is fixed and stops, `undo` puts every file
back, a kill -9 in the middle leaves a state `undo` restores from, forged log lines and a
protected unit get no action.  A lab of its own: these tests change it."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from unitaudit_lab import scenarios
from unitaudit_lab.support import CHECKOUT_PATH, ROOT, boot_lab

from unitaudit.errors import ExitStatus

WATCHED = ("/etc/systemd/system", "/etc/logrotate.d")
PROTECTED_LOOP = """\
[Unit]
Description=Lab: a looping unit whose name systemd-* makes it protected

[Service]
ExecStartPre=/usr/sbin/modprobe vfs_monitor_helper
ExecStart=/bin/sleep infinity
Restart=always
RestartSec=2
"""


@pytest.fixture(scope="module")
def fix_lab(request):
    lab = boot_lab(request, "ua-fix")
    scenarios.setup_seed_loops(lab.lab, {}, [], scenarios.FAST)
    lab.lab.write("/etc/systemd/system/systemd-vfs-helper.service", PROTECTED_LOOP)
    lab.run("systemctl", "daemon-reload")
    lab.run("systemctl", "start", "--no-block", "systemd-vfs-helper.service")
    scenarios.wait_for_seed_loops(lab.lab)
    lab.wait_for("the protected unit to loop", lambda: int(lab.show("systemd-vfs-helper.service", "NRestarts") or 0) >= 6,
                 timeout=60, every=1)
    return lab


def snapshot(lab) -> str:
    """Every file and link under the watched directories: path, type, mode, owner, target, sha256."""
    script = ("find %s -xdev \\( -type f -o -type l -o -type d \\) -printf '%%p %%y %%m %%u:%%g %%l\\n' | sort; "
              "find %s -xdev -type f -exec sha256sum {} + | sort") % (" ".join(WATCHED), " ".join(WATCHED))
    return lab.run("sh", "-c", script).stdout


def unitaudit(lab, *args, timeout=300):
    return lab.run(sys.executable, "-B", "-m", "unitaudit", *args, check=False, timeout=timeout,
                   env={"PYTHONPATH": CHECKOUT_PATH})


def test_forged_lines_and_a_protected_unit_get_no_action(fix_lab):
    for _ in range(6):
        fix_lab.run("runuser", "-u", "deepin", "--", "logger", "-t", "systemd",
                    "foo.service: Scheduled restart job, restart counter is at 99.")
    r = unitaudit(fix_lab, "fix", "--dry-run", "--json")
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    doc = json.loads(r.stdout)
    assert not [s for s in doc["steps"] if "foo.service" in s["values"].values()]
    refused = {x["unit"]: x["reason"] for x in doc["refusals"]}
    assert "protected unit systemd-vfs-helper.service: part of systemd itself" in refused["systemd-vfs-helper.service"]
    assert not [s for s in doc["steps"] if "systemd-vfs-helper.service" in s["values"].values()]


@pytest.fixture(scope="module")
def fixed(fix_lab):
    before = snapshot(fix_lab)
    r = unitaudit(fix_lab, "fix", "--yes", "--json")
    return before, r


def test_fix_stops_each_seed_loop(fix_lab, fixed):
    _, r = fixed
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    status = {o["unit"]: o["status"] for o in doc["outcomes"]}
    assert status == {"dbus-org.freedesktop.Avahi.service": "fixed", "deepin-anything-monitor.service": "fixed",
                      "logrotate.service": "fixed"}, doc
    # Checked here again, independently of unitaudit's own verification:
    assert os.path.islink(fix_lab.root / "etc/systemd/system/dbus-org.freedesktop.Avahi.service")
    failures = fix_lab.journal_count("Activation via systemd failed", "_COMM=dbus-daemon")
    restarts = fix_lab.show("deepin-anything-monitor.service", "NRestarts")
    rotations = _logrotate_results(fix_lab)
    time.sleep(15)  # the client keeps calling every 2 s; the timer starts logrotate every 5 s
    assert fix_lab.journal_count("Activation via systemd failed", "_COMM=dbus-daemon") == failures
    assert fix_lab.show("deepin-anything-monitor.service", "NRestarts") == restarts
    assert fix_lab.show("deepin-anything-monitor.service", "ActiveState") == "failed"
    after = _logrotate_results(fix_lab)
    assert after["failed"] == rotations["failed"], fix_lab.run(
        "journalctl", "--no-pager", "-n", "40", "-u", "logrotate.service", check=False).stdout
    assert after["succeeded"] >= rotations["succeeded"] + 2  # the timer's runs now succeed


def _logrotate_results(lab) -> dict:
    """logrotate.service runs as PID 1 logged them: failed and succeeded."""
    return {"failed": lab.journal_count("logrotate.service: Failed with result", "_PID=1"),
            "succeeded": lab.journal_count("logrotate.service: Deactivated successfully", "_PID=1")}


def test_undo_puts_every_file_back(fix_lab, fixed):
    before, fix = fixed
    r = unitaudit(fix_lab, "undo", "--yes", "--json")
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr
    assert snapshot(fix_lab) == before
    # what the undo reports (unitaudit.undo/1): the fix run's files back, the link back, systemd reloaded
    doc = json.loads(r.stdout)
    assert doc["schema"] == "unitaudit.undo/1"
    assert doc["run"] == json.loads(fix.stdout)["run"]
    assert doc["complete"] is True
    assert doc["reloaded"] is True
    assert doc["errors"] == []
    assert any(p.startswith("/etc/logrotate.d/") for p in doc["restored"] + doc["moved_back"]), doc
    assert any("dbus-org.freedesktop.Avahi.service" in p for p in doc["links_restored"] + doc["removed"]), doc


def test_kill_9_after_the_first_write_leaves_a_state_undo_restores(fix_lab, fixed):
    before = snapshot(fix_lab)
    state = fix_lab.root / "var/lib/unitaudit/backups"
    runs_before = set(os.listdir(state)) if state.exists() else set()
    child = subprocess.Popen(["nsenter", "-t", str(fix_lab.leader), "-a", "env", "PYTHONPATH=%s" % ROOT,
                              sys.executable, "-B", "-m", "unitaudit", "fix", "--yes"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    written = False
    while time.monotonic() < deadline and not written:
        new = set(os.listdir(state)) - runs_before if state.exists() else set()
        written = any(os.listdir(state / n) for n in new)
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert written, "fix never backed up a file"
    r = unitaudit(fix_lab, "undo", "--yes")
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr
    assert r.stdout.startswith("undo of fix run ")
    assert "  systemd reloaded\n" in r.stdout
    assert snapshot(fix_lab) == before


def test_fix_needs_root_and_a_yes_when_nobody_can_answer(fix_lab):
    as_user = fix_lab.run("runuser", "-u", "deepin", "--", "/usr/bin/python3", "-B", "-m", "unitaudit", "fix",
                          check=False, env={"PYTHONPATH": CHECKOUT_PATH})
    assert as_user.returncode == ExitStatus.INCOMPLETE
    assert "needs root" in as_user.stderr
    assert "Traceback" not in as_user.stderr
    undo_as_user = fix_lab.run("runuser", "-u", "deepin", "--", "/usr/bin/python3", "-B", "-m", "unitaudit", "undo",
                               check=False, env={"PYTHONPATH": CHECKOUT_PATH})
    assert undo_as_user.returncode == ExitStatus.INCOMPLETE
    assert "needs root" in undo_as_user.stderr
    before = snapshot(fix_lab)
    unasked = unitaudit(fix_lab, "fix")  # stdin is not a terminal: no one can say yes
    assert unasked.returncode == ExitStatus.USAGE
    assert "add --yes" in unasked.stderr
    assert snapshot(fix_lab) == before
