"""The lab fixtures: real systemd booted per LAB.md, one per scenario, for the whole session.

Outside CI a lab test that cannot run (not root, no systemd-nspawn) is skipped with the reason;
with CI=true it fails: CI must prove the live claims, not skip them.  Each lab masks what this
machine enabled (unitaudit_lab/units.py): it runs the scenario's units and systemd's own, no more.
"""
import pytest

from unitaudit_lab import scenarios
from unitaudit_lab.support import boot_lab, build_deb


@pytest.fixture(scope="session")
def seed_lab(request):
    """The seed's three loops, running: missing Avahi alias with a client calling every 2 s,
    deepin-anything-monitor's modprobe ExecStartPre loop (RestartSec=2), logrotate failing every 5 s."""
    lab = boot_lab(request, "ua-seed")
    scenarios.setup_seed_loops(lab.lab, {}, [], scenarios.FAST)
    scenarios.wait_for_seed_loops(lab.lab)
    return lab


@pytest.fixture(scope="session")
def controls_lab(request):
    """Healthy controls: a unit that failed once then succeeded, one that fails once, a daemon
    restarted by hand three times, three good logrotate runs, avahi-daemon disabled on purpose
    and a caller that should be told so."""
    lab = boot_lab(request, "ua-ctl")
    scenarios.setup_controls(lab.lab, {}, [])
    scenarios.run_controls(lab.lab)
    return lab


@pytest.fixture(scope="session")
def deb():
    """The Debian package built once from this checkout (`make deb`, lintian included), for the
    package lab on this machine's Debian 12 and the labs of other releases."""
    return build_deb()
