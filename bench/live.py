#!/usr/bin/env python3
"""The live-state part of a scan, measured in the lab (a real systemd 252, ~160 units).

Boots the lab with the seed's loops (unitaudit_lab), then times from the host, REPEAT times each:
  - DBusSource.read(): ListUnits + GetAll(Unit) and six Get(Service) per service, what every live scan pays;
  - DBusSource.read_unit_files(): ListUnitFiles, paid only when a missing unit is diagnosed;
  - `unitaudit scan --json` inside the container, whole, with its "live.seconds".
Prints medians; results in bench/README.md ("Live state").  Needs root.

    .venv/bin/python -m bench.live      # from the checkout's top directory
"""
import json
import os
import statistics
import sys
import time

from unitaudit.sources.dbus import SERVICE_PROPERTIES, DBusSource
from unitaudit_lab import machine, scenarios
from unitaudit_lab.reap import reap_stale

ROOT = machine.CHECKOUT

REPEAT = 7


def median_of(fn):
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), value


def main() -> int:
    if os.geteuid() != 0:
        print("bench.live: needs root (it boots the lab)", file=sys.stderr)
        return 2
    reap_stale()
    with machine.booted("ua-bench-%d" % os.getpid()) as lab:
        scenarios.setup_seed_loops(lab, {}, [], scenarios.FAST)
        scenarios.wait_for_seed_loops(lab)
        source = DBusSource(lab.bus_address)
        read_s, state = median_of(source.read)
        services = sum(1 for u in state.units if u.name.endswith(".service"))
        files_s, files = median_of(source.read_unit_files)
        scans, live = [], []
        for _ in range(REPEAT):
            t = time.perf_counter()
            r = lab.run(sys.executable, "-B", "-m", "unitaudit", "scan", "--json", check=False, record=False,
                        env={"PYTHONPATH": str(ROOT)})
            scans.append(time.perf_counter() - t)
            live.append(json.loads(r.stdout)["live"]["seconds"])
        version = lab.run("systemctl", "--version").stdout.split()[1]
    print("systemd %s, %d units (%d services), %d unit files; medians of %d, Python %s"
          % (version, len(state.units), services, len(files), REPEAT, sys.version.split()[0]))
    print("DBusSource.read()            %.3f s   (ListUnits + %d GetAll(Unit) + %d Get(Service))"
          % (read_s, services, services * len(SERVICE_PROPERTIES)))
    print("DBusSource.read_unit_files() %.3f s   (ListUnitFiles)" % files_s)
    print("unitaudit scan --json        %.3f s   whole, inside the lab; its live.seconds %.3f s"
          % (statistics.median(scans), statistics.median(live)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
