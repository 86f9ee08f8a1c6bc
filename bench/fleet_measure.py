"""The measuring half of bench/fleet.py (`python3 -m bench.fleet measure`): the scan of the fleet's
journal-remote directory beside journalctl, the textfiles and what node_exporter serves of them,
and the figures for 10,000 desktops.  bench/fleet.py's docstring says what each measures."""

import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench.fleet import KERNEL_FAMILIES, SEED_BUNDLE, SEED_JOURNAL, TEXTFILE, check_findings
from bench.run import find_scanner


# ---------------------------------------------------------------------------------------------
# measuring


def timed(argv, stdout, env=None):
    """(wall seconds, peak RSS MiB, exit status) of one run, from /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r") as tf:
        t0 = time.perf_counter()
        rc = subprocess.call(["/usr/bin/time", "-f", "%M", "-o", tf.name] + argv, stdout=stdout, env=env)
        wall = time.perf_counter() - t0
        return wall, int(tf.read().split()[-1]) / 1024.0, rc


def scan_textfile(scanner, env, args, path, incremental=False):
    """The textfile `unitaudit scan ARGS --prometheus PATH` writes (with --incremental: from a fresh
    history, which adds each finding's running total as the hourly run does)."""
    env = dict(env)
    with tempfile.TemporaryDirectory() as state:
        env["UNITAUDIT_STATE_DIR"] = state
        extra = ["--incremental", "--since", "2000-01-01"] if incremental else []
        rc = subprocess.call(scanner + ["scan"] + args + extra + ["--json", "--prometheus", path], env=env,
                             stdout=subprocess.DEVNULL)
    if rc not in (0, 1):
        sys.exit("fleet.py: unitaudit scan %s failed (exit %d)" % (" ".join(args + extra), rc))
    with open(path) as f:
        return f.read()


def samples(text):
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def kernel_part(text):
    """The kernel families of a textfile (their HELP, TYPE and samples)."""
    return "".join(ln + "\n" for ln in text.splitlines()
                   if ln.split(" ")[2 if ln.startswith("#") else 0].startswith(KERNEL_FAMILIES))


def scrape(textfile_dir, defaults=False):
    """(bytes, gzip bytes as sent, samples) of node_exporter's /metrics with the textfile collector
    only (`defaults`: with every collector it runs by default, as on a desktop)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    only = [] if defaults else ["--collector.disable-defaults", "--collector.textfile"]
    ne = subprocess.Popen(["prometheus-node-exporter"] + only + ["--collector.textfile.directory=" + textfile_dir,
                           "--web.listen-address=127.0.0.1:%d" % port], stderr=subprocess.DEVNULL)
    try:
        deadline, url = time.time() + 20, "http://127.0.0.1:%d/metrics" % port
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).read()  # answers: up
                break
            except OSError:
                if time.time() > deadline or ne.poll() is not None:
                    raise
                time.sleep(0.1)
        req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        zipped = urllib.request.urlopen(req, timeout=5).read()
        text = gzip.decompress(zipped).decode()
        # the mtime series names the file: count it at the installed path's length
        text = text.replace(os.path.join(textfile_dir, "unitaudit.prom"), TEXTFILE)
        return len(text.encode()), len(zipped), len(samples(text))
    finally:
        ne.terminate()
        ne.wait(10)


def measure(a):
    scanner, extra_env, _ = find_scanner()
    env = dict(os.environ, **extra_env)
    with open(os.path.join(a.fleet, "meta.json")) as f:
        fleet = json.load(f)
    with open(os.path.join(a.many, "meta.json")) as f:
        many = json.load(f)
    res = {"fleet": dict({k: fleet[k] for k in ("entries", "bytes", "days", "noise_per_machine")},
                         machines=len(fleet["machines"]))}
    print("fleet: %(machines)d machines, %(entries)d entries, %(bytes)d bytes" % res["fleet"])
    measure_scan(a, scanner, env, fleet, res)
    # a temporary directory beside the fleet: a hard link needs the same file system
    with tempfile.TemporaryDirectory(prefix="textfiles-", dir=a.fleet) as work:
        measure_textfiles(a, scanner, env, fleet, many, work, res)
    res["fleet_10000"] = arithmetic(res, fleet, len(many["machines"][0]["loops"]))
    print(json.dumps(res["fleet_10000"], indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 1 if res["mismatches"] or res["mismatches_200"] else 0


def measure_scan(a, scanner, env, fleet, res):
    """The scan of the whole directory beside journalctl reading it, in turn, --repeat times."""
    remote = os.path.join(a.fleet, "remote")
    for p in sorted(os.listdir(remote)):  # page cache warm for both readers
        with open(os.path.join(remote, p), "rb") as f:
            while f.read(1 << 22):
                pass
    runs = {"scan": [], "journalctl": []}
    with tempfile.TemporaryFile() as out:
        for _ in range(a.repeat):
            out.seek(0)
            out.truncate()
            runs["scan"].append(timed(scanner + ["scan", "--journal-dir", remote, "--json"], out, env))
            runs["journalctl"].append(timed(["journalctl", "-D", remote, "-o", "export"], subprocess.DEVNULL))
        out.seek(0)
        if any(r[2] not in (0, 1) for r in runs["scan"]):  # 1: findings; else the scanner failed
            sys.exit("fleet.py: %s failed (exit %s)" % (" ".join(scanner), [r[2] for r in runs["scan"]]))
        doc = json.load(out)
    for k, rr in runs.items():
        res[k] = {"wall_s": [round(r[0], 2) for r in rr], "median_wall_s": round(statistics.median(r[0] for r in rr), 2),
                  "peak_rss_mib": round(max(r[1] for r in rr), 1), "exit": sorted(set(r[2] for r in rr))}
        print("%-10s wall %s s, median %.2f s, peak RSS %.1f MiB, exit %s" % (
            k, res[k]["wall_s"], res[k]["median_wall_s"], res[k]["peak_rss_mib"], res[k]["exit"]))
    res["ratio_scan_to_journalctl"] = round(res["scan"]["median_wall_s"] / res["journalctl"]["median_wall_s"], 3)
    res["findings"] = len(doc["findings"])
    res["mismatches"] = check_findings(doc, fleet["machines"])
    print("ratio scan/journalctl %.2f; %d findings, %d mismatches %s" % (
        res["ratio_scan_to_journalctl"], res["findings"], len(res["mismatches"]), res["mismatches"][:5]))


def measure_textfiles(a, scanner, env, fleet, many, work, res):
    """Textfile and scrape sizes: the seed's journal, a fleet machine without loops, the 200-loop one."""
    kernel = kernel_part(scan_textfile(scanner, env, ["--bundle", SEED_BUNDLE], os.path.join(work, "bundle.prom")))
    # the first machine without loops, alone in a directory (--incremental reads directories)
    quiet = [s for s in fleet["machines"] if not s["loops"]][0]
    os.mkdir(os.path.join(work, "no-loop"))
    os.link(os.path.join(a.fleet, "remote", quiet["file"]), os.path.join(work, "no-loop", quiet["file"]))
    many_dir = os.path.join(a.many, "remote")
    cases = {"seed": SEED_JOURNAL, "no-loop": os.path.join(work, "no-loop"), "200-loops": many_dir}
    res["textfiles"] = {}
    for name, journal in cases.items():
        plain = scan_textfile(scanner, env, ["--journal-dir", journal], os.path.join(work, name + ".prom"))
        hourly = scan_textfile(scanner, env, ["--journal-dir", journal], os.path.join(work, name + "-hourly.prom"),
                               incremental=True) + kernel
        os.mkdir(os.path.join(work, name + "-ne"))
        with open(os.path.join(work, name + "-ne", "unitaudit.prom"), "w") as f:
            f.write(hourly)
        row = {"scan_bytes": len(plain.encode()), "scan_series": len(samples(plain)),
               "hourly_bytes": len(hourly.encode()), "hourly_series": len(samples(hourly))}
        row["scrape_bytes"], row["scrape_gzip_bytes"], row["scrape_series"] = scrape(os.path.join(work, name + "-ne"))
        res["textfiles"][name] = row
        print("textfile %-9s %s" % (name, row))
    os.mkdir(os.path.join(work, "empty"))
    keys = ("bytes", "gzip_bytes", "series")
    res["scrape_without_textfile"] = dict(zip(keys, scrape(os.path.join(work, "empty"))))
    # for scale: a node_exporter with its default collectors, on this machine, with the seed's textfile
    res["scrape_default_collectors"] = {d: dict(zip(keys, scrape(os.path.join(work, d), True))) for d in ("empty", "seed-ne")}
    print("scrapes: no textfile %s; default collectors %s" % (res["scrape_without_textfile"],
                                                             res["scrape_default_collectors"]))
    doc = json.loads(subprocess.run(scanner + ["scan", "--journal-dir", many_dir, "--json"], env=env,
                                    stdout=subprocess.PIPE).stdout)
    res["mismatches_200"] = check_findings(doc, many["machines"])
    print("200-loop machine: %d findings, %d mismatches %s" % (len(doc["findings"]), len(res["mismatches_200"]),
                                                                res["mismatches_200"][:5]))


def arithmetic(res, fleet, loops_many, n=10000, interval=60):
    """Series in Prometheus, bytes per scrape round and samples per second for n desktops, from what
    each measured textfile adds to node_exporter's /metrics (the scrape without it subtracted):
    the machine without loops, the seed's machine (its 3 findings' share is what one finding of
    the fleet's mix adds) and the 200-loop machine."""
    t, empty = res["textfiles"], res["scrape_without_textfile"]
    keys = ("series", "bytes", "gzip_bytes")
    added = {name: {k: row["scrape_" + k] - empty[k] for k in keys} for name, row in t.items()}
    per = {k: (added["seed"][k] - added["no-loop"][k]) / 3.0 for k in keys}
    loops = [len(s["loops"]) for s in fleet["machines"]]
    avg = sum(loops) / float(len(loops))
    out = {"added_per_machine": added, "per_seed_finding": per, "interval_s": interval, "machines": n}
    cases = (("typical: this fleet's mix, %.2f findings a machine" % avg,
              {k: added["no-loop"][k] + avg * per[k] for k in keys}),
             ("every machine with the seed's 3 loops", added["seed"]),
             ("every machine with %d loops" % loops_many, added["200-loops"]))
    for name, m in cases:
        out[name] = {"series": int(round(n * m["series"])), "samples_per_s": int(round(n * m["series"] / interval)),
                     "bytes_per_scrape_round": int(round(n * m["bytes"])),
                     "gzip_bytes_per_scrape_round": int(round(n * m["gzip_bytes"])),
                     "gzip_bytes_per_s": int(round(n * m["gzip_bytes"] / interval))}
    return out

