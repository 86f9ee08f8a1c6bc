"""A `systemctl status` block pasted into a ticket is evidence: read into UnitStates, and a unit
waiting to restart after a failed ExecStartPre is a restart loop with its cause.  Every block
here is real (tests/fixtures/captured/status/SOURCES.md); the lines written here only vary the
grammar of a real block (indentation lost, cut at a terminal's width)."""
import json
import os
import subprocess
import sys
import time

import pytest

from builders import ROOT, fixture
from unitaudit.model import FindingKind, Thresholds, UnitState
from unitaudit.services.scan import scan
from unitaudit.sources.textlog import TextLogSource
from unitaudit.sources.textlog.status import SEEN_IN, STATUS_STRINGS, StatusReader

STATUS = ("captured", "status")


def _states(path, use_grep=None):
    source = TextLogSource(str(path), use_grep=use_grep)
    list(source.events())
    return {u.name: u for u in source.unit_states()}, source


def _scan(*names):
    sources = [TextLogSource(str(fixture(*STATUS, n))) for n in names]
    return scan(sources, Thresholds(), now=time.time())


def _loops(result):
    return [f for f in result.findings if f.kind is FindingKind.RESTART_LOOP]


@pytest.mark.parametrize("use_grep", [True, False])
def test_the_seeds_block_is_read_whole(use_grep):
    states, source = _states(fixture(*STATUS, "seed-uos-241-anything-monitor-auto-restart.txt"), use_grep)
    u = states["deepin-anything-monitor.service"]
    assert (u.load_state, u.unit_file_state, u.fragment_path) == (
        "loaded", "enabled", "/lib/systemd/system/deepin-anything-monitor.service")
    assert (u.active_state, u.sub_state, u.result) == ("activating", "auto-restart", "exit-code")
    assert u.description == "Deepin anything service"
    assert u.seen_in == SEEN_IN and not u.trusted
    (pre,) = u.exec_start_pre
    assert (pre.path, pre.argv, pre.pid, pre.code, pre.status, pre.failed) == (
        "/usr/sbin/modprobe", ("/usr/sbin/modprobe", "vfs_monitor"), 19672, 1, 1, True)
    (post,) = u.exec_stop_post
    assert post.argv == ("/usr/sbin/rmmod", "vfs_monitor") and post.failed
    counts = dict(source.stats().counts)
    assert counts["status_blocks"] == 1 and counts["unparsed"] == 0


def test_auto_restart_after_a_failing_execstartpre_is_a_restart_loop_with_its_cause():
    (f,) = _loops(_scan("seed-uos-241-anything-monitor-auto-restart.txt"))
    assert f.unit == "deepin-anything-monitor.service"
    assert not f.trusted and SEEN_IN in f.summary
    cause = dict(f.cause.facts)
    assert f.cause.kind.value == "execstartpre-failed"
    assert (cause["command"], cause["command_source"], cause["code"], cause["status"]) == (
        "ExecStartPre", SEEN_IN, "exited", 1)
    assert cause["argv"] == ["/usr/sbin/modprobe", "vfs_monitor"]


def test_ascii_bullet_block_joins_the_same_files_restart_lines():
    """Pi-hole's paste: `*` for the bullet, status 226/NAMESPACE, and journal lines of host pi4
    under it: the paste's state joins pi4's evidence, one finding, with the ExecStartPre cause."""
    (f,) = _loops(_scan("pihole-ftl-241-ascii-bullet-auto-restart-execstartpre-226.txt"))
    assert (f.unit, f.host) == ("pihole-FTL.service", "pi4")
    cause = dict(f.cause.facts)
    assert (cause["command"], cause["status"]) == ("ExecStartPre", 226)


@pytest.mark.parametrize("name", [
    "dbus-252-active-running.txt",  # active (running)
    "k3s-239-auto-restart-execstartpre-succeeded.txt",  # auto-restart, but every ExecStartPre exited 0
    "k3s-247-auto-restart-pager-cut.txt",  # the same, lines cut with ">" by the pager
    "nginx-241-no-bullet-execstartpre-failed-once.txt",  # failed once, no restart
    "seed-uos-241-logrotate-failed.txt",  # failed, its ExecStart (not ExecStartPre) failing
    "ssh-257-ascii-x-bullet-failed.txt",
])
def test_a_block_that_is_not_restarting_after_a_failed_execstartpre_makes_no_loop(name):
    states, _source = _states(fixture(*STATUS, name))
    assert len(states) == 1
    assert _loops(_scan(name)) == []


def test_execstartpre_that_succeeded_is_no_cause():
    states, _source = _states(fixture(*STATUS, "k3s-239-auto-restart-execstartpre-succeeded.txt"))
    u = states["k3s.service"]
    assert (u.active_state, u.sub_state) == ("activating", "auto-restart")
    assert [(e.argv[-1], e.code, e.status, e.failed) for e in u.exec_start_pre] == [
        ("overlay", 1, 0, False), ("br_netfilter", 1, 0, False), ("nm-cloud-setup.service", 1, 0, False)]


def test_blocks_without_bullet_or_header_are_named_by_their_unit_file():
    states, _source = _states(fixture(*STATUS, "nginx-241-no-bullet-execstartpre-failed-once.txt"))
    u = states["nginx.service"]
    assert (u.active_state, u.sub_state, u.result) == ("failed", "failed", "exit-code")
    assert u.exec_start_pre[0].argv[:2] == ("/usr/sbin/nginx", "-t") and u.exec_start_pre[0].failed


def test_lines_cut_at_the_terminals_width_keep_what_they_still_say():
    """xo-server's paste, tab-indented and cut: `vendor preset`, `; 2`, `(code=exited, stat`."""
    states, _source = _states(fixture(*STATUS, "xo-server-229-tab-indented-cut.txt"))
    u = states["xo-server.service"]
    assert (u.load_state, u.unit_file_state, u.fragment_path) == (
        "loaded", "enabled", "/lib/systemd/system/xo-server.service")
    assert (u.active_state, u.result) == ("failed", "start-limit-hit")


def test_newer_blocks_with_cross_bullet_and_invocation_lines():
    states, _source = _states(fixture(*STATUS, "ssh-257-cross-bullet-execstartpre-limit.txt"))
    u = states["ssh.service"]
    assert (u.load_state, u.unit_file_state, u.active_state) == ("loaded", "enabled", "failed")
    assert u.exec_start_pre[0].argv == ("/usr/sbin/sshd", "-t") and u.exec_start_pre[0].failed


# The seed's own block, varied the ways pastes vary it (grammar edges of the real block above).
SEED_BLOCK = [
    "\u25cf deepin-anything-monitor.service - Deepin anything service",
    "   Loaded: loaded (/lib/systemd/system/deepin-anything-monitor.service; enabled; vendor preset: enabled)",
    "   Active: activating (auto-restart) (Result: exit-code) since Thu 2024-01-25 10:24:27 CST; 2s ago",
    "  Process: 19672 ExecStartPre=/usr/sbin/modprobe vfs_monitor (code=exited, status=1/FAILURE)",
]


def _read(lines):
    reader = StatusReader()
    taken = [reader.read(line.encode()) for line in lines]
    return {u.name: u for u in reader.unit_states()}, taken


@pytest.mark.parametrize("edit", [
    lambda s: s,
    lambda s: s.lstrip(),  # indentation lost
    lambda s: "> " + s,  # quoted in a mail
    lambda s: s + "\r",  # CRLF
    lambda s: s.replace("\u25cf ", "\u21bb ").replace("(Result: exit-code)", "(Result: exit-code) (frozen)"),
])
def test_the_block_reads_the_same_however_pasted(edit):
    states, taken = _read([edit(line) for line in SEED_BLOCK])
    assert all(taken)
    u = states["deepin-anything-monitor.service"]
    assert (u.sub_state, u.result) == ("auto-restart", "exit-code")
    assert u.exec_start_pre[0].failed


def test_a_status_cut_before_the_exit_status_is_not_taken_as_failed():
    lines = SEED_BLOCK[:3] + ["  Process: 19672 ExecStartPre=/usr/sbin/modprobe vfs_monitor (code=exited, st"]
    states, _taken = _read(lines)
    pre = states["deepin-anything-monitor.service"].exec_start_pre[0]
    assert not pre.failed and pre.argv == ("/usr/sbin/modprobe", "vfs_monitor")


def test_killed_commands_and_two_blocks_in_one_paste():
    lines = SEED_BLOCK[:3] + [
        "  Process: 7 ExecStartPre=/bin/true (code=killed, signal=KILL)",
        "\u25cf logrotate.service - Rotate log files",
        "   Loaded: loaded (/lib/systemd/system/logrotate.service; static; vendor preset: enabled)",
        "   Active: failed (Result: exit-code) since Thu 2024-01-25 09:00:05 CST; 53min ago",
    ]
    states, _taken = _read(lines)
    pre = states["deepin-anything-monitor.service"].exec_start_pre[0]
    assert (pre.code, pre.status, pre.failed) == (2, 9, True)
    assert states["logrotate.service"].exec_start_pre == ()
    assert states["logrotate.service"].active_state == "failed"


def test_ordinary_log_lines_are_not_status_lines():
    reader = StatusReader()
    for line in (b"Jan 25 10:24:27 host systemd[1]: Starting foo.service - Foo...",
                 b"TriggeredBy: \xe2\x97\x8f dbus.socket", b"Process: cut", b"* Connection #0 to host left intact"):
        assert not reader.read(line)
    assert reader.unit_states() == ()


def test_ordinary_syslog_lines_carry_none_of_the_status_strings():
    """What picks a status line is not what a syslog line says (the 1M-line bench: 0 of each)."""
    ordinary = fixture("seed", "logrotate-hourly.txt").read_bytes() + fixture("seed", "avahi-activation.txt").read_bytes()
    assert not any(s.encode() in ordinary for s in STATUS_STRINGS)


def test_live_state_wins_over_a_paste_of_the_same_unit():
    live = {"deepin-anything-monitor.service": UnitState(
        name="deepin-anything-monitor.service", load_state="loaded", active_state="active", sub_state="running")}
    source = TextLogSource(str(fixture(*STATUS, "seed-uos-241-anything-monitor-auto-restart.txt")))
    result = scan([source], Thresholds(), now=time.time(), units=live)
    assert _loops(result) == []


def test_the_seed_writeup_read_as_a_paste_reports_its_three_loops_with_their_causes():
    """The issue's "done when": the write-up's evidence section, read as `scan --syslog` reads it."""
    out = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--json", "--syslog",
                          str(fixture("seed", "write-up-evidence.txt"))],
                         stdout=subprocess.PIPE, cwd=str(ROOT), env=dict(os.environ, TZ="Asia/Shanghai"))
    doc = json.loads(out.stdout.decode())
    found = {f["kind"]: f for f in doc["findings"]}
    assert sorted(found) == ["activation-loop", "repeated-failure", "restart-loop"]
    loop = found["restart-loop"]
    assert loop["unit"] == "deepin-anything-monitor.service"
    assert loop["trusted"] is False
    assert loop["cause"]["kind"] == "execstartpre-failed"
    assert loop["cause"]["argv"] == ["/usr/sbin/modprobe", "vfs_monitor"]
    activation = found["activation-loop"]
    assert activation["unit"] == "dbus-org.freedesktop.Avahi.service"
    assert activation["cause"]["kind"] == "missing-unit"
    assert activation["period_seconds"] == 5.0  # four failures 5 s apart: a period, below the burst
    rotate = found["repeated-failure"]
    assert rotate["unit"] == "logrotate.service"
    assert rotate["cause"]["kind"] == "logrotate-config"
    # "1月 25 09:00:05" has no year: the dated lines before it say 2024, whenever the file was saved
    assert rotate["last_seen"] == "2024-01-25T01:00:05Z"
    assert doc["sources"][0]["status_blocks"] == 2
