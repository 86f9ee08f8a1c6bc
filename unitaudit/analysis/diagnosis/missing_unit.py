"""Why the bus daemon cannot find the unit it activates (the seed's missing Avahi alias).

The bus service file says "Name=org.freedesktop.Avahi, SystemdService=dbus-org.freedesktop.Avahi.service";
that name exists only as the Alias= symlink `systemctl enable avahi-daemon.service` creates.
Enabled with the link gone is broken; disabled or masked on purpose is not a fault of the unit.
"""
from __future__ import annotations
import posixpath
from typing import Callable, Dict, List, Optional, Sequence, TYPE_CHECKING, Tuple

from unitaudit.analysis.diagnosis.package_owner import owning_package, package_words
from unitaudit.model import CauseKind, Diagnosis, Finding, LiveState, UnitFile
from unitaudit.util.names import is_safe_path, is_unit_name

if TYPE_CHECKING:  # the probing interface is passed in: analysis reads no system itself
    from unitaudit.sources.probe import SystemProbe

# dbus-daemon 1.14 <standard_system_servicedirs/> (dbus-daemon(1)), highest precedence first
BUS_SERVICE_DIRS = (
    "/usr/local/share/dbus-1/system-services",
    "/usr/share/dbus-1/system-services",
    "/lib/dbus-1/system-services",
)
# systemd's system unit path, highest precedence first (/lib before /usr/lib: Debian 12 ships there)
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
)
ENABLE_DIR = "/etc/systemd/system"  # where `systemctl enable` writes the Alias= link
OFF_STATES = ("disabled", "masked", "masked-runtime")

Links = Callable[[Sequence[str]], Dict[str, Optional[Tuple[str, ...]]]]


def diagnose_missing_unit(finding: Finding, probe: SystemProbe, live: Optional[LiveState],
                          links: Optional[Links] = None) -> Optional[Diagnosis]:
    facts = dict(finding.cause.facts) if finding.cause else {}
    alias = facts.get("unit") or finding.unit
    if not is_unit_name(alias):
        return None  # from log text and not a unit name: never used as a path
    out: Dict[str, object] = {"unit": alias, "bus_name": facts.get("bus_name")}
    out["bus_service_files"] = _bus_service_files(probe, alias)

    unit_dirs = _unique_dirs(probe, UNIT_DIRS)
    present = _entries_named(probe, unit_dirs, alias)
    out["alias_link"] = ENABLE_DIR + "/" + alias
    out["alias_entries"] = present
    link = next((e for e in present if e["path"] == out["alias_link"]), None)
    out["alias_link_exists"] = link is not None

    declarers = _declarers(probe, unit_dirs, alias, live)
    out["declared_by"] = declarers[0][0] if declarers else None
    out["declared_by_path"] = declarers[0][1] if declarers else None
    if len(declarers) > 1:
        out["also_declared_by"] = [name for name, _ in declarers[1:]]
    declarer = declarers[0][0] if declarers else None
    state, source = _unit_file_state(probe, unit_dirs, declarer, live) if declarer else ("", "")
    out["unit_file_state"] = state or None
    out["unit_file_state_source"] = source or None
    if declarer and links is not None:
        out.update(_links(links, declarer, alias))
    package, lookup = owning_package(probe, declarers[0][1] if declarers else None)
    out["package"], out["package_lookup"] = package, lookup
    unit_state = live.by_name().get(declarer) if (live and declarer) else None
    out["need_daemon_reload"] = unit_state.need_daemon_reload if unit_state else None

    verdict, summary = _verdict(out, present, declarer, state, package_words(package, lookup))
    out["suggested_command"] = "systemctl reenable " + declarer if verdict == "alias-missing" else None
    return Diagnosis(CauseKind.MISSING_UNIT, verdict, summary, tuple(out.items()))


def _verdict(out: dict, present: List[dict], declarer: Optional[str], state: str,
             package: str) -> Tuple[str, str]:
    alias = out["unit"]
    masked = [e for e in present if e["masked"]]
    working = [e for e in present if e["resolves"] and not e["masked"]]
    if masked:
        return ("disabled-on-purpose",
                "%s is masked (%s -> /dev/null): activation is refused on purpose, not a broken unit"
                % (alias, masked[0]["path"]))
    if declarer and state in ("masked", "masked-runtime"):
        return ("disabled-on-purpose",
                "%s (%s) declares Alias=%s and is masked: activation is refused on purpose, "
                "not a broken unit" % (declarer, package, alias))
    if working:
        e = working[0]
        where = "%s -> %s" % (e["path"], e["link_target"]) if e["link_target"] else e["path"]
        reload_hint = ("systemd has not reloaded since (NeedDaemonReload): run systemctl daemon-reload"
                       if out.get("need_daemon_reload") else
                       "if activation still fails, systemd has not loaded it: systemctl daemon-reload")
        return "alias-present", "%s is in place (%s); %s" % (alias, where, reload_hint)
    if present:
        e = present[0]
        return ("alias-dangling", "%s -> %s leads nowhere: the unit it names is not installed"
                % (e["path"], e["link_target"]))
    if not declarer:
        bus = out["bus_service_files"]
        named = (" although %s (%s) asks for it" % (bus[0]["path"], package_words(bus[0]["package"],
                                                                                  bus[0]["package_lookup"]))
                 if bus else "")
        return ("no-unit-declares-it",
                "no installed unit file declares Alias=%s%s: the service behind it is not installed"
                % (alias, named))
    if state in OFF_STATES:
        return ("disabled-on-purpose",
                "%s (%s) declares Alias=%s but is %s, so the alias is absent on purpose; "
                "whoever asks for %s is asking for a %s service" % (declarer, package, alias, state,
                                                                    out.get("bus_name") or alias, state))
    return ("alias-missing",
            "%s (%s, %s) declares Alias=%s but %s is missing: run systemctl reenable %s"
            % (declarer, package, state or "state unknown", alias, out["alias_link"], declarer))


def _bus_service_files(probe: SystemProbe, unit: str) -> List[dict]:
    found = []
    for directory in BUS_SERVICE_DIRS:
        for entry in probe.list_dir(directory):
            if not entry.endswith(".service"):
                continue
            path = directory + "/" + entry
            keys = _ini_keys(probe.read_text(path, limit=1 << 16) or "", "D-BUS Service")
            if unit in keys.get("SystemdService", []):
                package, lookup = owning_package(probe, path)
                found.append({"path": path, "name": (keys.get("Name") or [None])[-1],
                              "package": package, "package_lookup": lookup})
    return found


def _unique_dirs(probe: SystemProbe, dirs: Sequence[str]) -> List[str]:
    """On a usr-merged system /lib/systemd/system is /usr/lib/systemd/system: look once."""
    seen, out = set(), []
    for d in dirs:
        real = probe.resolve(d)
        if real not in seen:
            seen.add(real)
            out.append(d)
    return out


def _entries_named(probe: SystemProbe, unit_dirs: Sequence[str], name: str) -> List[dict]:
    """Every file or link called `name` in the unit path."""
    out = []
    for d in unit_dirs:
        info = probe.stat(d + "/" + name)
        if info.exists:
            target = probe.stat(d + "/" + name, follow=True)
            out.append({"path": info.path, "link_target": info.link_target,
                        "resolves": target.exists, "masked": info.link_target == "/dev/null"})
    return out


def _declarers(probe: SystemProbe, unit_dirs: Sequence[str], alias: str,
               live: Optional[LiveState]) -> List[Tuple[str, str]]:
    """(unit name, path) of the unit files whose [Install] says Alias=alias.

    The files the service manager listed come first; the unit path is searched
    too, since a masked unit is listed by its /dev/null link, not its file."""
    suffix = alias.rsplit(".", 1)[-1]
    candidates: List[Tuple[str, str]] = []
    for f in (live.unit_files if live else ()):
        if f.name.endswith("." + suffix) and is_unit_name(f.name) and f.state not in ("alias", "masked"):
            candidates.append((f.name, f.path))
    for d in unit_dirs:
        for entry in probe.list_dir(d):
            if entry.endswith("." + suffix) and entry != alias and is_unit_name(entry):
                candidates.append((entry, d + "/" + entry))
    found, seen = [], set()
    for name, path in candidates:
        if name in seen or not is_safe_path(path):
            continue
        info = probe.stat(path)
        if info.is_symlink and posixpath.basename(info.link_target or "") != name:
            continue  # an alias or a mask, not the unit's own file
        text = probe.read_text(path, limit=1 << 18)
        if text is None:
            continue
        seen.add(name)
        if alias in _ini_keys(text, "Install").get("Alias", []):
            found.append((name, path))
    return found


def _unit_file_state(probe: SystemProbe, unit_dirs: Sequence[str], unit: str,
                     live: Optional[LiveState]) -> Tuple[str, str]:
    """(state, where it came from): the service manager's word when live, else the links on disk."""
    if live is not None:
        by_name: Dict[str, UnitFile] = {f.name: f for f in live.unit_files}
        return (by_name[unit].state, "dbus") if unit in by_name else ("unknown", "dbus")
    for d in ("/etc/systemd/system", "/run/systemd/system"):
        if probe.stat(d + "/" + unit).link_target == "/dev/null":
            return "masked", "files"
    for d in unit_dirs[:2]:  # enablement links live in /etc and /run only
        for entry in probe.list_dir(d):
            if entry.endswith((".wants", ".requires", ".upholds")) and unit in probe.list_dir(d + "/" + entry):
                return "enabled", "files"
    return "disabled", "files"


def _links(links: Links, unit: str, alias: str) -> dict:
    """GetUnitFileLinks: the links `systemctl disable` would remove, i.e. those that exist now."""
    try:
        got = links([unit]).get(unit)
    except Exception as e:  # noqa: BLE001 - the bus failing must not stop the diagnosis
        return {"links": None, "links_error": str(e)}
    if got is None:
        return {"links": None}
    return {"links": list(got), "alias_in_links": any(posixpath.basename(p) == alias for p in got)}


def _ini_keys(text: str, section: str) -> Dict[str, List[str]]:
    """Key -> values of one section of a unit or bus service file.  Space-separated lists
    are split; an empty assignment resets the list, as systemd reads it."""
    out: Dict[str, List[str]] = {}
    current = None
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if logical == "" and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):  # continuation: systemd joins the next line with a space
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        if current != section or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not value.strip():
            out[key] = []
        else:
            out.setdefault(key, []).extend(value.split())
    return out
