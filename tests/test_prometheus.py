"""The node_exporter textfile reporter on a real scan of the recorded seed loops
(examples/seed-loops) beside the kernel figures of a real machine (tests/fixtures/kernel/hybrid),
checked by a strict parser of the text exposition format written here."""
import os
import re
import shutil
import stat
import tempfile
from dataclasses import replace

import pytest
from prometheus_client import parser  # a test dependency (pyproject's test extra): the real parser, never skipped

from builders import example, unitaudit_as_nobody
from unitaudit.errors import ExitStatus, UnitauditError
from unitaudit.report import prometheus
from unitaudit.hourly.outputs import write_textfile
from unitaudit.report.prometheus import render
from unitaudit.model import RunSummary

NOW = 1795611694.0  # just after the recording's last entry
KINDS = ("restart-loop", "activation-loop", "repeated-failure", "start-limit-hit", "failure")


# -- a strict parser of the text format (0.0.4), as node_exporter's textfile collector reads it --
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
FLOAT = r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|NaN)"


def parse_labels(s: str, where: str) -> tuple:
    out, i = [], 0
    while i < len(s):
        m = re.compile(LABEL + '="').match(s, i)
        assert m, "bad label at %r in %s" % (s[i:], where)
        name, i, value = m.group(0)[:-2], m.end(), []
        while True:
            assert i < len(s), "unterminated label value in %s" % where
            c = s[i]
            if c == "\\":
                esc = s[i + 1:i + 2]
                assert esc in ("\\", '"', "n"), "bad escape \\%s in %s" % (esc, where)
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                assert c != "\n"
                value.append(c)
                i += 1
        assert not name.startswith("__"), "reserved label name %s" % name
        assert name not in dict(out), "label %s twice in %s" % (name, where)
        out.append((name, "".join(value)))
        if i < len(s):
            assert s[i] == ",", "expected , at %r in %s" % (s[i:], where)
            i += 1
            assert i < len(s), "trailing comma in %s" % where
    return tuple(sorted(out))


def parse(text: str) -> dict:
    """name -> {"type", "help", "samples": {sorted labels: float}}; asserts every rule it knows."""
    assert text.endswith("\n")
    assert "\n\n" not in text
    families: dict = {}
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("# HELP "):
            m = re.fullmatch(r"# HELP (%s) (.*)" % NAME, line)
            assert m, where
            assert m.group(1) not in families, "family %s twice (or not contiguous), %s" % (m.group(1), where)
            assert not re.search(r"\\[^\\n]", m.group(2)), "bad escape in HELP, %s" % where
            current = m.group(1)
            families[current] = {"help": m.group(2), "type": None, "samples": {}}
        elif line.startswith("# TYPE "):
            m = re.fullmatch(r"# TYPE (%s) (counter|gauge|summary|histogram|untyped)" % NAME, line)
            assert m, "TYPE not right after its HELP, %s" % where
            assert m.group(1) == current, "TYPE not right after its HELP, %s" % where
            assert families[current]["type"] is None, where
            assert not families[current]["samples"], where
            families[current]["type"] = m.group(2)
        else:
            assert not line.startswith("#"), where
            m = re.fullmatch(r"(%s)(?:\{(.*)\})? (%s)" % (NAME, FLOAT), line)  # no timestamp: node_exporter refuses them
            assert m, "bad sample, %s" % where
            assert m.group(1) == current, "sample outside its family, %s" % where
            assert families[current]["type"], "sample outside its family, %s" % where
            labels = parse_labels(m.group(2) or "", where)
            assert labels not in families[current]["samples"], "duplicate series, %s" % where
            families[current]["samples"][labels] = float(m.group(3))
    for name, fam in families.items():
        assert fam["samples"], "%s: HELP and TYPE without samples" % name
        assert name.startswith("unitaudit_")
        assert (fam["type"] == "counter") == name.endswith("_total"), "%s: _total is for counters only" % name
    return families


def series(fams, name, **labels):
    return fams[name]["samples"][tuple(sorted(labels.items()))]


@pytest.mark.parametrize("bad", [
    "# TYPE unitaudit_x gauge\nunitaudit_x 1\n",  # no HELP
    "# HELP unitaudit_x x\nunitaudit_x 1\n",  # no TYPE
    "# HELP unitaudit_x x\n# TYPE unitaudit_x gauge\nunitaudit_x 1 1795611694000\n",  # a timestamp
    "# HELP unitaudit_x x\n# TYPE unitaudit_x gauge\nunitaudit_x{u=\"a\"} 1\nunitaudit_x{u=\"a\"} 2\n",
    "# HELP unitaudit_x x\n# TYPE unitaudit_x gauge\nunitaudit_x{u=\"a\\x2d\"} 1\n",  # unescaped backslash
    "# HELP unitaudit_x x\n# TYPE unitaudit_x counter\nunitaudit_x 1\n",  # a counter without _total
    "# HELP unitaudit_x_total x\n# TYPE unitaudit_x_total gauge\nunitaudit_x_total 1\n",
    "# HELP unitaudit_x x\n# TYPE unitaudit_x gauge\n",  # a family without samples
    "# HELP unitaudit_x x\n# TYPE unitaudit_x gauge\nunitaudit_x 1",  # no final newline
    "# HELP unitaudit_x x\n# TYPE unitaudit_x gauge\nunitaudit_y 1\n",  # a sample outside its family
])
def test_the_parser_is_strict(bad):
    with pytest.raises(AssertionError):
        parse(bad)


# -- the scans ---------------------------------------------------------------------------------
def a_run(result, **kw) -> RunSummary:
    entries = sum(dict(s.counts).get("entries", 0) for s in result.sources) if result is not None else None
    base = dict(started=NOW - 0.4, seconds=0.4, entries_read=entries, read_from="full", version="0.1.0")
    base.update(kw)
    return RunSummary(**base)


def test_the_seed_loops_as_metrics(seed):
    by_kind = {f.kind.value: f for f in seed.findings}
    restart = by_kind["restart-loop"]
    totals = ((restart.id, 1045),)  # history: earlier runs saw 1000 more
    fams = parse(render(seed, a_run(seed, totals=totals)))

    key = dict(unit="deepin-anything-monitor.service", kind="restart-loop", host="vm")
    assert series(fams, "unitaudit_loop_active", cause="execstartpre-failed", **key) == 1
    assert series(fams, "unitaudit_loop_window_events", **key) == 45
    assert series(fams, "unitaudit_loop_events_per_second", **key) == pytest.approx(restart.rate_per_hour / 3600)
    assert series(fams, "unitaudit_loop_events_total", **key) == 1045
    assert fams["unitaudit_loop_events_total"]["type"] == "counter"
    assert len(fams["unitaudit_loop_events_total"]["samples"]) == 1  # no history for the others: no series
    assert series(fams, "unitaudit_loop_cgroups_created_per_second", **key) == pytest.approx(restart.churn.cgroups_per_hour / 3600)
    assert series(fams, "unitaudit_loop_kernfs_nodes_created_per_second", **key) == pytest.approx(restart.churn.kernfs_nodes_per_hour / 3600)
    assert series(fams, "unitaudit_loop_kernfs_bytes_per_second", **key) == pytest.approx(restart.churn.bytes_per_day / 86400)
    assert series(fams, "unitaudit_loop_trusted", **key) == 1

    avahi = dict(unit="dbus-org.freedesktop.Avahi.service", kind="activation-loop", host="vm")
    assert series(fams, "unitaudit_loop_active", cause="missing-unit", **avahi) == 1
    assert series(fams, "unitaudit_loop_window_events", **avahi) == 48
    assert series(fams, "unitaudit_loop_cgroups_created_per_second", **avahi) == 0  # a missing unit: no cgroup
    logrotate = dict(unit="logrotate.service", kind="repeated-failure", host="vm")
    assert series(fams, "unitaudit_loop_active", cause="logrotate-config", **logrotate) == 1
    assert series(fams, "unitaudit_loop_window_events", **logrotate) == 9
    # cause labels the active series only: the numbers keep one identity whatever the cause
    assert all("cause" not in dict(l) for l in fams["unitaudit_loop_window_events"]["samples"])

    assert {dict(l)["kind"]: v for l, v in fams["unitaudit_loops"]["samples"].items()} == {
        "restart-loop": 1, "activation-loop": 1, "repeated-failure": 1, "start-limit-hit": 0, "failure": 0}

    # /proc/meminfo and /proc/slabinfo of the machine in tests/fixtures/kernel/hybrid
    assert series(fams, "unitaudit_slab_bytes") == 231320 * 1024
    assert series(fams, "unitaudit_slab_reclaimable_bytes") == 201460 * 1024
    assert series(fams, "unitaudit_slab_unreclaimable_bytes") == 29860 * 1024
    assert series(fams, "unitaudit_kernfs_node_cache_objects") == 17370
    assert series(fams, "unitaudit_kernfs_node_cache_active_objects") == 17170
    assert series(fams, "unitaudit_kernfs_node_cache_object_size_bytes") == 136
    assert series(fams, "unitaudit_cgroup_dying_descendants") == 0
    assert series(fams, "unitaudit_cgroups", controller="memory") == 23
    assert len(fams["unitaudit_cgroups"]["samples"]) == 12
    assert "unitaudit_memcg_slab_caches" not in fams  # not readable there: not guessed

    assert series(fams, "unitaudit_last_run_timestamp_seconds") == NOW - 0.4
    assert series(fams, "unitaudit_last_run_duration_seconds") == 0.4
    assert series(fams, "unitaudit_last_run_success") == 1
    assert series(fams, "unitaudit_scan_errors") == 0
    assert series(fams, "unitaudit_scan_warnings") == 0
    assert series(fams, "unitaudit_journal_entries_read") == 448
    assert series(fams, "unitaudit_info", version="0.1.0", read_from="full") == 1
    assert all(f["type"] == "gauge" for n, f in fams.items() if n != "unitaudit_loop_events_total")


def test_a_failed_scan_says_so_and_reports_no_loop(seed):
    text = render(None, a_run(None, error="cannot read /var/log/journal: Permission denied", read_from="cursor"))
    fams = parse(text)
    assert series(fams, "unitaudit_last_run_success") == 0
    assert series(fams, "unitaudit_scan_errors") == 1
    assert not [n for n in fams if n.startswith("unitaudit_loop_")]
    assert {dict(l)["kind"]: v for l, v in fams["unitaudit_loops"]["samples"].items()} == dict.fromkeys(KINDS, 0)
    for absent in ("unitaudit_scan_warnings", "unitaudit_journal_entries_read", "unitaudit_slab_bytes"):
        assert absent not in fams
    assert series(fams, "unitaudit_info", version="0.1.0", read_from="cursor") == 1
    # an error beside a result (the run failed after scanning) is a failure too
    fams = parse(render(seed, a_run(seed, error="history not written")))
    assert (series(fams, "unitaudit_last_run_success"), series(fams, "unitaudit_scan_errors")) == (0, 1)


def test_label_values_are_escaped(seed):
    """systemd escapes '-' in unit names as \\x2d; a quote or a newline must not break a line either."""
    unit = "dev-disk-by\\x2dlabel-data.device"
    host = 'odd"host\nname'
    f = replace(seed.findings[0], unit=unit, host=host)
    text = render(replace(seed, findings=(f,)), a_run(seed))
    assert 'unit="dev-disk-by\\\\x2dlabel-data.device"' in text
    assert 'host="odd\\"host\\nname"' in text
    fams = parse(text)
    assert series(fams, "unitaudit_loop_window_events", unit=unit, kind=f.kind.value, host=host) == f.count


def test_what_is_unknown_is_left_out(seed):
    f = replace(seed.findings[0], host="", cause=None, rate_per_hour=None, churn=None, trusted=False)
    g = replace(seed.findings[1], host="", churn=replace(seed.findings[1].churn, bytes_per_day=None))
    fams = parse(render(replace(seed, findings=(f, g), kernel=None), a_run(seed, entries_read=None)))
    key = dict(unit=f.unit, kind=f.kind.value)  # no host label when the evidence named none
    assert series(fams, "unitaudit_loop_active", **key) == 1  # and no cause label
    assert series(fams, "unitaudit_loop_trusted", **key) == 0
    assert list(fams["unitaudit_loop_events_per_second"]["samples"]) == [tuple(sorted(dict(unit=g.unit, kind=g.kind.value).items()))]
    assert len(fams["unitaudit_loop_cgroups_created_per_second"]["samples"]) == 1
    assert "unitaudit_loop_kernfs_bytes_per_second" not in fams  # no HELP/TYPE for an empty family
    assert "unitaudit_journal_entries_read" not in fams
    assert not [n for n in fams if n.startswith(("unitaudit_slab", "unitaudit_kernfs", "unitaudit_cgroup"))]


def test_values_in_go_float_syntax():
    assert [prometheus.format_value(v) for v in (1, True, 0.5, 1e-05, 2e16, float("inf"), float("-inf"), float("nan"))] == [
        "1", "1", "0.5", "1e-05", "2e+16", "+Inf", "-Inf", "NaN"]


def test_prometheus_client_reads_it(seed):
    text = render(seed, a_run(seed, totals=((seed.findings[0].id, 7),)))
    names = [f.name for f in parser.text_string_to_metric_families(text)]
    assert len(names) == len(set(names))  # the window gauge does not clash with the counter's family
    assert "unitaudit_loop_events" in names
    assert "unitaudit_loop_window_events" in names


def test_read_from_is_checked():
    with pytest.raises(ValueError):
        RunSummary(started=0.0, seconds=0.0, version="0.1.0", read_from="somewhere")


# -- write_textfile ----------------------------------------------------------------------------
def test_write_is_atomic_with_the_right_modes(tmp_path, monkeypatch, seed):
    path = tmp_path / "a" / "b" / "unitaudit.prom"
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((str(src), str(dst), stat.S_IMODE(os.stat(src).st_mode), open(src).read()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    text = render(seed, a_run(seed))
    old = os.umask(0o077)  # a strict umask must not make the file unreadable to node_exporter
    try:
        write_textfile(str(path), text)
    finally:
        os.umask(old)
    (src, dst, mode, content), = renames
    assert dst == str(path)
    assert os.path.dirname(src) == str(path.parent)
    assert not src.endswith(".prom")  # node_exporter reads *.prom only: never the half-written file
    assert mode == 0o644
    assert content == text  # complete and readable before it gets the real name
    assert path.read_text() == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    for d in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755
    write_textfile(str(path), "unitaudit_scan_errors 1\n")  # replaces, leaves nothing behind
    assert path.read_text() == "unitaudit_scan_errors 1\n"
    assert sorted(os.listdir(path.parent)) == ["unitaudit.prom"]


def test_write_failures_name_the_path(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path = str(blocker / "unitaudit.prom")
    with pytest.raises(UnitauditError) as e:
        write_textfile(path, "x 1\n")
    assert path in str(e.value)
    assert "\n" not in str(e.value)

    def denied(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(UnitauditError) as e:
        write_textfile(str(tmp_path / "unitaudit.prom"), "x 1\n")
    assert str(e.value) == "cannot write the Prometheus textfile %s: Permission denied" % (tmp_path / "unitaudit.prom")
    assert os.listdir(tmp_path) == ["not-a-dir"]  # the temporary file is gone


def test_write_into_a_read_only_directory():
    """Root writes into a read-only directory anyway: as root, the scan runs as nobody."""
    top = tempfile.mkdtemp(prefix="unitaudit-ro-", dir="/tmp")  # pytest's tmp_path may be root-only
    try:
        os.chmod(top, 0o755)
        d = os.path.join(top, "ro")
        os.mkdir(d, 0o555)
        textfile = os.path.join(d, "unitaudit.prom")
        p = unitaudit_as_nobody("scan", "--journal-dir", str(example("seed-loops", "journal")), "--prometheus", textfile)
        if p is None:
            pytest.skip("root writes into a read-only directory, and this Python cannot run as nobody")
        assert p.returncode == ExitStatus.INCOMPLETE, p.stderr
        (line,) = p.stderr.splitlines()
        assert line.startswith("unitaudit: error: ") and textfile in line, line
        assert os.listdir(d) == []
    finally:
        shutil.rmtree(top)