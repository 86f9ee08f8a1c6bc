"""Every text form a pasted log comes in, read line by line from real excerpts
(tests/fixtures/captured/forms, SOURCES.md there; the journalctl forms from the lab
recordings in tests/fixtures/captured/lab-forms).  TZ=UTC in tests (conftest)."""
import calendar
import importlib.util
import json
import os
from pathlib import Path

import pytest

from builders import fixture, text_events
from unitaudit.model import Kind
from unitaudit.sources.textlog.lines import LineParser
from unitaudit.sources.textlog.months import FileMonths, choices_of

ROOT = Path(__file__).resolve().parent.parent
FORMS = ROOT / "tests" / "fixtures" / "captured" / "forms"
LAB = ROOT / "tests" / "fixtures" / "captured" / "lab-forms" / "debian12-252"
LOCALES = "/usr/share/i18n/locales"
_spec = importlib.util.spec_from_file_location("make_month_table", str(ROOT / "tools" / "make_month_table.py"))
make_month_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_month_table)  # type: ignore[union-attr]
END_2020 = calendar.timegm((2020, 12, 31, 12, 0, 0))  # the files' mtime: year-less lines fall in 2020


def utc(*fields):
    return calendar.timegm(fields + (0,) * (6 - len(fields)))


def lines_of(name):
    return [raw.rstrip(b"\n") for raw in (FORMS / name).read_bytes().splitlines(True)]


def read(parser, line):
    """(time, (ident, pid, message, host)) of one line, as the text source reads it."""
    t, pos = parser.timestamp(line)
    rest = line[pos:] if t is not None else line.lstrip()
    return t, parser.split_body(rest, t is not None)


def line_with(name, needle):
    return next(line for line in lines_of(name) if needle.encode() in line)


# -- the month table ------------------------------------------------------------

@pytest.mark.skipif(not os.path.isdir(LOCALES), reason="glibc locale sources not installed (Debian: locales)")
def test_month_table_is_what_the_generator_makes_from_glibc():
    shipped = (ROOT / "unitaudit" / "data" / "months.tsv").read_text(encoding="utf-8")
    assert make_month_table.render(make_month_table.month_rows(LOCALES)) == shipped


@pytest.mark.parametrize("token,month", [
    ("déc.", 12), ("9월", 9), (" 9월", 9), ("4月", 4), (" 4月", 4), ("11月", 11), ("мая", 5), ("cze", 6),
    ("bře", 3), ("Dez", 12), ("гру", 12), ("dez", 12), ("janv.", 1), ("juil.", 7), ("juil", 7), ("mai", 5), ("يوليو", 7),
])
def test_month_names_of_the_excerpts_locales_are_known(token, month):
    assert month in [m for m, _ in choices_of(token.encode())]


def test_unknown_words_are_no_month():
    assert choices_of(b"systemd") is None
    assert choices_of(b"01") is None  # glibc's i18n template: digits would read other numbers as dates


def test_ambiguous_month_follows_the_files_other_months():
    months = FileMonths()
    assert months.month(b"lis") == (11, False)  # pl_PL, cs_CZ November; hr_HR October: not settled
    assert months.month("sij".encode()) == (1, True)  # only hr_HR writes "sij" (January)
    assert months.month(b"lis") == (10, True)  # this file is Croatian
    polish = FileMonths()
    polish.month(b"cze")  # pl_PL June
    assert polish.month(b"lis") == (11, True)


def test_a_paste_from_another_locale_starts_the_locales_anew():
    parser = LineParser(END_2020)
    french = read(parser, line_with("fr-dec-ebusd-start-limit.txt", "Start request repeated"))
    german = read(parser, line_with("de-dez-nfs-server.txt", "Started NFS server"))
    assert (french[0], german[0]) == (utc(2020, 12, 11, 8, 29, 21), utc(2020, 12, 1, 8, 4, 48))
    assert parser.file_months.resets == 1 and "de_DE" in parser.file_months.locales


def test_an_unsettled_month_is_not_cached_a_settled_one_is():
    parser = LineParser(END_2020)
    line = line_with("pl-jun-modules-load.txt", "cze 24 12:31:58 arch-pc systemd-modules-load")
    assert read(parser, line)[0] == utc(2020, 6, 24, 12, 31, 58)
    assert line[:12] in parser.minutes  # "cze" is Polish only: the source's fast path reads it next time
    undecided = LineParser(END_2020)
    undecided.timestamp(b"lis 24 12:31:58 " + line[16:])  # the same line in November, "lis" not yet settled
    assert b"lis 24 12:31" not in undecided.minutes


# -- localized months, read from real pastes ----------------------------------------

@pytest.mark.parametrize("name,needle,when,host,ident,pid", [
    ("fr-dec-ebusd-start-limit.txt", "Start request repeated", (2020, 12, 11, 8, 29, 21), "lingerie", b"systemd", 1),
    ("ko-sep-syslog-ng.txt", "Unit syslog-ng.service entered", (2020, 9, 15, 11, 23, 40), "localhost.localdomain",
     b"systemd", 1),
    ("ja-apr-nixos-shutdown.txt", "upower.service: Succeeded.", (2020, 4, 26, 19, 39, 33), "tejo", b"systemd", 1),
    ("pt-dez-jan-indented-portal.txt", "Scheduled restart job", (2020, 1, 18, 1, 43, 13), "el-micrito", b"systemd", 1053),
    ("ru-may-dbus-session.txt", "Activated service", (2020, 5, 3, 20, 10, 44), "pc", b"dbus-daemon", 5708),
    ("pl-jun-modules-load.txt", "Failed to insert 'vboxsf'", (2020, 6, 24, 12, 31, 58), "arch-pc",
     b"systemd-modules-load", 168),
    ("cs-mar-gpdfand.txt", "Main process exited", (2020, 3, 8, 18, 32, 57), "gpdpocket", b"systemd", 1),
    ("de-dez-nfs-server.txt", "Started NFS server", (2020, 12, 1, 8, 4, 48), "workstation", b"systemd", 1),
    ("uk-dec-restart-scheduled.txt", "hold-off time over", (2020, 12, 27, 2, 29, 16), "lsk-VirtualBox", b"systemd", 1),
])
def test_localized_month_lines(name, needle, when, host, ident, pid):
    t, fields = read(LineParser(END_2020), line_with(name, needle))
    assert t == utc(*when)
    assert fields[0] == ident and fields[1] == pid and fields[3] == host
    assert needle.encode() in fields[2]


def test_localized_lines_are_evidence():
    parser = LineParser(END_2020)
    kinds = [e.message.kind for e in map(parser.parse, lines_of("fr-dec-ebusd-start-limit.txt")) if e]
    assert Kind.START_LIMIT_HIT in kinds and Kind.UNIT_FAILED in kinds
    uk = [e for e in map(parser.parse, lines_of("uk-dec-restart-scheduled.txt")) if e]
    assert uk and all(e.time == utc(2020, 12, 27, 2, 29, 16) for e in uk)


# -- prefixes and fields around host and ident ----------------------------------------

def test_dmesg_T_stamp_with_year_and_no_host():
    t, fields = read(LineParser(END_2020), lines_of("dmesg-T-journald-no-holdoff.txt")[0])
    assert t == utc(2016, 10, 22, 6, 2, 4)
    assert fields == (b"systemd", 1, b"systemd-journald.service has no holdoff time, scheduling restart.", "")


def test_sonic_severity_after_host():
    parser = LineParser(END_2020)
    line = line_with("sonic-severity-database-startpre.txt", "restart counter is at 1.")
    t, fields = read(parser, line)
    assert t == pytest.approx(utc(2020, 1, 27, 20, 17, 40) + 0.884950)
    assert fields[:2] == (b"systemd", 1) and fields[3] == "ixre-egl-board25"
    event = parser.parse(line)
    assert event.message.kind is Kind.RESTART_SCHEDULED and event.pid == 1
    warning = read(parser, line_with("sonic-severity-database-startpre.txt", "Failed with result"))[1]
    assert warning[:2] == (b"systemd", 1)
    root = read(parser, line_with("sonic-severity-database-startpre.txt", "NOTICE root:"))[1]
    assert root[0] == b"root" and root[1] is None


def test_no_host_is_seen_per_line():
    parser = LineParser(END_2020)
    nohost = read(parser, lines_of("nohost-ananicy-start-limit-wrapped.txt")[0])
    assert nohost[0] == utc(2020, 6, 30, 13, 25, 13)
    assert nohost[1] == (b"systemd", 1, b"ananicy.service: Start request repeated too", "")
    # the same parser, next line from a file with hosts: the host comes back
    hosted = read(parser, line_with("fr-dec-ebusd-start-limit.txt", "Start request repeated"))
    assert hosted[1][3] == "lingerie"


CORPUS = ROOT / "tests" / "fixtures" / "captured" / "corpus"  # cited in its own SOURCES.md


def corpus_line(name, needle):
    return next(raw for raw in (CORPUS / name).read_bytes().splitlines() if needle.encode() in raw)


def test_a_host_name_with_spaces_before_ident_and_pid():
    line = corpus_line("extra-005-tailscaled-deck-hostname-with-spaces-limit.txt", "Start request repeated")
    t, fields = read(LineParser(END_2020), line)
    assert t == utc(2020, 12, 13, 2, 42, 15)
    assert fields[:2] == (b"systemd", 1) and fields[3] == "(nsfw system name)"


def test_a_log_aggregators_prefix_before_the_syslog_stamp():
    parser = LineParser(END_2020)
    line = corpus_line("restart-022-coreos-motdgen-aggregator-prefix.txt", "start request repeated")
    t, fields = read(parser, line)
    assert t == utc(2020, 9, 15, 23, 32, 0)
    assert fields[:2] == (b"systemd", 1) and fields[3] == "etcd-test-1.c.etcd-development.internal"
    # a date quoted inside a bare message is not the line's
    assert parser.timestamp(b"pasted: " + line)[0] is None


def test_kernel_time_is_undated_with_or_without_host():
    parser = LineParser(END_2020)
    bare = read(parser, line_with("kernel-time-nohost-dbus-hostname1.txt", "Failed to activate service"))
    assert bare[0] is None and bare[1][:2] == (b"dbus-daemon", 647) and bare[1][3] == ""
    hosted = read(parser, line_with("short-monotonic-logind.txt", "Failed with result"))
    assert hosted[0] is None
    assert hosted[1] == (b"systemd", 1, b"systemd-logind.service: Failed with result 'exit-code'.", "lnx")
    event = parser.parse(line_with("short-monotonic-logind.txt", "Failed with result"))
    assert event.time is None and event.message.kind is Kind.UNIT_FAILED


def test_busybox_logread_ctime_and_facility_without_host():
    t, fields = read(LineParser(END_2020), lines_of("openwrt-logread-facility-nohost.txt")[0])
    assert t == utc(2016, 2, 3, 8, 59, 13)
    assert fields == (b"openwisp", None, b"Failed to connect to controller (checksum): curl exit code 7", "")


def test_rfc5424_as_rsyslog_writes_it():
    t, fields = read(LineParser(END_2020), lines_of("rsyslog-doc-rfc5424-started.txt")[0])
    assert t == pytest.approx(utc(2018, 8, 1, 17, 16, 8) + 0.529324)
    assert fields == (b"systemd", 1, b"Started System Logging Service.", "hilldale")


# -- the journalctl output forms, recorded in the lab (same entries in every form) ---------

LAB_FORMS = ("journalctl-short.txt", "journalctl-short-precise.txt", "journalctl-short-iso.txt",
             "journalctl-short-iso-precise.txt", "journalctl-short-full.txt", "journalctl-with-unit.txt",
             "journalctl-short-unix.txt", "journalctl-json.txt", "journalctl-short-monotonic.txt",
             "rsyslog-rfc5424.log", "rsyslog-rfc3339.log", "rsyslog-traditional.log")


def lab_events(name):
    parser = LineParser(utc(2026, 12, 31))
    return [e for e in (parser.parse(raw.rstrip(b"\n")) for raw in (LAB / name).read_bytes().splitlines(True)) if e]


@pytest.mark.parametrize("name", LAB_FORMS)
def test_every_journalctl_form_reads_the_evidence(name):
    reference = [e.time for e in lab_events("journalctl-short-precise.txt")]
    events = lab_events(name)
    kinds = {e.message.kind for e in events}
    assert {Kind.RESTART_SCHEDULED, Kind.UNIT_FAILED, Kind.ACTIVATION_FAILED, Kind.LOGROTATE_ERROR} <= kinds
    assert {e.pid for e in events if e.message.kind is Kind.RESTART_SCHEDULED} == {1}
    if name == "journalctl-short-monotonic.txt":
        assert all(e.time is None for e in events)  # time since boot is no wall clock
        return
    # the forms were recorded one after another from the same machine, minutes apart
    assert all(min(reference) - 600 <= e.time <= max(reference) + 600 for e in events)


@pytest.mark.parametrize("name", ("journalctl-verbose.txt", "journalctl-export.txt"))
def test_entry_forms_take_the_time_of_their_entry(name):
    events = lab_events(name)
    assert any(e.message.kind is Kind.RESTART_SCHEDULED for e in events)
    assert all(e.time is not None for e in events)
    # as the text scan sees them (only lines with a hit string): the MESSAGE= line alone, undated
    parser = LineParser(utc(2026, 12, 31))
    alone = [parser.parse(raw) for raw in (LAB / name).read_bytes().splitlines() if b"restart counter" in raw]
    assert alone and all(e is not None and e.time is None and e.pid is None for e in alone)


def test_cat_reads_messages_by_their_shape():
    kinds = {e.message.kind for e in lab_events("journalctl-cat.txt")}
    assert {Kind.RESTART_SCHEDULED, Kind.ACTIVATION_FAILED, Kind.LOGROTATE_ERROR} <= kinds


def test_json_gives_host_pid_and_exact_time():
    parser = LineParser(utc(2026, 12, 31))
    line = next(raw for raw in (LAB / "journalctl-json.txt").read_bytes().splitlines() if b"restart counter" in raw)
    entry = json.loads(line)
    t, fields = read(parser, line)
    assert t == int(entry["__REALTIME_TIMESTAMP"]) / 1e6
    assert fields == (b"systemd", 1, entry["MESSAGE"].encode(), entry["_HOSTNAME"])


def test_a_mail_quote_without_its_space_and_before_any_timestamp():
    """"> " before a traditional stamp is in the corpus (extra-034); a quote with no space, and one
    before an RFC 3339 stamp, read the same (grammar edges written for this test)."""
    parser = LineParser(0)
    for line in (b">Jun  2 10:57:03 xfce systemd[1]: ssh.service holdoff time over, scheduling restart.",
                 b"> 2025-05-14T00:01:21 merlin systemd[1]: ssh.service holdoff time over, scheduling restart.",
                 b">> Jun  2 10:57:03 xfce systemd[1]: ssh.service holdoff time over, scheduling restart."):
        ev = parser.parse(line)
        assert ev is not None, line
        assert ev.time is not None, line
        assert (ev.message.kind.value, ev.message.unit) == ("restart-timer-expired", "ssh.service")


def test_a_log_copied_through_a_web_page_reads_as_logged():
    """HTML line tags and entities, and a blog engine's curly quotes around 'exit-code'."""
    evs = text_events(fixture("captured", "forms", "netology-html-curly-quotes.txt"))
    got = [(e.message.kind.value, e.message.unit, e.message.fact("UNIT_RESULT")) for e in evs]
    assert got == [("main-process-exited", "node_exporter.service", None),
                   ("unit-failed", "node_exporter.service", "exit-code")]
