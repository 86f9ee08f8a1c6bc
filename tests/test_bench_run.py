"""bench/run.py's judging, on canned figures: the verdict of each row of issue 19's table, the count
checks against meta.json, the table's text, a missing RFC 3339 file, and how the scanner's own Python
is found.  Nothing here runs the scanner or times anything."""
import json
import os
import sys
from argparse import Namespace

from bench import table
from bench.rows import REPO, Bench, posix_tz, scanner_python, summarize
from bench.table import check_counts, counts_status, format_markdown, format_table, new_row, overall, verdict

EXPECTED = {"entries": 1000, "activation_failures": 120, "restart_scheduled": 8, "logrotate_failures": 3,
            "grep_count": 139}


def scanner_json(avahi=120, deepin=8, logrotate=3, extra=()):
    findings = [
        {"kind": "activation-loop", "unit": "dbus-org.freedesktop.Avahi.service", "count": avahi},
        {"kind": "restart-loop", "unit": "deepin-anything-monitor.service", "count": deepin},
        {"kind": "repeated-failure", "unit": "logrotate.service", "count": logrotate},
    ] + list(extra)
    return json.dumps({"schema": "unitaudit.report/1", "findings": findings}).encode()


def judged(row):
    row["verdict"] = verdict(row)
    return row


def text_row(ratio, rss, target=table.SYSLOG_RATIO_MAX, counts=None):
    row = new_row("syslog", "text, rsyslog traditional, 1M lines", "grep -cE (3 patterns)", "x", target,
                  table.TEXT_RSS_MAX_MB)
    row.update(baseline_seconds=0.1, seconds=0.1 * ratio, value=ratio, peak_rss_mb=rss, baseline_check="ok",
               counts=counts if counts is not None else check_counts(scanner_json(), EXPECTED))
    return judged(row)


def test_the_targets_are_issue_19s():
    assert (table.SYSLOG_RATIO_MAX, table.RFC3339_RATIO_MAX, table.TEXT_RSS_MAX_MB) == (4.0, 4.5, 48.0)
    assert (table.JOURNAL_RATIO_MAX, table.INCREMENTAL_PERCENT_MAX, table.HELP_SECONDS_MAX) == (0.30, 3.0, 0.08)


def test_ratio_and_rss_decide_a_text_row():
    assert text_row(3.9, 44.0)["verdict"] == "PASS"
    assert text_row(4.0, 48.0)["verdict"] == "PASS"  # "at or under"
    assert text_row(4.01, 44.0)["verdict"] == "FAIL"
    assert text_row(3.0, 48.5)["verdict"] == "FAIL"
    assert text_row(3.0, None)["verdict"] == "FAIL"  # an RSS target with no RSS measured is not met
    assert text_row(4.4, 44.0, target=table.RFC3339_RATIO_MAX)["verdict"] == "PASS"


def test_percent_seconds_and_information_rows():
    inc = new_row("incremental", "hourly", "full read", "%", 3.0)
    inc.update(value=2.9, seconds=0.06, baseline_seconds=2.0)
    assert verdict(inc) == "PASS"
    inc["value"] = 3.6
    assert verdict(inc) == "FAIL"
    helped = new_row("help", "--help", "python3 -c pass", "s", 0.08)
    helped.update(value=0.079)
    assert verdict(helped) == "PASS"
    helped["value"] = 0.081
    assert verdict(helped) == "FAIL"
    info = new_row("journal-file", "journal file", "journalctl --file", "x", None)
    info.update(value=9.0)
    assert verdict(info) == "INFO"


def test_missing_input_and_scanner_errors_fail():
    row = new_row("rfc3339", "text, RFC 3339", "grep -cE", "x", 4.5, 48.0)
    row["status"] = "no data"
    assert verdict(row) == "NO DATA"
    row["status"] = "error: exit 2"
    assert verdict(row) == "ERROR"
    assert not overall([judged(row)])


def test_counts_match_and_mismatch():
    rows = check_counts(scanner_json(), EXPECTED)
    assert [(r["check"], r["status"]) for r in rows] == [
        ("avahi activation loop", "OK"), ("deepin restart loop", "OK"), ("logrotate failures", "OK")]
    off = check_counts(scanner_json(deepin=7), EXPECTED)
    assert off[1]["status"] == "MISMATCH" and (off[1]["expected"], off[1]["got"]) == (8, 7)
    missing = check_counts(json.dumps({"findings": []}).encode(), EXPECTED)
    assert [r["status"] for r in missing] == ["MISSING"] * 3
    assert check_counts(b"Traceback", EXPECTED)[0]["status"] == "NO-JSON"


def test_other_findings_are_noted_not_failed():
    rows = check_counts(scanner_json(extra=[{"kind": "failure", "unit": "x.service", "count": 1}]), EXPECTED)
    assert rows[-1]["status"] == "NOTE" and rows[-1]["note"] == "x.service"
    assert counts_status(text_row(3.0, 40.0, counts=rows)) == "ok"


def test_a_count_or_baseline_off_fails_the_run_even_when_fast():
    good, info = text_row(3.0, 40.0), judged(new_row("journal-file", "journal file", "journalctl", "x", None))
    info.update(baseline_check="ok", counts=check_counts(scanner_json(), EXPECTED))
    assert overall([good, info])
    bad = text_row(3.0, 40.0, counts=check_counts(scanner_json(logrotate=2), EXPECTED))
    assert bad["verdict"] == "PASS" and counts_status(bad) == "MISMATCH" and not overall([good, bad])
    base_off = text_row(3.0, 40.0)
    base_off["baseline_check"] = "output 138, expected 139"
    assert counts_status(base_off) == "MISMATCH" and not overall([base_off])
    info["counts"] = check_counts(scanner_json(avahi=1), EXPECTED)
    assert not overall([good, info])  # a row without a target still has its counts checked
    assert not overall([])


def test_table_shows_baseline_ratio_target_and_verdict():
    rows = [text_row(4.52, 44.1), judged(new_row("rfc3339", "text, RFC 3339 lines, 1M lines", "grep -cE", "x", 4.5,
                                                 48.0))]
    rows[1]["status"] = "no data"
    rows[1]["verdict"] = verdict(rows[1])
    lines = format_table(rows)
    assert lines[0].split()[:2] == ["work", "baseline"] and set(lines[1]) == {"-"}
    assert "0.100" in lines[2] and "4.52x" in lines[2] and "<= 4x, RSS <= 48 MB" in lines[2]
    assert lines[2].rstrip().endswith("FAIL") and lines[3].rstrip().endswith("NO DATA")
    md = format_markdown(rows)
    assert md[0].startswith("| work | baseline |") and md[2].count("|") == 10
    assert "4.52x" in md[2] and md[3].endswith("| NO DATA |")


def test_summarize_keeps_best_and_median_and_stops_at_errors():
    runs = [{"seconds": s, "rc": 0, "ok": True, "stdout": b"x", "stderr": b"", "rss_kb": k}
            for s, k in ((0.3, 1024), (0.1, 2048), (0.2, 512))]
    s = summarize(["cmd"], runs)
    assert (s["seconds"], s["median"], s["peak_rss_mb"], s["ok"]) == (0.1, 0.2, 2.0, True)
    runs[2].update(ok=False, rc=2)
    assert summarize(["cmd"], runs)["ok"] is False


def test_missing_rfc3339_file_is_a_no_data_row(tmp_path, monkeypatch):
    (tmp_path / "journal").mkdir()
    meta = {"entries": 1000000, "start": {"epoch_us": 1705545362003130}, "utc_offset_hours": 8, "expected": EXPECTED}
    monkeypatch.setenv("UNITAUDIT", "/nonexistent/unitaudit")
    bench = Bench(str(tmp_path), meta, Namespace(repeat=1, startup_repeat=1, timeout=5, since=None))
    row = bench.text_row("rfc3339", "text, RFC 3339 lines", "syslog-rfc3339", table.RFC3339_RATIO_MAX)
    row["verdict"] = verdict(row)
    assert row["status"] == "no data" and row["verdict"] == "NO DATA" and not overall([row])
    assert bench.env["TZ"] == "UTC-8:00" and bench.since == "2024-01-18T02:35:02+00:00"


def test_the_scanners_python_for_a_package_launcher(tmp_path):
    lib = tmp_path / "usr" / "share" / "unitaudit" / "lib"
    lib.mkdir(parents=True)
    (tmp_path / "usr" / "bin").mkdir()
    launcher = tmp_path / "usr" / "bin" / "unitaudit"
    launcher.write_text("#!/usr/bin/python3\nimport sys\n")
    assert scanner_python([str(launcher)]) == (["/usr/bin/python3"], [str(lib)])
    link = tmp_path / "elsewhere"
    os.symlink(str(launcher), str(link))  # the launcher finds its lib from its real path: so do we
    assert scanner_python([str(link)]) == (["/usr/bin/python3"], [str(lib)])


def test_the_scanners_python_otherwise(tmp_path):
    assert scanner_python(["/opt/py/bin/python3.9", "-m", "unitaudit"]) == (["/opt/py/bin/python3.9"], [])
    console = tmp_path / "unitaudit"
    console.write_text("#!/venv/bin/python\nfrom unitaudit.cli import main\n")
    assert scanner_python([str(console)]) == (["/venv/bin/python"], [])
    binary = tmp_path / "unitaudit-bin"
    binary.write_bytes(b"\x7fELF")
    assert scanner_python([str(binary)]) == ([sys.executable], [REPO])


def test_posix_tz():
    assert posix_tz(8) == "UTC-8:00" and posix_tz(-5.5) == "UTC+5:30" and posix_tz(0) == "UTC-0:00"
