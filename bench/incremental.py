#!/usr/bin/env python3
"""What an hourly incremental run costs against a full scan, on the workload of bench/generate.py.

    python3 -m bench.incremental --data /tmp/unitaudit-bench [--repeat 5]      # from the checkout's top

1. full         unitaudit scan --journal-dir journal --json                   (every entry, 7 days)
2. (set-up)     unitaudit scan --incremental --journal-dir journal --until END-1h   (records the cursor)
3. incremental  unitaudit scan --incremental --journal-dir journal --json     (the last hour only)

Step 3 runs --repeat times, each from a copy of the state step 2 left, so every repetition reads
the same hour.  Reported: best wall times, their ratio, the incremental run's peak RSS, and the
journal entries each read (from the JSON).  The wall time includes starting Python and importing
unitaudit, which no amount of reading less can remove: `startup` (`unitaudit --version`) is reported
beside it, and the ratio without it, and `in_process`: both reads timed inside one Python process
(issue 19's row, target <= 3 %; bench/run.py calls `in_process` for it).  That process is the
scanner's own Python (bench.run.scanner_python: a launcher's #! interpreter with its carried
libraries first on sys.path), so this file needs only the standard library.

Exit status 0 when the counts add up (the set-up and the incremental run together found the evidence
the full scan found, event for event), 1 otherwise, 2 on a usage or data error.  Python 3.7+, stdlib only.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

from bench.run import Runner, die, find_scanner, scanner_python

TARGET_PERCENT = 3.0
# The same two reads in one process, imports done: the work an hourly run does, without the
# interpreter's start.  Best of REPEAT; the state is restored before each incremental read.
# argv: sys.path dirs (JSON), journal, work dir, saved state, repeat.
IN_PROCESS = r"""
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
import os, shutil, time
from unitaudit.model import Thresholds
from unitaudit.hourly.history import HistoryStore
from unitaudit.hourly.incremental import IncrementalRequest, run_incremental
from unitaudit.services.scan import scan
from unitaudit.sources.journal import JournalSource
journal, work, saved, repeat = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
full, inc = [], []
for _ in range(repeat):
    t = time.perf_counter()
    result = scan([JournalSource(directory=journal)], Thresholds(), now=time.time())
    full.append(time.perf_counter() - t)
    state = os.path.join(work, "state-in-process")
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(saved, state)
    t = time.perf_counter()
    store = HistoryStore(state)
    _res, info = run_incremental(IncrementalRequest(thresholds=Thresholds(), now=time.time(), window=1e12,
                                                    retention=1e12, journal_dir=journal), store=store)
    inc.append(time.perf_counter() - t)
    store.close()
def journal_counts(sources):
    return [dict(s.counts) for s in sources if s.kind == "journal"]
full_counts, inc_counts = journal_counts(result.sources), journal_counts(_res.sources)
full.sort()
inc.sort()
print(json.dumps({"full": full[0], "incremental": inc[0], "full_median": full[len(full) // 2],
                  "incremental_median": inc[len(inc) // 2],
                  "entries_full": sum(c.get("entries", 0) for c in full_counts),
                  "events_full": sum(c.get("events", 0) for c in full_counts),
                  "entries_incremental": info.entries, "events_incremental": sum(c.get("events", 0) for c in inc_counts),
                  "python": sys.version.split()[0],
                  "unitaudit": os.path.dirname(os.path.dirname(sys.modules["unitaudit"].__file__))}))
"""


class MeasureError(Exception):
    """A step of the measure failed: the message says which, with the end of its stderr."""


def journal_entries(stdout, count="entries"):
    """Journal entries a scan read (or another of its journal counts: "events"), from its JSON."""
    doc = json.loads(stdout)
    return sum(s.get(count, 0) for s in doc["sources"] if s["kind"] == "journal")


def events_check(expected, setup, last_hour):
    """The check the counts must pass: the evidence (events) of the set-up and of the last hour
    together are the full read's, exactly.  Entries read do not add up, and are not checked: a
    long read may take a pass text by text (sources/journal/texts.py: only the evidence entries
    of that pass are read) where the hour reads every entry the pass's matches select."""
    got = setup + last_hour
    return {"check": "set-up + last hour = full", "expected": expected, "got": got, "kind": "events",
            "status": "OK" if got == expected else "MISMATCH"}


def found(r):
    return r["rc"] in (0, 1)  # 1 means findings


def _tail(r):
    return r["stderr"].decode("utf-8", "replace").strip()[-1500:]


def prepare(runner, scanner, env, data, meta):
    """A work directory with a config, and the state a run up to END-1h leaves (the set-up run):
    (work, env for the scanner, saved state, the set-up's result)."""
    work = tempfile.mkdtemp(prefix="unitaudit-bench-inc-")
    config = os.path.join(work, "unitaudit.toml")
    with open(config, "w") as f:
        f.write('[scan]\nwindow = "36500d"\n')  # the workload is from 2024: a first run must reach it
    env = dict(env, UNITAUDIT_CONFIG=config, UNITAUDIT_STATE_DIR=os.path.join(work, "state"))
    journal = os.path.join(data, "journal")
    setup = runner.once(scanner + ["scan", "--incremental", "--journal-dir", journal, "--until",
                                   "@%f" % (meta["end"]["epoch"] - 3600), "--json"], env=env)
    if not found(setup):
        shutil.rmtree(work, ignore_errors=True)
        raise MeasureError("the set-up run failed (exit %s): %s" % (setup["rc"], _tail(setup)))
    saved = os.path.join(work, "state-after-setup")
    shutil.copytree(os.path.join(work, "state"), saved)
    return work, env, saved, setup


def in_process(runner, scanner, env, data, meta, repeat):
    """Issue 19's row: the last hour read in process as a percentage of the full read in process,
    best of `repeat` each, under the scanner's Python.  The counts: the set-up's entries plus the
    last hour's must be the full read's (events_check); medians of `repeat` beside."""
    work, env, saved, setup = prepare(runner, scanner, env, data, meta)
    try:
        python, path = scanner_python(scanner)
        child = runner.once(python + ["-c", IN_PROCESS, json.dumps(path), os.path.join(data, "journal"), work, saved,
                                      str(repeat)], env=env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if child["rc"] != 0:
        raise MeasureError("the in-process timing failed (exit %s): %s" % (child["rc"], _tail(child)))
    m = json.loads(child["stdout"].decode("utf-8"))
    n_setup = journal_entries(setup["stdout"])
    return {"full_seconds": m["full"], "incremental_seconds": m["incremental"],
            "percent": 100.0 * m["incremental"] / m["full"], "full_median_seconds": m["full_median"],
            "incremental_median_seconds": m["incremental_median"],
            "percent_of_medians": 100.0 * m["incremental_median"] / m["full_median"], "entries_full": m["entries_full"],
            "entries_setup": n_setup, "entries_incremental": m["entries_incremental"],
            "python": python, "sys_path_first": path, "python_version": m["python"], "unitaudit_from": m["unitaudit"],
            "counts": [events_check(m["events_full"], journal_entries(setup["stdout"], "events"),
                                    m["events_incremental"])]}


def cli_runs(runner, scanner, env, data, meta, repeat):
    """Steps 1-3 as commands: (startup, full, set-up, best incremental run, the incremental runs)."""
    journal = os.path.join(data, "journal")
    work, env, saved, setup = prepare(runner, scanner, env, data, meta)
    try:
        startup = runner.best_of(scanner + ["--version"], repeat, env=env)
        full = runner.best_of(scanner + ["scan", "--journal-dir", journal, "--json"], repeat, ok=found, env=env)
        runs = []
        for _ in range(repeat):
            shutil.rmtree(os.path.join(work, "state"))
            shutil.copytree(saved, os.path.join(work, "state"))
            r = runner.best_of(scanner + ["scan", "--incremental", "--journal-dir", journal, "--json"], 1, ok=found,
                               env=env)
            if not r["ok"]:
                raise MeasureError("the incremental run failed: %s" % _tail(r))
            runs.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not full["ok"]:
        raise MeasureError("the full scan failed: %s" % _tail(full))
    return startup, full, setup, min(runs, key=lambda r: r["seconds"]), runs


def summary(meta, startup, full, setup, inc, runs, ip):
    doc = json.loads(inc["stdout"])
    n_full, n_setup, n_inc = (journal_entries(r["stdout"]) for r in (full, setup, inc))
    cli_check = events_check(*(journal_entries(r["stdout"], "events") for r in (full, setup, inc)))
    return {
        "entries_in_workload": meta["entries"],
        "full": {"seconds": round(full["seconds"], 3), "entries_read": n_full},
        "setup": {"seconds": round(setup["seconds"], 3), "entries_read": n_setup},
        "incremental": {"seconds": round(inc["seconds"], 3), "entries_read": n_inc,
                        "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in runs),
                        "carried": doc["incremental"]["carried_sightings"],
                        "findings": [(f["kind"], f["unit"], f["count"]) for f in doc["findings"]]},
        "startup_seconds": round(startup["seconds"], 3),
        "ratio": round(inc["seconds"] / full["seconds"], 4),
        "ratio_without_startup": round((inc["seconds"] - startup["seconds"]) / (full["seconds"] - startup["seconds"]),
                                       4),
        "entries_ratio": round(float(n_inc) / n_full, 4) if n_full else None,
        "in_process": {"full_seconds": round(ip["full_seconds"], 4),
                       "incremental_seconds": round(ip["incremental_seconds"], 4),
                       "percent": round(ip["percent"], 2),
                       "median_seconds": {"full": round(ip["full_median_seconds"], 4),
                                          "incremental": round(ip["incremental_median_seconds"], 4)},
                       "percent_of_medians": round(ip["percent_of_medians"], 2), "python": ip["python"],
                       "counts": ip["counts"]},
        "counts": [cli_check],
        "target_percent": TARGET_PERCENT,
        "counts_ok": all(c["status"] == "OK" for c in [cli_check] + ip["counts"]),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="FILE", help="also write the results here")
    args = ap.parse_args(argv)
    try:
        with open(os.path.join(args.data, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        die("%s: no meta.json (run bench/generate.py first): %s" % (args.data, e))
    scanner, extra_env, _how = find_scanner()
    env = dict(os.environ, **extra_env)
    runner = Runner(timeout=900)
    try:
        out = summary(meta, *(cli_runs(runner, scanner, env, args.data, meta, args.repeat)
                              + (in_process(runner, scanner, env, args.data, meta, args.repeat),)))
    except MeasureError as e:
        die(str(e))
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0 if out["counts_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
