#!/usr/bin/env python3
"""What one run of the hourly timer costs, in CPU seconds, as the Debian package runs it.

Boots the lab (a real systemd, unitaudit_lab) with the seed's three loops running, installs this
checkout's .deb with apt (build it first: `make deb`), then starts the packaged unitaudit.service
RUNS times, EVERY seconds apart, as its timer would.  Each run's CPU time (user + system) and
peak RSS are GNU time's, from a runtime drop-in that starts the packaged command under
/usr/bin/time inside the service's own sandbox: the lab's systemd has no CPU accounting (no cpu
controller in the container), where a desktop's shows the same figure in the "Consumed ... CPU
time" entry systemd logs when the unit stops (`journalctl -u unitaudit.service -g Consumed`).
Beside it, from the run's own summary entry, the journal entries it read and its wall time.  The first run
reads the configured window (no cursor yet) and is shown apart; the others read what the loops
logged since the run before.  Needs root.

    make deb && .venv/bin/python -m bench.hourly_cost [--runs 6] [--every 60] [--json FILE]
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time

from unitaudit.report.journal_summary import SUMMARY_MESSAGE_ID
from unitaudit_lab import machine, scenarios
from unitaudit_lab.reap import reap_stale
from unitaudit_lab.support import DEB

IN_LAB = "/srv/unitaudit-lab/"  # readable by apt's _apt user; not /tmp (nspawn's tmpfs)
TIMES = "/var/lib/unitaudit/bench-time"  # the StateDirectory: writable under ProtectSystem=strict
DROP_IN = """[Service]
ExecStart=
ExecStart=/usr/bin/time -o %s -f "%%%%U %%%%S %%%%M" /usr/bin/unitaudit watch
""" % TIMES  # %% twice: once for this string, once for systemd's specifiers (%S is /var/lib)


def install(lab) -> None:
    """The .deb installed by apt, from a clean state: no state, textfile or timer stamp of the machine's."""
    lab.run("rm", "-rf", "/usr/sbin/policy-rc.d", "/var/lib/unitaudit", "/etc/unitaudit",
            "/var/lib/systemd/timers/stamp-unitaudit.timer")
    target = lab.root / IN_LAB.lstrip("/") / DEB.name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(str(target.parent), 0o755)
    shutil.copyfile(str(DEB), str(target))
    os.chmod(str(target), 0o644)
    lab.run("apt-get", "install", "-y", "--no-install-recommends", IN_LAB + DEB.name, timeout=600,
            env={"DEBIAN_FRONTEND": "noninteractive"})
    lab.run("systemctl", "stop", "unitaudit.timer")  # only this script starts the service
    drop_in = lab.root / "etc/systemd/system/unitaudit.service.d/bench.conf"  # not run/: the lab's /run is a tmpfs
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text(DROP_IN)
    lab.run("systemctl", "daemon-reload")


def newest(lab, *matches: str) -> dict:
    out = lab.run("journalctl", "--no-pager", "-o", "json", "-n", "1", *matches).stdout.strip()
    return json.loads(out) if out else {}


def one_run(lab) -> dict:
    """Start the service once and wait for it: its CPU seconds, wall seconds and entries read."""
    started = lab.run("systemctl", "start", "unitaudit.service", timeout=300, check=False)
    if started.returncode != 0 or lab.run("test", "-s", TIMES, check=False).returncode != 0:
        log = lab.run("journalctl", "--no-pager", "-n", "20", "-u", "unitaudit.service", check=False).stdout
        raise RuntimeError("unitaudit.service did not run as measured:\n" + started.stderr + log)
    times = lab.run("cat", TIMES).stdout
    try:
        user, system, rss_kb = times.splitlines()[-1].split()
    except ValueError:
        raise RuntimeError("GNU time wrote: %r" % times)
    summary = newest(lab, "SYSLOG_IDENTIFIER=unitaudit", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID)
    return {"cpu_s": float(user) + float(system), "rss_mb": int(rss_kb) / 1024,
            "wall_s": int(summary["UNITAUDIT_DURATION_USEC"]) / 1e6,
            "entries_read": int(summary.get("UNITAUDIT_ENTRIES_READ", 0)),
            "loops": int(summary.get("UNITAUDIT_LOOPS", 0))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=6, help="runs of the service (default 6; the first reads the window)")
    ap.add_argument("--every", type=float, default=60, help="seconds between two runs (default 60)")
    ap.add_argument("--json", help="write the runs here")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.hourly_cost: needs root (it boots the lab)", file=sys.stderr)
        return 2
    if not DEB.is_file():
        print("bench.hourly_cost: %s is missing: make deb" % DEB, file=sys.stderr)
        return 2
    reap_stale()
    runs = []
    with machine.booted("ua-cost-%d" % os.getpid()) as lab:
        scenarios.setup_seed_loops(lab, {}, [], scenarios.RECORDING)  # the rates examples/ were recorded at
        scenarios.wait_for_seed_loops(lab)
        install(lab)
        version = lab.run("systemctl", "--version").stdout.split()[1]
        python = lab.run("python3", "-c", "import sys; print(sys.version.split()[0])").stdout.strip()
        for i in range(args.runs):
            if i:
                time.sleep(args.every)
            runs.append(one_run(lab))
            print("run %d: %.2f CPU s, %.3f s wall, %.1f MB peak RSS, %d entries read, %d loops" % (
                i + 1, runs[-1]["cpu_s"], runs[-1]["wall_s"], runs[-1]["rss_mb"], runs[-1]["entries_read"],
                runs[-1]["loops"]))
    later = runs[1:] or runs
    print("systemd %s, Python %s; first run (the window): %.3f CPU s; then, %d runs %g s apart: median %.3f CPU s"
          " (%.3f to %.3f), %d entries read (median)" % (
              version, python, runs[0]["cpu_s"], len(later), args.every, statistics.median(r["cpu_s"] for r in later),
              min(r["cpu_s"] for r in later), max(r["cpu_s"] for r in later),
              statistics.median(r["entries_read"] for r in later)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"systemd": version, "python": python, "every_s": args.every, "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
