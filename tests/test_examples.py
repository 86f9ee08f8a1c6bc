"""The seed's three loops, recorded from a real systemd 252 (examples/seed-loops,
examples/record_lab.py), found from the journal and from the same journal as text."""
import pytest

from builders import example, findings, text_evidence
from unitaudit.analysis.evidence import fold
from unitaudit.sources.journal import JournalSource



def _count(needle: str) -> int:
    """Counted independently of unitaudit: substring occurrences in the recorded text."""
    return example("seed-loops", "journal.short.txt").read_text().count(needle)


RESTARTS = _count("deepin-anything-monitor.service: Scheduled restart job, restart counter is at")
ACTIVATION_FAILURES = _count("Activation via systemd failed for unit 'dbus-org.freedesktop.Avahi.service'")
LOGROTATE_FAILURES = _count("logrotate.service: Failed with result 'exit-code'.")


@pytest.fixture(scope="module")
def from_journal():
    src = JournalSource(directory=str(example("seed-loops", "journal")))
    return {f.kind.value: f for f in findings(fold(src.events()))}, src.stats()


@pytest.fixture(scope="module")
def from_text():
    return {f.kind.value: f for f in findings(text_evidence(example("seed-loops", "journal.short.txt")))}


def test_journal_finds_exactly_the_three_loops(from_journal):
    found, stats = from_journal
    assert sorted(found) == ["activation-loop", "repeated-failure", "restart-loop"]
    counts = dict(stats.counts)
    total = len(example("seed-loops", "journal.short.txt").read_text().splitlines())
    assert counts["entries"] < total * 0.8  # indexed matches: not every entry was read


def test_restart_loop_with_execstartpre_cause_from_the_journal(from_journal):
    f = from_journal[0]["restart-loop"]
    assert (f.unit, f.count, f.trusted) == ("deepin-anything-monitor.service", RESTARTS, True)
    assert dict(f.facts)["restart_counter"] == RESTARTS
    assert 4.5 <= f.period_seconds <= 6  # RestartSec=5
    cause = f.cause.to_dict()
    assert cause["kind"] == "execstartpre-failed"
    assert (cause["command"], cause["command_source"], cause["status"]) == ("ExecStartPre", "journal", 1)
    assert cause["program_line"].startswith("modprobe: FATAL: Module vfs_monitor not found in directory /lib/modules/")
    assert cause["also_failed"] == ["ExecStopPost"]


def test_activation_loop_names_the_missing_unit_and_the_caller(from_journal):
    f = from_journal[0]["activation-loop"]
    assert (f.unit, f.count, f.trusted) == ("dbus-org.freedesktop.Avahi.service", ACTIVATION_FAILURES, True)
    assert 700 <= f.rate_per_hour <= 740  # one call every 5 s
    cause = f.cause.to_dict()
    assert (cause["kind"], cause["bus_name"], cause["reason"], cause["daemon"]) == (
        "missing-unit", "org.freedesktop.Avahi", "not-found", "dbus-daemon")
    assert cause["requested_by"][0]["program"] == "deepin-system-monitor"
    assert cause["requested_by"][0]["uid"] == 1001


def test_logrotate_fails_every_run_with_its_config_errors(from_journal):
    f = from_journal[0]["repeated-failure"]
    assert (f.unit, f.count, f.trusted) == ("logrotate.service", LOGROTATE_FAILURES, True)
    assert 25 <= f.period_seconds <= 35  # the lab's timer fires every 30 s
    errors = f.cause.to_dict()["errors"]
    assert {(e["file"], e["line"], e["class"]) for e in errors if e["line"]} == {
        ("/etc/logrotate.d/clink-agent", 8, "unexpected-text-after-brace")}
    assert [e["path"] for e in errors if e["class"] == "insecure-parent-directory"] == [
        "/var/log/mirror/printer/printer.log"]


def test_text_finds_the_same_loops_untrusted(from_text, from_journal):
    journal = from_journal[0]
    assert sorted(from_text) == sorted(journal)
    for kind, f in from_text.items():
        assert f.count == journal[kind].count, kind
        assert f.trusted is False
        assert f.cause.kind == journal[kind].cause.kind
    cause = from_text["restart-loop"].cause.to_dict()
    assert cause["command_source"] == "inferred"
    assert cause["program_line"].startswith("modprobe: FATAL")


def test_evidence_lines_are_raw_lines(from_journal, from_text):
    assert any("Scheduled restart job" in line for line in from_journal[0]["restart-loop"].evidence)
    assert all(line.startswith("Nov 25 ") for line in from_text["restart-loop"].evidence)


# -- the healthy controls, recorded the same way (examples/controls/MANIFEST.md) ----------

@pytest.fixture(scope="module", params=["journal", "text"])
def controls(request):
    if request.param == "journal":
        return fold(JournalSource(directory=str(example("controls", "journal"))).events())
    return text_evidence(example("controls", "journal.short.txt"))


def test_controls_hold_the_near_misses(controls):
    from unitaudit.model import Kind

    failed = {s.unit for s in controls.of_kind(Kind.UNIT_FAILED)}
    assert {"fail-once.service", "flaky-once.service"} <= failed  # one failure each
    ok = {s.unit for s in controls.of_kind(Kind.UNIT_SUCCEEDED)}
    assert {"logrotate.service", "flaky-once.service", "healthy-daemon.service"} <= ok
    assert controls.of_kind(Kind.RESTART_SCHEDULED) == []  # three manual restarts log none
    assert controls.of_kind(Kind.ACTIVATION_FAILED) == []  # avahi disabled on purpose, nobody calls it


def test_controls_are_quiet(controls):
    assert findings(controls) == []
