"""What each wording means, on lines from real machines (fixtures/*/SOURCES.md)."""
from builders import fixture, text_events
from unitaudit.sources.wordings import classify_bus, classify_logrotate, classify_pid1
from unitaudit.util.names import is_unit_name
from unitaudit.model import Kind


def kinds(name):
    return [(e.message.kind, e.message.unit) for e in text_events(fixture("captured", name))]


def test_237_control_process_without_comma():
    (ev,) = [e for e in text_events(fixture("captured", "ubuntu1804-237-zh-miredo-execstartpre.txt"))
             if e.message.kind is Kind.CONTROL_EXITED]
    assert ev.message.unit == "miredo.service"
    assert ev.message.fact("EXIT_STATUS") == "255"
    assert ev.message.fact("EXIT_CODE") == "exited"


def test_240_control_process_with_status_name():
    m = classify_pid1("deepin-anything-monitor.service: Control process exited, code=exited, status=1/FAILURE", True)
    assert (m.kind, m.fact("EXIT_STATUS"), m.fact("EXIT_STATUS_NAME")) == (Kind.CONTROL_EXITED, "1", "FAILURE")


def test_restart_timer_lines_are_not_restarts():
    got = kinds("rhel8-239-auditd-control-restartsec.txt")
    assert (Kind.RESTART_TIMER_EXPIRED, "auditd.service") in got
    assert got.count((Kind.RESTART_SCHEDULED, "auditd.service")) == 1
    got = kinds("ubuntu1804-237-openvpn-restart-loop.txt")
    assert got.count((Kind.RESTART_SCHEDULED, "openvpn@client.service")) == 2
    assert got.count((Kind.RESTART_TIMER_EXPIRED, "openvpn@client.service")) == 2


def test_257_restart_on_client_request_and_combined_format():
    evs = text_events(fixture("captured", "debian13-257-client-request-combined-format.txt"))
    counters = [e.message.fact("N_RESTARTS") for e in evs if e.message.kind is Kind.RESTART_SCHEDULED]
    assert "15" in counters
    assert "13" in counters


def test_spawn_failure_logged_by_the_forked_child_counts():
    evs = text_events(fixture("captured", "ubuntu1804-237-noip2-failed-at-step-exec.txt"))
    spawn = [e for e in evs if e.message.kind is Kind.SPAWN_FAILED]
    assert spawn
    assert spawn[0].pid != 1
    assert spawn[0].message.fact("EXECUTABLE") == "/etc/init.d/noip2.sh"


def test_user_manager_lines_are_not_system_units():
    assert kinds("debian13-257-client-request-combined-format.txt")  # sanity
    m = classify_pid1("foo.service: Failed with result 'exit-code'.", False)
    assert m is not None  # the classifier reads it; the text source drops it unless the pid is 1
    from builders import parse_lines

    assert parse_lines(["Jan  1 00:00:00 h systemd[1234]: foo.service: Failed with result 'exit-code'."]) == []


def test_dbus_daemon_requester_with_spaces_in_comm():
    evs = text_events(fixture("captured", "kali-dbus-1.12-avahi-requested-by-not-found.txt"))
    asked = [e.message for e in evs if e.message.kind is Kind.ACTIVATION_REQUESTED][0]
    assert asked.fact("bus_name") == "org.freedesktop.Avahi"
    assert asked.fact("requester_comm") == "/usr/libexec/colord-sane "
    assert asked.fact("requester_uid") == "132"
    failed = [e.message for e in evs if e.message.kind is Kind.ACTIVATION_FAILED][0]
    assert (failed.unit, failed.fact("reason")) == ("dbus-org.freedesktop.Avahi.service", "not-found")


def test_dbus_110_identifier_and_other_reasons():
    (ev,) = [e for e in text_events(fixture("captured", "ubuntugnome1704-dbus-1.10-activation-refused.txt"))
             if e.message.kind is Kind.ACTIVATION_FAILED]
    assert ev.message.program == "dbus"
    assert ev.message.fact("reason") == "other"


def test_dbus_broker_missing_unit():
    (ev,) = text_events(fixture("captured", "arch-dbus-broker-home1-not-found.txt"))
    m = ev.message
    assert (m.kind, m.unit, m.fact("daemon"), m.fact("bus_name")) == (
        Kind.ACTIVATION_FAILED, "dbus-org.freedesktop.home1.service", "dbus-broker", "org.freedesktop.home1")


def test_bus_lines_naming_no_valid_unit_are_ignored():
    text = "[system] Activation via systemd failed for unit '../../etc/passwd': Unit not found."
    assert classify_bus(text, "dbus-daemon", False) is None
    assert not is_unit_name("a b.service")
    assert not is_unit_name("x.service;rm")
    assert is_unit_name("getty@tty1.service")


def test_logrotate_wordings():
    evs = text_events(fixture("captured", "logrotate-norns-bullseye-duplicate-entry.txt"))
    dup = [e.message for e in evs if e.message.fact("class") == "duplicate-log-entry"]
    assert dup
    assert dup[0].fact("file") == "/etc/logrotate.conf"
    assert dup[0].fact("config_path") == "/etc/logrotate.conf"
    evs = text_events(fixture("captured", "logrotate-raspbian-buster-log2zram-journal.txt"))
    classes = {e.message.fact("class") for e in evs}
    assert {"line-not-keyword-or-file", "unexpected-text-after-brace"} <= classes
    # the French-locale file's month is not read, so classify its message text directly
    line = next(l for l in fixture("captured", "logrotate-fr-mai-writable-by-group.txt").read_text().splitlines()
                if "Ignoring pgadmin" in l)
    m = classify_logrotate(line.split(": ", 1)[1], None, False)
    assert (m.fact("class"), m.fact("config_path")) == ("ignored-config-file", "/etc/logrotate.d/pgadmin")
    line = fixture("captured", "logrotate-ubuntu1604-cron-mail-unexpected-brace.txt").read_text().splitlines()
    m = classify_logrotate(next(l for l in line if "unexpected }" in l).strip(), None, False)
    assert m.fact("class") == "unexpected-close-brace"
    assert m.fact("line") == "8"
    m = classify_logrotate(next(l for l in line if "found error" in l).strip(), None, False)
    assert (m.fact("class"), m.fact("file")) == ("found-error", "wokd.in")
