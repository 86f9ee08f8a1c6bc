"""What each wording means, on lines from real machines (fixtures/*/SOURCES.md)."""
from builders import findings, fixture, text_events, text_evidence
from unitaudit.model import Kind
from unitaudit.sources.messages import CRON_LOGROTATE
from unitaudit.sources.textlog.filters import is_noise
from unitaudit.sources.wordings import classify_bus, classify_line, classify_logrotate, classify_pid1
from unitaudit.util.names import is_unit_name


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


def test_a_user_managers_restart_loop_is_read():
    """`systemd[2585]:` is a user manager: its units loop as a system unit's do."""
    got = [(e.message.kind, e.message.unit, e.pid) for e in
           text_events(fixture("captured", "corpus", "restart-007-pipewire-user-status.txt"))]
    assert (Kind.RESTART_SCHEDULED, "pipewire.service", 2585) in got
    assert (Kind.START_LIMIT_HIT, "pipewire.service", 2585) in got


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


# -- the wordings of systemd 219 to 257 and logrotate 3.8 to 3.22 (messages.py) ----------------

def test_219_failure_is_counted_once_and_its_start_limit_is_read():
    """219 says a failure twice ("Unit X entered failed state.", "X failed."): counted once."""
    evs = text_events(fixture("captured", "wordings", "busrot-053-coreos-control-process-old-start-limit-wording.txt"))
    got = [(e.message.kind, e.message.unit) for e in evs]
    unit = "r101-bablefish.1.web.1.service"
    assert got.count((Kind.UNIT_FAILED, unit)) == 2
    assert (Kind.CONTROL_EXITED, unit) in got and (Kind.RESTART_TIMER_EXPIRED, unit) in got
    assert (Kind.START_LIMIT_HIT, unit) in got
    m = classify_pid1(unit + " failed.", False)
    assert m.kind is Kind.UNIT_FAILED_ECHO


def test_220_to_234_entered_failed_state_is_the_result_lines_echo():
    evs = text_events(fixture("captured", "xenial-229-haproxy-execstartpre-start-limit.txt"))
    kinds = [e.message.kind for e in evs if e.message.unit == "haproxy.service"]
    assert kinds.count(Kind.UNIT_FAILED_ECHO) == 2
    assert kinds.count(Kind.UNIT_FAILED) + kinds.count(Kind.START_LIMIT_HIT) == 3


def test_start_timeouts_name_the_step_in_one_spelling():
    evs = text_events(fixture("captured", "wordings", "openbmc-1774-232-start-operation-timed-out-holdoff.txt"))
    states = {e.message.fact("STATE") for e in evs if e.message.kind is Kind.OPERATION_TIMED_OUT}
    assert states == {"start"}
    evs = text_events(fixture("captured", "wordings", "proxmox-1919-252-start-pre-operation-timed-out.txt"))
    (m,) = [e.message for e in evs if e.message.kind is Kind.OPERATION_TIMED_OUT]
    assert (m.unit, m.fact("STATE")) == ("ping-instances.service", "start-pre")


def test_219_lines_that_name_the_unit_inside_the_text():
    evs = text_events(fixture("captured", "centos7-219-messages-kube-apiserver-exec-holdoff.txt"))
    spawn = [e.message for e in evs if e.message.kind is Kind.SPAWN_FAILED]
    assert spawn and spawn[0].unit is None  # 219 names no unit in its spawn failure
    limit = [e.message for e in evs if e.message.kind is Kind.START_LIMIT_HIT]
    assert limit[0].unit == "kube-apiserver.service"
    main = [e.message for e in evs if e.message.kind is Kind.MAIN_EXITED]
    assert main[0].fact("EXIT_STATUS") == "203"


def test_found_error_in_a_block_names_its_log_paths_not_a_config_file():
    lines = fixture("captured", "wordings", "logrotate-vesta-659-cronmail-unknown-user-found-error-in-logs.txt"
                    ).read_text().splitlines()
    m = classify_logrotate(lines[2], None, False)
    assert (m.fact("class"), m.fact("path"), m.fact("file")) == (
        "found-error", "/var/log/nginx/*log /var/log/nginx/domains/*log", None)
    m = classify_logrotate(lines[1], None, False)
    assert (m.fact("class"), m.fact("user"), m.fact("config_path")) == ("unknown-user", "nginx", "/etc/logrotate.d/nginx")
    lines = fixture("captured", "wordings", "logrotate-bluecherry-349-unknown-user-skipping-on-next-line.txt"
                    ).read_text().splitlines()
    assert classify_logrotate(lines[2], None, False).fact("path") == "/var/log/bluecherry.log"


def test_logrotate_config_errors_by_class():
    def first(name, needle):
        line = next(x for x in fixture("captured", "wordings", name).read_text().splitlines() if needle in x)
        return classify_logrotate(line[line.index("error: "):], None, False)

    m = first("busrot-026-anacron-mail-without-endscript.txt", "endscript")
    assert (m.fact("class"), m.fact("config_path")) == ("missing-endscript", "/etc/logrotate.d/apf")
    m = first("logrotate-websafety-1505-ignoring-bad-file-mode.txt", "Ignoring")
    assert (m.fact("class"), m.fact("config_path")) == ("ignored-config-file", "/etc/logrotate.d/websafety")
    m = first("logrotate-icinga2-1583-manual-unknown-option.txt", "unknown option")
    assert (m.fact("class"), m.fact("option"), m.fact("line")) == ("unknown-option", "hourly", "19")
    m = first("logrotate-openpanel-158-unknown-group.txt", "unknown group")
    assert (m.fact("class"), m.fact("group")) == ("unknown-group", "syslog")
    m = first("busrot-029-cronmail-missing-brace.txt", "missing")
    assert m.fact("class") == "missing-open-brace"


def test_logrotate_run_by_cron_fails_as_the_cron_script_not_a_unit():
    evs = text_events(fixture("captured", "wordings", "busrot-015-cron-logrotate-alert-3-days-nohost.txt"))
    assert [(e.message.kind, e.message.unit, e.message.fact("EXIT_STATUS")) for e in evs] == [
        (Kind.UNIT_FAILED, CRON_LOGROTATE, "1")] * 3
    assert not is_unit_name(CRON_LOGROTATE)  # nothing may act on it as a systemd unit
    evs = text_events(fixture("captured", "wordings", "busrot-031-cronmail-duplicate-entry-run-parts.txt"))
    # logrotate's own errors, mailed with no prefix, then run-parts' line, as cron mails them
    assert [(e.message.kind, e.message.unit, e.message.program) for e in evs] == [
        (Kind.LOGROTATE_ERROR, "logrotate.service", "logrotate")] * 2 + [
        (Kind.UNIT_FAILED, CRON_LOGROTATE, "run-parts")]
    assert [e.message.fact("line") for e in evs[:2]] == ["22", "29"]
    assert classify_line(b"logrotate", b"ALERT exited abnormally with [1]").unit == CRON_LOGROTATE
    found = findings(text_evidence(fixture("captured", "wordings", "busrot-015-cron-logrotate-alert-3-days-nohost.txt")))
    assert [(f.kind.value, f.unit) for f in found] == [("repeated-failure", CRON_LOGROTATE)]


def test_a_short_hit_string_without_its_words_is_noise():
    assert is_noise(b"Jan  1 00:00:00 h curl[9]: Connection timed out. Retrying")
    assert is_noise(b"Jan  1 00:00:00 h app[9]: Ignoring SIGHUP")
    assert is_noise(b"Job for nginx.service failed because the control process exited with error code.")
    assert not is_noise(b"Jan  1 00:00:00 h systemd[1]: x.service: Start request repeated too quickly.")
    assert not is_noise(b"Jan  1 00:00:00 h systemd[1]: x.service: start-pre operation timed out. Terminat")


def test_session_bus_activation_requests_without_a_bus_tag_are_read():
    """dbus 1.10's session bus writes no "[system]"/"[session ...]" before its activation lines."""
    evs = text_events(fixture("captured", "corpus", "busrot-042-dbus110-activations-succeed-noprefix.txt"))
    asked = sorted(e.message.unit for e in evs if e.message.kind is Kind.ACTIVATION_REQUESTED)
    assert asked == ["flatpak-session-helper.service", "xdg-document-portal.service"]
