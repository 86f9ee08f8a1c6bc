#!/usr/bin/env python3
"""`make demo`: the seed investigation's three loops on a real systemd, found by a live scan.

Boots the lab (a real systemd 252 with journald and dbus-daemon in systemd-nspawn over a throwaway
overlay of this machine, /work/shared/LAB.md), reproduces the seed's loops (missing Avahi alias with
a client calling every 2 s; deepin-anything-monitor's failing `modprobe vfs_monitor`; logrotate
failing on clink-agent:8 and a world-writable log directory), waits until each has repeated, runs
`unitaudit scan --verbose` inside the container, prints its report, shows the fix plan
(`unitaudit fix --dry-run`: nothing is changed), then the bundle round trip: `unitaudit collect`
inside, `unitaudit scan --bundle` outside (this machine, which cannot see the lab's bus or files),
and tears everything down.
Needs root.  Exit status: the scan's (1 = findings, the expected result), or 3 if the lab failed.

    python -m examples.demo      # from the checkout's top directory, as root
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from unitaudit_lab import machine, scenarios
from unitaudit_lab.host import log
from unitaudit_lab.reap import reap_stale

ROOT = machine.CHECKOUT


def _unitaudit_inside(lab, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", "-t", str(lab.leader), "-a", "env", "PYTHONPATH=%s" % ROOT, sys.executable,
                           "-B", "-m", "unitaudit", *args], capture_output=True, text=True)


def bundle_round_trip(lab) -> None:
    """`collect` inside the lab, `scan --bundle` here (this machine cannot see the lab's bus, files
    or journal): what a support engineer does with a bundle, set beside `scan` inside."""
    until, inside = "@%d" % (time.time() - 1), "/var/tmp/unitaudit-demo-bundle.tar.xz"
    log("the support engineer's way: unitaudit collect (inside the lab), unitaudit scan --bundle (here)")
    live = json.loads(_unitaudit_inside(lab, "scan", "--json", "--until", until).stdout)
    made = json.loads(_unitaudit_inside(lab, "collect", "--json", "-o", inside, "--until", until).stdout)
    here = os.path.join(tempfile.mkdtemp(prefix="unitaudit-demo-"), "bundle.tar.xz")
    try:
        shutil.copyfile(str(lab.root / inside.lstrip("/")), here)
        r = subprocess.run([sys.executable, "-B", "-m", "unitaudit", "scan", "--json", "--bundle", here],
                           cwd=str(ROOT), capture_output=True, text=True)
    finally:
        shutil.rmtree(os.path.dirname(here), ignore_errors=True)
    print("\nbundle: %d KB, %d journal entries, %d files" % (made["size"] // 1024, made["journal_entries"],
                                                          made["files"]))
    print("scan --bundle here, beside scan inside the lab (the same window):")
    theirs = {f["id"]: f for f in live["findings"]}
    for f in json.loads(r.stdout)["findings"] if r.returncode in (0, 1) else []:
        twin = theirs.get(f["id"], {})
        same = all(f.get(k) == twin.get(k) for k in ("kind", "unit", "count", "cause", "diagnosis"))
        print("  %-16s %-34s %-32s %s" % (f["kind"], f["unit"], (f.get("diagnosis") or {}).get("verdict", "-"),
                                          "same" if same else "DIFFERENT"))
    if r.returncode not in (0, 1):
        print("  scan --bundle failed: %s" % r.stderr.strip())
    print(flush=True)


def main() -> int:
    if os.geteuid() != 0:
        print("demo: needs root (the lab mounts an overlay and boots systemd-nspawn)", file=sys.stderr)
        return 3
    reap_stale()
    t0 = time.monotonic()
    try:
        with machine.booted("ua-demo-%d" % os.getpid()) as lab:
            log("lab up in %.1f s (systemd %s); installing the seed's three loops"
                        % (lab.boot_seconds, lab.run("systemctl", "--version").stdout.split()[1]))
            scenarios.setup_seed_loops(lab, {}, [], scenarios.FAST)
            log("waiting until each loop has repeated (about 15 s)")
            scenarios.wait_for_seed_loops(lab)
            argv = [sys.executable, "-B", "-m", "unitaudit", "scan", "--verbose"] + sys.argv[1:]
            log("inside the lab: unitaudit scan --verbose %s" % " ".join(sys.argv[1:]))
            print(flush=True)
            r = subprocess.run(["nsenter", "-t", str(lab.leader), "-a", "env", "PYTHONPATH=%s" % ROOT,
                                "COLUMNS=%s" % os.environ.get("COLUMNS", "160"), *argv])
            print(flush=True)
            log("scan exit status %d (1 = findings); now the fix it would apply: unitaudit fix --dry-run"
                        % r.returncode)
            print(flush=True)
            subprocess.run(["nsenter", "-t", str(lab.leader), "-a", "env", "PYTHONPATH=%s" % ROOT,
                            sys.executable, "-B", "-m", "unitaudit", "fix", "--dry-run"])
            print(flush=True)
            bundle_round_trip(lab)
            log("tearing the lab down")
    except KeyboardInterrupt:
        print("demo: interrupted; lab torn down", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        print("demo: the lab failed: %s" % e, file=sys.stderr)
        return 3
    log("done in %.0f s" % (time.monotonic() - t0))
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
