"""How each row of bench/run.py is measured: the scanner and its own Python, the commands and their
baselines, the runner (best of --repeat under /usr/bin/time -f %M, else getrusage in a fresh child;
paired runs for --help) and the in-process incremental measure (bench/incremental.py).  `Bench` puts
the figures into the rows of bench/table.py and prints a line per command as it goes.
Python 3.7+, stdlib only.
"""
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

from bench.table import HELP_SECONDS_MAX, INCREMENTAL_PERCENT_MAX, TEXT_RSS_MAX_MB, check_counts, fmt_s, new_row

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GREP_PATTERN = "Activation via systemd failed|restart counter is at|Failed with result"

# Runs `argv[2:]` and writes the peak RSS (KiB) of everything it waited for into argv[1]: used when
# /usr/bin/time is missing. A fresh interpreter per run, so RUSAGE_CHILDREN sees only that command.
RUSAGE_WRAPPER = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)
"""


def find_scanner():
    """The scanner command as a list, the environment it needs, and how it was found."""
    env = os.environ.get("UNITAUDIT")
    if env:
        return shlex.split(env), {}, "$UNITAUDIT"
    path = shutil.which("unitaudit")
    if path:
        return [path], {}, "PATH"
    pp = os.environ.get("PYTHONPATH")
    extra = {"PYTHONPATH": REPO + (os.pathsep + pp if pp else "")}
    return [sys.executable, "-m", "unitaudit"], extra, "python -m unitaudit (PYTHONPATH=%s)" % REPO


def shebang(path):
    """The interpreter a script's #! line names, as a list, or None for anything else."""
    try:
        with open(path, "rb") as f:
            first = f.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    return first[2:].decode("utf-8", "replace").split() or None


def scanner_python(scanner):
    """(the Python that runs the scanner's code, directories its launcher puts first on sys.path).
    `PY -m unitaudit` -> PY; a launcher -> its #! interpreter, with ../share/unitaudit/lib beside it
    when that exists (the package's layout, as packaging/debian/launcher finds it); else this Python."""
    if len(scanner) >= 3 and scanner[-2:] == ["-m", "unitaudit"]:
        return list(scanner[:-2]), []
    real = os.path.realpath(shutil.which(scanner[0]) or scanner[0])
    interp = shebang(real)
    if interp is None:
        return [sys.executable], [REPO]
    lib = os.path.normpath(os.path.join(os.path.dirname(real), os.pardir, "share", "unitaudit", "lib"))
    return interp, [lib] if os.path.isdir(lib) else []


def posix_tz(offset_hours):
    """A TZ value for a fixed UTC offset (POSIX inverts the sign): 8 -> 'UTC-8:00'."""
    minutes = int(round(offset_hours * 60))
    sign = "-" if minutes >= 0 else "+"
    minutes = abs(minutes)
    return "UTC%s%d:%02d" % (sign, minutes // 60, minutes % 60)


def _read_rss(rss_file):
    try:
        with open(rss_file) as f:
            lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return None
    # GNU time puts "Command exited with non-zero status N" before the format
    return int(lines[-1]) if lines and lines[-1].isdigit() else None


class Runner(object):
    def __init__(self, timeout):
        self.timeout = timeout
        self.gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
        self.rss_method = "/usr/bin/time -f %M" if self.gnu_time else "getrusage(RUSAGE_CHILDREN) in a fresh child"

    def once(self, argv, env=None, rss=True):
        """One run: wall seconds, exit status, stdout, stderr, peak RSS in KiB (None if unknown or not
        asked: rss=False runs the command bare, for start-up times where a wrapper's own start counts)."""
        fd, rss_file = tempfile.mkstemp(prefix="unitaudit-bench-rss-")
        os.close(fd)
        try:
            cmd = list(argv)
            if rss:
                cmd = ([self.gnu_time, "-f", "%M", "-o", rss_file] if self.gnu_time
                       else [sys.executable, "-c", RUSAGE_WRAPPER, rss_file]) + cmd
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
            return {"seconds": seconds, "rc": p.returncode, "stdout": out, "stderr": err,
                    "rss_kb": _read_rss(rss_file) if rss else None}
        finally:
            os.unlink(rss_file)

    def best_of(self, argv, repeat, ok=lambda r: r["rc"] == 0, env=None):
        runs = []
        for _ in range(repeat):
            r = self.once(argv, env)
            r["ok"] = ok(r)
            runs.append(r)
            if not r["ok"]:
                break  # an error will not get better by repeating it
        return summarize(argv, runs)

    def paired(self, argv, base_argv, n, env=None):
        """`argv` and `base_argv` in turn, n times each after one run of each not counted (the first
        run of a command reads its files from disk): (summary of argv, summary of base_argv)."""
        a_runs, b_runs = [], []
        for i in range(n + 1):
            b = self.once(base_argv, env, rss=False)
            a = self.once(argv, env, rss=False)
            if i:
                a_runs.append(a)
                b_runs.append(b)
        for r in a_runs + b_runs:
            r["ok"] = r["rc"] == 0
        return summarize(argv, a_runs), summarize(base_argv, b_runs)


def summarize(argv, runs):
    """Best and median wall time and highest peak RSS of the runs, if every run was good."""
    good = [r for r in runs if r["ok"]]
    secs = [r["seconds"] for r in good]
    rss = [r["rss_kb"] for r in good if r["rss_kb"] is not None]
    return {
        "argv": argv, "runs": [round(r["seconds"], 4) if r["seconds"] is not None else None for r in runs],
        "rc": runs[-1]["rc"], "ok": bool(runs) and len(good) == len(runs),
        "seconds": min(secs) if secs else None, "median": statistics.median(secs) if secs else None,
        "peak_rss_mb": round(max(rss) / 1024.0, 1) if rss else None,
        "stdout": (good[0] if good else runs[-1])["stdout"], "stderr": runs[-1]["stderr"],
    }


def warm_cache(paths):
    """Read the inputs once so that the first timed run is not the only one from disk."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass


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


class Bench(object):
    """The workload, the scanner and the runner, and one method per kind of row."""

    def __init__(self, data, meta, args):
        self.data, self.meta, self.repeat = data, meta, args.repeat
        self.startup_repeat = args.startup_repeat
        self.runner = Runner(args.timeout)
        self.scanner, scanner_env, self.found_by = find_scanner()
        self.env = dict(os.environ)
        self.env.update(scanner_env)
        # syslog text carries local time without zone: give the scanner the workload machine's offset
        self.env["TZ"] = posix_tz(meta.get("utc_offset_hours", 0))
        start = datetime.fromtimestamp(meta["start"]["epoch_us"] / 1e6, timezone.utc)
        self.since = args.since or (start - timedelta(minutes=1)).replace(microsecond=0).isoformat()
        self.jc = shutil.which("journalctl") or "journalctl"
        self.jdir = os.path.join(data, "journal")
        self.jfiles = sorted(os.path.join(self.jdir, n) for n in os.listdir(self.jdir) if n.endswith(".journal"))

    def baseline(self, row, argv, expected_output):
        """Time a baseline into the row; its output must be the count meta.json gives."""
        r = self.runner.best_of(argv, self.repeat)
        got = r["stdout"].decode("utf-8", "replace").strip()
        row.update(baseline_seconds=r["seconds"], baseline_peak_rss_mb=r["peak_rss_mb"], baseline_command=argv,
                   baseline_runs=r["runs"], baseline_output=got, baseline_check="ok")
        if not r["ok"]:
            row["baseline_check"] = "exit %s: %s" % (r["rc"], r["stderr"].decode("utf-8", "replace").strip()[-300:])
        elif expected_output is not None and got != str(expected_output):
            row["baseline_check"] = "output %s, expected %s" % (got, expected_output)
        print("  %-13s baseline %8s s  (runs %s) -> %s  %s" % (row["benchmark"], fmt_s(r["seconds"]), r["runs"], got,
                                                              row["baseline_check"]))
        sys.stdout.flush()

    def scan(self, row, extra_args, expected):
        """Time `unitaudit EXTRA_ARGS` into the row and check its findings; the ratio to the baseline."""
        r = self.runner.best_of(self.scanner + extra_args, self.repeat, ok=scanner_ok, env=self.env)
        err = r["stderr"].decode("utf-8", "replace").strip()
        row.update(command=r["argv"], runs=r["runs"], exit_status=r["rc"], seconds=r["seconds"],
                   peak_rss_mb=r["peak_rss_mb"], stderr_tail=err.splitlines()[-8:])
        if not r["ok"]:
            row["status"] = "error: exit %s%s" % (r["rc"], ", no JSON on stdout" if r["rc"] in (0, 1) else "")
            print("  %-13s unitaudit ERROR: %s" % (row["benchmark"], row["status"]))
            for line in row["stderr_tail"]:
                print("      | %s" % line)
            return
        row["counts"] = check_counts(r["stdout"], expected)
        if row["baseline_seconds"]:
            row["value"] = r["seconds"] / row["baseline_seconds"]
        print("  %-13s unitaudit %7s s  (runs %s) exit %s, peak RSS %s MB" % (
            row["benchmark"], fmt_s(r["seconds"]), r["runs"], r["rc"], r["peak_rss_mb"]))
        sys.stdout.flush()

    def text_row(self, key, work, name, target):
        row = new_row(key, work, "grep -cE (3 patterns)", "x", target, TEXT_RSS_MAX_MB)
        path = os.path.join(self.data, name)
        if not os.path.exists(path):
            row["status"] = "no data"
            print("  %-13s no data: %s is missing (bench/generate.py writes it)" % (key, path))
            return row
        warm_cache([path])
        expected = self.meta["expected"]
        self.baseline(row, ["grep", "-cE", GREP_PATTERN, path], expected.get("grep_count"))
        self.scan(row, ["scan", "--syslog", path, "--json"], expected)
        return row

    def journal_row(self, key, work, target, option, path, expected):
        what = "-D" if option == "--journal-dir" else "--file"
        row = new_row(key, work, "journalctl %s -o cat | wc -l" % what, "x", target)
        warm_cache(self.jfiles)
        cmd = "%s %s %s -o cat | wc -l" % (shlex.quote(self.jc), what, shlex.quote(path))
        self.baseline(row, ["bash", "-c", cmd], expected.get("entries"))
        self.scan(row, ["scan", option, path, "--since", self.since, "--json"], expected)
        return row

    def incremental_row(self):
        # bench.incremental imports bench.run (Runner, find_scanner), which imports this module: imported
        # here, when the row runs, so that neither import finds the other half done
        from bench import incremental
        row = new_row("incremental", "hourly incremental run, in process", "full read, in process", "%",
                      INCREMENTAL_PERCENT_MAX)
        try:
            m = incremental.in_process(self.runner, self.scanner, self.env, self.data, self.meta, self.repeat)
        except incremental.MeasureError as e:
            row["status"] = "error: %s" % e
            row["stderr_tail"] = str(e).splitlines()[-8:]
            print("  %-13s ERROR: %s" % ("incremental", e))
            return row
        row.update(seconds=m["incremental_seconds"], baseline_seconds=m["full_seconds"], value=m["percent"],
                   command=m["python"], counts=m["counts"], in_process=m)
        print("  %-13s full %.3f s, last hour %.4f s (%d of %d entries) -> %.2f %%" % (
            "incremental", m["full_seconds"], m["incremental_seconds"], m["entries_incremental"],
            m["entries_full"], m["percent"]))
        return row

    def help_row(self):
        python, _path = scanner_python(self.scanner)
        row = new_row("help", "`unitaudit --help` (median of %d)" % self.startup_repeat,
                      "%s -c pass" % " ".join(python), "s", HELP_SECONDS_MAX)
        a, b = self.runner.paired(self.scanner + ["--help"], python + ["-c", "pass"], self.startup_repeat, self.env)
        row.update(command=a["argv"], runs=a["runs"], baseline_command=b["argv"], baseline_runs=b["runs"],
                   seconds=a["median"], baseline_seconds=b["median"], value=a["median"], best=a["seconds"],
                   baseline_best=b["seconds"], baseline_check="ok" if b["ok"] else "exit %s" % b["rc"])
        if not a["ok"] or b"usage" not in a["stdout"].lower():
            row["status"] = "error: exit %s" % a["rc"]
            row["stderr_tail"] = a["stderr"].decode("utf-8", "replace").splitlines()[-8:]
        print("  %-13s --help median %s s (best %s), python -c pass median %s s (best %s)" % (
            "help", fmt_s(a["median"]), fmt_s(a["seconds"]), fmt_s(b["median"]), fmt_s(b["seconds"])))
        return row
