"""What lab tests share: may the lab run here, and a booted lab with the test's helpers."""
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

import machine
import scenarios

LAB_DIR = Path(__file__).resolve().parent
ROOT = LAB_DIR.parent.parent

NEEDED = ("systemd-nspawn", "nsenter", "mount", "umount", "findmnt", "systemd-id128", "busctl",
          "dbus-daemon", "dbus-monitor", "avahi-daemon", "logrotate", "modprobe", "journalctl", "strace")


def why_no_lab():
    if os.geteuid() != 0:
        return "the lab needs root (mount, systemd-nspawn, nsenter)"
    missing = [b for b in NEEDED if shutil.which(b, path=machine.HOST_ENV["PATH"]) is None]
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
LAB_WRAPPER = """\
#!/bin/sh
# this checkout's code on Debian's python3 and its packaged libraries: what the .deb runs on
export PYTHONPATH=%s
exec /usr/bin/python3 -B -m unitaudit "$@"
""" % LAB_CODE


def install_unitaudit(lab) -> None:
    """/usr/bin/unitaudit in the lab, as a unit (the timer's service) runs it."""
    lab.run("rm", "-rf", LAB_CODE)
    lab.run("mkdir", "-p", LAB_CODE)
    # pyproject.toml: the recipe loader reads remediations/ of a checkout only beside one
    lab.run("cp", "-r", str(ROOT / "unitaudit"), str(ROOT / "remediations"), str(ROOT / "pyproject.toml"), LAB_CODE)
    lab.write("/usr/bin/unitaudit", LAB_WRAPPER, 0o755)


def boot_lab(request, name: str):
    """A booted lab torn down when `request`'s scope ends; a failure to boot fails in CI, skips elsewhere."""
    require_lab()
    machine.reap_stale()
    ctx = machine.booted("%s-%d" % (name, os.getpid()))
    try:
        lab = ctx.__enter__()
    except Exception as e:  # noqa: BLE001 - a lab that does not boot is a failure in CI, a skip elsewhere
        ctx.__exit__(*sys.exc_info())
        if in_ci():
            pytest.fail("lab did not boot: %s" % e, pytrace=False)
        pytest.skip("lab did not boot: %s" % e)
    request.addfinalizer(lambda: ctx.__exit__(None, None, None))
    return LiveLab(lab)
