"""bench/scale.py's checks and outputs, on canned figures: the 10M journal RSS under 2x the 1M one,
time at most linear, the count checks, the Markdown table, which workloads are reused, and that
bench/plot.py writes a PNG.  Nothing here generates a workload or times anything.

The plot runs under Debian's python3 with python3-matplotlib (the Makefile installs it); a host
without it skips that test, except in CI (CI=true), where a missing matplotlib fails it."""
import json
import os
import struct
import subprocess

import pytest

from bench import scale
from bench.run import check_counts, new_row
from test_bench_run import EXPECTED, scanner_json

PLOT_PYTHON = "/usr/bin/python3"


def work_row(key, seconds, base, rss, counts=True):
    row = new_row(key, key, "baseline", "x", None)
    row.update(seconds=seconds, baseline_seconds=base, value=seconds / base, peak_rss_mb=rss, baseline_check="ok",
               counts=check_counts(scanner_json(), EXPECTED) if counts else [], verdict="INFO")
    return row


def point(entries, text_s, journal_s, text_rss=40.0, journal_rss=60.0):
    return {"label": scale.size_label(entries), "entries": entries, "data": "/tmp/x",
            "text": work_row("syslog", text_s, text_s / 4, text_rss),
            "journal": work_row("journal-dir", journal_s, journal_s * 3, journal_rss)}


def test_sizes():
    assert [scale.parse_size(s) for s in ("1M", "3m", "10M", "500k", "2500", "1.5M")] == [
        1000000, 3000000, 10000000, 500000, 2500, 1500000]
    assert [scale.size_label(n) for n in (1000000, 10000000, 500000, 2500)] == ["1M", "10M", "500k", "2500"]
    with pytest.raises(Exception):
        scale.parse_size("lots")


def test_journal_rss_under_twice_the_1m_figure():
    ok = scale.check_rss([point(1000000, 1, 1, journal_rss=60.0), point(10000000, 10, 10, journal_rss=119.9)])
    assert ok["verdict"] == "PASS" and ok["value"] == pytest.approx(1.998, abs=1e-3)
    bad = scale.check_rss([point(1000000, 1, 1, journal_rss=60.0), point(10000000, 10, 10, journal_rss=120.0)])
    assert bad["verdict"] == "FAIL"
    assert scale.check_rss([point(1000000, 1, 1), point(3000000, 3, 3)])["verdict"] == "NOT RUN"


def test_time_at_most_linear():
    pts = [point(1000000, 0.5, 0.6), point(3000000, 1.4, 1.1), point(10000000, 7.4, 3.0)]
    assert scale.check_linear(pts, "text")["verdict"] == "PASS"  # 14.8 <= 15
    assert scale.check_linear(pts, "journal")["verdict"] == "PASS"  # sub-linear is no fault
    pts[2]["text"]["seconds"] = 7.6  # 15.2 > 15: the later millions cost more than the first
    assert scale.check_linear(pts, "text")["verdict"] == "FAIL"
    assert scale.check_linear(pts[:1], "text")["verdict"] == "NOT RUN"
    # with only 1M and 3M measured the bound scales with them: at most 4.5x
    assert scale.check_linear([point(1000000, 1.0, 1.0), point(3000000, 4.4, 1.0)], "text")["verdict"] == "PASS"
    assert scale.check_linear([point(1000000, 1.0, 1.0), point(3000000, 4.6, 1.0)], "text")["verdict"] == "FAIL"


def test_counts_and_the_markdown_table():
    pts = [point(1000000, 0.5, 0.6), point(10000000, 5.0, 3.0)]
    assert scale.counts_ok(pts)
    md = scale.markdown(pts)
    assert md[0].startswith("| size | entries |") and len(md) == 2 + 4
    assert md[4] == ("| 10M | 10,000,000 | text (`scan --syslog`) | 5.000 | `grep -cE` | 1.250 | 4.00x | 40.0 | 0.500 "
                     "| ok |")
    pts[1]["journal"]["counts"] = check_counts(scanner_json(avahi=3), EXPECTED)
    assert not scale.counts_ok(pts)
    assert [c["check"] for c in scale.checks(pts)] == [
        "journal RSS 10M < 2x 1M", "text time at most linear", "journal time at most linear"]


def test_a_workload_is_reused_only_when_complete_and_of_that_size(tmp_path):
    d = tmp_path / "1M"
    (d / "journal").mkdir(parents=True)
    assert not scale.reusable(str(d), 1000000, 7)
    (d / "meta.json").write_text(json.dumps({"entries": 1000000, "days": 7.0}))
    (d / "syslog").write_text("")
    assert not scale.reusable(str(d), 1000000, 7)  # no journal yet: generation did not finish
    (d / "journal" / "system.journal").write_text("")
    assert scale.reusable(str(d), 1000000, 7)
    assert not scale.reusable(str(d), 3000000, 7) and not scale.reusable(str(d), 1000000, 1)


def _has_matplotlib():
    if not os.access(PLOT_PYTHON, os.X_OK):
        return False
    return subprocess.call([PLOT_PYTHON, "-c", "import matplotlib"], stderr=subprocess.DEVNULL) == 0


def test_the_plot_is_a_png(tmp_path):
    if not _has_matplotlib():
        if os.environ.get("CI") == "true":
            pytest.fail("%s cannot import matplotlib: the Makefile installs python3-matplotlib" % PLOT_PYTHON)
        pytest.skip("%s has no matplotlib (apt-get install python3-matplotlib)" % PLOT_PYTHON)
    results = {"days": 7, "points": [point(1000000, 0.5, 0.6), point(3000000, 1.4, 1.1), point(10000000, 5.0, 3.0)]}
    src, png = tmp_path / "scale.json", tmp_path / "scale.png"
    src.write_text(json.dumps(results))
    p = subprocess.run([PLOT_PYTHON, os.path.join(scale.REPO, "bench", "plot.py"), str(src), str(png)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert p.returncode == 0, p.stdout
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1100, 450)
    assert data.endswith(b"IEND\xaeB`\x82")
