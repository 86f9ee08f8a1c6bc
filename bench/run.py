#!/usr/bin/env python3
"""Time unitaudit against grep and journalctl on the workload of bench/generate.py.

    python3 bench/run.py --data /tmp/unitaudit-bench [--repeat 3] [--json results.json]

Each command runs --repeat times; the table shows the best (lowest) wall time and the highest peak RSS
seen. Baselines and targets:

    syslog   grep -cE 'Activation via systemd failed|restart counter is at|Failed with result' syslog
             vs  unitaudit scan --syslog syslog --json
             target: <= 2.5 x grep, peak RSS <= 40 MB
    journal  journalctl --file journal/system.journal -o cat | wc -l
             vs  unitaudit scan --journal-file journal/system.journal --since START-1min --json
             target: <= 0.25 x journalctl
    journal  (when the workload has several journal files) journalctl -D journal -o cat | wc -l
    dir      vs  unitaudit scan --journal-dir journal --since START-1min --json
             target: <= 0.25 x journalctl

The scanner is $UNITAUDIT (split like a shell word list) if set, else `unitaudit` on PATH, else
`<this python> -m unitaudit` with the repository on PYTHONPATH. It exits 1 when it finds loops: that
is success here. Any other status, or no scanner at all, is reported with its stderr and does not stop
the baselines. The scanner's JSON counts for the three loops are checked against meta.json.

Exit status: 0 when every target passes and every count matches, 1 otherwise, 2 on a usage or data
error. Python 3.9+, stdlib only.
"""
import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GREP_PATTERN = "Activation via systemd failed|restart counter is at|Failed with result"

SYSLOG_RATIO_MAX = 2.5
SYSLOG_RSS_MAX_MB = 40.0
JOURNAL_RATIO_MAX = 0.25

# (check name, meta.json expected key, unit, preferred finding kinds, other units that may name it)
CHECKS = [
    ("avahi activation loop", "activation_failures", "dbus-org.freedesktop.Avahi.service",
     ("activation-loop",), ("org.freedesktop.Avahi", "avahi-daemon.service")),
    ("deepin restart loop", "restart_scheduled", "deepin-anything-monitor.service",
     ("restart-loop",), ()),
    ("logrotate failures", "logrotate_failures", "logrotate.service",
     ("repeated-failure", "timer-failure", "failure"), ()),
]

# Runs `argv[2:]` and writes the peak RSS (KiB) of everything it waited for into argv[1]: used when
# /usr/bin/time is missing. A fresh interpreter per run, so RUSAGE_CHILDREN sees only that command.
RUSAGE_WRAPPER = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)
"""


def die(msg):
    sys.stderr.write("run.py: %s\n" % msg)
    sys.exit(2)


def find_scanner():
    """The scanner command as a list, and how it was found."""
    env = os.environ.get("UNITAUDIT")
    if env:
        return shlex.split(env), {}, "$UNITAUDIT"
    path = shutil.which("unitaudit")
    if path:
        return [path], {}, "PATH"
    pp = os.environ.get("PYTHONPATH")
    extra = {"PYTHONPATH": REPO + (os.pathsep + pp if pp else "")}
    return [sys.executable, "-m", "unitaudit"], extra, "python -m unitaudit (PYTHONPATH=%s)" % REPO


def posix_tz(offset_hours):
    """A TZ value for a fixed UTC offset (POSIX inverts the sign): 8 -> 'UTC-8'."""
    minutes = int(round(offset_hours * 60))
    sign = "-" if minutes >= 0 else "+"
    minutes = abs(minutes)
    return "UTC%s%d:%02d" % (sign, minutes // 60, minutes % 60)


class Runner(object):
    def __init__(self, timeout):
        self.timeout = timeout
        self.gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
        self.rss_method = "/usr/bin/time -f %M" if self.gnu_time else "getrusage(RUSAGE_CHILDREN) in a fresh child"

    def once(self, argv, env=None):
        """One run: wall seconds, exit status, stdout, stderr, peak RSS in KiB (None if unknown)."""
        fd, rss_file = tempfile.mkstemp(prefix="unitaudit-bench-rss-")
        os.close(fd)
        try:
            if self.gnu_time:
                cmd = [self.gnu_time, "-f", "%M", "-o", rss_file] + list(argv)
            else:
                cmd = [sys.executable, "-c", RUSAGE_WRAPPER, rss_file] + list(argv)
            t0 = time.perf_counter()
            try:
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            except OSError as e:
                return {"seconds": None, "rc": None, "stdout": b"", "stderr": str(e).encode(), "rss_kb": None}
            try:
                out, err = p.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                err += b"\nrun.py: killed after %d s" % self.timeout
            seconds = time.perf_counter() - t0
            rss = None
            try:
                with open(rss_file) as f:
                    lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
                # GNU time puts "Command exited with non-zero status N" before the format
                if lines and lines[-1].isdigit():
                    rss = int(lines[-1])
            except OSError:
                pass
            return {"seconds": seconds, "rc": p.returncode, "stdout": out, "stderr": err, "rss_kb": rss}
        finally:
            try:
                os.unlink(rss_file)
            except OSError:
                pass

    def best_of(self, argv, repeat, ok=lambda r: r["rc"] == 0, env=None):
        runs = []
        for _ in range(repeat):
            r = self.once(argv, env)
            r["ok"] = ok(r)
            runs.append(r)
            if not r["ok"]:
                break  # an error will not get better by repeating it
        good = [r for r in runs if r["ok"]]
        res = {
            "argv": argv,
            "runs": [round(r["seconds"], 4) if r["seconds"] is not None else None for r in runs],
            "rc": runs[-1]["rc"],
            "ok": len(good) == len(runs),
            "seconds": min(r["seconds"] for r in good) if good else None,
            "peak_rss_mb": None,
            "stdout": (good[0] if good else runs[-1])["stdout"],
            "stderr": runs[-1]["stderr"],
        }
        rss = [r["rss_kb"] for r in good if r["rss_kb"] is not None]
        if rss:
            res["peak_rss_mb"] = round(max(rss) / 1024.0, 1)
        return res


def warm_cache(paths):
    """Read the inputs once so that the first timed run is not the only one from disk."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass


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


def check_counts(stdout, expected):
    """Compare the scanner's counts for the three loops with meta.json's."""
    rows = []
    try:
        doc = json.loads(stdout.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        return [{"check": "JSON", "expected": None, "got": None, "kind": None,
                 "status": "NO-JSON", "note": "scanner output is not JSON: %s" % e}]
    findings = findings_of(doc)
    for name, key, unit, kinds, aliases in CHECKS:
        want = expected.get(key)
        mine = [f for f in findings if f.get("unit") == unit]
        if not mine:
            mine = [f for f in findings if f.get("unit") in aliases]
        pick = None
        for k in kinds:
            for f in mine:
                if f.get("kind") == k:
                    pick = f
                    break
            if pick:
                break
        if pick is None and mine:
            pick = mine[0]
        row = {"check": name, "unit": unit, "expected": want, "got": None, "kind": None, "status": "MISSING",
               "other_findings": ["%s=%s" % (f.get("kind"), f.get("count")) for f in mine if f is not pick]}
        if pick is not None:
            row["got"] = pick.get("count")
            row["kind"] = pick.get("kind")
            row["status"] = "OK" if row["got"] == want else "MISMATCH"
        rows.append(row)
    units = sorted(set(str(f.get("unit")) for f in findings) - set(c[2] for c in CHECKS))
    if units:
        rows.append({"check": "other findings", "expected": 0, "got": len(units), "kind": None,
                     "status": "NOTE", "note": ", ".join(units[:10])})
    return rows


def scanner_ok(r):
    """Exit 0 (clean) or 1 (findings) with a JSON document on stdout. Python itself exits 1 on an
    uncaught exception (an ImportError, say), so the status alone proves nothing."""
    if r["rc"] not in (0, 1):
        return False
    try:
        json.loads(r["stdout"].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def version_of(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=30).stdout
        return out.strip().splitlines()[0] if out.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def fmt_s(x):
    return "%.3f" % x if x is not None else "-"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--data", required=True, help="directory written by bench/generate.py")
    ap.add_argument("--repeat", type=int, default=3, help="runs per command, best wall time wins (default 3)")
    ap.add_argument("--json", metavar="FILE", help="also write the results to FILE as JSON")
    ap.add_argument("--since", help="override the --since value given to the journal scans "
                                    "(default: workload start minus 1 minute, ISO with +00:00)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds before a run is killed (default 900)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        die("--repeat must be at least 1")

    data = os.path.abspath(args.data)
    try:
        with open(os.path.join(data, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        die("cannot read %s/meta.json (run bench/generate.py first): %s" % (data, e))
    syslog = os.path.join(data, "syslog")
    jdir = os.path.join(data, "journal")
    jfile = os.path.join(jdir, "system.journal")
    for p in (syslog, jfile):
        if not os.path.exists(p):
            die("missing %s" % p)
    jfiles = sorted(os.path.join(jdir, n) for n in os.listdir(jdir) if n.endswith(".journal"))
    expected_all = meta["expected"]
    expected_file = meta.get("expected_journal_file", expected_all)
    start = datetime.fromtimestamp(meta["start"]["epoch_us"] / 1e6, timezone.utc)
    since = args.since or (start - timedelta(minutes=1)).replace(microsecond=0).isoformat()

    runner = Runner(args.timeout)
    scanner, scanner_env, found_by = find_scanner()
    env = dict(os.environ)
    env.update(scanner_env)
    # syslog text carries local time without zone: give the scanner the workload machine's offset
    env["TZ"] = posix_tz(meta.get("utc_offset_hours", 0))
    jc = shutil.which("journalctl") or "journalctl"

    print("unitaudit benchmark: %s" % data)
    print("  workload: %d entries, %s .. %s; syslog %.1f MB, journal %d file(s) %.1f MB"
          % (meta["entries"], meta["start"]["utc"], meta["end"]["utc"], os.path.getsize(syslog) / 1e6,
             len(jfiles), sum(os.path.getsize(p) for p in jfiles) / 1e6))
    print("  scanner: %s  [%s]" % (" ".join(scanner), found_by))
    print("  repeat %d, best wall time; peak RSS via %s; TZ=%s for the scanner; --since %s"
          % (args.repeat, runner.rss_method, env["TZ"], since))
    sys.stdout.flush()

    warm_cache([syslog] + jfiles)

    results = {"data": data, "repeat": args.repeat, "since": since, "scanner": scanner,
               "scanner_found_by": found_by, "rss_method": runner.rss_method,
               "machine": {"nproc": os.cpu_count(), "platform": platform.platform(),
                           "python": sys.version.split()[0], "grep": version_of(["grep", "--version"]),
                           "journalctl": version_of([jc, "--version"]),
                           "locale": os.environ.get("LC_ALL") or os.environ.get("LANG") or ""},
               "meta_expected": expected_all, "meta_expected_journal_file": expected_file,
               "benchmarks": []}

    def baseline(name, argv_, check_out=None):
        r = runner.best_of(argv_, args.repeat)
        got = r["stdout"].decode("utf-8", "replace").strip()
        note = ""
        if check_out is not None and got != str(check_out):
            note = "output %s, expected %s" % (got, check_out)
        if not r["ok"]:
            note = "exit %s: %s" % (r["rc"], r["stderr"].decode("utf-8", "replace").strip()[-300:])
        print("  %-34s %8s s  (runs %s) -> %s %s" % (name, fmt_s(r["seconds"]), r["runs"], got, note))
        sys.stdout.flush()
        return r, got, note

    def scanner_run(name, extra_args, expected):
        argv_ = scanner + extra_args
        r = runner.best_of(argv_, args.repeat, ok=scanner_ok, env=env)
        err = r["stderr"].decode("utf-8", "replace").strip()
        status = "ok"
        if not r["ok"]:
            status = "ERROR exit %s" % r["rc"]
            if r["rc"] in (0, 1):
                status += ", no JSON on stdout"
            print("  %-34s ERROR: exit status %s%s" % (name, r["rc"], "" if r["rc"] not in (0, 1)
                                                        else " without a JSON document on stdout"))
            for line in err.splitlines()[-8:]:
                print("      | %s" % line)
        else:
            print("  %-34s %8s s  (runs %s) exit %s, peak RSS %s MB"
                  % (name, fmt_s(r["seconds"]), r["runs"], r["rc"], r["peak_rss_mb"]))
            if r["rc"] == 0:
                status = "no findings (exit 0)"
        sys.stdout.flush()
        counts = check_counts(r["stdout"], expected) if r["ok"] else []
        return r, status, counts, err

    print("\nbaselines")
    grep_r, grep_out, grep_note = baseline("grep -cE ... syslog", ["grep", "-cE", GREP_PATTERN, syslog],
                                           expected_all.get("grep_count"))
    jcf_r, jcf_out, jcf_note = baseline(
        "journalctl --file system.journal", ["bash", "-c", "%s --file %s -o cat | wc -l" % (shlex.quote(jc), shlex.quote(jfile))],
        expected_file.get("entries"))
    multi = len(jfiles) > 1
    if multi:
        jcd_r, jcd_out, jcd_note = baseline(
            "journalctl -D journal", ["bash", "-c", "%s -D %s -o cat | wc -l" % (shlex.quote(jc), shlex.quote(jdir))],
            expected_all.get("entries"))

    print("\nunitaudit")
    plan = [
        ("syslog", "unitaudit scan --syslog", ["scan", "--syslog", syslog, "--json"], expected_all, grep_r,
         "grep", SYSLOG_RATIO_MAX, SYSLOG_RSS_MAX_MB),
        ("journal-file", "unitaudit scan --journal-file", ["scan", "--journal-file", jfile, "--since", since, "--json"],
         expected_file, jcf_r, "journalctl --file", JOURNAL_RATIO_MAX, None),
    ]
    if multi:
        plan.append(("journal-dir", "unitaudit scan --journal-dir", ["scan", "--journal-dir", jdir, "--since", since,
                                                                     "--json"],
                     expected_all, jcd_r, "journalctl -D", JOURNAL_RATIO_MAX, None))
    all_pass = grep_r["ok"] and jcf_r["ok"] and not grep_note and not jcf_note
    rows = []
    for key, name, extra, expected, base, base_name, ratio_max, rss_max in plan:
        r, status, counts, err = scanner_run(name, extra, expected)
        ratio = None
        if r["ok"] and r["seconds"] is not None and base["seconds"]:
            ratio = r["seconds"] / base["seconds"]
        verdict = "FAIL"
        if ratio is not None and ratio <= ratio_max and (rss_max is None or (r["peak_rss_mb"] is not None
                                                                             and r["peak_rss_mb"] <= rss_max)):
            verdict = "PASS"
        if not r["ok"]:
            verdict = "ERROR"
        counts_ok = bool(counts) and all(c["status"] in ("OK", "NOTE") for c in counts)
        all_pass = all_pass and verdict == "PASS" and counts_ok
        rows.append({
            "benchmark": key, "command": r["argv"], "runs": r["runs"], "exit_status": r["rc"], "status": status,
            "seconds": r["seconds"], "peak_rss_mb": r["peak_rss_mb"], "baseline": base_name,
            "baseline_seconds": base["seconds"], "baseline_peak_rss_mb": base["peak_rss_mb"], "ratio": ratio,
            "target_ratio": ratio_max, "target_rss_mb": rss_max, "verdict": verdict, "counts": counts,
            "stderr_tail": err.splitlines()[-8:],
        })

    # the table
    print("\nresults (best of %d; ratio = unitaudit / baseline)" % args.repeat)
    hdr = "%-14s %-18s %9s %9s %8s %9s %10s  %-28s %s" % ("benchmark", "baseline", "base s", "unitaudit s",
                                                        "ratio", "RSS MB", "base RSS", "target", "verdict")
    print(hdr)
    print("-" * len(hdr))
    for row in rows:
        target = "<= %.2fx" % row["target_ratio"]
        if row["target_rss_mb"]:
            target += ", RSS <= %d MB" % row["target_rss_mb"]
        print("%-14s %-18s %9s %9s %8s %9s %10s  %-28s %s" % (
            row["benchmark"], row["baseline"], fmt_s(row["baseline_seconds"]), fmt_s(row["seconds"]),
            "%.2fx" % row["ratio"] if row["ratio"] is not None else "-",
            row["peak_rss_mb"] if row["peak_rss_mb"] is not None else "-",
            row["baseline_peak_rss_mb"] if row["baseline_peak_rss_mb"] is not None else "-", target,
            row["verdict"] if row["verdict"] != "ERROR" else "ERROR (exit %s)" % row["exit_status"]))
    print("\ncounts (scanner JSON vs meta.json)")
    for row in rows:
        if not row["counts"]:
            print("  %-13s (no JSON to check: %s)" % (row["benchmark"], row["status"]))
            continue
        for c in row["counts"]:
            extra = ""
            if c.get("other_findings"):
                extra = "  also: " + ", ".join(c["other_findings"])
            if c.get("note"):
                extra = "  " + c["note"]
            print("  %-13s %-22s expected %8s  got %8s  %-17s %s%s" % (
                row["benchmark"], c["check"], c["expected"], c["got"], c["kind"] or "", c["status"], extra))
    if grep_note or jcf_note:
        print("\nbaseline output differs from meta.json: %s %s" % (grep_note, jcf_note))
    results["baselines"] = {
        "grep": {"seconds": grep_r["seconds"], "runs": grep_r["runs"], "output": grep_out,
                 "peak_rss_mb": grep_r["peak_rss_mb"], "command": grep_r["argv"]},
        "journalctl_file": {"seconds": jcf_r["seconds"], "runs": jcf_r["runs"], "output": jcf_out,
                            "peak_rss_mb": jcf_r["peak_rss_mb"], "command": jcf_r["argv"]},
    }
    if multi:
        results["baselines"]["journalctl_dir"] = {"seconds": jcd_r["seconds"], "runs": jcd_r["runs"],
                                                  "output": jcd_out, "peak_rss_mb": jcd_r["peak_rss_mb"],
                                                  "command": jcd_r["argv"]}
    results["benchmarks"] = rows
    results["all_pass"] = all_pass
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        print("\nresults written to %s" % args.json)
    print("\noverall: %s" % ("PASS" if all_pass else "FAIL"))
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
