"""Read-only means read-only (DESIGN.md): while `unitaudit scan` runs live in the lab, a bus monitor
inside the container records every method call it makes, and strace every file it opens for
writing.  Allowed: ListUnits, ListUnitFiles, Get/GetAll on units ListUnits returned,
GetUnitFileLinks, and the bus daemon's Hello."""
import os
import re
import signal
import subprocess
import sys
import time

from unitaudit_lab.support import ROOT

from unitaudit.errors import ExitStatus

SYSTEMD = "org.freedesktop.systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
PROPS = "org.freedesktop.DBus.Properties"
ALLOWED = {
    ("org.freedesktop.DBus", "Hello"),
    (MANAGER, "ListUnits"),
    (MANAGER, "ListUnitFiles"),
    (MANAGER, "GetUnitFileLinks"),
    (PROPS, "Get"),
    (PROPS, "GetAll"),
}
CALL = re.compile(r"^method call time=\S+ sender=(\S+) -> destination=(\S+) serial=\d+ path=([^;]+); "
                  r"interface=([^;]+); member=(\S+)")
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
MUTATING = re.compile(r"^\d+\s+(mkdir|mkdirat|rename|renameat2?|unlink|unlinkat|rmdir|link|linkat|symlink|symlinkat|"
                      r"truncate|chmod|fchmodat|chown|fchownat|lchown|utimensat)\(")


def _escape(unit: str) -> str:
    """sd-bus object path escaping of a unit name (bus_label_escape)."""
    return "".join(c if c.isalnum() else "_%02x" % ord(c) for c in unit)


def _settle(path, quiet=1.0, timeout=30.0):
    """Wait until the file has stopped growing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = os.path.getsize(path)
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def _watched(seed_lab, tmp_path, *args, fd_paths=False):
    """Run `unitaudit ARGS` inside the lab under a bus monitor and strace; return its result,
    the method calls of its connections, and the file writes it made.  `fd_paths`: strace names
    the file behind each descriptor too (-y), so that a write relative to a directory descriptor
    says which directory."""
    log = tmp_path / "monitor.log"
    with open(log, "w") as sink:  # a file, not a pipe: a full pipe would stall the monitor and lose its tail
        monitor = subprocess.Popen(["nsenter", "-t", str(seed_lab.leader), "-a", "stdbuf", "-oL", "dbus-monitor",
                                    "--system"], stdout=sink, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _settle(log)  # BecomeMonitor done before the scan connects
        trace = tmp_path / "strace.log"
        r = subprocess.run(
            ["strace", "-f", "-qq"] + (["-y"] if fd_paths else []) + ["-o", str(trace), "-e",
             "trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,link,linkat,"
             "symlink,symlinkat,truncate,chmod,fchmodat,chown,fchownat,lchown,utimensat",
             "nsenter", "-t", str(seed_lab.leader), "-a", "env", "PYTHONPATH=%s" % ROOT,
             sys.executable, "-B", "-m", "unitaudit", *args],
            capture_output=True, text=True, timeout=180)
        _settle(log)  # until the monitor has written everything it saw
    finally:
        os.killpg(monitor.pid, signal.SIGTERM)  # nsenter and the dbus-monitor it forked inside
        monitor.wait(timeout=30)
    calls = [m.groups() for m in map(CALL.match, log.read_text(errors="replace").splitlines()) if m]
    # Nothing else in the lab calls systemd while the tool runs (the Avahi client calls Avahi, the
    # timer is PID 1's own), so every connection that calls it is the tool's: one for the unit
    # states, then one each for ListUnitFiles and GetUnitFileLinks when a missing unit is diagnosed.
    tool = {sender for sender, dest, _p, _i, _m in calls if dest == SYSTEMD}
    assert 1 <= len(tool) <= 3, tool
    mine = [(dest, path, iface, member) for sender, dest, path, iface, member in calls if sender in tool]
    writes = []
    for line in trace.read_text().splitlines():
        if MUTATING.match(line) and "= -1" not in line:
            writes.append(line)
        elif re.match(r"^\d+\s+(open|openat|creat)\(", line) and any(f in line for f in WRITE_FLAGS) \
                and "= -1" not in line and '"/dev/null"' not in line and '"/dev/tty"' not in line:
            writes.append(line)
    return r, mine, writes


def _assert_read_only(seed_lab, mine, writes):
    assert (SYSTEMD, "/org/freedesktop/systemd1", MANAGER, "ListUnits") in mine
    forbidden = sorted({(i, m) for _d, _p, i, m in mine if (i, m) not in ALLOWED})
    assert not forbidden, "calls outside the read-only allowlist: %s" % forbidden
    listed = seed_lab.run("systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager").stdout
    unit_paths = {"/org/freedesktop/systemd1/unit/" + _escape(line.split()[0]) for line in listed.splitlines() if line.split()}
    prop_paths = {p for _d, p, i, _m in mine if i == PROPS}
    assert len(prop_paths) > 50, mine[:20]
    assert prop_paths <= unit_paths, "Get/GetAll on objects ListUnits did not return: %s" % sorted(prop_paths - unit_paths)[:5]
    assert not writes, "it wrote:\n" + "\n".join(writes[:10])


def test_live_scan_makes_only_allowed_calls_and_writes_no_file(seed_lab, tmp_path):
    r, mine, writes = _watched(seed_lab, tmp_path, "scan", "--json")
    assert r.returncode == ExitStatus.FINDINGS, r.stderr  # the scan ran and found the loops
    assert '"live": {' in r.stdout
    _assert_read_only(seed_lab, mine, writes)


def test_fix_dry_run_plans_every_seed_loop_and_changes_nothing(seed_lab, tmp_path):
    watched = ("/etc/logrotate.d/clink-agent", "/etc/logrotate.d/mirror-printer", "/etc/systemd/system")
    before = seed_lab.run("sh", "-c", "ls -laR " + " ".join(watched) + " && sha256sum /etc/logrotate.d/*").stdout
    r, mine, writes = _watched(seed_lab, tmp_path, "fix", "--dry-run", "--json")
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    _assert_read_only(seed_lab, mine, writes)
    after = seed_lab.run("sh", "-c", "ls -laR " + " ".join(watched) + " && sha256sum /etc/logrotate.d/*").stdout
    assert before == after
    import json

    doc = json.loads(r.stdout)
    actions = {(s["action"], tuple(sorted(s["values"].values()))) for s in doc["steps"]}
    assert ("reenable", ("avahi-daemon.service",)) in actions
    assert ("write-drop-in", ("deepin-anything-monitor.service",)) in actions
    assert ("logrotate-quarantine", ("/etc/logrotate.d/clink-agent",)) in actions
    assert ("logrotate-add-su", ("/var/log/mirror/printer",)) in actions
    diffs = [op["diff"] for s in doc["steps"] for op in s["operations"] if op["kind"] == "write"]
    assert any("+    su root root" in d for d in diffs)
