"""bench/run.py's pure part: issue 19's targets, the rows as plain dicts and their verdicts, the
scanner's counts checked against meta.json, and the table as text, Markdown and the counts listing.
Nothing here runs or times anything (tests/test_bench_run.py judges canned figures with it).
Python 3.7+, stdlib only.
"""
import json

# issue 19's targets
SYSLOG_RATIO_MAX = 4.0
RFC3339_RATIO_MAX = 4.5
TEXT_RSS_MAX_MB = 48.0
JOURNAL_RATIO_MAX = 0.30
INCREMENTAL_PERCENT_MAX = 3.0
HELP_SECONDS_MAX = 0.08

# (check name, meta.json expected key, unit, preferred finding kinds, other units that may name it)
CHECKS = [
    ("avahi activation loop", "activation_failures", "dbus-org.freedesktop.Avahi.service",
     ("activation-loop",), ("org.freedesktop.Avahi", "avahi-daemon.service")),
    ("deepin restart loop", "restart_scheduled", "deepin-anything-monitor.service",
     ("restart-loop",), ()),
    ("logrotate failures", "logrotate_failures", "logrotate.service",
     ("repeated-failure", "timer-failure", "failure"), ()),
]


def findings_of(doc):
    """Findings as dicts with unit/kind/count, from the documented shape or, failing that, anywhere."""
    if isinstance(doc, dict) and isinstance(doc.get("findings"), list):
        return [f for f in doc["findings"] if isinstance(f, dict)]
    found = []

    def walk(x):
        if isinstance(x, dict):
            if "unit" in x and "count" in x:
                found.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    return found


def _pick(findings, unit, kinds, aliases):
    mine = [f for f in findings if f.get("unit") == unit] or [f for f in findings if f.get("unit") in aliases]
    for k in kinds:
        for f in mine:
            if f.get("kind") == k:
                return f, mine
    return (mine[0] if mine else None), mine


def check_counts(stdout, expected):
    """Compare the scanner's counts for the three loops with meta.json's."""
    try:
        doc = json.loads(stdout.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        return [{"check": "JSON", "expected": None, "got": None, "kind": None,
                 "status": "NO-JSON", "note": "scanner output is not JSON: %s" % e}]
    findings = findings_of(doc)
    rows = []
    for name, key, unit, kinds, aliases in CHECKS:
        pick, mine = _pick(findings, unit, kinds, aliases)
        row = {"check": name, "unit": unit, "expected": expected.get(key), "got": None, "kind": None,
               "status": "MISSING",
               "other_findings": ["%s=%s" % (f.get("kind"), f.get("count")) for f in mine if f is not pick]}
        if pick is not None:
            row.update(got=pick.get("count"), kind=pick.get("kind"))
            row["status"] = "OK" if row["got"] == row["expected"] else "MISMATCH"
        rows.append(row)
    units = sorted(set(str(f.get("unit")) for f in findings) - set(c[2] for c in CHECKS))
    if units:
        rows.append({"check": "other findings", "expected": 0, "got": len(units), "kind": None,
                     "status": "NOTE", "note": ", ".join(units[:10])})
    return rows


def new_row(key, work, baseline, unit, target, rss_max=None):
    """unit: how `value` compares with `target`: 'x' (ratio), '%' (percent of the baseline), 's'."""
    return {"benchmark": key, "work": work, "baseline": baseline, "unit": unit, "target": target,
            "target_rss_mb": rss_max, "status": "ok", "seconds": None, "baseline_seconds": None,
            "value": None, "peak_rss_mb": None, "baseline_peak_rss_mb": None, "counts": [],
            "baseline_check": None, "command": None, "baseline_command": None, "runs": [],
            "baseline_runs": [], "stderr_tail": [], "verdict": None}


def verdict(row):
    """PASS or FAIL against the row's target; INFO for a row without one; ERROR when the scanner
    failed; NO DATA when the input is missing."""
    if row["status"] == "no data":
        return "NO DATA"
    if row["status"] != "ok":
        return "ERROR"
    if row["target"] is None:
        return "INFO"
    if row["value"] is None or row["value"] > row["target"]:
        return "FAIL"
    rss_max = row["target_rss_mb"]
    if rss_max is not None and (row["peak_rss_mb"] is None or row["peak_rss_mb"] > rss_max):
        return "FAIL"
    return "PASS"


def counts_status(row):
    """'ok' when the scanner's findings and the baseline's output match meta.json, 'MISMATCH' when
    one does not, '-' when there was nothing to check."""
    if row["baseline_check"] not in (None, "ok"):
        return "MISMATCH"
    if not row["counts"]:
        return "ok" if row["baseline_check"] == "ok" else "-"
    return "ok" if all(c["status"] in ("OK", "NOTE") for c in row["counts"]) else "MISMATCH"


def overall(rows):
    """Every row at or under its target (or information only) and no count off."""
    return bool(rows) and all(r["verdict"] in ("PASS", "INFO") and counts_status(r) != "MISMATCH" for r in rows)


def fmt_s(x):
    return "%.3f" % x if x is not None else "-"


def fmt_value(value, unit):
    if value is None:
        return "-"
    return {"x": "%.2fx", "%": "%.2f %%", "s": "%.3f s"}[unit] % value


def fmt_target(row):
    if row["target"] is None:
        return "(information)"
    text = "<= " + {"x": "%gx", "%": "%g %%", "s": "%g s"}[row["unit"]] % row["target"]
    if row["target_rss_mb"] is not None:
        text += ", RSS <= %g MB" % row["target_rss_mb"]
    return text


def table_cells(row):
    return [row["work"], row["baseline"], fmt_s(row["baseline_seconds"]), fmt_s(row["seconds"]),
            fmt_value(row["value"], row["unit"]), "-" if row["peak_rss_mb"] is None else "%s" % row["peak_rss_mb"],
            fmt_target(row), counts_status(row), row["verdict"]]


HEADER = ["work", "baseline", "base s", "unitaudit s", "measured", "RSS MB", "target", "counts", "verdict"]


def format_table(rows):
    """The table as text lines, columns as wide as their widest cell."""
    cells = [HEADER] + [table_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def format_markdown(rows):
    """The same table in Markdown, for bench/README.md."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in table_cells(r)) + " |")
    return out


def format_counts(rows):
    out = []
    for row in rows:
        if row["baseline_check"] not in (None, "ok"):
            out.append("  %-13s baseline: %s" % (row["benchmark"], row["baseline_check"]))
        for c in row["counts"]:
            extra = "  also: " + ", ".join(c["other_findings"]) if c.get("other_findings") else ""
            extra = "  " + c["note"] if c.get("note") else extra
            out.append("  %-13s %-26s expected %8s  got %8s  %-17s %s%s" % (
                row["benchmark"], c["check"], c["expected"], c["got"], c.get("kind") or "", c["status"], extra))
        if not row["counts"] and row["baseline_check"] is None:
            out.append("  %-13s (nothing to check: %s)" % (row["benchmark"], row["status"]))
    return out

