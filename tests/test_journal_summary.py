"""The per-run journal entry on real scans of the recorded seed loops (examples/seed-loops): its
fields, their names by journald's rules, a round trip through systemd's own journal writer and
reader, the catalog entry compiled by the real journalctl, and a real send() where journald runs."""
import calendar
import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from builders import JOURNAL_REMOTE, ROOT, example, write_journal
from unitaudit.model import Thresholds
from unitaudit.errors import UnitauditError
from unitaudit.report import journal_summary
from unitaudit.hourly.outputs import send_summary as send
from unitaudit.report.journal_summary import SUMMARY_MESSAGE_ID, fields
from unitaudit.model import RunSummary
from unitaudit.services.scan import scan
from unitaudit.sources.journal import JournalSource

NOW = 1795611694.0  # just after the recording's last entry
CATALOG = ROOT / "packaging" / "debian" / "unitaudit.catalog"
# journald's rule for fields a client may set (journal_field_valid): no leading "_" (trusted fields),
# no leading digit, at most 64 characters.
FIELD_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def journal(**kw) -> JournalSource:
    return JournalSource(directory=str(example("seed-loops", "journal")), **kw)


def a_run(result, **kw) -> RunSummary:
    entries = sum(dict(s.counts).get("entries", 0) for s in result.sources) if result is not None else None
    base = dict(started=NOW - 0.4, seconds=0.4, entries_read=entries, read_from="full", version="0.1.0")
    base.update(kw)
    return RunSummary(**base)


@pytest.fixture(scope="module")
def clean():
    # The recording up to 12:57:31, before the first of the loops' failures (12:57:32)
    until = float(calendar.timegm((2026, 11, 25, 12, 57, 31, 0, 0, 0)))
    result = scan([journal(until=until)], Thresholds(), now=until, until=until)
    assert result.findings == ()
    assert result.kernel is None
    return result


def assert_journald_names(out: dict) -> None:
    for k, v in out.items():
        assert FIELD_NAME.fullmatch(k), k
        assert isinstance(v, str), k


def test_the_seed_loops(seed):
    out = fields(seed, a_run(seed, read_from="cursor"))
    assert_journald_names(out)
    assert out["MESSAGE"] == (
        "unitaudit: 3 loops (restart-loop deepin-anything-monitor.service 688/h, "
        "activation-loop dbus-org.freedesktop.Avahi.service 719/h, repeated-failure logrotate.service 121/h); "
        "read 448 journal entries in 0.4 s")
    assert out["MESSAGE_ID"] == SUMMARY_MESSAGE_ID
    assert (out["PRIORITY"], out["SYSLOG_IDENTIFIER"]) == ("4", "unitaudit")
    assert (out["UNITAUDIT_LOOPS"], out["UNITAUDIT_RESTART_LOOPS"], out["UNITAUDIT_ACTIVATION_LOOPS"],
            out["UNITAUDIT_REPEATED_FAILURES"], out["UNITAUDIT_START_LIMIT_HITS"], out["UNITAUDIT_FAILURES"]) == (
        "3", "1", "1", "1", "0", "0")
    assert out["UNITAUDIT_UNITS"] == "deepin-anything-monitor.service dbus-org.freedesktop.Avahi.service logrotate.service"
    listed = json.loads(out["UNITAUDIT_FINDINGS"])
    assert " " not in out["UNITAUDIT_FINDINGS"]  # compact
    assert [(d["kind"], d["unit"], d["count"]) for d in listed] == [
        ("restart-loop", "deepin-anything-monitor.service", 45),
        ("activation-loop", "dbus-org.freedesktop.Avahi.service", 48),
        ("repeated-failure", "logrotate.service", 9)]
    by_id = {f.id: f for f in seed.findings}
    for d in listed:
        f = by_id[d["id"]]
        assert (d["rate_per_hour"], d["cgroups_per_hour"], d["host"]) == (f.rate_per_hour, f.churn.cgroups_per_hour, "vm")
    assert float(out["UNITAUDIT_CHURN_CGROUPS_PER_HOUR"]) == pytest.approx(
        sum(f.churn.cgroups_per_hour for f in seed.findings), abs=0.01)
    assert (out["UNITAUDIT_ENTRIES_READ"], out["UNITAUDIT_DURATION_USEC"], out["UNITAUDIT_READ_FROM"],
            out["UNITAUDIT_VERSION"]) == ("448", "400000", "cursor", "0.1.0")
    # the kernel figures of tests/fixtures/kernel/hybrid: SUnreclaim 29860 kB, kernfs_node_cache 17370 objects
    assert (out["UNITAUDIT_SUNRECLAIM_KB"], out["UNITAUDIT_KERNFS_OBJECTS"]) == ("29860", "17370")
    assert "UNITAUDIT_ERROR" not in out


def test_a_clean_scan(clean):
    out = fields(clean, a_run(clean, seconds=0.06))
    assert_journald_names(out)
    assert out["MESSAGE"] == "unitaudit: no loops; read 1 journal entry in 0.1 s"
    assert out["PRIORITY"] == "6"
    assert out["UNITAUDIT_LOOPS"] == "0"
    assert out["UNITAUDIT_RESTART_LOOPS"] == "0"
    assert (out["UNITAUDIT_UNITS"], out["UNITAUDIT_FINDINGS"], out["UNITAUDIT_CHURN_CGROUPS_PER_HOUR"]) == ("", "[]", "0")
    for absent in ("UNITAUDIT_ERROR", "UNITAUDIT_SUNRECLAIM_KB", "UNITAUDIT_KERNFS_OBJECTS"):
        assert absent not in out


def test_a_failed_scan():
    out = fields(None, a_run(None, error="cannot read /var/log/journal:\nPermission denied", seconds=0.01))
    assert_journald_names(out)
    assert out["PRIORITY"] == "3"
    assert out["MESSAGE"] == "unitaudit: scan failed: cannot read /var/log/journal: Permission denied; ran 0.0 s"
    assert out["UNITAUDIT_ERROR"] == "cannot read /var/log/journal:\nPermission denied"
    # counts it did not make are absent, not 0: summed over a fleet they would read as "no loops"
    assert not [k for k in out if k.endswith(("LOOPS", "FAILURES", "HITS", "UNITS", "FINDINGS", "PER_HOUR"))]
    assert "UNITAUDIT_ENTRIES_READ" not in out
    assert (out["UNITAUDIT_DURATION_USEC"], out["UNITAUDIT_VERSION"]) == ("10000", "0.1.0")


def test_many_findings_keep_message_short(seed):
    from dataclasses import replace

    many = tuple(replace(seed.findings[0], unit="unit%d.service" % i, id="id%d" % i) for i in range(8))
    out = fields(replace(seed, findings=many), a_run(seed))
    assert out["MESSAGE"].startswith("unitaudit: 8 loops (restart-loop unit0.service 688/h, ")
    assert "unit4.service 688/h, and 3 more); read 448" in out["MESSAGE"]
    assert len(out["UNITAUDIT_UNITS"].split()) == 8
    assert len(json.loads(out["UNITAUDIT_FINDINGS"])) == 8


@pytest.mark.skipif(not os.path.exists(JOURNAL_REMOTE), reason="systemd-journal-remote is missing")
def test_the_fields_survive_systemds_journal_writer_and_reader(seed, tmp_path):
    """systemd-journal-remote refuses invalid field names; journalctl reads the entry back by MESSAGE_ID."""
    out = fields(seed, a_run(seed))
    entry = dict(out, _BOOT_ID="d49fd7e6d98f46f3ba52e7e5f0d57226", _HOSTNAME="vm",
                 __REALTIME_TIMESTAMP=str(int(NOW * 1e6)), __MONOTONIC_TIMESTAMP="1")
    path = write_journal([entry], tmp_path / "summary.journal")
    got = subprocess.run(["journalctl", "--file", path, "-o", "json", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID,
                          "UNITAUDIT_LOOPS=3"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(got) == 1
    back = json.loads(got[0])
    assert {k: back.get(k) for k in out} == out


# -- send() ------------------------------------------------------------------------------------
def test_send_maps_os_errors_to_one_line(monkeypatch):
    pytest.importorskip("systemd.journal")
    from systemd import journal

    def refused(**kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(journal, "send", refused)
    with pytest.raises(UnitauditError) as e:
        send({"MESSAGE": "x", "MESSAGE_ID": SUMMARY_MESSAGE_ID})
    assert str(e.value) == "cannot log the run summary to the journal: Permission denied"


JOURNAL_SOCKET = "/run/systemd/journal/socket"


@pytest.mark.skipif(not os.path.exists(JOURNAL_SOCKET) or shutil.which("journalctl") is None,
                    reason="no running journald here (%s missing): nothing could read the entry back;"
                           " sd_journal_send() drops entries silently when the socket is missing" % JOURNAL_SOCKET)
def test_send_reaches_journald(seed):
    token = uuid.uuid4().hex
    out = dict(fields(seed, a_run(seed)), UNITAUDIT_TEST_TOKEN=token)
    send(out)
    argv = ["journalctl", "-o", "json", "--no-pager", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID, "UNITAUDIT_TEST_TOKEN=" + token]
    got = []
    for _ in range(50):  # journald writes asynchronously
        got = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
        if got:
            break
        time.sleep(0.1)
    if not got:
        pytest.skip("sent, but this user cannot read it back from the journal (not in systemd-journal?)")
    back = json.loads(got[0])
    assert {k: back.get(k) for k in out} == out


# -- the catalog -------------------------------------------------------------------------------
def catalog_entries(text: str) -> dict:
    """The catalog format as systemd's catalog.c reads it: comments (#) and blank lines before the
    first `-- ID` header; each entry: header lines `Key: value`, one blank line, the body."""
    entries, current, in_body = {}, None, False
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            continue  # catalog.c drops comment lines anywhere, so a body line must not start with #
        if line.startswith("--"):
            m = re.fullmatch(r"-- ([0-9a-f]{32})", line)
            assert m, "line %d: bad entry header %r" % (n, line)
            assert m.group(1) not in entries, "line %d: %s twice" % (n, m.group(1))
            current, in_body = m.group(1), False
            entries[current] = {"headers": {}, "body": []}
        elif current is None:
            assert not line.strip(), "line %d: text before the first entry" % n
        elif not in_body and not line:
            assert entries[current]["headers"], "line %d: an entry without headers" % n
            in_body = True
        elif not in_body:
            m = re.fullmatch(r"([A-Z][A-Za-z-]*): (\S.*)", line)
            assert m, "line %d: bad header line %r" % (n, line)
            entries[current]["headers"][m.group(1)] = m.group(2)
        else:
            entries[current]["body"].append(line)
    return entries


def test_the_catalog_entry(seed):
    entries = catalog_entries(CATALOG.read_text())
    assert list(entries) == [SUMMARY_MESSAGE_ID]
    entry = entries[SUMMARY_MESSAGE_ID]
    assert set(entry["headers"]) >= {"Subject", "Defined-By", "Support"}
    body = "\n".join(entry["body"])
    for command in ("unitaudit scan", "unitaudit fix --dry-run", "unitaudit history"):
        assert command in body
    # Every @FIELD@ is one a successful run sets, short enough for journalctl -x to substitute
    # (values longer than REPLACE_VAR_MAX, 256 bytes with the name, show as the name).
    used = set(re.findall(r"@([A-Z0-9_]+)@", CATALOG.read_text()))
    assert used >= {"UNITAUDIT_LOOPS", "UNITAUDIT_UNITS"}
    out = fields(seed, a_run(seed))
    for name in used:
        assert name in out, name
        assert len(name) + 1 + len(out[name].encode()) <= 256, name


@pytest.mark.skipif(shutil.which("journalctl") is None, reason="journalctl is missing")
def test_journalctl_compiles_the_catalog(tmp_path):
    """`journalctl --root` builds the catalog database under a directory of ours, not the host's."""
    d = tmp_path / "usr" / "lib" / "systemd" / "catalog"
    d.mkdir(parents=True)
    shutil.copy(str(CATALOG), str(d / "unitaudit.catalog"))
    run = subprocess.run(["journalctl", "--root", str(tmp_path), "--update-catalog"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert not run.stderr, run.stderr
    assert (tmp_path / "var" / "lib" / "systemd" / "catalog" / "database").is_file()
    listed = subprocess.run(["journalctl", "--root", str(tmp_path), "--no-pager", "--dump-catalog", SUMMARY_MESSAGE_ID],
                            capture_output=True, text=True, check=True).stdout
    assert listed.splitlines()[0] == "-- " + SUMMARY_MESSAGE_ID
    subject = catalog_entries(CATALOG.read_text())[SUMMARY_MESSAGE_ID]["headers"]["Subject"]
    assert "Subject: " + subject in listed
    assert "@UNITAUDIT_LOOPS@" in listed
    # and a broken file is refused, so the check above means something
    (d / "broken.catalog").write_text("-- not-an-id\nSubject: x\n\nbody\n")
    run = subprocess.run(["journalctl", "--root", str(tmp_path), "--update-catalog"], capture_output=True, text=True)
    assert run.returncode != 0


def test_message_id_is_ours():
    assert re.fullmatch(r"[0-9a-f]{32}", SUMMARY_MESSAGE_ID)
    assert journal_summary.SUMMARY_MESSAGE_ID in journal_summary.__doc__
