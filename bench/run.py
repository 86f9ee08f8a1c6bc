#!/usr/bin/env python3
"""Issue 19's table: unitaudit against grep, journalctl and Python's own start, on the workload of
bench/generate.py, every ratio against a baseline timed in the same run.

    python3 -m bench.run --data /tmp/unitaudit-bench [--repeat 3] [--json FILE] [--markdown FILE]

    row          unitaudit                                   baseline                         target
    syslog       scan --syslog syslog --json                 grep -cE '3 patterns' syslog     <= 4.0x, RSS <= 48 MB
    rfc3339      scan --syslog syslog-rfc3339 --json         grep -cE ... syslog-rfc3339      <= 4.5x, RSS <= 48 MB
    journal-dir  scan --journal-dir journal --since S --json journalctl -D journal -o cat|wc  <= 0.30x
    journal-file scan --journal-file system.journal ...      journalctl --file ... -o cat|wc  information
    incremental  the last hour read in process (bench/incremental.py), as % of the full read  <= 3 %
    help         unitaudit --help, median of --startup-repeat    python3 -c pass (its Python) <= 0.08 s

S is meta.json's start minus one minute.  Timed rows run --repeat times: best wall time, highest peak
RSS (/usr/bin/time -f %M, else getrusage in a fresh child).  `help` is absolute: the median of
--startup-repeat runs, each paired with a run of the baseline, after one run of each not counted.
A missing syslog-rfc3339 makes its row NO DATA (a failure).  Every scan's findings are checked against
meta.json and every baseline's output against its entry or line count.

The scanner is $UNITAUDIT (split like a shell word list), else `unitaudit` on PATH, else
`<this python> -m unitaudit` with the repository on PYTHONPATH.  It exits 1 when it finds loops: that
is success here.  The in-process measure runs under the scanner's own Python (a launcher's #! line,
with its ../share/unitaudit/lib first on sys.path), so this file needs only the standard library.

Exit status: 0 when every target passes and every count matches, 1 otherwise, 2 on a usage or data
error.  Python 3.7+, stdlib only.
"""
import argparse
import json
import os
import platform
import subprocess
import sys

from bench.rows import REPO, Bench, Runner, find_scanner, scanner_python
from bench.table import (JOURNAL_RATIO_MAX, RFC3339_RATIO_MAX, SYSLOG_RATIO_MAX, check_counts, counts_status,
                         fmt_s, format_counts, format_markdown, format_table, new_row, overall, verdict)

# The rows are measured in bench/rows.py and judged and drawn in bench/table.py.  bench/incremental.py,
# scale.py, fleet_measure.py and tests/test_bench_scale.py import some of their names from here, as
# they did before the split: __all__ keeps those names part of this module's interface.
__all__ = ["REPO", "ROWS", "Bench", "Runner", "check_counts", "counts_status", "die", "find_scanner", "fmt_s",
           "load_meta", "machine", "main", "measure", "new_row", "scanner_python"]

ROWS = ("syslog", "rfc3339", "journal-dir", "journal-file", "incremental", "help")


def die(msg):
    sys.stderr.write("run.py: %s\n" % msg)
    sys.exit(2)


def version_of(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=30).stdout
        return out.strip().splitlines()[0] if out.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def millions(meta):
    n = meta.get("entries") or 0
    return "%gM" % round(n / 1e6, 2) if n >= 100000 else "{:,}".format(n)


def measure(bench, which):
    """The rows named in `which`, in that order, each measured and given its verdict."""
    meta = bench.meta
    expected = meta["expected"]
    plan = {
        "syslog": lambda: bench.text_row("syslog", "text, rsyslog traditional, %s lines" % millions(meta),
                                         "syslog", SYSLOG_RATIO_MAX),
        "rfc3339": lambda: bench.text_row("rfc3339", "text, RFC 3339 lines, %s lines" % millions(meta),
                                          "syslog-rfc3339", RFC3339_RATIO_MAX),
        "journal-dir": lambda: bench.journal_row(
            "journal-dir", "journal directory, %s entries" % millions(meta), JOURNAL_RATIO_MAX,
            "--journal-dir", bench.jdir, expected),
        "journal-file": lambda: bench.journal_row(
            "journal-file", "journal file, %s entries" % millions(meta.get("expected_journal_file", {})),
            None, "--journal-file", os.path.join(bench.jdir, "system.journal"),
            meta.get("expected_journal_file", expected)),
        "incremental": bench.incremental_row,
        "help": bench.help_row,
    }
    out = []
    for key in which:
        row = plan[key]()
        row["verdict"] = verdict(row)
        out.append(row)
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--data", required=True, help="directory written by bench/generate.py")
    ap.add_argument("--repeat", type=int, default=3, help="runs per command, best wall time wins (default 3)")
    ap.add_argument("--startup-repeat", type=int, default=20,
                    help="runs of `--help` and of its baseline, the median counts (default 20)")
    ap.add_argument("--rows", default=",".join(ROWS), help="rows to run, comma-separated (default: all: %s)"
                    % ",".join(ROWS))
    ap.add_argument("--json", metavar="FILE", help="also write every row to FILE as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table to FILE as Markdown")
    ap.add_argument("--since", help="override the --since value given to the journal scans "
                                    "(default: workload start minus 1 minute, ISO with +00:00)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds before a run is killed (default 900)")
    args = ap.parse_args(argv)
    args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    if args.repeat < 1 or args.startup_repeat < 1:
        die("--repeat and --startup-repeat must be at least 1")
    unknown = sorted(set(args.rows) - set(ROWS))
    if unknown:
        die("unknown row(s) %s: choose from %s" % (", ".join(unknown), ", ".join(ROWS)))
    return args


def load_meta(data):
    try:
        with open(os.path.join(data, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        die("cannot read %s/meta.json (run bench/generate.py first): %s" % (data, e))
    for p in ("syslog", "journal/system.journal"):
        if not os.path.exists(os.path.join(data, p)):
            die("missing %s/%s" % (data, p))
    return meta


def machine(jc):
    return {"nproc": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
            "grep": version_of(["grep", "--version"]), "journalctl": version_of([jc, "--version"]),
            "locale": os.environ.get("LC_ALL") or os.environ.get("LANG") or ""}


def report(bench, args, rows):
    print("\nresults (timed rows: best of %d; measured = unitaudit / baseline, or as the target says)" % args.repeat)
    for line in format_table(rows):
        print(line)
    print("\ncounts (scanner JSON vs meta.json; baselines' output vs meta.json)")
    for line in format_counts(rows):
        print(line)
    ok = overall(rows)
    results = {"data": bench.data, "repeat": args.repeat, "startup_repeat": args.startup_repeat,
               "since": bench.since, "scanner": bench.scanner, "scanner_found_by": bench.found_by,
               "rss_method": bench.runner.rss_method, "machine": machine(bench.jc),
               "meta_expected": bench.meta["expected"], "rows": rows, "all_pass": ok}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)
            f.write("\n")
        print("\nresults written to %s" % args.json)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(format_markdown(rows)) + "\n")
        print("table written to %s" % args.markdown)
    print("\noverall: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def main(argv=None):
    args = parse_args(argv)
    data = os.path.abspath(args.data)
    meta = load_meta(data)
    bench = Bench(data, meta, args)
    print("unitaudit benchmark: %s" % data)
    print("  workload: %d entries, %s .. %s; syslog %.1f MB, journal %d file(s) %.1f MB" % (
        meta["entries"], meta["start"]["utc"], meta["end"]["utc"], os.path.getsize(os.path.join(data, "syslog")) / 1e6,
        len(bench.jfiles), sum(os.path.getsize(p) for p in bench.jfiles) / 1e6))
    print("  scanner: %s  [%s]; its Python: %s" % (" ".join(bench.scanner), bench.found_by,
                                                  " ".join(scanner_python(bench.scanner)[0])))
    print("  repeat %d, best wall time; peak RSS via %s; TZ=%s for the scanner; --since %s\n" % (
        args.repeat, bench.runner.rss_method, bench.env["TZ"], bench.since))
    sys.stdout.flush()
    return report(bench, args, measure(bench, args.rows))


if __name__ == "__main__":
    sys.exit(main())
