"""`unitaudit scan` run live inside the lab: the journal joined with unit states over D-Bus, and
each cause checked on the live system.  The seed's three loops must be found with their
diagnosis; the healthy controls must not be called loops."""
import os
import shutil
import sys
import tempfile

import pytest

from builders import in_terminal, report_fields
from unitaudit.errors import ExitStatus
from unitaudit_lab.support import boot_lab


SEED_LOOPS = [("restart-loop", "deepin-anything-monitor.service"), ("activation-loop", "dbus-org.freedesktop.Avahi.service"),
              ("repeated-failure", "logrotate.service")]


def _by(doc, kind, unit):
    found = [f for f in doc["findings"] if f["kind"] == kind and f["unit"] == unit]
    assert found, "no %s finding for %s in %s" % (kind, unit, [(f["kind"], f["unit"]) for f in doc["findings"]])
    return found[0]


@pytest.fixture(scope="module")
def seed_scan(seed_lab):
    before = {
        "activations": seed_lab.journal_count("Activation via systemd failed", "_COMM=dbus-daemon"),
        "restarts": seed_lab.journal_count("Scheduled restart job", "_PID=1"),
    }
    doc = seed_lab.scan_json()
    after = {
        "activations": seed_lab.journal_count("Activation via systemd failed", "_COMM=dbus-daemon"),
        "restarts": seed_lab.journal_count("Scheduled restart job", "_PID=1"),
    }
    return doc, before, after


def test_live_scan_reads_unit_states_over_dbus(seed_lab, seed_scan):
    doc, _, _ = seed_scan
    listed = seed_lab.run("systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager").stdout
    assert doc["live"] is not None
    assert doc["live"]["bus_address"]
    assert abs(doc["live"]["units"] - len(listed.splitlines())) <= 3  # units come and go (logrotate runs)
    assert doc["live"]["unit_files"] is None  # ListUnitFiles only when a missing unit is diagnosed
    print("live state read in %.3f s (%d units)" % (doc["live"]["seconds"], doc["live"]["units"]))


def test_restart_loop_joined_with_live_state_and_diagnosed(seed_lab, seed_scan):
    doc, before, after = seed_scan
    f = _by(doc, "restart-loop", "deepin-anything-monitor.service")
    assert f["trusted"] is True
    assert before["restarts"] <= f["count"] <= after["restarts"]
    assert f["facts"]["live_n_restarts"] >= 6
    assert f["facts"]["live_sub_state"] in ("auto-restart", "start-pre", "stop-post", "dead", "failed")
    assert f["cause"]["kind"] == "execstartpre-failed"
    assert f["cause"]["status"] == 1
    d = f["diagnosis"]
    assert d["kind"] == "execstartpre-failed"
    assert d["verdict"].startswith("module-missing")
    assert "vfs_monitor" in d["summary"]


def test_activation_loop_diagnosed_as_the_missing_alias_of_an_enabled_unit(seed_lab, seed_scan):
    doc, before, after = seed_scan
    f = _by(doc, "activation-loop", "dbus-org.freedesktop.Avahi.service")
    assert before["activations"] <= f["count"] <= after["activations"]
    assert f["trusted"] is True
    d = f["diagnosis"]
    assert d["verdict"] == "alias-missing"
    assert "avahi-daemon.service" in d["summary"]
    assert "avahi-daemon" in str(d.get("package"))


def test_logrotate_failure_diagnosed_with_file_line_and_insecure_directory(seed_lab, seed_scan):
    doc, _, _ = seed_scan
    f = [x for x in doc["findings"] if x["unit"] == "logrotate.service"]
    assert f
    assert f[0]["kind"] in ("repeated-failure", "failure")
    d = f[0]["diagnosis"]
    assert d["kind"] == "logrotate-config"
    text = str(d)
    assert "/etc/logrotate.d/clink-agent" in text
    assert "/var/log/mirror/printer" in text


def test_controls_are_not_loops_and_the_disabled_service_is_said_to_be_disabled(controls_lab):
    doc = controls_lab.scan_json()
    flagged = {(f["kind"], f["unit"]) for f in doc["findings"]}
    for unit in ("flaky-once.service", "healthy-daemon.service", "fail-once.service", "logrotate.service"):
        assert not [k for k, u in flagged if u == unit], "%s flagged: %s" % (unit, flagged)
    avahi = [f for f in doc["findings"] if f["unit"] == "dbus-org.freedesktop.Avahi.service"]
    assert avahi, "the caller of the disabled service should be reported"
    assert avahi[0]["diagnosis"]["verdict"] == "disabled-on-purpose"
    assert "disabled" in avahi[0]["diagnosis"]["summary"]


def test_no_bus_gives_a_warning_and_the_journal_only_result(seed_lab):
    r = seed_lab.unitaudit("scan", "--json", "--bus-address", "unix:path=/run/no-such-bus")
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    assert "Traceback" not in r.stderr
    import json

    doc = json.loads(r.stdout)
    assert doc["live"] is None
    assert any("no-such-bus" in w for w in doc["warnings"])
    assert _by(doc, "activation-loop", "dbus-org.freedesktop.Avahi.service")


def test_the_demo_report_at_80_columns_says_every_unit_cause_and_fix_whole(seed_lab, tmp_path):
    """The seed's live report (its bus, its root, its journal: the diagnosis is live) in a real
    terminal 80 columns wide, tmux on this machine: no line wider than the screen, and every unit
    name, cause, diagnosis and fix command whole (folded between words only).  tmux runs here,
    not inside the lab: a terminal in the lab's own pseudo-terminals swallows what is written."""
    leader = seed_lab.lab.leader
    short = tempfile.mkdtemp(prefix="ua")  # the lab's journal path is longer than a line: a word that could not fit
    os.symlink(str(seed_lab.lab.journal_dir()), os.path.join(short, "journal"))
    evidence = ["--journal-dir", os.path.join(short, "journal"), "--bus-address", seed_lab.lab.bus_address,
                "--root", "/proc/%d/root" % leader]
    try:
        screen = in_terminal(tmp_path, 80, [sys.executable, "-m", "unitaudit", "scan"] + evidence)
    finally:
        shutil.rmtree(short)
    assert max(len(line) for line in screen.splitlines()) <= 80, screen
    doc = seed_lab.scan_json()
    rows = screen.splitlines()
    fixes = report_fields(screen, "Fix")
    for kind, unit in SEED_LOOPS:
        f = _by(doc, kind, unit)
        assert any(row.endswith("%s: %s" % (unit, kind)) for row in rows), screen
        assert "unitaudit fix %s --finding %s --dry-run" % (" ".join(evidence), f["id"]) in fixes
    # a moment apart, two reads may word a cause differently (modprobe in flight): each loop's by its words
    causes = report_fields(screen, "Cause")
    assert len(causes) == len(doc["findings"]) == 3
    assert any("vfs_monitor" in c for c in causes) and any("org.freedesktop.Avahi" in c for c in causes)
    diagnoses = report_fields(screen, "Diagnosis")
    assert any(d.startswith("alias-missing: ") and "systemctl reenable avahi-daemon.service" in d for d in diagnoses)
    assert any(d.startswith("module-missing: ") for d in diagnoses)


def test_not_root_gets_a_warning_and_the_live_result_never_a_traceback(seed_lab):
    """As an ordinary user the system journal is closed, the bus is not: the restart loop is still
    found from PID 1's live state, and the report says what is missing.  Debian's python3: the
    user cannot enter root's virtual environment."""
    from unitaudit_lab.support import CHECKOUT_PATH

    import json
    import time

    # Without the journal the cause is the live ExecStartPre status; read while modprobe runs (a
    # new start of the loop), it has no exit status yet and the cause is unknown: read again.
    for _attempt in range(5):
        r = seed_lab.run("runuser", "-u", "deepin", "--", "/usr/bin/python3", "-B", "-m", "unitaudit", "scan",
                         "--json", check=False, env={"PYTHONPATH": CHECKOUT_PATH})
        assert r.returncode == ExitStatus.FINDINGS, r.stderr
        assert "Traceback" not in r.stderr
        doc = json.loads(r.stdout)
        assert any("system journal is not readable" in w for w in doc["warnings"])
        f = _by(doc, "restart-loop", "deepin-anything-monitor.service")
        assert f["evidence"][0].startswith("live: SubState=")
        if f["cause"] is not None:
            break
        time.sleep(0.7)
    assert f["cause"]["command_source"] in ("live", "journal")


YOUNG = """[Unit]
Description=restarts into an ExecStartPre that always fails, an hour apart

[Service]
ExecStartPre=/bin/false
ExecStart=/bin/sleep infinity
Restart=always
RestartSec=1h
"""


@pytest.fixture(scope="module")
def young_lab(request):
    """A unit that has failed once in ExecStartPre and now waits an hour to restart: its journal
    shows one failure and no restart, PID 1 shows auto-restart and the failed command."""
    lab = boot_lab(request, "ua-young")
    lab.write("/etc/systemd/system/young-pre.service", YOUNG)
    lab.run("systemctl", "daemon-reload")
    lab.run("systemctl", "start", "--no-block", "young-pre.service")
    lab.wait_for("young-pre.service in auto-restart",
                 lambda: lab.show("young-pre.service", "SubState") == "auto-restart", timeout=30)
    return lab


def test_a_unit_waiting_to_restart_into_a_failed_execstartpre_is_a_loop_live(young_lab):
    """Below the restart burst (NRestarts 0), the live state alone says it: every start fails
    the same way before the main process runs."""
    assert young_lab.show("young-pre.service", "NRestarts") == "0"
    doc = young_lab.scan_json()
    f = _by(doc, "restart-loop", "young-pre.service")
    assert f["trusted"] is True
    assert f["evidence"][0].startswith("live: SubState=auto-restart")
    assert f["cause"]["kind"] == "execstartpre-failed"
    assert f["cause"]["command_source"] == "live"
    assert f["cause"]["argv"] == ["/bin/false"]


def test_a_pasted_status_and_nrestarts_of_the_looping_unit_read_offline(seed_lab):
    """What a user pastes into a ticket, made by this systemd: `systemctl status -n 0` (the header
    alone) and `systemctl show -p NRestarts`, scanned as text: the restart loop, untrusted, with
    its ExecStartPre cause and the counter the paste gave."""
    unit = "deepin-anything-monitor.service"
    seed_lab.wait_for("%s waiting to restart" % unit, lambda: seed_lab.show(unit, "SubState") == "auto-restart",
                      timeout=30, every=0.1)
    seed_lab.run("sh", "-c", "systemctl status -n 0 --no-pager -l %s > /root/paste.txt; "
                 "systemctl show -p NRestarts %s >> /root/paste.txt; true" % (unit, unit))
    pasted = seed_lab.run("cat", "/root/paste.txt").stdout
    n_restarts = int(pasted.rsplit("NRestarts=", 1)[1].split()[0])
    assert n_restarts >= 5
    doc = seed_lab.scan_json("--syslog", "/root/paste.txt")
    f = _by(doc, "restart-loop", unit)
    assert f["trusted"] is False
    assert f["evidence"][0].startswith("systemctl status: ")
    assert f["facts"]["restart_counter"] == n_restarts
    assert f["cause"]["kind"] == "execstartpre-failed"
    assert f["cause"]["command_source"] == "systemctl status"
    assert doc["sources"][0]["status_blocks"] == 1
