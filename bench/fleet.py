#!/usr/bin/env python3
"""What unitaudit costs at fleet scale: a journal-remote directory of many desktops, a desktop with
200 loops, and the textfile each machine's node_exporter serves.

    python3 -m bench.fleet fleet --out /tmp/unitaudit-bench/fleet            # 100 desktops, one day
    python3 -m bench.fleet many --out /tmp/unitaudit-bench/fleet-200         # one desktop, 200 loops
    python3 -m bench.fleet measure --fleet /tmp/unitaudit-bench/fleet --many /tmp/unitaudit-bench/fleet-200

`fleet` and `many` write DIR/remote/ as a central log host's systemd-journal-remote does
(--split-mode=host, one remote-ADDRESS.journal per sending machine): a real journal-remote listens
on a loopback port and each machine's entries (bench/generate.py's desktop, in journal export
format) arrive over a connection of their own from their own loopback address, 127.1.x.y.
DIR/meta.json lists each machine's file, hostname, machine id and planted loops with their counts.

`measure` times `unitaudit scan --journal-dir DIR/remote --json` (wall, peak RSS) beside
`journalctl -D DIR/remote -o export`, checks every planted loop is found under its machine's host
with its count and nothing else is, measures the textfiles (seed journal, a machine without loops,
the 200-loop machine; each also with the history's totals and the seed lab's kernel figures, as the
hourly run writes them) and what node_exporter serves of them, and works out the figures for
10,000 desktops.  Python 3.9+, stdlib only; needs systemd-journal-remote, journalctl and, for the
scrape sizes, prometheus-node-exporter.
"""
import argparse
import heapq
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

from bench import generate as g

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_JOURNAL = os.path.join(REPO, "examples", "seed-loops", "journal")
SEED_BUNDLE = os.path.join(REPO, "examples", "bundle-seed", "unitaudit-bundle-seed.tar.xz")
# Where the package's timer writes the textfile: node_exporter labels its mtime series with it.
TEXTFILE = "/var/lib/prometheus/node-exporter/unitaudit.prom"
# generate.py's three loops by the plan's names: its generator, the category of its entries and
# the text of the line that counts one event, and the finding that must come of it
SEED_LOOPS = {"avahi": ("avahi_stream", "avahi_activation_loop", "[system] Activation via", "activation-loop", g.AVAHI_UNIT),
              "deepin": ("deepin_stream", "deepin_restart_loop", "Scheduled restart job", "restart-loop", g.DEEPIN_UNIT),
              "logrotate": ("logrotate_stream", "logrotate_timer_failure", "Failed with result", "repeated-failure",
                            g.LOGROTATE_UNIT)}
KERNEL_FAMILIES = ("unitaudit_slab", "unitaudit_kernfs", "unitaudit_cgroup", "unitaudit_memcg")


def fleet_plan(n):
    """Machine i: a tenth have the seed's three loops, three tenths one of them, the rest none;
    machines 1 and 2 (one loop each) share the hostname uos-pc, as cloned images do."""
    one = (["avahi"], ["deepin"], ["logrotate"])
    return [{"host": "uos-pc" if i in (1, 2) else "desk-%03d" % i,
             "loops": list(SEED_LOOPS) if i % 10 == 0 else one[i % 10 - 1] if i % 10 <= 3 else []}
            for i in range(n)]


def many_plan(n):
    """One machine with n loops of every kind: half restart loops, 30 % activation loops, 20 %
    units failing on every hourly run, each with its own unit."""
    loops = []
    for j in range(n):
        kind = "restart" if j < n // 2 else "activation" if j < n * 8 // 10 else "timer"
        loops.append((kind, "fleet-%s-%03d" % (kind, j), 60 + 7 * j % 240))
    return [{"host": "desk-many", "loops": loops}]


# ---------------------------------------------------------------------------------------------
# loops of any unit (generate.py's three are the seed's units)


def failing_service(idx, boots, seed, name, period_s, restart):
    """A service whose process exits 1 at once: with `restart`, Restart=on-failure and
    RestartSec=period_s; else a oneshot its hourly timer starts into the same failure."""
    s = g.Stream(idx, name)
    sd = g.SystemdLog(s, "description")
    rng = random.Random("%s:%s" % (seed, name))
    unit, desc = name + ".service", "Fleet service %s" % name
    every = period_s * g.US if restart else g.HOUR
    for boot in boots:
        t, n, job = boot.steady_start + rng.randrange(0, every), 0, boot.job()
        while t + (every if restart else 10 * g.US) < boot.steady_end:
            inv = g.hexid(rng)
            proc = g.Proc(boot, name, boot.alloc_pid(), 0, unit=unit, transport="stdout", invocation=inv)
            yield sd.starting(t, boot, unit, desc, job, inv)
            yield s.item(t + 3000, boot, proc, 3, "%s: cannot read /etc/%s.conf: No such file or directory" % (name, name))
            yield s.item(t + 5000, boot, boot.systemd, 5, "%s: Main process exited, code=exited, status=1/FAILURE" % unit,
                         g.sd_fields(unit, inv, g.MID_EXITED, g.CODE_EXIT, (("EXIT_CODE", "exited"), ("EXIT_STATUS", 1))))
            yield s.item(t + 5100, boot, boot.systemd, 4, "%s: Failed with result 'exit-code'." % unit,
                         g.sd_fields(unit, inv, g.MID_RESULT, g.CODE_RESULT, (("UNIT_RESULT", "exit-code"),)))
            if not restart:
                yield s.item(t + 5200, boot, boot.systemd, 3, "Failed to start %s." % desc,
                             g.sd_fields(unit, inv, g.MID_FAILED, g.CODE_JOB_DONE,
                                         (("JOB_ID", job), ("JOB_TYPE", "start"), ("JOB_RESULT", "failed"))))
                t, job = t + every + rng.randrange(0, 40 * g.US), boot.job()
                continue
            t += every + rng.randrange(0, 3000)
            n, job = n + 1, boot.job()
            yield s.item(t, boot, boot.systemd, 6, "%s: Scheduled restart job, restart counter is at %d." % (unit, n),
                         g.sd_fields(unit, inv, g.MID_RESTART, g.CODE_RESTART, (("N_RESTARTS", n),)))
            yield sd.stopped(t + 100, boot, unit, desc, job, inv, job_type="restart")
            t += 200


def activation_loop(idx, boots, seed, name, period_s):
    """A client asking dbus-daemon every period_s for a bus name whose unit does not exist."""
    s = g.Stream(idx, name)
    rng = random.Random("%s:%s" % (seed, name))
    bus, unit = "org.fleet.%s" % name.replace("-", "_"), "dbus-org.fleet.%s.service" % name
    for boot in boots:
        dbus, t = boot.procs["dbus-daemon"], boot.steady_start + rng.randrange(0, period_s * g.US)
        ask = ("[system] Activating via systemd: service name='%s' unit='%s' requested by ':1.%d' "
               "(uid=1000 pid=%d comm=\"fleet-client\")" % (bus, unit, 50 + idx, 4000 + idx))
        while t + 2000 < boot.steady_end:
            yield s.item(t, boot, dbus, 6, ask)
            yield s.item(t + 1000, boot, dbus, 6, "[system] Activation via systemd failed for unit '%s': "
                         "Unit %s not found." % (unit, unit))
            t += period_s * g.US + rng.randrange(0, 20000)


# a generic loop's kind: (its generator, the finding's kind, its unit, the text of the line counted)
GENERIC = {"restart": (lambda *a: failing_service(*a, restart=True), "restart-loop", "%s.service", "Scheduled restart job"),
           "activation": (activation_loop, "activation-loop", "dbus-org.fleet.%s.service", "Activation via systemd failed"),
           "timer": (lambda *a: failing_service(*a, restart=False), "repeated-failure", "%s.service", "Failed with result")}


# ---------------------------------------------------------------------------------------------
# one machine's journal, as export format


def machine_entries(spec, i, seed, days, noise):
    """Yield export-format chunks of machine `spec`; fills spec's machine_id, entries and loop counts."""
    g.HOSTNAME = spec["host"]  # generate.py's Procs read it as they are made: machines go one at a time
    args = SimpleNamespace(seed="%s:%d" % (seed, i), utc_offset=8.0, end=g.DEFAULT_END_LOCAL, days=days,
                           unit_format="description")
    boots, _start, _end, offset_us = g.build_timeline(args)
    unwanted = {SEED_LOOPS[k][0] for k in SEED_LOOPS if k not in spec["loops"]}
    streams = [st for st in g.make_streams(args, boots, offset_us, noise) if st.__name__ not in unwanted]
    counted, loops = {}, []  # the entries' category -> (the loop's record, the text of the line counted)
    for name in spec["loops"]:
        if name in SEED_LOOPS:
            _gen, cat, line, kind, unit = SEED_LOOPS[name]
        else:
            generic, cat, period = name[0], name[1], name[2]
            gen, kind, unit_form, line = GENERIC[generic]
            unit = unit_form % cat
            streams.append(gen(1000 + len(loops), boots, args.seed, cat, period))
        counted[cat] = ({"kind": kind, "unit": unit, "count": 0}, line)
        loops.append(counted[cat][0])
    spec.update(machine_id=boots[0].machine_id, loops=loops, entries=0)
    buf = []
    for ts, _i, _s, (cat, boot, proc, prio, msg, extra) in heapq.merge(*streams):
        spec["entries"] += 1
        c = counted.get(cat)
        if c is not None and c[1] in msg:
            c[0]["count"] += 1
        buf.append("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n%sPRIORITY=%d\n%sMESSAGE=%s\n\n"
                   % (ts, boot.mono(ts), boot.boot_id, proc.block, prio, extra, msg))
        if len(buf) >= 4096:
            yield "".join(buf).encode("utf-8")
            buf = []
    yield "".join(buf).encode("utf-8")


class Receiver(object):
    """systemd-journal-remote --split-mode=host on a loopback port: one file per peer address."""

    def __init__(self, outdir):
        with socket.socket() as s:  # a free port, taken by journal-remote a moment later
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([g.JOURNAL_REMOTE, "--listen-raw=127.0.0.1:%d" % self.port,
                                      "--split-mode=host", "-o", outdir], stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while b"Listening on" not in self._said():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                sys.exit("fleet.py: journal-remote did not start: %s" % self._said().decode("utf-8", "replace"))
            time.sleep(0.05)

    def _said(self):
        self.log.seek(0)
        return self.log.read()

    def send(self, addr, chunks):
        """One machine's connection; returns when journal-remote has read it all and closed it."""
        with socket.socket() as s:
            s.bind((addr, 0))
            s.connect(("127.0.0.1", self.port))
            for chunk in chunks:
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(300)
            while s.recv(4096):  # journal-remote closes its end once it has written the last entry
                pass

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(60)
        return rc, self._said().decode("utf-8", "replace").strip()


def peer_address(i):
    return "127.1.%d.%d" % (i // 250, i % 250 + 1)


def entries_in_header(path):
    """n_entries of a journal file's header (offset 152, as unitaudit/sources/journal/files.py reads it)."""
    with open(path, "rb") as f:
        return struct.unpack_from("<Q", f.read(160), 152)[0]


def write_fleet(out, plan, seed, days, noise):
    remote = os.path.join(out, "remote")
    os.makedirs(remote, exist_ok=True)
    for name in os.listdir(remote):
        if name.startswith("remote-") and name.endswith(".journal"):
            os.unlink(os.path.join(remote, name))
    t0 = time.time()
    rx = Receiver(remote)
    try:
        for i, spec in enumerate(plan):
            spec["address"] = peer_address(i)
            rx.send(spec["address"], machine_entries(spec, i, seed, days, noise))
            spec["file"] = "remote-%s.journal" % spec["address"]
    finally:
        rc, said = rx.stop()
    if rc != 0:
        sys.exit("fleet.py: journal-remote exited %d: %s" % (rc, said))
    names = sorted(n for n in os.listdir(remote) if n.endswith(".journal"))
    if names != sorted(s["file"] for s in plan):
        sys.exit("fleet.py: journal-remote wrote %s, not one file per machine (did it rotate?)" % names[:5])
    hosts = [s["host"] for s in plan]
    for s in plan:
        s["bytes"] = os.path.getsize(os.path.join(remote, s["file"]))
        if entries_in_header(os.path.join(remote, s["file"])) != s["entries"]:
            sys.exit("fleet.py: %s does not hold the %d entries sent" % (s["file"], s["entries"]))
        # how unitaudit names a machine in a directory of several (sources/journal/reader.py machines())
        s["host_label"] = s["host"] if hosts.count(s["host"]) == 1 or len(plan) == 1 else \
            "%s/%s" % (s["host"], s["machine_id"][:8])
    meta = {"generator": "bench/fleet.py", "seed": seed, "days": days, "noise_per_machine": noise,
            "machines": plan, "entries": sum(s["entries"] for s in plan),
            "bytes": sum(s["bytes"] for s in plan), "journal_remote_says": said.splitlines()[-1:],
            "generation_seconds": round(time.time() - t0, 1)}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("%d machines, %d entries, %.0f MB in %s/remote, %.0f s" % (len(plan), meta["entries"], meta["bytes"] / 1e6,
                                                                   out, meta["generation_seconds"]))
    return meta


# ---------------------------------------------------------------------------------------------
# what a scan must find


def check_findings(doc, machines):
    """Mismatches between the scan's findings and the planted loops: [] when every loop is found
    under its machine's host (and machine id) with its count, and nothing else is."""
    want = {(s["host_label"], l["kind"], l["unit"]): l["count"] for s in machines for l in s["loops"]}
    got = {(f["host"], f["kind"], f["unit"]): f["count"] for f in doc["findings"]}
    ids = {s["host_label"]: s["machine_id"] for s in machines}
    bad = ["%s %s %s: planted %s, found %s" % (k + (want.get(k), got.get(k))) for k in sorted(set(want) | set(got))
           if want.get(k) != got.get(k)]
    bad += ["%s: machine id %s" % (f["host"], f["machine_id"]) for f in doc["findings"]
            if len(machines) > 1 and f["machine_id"] != ids.get(f["host"])]
    return bad



def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, machines, noise, days in (("fleet", 100, 50000, 1.0), ("many", 200, 20000, 0.25)):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True)
        p.add_argument("--machines" if name == "fleet" else "--loops", type=int, default=machines)
        p.add_argument("--noise", type=int, default=noise, help="background entries a machine (default %d)" % noise)
        p.add_argument("--days", type=float, default=days, help="the window's length (default %g)" % days)
        p.add_argument("--seed", default="fleet")
    p = sub.add_parser("measure")
    p.add_argument("--fleet", required=True)
    p.add_argument("--many", required=True)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", help="also write the results here")
    a = ap.parse_args(argv)
    if a.cmd == "measure":
        from bench.fleet_measure import measure  # the measuring half, which needs this module
        return measure(a)
    plan = fleet_plan(a.machines) if a.cmd == "fleet" else many_plan(a.loops)
    write_fleet(os.path.abspath(a.out), plan, a.seed, a.days, a.noise)
    return 0


if __name__ == "__main__":
    sys.exit(main())
