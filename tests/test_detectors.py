"""Each detector on captured text: once where it fires, once where it stays quiet.
The seed's own loops, recorded from a real systemd, are in test_examples.py."""
from dataclasses import replace

from builders import by_kind, findings, fixture, parse_lines, text_evidence
from unitaudit.model import Thresholds
from unitaudit.analysis.detectors.timing import has_burst, is_periodic, rate_per_hour
from unitaudit.analysis.evidence import fold
from unitaudit.model import ExecStatus, UnitState


def cap(name):
    return fixture("captured", name)


# -- restart-loop -------------------------------------------------------------

def test_restart_loop_fires_on_one_high_restart_counter():
    (f,) = by_kind(findings(text_evidence(cap("nixos-getty-no-holdoff-restartsec0-loop.txt"))), "restart-loop")
    assert f.unit == "getty@tty1.service"
    assert dict(f.facts)["restart_counter"] == 97


def test_restart_loop_counts_restarts_once_on_237():
    (f,) = by_kind(findings(text_evidence(cap("ubuntu1804-237-openvpn-restart-loop.txt"))), "restart-loop")
    assert f.unit == "openvpn@client.service"
    assert f.count == 2
    assert dict(f.facts)["restart_counter"] == 6998
    assert f.cause is None  # the main process fails: no ExecStartPre to blame
    assert not f.trusted


def test_restart_loop_quiet_on_a_single_restart():
    assert findings(text_evidence(cap("uos-zh-binfmt-restartsec-1s.txt"))) == []


def test_manual_restarts_are_not_a_loop():
    lines = []
    for i in range(6):  # what `systemctl restart foo` logs: no "Scheduled restart job"
        lines += ["Jan  4 10:%02d:00 h systemd[1]: Stopping Foo..." % i,
                  "Jan  4 10:%02d:00 h systemd[1]: foo.service: Deactivated successfully." % i,
                  "Jan  4 10:%02d:01 h systemd[1]: Started Foo." % i]
    assert findings(fold(parse_lines(lines))) == []


def test_restart_loop_fires_live_on_auto_restart_even_without_journal_lines():
    ev = text_evidence(cap("uos-zh-binfmt-restartsec-1s.txt"))
    live = {"systemd-binfmt.service": UnitState("systemd-binfmt.service", sub_state="auto-restart", n_restarts=40)}
    (f,) = by_kind(findings(ev, units=live), "restart-loop")
    assert f.unit == "systemd-binfmt.service"


# deepin-anything-monitor.service as the lab's systemd 252 reported it over D-Bus (GetAll, Service):
# ExecStartPre [path, argv, ignore, start usec, start mono, exit usec, exit mono, pid, code, status]
LAB_MODPROBE = ExecStatus(path="/usr/sbin/modprobe", argv=("/usr/sbin/modprobe", "vfs_monitor"), ignore_errors=False,
                          started=1795613623.029764, exited=1795613623.034049, pid=161, code=1, status=1)


def _looping(n, sub="auto-restart", active="activating"):
    return UnitState("deepin-anything-monitor.service", active_state=active, sub_state=sub, n_restarts=n,
                     result="exit-code", restart="always", exec_start_pre=(LAB_MODPROBE,))


def test_restart_loop_fires_from_live_state_alone_with_the_live_execstartpre_cause():
    (f,) = findings(fold([]), units={"deepin-anything-monitor.service": _looping(13)})
    assert (f.kind.value, f.unit, f.count, f.trusted) == ("restart-loop", "deepin-anything-monitor.service", 13, True)
    assert f.cause.kind.value == "execstartpre-failed"
    assert dict(f.cause.facts)["status"] == 1
    assert dict(f.cause.facts)["command_source"] == "live"
    assert "/usr/sbin/modprobe vfs_monitor" in f.cause.summary


def test_restart_loop_quiet_on_live_state_of_a_settled_or_young_unit():
    settled = _looping(13, sub="running", active="active")  # restarted 13 times once, running now
    # in auto-restart only twice so far, its ExecStartPre fine: the main process may yet come up
    young = replace(_looping(2), exec_start_pre=())
    assert findings(fold([]), units={"a.service": settled}) == []
    assert findings(fold([]), units={"a.service": young}) == []


def test_restart_loop_fires_on_a_unit_waiting_to_restart_into_a_failing_execstartpre():
    (f,) = findings(fold([]), units={"a.service": _looping(2)})
    assert f.cause.kind.value == "execstartpre-failed"
    pasted = replace(_looping(None), seen_in="systemctl status")
    (f,) = findings(fold([]), units={"a.service": pasted})
    assert f.trusted is False
    assert dict(f.cause.facts)["command_source"] == "systemctl status"
    assert "systemctl status" in f.summary


def corpus(name):
    return fixture("captured", "corpus", name)


def test_restart_loop_fires_on_three_restarts_within_the_start_limit_interval():
    # journald restarted three times in one second (dmesg -T), SBFspot three times in two seconds
    for name, unit in (("restart-008-journald-noholdoff-dmesgT.txt", "systemd-journald.service"),
                       ("extra-041-sbfspot-nl-sep-holdoff-every-second.txt", "SBFspotUpload.service")):
        (f,) = by_kind(findings(text_evidence(corpus(name))), "restart-loop")
        assert (f.unit, f.count) == (unit, 3)
        assert by_kind(findings(text_evidence(corpus(name)), Thresholds(restart_quick_burst=4)), "restart-loop") == []


def test_restart_loop_fires_on_a_restart_counter_of_three_or_more():
    # "restart counter is at 4", the failures 6 s apart: four automatic restarts in a row
    ev = text_evidence(corpus("restart-011-onfailure-counter4.txt"))
    (f,) = by_kind(findings(ev), "restart-loop")
    assert dict(f.facts)["restart_counter"] == 4
    assert by_kind(findings(ev, Thresholds(restart_counter=5)), "restart-loop") == []


def test_restart_loop_quiet_on_two_restarts_six_seconds_apart():
    ev = text_evidence(cap("ubuntu1804-237-openvpn-restart-loop.txt"))
    assert by_kind(findings(ev, Thresholds(restart_counter=10_000)), "restart-loop") == []


def test_restart_loop_reads_a_status_paste_cut_at_the_terminal_width():
    # "Service hold-off time over, sched", "restart co", "too quickl": a loop systemd stopped
    (f,) = findings(text_evidence(corpus("locale-005-zh-v2ray-truncated-start-limit.txt")))
    assert (f.kind.value, f.unit) == ("restart-loop", "v2ray.service")
    assert dict(f.facts)["stopped_by_start_limit"] is True


def test_restart_loop_reads_219_sentences_pasted_alone():
    (f,) = findings(text_evidence(corpus("restart-026-rsyslog-rhel7-bare-holdoff.txt")))
    assert (f.kind.value, f.unit) == ("restart-loop", "rsyslog.service")


def test_restart_burst_threshold_is_configurable():
    ev = text_evidence(cap("ubuntu1804-237-openvpn-restart-loop.txt"))
    assert by_kind(findings(ev, Thresholds(restart_counter=10_000, restart_burst=3)), "restart-loop") == []
    assert by_kind(findings(ev, Thresholds(restart_counter=10_000, restart_burst=2)), "restart-loop")


# -- activation-loop ------------------------------------------------------------

def test_activation_loop_fires_on_the_seeds_four_lines_5_s_apart_below_the_burst_count():
    ev = text_evidence(fixture("seed", "avahi-activation.txt"))
    (f,) = by_kind(findings(ev), "activation-loop")
    assert dict(f.facts)["periodic"] is True
    assert dict(f.facts)["burst"] is False
    assert by_kind(findings(ev, Thresholds(periodic_repeats=5)), "activation-loop") == []
    (f,) = by_kind(findings(ev, Thresholds(activation_burst=4)), "activation-loop")
    assert f.unit == "dbus-org.freedesktop.Avahi.service"
    assert f.count == 4
    assert f.rate_per_hour == 720.0
    assert f.period_seconds == 5.0
    assert f.cause.kind.value == "missing-unit"


def test_activation_loop_quiet_on_one_failure_and_on_refusals():
    assert findings(text_evidence(cap("kali-dbus-1.12-avahi-requested-by-not-found.txt"))) == []
    assert findings(text_evidence(cap("ubuntugnome1704-dbus-1.10-activation-refused.txt"))) == []


def test_dbus_broker_missing_unit_is_reported_not_counted():
    (f,) = findings(text_evidence(cap("arch-dbus-broker-home1-not-found.txt")))
    assert f.kind.value == "failure"
    assert f.rate_per_hour is None
    assert dict(f.facts)["countable"] is False
    assert f.cause.to_dict()["daemon"] == "dbus-broker"


def test_periodic_needs_one_interval_in_a_row():
    assert is_periodic([0, 5, 10, 15], 4)
    assert is_periodic([0, 3589, 7189, 10809, 14419], 4)  # the seed's hourly logrotate.timer, 20 s jitter
    assert not is_periodic([0, 5, 10], 4)
    assert not is_periodic([0, 5, 30, 35], 4)  # two pairs are not a period
    assert not is_periodic([0, 0, 0, 0], 4)  # one instant is a burst, not a period
    assert is_periodic([0, 50, 51, 100, 105, 110, 115], 4)  # the run that starts late counts


# -- repeated-failure -----------------------------------------------------------

def test_repeated_failure_fires_on_the_seeds_hourly_logrotate():
    (f,) = findings(text_evidence(fixture("seed", "logrotate-hourly.txt")))
    assert (f.kind.value, f.unit, f.count) == ("repeated-failure", "logrotate.service", 5)
    assert 3500 < f.period_seconds < 3700
    assert f.rate_per_hour == 1.0


def test_repeated_failure_quiet_when_a_run_succeeds_in_between():
    lines = fixture("seed", "logrotate-hourly.txt").read_text().splitlines()
    ok = "2024-01-01 03:30:00 0000000g-A8cUta6pu5 systemd[1]: logrotate.service: Succeeded."
    assert findings(fold(parse_lines(lines[:3] + [ok] + lines[3:]))) == []


# -- start-limit-hit --------------------------------------------------------------

def test_start_limit_hit_after_auto_restarts_is_the_restart_loop_systemd_stopped():
    found = findings(text_evidence(cap("xenial-229-haproxy-execstartpre-start-limit.txt")))
    assert by_kind(found, "start-limit-hit") == []
    (f,) = by_kind(found, "restart-loop")
    assert f.unit == "haproxy.service"
    assert dict(f.facts)["stopped_by_start_limit"] is True
    assert "start limit hit" in f.summary
    assert f.cause.to_dict()["command"] == "ExecStartPre"
    assert f.cause.to_dict()["command_source"] == "inferred"


def test_start_limit_hit_fires_once_per_event_without_auto_restarts():
    (f,) = findings(text_evidence(cap("balena-config-json-path-start-limit.txt")))
    assert (f.kind.value, f.unit) == ("start-limit-hit", "config-json.service")
    assert f.count == 1


def test_start_limit_quiet_without_it():
    assert by_kind(findings(text_evidence(cap("rhel8-239-auditd-control-restartsec.txt"))), "start-limit-hit") == []


# -- failure (no loop, known cause) ---------------------------------------------------

def test_failure_fires_on_a_logrotate_config_error():
    (f,) = findings(text_evidence(fixture("seed", "logrotate-status.txt")))
    assert (f.kind.value, f.unit) == ("failure", "logrotate.service")
    errors = f.cause.to_dict()["errors"]
    syntax = [e for e in errors if e["class"] == "unexpected-text-after-brace"]
    assert syntax == [{"file": "/etc/logrotate.d/clink-agent", "file_as_logged": "clink-agent", "line": 8,
                       "class": "unexpected-text-after-brace", "path": None,
                       "message": "error: clink-agent:8, unexpected text after }"}]
    assert len([e for e in errors if e["class"] == "insecure-parent-directory"]) == 6


def test_failure_quiet_on_one_failure_without_known_cause():
    lines = ["Jan  4 10:00:00 h systemd[1]: foo.service: Main process exited, code=exited, status=1/FAILURE",
             "Jan  4 10:00:00 h systemd[1]: foo.service: Failed with result 'exit-code'."]
    assert findings(fold(parse_lines(lines))) == []


# -- arithmetic ---------------------------------------------------------------------------

def max_in_window(times, window):
    """The obvious O(n^2) reference for has_burst."""
    return max((sum(1 for u in times if 0 <= u - t <= window) for t in times), default=0)


def test_window_and_rate():
    assert max_in_window([0, 1, 2, 10, 11, 12, 13], 3) == 4
    assert has_burst([0, 1, 2, 10, 11, 12, 13], 3, 4)
    assert not has_burst([0, 1, 2, 10, 11, 12, 13], 3, 5)
    assert rate_per_hour([0.0, 5.0, 10.0]) == 720.0
    assert rate_per_hour([1.0]) is None


def test_thresholds_parse_and_reject():
    import pytest
    from unitaudit.errors import UsageError

    assert Thresholds.parse(["restart-burst=3", "activation_window=60"]) == Thresholds(restart_burst=3, activation_window=60.0)
    for bad in (["nope=1"], ["restart_burst"], ["restart_burst=x"], ["restart_burst=0"]):
        with pytest.raises(UsageError):
            Thresholds.parse(bad)


def test_has_burst_agrees_with_max_in_window():
    import random

    rnd = random.Random(7)
    for _ in range(200):
        times = sorted(rnd.uniform(0, 100) for _ in range(rnd.randint(0, 30)))
        for count in (1, 2, 5):
            assert has_burst(times, 10.0, count) == (max_in_window(times, 10.0) >= count)


def test_machines_stay_apart_in_text_logs(tmp_path):
    """One machine's good run does not break another machine's streak of failures."""
    from unitaudit.services.scan import scan
    from unitaudit.sources.textlog import TextLogSource

    seed = fixture("seed", "logrotate-hourly.txt").read_text().splitlines()
    other = "2024-01-01 02:30:00 other-pc systemd[1]: logrotate.service: Succeeded."
    p = tmp_path / "two-machines.log"
    p.write_text("\n".join(seed[:3] + [other] + seed[3:]) + "\n")
    (f,) = scan([TextLogSource(str(p))], Thresholds(), now=0.0).findings
    assert (f.kind.value, f.host, f.count) == ("repeated-failure", "0000000g-A8cUta6pu5", 5)


def test_failure_counts_runs_from_error_lines_alone():
    """logrotate's own lines without systemd's: two runs an hour apart are two failures."""
    lines = fixture("seed", "logrotate-status.txt").read_text().splitlines()[:7]
    later = [l.replace("09:00:04", "10:00:03") for l in lines]
    (f,) = findings(fold(parse_lines(lines + later, reference=__import__("time").time())))
    assert (f.kind.value, f.count) == ("failure", 2)
