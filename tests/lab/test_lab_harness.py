"""The harness itself: a lab boots a real systemd and never leaks a mount or a process, whether
the test using it passes, fails, or the run is interrupted."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import machine
from support import LAB_DIR, require_lab


def _leftovers(lab_dir: str):
    mounts = machine.mounted_under(lab_dir)
    procs = machine._nspawn_pids_for(lab_dir + "/root")
    return mounts, procs, os.path.exists(lab_dir)


def test_seed_lab_runs_a_real_systemd_with_the_three_loops(seed_lab):
    assert seed_lab.run("readlink", "/proc/1/exe").stdout.strip().endswith("/systemd")
    assert seed_lab.run("systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded")
    assert seed_lab.show("deepin-anything-monitor.service", "SubState") in ("auto-restart", "start-pre", "stop-post")
    assert not os.path.exists(seed_lab.root / "etc/systemd/system/dbus-org.freedesktop.Avahi.service")
    assert seed_lab.run("systemctl", "is-enabled", "avahi-daemon.service", check=False).stdout.strip() == "enabled"
    assert seed_lab.journal_count("unexpected text after }", "-u", "logrotate.service") >= 3


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, %(lab_dir)r)
    import machine
    with machine.booted("ua-probe-%(how)s") as lab:
        print(lab.dir, flush=True)
        if %(how)r == "exception":
            raise RuntimeError("a failing test")
        time.sleep(300)
""")


def _child(how: str):
    return subprocess.Popen([sys.executable, "-c", CHILD % {"lab_dir": str(LAB_DIR), "how": how}],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_lab_is_torn_down_when_the_code_using_it_fails():
    require_lab()
    child = _child("exception")
    lab_dir = child.stdout.readline().strip()
    _, err = child.communicate(timeout=120)
    assert child.returncode != 0 and "a failing test" in err
    assert lab_dir and _leftovers(lab_dir) == ([], [], False)


def test_lab_is_torn_down_on_sigterm_and_sigint():
    require_lab()
    for sig in (signal.SIGTERM, signal.SIGINT):
        child = _child("signal")
        lab_dir = child.stdout.readline().strip()
        assert lab_dir and machine.mounted_under(lab_dir), "the lab should be up before the signal"
        time.sleep(0.5)
        child.send_signal(sig)
        child.communicate(timeout=120)
        assert _leftovers(lab_dir) == ([], [], False), "leak after %s" % sig.name


def test_a_pytest_run_with_a_failing_lab_test_leaves_nothing(tmp_path):
    require_lab()
    (tmp_path / "test_fails.py").write_text(textwrap.dedent("""
        import sys
        sys.path.insert(0, %r)
        import pytest, machine

        @pytest.fixture(scope="session")
        def lab():
            with machine.booted("ua-probe-pytest") as lab:
                print("LABDIR", lab.dir)
                yield lab

        def test_fails(lab):
            open("%s/labdir", "w").write(str(lab.dir))
            assert False, "on purpose"
    """ % (str(LAB_DIR), tmp_path)))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 1 and "on purpose" in r.stdout
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
        assert seed_lab.dir.name in mine and other.dir.name in theirs, (mine, theirs)
        assert other.cgroups and all(os.path.isdir(g) for g in other.cgroups)
        made = list(other.cgroups)
    assert not [g for g in made if os.path.exists(g)], "cgroups left after teardown: %s" % made
