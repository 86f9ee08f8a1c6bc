#!/usr/bin/env python3
"""A journal whose failure messages are all distinct: the worst case of the exact-text pass.

    python3 -m bench.distinct_journal --out /tmp/unitaudit-distinct [--activations 100000]

dbus-daemon (trusted: _COMM=dbus-daemon, _SYSTEMD_UNIT=dbus.service) fails --activations times,
every ~2 s, to activate one of --units bus names: an "Activating via systemd" line naming its
requester (a new one each time) and an "Activation via systemd failed" line naming the job, so no
text repeats.  Beside them, --noise lines of other daemons (nine in ten of them repeating).
Written as journal export format piped into systemd-journal-remote -o OUT/journal/system.journal
--split-mode=none -, as bench/generate.py does (journal-remote 252 rotates a file at 128 MiB by
itself: keep the total under about 350,000 entries).  Many units cost the analysis, not the
reading (each unit is a series of its own): --units stays small.

unitaudit's bus pass must read it entry by entry, as before the exact-text pass (texts.py's probe
sees no text repeat and goes on): its time against `journalctl -D OUT/journal -o cat | wc -l` is the
check that such a journal is no slower than before.  Python 3.7+, stdlib only.
"""
import argparse
import os
import random
import subprocess
import sys

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
START_US = 1705545362003130  # 2024-01-18T02:36:02Z, as the bench's workload
BOOT = "6fbe844e92e3ccad7b09f267fcab7991"
MACHINE = "fd83573924d4bb36ebc09412d3f20bf3"
ACTIVATING = ("[system] Activating via systemd: service name='org.example.Svc%03d' unit='dbus-org.example.Svc%03d.service' "
              "requested by ':1.%d' (uid=1000 pid=%d comm=\"client\")")
FAILED = ("[system] Activation via systemd failed for unit 'dbus-org.example.Svc%03d.service': "
          "Unit dbus-org.example.Svc%03d.service not found (job %d).")


def entry(t_us, fields):
    """One entry in journal export format."""
    out = ["__REALTIME_TIMESTAMP=%d" % t_us, "__MONOTONIC_TIMESTAMP=%d" % (t_us - START_US + 5000000),
           "_BOOT_ID=" + BOOT, "_MACHINE_ID=" + MACHINE, "_HOSTNAME=uos-pc"]
    out += ["%s=%s" % kv for kv in fields]
    return ("\n".join(out) + "\n\n").encode("utf-8")


def bus(text):
    return [("_TRANSPORT", "syslog"), ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "dbus-daemon"), ("_UID", "104"),
            ("_GID", "108"), ("_COMM", "dbus-daemon"), ("_EXE", "/usr/bin/dbus-daemon"),
            ("_SYSTEMD_CGROUP", "/system.slice/dbus.service"), ("_SYSTEMD_UNIT", "dbus.service"),
            ("_PID", "541"), ("MESSAGE", text)]


def noise(rng, i):
    text = "wlp4s0: CTRL-EVENT-SIGNAL-CHANGE above=0 signal=-%d" % rng.randrange(40, 90) if i % 10 else \
        "connection %d: keepalive sent after %d ms" % (i, rng.randrange(1000))
    return [("_TRANSPORT", "syslog"), ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "wpa_supplicant"), ("_UID", "0"),
            ("_COMM", "wpa_supplicant"), ("_SYSTEMD_UNIT", "wpa_supplicant.service"), ("_PID", "643"),
            ("MESSAGE", text)]


def stream(activations, units, noise_lines, seed):
    """The entries in time order: an activation every ~2 s, noise spread between them."""
    rng = random.Random(seed)
    per = noise_lines // max(activations, 1)
    t = START_US
    n = 0
    for a in range(activations):
        u = a % units
        yield entry(t, bus(ACTIVATING % (u, u, a, 2000 + a)))
        yield entry(t + 300 + rng.randrange(1000), bus(FAILED % (u, u, 1000 + a)))
        for k in range(per):
            t_noise = t + 2000 + (k + 1) * (2000000 // (per + 1))
            yield entry(t_noise, noise(rng, n))
            n += 1
        t += 2000000 + rng.randrange(-20000, 20001)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--activations", type=int, default=100000)
    ap.add_argument("--units", type=int, default=20, help="bus names (default 20)")
    ap.add_argument("--noise", type=int, default=100000, help="other daemons' lines (default 100000)")
    ap.add_argument("--seed", default="1")
    args = ap.parse_args(argv)
    jdir = os.path.join(args.out, "journal")
    os.makedirs(jdir, exist_ok=True)
    path = os.path.join(jdir, "system.journal")
    for name in os.listdir(jdir):
        if name.endswith(".journal"):
            os.unlink(os.path.join(jdir, name))
    proc = subprocess.Popen([JOURNAL_REMOTE, "-o", path, "--split-mode=none", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    total = 0
    batch = []
    for data in stream(args.activations, args.units, args.noise, args.seed):
        batch.append(data)
        total += 1
        if len(batch) >= 4096:
            proc.stdin.write(b"".join(batch))
            batch = []
    proc.stdin.write(b"".join(batch))
    proc.stdin.close()
    err = proc.stderr.read().decode("utf-8", "replace")
    if proc.wait() != 0:
        sys.exit("distinct_journal.py: systemd-journal-remote failed: %s" % err.strip())
    print("%s: %d entries, %d failing activations of %d bus names, every text distinct"
          % (path, total, args.activations, args.units))
    return 0


if __name__ == "__main__":
    sys.exit(main())
