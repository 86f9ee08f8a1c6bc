"""What lab tests share: may the lab run here, and a booted lab with the test's helpers."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unitaudit_lab import machine, scenarios
from unitaudit_lab.host import HOST_ENV
from unitaudit_lab.reap import reap_stale

ROOT = machine.CHECKOUT
VERSION = re.match(r"unitaudit \(([^)]+)\)", (ROOT / "packaging/debian/changelog").read_text()).group(1)
DEB = ROOT / "build" / "deb" / ("unitaudit_%s_all.deb" % VERSION)
BUILD_TIMEOUT = 15 * 60  # a fresh machine first installs debhelper, dh-python, lintian and the wheels

NEEDED = ("systemd-nspawn", "nsenter", "mount", "umount", "findmnt", "systemd-id128", "busctl",
          "dbus-daemon", "dbus-monitor", "avahi-daemon", "logrotate", "modprobe", "journalctl", "strace")


def why_no_lab():
    if os.geteuid() != 0:
        return "the lab needs root (mount, systemd-nspawn, nsenter)"
    missing = [b for b in NEEDED if shutil.which(b, path=HOST_ENV["PATH"]) is None]
    if missing:
        return "missing programs: %s (make system-packages installs them)" % ", ".join(missing)
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require_lab():
    why = why_no_lab()
    if why:
        if in_ci():
            pytest.fail("lab test cannot run in CI: " + why, pytrace=False)
        pytest.skip(why)


class LiveLab:
    """A booted lab plus what the tests do with it."""

    def __init__(self, lab: "machine.Lab"):
        self.lab = lab

    def __getattr__(self, name):
        return getattr(self.lab, name)

    def unitaudit(self, *args: str, timeout: float = 120, env=None):
        """Run this checkout's unitaudit inside the container, with the Python running the tests
        (the overlay shows the host's files at the same paths).  -B: no byte-code cache written."""
        return self.lab.run(sys.executable, "-B", "-m", "unitaudit", *args, check=False, record=False,
                            timeout=timeout, env={"PYTHONPATH": str(ROOT), **(env or {})})

    def scan_json(self, *args: str) -> dict:
        r = self.unitaudit("scan", "--json", *args)
        assert r.returncode in (0, 1), "scan failed (%d): %s" % (r.returncode, r.stderr)
        return json.loads(r.stdout)

    def journal_count(self, needle: str, *match: str) -> int:
        return scenarios.journal_count(self.lab, needle, *match)

    def show(self, unit: str, prop: str) -> str:
        return self.lab.run("systemctl", "show", "-p", prop, "--value", unit, check=False, record=False).stdout.strip()


# Where /usr/bin/unitaudit's code lives in a lab whose units run it.  Not the checkout's own path:
# a unit with PrivateTmp= sees a /tmp of its own, and a CI clone (and its .venv) lives under /tmp.
LAB_CODE = "/opt/unitaudit-lab"
# The libraries the package carries, unpacked by `make vendor` (part of `make setup`).
VENDOR_LIB = ROOT / "build" / "vendor" / "lib"
# PYTHONPATH for Debian's /usr/bin/python3 running this checkout inside a lab (an ordinary user
# cannot enter root's virtual environment): the carried libraries first, as the package has them.
CHECKOUT_PATH = "%s:%s" % (VENDOR_LIB, ROOT)
LAB_WRAPPER = """\
#!/bin/sh
# this checkout's code on Debian's python3 with the libraries the .deb carries, first on the path
export PYTHONPATH=%s/lib:%s
exec /usr/bin/python3 -B -m unitaudit "$@"
""" % (LAB_CODE, LAB_CODE)


def install_unitaudit(lab) -> None:
    """/usr/bin/unitaudit in the lab, as a unit (the timer's service) runs it."""
    lab.run("rm", "-rf", LAB_CODE)
    lab.run("mkdir", "-p", LAB_CODE)
    # pyproject.toml: the recipe loader reads remediations/ of a checkout only beside one
    lab.run("cp", "-r", str(ROOT / "unitaudit"), str(ROOT / "remediations"), str(ROOT / "pyproject.toml"), LAB_CODE)
    if not (VENDOR_LIB / "typer").is_dir():
        pytest.fail("%s is missing: `make vendor` (part of make setup) unpacks the carried libraries" % VENDOR_LIB,
                    pytrace=False)
    lab.run("cp", "-r", str(VENDOR_LIB), LAB_CODE + "/lib")
    lab.write("/usr/bin/unitaudit", LAB_WRAPPER, 0o755)


def boot_lab(request, name: str, lower: str = "/", start: tuple = ()):
    """A booted lab torn down when `request`'s scope ends; a failure to boot fails in CI, skips elsewhere.
    `lower`: the root it overlays (this machine's, or a release's from roots.py); `start`: units
    that root enabled which the test starts on purpose (the lab masks every other one)."""
    require_lab()
    reap_stale()
    ctx = machine.booted("%s-%d" % (name, os.getpid()), lower=lower, start=start)
    try:
        lab = ctx.__enter__()
    except Exception as e:  # noqa: BLE001 - a lab that does not boot is a failure in CI, a skip elsewhere
        ctx.__exit__(*sys.exc_info())
        if in_ci():
            pytest.fail("lab did not boot: %s" % e, pytrace=False)
        pytest.skip("lab did not boot: %s" % e)
    request.addfinalizer(lambda: ctx.__exit__(None, None, None))
    return LiveLab(lab)


def _cannot_build(why: str):
    if in_ci():
        pytest.fail("the package cannot be built in CI: " + why, pytrace=False)
    pytest.skip(why)


def build_deb() -> Path:
    """`make deb` from the checkout: the .deb's path.  A machine that cannot get the build tools
    (no root, no network for apt) skips outside CI; any other failure of the build is a failure."""
    require_lab()  # root: the build installs its dependencies, the lab boots
    if shutil.which("make") is None:
        _cannot_build("make is not installed")
    t0 = time.monotonic()
    try:
        r = subprocess.run(["make", "-C", str(ROOT), "deb"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("make deb took more than %d s" % BUILD_TIMEOUT, pytrace=False)
    out = r.stdout + r.stderr
    print("make deb -> %d in %.1f s" % (r.returncode, time.monotonic() - t0))
    print(out[out.find("== lintian"):] if "== lintian" in out else out[-3000:])
    if r.returncode != 0:
        tree = ROOT / "build" / "deb" / ("unitaudit-" + VERSION)
        tools = shutil.which("dpkg-buildpackage") and shutil.which("lintian")
        deps = tree.is_dir() and subprocess.run(["dpkg-checkbuilddeps"], cwd=str(tree), capture_output=True).returncode == 0
        if not (tools and deps):
            _cannot_build("the build tools or build dependencies could not be installed:\n" + out[-3000:])
        pytest.fail("make deb failed (%d):\n%s" % (r.returncode, out[-6000:]), pytrace=False)
    assert "built: %s" % DEB in out and DEB.is_file(), out[-2000:]
    assert not re.search(r"^E: ", out, re.M), "lintian errors:\n" + out
    return DEB
