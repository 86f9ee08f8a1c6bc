"""Issue 13, hardening of what unitaudit writes: log text cannot drive the terminal (escape
sequences are shown escaped, the way systemd shows them; rich markup prints as written), and every
--json document is strict JSON in UTF-8 whatever the locale or the bytes of a path."""
import io
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from builders import ROOT, fixture, report_fields, write_journal
from unitaudit.model import Thresholds
from unitaudit.errors import ExitStatus, UsageError

# busctl's real stderr as journald recorded it on systemd 247 (a byte array: it holds colour escapes)
SEED = fixture("captured", "debian11-247-lab", "seed-loops.json")
MARKUP = b" [bold]not bold[/bold] [link=file:///etc/shadow]x[/link]"
LOG_ESC = "\x1b[0;1;31m"  # the sequence busctl logged
SHOWN_ESC = "\\x1b[0;1;31m"


def _entries():
    with open(str(SEED)) as f:
        return [json.loads(line) for line in f]


def _busctl_bytes() -> bytes:
    (raw,) = {bytes(e["MESSAGE"]) for e in _entries() if isinstance(e.get("MESSAGE"), list)}
    assert raw.startswith(b"\x1b[0;1;31mCall failed:")
    return raw


@pytest.fixture(scope="module")
def hostile_journal(tmp_path_factory):
    """The recorded seed loops, with the lines of modprobe and rmmod (the restart loop's cause and
    evidence) replaced by busctl's coloured line plus rich markup: what any user could log."""
    raw = _busctl_bytes()
    entries = []
    for e in _entries():
        if e.get("SYSLOG_IDENTIFIER") in ("modprobe", "rmmod"):
            e = dict(e, MESSAGE=list(e["SYSLOG_IDENTIFIER"].encode() + b": FATAL: " + raw + MARKUP))
        entries.append(e)
    return write_journal(entries, tmp_path_factory.mktemp("hostile") / "system.journal")


def run(*args, env=None, text=True):
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.pop("NO_COLOR", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "unitaudit", *args], capture_output=True, text=text, env=e)


TERMINAL = {"COLUMNS": "250", "FORCE_COLOR": "1", "TERM": "xterm-256color"}


def test_log_escapes_reach_the_table_and_the_evidence_escaped(hostile_journal):
    p = run("scan", "--verbose", "--journal-file", hostile_journal, env=TERMINAL)
    assert p.returncode == ExitStatus.FINDINGS, p.stderr
    out = p.stdout
    assert "\x1b[1m" in out  # the colours are forced: rich's own escapes are there
    assert LOG_ESC not in out
    assert "found.\\x1b[0m" in out  # rich's own \x1b[0m are there: not busctl's
    assert out.count(SHOWN_ESC) >= 2  # the cause column and an evidence line
    (cause,) = [c for c in report_fields(out, "Cause") if "ExecStartPre" in c]
    assert "modprobe: FATAL: " + SHOWN_ESC + "Call failed" in cause
    assert "[bold]not bold[/bold]" in out
    assert "[link=file:///etc/shadow]x[/link]" in out
    evidence = [line for line in out.splitlines() if "rmmod[" in line]
    assert evidence
    assert all(SHOWN_ESC in line and "[bold]not bold[/bold]" in line for line in evidence)


def test_json_keeps_the_logged_text(hostile_journal):
    p = run("scan", "--json", "--journal-file", hostile_journal, text=False)
    doc = json.loads(p.stdout.decode("utf-8"))
    (restart,) = [f for f in doc["findings"] if f["kind"] == "restart-loop"]
    assert restart["cause"]["program_line"].startswith("modprobe: FATAL: " + LOG_ESC + "Call failed")
    assert b"\x1b" not in p.stdout  # JSON escapes it (\u001b)


def test_safe_follows_systemds_escaping():
    from unitaudit.report.safe_text import safe

    assert safe("a\x1b[31mb") == "a\\x1b[31mb"
    assert safe("\x00\x07\t\n\r\x7f") == "\\x00\\x07\\x09\\x0a\\x0d\\x7f"
    assert safe("csi \x9b2J") == "csi \\xc2\\x9b2J"  # C1, per byte of its UTF-8 form as systemd writes it
    assert safe("/tmp/\udcff.log") == "/tmp/\ufffd.log"  # a byte that was not UTF-8
    assert safe("\udcc3\udca9") == "\u00e9"  # two such bytes that are UTF-8 together
    assert safe("C:\\x1b [bold] 模块 ✓") == "C:\\x1b [bold] 模块 ✓"  # kept: backslash, markup, printable text
    assert safe(None) == ""
    assert safe(3) == "3"


def _finding(text):
    cause = SimpleNamespace(summary="cause " + text, kind=SimpleNamespace(value="execstartpre-failed"))
    return SimpleNamespace(kind=SimpleNamespace(value="restart-loop"), unit="a.service", host="h" + text,
                           count=3, rate_per_hour=1.0, first_seen=None, last_seen=None, churn=None, trusted=False,
                           cause=cause, diagnosis=SimpleNamespace(summary="diag " + text, verdict="v" + text),
                           summary="sum " + text, id="0123", evidence=("line " + text,), period_seconds=None)


HOSTILE = "\x1b]0;owned\x07\x1b[2J[red]markup[/red]"


def _assert_safe(out: str):
    assert "\x1b]" not in out
    assert "\x1b[2J" not in out
    assert "\x07" not in out
    assert "\\x1b]0;owned\\x07\\x1b[2J[red]markup[/red]" in out


def test_every_human_report_escapes_log_text():
    from dataclasses import replace

    from unitaudit.model import Config
    from unitaudit.model import FixStatus, UndoReport
    from unitaudit.remediation.recipes import load_recipes
    from unitaudit.report import (churn_report, config_report, fix_report, history_report, recipes_report,
                                  round_report, scan_text, undo_report)
    from unitaudit.model import UndoOutcome

    f = _finding(HOSTILE)
    result = SimpleNamespace(sources=[SimpleNamespace(kind="syslog", path="/tmp/" + HOSTILE, counts=[("lines", 1)])],
                             live=None, warnings=["warn " + HOSTILE], findings=[f, _finding("")], kernel=None)
    out = io.StringIO()
    scan_text.write(result, out, verbose=True, fix_argv=["--syslog", "/tmp/" + HOSTILE])
    _assert_safe(out.getvalue())
    assert out.getvalue().count("\\x1b]0;owned") >= 6  # source, warning, host, cause, diagnosis, evidence...

    f.churn = SimpleNamespace(starts_per_hour=1.0, cgroups_per_hour=1.0, kernfs_nodes_per_hour=1.0,
                              bytes_per_day=1.0, basis=[("starts", "from " + HOSTILE)])
    f.unit = "u" + HOSTILE
    out = io.StringIO()
    churn_report.write_text(result, out)
    _assert_safe(out.getvalue())

    outcome = SimpleNamespace(incremental=SimpleNamespace(entries=1, read_from="cursor"), result=result, fixes=None)
    out = io.StringIO()
    round_report.write_text(outcome, out)
    _assert_safe(out.getvalue())

    fixes = SimpleNamespace(run=1, state_dir="/var/lib/unitaudit", outcomes=[
        SimpleNamespace(status=FixStatus.FAILED, unit="u.service", detail="detail " + HOSTILE, fallback_used=False)])
    out = io.StringIO()
    fix_report.write_text(fixes, out)
    _assert_safe(out.getvalue())

    undone = UndoOutcome(1, UndoReport(restored=["/etc/" + HOSTILE], removed=[], moved_back=[], links_restored=[],
                                       cannot_undo=["reset-failed " + HOSTILE], errors=["changed " + HOSTILE]),
                         reload_error="bus " + HOSTILE)
    out = io.StringIO()
    undo_report.write_text(undone, out)
    _assert_safe(out.getvalue())
    assert out.getvalue().count("\\x1b]0;owned") == 4
    assert "systemd reloaded" not in out.getvalue()

    out = io.StringIO()
    config_report.write_text(Config(path="/etc/" + HOSTILE, prometheus_path="/p" + HOSTILE), out)
    _assert_safe(out.getvalue())

    out = io.StringIO()
    recipes_report.write_text([replace(load_recipes()[0], title="t" + HOSTILE)], out)
    _assert_safe(out.getvalue())

    hour = SimpleNamespace(finding="0123", unit="u" + HOSTILE, kind="restart-loop", host="h" + HOSTILE,
                           hour=3600, count=2, rate=2.0, cgroups_per_hour=None)
    scan = SimpleNamespace(started=3600, entries=1, seconds=0.1, read_from="r" + HOSTILE)
    out = io.StringIO()
    history_report.write_text([scan], [hour], 0, 7200, out)
    _assert_safe(out.getvalue())


def test_the_plan_text_escapes_what_it_quotes():
    from unitaudit.report import plan as plan_report

    write = SimpleNamespace(kind="write", path="/etc/x" + HOSTILE, before="a\n" + HOSTILE + "\n", content="a\n",
                            argv=(), destination=None, target="t")
    run_op = SimpleNamespace(kind="run", argv=("systemctl", "restart", "u" + HOSTILE), path=None, before=None,
                             content=None, destination=None, target="t")
    step = SimpleNamespace(recipe_id="r", fallback=False, action=SimpleNamespace(value="restart"),
                           values=(("unit", "u" + HOSTILE),), undo=SimpleNamespace(value="none"),
                           operations=[write, run_op])
    refusal = SimpleNamespace(unit="u" + HOSTILE, finding_id="0123", reason="why " + HOSTILE,
                              recommendation="do " + HOSTILE)
    plan = SimpleNamespace(verifications=[], steps=[step], refusals=[refusal], by_finding=lambda: {"0123": [step]})
    out = io.StringIO()
    plan_report.write_text(plan, [_finding(HOSTILE)], [write, run_op], out)
    _assert_safe(out.getvalue())
    assert "-\\x1b]0;owned" in out.getvalue()  # the diff line, escaped after its sign


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "infinity", "1e400"])
def test_thresholds_refuse_what_is_not_finite(raw):
    with pytest.raises(UsageError, match="--threshold restart_window"):
        Thresholds.parse(["restart_window=" + raw])


@pytest.mark.parametrize("raw", ["nan", "inf"])
def test_a_threshold_of_nan_or_inf_is_a_usage_error(raw):
    p = run("scan", "--json", "--threshold", "restart_window=" + raw,
            "--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert p.returncode == ExitStatus.USAGE, (p.stdout, p.stderr)
    assert "--threshold" in p.stderr
    assert "restart_window" in p.stderr
    assert p.stdout == ""


LOCALES = [{"LC_ALL": "C.UTF-8"}, {"LC_ALL": "C", "LANG": "C"}, {"PYTHONIOENCODING": "ascii:strict"},
           {"PYTHONIOENCODING": "latin-1:surrogateescape"}]


@pytest.mark.parametrize("env", LOCALES)
def test_a_path_that_is_not_utf8_gives_valid_json(env, tmp_path):
    src = fixture("captured", "ubuntu1804-237-openvpn-restart-loop.txt")
    path = os.path.join(os.fsencode(str(tmp_path)), b"\xff.log")
    with open(path, "wb") as f:
        f.write(src.read_bytes())
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.update(env)
    p = subprocess.run([os.fsencode(sys.executable), b"-m", b"unitaudit", b"scan", b"--json", b"--syslog", path],
                       capture_output=True, env=e)
    assert p.returncode == ExitStatus.FINDINGS, p.stderr
    assert b"\xff" not in p.stdout
    doc = json.loads(p.stdout.decode("utf-8"))
    assert doc["sources"][0]["path"].endswith("/\ufffd.log")
    assert doc["findings"]


@pytest.mark.parametrize("env", LOCALES)
def test_a_strict_ascii_stdout_still_gets_the_whole_document(env):
    # Chinese text in the evidence: the document is UTF-8 whatever stdout's encoding says
    p = run("scan", "--json", "--syslog", str(fixture("captured", "ubuntu1804-237-zh-miredo-execstartpre.txt")),
            env=env, text=False)
    assert p.returncode == ExitStatus.FINDINGS, p.stderr
    doc = json.loads(p.stdout.decode("utf-8"))
    assert doc["schema"] == "unitaudit.report/1"
    assert doc["findings"]
    assert any(ord(c) > 127 for f in doc["findings"] for line in f["evidence"] for c in line)


def test_json_has_no_nan_and_no_invalid_text():
    from unitaudit.report import json_out

    out = io.StringIO()
    json_out.write({"rate": float("nan"), "top": float("inf"), "path": "/tmp/\udcff", "ok": 1.5}, out)
    doc = json.loads(out.getvalue())
    assert doc == {"rate": None, "top": None, "path": "/tmp/\ufffd", "ok": 1.5}
    out.getvalue().encode("utf-8")  # encodable: no lone surrogate left


def test_every_json_writer_goes_through_json_out(monkeypatch):
    """A NaN anywhere in a document comes out as null, never as the NaN that JSON does not have."""
    from unitaudit.report import (churn_report, fix_report, history_report, json_report, plan, recipes_report,
                                  round_report, undo_report)

    for module in (churn_report, fix_report, history_report, json_report, plan, recipes_report, round_report,
                   undo_report):
        assert "json_out" in vars(module), module.__name__


def test_an_error_line_naming_a_file_shows_its_escape_sequence_escaped(tmp_path):
    """A log file named with an escape sequence: the one error line must not drive the terminal."""
    import subprocess
    import sys

    from builders import ROOT

    name = tmp_path / "evil\x1b]0;owned\x07.log"
    r = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--syslog", str(name)], capture_output=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert r.returncode == ExitStatus.INCOMPLETE, r.stderr
    assert b"\x1b" not in r.stderr
    assert b"\x07" not in r.stderr
    assert b"evil\\x1b]0;owned\\x07.log" in r.stderr, r.stderr
