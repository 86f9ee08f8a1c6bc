"""Root file systems of other Debian releases for the lab, made once per machine with debootstrap.

The default lab is an overlay of this machine's own root (Debian 12, systemd 252).  The version
matrix boots the same way over a debootstrapped root instead: Debian 11 (systemd 247, dbus 1.12,
logrotate 3.18, Python 3.9) and Debian 13 (systemd 257, dbus 1.16, Python 3.13).  Each root is
built into ROOTS_DIR/<suite> from the Debian mirror apt is configured with, then only read (every
lab overlays it, so nothing a test does reaches the cache).  A root is complete when its stamp
names the same package list; an interrupted build leaves only a `.partial` directory, removed on
the next try.

    python3 -m unitaudit_lab.roots            # build what is missing (root, network to the mirror)
    python3 -m unitaudit_lab.roots --check    # exit 1 if a root is missing or stale

(from the checkout's top directory; `make lab-roots` runs it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOTS_DIR = Path(os.environ.get("UNITAUDIT_LAB_ROOTS", "/var/cache/unitaudit-lab"))

# What the seed's loops and the package tests need inside, and no more.  python3-systemd is left
# out on purpose: `apt-get install ./unitaudit_*.deb` in the lab must resolve it from the
# release's own archive, as on a user's machine.
INCLUDE = ("systemd", "systemd-sysv", "dbus", "python3", "logrotate", "kmod", "avahi-daemon",
           "util-linux", "apt", "passwd", "bash", "procps")

SUITES = {
    # suite: what it stands for in the platform table (README)
    "bullseye": "Debian 11: systemd 247, dbus 1.12, logrotate 3.18, Python 3.9",
    "trixie": "Debian 13: systemd 257, dbus 1.16, logrotate 3.22, Python 3.13",
}
STAMP = ".unitaudit-root"


def mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]:
        try:
            text = path.read_text()
        except OSError:
            continue
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or \
            re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", text, re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def stamp_text(suite: str) -> str:
    return "suite=%s\ninclude=%s\n" % (suite, ",".join(INCLUDE))


def root_path(suite: str) -> Path:
    return ROOTS_DIR / suite


def is_ready(suite: str) -> bool:
    try:
        return (root_path(suite) / STAMP).read_text() == stamp_text(suite)
    except OSError:
        return False


def build(suite: str) -> float:
    """debootstrap SUITE into ROOTS_DIR/SUITE; the seconds it took."""
    target = root_path(suite)
    partial = ROOTS_DIR / (suite + ".partial")
    ROOTS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(str(partial), ignore_errors=True)
    t0 = time.monotonic()
    cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(INCLUDE), suite, str(partial), mirror()]
    print("lab root: " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise SystemExit("debootstrap %s failed (%d):\n%s" % (suite, r.returncode, r.stdout[-3000:]))
    # A booted lab sets its own machine-id; an empty file here keeps systemd from running firstboot.
    (partial / "etc/machine-id").write_text("")
    (partial / STAMP).write_text(stamp_text(suite))
    if target.exists():
        shutil.rmtree(str(target))
    partial.rename(target)
    took = time.monotonic() - t0
    print("lab root %s ready in %.0f s: %s" % (suite, took, target), file=sys.stderr, flush=True)
    return took


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only tell whether every root is built")
    ap.add_argument("suites", nargs="*", default=list(SUITES))
    args = ap.parse_args(argv)
    missing = [s for s in args.suites if not is_ready(s)]
    if args.check:
        for s in missing:
            print("missing lab root: %s (%s)" % (root_path(s), SUITES.get(s, s)))
        return 1 if missing else 0
    if missing and os.geteuid() != 0:
        print("building lab roots needs root: %s" % ", ".join(missing), file=sys.stderr)
        return 1
    for s in missing:
        build(s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
