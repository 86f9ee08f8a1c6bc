"""The wording table (unitaudit/sources/messages.py): every row reads what upstream prints, and
every row that a real excerpt shows is read from it (fixtures/captured/wordings/SOURCES.md)."""
import re

import pytest

from builders import fixture
from unitaudit.model import Kind
from unitaudit.sources.messages import CRON, ERROR, LED, LOGROTATE, PREFIXED, SYSTEMD, WORDINGS
from unitaudit.sources.textlog.filters import HIT_STRINGS, LINE_STARTS, SHORT_FOR, is_noise
from unitaudit.sources.wordings import classify_cron, classify_logrotate, classify_pid1, which_wording

# The real excerpt that shows each row (in fixtures/captured/ or its wordings/ folder), or why none.
REAL = {
    "restart-holdoff-219": "wordings/busrot-053-coreos-control-process-old-start-limit-wording.txt",
    "restart-no-holdoff-219": "wordings/restart-008-journald-noholdoff-dmesgT.txt",
    "restart-holdoff": "wordings/openbmc-1774-232-start-operation-timed-out-holdoff.txt",
    "restart-no-holdoff": None,  # 220-238 with RestartSec=0: none found with a source URL
    "restart-no-holdoff-restartsec0": "nixos-getty-no-holdoff-restartsec0-loop.txt",
    "restart-restartsec-expired": "rhel8-239-auditd-control-restartsec.txt",
    "restart-interval-expired": None,  # 254+: logged at debug level, none found
    "restart-scheduled-debug": None,  # 220-234 at debug level, none found
    "restart-counter": "ubuntu1804-237-openvpn-restart-loop.txt",
    "restart-counter-client-request": "debian13-257-client-request-combined-format.txt",
    "entered-failed-219": "wordings/busrot-053-coreos-control-process-old-start-limit-wording.txt",
    "failed-219": "wordings/busrot-053-coreos-control-process-old-start-limit-wording.txt",
    "entered-failed": "xenial-229-haproxy-execstartpre-start-limit.txt",
    "failed-with-result": "xenial-229-haproxy-execstartpre-start-limit.txt",
    "main-exited-219": "wordings/extra-001-ollama-centos7-holdoff-127.txt",
    "main-exited": "ubuntu1804-237-openvpn-restart-loop.txt",
    "control-exited-219": "wordings/busrot-053-coreos-control-process-old-start-limit-wording.txt",
    "control-exited-219-led": None,  # a 219 socket's control command: none found
    "control-exited-no-comma": "ubuntu1804-237-zh-miredo-execstartpre.txt",
    "control-exited": "wordings/proxmox-1919-252-start-pre-operation-timed-out.txt",
    "mount-exited-219": None,
    "mount-exited": "wordings/systemd-6776-234-mount-process-exited-no-comma.txt",
    "spawn-failed-219": "centos7-219-messages-kube-apiserver-exec-holdoff.txt",
    "spawn-failed": "ubuntu1804-237-noip2-failed-at-step-exec.txt",
    "timeout-219": "wordings/nginx-unit-120-219-start-operation-timed-out-de.txt",
    "timeout-capitalized": "wordings/openbmc-1774-232-start-operation-timed-out-holdoff.txt",
    "timeout-state": "wordings/proxmox-1919-252-start-pre-operation-timed-out.txt",
    "start-limit-219": "wordings/busrot-053-coreos-control-process-old-start-limit-wording.txt",
    "start-limit": "xenial-229-haproxy-execstartpre-start-limit.txt",
    "succeeded": "wordings/logcheck-extrarules-12-245-succeeded.txt",
    "deactivated": "debian13-257-client-request-combined-format.txt",
    "unexpected-text-after-brace": "logrotate-raspbian-buster-log2zram-journal.txt",
    "line-not-keyword-or-file": "wordings/busrot-027-cronmail-keyword-or-filename-unexpected-brace.txt",
    "missing-open-brace": "wordings/busrot-029-cronmail-missing-brace.txt",
    "open-brace-expected": None,
    "unexpected-close-brace-no-open": None,
    "unexpected-close-brace": "wordings/busrot-027-cronmail-keyword-or-filename-unexpected-brace.txt",
    "unknown-option": "wordings/logrotate-icinga2-1583-manual-unknown-option.txt",
    "duplicate-log-entry": "logrotate-norns-bullseye-duplicate-entry.txt",
    "unknown-user": "wordings/logrotate-vesta-659-cronmail-unknown-user-found-error-in-logs.txt",
    "unknown-group": "wordings/logrotate-openpanel-158-unknown-group.txt",
    "bad-value": "wordings/busrot-034-debug-bad-rotation-count-tab.txt",
    "invalid-mode": None,
    "olddir-invalid": "wordings/busrot-017-status-logrotate-olddir-found-error-bare.txt",
    "olddir-not-directory": None,
    "olddir-other-device": None,
    "log-path-invalid": None,
    "unexpected-log-filename": "wordings/busrot-028-cronmail-unexpected-log-filename.txt",
    "at-line-other": "wordings/logrotate-icinga2-2507-cronmail-unexpected-text.txt",
    "missing-endscript-3.8.0": None,
    "missing-endscript": "wordings/busrot-026-anacron-mail-without-endscript.txt",
    "found-error-file": "wordings/busrot-017-status-logrotate-olddir-found-error-bare.txt",
    "found-error-in-logs": "wordings/logrotate-vesta-659-cronmail-unknown-user-found-error-in-logs.txt",
    "ignoring-bad-mode": "wordings/logrotate-websafety-1505-ignoring-bad-file-mode.txt",
    "ignoring-writable": "wordings/busrot-016-status-logrotate-fr-ignoring-writable.txt",
    "ignoring-no-owner-entry": None,
    "ignoring-wrong-owner": "wordings/logrotate-462-ignoring-wrong-owner.txt",
    "insecure-parent-directory": "logrotate-fr-mai-writable-by-group.txt",
    "stat-failed": "wordings/busrot-019-status-logrotate-x-invocation-stat-denied.txt",
    "error-setting-owner": "wordings/logrotate-netdata-453-cronmail-error-setting-owner-run-parts.txt",
    "error-creating-output": None,
    "error-renaming": "wordings/busrot-018-journal-logrotate-error-renaming-rofs.txt",
    "cron-alert": "wordings/busrot-015-cron-logrotate-alert-3-days-nohost.txt",
    "cron-run-parts": "wordings/busrot-031-cronmail-duplicate-entry-run-parts.txt",
}
_FILL = ("x", "exit-code", "foo.service", "/etc/cron.daily/logrotate")


def _printed(row, value):
    """The row's upstream template as the program prints it, every %s as `value`."""
    text = row.template.replace("%m", "No such file or directory").replace("$EXITVALUE", "1")
    text = re.sub(r"%[diu]", "8", text)
    if row.form == LED:
        text = text.replace("%s", "foo.service", 1)  # the unit before the text
    text = text.replace("%s", value)
    if row.form == PREFIXED:
        return "foo.service: " + text
    return "error: " + text if row.form == ERROR else text


@pytest.mark.parametrize("row", WORDINGS, ids=lambda r: r.id)
def test_every_row_reads_what_upstream_prints(row):
    """The template, filled in, is read as this row and no other (rows are tried in order)."""
    assert any(which_wording(_printed(row, value)) is row for value in _FILL), row.template


def _lines_of(row, path):
    """(line, message) of the excerpt's lines that are this row, read from any ": " on."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        starts = [0, len(line) - len(line.lstrip())] + [m.end() for m in re.finditer(": ", line)]
        for start in starts:
            text = line[start:].rstrip()
            if which_wording(text) is row:
                out.append((line, _classify(row, text)))
                break
    return out


def _classify(row, text):
    if row.form == ERROR:
        return classify_logrotate(text, None, False)
    if row.form == CRON:
        return classify_cron(text, "logrotate", False)
    return classify_pid1(text, False)


def test_every_row_has_a_real_excerpt_or_says_why_not():
    assert set(REAL) == {row.id for row in WORDINGS}
    shown = [r for r in REAL.values() if r]
    assert len(shown) >= 45


@pytest.mark.parametrize("row", [r for r in WORDINGS if REAL.get(r.id)], ids=lambda r: r.id)
def test_each_wording_on_real_text(row):
    """Read from the real line as the row's kind, and let through by grep."""
    found = _lines_of(row, fixture("captured", *REAL[row.id].split("/")))
    assert found, "%s not in %s" % (row.id, REAL[row.id])
    for line, message in found:
        assert message is not None and message.kind in (row.kind, Kind.START_LIMIT_HIT)
        if row.kind is Kind.UNIT_FAILED_ECHO:
            continue  # an echo is not read on purpose: the line beside it tells the failure
        # logrotate's lines mailed by cron carry no hit string: they start with "error: "
        assert any(s in line for s in HIT_STRINGS) or line.startswith(LINE_STARTS), line
        assert not is_noise(line.encode()), line


def test_the_table_covers_the_versions_the_issue_names():
    systemd = [r for r in SYSTEMD]
    assert min(int(r.first) for r in systemd) == 219 and max(int(r.last) for r in systemd) == 257
    versions = [tuple(int(x) for x in r.first.split(".")) for r in LOGROTATE]
    assert min(versions) == (3, 8, 0)
    assert max(tuple(int(x) for x in r.last.split(".")) for r in LOGROTATE) == (3, 22, 0)
    for r in systemd:
        assert int(r.first) <= int(r.last), r.id
    for v in range(219, 258):  # every version has its restart, failure and start-limit wordings
        kinds = {r.kind for r in systemd if int(r.first) <= v <= int(r.last)}
        assert {Kind.RESTART_TIMER_EXPIRED, Kind.UNIT_FAILED, Kind.START_LIMIT_HIT} <= kinds, v


def test_short_hit_strings_stand_for_their_words():
    for short, meant in SHORT_FOR:
        assert short in meant and short.decode() in HIT_STRINGS
