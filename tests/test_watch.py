"""`unitaudit watch` off the lab: a round whose scan fails still tells the fleet so, and a round
on recorded evidence writes a textfile node_exporter can read.  The live round (the service
under its sandbox, auto-apply) is proven in tests/lab/test_watch_live.py."""
import os
import time

from builders import example

from unitaudit.model import Config
from unitaudit.errors import SourceError
from unitaudit.hourly import outputs
from unitaudit.hourly import round as timer_round
from unitaudit.hourly.history import HistoryStore
from unitaudit.hourly.incremental import IncrementalRequest, run_incremental
from unitaudit.model import FindingKind, FixStatus, ReadFrom, RunOrigin, RunStatus, Thresholds


def test_a_failed_scan_still_writes_the_textfile_saying_so(tmp_path, monkeypatch):
    prom = tmp_path / "textfile" / "unitaudit.prom"

    def broken(*_a, **_k):
        raise SourceError("no journal found on this system")

    monkeypatch.setattr("unitaudit.hourly.incremental.prepare_incremental", broken)
    monkeypatch.setattr(timer_round, "live_parts", lambda *_a: None)  # no bus: the journal alone
    sent = []
    monkeypatch.setattr("unitaudit.hourly.outputs.send_summary", sent.append)
    outcome = timer_round.run_round(Config(prometheus_path=str(prom)))
    assert outcome.result is None
    assert outcome.error == "no journal found on this system"
    text = prom.read_text()
    assert "unitaudit_last_run_success 0" in text
    assert "unitaudit_scan_errors 1" in text
    assert "unitaudit_loop_active{" not in text
    [fields] = sent
    assert fields["PRIORITY"] == "3"
    assert fields["UNITAUDIT_ERROR"] == "no journal found on this system"


def test_outputs_of_an_incremental_run_on_recorded_evidence(tmp_path):
    store = HistoryStore(str(tmp_path / "state"))
    result, info = run_incremental(IncrementalRequest(thresholds=Thresholds(), now=2e9, window=1e12, retention=1e12,
                                                      journal_dir=str(example("seed-loops", "journal"))), store=store)
    run = outputs.run_summary(result, info, 1.0, None)
    assert run.read_from is ReadFrom.WINDOW
    assert run.entries_read == info.entries > 0
    assert dict(run.totals) == {f.id: f.count for f in result.findings}
    prom = tmp_path / "out" / "unitaudit.prom"
    assert outputs.write_outputs(result, run, str(prom), False) == []
    text = prom.read_text()
    for f in result.findings:
        assert 'unitaudit_loop_events_total{unit="%s",kind="%s",host="%s"} %d' % (f.unit, f.kind.value, f.host, f.count) in text
    assert oct(os.stat(prom).st_mode & 0o777) == "0o644"
    # an output that cannot be written is reported, and the other output is still attempted
    blocker = tmp_path / "file"
    blocker.write_text("")
    errors = outputs.write_outputs(result, run, str(blocker / "x.prom"), False)
    assert len(errors) == 1
    assert str(blocker) in errors[0]


def test_a_loop_auto_apply_did_not_fix_is_not_retried_every_hour(tmp_path, monkeypatch):
    from unitaudit.services.scan import scan
    from unitaudit.sources.journal import JournalSource
    from unitaudit.store.fixruns import FixRunStore

    monkeypatch.setenv("UNITAUDIT_STATE_DIR", str(tmp_path / "state"))
    result = scan([JournalSource(directory=str(example("seed-loops", "journal")))], Thresholds(), now=2e9)
    avahi = [f for f in result.findings if f.kind is FindingKind.ACTIVATION_LOOP][0]
    store = FixRunStore()
    run = store.begin_run(timer_round.AUTO_COMMAND % "restore-dbus-alias", {}, {}, origin=RunOrigin.AUTO_APPLY)
    store.finish_run(run, RunStatus.NOT_FIXED, {"outcomes": [
        {"finding_id": avahi.id, "unit": avahi.unit, "status": FixStatus.NOT_FIXED.value}]})
    # a fix by hand does not count, even one whose command reads like the timer's
    other = store.begin_run(timer_round.AUTO_COMMAND % "restore-dbus-alias", {}, {}, origin=RunOrigin.FIX)
    store.finish_run(other, RunStatus.NOT_FIXED, {"outcomes": [{"finding_id": "x", "status": FixStatus.FAILED.value}]})
    assert set(store.unfixed_since(0.0, RunOrigin.AUTO_APPLY)) == {avahi.id}
    store.close()
    fixes, refusals = timer_round.auto_apply(Config(auto_apply=("restore-dbus-alias",)), result, clock=time.time)
    assert fixes is None
    assert any(r.startswith(avahi.unit + ": auto-apply did not fix it") for r in refusals), refusals
    assert not any(r.startswith("logrotate.service: auto-apply") for r in refusals)


def test_a_loop_whose_newest_fix_did_not_stop_it_is_a_failed_fix_in_the_textfile(tmp_path, monkeypatch):
    """The fleet's UnitauditFixFailed alert reads `unitaudit_loop_fix_failed`: a loop the round still
    finds whose newest attempt (an admin's fix or the timer's) within the retention ended
    not-fixed or failed.  An older failure followed by a fix that worked is not one."""
    from prometheus_client.parser import text_string_to_metric_families

    from unitaudit.report import prometheus
    from unitaudit.services.scan import scan
    from unitaudit.sources.journal import JournalSource
    from unitaudit.store.fixruns import FixRunStore

    monkeypatch.setenv("UNITAUDIT_STATE_DIR", str(tmp_path / "state"))
    result = scan([JournalSource(directory=str(example("seed-loops", "journal")))], Thresholds(), now=2e9)
    by_kind = {f.kind: f for f in result.findings}
    avahi, monitor, logrotate = (by_kind[FindingKind.ACTIVATION_LOOP], by_kind[FindingKind.RESTART_LOOP],
                                 by_kind[FindingKind.REPEATED_FAILURE])
    store = FixRunStore()

    def attempt(origin, *outcomes):
        run = store.begin_run("unitaudit fix", {}, {}, origin=origin)
        store.finish_run(run, RunStatus.PARTIAL, {"outcomes": [
            {"finding_id": f.id, "unit": f.unit, "status": s.value} for f, s in outcomes]})

    attempt(RunOrigin.FIX, (avahi, FixStatus.NOT_FIXED), (logrotate, FixStatus.FAILED))
    attempt(RunOrigin.AUTO_APPLY, (monitor, FixStatus.FIXED))
    attempt(RunOrigin.AUTO_APPLY, (monitor, FixStatus.NOT_FIXED), (logrotate, FixStatus.FIXED))  # newest wins
    store.close()

    def textfile(clock):
        failures = timer_round._fix_failures(result, 86400.0, clock)
        run = outputs.run_summary(result, None, 1.0, None, clock, failures)
        return prometheus.render(result, run)

    text = textfile(time.time)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    failed = {(s.labels["unit"], s.labels["kind"], s.labels["origin"]) for s in families["unitaudit_loop_fix_failed"].samples}
    assert failed == {(avahi.unit, "activation-loop", "fix"), (monitor.unit, "restart-loop", "auto-apply")}
    assert [s.value for s in families["unitaudit_fixes_failed"].samples] == [2]
    # older than the retention: forgotten, and the run still says it looked
    later = textfile(lambda: time.time() + 2 * 86400)
    assert "unitaudit_loop_fix_failed{" not in later and "\nunitaudit_fixes_failed 0\n" in later
    # a scan's textfile (no round) says nothing of fixes
    assert "fixes_failed" not in prometheus.render(result, outputs.run_summary(result, None, 1.0, None))


def _incremental(journal_dir, state, now):
    return run_incremental(IncrementalRequest(thresholds=Thresholds(), now=now, window=1e12, retention=1e12,
                                              journal_dir=str(journal_dir)), store=HistoryStore(str(state)))


def test_a_fix_by_hand_is_news_to_the_next_hourly_run(tmp_path, monkeypatch):
    """`unitaudit fix` notes the loops it stopped in the hourly history, as the timer's own fixes
    are: the next run does not report them again from the events between its last run and the
    fix.  The seed's journal read in two halves: the first run sees the first half; then every
    loop is fixed by hand; the second run sees the rest, which the fix made old news."""
    from builders import export_entries, write_journal

    from unitaudit.hourly import incremental
    from unitaudit.model import FixOutcome, Outcome

    entries = sorted(export_entries(example("seed-loops", "journal.export")),
                     key=lambda e: int(e["__REALTIME_TIMESTAMP"]))
    half, end = int(entries[len(entries) // 2]["__REALTIME_TIMESTAMP"]) / 1e6, int(entries[-1]["__REALTIME_TIMESTAMP"]) / 1e6
    reported = {}
    for noted in (False, True):
        journal, state = tmp_path / ("journal-%s" % noted), tmp_path / ("state-%s" % noted)
        journal.mkdir()
        write_journal([e for e in entries if int(e["__REALTIME_TIMESTAMP"]) / 1e6 <= half], journal / "system.journal")
        first, _info = _incremental(journal, state, half + 1)
        assert {f.kind for f in first.findings} >= {FindingKind.RESTART_LOOP, FindingKind.ACTIVATION_LOOP}
        (journal / "system.journal").unlink()  # the machine logged on: the whole journal now
        write_journal(entries, journal / "system.journal")
        if noted:
            monkeypatch.setenv("UNITAUDIT_STATE_DIR", str(state))
            monkeypatch.setattr(incremental, "source_key", lambda d, key=str(journal): os.path.abspath(d or key))
            fixed = FixOutcome(1, tuple(Outcome(f.id, f.unit, FixStatus.FIXED, "") for f in first.findings), str(state))
            assert incremental.note_fixed_by_hand(first.findings, fixed, end + 1) is None
        second, _info = _incremental(journal, state, end + 2)
        reported[noted] = {f.unit for f in second.findings}
    assert reported[False] >= {"deepin-anything-monitor.service", "dbus-org.freedesktop.Avahi.service"}
    assert reported[True] == set()


def test_a_fix_by_hand_while_the_timer_runs_says_the_history_was_not_told(tmp_path, monkeypatch):
    from unitaudit.hourly import incremental
    from unitaudit.model import FixOutcome, Outcome
    from unitaudit.services.scan import scan
    from unitaudit.sources.journal import JournalSource

    monkeypatch.setenv("UNITAUDIT_STATE_DIR", str(tmp_path))
    result = scan([JournalSource(directory=str(example("seed-loops", "journal")))], Thresholds(), now=2e9)
    fixed = FixOutcome(1, tuple(Outcome(f.id, f.unit, FixStatus.FIXED, "") for f in result.findings), str(tmp_path))
    ids = incremental.fixed_loops(result.findings, fixed, 5.0)
    assert len(ids) == len(result.findings) * len(FindingKind) and set(ids.values()) == {5.0}
    with HistoryStore(str(tmp_path)).lock():  # a timer run in progress
        warning = incremental.note_fixed_by_hand(result.findings, fixed, 5.0)
    assert warning.startswith("the hourly history was not told of this fix (another incremental unitaudit run is")
