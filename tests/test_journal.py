"""The journal source through the real reader (systemd-python) on real entries."""
import pytest

from builders import by_kind, findings, fixture, json_pretty_entries, unbatch, write_journal
from unitaudit.errors import ExitStatus, SourceError
from unitaudit.analysis.evidence import fold
from unitaudit.model import Kind
from unitaudit.sources.journal import JournalSource

RHCOS = fixture("captured", "rhcos-239-journal-json-pretty-bootkube-loop.txt")


@pytest.fixture(scope="module")
def journal_239(tmp_path_factory):
    entries = json_pretty_entries(RHCOS.read_text())
    return write_journal(entries, tmp_path_factory.mktemp("j239") / "rhcos.journal")


def test_239_text_fallback_reads_pid1_lines_without_message_id(journal_239):
    src = JournalSource(files=[journal_239])
    evs = unbatch(src.events())
    kinds = [(e.message.kind, e.message.unit) for e in evs]
    assert (Kind.RESTART_SCHEDULED, "bootkube.service") in kinds  # MESSAGE_ID since 235
    assert (Kind.UNIT_FAILED, "bootkube.service") in kinds  # text: no ID before 240
    assert (Kind.MAIN_EXITED, "bootkube.service") in kinds
    assert dict(src.stats().counts)["text_fallback"] >= 2
    assert all(e.message.trusted for e in evs if e.pid == 1)
    (f,) = by_kind(findings(fold(evs)), "restart-loop")
    assert f.trusted
    assert dict(f.facts)["restart_counter"] == 277


def test_pid1_lookalikes_from_other_processes_are_not_evidence(tmp_path):
    entries = json_pretty_entries(RHCOS.read_text())
    restart = next(e for e in entries if e.get("MESSAGE_ID") == "5eb03494b6584870a536b337290809b3")
    forged = [dict(restart, _PID="4242", _UID="1000", _COMM="systemd-cat", __REALTIME_TIMESTAMP=str(1604690200000000 + i))
              for i in range(30)]  # what `systemd-cat` / sd_journal_send can write: every field but the trusted ones
    path = write_journal(forged + [restart], tmp_path / "forged.journal")
    evs = unbatch(JournalSource(files=[path]).events())
    assert [(e.message.kind, e.message.trusted, e.pid) for e in evs] == [(Kind.RESTART_SCHEDULED, True, 1)]


def test_since_until_bound_the_entries(journal_239):
    all_events = unbatch(JournalSource(files=[journal_239]).events())
    t0 = min(e.time for e in all_events)
    later = unbatch(JournalSource(files=[journal_239], since=t0 + 0.001).events())
    assert 0 < len(later) < len(all_events)
    assert unbatch(JournalSource(files=[journal_239], until=t0 - 1).events()) == []


def test_boot_selects_the_latest_boot(journal_239, tmp_path):
    entries = json_pretty_entries(RHCOS.read_text())
    older = [dict(e, _BOOT_ID="0" * 32, __REALTIME_TIMESTAMP=str(int(e["__REALTIME_TIMESTAMP"]) - 10**9))
             for e in entries]
    path = write_journal(older + entries, tmp_path / "two-boots.journal")
    every = unbatch(JournalSource(files=[path]).events())
    latest = unbatch(JournalSource(files=[path], boot=True).events())
    assert len(latest) * 2 == len(every)


def test_corrupt_journal_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.journal"
    bad.write_bytes(b"LPKSHHRH" + b"\xff" * 300)
    with pytest.raises(SourceError, match="cannot open"):
        list(JournalSource(files=[str(bad)]).events())


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nope.journal", "nope.journal: no such file$"),
    (lambda d: d, " is a directory: use --journal-dir$"),
    (lambda d: d / "text.log", " is not a journal file \\(for text logs use --syslog\\)$"),
])
def test_a_journal_file_that_cannot_be_read_is_named_with_what_to_do(tmp_path, make, message):
    (tmp_path / "text.log").write_bytes(b"Jan  4 17:30:14 h systemd[1]: a.service: Succeeded.\n")
    with pytest.raises(SourceError, match=message) as raised:
        JournalSource(files=[str(make(tmp_path))])
    assert str(raised.value).startswith(str(tmp_path))


def test_truncated_journal_file_is_one_clear_error(journal_239, tmp_path):
    data = open(journal_239, "rb").read()
    cut = tmp_path / "cut.journal"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="cannot open the journal"):
        list(JournalSource(files=[str(cut)]).events())


def test_directory_with_a_damaged_file_still_reads_the_good_one(journal_239, tmp_path):
    import shutil

    d = tmp_path / "var-log-journal" / "ec207e03c25f54405b7e8b2f0280b4e1"
    d.mkdir(parents=True)
    shutil.copy(journal_239, d / "system.journal")
    (d / "system@0001.journal").write_bytes(b"LPKSHHRH" + b"\xff" * 300)
    good = unbatch(JournalSource(files=[journal_239]).events())
    assert len(unbatch(JournalSource(directory=str(tmp_path / "var-log-journal")).events())) == len(good)


def test_a_dbus_daemon_outside_the_system_bus_unit_is_not_evidence(tmp_path):
    from builders import example
    from builders import export_entries

    entries = export_entries(example("seed-loops", "journal.export"))
    failed = [e for e in entries if b"Activation via systemd failed" in e.get("MESSAGE", b"")]
    assert len(failed) > 5
    assert all(e["_SYSTEMD_UNIT"] == b"dbus.service" for e in failed)
    user_copy = [dict(e, _SYSTEMD_UNIT=b"user@1000.service", _UID=b"1000") for e in failed]
    real = write_journal(failed, tmp_path / "real.journal")
    fake = write_journal(user_copy, tmp_path / "fake.journal")
    assert len(unbatch(JournalSource(files=[real]).events())) == len(failed)
    assert unbatch(JournalSource(files=[fake]).events()) == []


def test_without_systemd_python_a_text_scan_works_and_a_journal_scan_says_why(tmp_path):
    """systemd-python is compiled: a Python without it (the package tree run by a hand-built
    Python, another distribution) still reads text logs; a journal read is one clear error."""
    import subprocess
    import sys

    from builders import ROOT

    block = "import sys\nsys.modules['systemd'] = None  # `from systemd import journal` fails\n"
    (tmp_path / "sitecustomize.py").write_text(block)
    env = dict(__import__("os").environ, PYTHONPATH="%s:%s" % (tmp_path, ROOT))

    def scan(*args):
        return subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--json", *args], capture_output=True,
                              text=True, cwd=str(ROOT), env=env)

    text = scan("--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert text.returncode == ExitStatus.FINDINGS, text.stderr
    assert '"repeated-failure"' in text.stdout
    journal = scan("--journal-dir", str(ROOT / "examples" / "seed-loops" / "journal"))
    assert journal.returncode == ExitStatus.INCOMPLETE, journal.stderr
    assert "needs systemd-python, which is not installed" in journal.stderr
    assert "Traceback" not in journal.stderr
