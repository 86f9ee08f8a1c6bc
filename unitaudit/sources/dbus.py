"""Live unit states from systemd over D-Bus (dbus-next, asyncio, low-level messages).

Read-only by construction: the only method calls made are Manager.ListUnits, Manager.ListUnitFiles,
Properties.GetAll/Get on the object paths ListUnits returned (services only: ListUnits already says
what the rest need), and Manager.GetUnitFileLinks, plus the
bus's own Hello that dbus-next sends on connect (and nothing else: no AddMatch, no introspection).
No proxy objects: they introspect, and every call here must be one the allowlist names.  No
GetUnit/LoadUnit and no object path built from a name: both make PID 1 load units.

dbus-next's raw types (Variant, signatures) stop here; callers get `unitaudit.model` types.
"""
import asyncio
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from dbus_next import Message, MessageType, Variant
from dbus_next.aio import MessageBus
from dbus_next.errors import AuthError, InvalidAddressError

from unitaudit.errors import SourceError
from unitaudit.model import ExecStatus, LiveState, UnitFile, UnitState

SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
PROPERTIES = "org.freedesktop.DBus.Properties"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"

# Calls in flight at once.  dbus-next 0.2.3 drops the connection (BlockingIOError) when its writer
# fills the socket's send buffer, which ~200 queued calls do; dbus-daemon allows the system bus
# 128 pending replies per connection.  32 keeps PID 1 busy without touching either limit.
IN_FLIGHT = 32

# GetAll on a unit that went away between ListUnits and GetAll.  (systemd 252 rarely says so: its
# object lookup loads a dropped unit again by the name in the path, and GetAll then reads that.)
VANISHED = frozenset({
    "org.freedesktop.DBus.Error.UnknownObject",
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.freedesktop.systemd1.NoSuchUnit",
})
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
NO_SUCH_PROPERTY = frozenset({"org.freedesktop.DBus.Error.UnknownProperty", "org.freedesktop.DBus.Error.InvalidArgs"})
_ABSENT = object()

# Of the Service interface only these are read, each with Get: its GetAll marshals ~300 properties
# (the whole execution context), and unmarshalling them in dbus-next's pure Python cost more than
# everything else in a live read (lab, 73 services: 0.36 s with GetAll, 0.16 s like this).
SERVICE_PROPERTIES = ("NRestarts", "Result", "Restart", "RestartUSec", "ExecStartPre", "ExecStopPost")
NOT_ON_BUS = frozenset({"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"})


class CallFailed(Exception):
    """A D-Bus error reply: the connection is fine, this one call was refused."""

    def __init__(self, member: str, name: str, text: str):
        super().__init__("%s: %s" % (name, text))
        self.member = member  # the call refused: ListUnits, GetAll, ...
        self.name = name  # the D-Bus error name
        self.text = text


# ------------------------------------------------------------------------------------------------
# Pure conversions: ListUnits tuples and GetAll dicts (of Variants) -> unitaudit.model
# ------------------------------------------------------------------------------------------------


def _prop(props: Mapping[str, Any], key: str, default: Any) -> Any:
    value = props.get(key, default)
    return value.value if isinstance(value, Variant) else value


def _epoch(usec: int) -> Optional[float]:
    return usec / 1e6 if usec else None  # systemd says 0 for "never"


def exec_statuses(raw: Sequence[Sequence[Any]]) -> Tuple[ExecStatus, ...]:
    """`a(sasbttttuii)`: path, argv, ignore_errors, start realtime/monotonic usec, exit
    realtime/monotonic usec, pid, si_code, status.  Monotonic times mean nothing off the machine."""
    return tuple(
        ExecStatus(path=str(path), argv=tuple(str(a) for a in argv), ignore_errors=bool(ignore),
                   started=_epoch(start), exited=_epoch(exit_), pid=int(pid), code=int(code), status=int(status))
        for path, argv, ignore, start, _start_mono, exit_, _exit_mono, pid, code, status in raw
    )


def unit_state(listed: Sequence[Any], unit_props: Mapping[str, Any],
               service_props: Optional[Mapping[str, Any]] = None) -> UnitState:
    """One ListUnits entry (name, description, load, active, sub, following, path, job id, job
    type, job path) with its GetAll of org.freedesktop.systemd1.Unit and, for a service, of
    org.freedesktop.systemd1.Service.  GetAll is newer than ListUnits, so it wins where both say."""
    name, description, load_state, active_state, sub_state = listed[:5]
    u, s = unit_props, service_props or {}
    restart_usec = _prop(s, "RestartUSec", None)
    n_restarts = _prop(s, "NRestarts", None)  # absent before systemd 235
    return UnitState(
        name=str(name),
        load_state=str(_prop(u, "LoadState", load_state)),
        active_state=str(_prop(u, "ActiveState", active_state)),
        sub_state=str(_prop(u, "SubState", sub_state)),
        n_restarts=None if n_restarts is None else int(n_restarts),
        unit_file_state=str(_prop(u, "UnitFileState", "")),
        fragment_path=str(_prop(u, "FragmentPath", "")),
        names=tuple(str(n) for n in _prop(u, "Names", (name,))),
        description=str(_prop(u, "Description", description)),
        result=str(_prop(s, "Result", "")),
        load_error=tuple(str(x) for x in _prop(u, "LoadError", ("", ""))),  # type: ignore[arg-type]
        restart=str(_prop(s, "Restart", "")),
        restart_usec=None if restart_usec is None else int(restart_usec),
        need_daemon_reload=bool(_prop(u, "NeedDaemonReload", False)),
        exec_start_pre=exec_statuses(_prop(s, "ExecStartPre", ())),
        exec_stop_post=exec_statuses(_prop(s, "ExecStopPost", ())),
    )


def unit_files(raw: Sequence[Sequence[str]]) -> Tuple[UnitFile, ...]:
    """ListUnitFiles `a(ss)`: path, state."""
    return tuple(UnitFile(path=str(path), state=str(state)) for path, state in raw)


def _names(names: Sequence[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (" (+%d more)" % (len(names) - most) if len(names) > most else "")


# ------------------------------------------------------------------------------------------------
# The bus
# ------------------------------------------------------------------------------------------------


class _Bus(MessageBus):
    """dbus-next 0.2.3 (its last release) with two leaks plugged."""

    def _setup_socket(self) -> None:
        try:
            super()._setup_socket()
        except Exception:
            self._close()  # 0.2.3 leaves the failed socket open
            raise

    async def _auth_readline(self) -> str:
        # 0.2.3 loops forever, never yielding, when the peer hangs up during authentication
        # (recv returns b"" at once), so no timeout could stop it.
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = await self._loop.sock_recv(self._sock, 2)
            if not chunk:
                raise EOFError("the bus closed the connection during authentication")
            line += chunk
        return line[:-2].decode()

    async def hang_up(self) -> None:
        if self.unique_name is not None:  # connected: let dbus-next's reader see EOF and unregister
            self.disconnect()
            try:
                await asyncio.wait_for(self.wait_for_disconnect(), 1.0)
            except Exception:  # noqa: BLE001 - already gone is fine
                pass
        self._close()

    def _close(self) -> None:
        for attr in ("_stream", "_sock"):  # 0.2.3 never closes them: one fd per connection otherwise
            closable = getattr(self, attr, None)
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass


class DBusSource:
    """systemd's view of its units, read over one bus connection per call."""

    def __init__(self, address: Optional[str] = None, timeout: float = 10.0):
        self.label = "system bus" if address is None else "D-Bus"
        self.address = address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS
        self.timeout = timeout
        self.link_errors: Dict[str, str] = {}  # why unit_file_links() said None, by name
        self._unit_file_names: frozenset = frozenset()
        self._stage = ""  # what the read was waiting for, for the timeout message
        self._window: Optional[asyncio.Semaphore] = None

    # -- public ---------------------------------------------------------------------------------

    def read(self, with_unit_files: bool = False) -> LiveState:
        """Units and their states; unit files too when asked.  ListUnitFiles is left out by
        default: PID 1 works out every file's state for it (0.45 s for 234 files in the lab, more
        than all the rest), and only the diagnosis of a missing unit needs it (`read_unit_files`)."""
        started = time.monotonic()
        units, files, warnings = self._run(lambda bus: self._read(bus, with_unit_files))
        self._unit_file_names = frozenset(f.name for f in files)
        return LiveState(address=self.address, units=units, unit_files=files,
                         seconds=time.monotonic() - started, warnings=warnings)

    def read_unit_files(self) -> Tuple[UnitFile, ...]:
        """ListUnitFiles alone, for a diagnosis that needs it after read()."""
        async def files(bus: MessageBus):
            self._stage = "ListUnitFiles"
            (raw,) = await self._call(bus, MANAGER_PATH, MANAGER, "ListUnitFiles")
            return unit_files(raw)

        found = self._run(files)
        self._unit_file_names = frozenset(f.name for f in found)
        return found

    def unit_file_links(self, names: Sequence[str], runtime: bool = False) -> Dict[str, Optional[Tuple[str, ...]]]:
        """GetUnitFileLinks for unit files the last read() listed; None where it fails (the
        method is systemd 232+) and the reason in `link_errors`."""
        unknown = [n for n in names if n not in self._unit_file_names]
        if unknown:  # asking PID 1 about other names is outside the read-only allowlist
            raise ValueError("not unit files of the last read(): %s" % ", ".join(unknown))
        self.link_errors = {}
        links: Dict[str, Optional[Tuple[str, ...]]] = {n: None for n in names}
        if not names:
            return links
        try:
            self._run(lambda bus: self._links(bus, names, runtime, links))
        except SourceError as e:
            self.link_errors.update({n: str(e) for n in names if links[n] is None})
        return links

    # -- inside the event loop --------------------------------------------------------------------

    def _run(self, work):
        """One asyncio run, one connection, the whole of it under `timeout`; every failure of the
        bus itself becomes one SourceError line."""
        self._stage = "connecting"

        async def connected():
            self._window = asyncio.Semaphore(IN_FLIGHT)
            bus = _Bus(bus_address=self.address)  # connects its socket here
            try:
                await bus.connect()  # authenticates and says Hello
                return await work(bus)
            finally:
                await bus.hang_up()

        async def bounded():
            return await asyncio.wait_for(connected(), self.timeout)

        where = "%s: " % self.label
        try:
            return asyncio.run(bounded())
        except asyncio.TimeoutError:
            raise SourceError("%sno answer within %g s at %s (%s)" % (where, self.timeout, self.address, self._stage)) from None
        except InvalidAddressError as e:
            raise SourceError("%sbad bus address %r: %s" % (where, self.address, e)) from None
        except AuthError as e:
            raise SourceError("%s%s refused us: %s" % (where, self.address, e)) from None
        except CallFailed as e:
            raise SourceError("%s%s" % (where, self._explain(e))) from None
        except OSError as e:
            if self._stage == "connecting":
                raise SourceError("%scannot connect to %s: %s" % (where, self.address, e.strerror or e)) from None
            raise SourceError("%sconnection to %s lost (%s): %s" % (where, self.address, self._stage, e.strerror or e)) from None
        except EOFError as e:
            raise SourceError("%s%s hung up (%s)%s" % (where, self.address, self._stage, ": %s" % e if str(e) else "")) from None

    def _explain(self, e: CallFailed) -> str:
        if e.name == ACCESS_DENIED:
            return "systemd %s: access denied (%s: %s); run as root" % (e.member, e.name, e.text)
        if e.name in NOT_ON_BUS:
            return "systemd %s: %s is not on %s (%s)" % (e.member, SYSTEMD, self.address, e.name)
        return "systemd %s failed: %s: %s" % (e.member, e.name, e.text)

    async def _call(self, bus: MessageBus, path: str, interface: str, member: str,
                    signature: str = "", body: Sequence[Any] = ()) -> List[Any]:
        async with self._window:  # type: ignore[union-attr]
            reply = await bus.call(Message(destination=SYSTEMD, path=path, interface=interface, member=member,
                                           signature=signature, body=list(body)))
        if reply.message_type == MessageType.ERROR:
            raise CallFailed(member, reply.error_name or "", str(reply.body[0]) if reply.body else "")
        return reply.body

    async def _get(self, bus: MessageBus, path: str, interface: str, prop: str) -> Any:
        """One property, or _ABSENT when this systemd does not have it (NRestarts before 235)."""
        try:
            (value,) = await self._call(bus, path, PROPERTIES, "Get", "ss", [interface, prop])
        except CallFailed as e:
            if e.name in NO_SUCH_PROPERTY:
                return _ABSENT
            raise
        return value

    async def _read(self, bus: MessageBus, with_unit_files: bool):
        self._stage = "ListUnits"
        (listed,) = await self._call(bus, MANAGER_PATH, MANAGER, "ListUnits")
        answered = {"units": 0, "files": not with_unit_files}

        def progress():  # for the timeout message
            self._stage = "GetAll: %d of %d units answered; ListUnitFiles: %s" % (
                answered["units"], len(listed), "answered" if answered["files"] else "waiting")

        progress()

        async def one(entry):
            name, path = entry[0], entry[6]
            if not name.endswith(".service"):
                return name, unit_state(entry, {}, None)  # ListUnits says all a non-service needs
            try:
                unit_props, *values = await asyncio.gather(
                    self._call(bus, path, PROPERTIES, "GetAll", "s", [UNIT]),
                    *[self._get(bus, path, SERVICE, p) for p in SERVICE_PROPERTIES])
            except CallFailed as e:
                return name, e
            finally:
                answered["units"] += 1
                progress()
            service_props = {p: v for p, v in zip(SERVICE_PROPERTIES, values) if v is not _ABSENT}
            return name, unit_state(entry, unit_props[0], service_props)

        async def files():
            try:
                (raw,) = await self._call(bus, MANAGER_PATH, MANAGER, "ListUnitFiles")
            except CallFailed as e:
                return e
            finally:
                answered["files"] = True
                progress()
            return unit_files(raw)

        # PID 1 answers one call at a time, and ListUnitFiles keeps it busiest (0.45 s for 234
        # unit files in the lab: it works out each file's state).  Queued behind the units' first
        # GetAll, so the replies already received are unmarshalled here meanwhile.
        if not with_unit_files:
            results = await asyncio.gather(*[one(entry) for entry in listed])
            return self._collect(listed, results, ())
        *results, listed_files = await asyncio.gather(*[one(entry) for entry in listed], files())
        return self._collect(listed, results, listed_files)

    def _collect(self, listed, results, listed_files):
        units = tuple(r for _, r in results if isinstance(r, UnitState))
        failed: Dict[str, List[str]] = {}
        for name, r in results:
            if isinstance(r, CallFailed):
                failed.setdefault(r.name, []).append(name)
        refused = [r for _, r in results if isinstance(r, CallFailed)]
        asked = sum(1 for name, _ in results if name.endswith(".service"))
        if asked and len(refused) == asked and not any(r.name in VANISHED for r in refused):
            raise refused[0]  # ListUnits answered, yet no service could be read: denied, not racing
        warnings = []
        for error, names in sorted(failed.items()):
            if error in VANISHED:
                warnings.append("%d unit(s) vanished between ListUnits and GetAll, skipped: %s" % (len(names), _names(names)))
            else:
                warnings.append("GetAll failed for %d unit(s) (%s), skipped: %s" % (len(names), error, _names(names)))
        old = [u.name for u in units if u.name.endswith(".service") and u.n_restarts is None]
        if old:
            warnings.append("systemd does not report NRestarts (systemd < 235): restart counts unknown for %d service(s)" % len(old))
        if isinstance(listed_files, CallFailed):
            warnings.append("ListUnitFiles failed (%s: %s): no unit file states" % (listed_files.name, listed_files.text))
            listed_files = ()
        return units, listed_files, tuple(warnings)

    async def _links(self, bus: MessageBus, names: Sequence[str], runtime: bool, links) -> None:
        self._stage = "GetUnitFileLinks"

        async def one(name):
            try:
                (raw,) = await self._call(bus, MANAGER_PATH, MANAGER, "GetUnitFileLinks", "sb", [name, runtime])
            except CallFailed as e:  # UnknownMethod before systemd 232
                self.link_errors[name] = str(e)
                return
            links[name] = tuple(str(p) for p in raw)

        await asyncio.gather(*[one(n) for n in names])
