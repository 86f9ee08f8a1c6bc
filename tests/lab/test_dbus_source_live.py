"""The D-Bus source against a real systemd (the lab, LAB.md) running the seed's three loops."""
import time

import pytest

from unitaudit.errors import SourceError
from unitaudit.sources.dbus import DBusSource

LOOPING = "deepin-anything-monitor.service"
ALIAS_LINK = "/etc/systemd/system/dbus-org.freedesktop.Avahi.service"


@pytest.fixture(scope="module")
def source(seed_lab):
    return DBusSource(seed_lab.bus_address)


def _unit_names(lab):
    out = lab.run("systemctl", "list-units", "--all", "--plain", "--no-legend", "--full").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _after_a_failed_start_pre(source, timeout=30.0):
    """A read in which the looping unit has restarted and its ExecStartPre has finished a run:
    while modprobe runs, systemd reports that run as started and not exited."""
    deadline = time.monotonic() + timeout
    while True:
        unit = source.read().by_name()[LOOPING]
        if unit.n_restarts and unit.exec_start_pre and unit.exec_start_pre[0].exited is not None:
            return unit
        assert time.monotonic() < deadline, "no completed ExecStartPre run in %g s: %s" % (timeout, unit)
        time.sleep(0.3)


def test_units_are_those_systemctl_lists(seed_lab, source):
    # Units come and go while the loops run (the missing alias is loaded and dropped on every
    # activation attempt): what both listings agree on must be read, nothing outside them.
    before = _unit_names(seed_lab)
    state = source.read()
    after = _unit_names(seed_lab)
    read = [u.name for u in state.units]
    assert len(read) == len(set(read))
    assert before & after <= set(read) <= before | after
    assert len(read) > 100
    assert not [w for w in state.warnings if "NRestarts" in w]


def test_the_restart_loop_and_its_failing_exec_start_pre(seed_lab, source):
    restarts_before = int(seed_lab.show(LOOPING, "NRestarts"))
    unit = _after_a_failed_start_pre(source)
    restarts_after = int(seed_lab.show(LOOPING, "NRestarts"))
    assert 1 <= unit.n_restarts
    assert restarts_before <= unit.n_restarts <= restarts_after
    assert (unit.load_state, unit.restart, unit.unit_file_state) == ("loaded", "always", "enabled")
    assert unit.fragment_path == "/etc/systemd/system/" + LOOPING
    (pre,) = unit.exec_start_pre
    assert (pre.path, pre.argv) == ("/usr/sbin/modprobe", ("/usr/sbin/modprobe", "vfs_monitor"))
    assert (pre.code, pre.status, pre.failed) == (1, 1, True)  # CLD_EXITED, modprobe's exit status
    assert abs(pre.exited - time.time()) < 60
    assert pre.started <= pre.exited
    assert unit.exec_stop_post[0].argv == ("/usr/sbin/rmmod", "vfs_monitor")


def test_unit_file_states_are_those_systemctl_lists(seed_lab, source):
    files = source.read(with_unit_files=True).unit_files
    listed = seed_lab.run("systemctl", "list-unit-files", "--no-legend", "--full").stdout
    expected = {line.split()[0]: line.split()[1] for line in listed.splitlines() if line.strip()}
    assert {f.name: f.state for f in files} == expected
    avahi = [f for f in files if f.name == "avahi-daemon.service"]
    assert [(f.path, f.state) for f in avahi] == [("/lib/systemd/system/avahi-daemon.service", "enabled")]
    assert ALIAS_LINK not in {f.path for f in files}


def test_unit_file_links_miss_the_removed_alias(source):
    source.read(with_unit_files=True)
    links = source.unit_file_links(["avahi-daemon.service"])["avahi-daemon.service"]
    assert "/etc/systemd/system/multi-user.target.wants/avahi-daemon.service" in links
    assert ALIAS_LINK not in links


def test_a_bogus_bus_address_is_one_line(seed_lab):
    bogus = "unix:path=/proc/%d/root/run/dbus/no_such_socket" % seed_lab.leader
    with pytest.raises(SourceError) as e:
        DBusSource(bogus).read()
    assert str(e.value) == "D-Bus: cannot connect to %s: No such file or directory" % bogus
    with pytest.raises(SourceError, match="^D-Bus: bad bus address"):
        DBusSource("unix:path=/run/dbus/system bus socket").read()
