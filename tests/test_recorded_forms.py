"""The seed's loops recorded in the lab in every text form, on systemd 247, 252 and 257
(tests/fixtures/captured/lab-forms/<version>/SOURCES.md says how each file was made:
`python -m examples.record_forms`).  What `unitaudit scan --syslog FILE` must read from each file:

- every `journalctl -o FORM` over the whole window, and rsyslog's three file formats of it: the
  restart loop of deepin-anything-monitor.service with its failing ExecStartPre, vfs-watch.service
  restarted until its start limit stopped it, the bus asking for the missing Avahi alias, and
  logrotate failing on every run on its configuration;
- `-o verbose` and `-o export` (two restart cycles of the looping unit only): the restart loop,
  proved by its restart counter (over 20), with its cause;
- `systemctl status` pasted as it is printed on a terminal, with and without --no-pager and -l, and
  piped: each unit's loop or failure, and, where the terminal cut the lines, that they were not read.
"""
import calendar
import functools
import re
import time
from typing import List

import pytest

from builders import fixture
from unitaudit.model import Thresholds
from unitaudit.services.scan import scan
from unitaudit.sources.textlog import TextLogSource

LAB_FORMS = fixture("captured", "lab-forms")
VERSIONS = ("debian11-247", "debian12-252", "debian13-257")

LOOPING = "deepin-anything-monitor.service"
START_LIMIT = "vfs-watch.service"
ALIAS = "dbus-org.freedesktop.Avahi.service"
LOGROTATE = "logrotate.service"

# `journalctl -o FORM` of every loop's units over the whole window (each version lists them all in
# `journalctl -o help`), and the same events as rsyslog wrote them
WINDOW_FORMS = ("short", "short-iso", "short-iso-precise", "short-precise", "short-monotonic", "short-unix",
                "short-full", "with-unit", "cat", "json")
WINDOW_FILES = tuple("journalctl-%s.txt" % f for f in WINDOW_FORMS) + \
    ("rsyslog-traditional.log", "rsyslog-rfc3339.log", "rsyslog-rfc5424.log")
# two restart cycles of the looping unit only
BULKY_FILES = ("journalctl-verbose.txt", "journalctl-export.txt")
# forms whose every line carries an absolute time (with its year)
ABSOLUTE_TIME = ("journalctl-short-iso.txt", "journalctl-short-iso-precise.txt", "journalctl-short-unix.txt",
                 "journalctl-short-full.txt", "journalctl-with-unit.txt", "journalctl-json.txt",
                 "journalctl-verbose.txt", "journalctl-export.txt", "rsyslog-rfc3339.log", "rsyslog-rfc5424.log")

TTY_VARIANTS = ("tty80", "no-pager-tty80")  # 80 columns: long log lines are cut with "…"
WHOLE_VARIANTS = ("no-pager-l-tty80", "piped")  # -l, or no terminal: every line whole
STATUS_VARIANTS = TTY_VARIANTS + WHOLE_VARIANTS
STATUS_OF = ("restart-loop", "start-limit", "dbus", "avahi-alias", "avahi-daemon", "logrotate")


def cases(names):
    return [(v, n) for v in VERSIONS for n in names]


@functools.lru_cache(maxsize=None)
def scanned(version: str, name: str):
    path = LAB_FORMS / version / name
    assert path.exists(), "missing recording %s (python -m examples.record_forms)" % path
    return scan([TextLogSource(str(path))], Thresholds(), now=time.time())


def found(version: str, name: str, kind: str, unit: str):
    result = scanned(version, name)
    hits = [f for f in result.findings if f.kind.value == kind and f.unit == unit]
    seen = ["%s %s" % (f.kind.value, f.unit) for f in result.findings]
    assert hits, "%s/%s: no %s of %s; found %s; stats %s" % (version, name, kind, unit, seen,
                                                          dict(result.sources[0].counts))
    return hits[0]


def cause_of(finding) -> str:
    return finding.cause.kind.value if finding.cause else ""


def loops(version: str, name: str) -> List[str]:
    return ["%s %s" % (f.kind.value, f.unit) for f in scanned(version, name).findings
            if f.kind.value != "failure"]


def window(version: str):
    """(start, end) of the recording window, as its SOURCES.md says."""
    text = (LAB_FORMS / version / "SOURCES.md").read_text()
    m = re.search(r"window (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC to (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", text)
    assert m, "no window in %s/SOURCES.md" % version
    return tuple(calendar.timegm(time.strptime(t, "%Y-%m-%d %H:%M:%S")) for t in m.groups())


# -- what was recorded ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_every_form_was_recorded_on_every_version(version):
    names = {p.name for p in (LAB_FORMS / version).iterdir()}
    wanted = set(WINDOW_FILES + BULKY_FILES) | {"status-%s-%s.txt" % (what, variant) for variant in STATUS_VARIANTS
                                                for what in STATUS_OF}
    assert sorted(wanted - names) == []
    for name in wanted:
        assert name in (LAB_FORMS / version / "SOURCES.md").read_text(), name


# -- journalctl and rsyslog forms over the whole window ---------------------------------------------

@pytest.mark.parametrize("version, name", cases(WINDOW_FILES + BULKY_FILES))
def test_restart_loop_with_its_failing_execstartpre(version, name):
    f = found(version, name, "restart-loop", LOOPING)
    assert cause_of(f) == "execstartpre-failed"
    assert not dict(f.facts).get("stopped_by_start_limit")


@pytest.mark.parametrize("version, name", cases(WINDOW_FILES))
def test_start_limit_after_auto_restarts_is_a_restart_loop_systemd_stopped(version, name):
    f = found(version, name, "restart-loop", START_LIMIT)
    assert dict(f.facts).get("stopped_by_start_limit") is True
    assert cause_of(f) == "execstartpre-failed"


@pytest.mark.parametrize("version, name", cases(WINDOW_FILES))
def test_activation_loop_of_the_missing_avahi_alias(version, name):
    f = found(version, name, "activation-loop", ALIAS)
    assert cause_of(f) == "missing-unit"
    assert f.count >= 5


@pytest.mark.parametrize("version, name", cases(WINDOW_FILES))
def test_logrotate_failing_on_every_run_on_its_configuration(version, name):
    f = found(version, name, "repeated-failure", LOGROTATE)
    assert cause_of(f) == "logrotate-config"


@pytest.mark.parametrize("version, name", cases(WINDOW_FILES + BULKY_FILES))
def test_every_evidence_line_is_read(version, name):
    stats = dict(scanned(version, name).sources[0].counts)
    assert stats["unparsed"] == 0, scanned(version, name).sources[0].unparsed_lines


@pytest.mark.parametrize("version, name", cases(ABSOLUTE_TIME))
def test_absolute_times_are_read(version, name):
    start, end = window(version)
    f = found(version, name, "restart-loop", LOOPING)
    assert f.first_seen is not None and f.last_seen is not None
    assert start - 1 <= f.first_seen <= f.last_seen <= end + 2


@pytest.mark.parametrize("version, name", cases(("journalctl-verbose.txt", "journalctl-export.txt")))
def test_bulky_forms_prove_the_loop_by_its_restart_counter(version, name):
    f = found(version, name, "restart-loop", LOOPING)
    assert (dict(f.facts).get("restart_counter") or 0) >= 20


# -- systemctl status, pasted --------------------------------------------------------------------

@pytest.mark.parametrize("version, name", cases(["status-restart-loop-%s.txt" % v for v in STATUS_VARIANTS]))
def test_status_of_a_unit_in_auto_restart_with_a_failing_execstartpre_is_a_restart_loop(version, name):
    f = found(version, name, "restart-loop", LOOPING)
    assert cause_of(f) == "execstartpre-failed"


def unread(version: str, name: str) -> int:
    """Lines that looked like evidence but were not read, when the report also shows some of them."""
    source = scanned(version, name).sources[0]
    count = dict(source.counts)["unparsed"]
    assert not count or source.unparsed_lines, "%d lines not read, none shown" % count
    return count


@pytest.mark.parametrize("version, name", cases(["status-start-limit-%s.txt" % v for v in WHOLE_VARIANTS]))
def test_status_of_a_unit_stopped_by_its_start_limit(version, name):
    f = found(version, name, "restart-loop", START_LIMIT)
    assert dict(f.facts).get("stopped_by_start_limit") is True
    assert cause_of(f) == "execstartpre-failed"


@pytest.mark.parametrize("version, name", cases(["status-start-limit-%s.txt" % v for v in TTY_VARIANTS]))
def test_status_of_a_unit_stopped_by_its_start_limit_cut_by_the_terminal(version, name):
    """"Scheduled restart job, r…at 5.", "Start request repeated t…ckly.": the heads the terminal
    left still name the wordings, so the paste shows the restart loop systemd stopped, with the
    failing ExecStartPre its header shows, and no line is left unread."""
    result = scanned(version, name)
    hits = [f for f in result.findings if f.unit == START_LIMIT]
    assert [(f.kind.value, cause_of(f)) for f in hits] == [("restart-loop", "execstartpre-failed")]
    assert dict(hits[0].facts)["stopped_by_start_limit"] is True
    assert unread(version, name) == 0


@pytest.mark.parametrize("version, name", cases(["status-dbus-%s.txt" % v for v in WHOLE_VARIANTS]))
def test_status_of_dbus_shows_the_activation_loop(version, name):
    f = found(version, name, "activation-loop", ALIAS)
    assert cause_of(f) == "missing-unit"


@pytest.mark.parametrize("version, name", cases(["status-dbus-%s.txt" % v for v in TTY_VARIANTS]))
def test_status_lines_cut_by_the_terminal_are_shown_as_not_read(version, name):
    """The terminal cut the unit's name out of every activation line: no loop can be named, but the
    report says evidence was skipped instead of a silent "No loops"."""
    assert loops(version, name) == []
    assert unread(version, name) >= 5


@pytest.mark.parametrize("version, name", cases(["status-logrotate-%s.txt" % v for v in WHOLE_VARIANTS]))
def test_status_of_a_failed_logrotate_run_names_its_configuration_error(version, name):
    assert cause_of(found(version, name, "failure", LOGROTATE)) == "logrotate-config"


@pytest.mark.parametrize("version, name", cases(["status-logrotate-%s.txt" % v for v in TTY_VARIANTS]))
def test_status_of_a_failed_logrotate_run_cut_by_the_terminal(version, name):
    """One failed run whose lines the terminal cut: no loop; "Main process exited, cod…ILURE"
    and logrotate's cut error are read by what the terminal left of them."""
    assert loops(version, name) == []
    assert unread(version, name) == 0


@pytest.mark.parametrize("version, name", cases(["status-%s-%s.txt" % (w, v) for w in ("avahi-alias", "avahi-daemon")
                                                 for v in STATUS_VARIANTS]))
def test_status_of_a_stopped_or_missing_unit_is_no_loop(version, name):
    assert loops(version, name) == []


@pytest.mark.parametrize("version, name", cases(["status-%s-%s.txt" % (w, v) for w in STATUS_OF
                                                 for v in WHOLE_VARIANTS]))
def test_every_line_of_a_whole_status_is_read(version, name):
    assert unread(version, name) == 0, scanned(version, name).sources[0].unparsed_lines


@pytest.mark.parametrize("version, name", cases(WINDOW_FILES + BULKY_FILES))
def test_only_the_loops_units_are_reported(version, name):
    """PID 1's lines are shown as `init.scope[1]` by -o with-unit, the client's errors as its own
    unit's: neither is a unit that loops."""
    units = {f.unit for f in scanned(version, name).findings}
    assert units <= {LOOPING, START_LIMIT, ALIAS, LOGROTATE}
