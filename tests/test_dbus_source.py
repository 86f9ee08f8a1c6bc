"""The D-Bus source: conversions on values a real systemd 252 returned, and the fault cases.

The conversion inputs below were captured from the lab (LAB.md: systemd 252.39-1~deb12u2 in
systemd-nspawn, the seed loops running, read with dbus-next 0.2.3 as unitaudit.sources.dbus
reads them): the ListUnits entry of each unit and a subset of its GetAll answers, with the
signatures systemd sent.  The proof against a real systemd is tests/lab/test_dbus_source.py; the
fake bus below exists only for faults a healthy systemd will not produce on demand (a unit
vanishing between two calls, a denying bus policy, a systemd older than 235, a bus that never
answers).
"""
import dataclasses
import socket
import threading
import time

import pytest
from dbus_next import Message, Variant
from dbus_next._private.unmarshaller import Unmarshaller

from unitaudit.errors import SourceError
from unitaudit.model import ExecStatus, UnitFile, UnitState
from unitaudit.sources.dbus import SERVICE_PROPERTIES, DBusSource, exec_statuses, unit_files, unit_state

# -- captured from the lab ------------------------------------------------------------------------

LISTED = {
    "deepin-anything-monitor.service": ("deepin-anything-monitor.service", "Deepin anything service", "loaded", "activating", "auto-restart", "", "/org/freedesktop/systemd1/unit/deepin_2danything_2dmonitor_2eservice", 0, "", "/"),
    "systemd-udevd.service": ("systemd-udevd.service", "systemd-udevd.service", "not-found", "inactive", "dead", "", "/org/freedesktop/systemd1/unit/systemd_2dudevd_2eservice", 0, "", "/"),
    "systemd-logind.service": ("systemd-logind.service", "User Login Management", "loaded", "active", "running", "", "/org/freedesktop/systemd1/unit/systemd_2dlogind_2eservice", 0, "", "/"),
    "logrotate.timer": ("logrotate.timer", "Daily rotation of log files", "loaded", "active", "waiting", "", "/org/freedesktop/systemd1/unit/logrotate_2etimer", 0, "", "/"),
}


def _variants(props):
    return {k: Variant(sig, value) for k, (sig, value) in props.items()}


UNIT_PROPS = {
    "deepin-anything-monitor.service": _variants({
        "Id": ("s", "deepin-anything-monitor.service"), "Names": ("as", ["deepin-anything-monitor.service"]),
        "Description": ("s", "Deepin anything service"), "LoadState": ("s", "loaded"),
        "ActiveState": ("s", "activating"), "SubState": ("s", "auto-restart"), "UnitFileState": ("s", "enabled"),
        "FragmentPath": ("s", "/etc/systemd/system/deepin-anything-monitor.service"), "LoadError": ("(ss)", ["", ""]),
        "NeedDaemonReload": ("b", False), "Following": ("s", ""),
        "InvocationID": ("ay", b"_\x8c\xe0\xac\xd7{A^\x97G\xc9\xce\xaf\xe6*\t"),
    }),
    "systemd-udevd.service": _variants({
        "Id": ("s", "systemd-udevd.service"), "Names": ("as", ["systemd-udevd.service"]),
        "Description": ("s", "systemd-udevd.service"), "LoadState": ("s", "not-found"), "ActiveState": ("s", "inactive"),
        "SubState": ("s", "dead"), "UnitFileState": ("s", ""), "FragmentPath": ("s", ""),
        "LoadError": ("(ss)", ["org.freedesktop.systemd1.NoSuchUnit", "Unit systemd-udevd.service not found."]),
        "NeedDaemonReload": ("b", False),
    }),
    "systemd-logind.service": _variants({
        "Id": ("s", "systemd-logind.service"), "Names": ("as", ["systemd-logind.service", "dbus-org.freedesktop.login1.service"]),
        "Description": ("s", "User Login Management"), "LoadState": ("s", "loaded"), "ActiveState": ("s", "active"),
        "SubState": ("s", "running"), "UnitFileState": ("s", "static"),
        "FragmentPath": ("s", "/lib/systemd/system/systemd-logind.service"), "LoadError": ("(ss)", ["", ""]),
        "NeedDaemonReload": ("b", False),
    }),
    "logrotate.timer": _variants({
        "Id": ("s", "logrotate.timer"), "Names": ("as", ["logrotate.timer"]), "Description": ("s", "Daily rotation of log files"),
        "LoadState": ("s", "loaded"), "ActiveState": ("s", "active"), "SubState": ("s", "waiting"),
        "UnitFileState": ("s", "enabled"), "FragmentPath": ("s", "/lib/systemd/system/logrotate.timer"),
        "LoadError": ("(ss)", ["", ""]), "NeedDaemonReload": ("b", False),
    }),
}

EXEC = "a(sasbttttuii)"
SERVICE_PROPS = {
    # the looping unit in auto-restart: its ExecStartPre (modprobe vfs_monitor) exited with status 1
    "deepin-anything-monitor.service": _variants({
        "NRestarts": ("u", 3), "Result": ("s", "exit-code"), "Restart": ("s", "always"), "RestartUSec": ("t", 5000000),
        "ExecStartPre": (EXEC, [["/usr/sbin/modprobe", ["/usr/sbin/modprobe", "vfs_monitor"], False, 1795613623029764, 3916264251, 1795613623034049, 3916268536, 161, 1, 1]]),
        "ExecStopPost": (EXEC, [["/usr/sbin/rmmod", ["/usr/sbin/rmmod", "vfs_monitor"], False, 1795613623034685, 3916269173, 1795613623038445, 3916272932, 162, 1, 1]]),
        "ExecStart": (EXEC, [["/bin/sleep", ["/bin/sleep", "infinity"], False, 0, 0, 0, 0, 0, 0, 0]]),
        "ExecMainStatus": ("i", 0),
    }),
    "systemd-udevd.service": _variants({
        "NRestarts": ("u", 0), "Result": ("s", "success"), "Restart": ("s", "no"), "RestartUSec": ("t", 100000),
        "ExecStartPre": (EXEC, []), "ExecStopPost": (EXEC, []),
    }),
    "systemd-logind.service": _variants({
        "NRestarts": ("u", 0), "Result": ("s", "success"), "Restart": ("s", "always"), "RestartUSec": ("t", 0),
        "ExecStartPre": (EXEC, []), "ExecStopPost": (EXEC, []),
    }),
}

LIST_UNIT_FILES = [
    ["/lib/systemd/system/logrotate.service", "static"],
    ["/lib/systemd/system/logrotate.timer", "enabled"],
    ["/etc/systemd/system/dbus-org.freedesktop.timesync1.service", "alias"],
    ["/lib/systemd/system/avahi-daemon.socket", "enabled"],
    ["/etc/systemd/system/deepin-anything-monitor.service", "enabled"],
    ["/lib/systemd/system/avahi-daemon.service", "enabled"],
]


def _state(name):
    return unit_state(LISTED[name], UNIT_PROPS[name], SERVICE_PROPS.get(name))


def _no_dbus_types(value):
    if dataclasses.is_dataclass(value):
        return all(_no_dbus_types(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, tuple):
        return all(_no_dbus_types(v) for v in value)
    return isinstance(value, (str, int, float, bool, type(None)))


# -- conversions ----------------------------------------------------------------------------------


def test_the_looping_unit_as_systemd_252_reported_it():
    assert _state("deepin-anything-monitor.service") == UnitState(
        name="deepin-anything-monitor.service", load_state="loaded", active_state="activating",
        sub_state="auto-restart", n_restarts=3, unit_file_state="enabled",
        fragment_path="/etc/systemd/system/deepin-anything-monitor.service",
        names=("deepin-anything-monitor.service",), description="Deepin anything service", result="exit-code",
        load_error=("", ""), restart="always", restart_usec=5000000, need_daemon_reload=False,
        exec_start_pre=(ExecStatus(path="/usr/sbin/modprobe", argv=("/usr/sbin/modprobe", "vfs_monitor"),
                                   ignore_errors=False, started=1795613623.029764, exited=1795613623.034049,
                                   pid=161, code=1, status=1),),
        exec_stop_post=(ExecStatus(path="/usr/sbin/rmmod", argv=("/usr/sbin/rmmod", "vfs_monitor"),
                                   ignore_errors=False, started=1795613623.034685, exited=1795613623.038445,
                                   pid=162, code=1, status=1),),
    )


def test_failing_exec_start_pre_is_failed_and_times_are_epoch_seconds():
    (pre,) = _state("deepin-anything-monitor.service").exec_start_pre
    assert pre.failed
    assert time.strftime("%Y-%m-%d", time.gmtime(pre.started)) == "2026-11-25"  # the lab's clock that day
    assert 0 < pre.exited - pre.started < 1


def test_a_command_that_never_ran_has_no_times():
    # ExecStart= of the looping unit: ExecStartPre fails first, so systemd reports all zeros
    (start,) = exec_statuses(SERVICE_PROPS["deepin-anything-monitor.service"]["ExecStart"].value)
    assert start == ExecStatus(path="/bin/sleep", argv=("/bin/sleep", "infinity"), ignore_errors=False,
                               started=None, exited=None, pid=0, code=0, status=0)
    assert not start.failed


def test_not_found_unit_keeps_its_load_error():
    u = _state("systemd-udevd.service")
    assert (u.load_state, u.unit_file_state, u.fragment_path) == ("not-found", "", "")
    assert u.load_error == ("org.freedesktop.systemd1.NoSuchUnit", "Unit systemd-udevd.service not found.")
    assert u.n_restarts == 0
    assert u.exec_start_pre == ()


def test_aliases_are_in_names():
    assert _state("systemd-logind.service").names == ("systemd-logind.service", "dbus-org.freedesktop.login1.service")


def test_a_timer_has_no_service_fields():
    u = _state("logrotate.timer")
    assert (u.name, u.sub_state, u.unit_file_state) == ("logrotate.timer", "waiting", "enabled")
    assert u.n_restarts is None
    assert u.restart == ""
    assert u.restart_usec is None
    assert u.exec_start_pre == ()


def test_service_without_nrestarts_means_unknown_not_zero():
    props = dict(SERVICE_PROPS["systemd-logind.service"])
    del props["NRestarts"]  # systemd < 235
    assert unit_state(LISTED["systemd-logind.service"], UNIT_PROPS["systemd-logind.service"], props).n_restarts is None


def test_getall_wins_over_the_older_listunits_entry_and_fills_nothing_it_lacks():
    listed = LISTED["deepin-anything-monitor.service"]
    later = dict(UNIT_PROPS["deepin-anything-monitor.service"], SubState=Variant("s", "start-pre"))
    assert unit_state(listed, later).sub_state == "start-pre"
    bare = unit_state(listed, {})
    assert (bare.name, bare.description, bare.load_state, bare.active_state, bare.sub_state) == listed[:5]
    assert bare.names == ("deepin-anything-monitor.service",)


def test_no_dbus_type_leaves_the_adapter():
    for name in LISTED:
        assert _no_dbus_types(_state(name)), name
    assert _no_dbus_types(unit_files(LIST_UNIT_FILES))


def test_unit_files():
    files = unit_files(LIST_UNIT_FILES)
    assert files[-1] == UnitFile(path="/lib/systemd/system/avahi-daemon.service", state="enabled")
    assert [f.name for f in files if f.state == "alias"] == ["dbus-org.freedesktop.timesync1.service"]


# -- faults, on a fake bus ------------------------------------------------------------------------


class FakeBus:
    """Just enough of a D-Bus peer on a unix socket: SASL EXTERNAL, Hello, then each method call
    answered by `answer(msg)` (a reply Message, or None to never answer).  Uses dbus-next's own
    (private) marshalling so the adapter's real client code runs unchanged."""

    def __init__(self, tmp_path, answer, hang_up_in_auth=False):
        self.address = "unix:path=%s" % (tmp_path / "bus")
        self.answer = answer
        self.hang_up_in_auth = hang_up_in_auth
        self.calls = []  # (interface, member, path, body) of every call but Hello
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(tmp_path / "bus"))
        self.server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self.server.close()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        try:
            self._converse(conn)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up first (timeout and denial tests): nothing left to answer

    def _converse(self, conn):
        with conn, conn.makefile("rwb") as stream:
            assert stream.read(1) == b"\0"
            assert stream.readline().startswith(b"AUTH EXTERNAL")
            if self.hang_up_in_auth:
                return
            stream.write(b"OK 0123456789abcdef0123456789abcdef\r\n")
            stream.flush()
            assert stream.readline() == b"BEGIN\r\n"
            serial = 0
            while True:
                try:
                    msg = Unmarshaller(stream).unmarshall()
                except (EOFError, OSError):
                    return
                if msg is None:
                    return
                if msg.member == "Hello":
                    reply = Message.new_method_return(msg, "s", [":1.42"])
                else:
                    self.calls.append((msg.interface, msg.member, msg.path, list(msg.body)))
                    reply = self.answer(msg)
                if reply is not None:
                    serial += 1
                    reply.serial = serial
                    try:
                        stream.write(reply._marshall())
                        stream.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        return  # the client gave up (a timeout test): nothing to answer


def systemd(units, missing=(), denied=(), no_nrestarts=False, files=LIST_UNIT_FILES):
    """A systemd answering for `units` (names of LISTED); GetAll on a name in `missing` says
    UnknownObject, any call whose member is in `denied` says AccessDenied."""
    by_path = {LISTED[n][6]: n for n in units}

    def answer(msg):
        if msg.member in denied:
            return Message.new_error(msg, "org.freedesktop.DBus.Error.AccessDenied", "Rejected send message")
        if msg.member == "ListUnits":
            return Message.new_method_return(msg, "a(ssssssouso)", [[list(LISTED[n]) for n in units]])
        if msg.member == "ListUnitFiles":
            return Message.new_method_return(msg, "a(ss)", [files])
        if msg.member == "GetUnitFileLinks":
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "Unknown method GetUnitFileLinks")
        name = by_path[msg.path]
        if msg.member == "Get" and name not in missing:
            props = UNIT_PROPS if msg.body[0] == "org.freedesktop.systemd1.Unit" else SERVICE_PROPS
            found = dict(props[name])
            if no_nrestarts:
                found.pop("NRestarts", None)
            if msg.body[1] not in found:
                return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty", "Unknown property")
            return Message.new_method_return(msg, "v", [found[msg.body[1]]])
        if msg.member == "GetAll" and name not in missing:
            props = UNIT_PROPS if msg.body[0] == "org.freedesktop.systemd1.Unit" else SERVICE_PROPS
            found = dict(props[name])
            if no_nrestarts:
                found.pop("NRestarts", None)
            return Message.new_method_return(msg, "a{sv}", [found])
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownObject", "Unknown object '%s'." % msg.path)

    return answer


@pytest.fixture
def fake_bus(tmp_path):
    buses = []

    def start(answer, **kw):
        buses.append(FakeBus(tmp_path, answer, **kw))
        return buses[-1]

    yield start
    for bus in buses:
        bus.close()


ALLOWED = {("org.freedesktop.systemd1.Manager", "ListUnits"), ("org.freedesktop.systemd1.Manager", "ListUnitFiles"),
           ("org.freedesktop.DBus.Properties", "GetAll"), ("org.freedesktop.DBus.Properties", "Get")}


def test_a_unit_that_vanished_is_skipped_with_a_warning(fake_bus):
    bus = fake_bus(systemd(["systemd-logind.service", "deepin-anything-monitor.service", "logrotate.timer"],
                           missing={"deepin-anything-monitor.service"}))
    state = DBusSource(bus.address).read(with_unit_files=True)
    assert [u.name for u in state.units] == ["systemd-logind.service", "logrotate.timer"]
    assert state.warnings == ("1 unit(s) vanished between ListUnits and GetAll, skipped: deepin-anything-monitor.service",)
    assert {(i, m) for i, m, _, _ in bus.calls} == ALLOWED
    assert {p for i, m, p, _ in bus.calls if m in ("Get", "GetAll")} <= {LISTED[n][6] for n in LISTED}
    assert not [b for i, m, p, b in bus.calls if m == "Get" and b[1] not in SERVICE_PROPERTIES]


def test_listunits_denied_is_one_line(fake_bus):
    bus = fake_bus(systemd(["logrotate.timer"], denied={"ListUnits"}))
    with pytest.raises(SourceError) as e:
        DBusSource(bus.address).read(with_unit_files=True)
    assert str(e.value) == ("D-Bus: systemd ListUnits: access denied (org.freedesktop.DBus.Error.AccessDenied: "
                            "Rejected send message); run as root")


def test_every_getall_denied_means_nothing_was_read(fake_bus):
    bus = fake_bus(systemd(["logrotate.timer", "systemd-logind.service"], denied={"GetAll"}))
    with pytest.raises(SourceError, match=r"^D-Bus: systemd GetAll: access denied"):
        DBusSource(bus.address).read(with_unit_files=True)


def test_systemd_without_nrestarts_gives_none_and_one_warning(fake_bus):
    bus = fake_bus(systemd(["systemd-logind.service", "deepin-anything-monitor.service", "logrotate.timer"], no_nrestarts=True))
    state = DBusSource(bus.address).read(with_unit_files=True)
    assert [u.n_restarts for u in state.units] == [None, None, None]
    assert state.by_name()["deepin-anything-monitor.service"].exec_start_pre[0].status == 1  # the rest still read
    assert state.warnings == ("systemd does not report NRestarts (systemd < 235): restart counts unknown for 2 service(s)",)


def test_a_bus_that_never_answers_times_out_in_one_line(fake_bus):
    bus = fake_bus(lambda msg: None)
    started = time.monotonic()
    with pytest.raises(SourceError) as e:
        DBusSource(bus.address, timeout=0.5).read()
    assert time.monotonic() - started < 5
    assert str(e.value) == "D-Bus: no answer within 0.5 s at %s (ListUnits)" % bus.address


def test_a_bus_hanging_up_during_authentication_fails_fast(fake_bus):
    # dbus-next 0.2.3 alone spins forever here, deaf to any timeout
    bus = fake_bus(lambda msg: None, hang_up_in_auth=True)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_error_of(DBusSource(bus.address, timeout=2).read)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "read() still running 10 s after a 2 s timeout"
    assert outcome == ["D-Bus: %s hung up (connecting): the bus closed the connection during authentication" % bus.address]


def _error_of(fn):
    try:
        fn()
    except SourceError as e:
        return str(e)
    return None


def test_no_system_bus_socket(tmp_path, monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=%s/system_bus_socket" % tmp_path)
    with pytest.raises(SourceError) as e:
        DBusSource().read()
    assert str(e.value) == "system bus: cannot connect to unix:path=%s/system_bus_socket: No such file or directory" % tmp_path


def test_the_system_bus_by_default(monkeypatch):
    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
    assert DBusSource().address == "unix:path=/run/dbus/system_bus_socket"


def test_connection_refused(tmp_path):
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(tmp_path / "dead"))  # bound, never listening
    try:
        with pytest.raises(SourceError, match=r"^D-Bus: cannot connect to unix:path=.*/dead: Connection refused$"):
            DBusSource("unix:path=%s" % (tmp_path / "dead")).read()
    finally:
        dead.close()


def test_unit_file_links_only_for_listed_unit_files_and_none_where_missing(fake_bus):
    bus = fake_bus(systemd(["logrotate.timer"]))
    source = DBusSource(bus.address)
    with pytest.raises(ValueError):
        source.unit_file_links(["avahi-daemon.service"])  # before any read()
    source.read(with_unit_files=True)
    with pytest.raises(ValueError, match="dbus-org.freedesktop.Avahi.service"):
        source.unit_file_links(["avahi-daemon.service", "dbus-org.freedesktop.Avahi.service"])
    assert source.unit_file_links(["avahi-daemon.service"], runtime=True) == {"avahi-daemon.service": None}  # systemd < 232
    assert "UnknownMethod" in source.link_errors["avahi-daemon.service"]
    assert bus.calls[-1] == ("org.freedesktop.systemd1.Manager", "GetUnitFileLinks", "/org/freedesktop/systemd1",
                             ["avahi-daemon.service", True])


def test_read_leaves_list_unit_files_out_unless_asked(fake_bus):
    bus = fake_bus(systemd(["systemd-logind.service", "logrotate.timer"]))
    source = DBusSource(bus.address)
    state = source.read()
    assert state.unit_files == ()
    assert "ListUnitFiles" not in {m for _, m, _, _ in bus.calls}
    assert source.read_unit_files()
    assert [m for _, m, _, _ in bus.calls][-1] == "ListUnitFiles"
