"""The harness itself: a lab boots a real systemd, starts only what its test needs of what the root
enabled, and never leaks a mount or a process, whether the test using it passes, fails, or the run
is interrupted."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from unitaudit_lab import machine, roots, units
from unitaudit_lab.host import mounted_under, nspawn_pids_for
from unitaudit_lab.support import ROOT, boot_lab, in_ci, require_lab

# What the seed's scenario makes fail on purpose: logrotate on every timer run (the restart loop
# sits in auto-restart, and may be caught between two starts).
SEED_FAILS = {"logrotate.service", "deepin-anything-monitor.service"}


def _leftovers(lab_dir: str):
    mounts = mounted_under(lab_dir)
    procs = nspawn_pids_for(lab_dir + "/root")
    return mounts, procs, os.path.exists(lab_dir)


def _failed(lab) -> set:
    out = lab.run("systemctl", "--failed", "--plain", "--no-legend", "--no-pager", check=False, record=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _unit_states(lab, *patterns: str) -> dict:
    """unit -> (UnitFileState, ActiveState) of the units matching the patterns, loaded or not."""
    out = lab.run("systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", *patterns,
                  check=False, record=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return {n: (lab.show(n, "UnitFileState"), lab.show(n, "ActiveState")) for n in names}


def test_seed_lab_runs_a_real_systemd_with_the_three_loops(seed_lab):
    assert seed_lab.run("readlink", "/proc/1/exe").stdout.strip().endswith("/systemd")
    assert seed_lab.run("systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded")
    assert seed_lab.show("deepin-anything-monitor.service", "SubState") in ("auto-restart", "start-pre", "stop-post")
    assert not os.path.exists(seed_lab.root / "etc/systemd/system/dbus-org.freedesktop.Avahi.service")
    assert seed_lab.run("systemctl", "is-enabled", "avahi-daemon.service", check=False).stdout.strip() == "enabled"
    assert seed_lab.journal_count("unexpected text after }", "-u", "logrotate.service") >= 3


def test_the_seed_lab_starts_nothing_this_machine_enabled(seed_lab):
    """Prometheus and its exporters' timers, PostgreSQL, smartd, an init script's daemon: enabled on
    this machine, masked in its lab; what fails there is what the scenario made fail."""
    enabled = [u for u in units.enabled_units("/") if u not in units.LAB_NEEDS]
    assert set(enabled) <= set(seed_lab.masked)
    said = {u: seed_lab.run("systemctl", "is-enabled", u, check=False, record=False).stdout.strip() for u in enabled}
    assert set(said.values()) <= {"masked"}, "enabled on the machine, not masked in the lab: %s" % said
    running = {u: st for u, st in _unit_states(seed_lab, *enabled).items() if st[1] != "inactive"}
    assert not running, "enabled on the machine and started in the lab: %s" % running
    prometheus = _unit_states(seed_lab, "prometheus*")
    assert all(active == "inactive" for _, active in prometheus.values()), prometheus
    assert _failed(seed_lab) <= SEED_FAILS


def _lower(suite):
    if suite is None:
        return "/"
    if not roots.is_ready(suite):
        why = "no lab root for %s: `make lab-roots` builds it" % suite
        if in_ci():
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return str(roots.root_path(suite))


@pytest.mark.parametrize("suite", [None] + [pytest.param(s, marks=pytest.mark.matrix) for s in sorted(roots.SUITES)])
def test_a_lab_boots_with_nothing_failed_and_nothing_its_root_enabled_running(request, suite):
    """This machine's root, or another release's (roots.py): what the root enabled stays masked,
    and with no scenario nothing fails."""
    lower = _lower(suite)
    lab = boot_lab(request, "ua-probe-bare", lower=lower)
    enabled = [u for u in units.enabled_units(lower) if u not in units.LAB_NEEDS]
    assert enabled, (enabled, lab.masked)
    assert set(enabled) <= set(lab.masked), (enabled, lab.masked)
    running = {u: st for u, st in _unit_states(lab, *enabled).items() if st != ("masked", "inactive")}
    assert not running, "enabled on the root and not masked and inactive in its lab: %s" % running
    assert _failed(lab) == set()
    assert lab.system_state == "running"


def test_a_unit_the_test_asks_for_is_started_and_the_rest_stay_masked(request):
    """Lab(start=...): a unit the machine enabled that the test is about runs in the lab."""
    candidates = [u for u in units.units_to_mask("/") if u.endswith(".timer")]
    if not candidates:
        pytest.skip("this machine has no timer enabled to start on purpose")
    wanted = "prometheus-node-exporter-apt.timer" if "prometheus-node-exporter-apt.timer" in candidates \
        else candidates[0]
    lab = boot_lab(request, "ua-probe-start", start=(wanted,))
    assert wanted not in lab.masked
    assert set(candidates) - {wanted} <= set(lab.masked)
    assert lab.run("systemctl", "is-enabled", wanted, check=False).stdout.strip() == "enabled"
    assert lab.show(wanted, "ActiveState") == "active"
    assert lab.show(wanted, "InvocationID")
    others = {u: lab.show(u, "ActiveState") for u in set(candidates) - {wanted}}
    assert set(others.values()) <= {"inactive"}, others


CHILD = textwrap.dedent("""
    import time
    from unitaudit_lab import machine
    with machine.booted("ua-probe-%(how)s") as lab:
        print(lab.dir, flush=True)
        if %(how)r == "exception":
            raise RuntimeError("a failing test")
        time.sleep(300)
""")


def _child(how: str):
    # run from the checkout: `python -c` imports from the directory it starts in
    return subprocess.Popen([sys.executable, "-c", CHILD % {"how": how}], cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_lab_is_torn_down_when_the_code_using_it_fails():
    require_lab()
    child = _child("exception")
    lab_dir = child.stdout.readline().strip()
    _, err = child.communicate(timeout=120)
    assert child.returncode != 0
    assert "a failing test" in err
    assert lab_dir
    assert _leftovers(lab_dir) == ([], [], False)


def test_lab_is_torn_down_on_sigterm_and_sigint():
    require_lab()
    for sig in (signal.SIGTERM, signal.SIGINT):
        child = _child("signal")
        lab_dir = child.stdout.readline().strip()
        assert lab_dir, "the lab should be up before the signal"
        assert mounted_under(lab_dir), "the lab should be up before the signal"
        time.sleep(0.5)
        child.send_signal(sig)
        child.communicate(timeout=120)
        assert _leftovers(lab_dir) == ([], [], False), "leak after %s" % sig.name


def test_a_pytest_run_with_a_failing_lab_test_leaves_nothing(tmp_path):
    require_lab()
    (tmp_path / "test_fails.py").write_text(textwrap.dedent("""
        import pytest
        from unitaudit_lab import machine

        @pytest.fixture(scope="session")
        def lab():
            with machine.booted("ua-probe-pytest") as lab:
                print("LABDIR", lab.dir)
                yield lab

        def test_fails(lab):
            open("%s/labdir", "w").write(str(lab.dir))
            assert False, "on purpose"
    """ % tmp_path))
    # `python -m` imports from the directory it starts in: the checkout
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                       cwd=str(ROOT), capture_output=True, text=True, timeout=180)
    assert r.returncode == 1
    assert "on purpose" in r.stdout
    lab_dir = (tmp_path / "labdir").read_text()
    assert _leftovers(lab_dir) == ([], [], False)


def _cgroup(pid: int) -> str:
    with open("/proc/%d/cgroup" % pid) as f:
        return next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))


def test_each_lab_has_a_cgroup_tree_of_its_own(seed_lab):
    """Labs started from one process must not share a cgroup tree: each container's systemd
    would kill and remove the other's unit cgroups (status=219/CGROUP, result 'resources')."""
    require_lab()
    with machine.booted("ua-probe-cgroup") as other:
        mine, theirs = _cgroup(seed_lab.leader), _cgroup(other.leader)
        assert seed_lab.dir.name in mine, (mine, theirs)
        assert other.dir.name in theirs, (mine, theirs)
        assert other.cgroups
        assert all(os.path.isdir(g) for g in other.cgroups)
        made = list(other.cgroups)
    assert not [g for g in made if os.path.exists(g)], "cgroups left after teardown: %s" % made
