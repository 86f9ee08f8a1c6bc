#!/usr/bin/env python3
"""What an hourly incremental run costs against a full scan, on the workload of bench/generate.py.

    python3 -m bench.incremental --data /tmp/unitaudit-bench [--repeat 5]      # from the checkout's top

1. full         unitaudit scan --journal-dir journal --json                   (every entry, 7 days)
2. (set-up)     unitaudit scan --incremental --journal-dir journal --until END-1h   (records the cursor)
3. incremental  unitaudit scan --incremental --journal-dir journal --json     (the last hour only)

Step 3 runs --repeat times, each from a copy of the state step 2 left, so every repetition reads
the same hour.  Reported: best wall times, their ratio (target <= 0.02), the incremental run's peak
RSS, and the journal entries each read (from the JSON).  The wall time includes starting Python
and importing unitaudit, which no amount of reading less can remove: `startup` (`unitaudit
--version`) is reported beside it, and the ratio without it, and `in_process`: both reads timed inside one Python process.

Exit status 0 when the counts add up (the incremental run read fewer entries than an hour's share
would allow), 1 otherwise, 2 on a usage or data error.  Python 3.9+, stdlib only.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

from bench.run import Runner, die, find_scanner

TARGET = 0.02
# The same two reads in one process, imports done: the work an hourly run does, without the
# interpreter's start.  Best of REPEAT; the state is restored before each incremental read.
IN_PROCESS = r"""
import json, os, shutil, sys, time
from unitaudit.model import Thresholds
from unitaudit.hourly.history import HistoryStore
from unitaudit.hourly.incremental import IncrementalRequest, run_incremental
from unitaudit.services.scan import scan
from unitaudit.sources.journal import JournalSource
journal, work, saved, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
full, inc = [], []
for _ in range(repeat):
    t = time.perf_counter()
    scan([JournalSource(directory=journal)], Thresholds(), now=time.time())
    full.append(time.perf_counter() - t)
    state = os.path.join(work, "state-in-process")
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(saved, state)
    t = time.perf_counter()
    store = HistoryStore(state)
    run_incremental(IncrementalRequest(thresholds=Thresholds(), now=time.time(), window=1e12, retention=1e12,
                                       journal_dir=journal), store=store)
    inc.append(time.perf_counter() - t)
    store.close()
print(json.dumps({"full": min(full), "incremental": min(inc)}))
"""


def main(argv=None) -> int:
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
    journal = os.path.join(args.data, "journal")
    scanner, extra_env, _how = find_scanner()
    work = tempfile.mkdtemp(prefix="unitaudit-bench-inc-")
    config = os.path.join(work, "unitaudit.toml")
    with open(config, "w") as f:
        f.write('[scan]\nwindow = "36500d"\n')  # the workload is from 2024: a first run must reach it
    env = dict(os.environ, UNITAUDIT_CONFIG=config, UNITAUDIT_STATE_DIR=os.path.join(work, "state"), **extra_env)
    runner = Runner(timeout=900)
    found = lambda r: r["rc"] in (0, 1)  # noqa: E731 - 1 means findings

    def entries(res):
        doc = json.loads(res["stdout"])
        return sum(s.get("entries", 0) for s in doc["sources"] if s["kind"] == "journal")

    end = meta["end"]["epoch"]
    startup = runner.best_of(scanner + ["--version"], args.repeat, env=env)
    full = runner.best_of(scanner + ["scan", "--journal-dir", journal, "--json"], args.repeat, ok=found, env=env)
    setup = runner.once(scanner + ["scan", "--incremental", "--journal-dir", journal, "--until", "@%f" % (end - 3600),
                                   "--json"], env=env)
    if not found(setup):
        die("the set-up run failed: %s" % setup["stderr"].decode(errors="replace"))
    saved = os.path.join(work, "state-after-setup")
    shutil.copytree(os.path.join(work, "state"), saved)
    runs = []
    for _ in range(args.repeat):
        shutil.rmtree(os.path.join(work, "state"))
        shutil.copytree(saved, os.path.join(work, "state"))
        r = runner.best_of(scanner + ["scan", "--incremental", "--journal-dir", journal, "--json"], 1, ok=found, env=env)
        if not r["ok"]:
            die("the incremental run failed: %s" % r["stderr"].decode(errors="replace"))
        runs.append(r)
    inc = min(runs, key=lambda r: r["seconds"])
    child = runner.once([sys.executable, "-c", IN_PROCESS, journal, work, saved, str(args.repeat)],
                        env=dict(env, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if child["rc"] != 0:
        die("the in-process timing failed: %s" % child["stderr"].decode(errors="replace"))
    in_process = json.loads(child["stdout"])
    doc = json.loads(inc["stdout"])
    n_full, n_setup, n_inc = entries(full), entries(setup), entries(inc)
    out = {
        "entries_in_workload": meta["entries"],
        "full": {"seconds": round(full["seconds"], 3), "entries_read": n_full},
        "setup": {"seconds": round(setup["seconds"], 3), "entries_read": n_setup},
        "incremental": {"seconds": round(inc["seconds"], 3), "entries_read": n_inc,
                        "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in runs),
                        "carried": doc["incremental"]["carried_sightings"],
                        "findings": [(f["kind"], f["unit"], f["count"]) for f in doc["findings"]]},
        "startup_seconds": round(startup["seconds"], 3),
        "ratio": round(inc["seconds"] / full["seconds"], 4),
        "ratio_without_startup": round((inc["seconds"] - startup["seconds"]) / (full["seconds"] - startup["seconds"]), 4),
        "entries_ratio": round(n_inc / n_full, 4) if n_full else None,
        "in_process": {"full_seconds": round(in_process["full"], 4), "incremental_seconds": round(in_process["incremental"], 4),
                       "ratio": round(in_process["incremental"] / in_process["full"], 4)},
        "target": TARGET,
    }
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0 if n_setup + n_inc == n_full else 1


if __name__ == "__main__":
    sys.exit(main())
