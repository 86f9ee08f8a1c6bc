"""An unpacked sos report (sos 4.x, Debian's `sosreport`), mapped onto the evidence a scan reads.

sos copies files at their own paths under its top directory (TOP/etc/systemd/..., TOP/proc/...;
on a usr-merged system TOP/lib is a link to usr/lib, as on the machine) and keeps what commands
printed under sos_commands/PLUGIN/, the command line turned into a file name (`ls -alRh /var/log/`
-> ls_-alRh_.var.log, `systemctl show *service --all` -> systemctl_show_service_--all).  Its own
record of the run is sos_reports/manifest.json (sos 4.0 and later) and sos_logs/sos.log.

Everything in a report is untrusted: files are read through SystemProbe(top), which resolves
links inside the report, with a size bound; no name read from it becomes a path outside it or a
command; nothing is run.  `lacks` says which facts a diagnosis needs that this report did not
collect, so that a diagnosis left unknown says why rather than guessing from an absent file.
"""
import json
import os
import re
import stat
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from unitaudit.errors import UsageError
from unitaudit.model import ExecStatus, UnitState
from unitaudit.sources.bundle.listing import LOG_LISTING
from unitaudit.sources.probe import SystemProbe
from unitaudit.sources.textlog.status import EXIT_CODES, status_number
from unitaudit.util.names import is_kernel_release, is_module_name, is_unit_name
from unitaudit.util.times import duration_seconds, parse_time

SEEN_IN = "sos report"
_SMALL = 1 << 16  # one-line outputs: uname, hostname, timedatectl
_MANIFEST_MAX = 8 << 20  # manifest.json lists every file: 112 KB for ~1200 members
_SHOW_MAX = 64 << 20  # `systemctl show *service --all`: ~1.1 MB for 69 services
_LOGS = "/sos_commands/logs"
_HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_SOS_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:[.,](\d{1,6}))?")
# timedatectl: "Time zone: Etc/UTC (UTC, +0000)": sos writes its own times in local time, no zone
_TIME_ZONE = re.compile(r"Time zone: \S+ \(([A-Za-z0-9+-]{1,10}), ([+-]\d{4})\)")
_DPKG_SYSTEMD = re.compile(r"^[a-z]{2,3}\s+systemd(?::\w+)?\s+(\d{3})[.~+-]", re.M)
_SHARED_LIBRARY = re.compile(r"libsystemd-shared-(\d{3})[.~+-]")
_MODULE_FILE = re.compile(r"^filename:\s+(/\S+/([A-Za-z0-9_-]{1,64})\.ko(?:\.[a-z]{1,4})?)\s*$", re.M)
# ExecStartPre={ path=/usr/sbin/modprobe ; argv[]=/usr/sbin/modprobe vfs_monitor ; ignore_errors=no ;
#   start_time=[Mon 2026-12-07 17:10:17 UTC] ; stop_time=[...] ; pid=538 ; code=exited ; status=1 }
_EXEC_FIELD = re.compile(r"(\w+(?:\[\])?)=(\[[^\]]*\]|[^;]*?)\s*(?:;|\}$)")
_SHOWN_TIME = re.compile(r"\[\w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ([A-Za-z0-9+-]{1,10})\]")


@dataclass(frozen=True)
class SosEvidence:
    root: str  # the report's top directory: files sos copied are at their paths under it
    text_logs: Tuple[str, ...]  # for TextLogSource: the journal as text, else syslog copies, else status --all
    collected_at: Optional[float]  # when sos finished (epoch): the time the scan judges rates at
    hostname: str
    kernel_release: Optional[str]
    systemd_version: Optional[int]
    module_answers: Mapping[str, Optional[str]]  # module (kernel spelling, '_') -> file or "(builtin)"
    unit_states: Tuple[UnitState, ...]  # from `systemctl show *service --all`
    lacks: Tuple[Tuple[str, str], ...]  # (fact, why the report cannot answer it)


def read_sos(top: str) -> SosEvidence:
    """What the sos report unpacked at `top` holds.  Raises nothing for a missing part: what is
    not there is None, empty or named in `lacks`."""
    probe = SystemProbe(top)
    zone = _zone_offset(probe)
    release = _kernel_release(probe)
    text_logs, log_lacks = _text_logs(probe)
    collected_at = _collected_at(probe, zone)
    units = _unit_states(probe, zone)
    lacks = list(log_lacks)
    if collected_at is None:
        lacks.append(("when sos ran", "no sos_reports/manifest.json or sos_logs/sos.log time with a known time "
                                      "zone (sos writes local times; the zone is timedatectl's)"))
    if release is None:
        lacks.append(("kernel release", "no uname -a output and no proc/sys/kernel/osrelease (kernel plugin)"))
    if not units:
        lacks.append(("unit states", "no systemctl show *service --all output (systemd plugin)"))
    lacks += _diagnosis_lacks(probe, release)
    return SosEvidence(root=probe.root, text_logs=text_logs, collected_at=collected_at,
                       hostname=_hostname(probe), kernel_release=release, systemd_version=_systemd_version(probe),
                       module_answers=_module_answers(probe), unit_states=units, lacks=tuple(lacks))


# -- where each thing is ---------------------------------------------------------------------------

def _first_line(probe: SystemProbe, *paths: str) -> str:
    for path in paths:
        text = probe.read_text(path, limit=_SMALL)
        if text and text.strip():
            return text.strip().splitlines()[0]
    return ""


def _hostname(probe: SystemProbe) -> str:
    name = _first_line(probe, "/sos_commands/host/hostname", "/etc/hostname").strip()
    return name if _HOSTNAME.fullmatch(name) else ""


def _kernel_release(probe: SystemProbe) -> Optional[str]:
    words = _first_line(probe, "/sos_commands/kernel/uname_-a").split()
    candidates = [words[2]] if len(words) > 2 and words[0] == "Linux" else []
    candidates.append(_first_line(probe, "/proc/sys/kernel/osrelease").strip())
    return next((r for r in candidates if is_kernel_release(r)), None)


def _systemd_version(probe: SystemProbe) -> Optional[int]:
    """The installed package's version (dpkg -l), else the shared library `ls -lR /lib/systemd` lists."""
    for path, pattern in (("/sos_commands/dpkg/dpkg_-l", _DPKG_SYSTEMD),
                          ("/sos_commands/systemd/ls_-lR_.lib.systemd", _SHARED_LIBRARY)):
        m = pattern.search(probe.read_text(path, limit=16 << 20) or "")
        if m:
            return int(m.group(1))
    return probe.systemd_version()


def _zone_offset(probe: SystemProbe) -> Optional[Tuple[str, str]]:
    """(abbreviation, "+HHMM") of the machine's time zone, from timedatectl's output."""
    m = _TIME_ZONE.search(probe.read_text("/sos_commands/systemd/timedatectl", limit=_SMALL) or "")
    return (m.group(1), m.group(2)) if m else None


def _local_epoch(date: str, clock: str, fraction: str, offset: str) -> Optional[float]:
    try:
        return parse_time("%s %s.%s%s" % (date, clock, fraction or "0", offset), 0.0, "sos time")
    except UsageError:
        return None


def _collected_at(probe: SystemProbe, zone: Optional[Tuple[str, str]]) -> Optional[float]:
    """When sos finished collecting: manifest.json's end_time, else the last time in sos.log.
    Both are local times: without timedatectl's offset they name no instant."""
    if zone is None:
        return None
    stamp = None
    try:
        manifest = json.loads(probe.read_text("/sos_reports/manifest.json", limit=_MANIFEST_MAX) or "{}")
        stamp = _SOS_TIME.fullmatch(str(manifest.get("end_time", ""))) if isinstance(manifest, dict) else None
    except ValueError:  # cut at the bound, or not JSON
        pass
    if stamp is None:
        lines = [_SOS_TIME.match(line) for line in (probe.read_text("/sos_logs/sos.log") or "").splitlines()]
        stamp = next((m for m in reversed(lines) if m), None)
    return _local_epoch(stamp.group(1), stamp.group(2), stamp.group(3), zone[1]) if stamp else None


def _report_file(probe: SystemProbe, path: str) -> Optional[str]:
    """The file's path on this machine when it is a regular file inside the report."""
    try:
        host = probe.root.rstrip("/") + probe.resolve(path)
        return host if stat.S_ISREG(os.lstat(host).st_mode) else None
    except (OSError, ValueError):
        return None


def _text_logs(probe: SystemProbe) -> Tuple[Tuple[str, ...], List[Tuple[str, str]]]:
    """The journal as text (sos's `journalctl --no-pager`: the whole journal, or the boots it
    names), else the syslog files it copied: never both, the same lines would count twice.
    `systemctl status --all` only when there is neither: its blocks end with each unit's last
    log lines, which the journal holds too (on examples/sos-seed, adding it turned 68 restarts
    into 70, 76 activations into 82); the unit states come from `systemctl show` instead."""
    names = [n for n in probe.list_dir(_LOGS) if n.startswith("journalctl_--no-pager")]
    whole = [n for n in names if "--boot" not in n and "--list-boots" not in n]
    journal = whole[:1] or sorted(n for n in names if "--boot" in n)
    found = [_report_file(probe, _LOGS + "/" + n) for n in journal]
    lacks = []
    if not any(found):
        syslogs = [n for n in probe.list_dir("/var/log")
                   if re.fullmatch(r"(?:syslog|messages|kern\.log)(?:\.\d{1,3})?(?:\.gz)?", n)]
        found = [_report_file(probe, "/var/log/" + n) for n in sorted(syslogs, key=_age, reverse=True)]
        lacks.append(("journal", "no journalctl output (logs plugin): only the syslog files it copied"
                      if any(found) else "no journalctl output and no syslog copies (logs plugin)"))
    if not any(found):
        found = [_report_file(probe, "/sos_commands/systemd/systemctl_status_--all")]
    return tuple(p for p in found if p), lacks


def _age(name: str) -> int:
    """syslog.2.gz is older than syslog.1, which is older than syslog."""
    m = re.search(r"\.(\d{1,3})(?:\.gz)?$", name)
    return int(m.group(1)) if m else 0


# -- unit states: `systemctl show *service --all` ---------------------------------------------------

def _unit_states(probe: SystemProbe, zone: Optional[Tuple[str, str]]) -> Tuple[UnitState, ...]:
    """One UnitState per block of KEY=VALUE lines (blocks end at a blank line)."""
    text = probe.read_text("/sos_commands/systemd/systemctl_show_service_--all", limit=_SHOW_MAX) or ""
    states: Dict[str, UnitState] = {}
    for block in re.split(r"\n\s*\n", text):
        props: Dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition("=")
            if sep and key not in props:
                props[key] = value
        state = _unit_state(props, zone)
        if state is not None:
            states[state.name] = state
    return tuple(states[name] for name in sorted(states))


def _unit_state(p: Mapping[str, str], zone: Optional[Tuple[str, str]]) -> Optional[UnitState]:
    name = p.get("Id", "")
    if not is_unit_name(name):
        return None
    restart = duration_seconds(p.get("RestartUSec", "")) if p.get("RestartUSec") else None
    load_error = p.get("LoadError", "").split(" ", 1)
    return UnitState(
        name=name, load_state=p.get("LoadState", ""), active_state=p.get("ActiveState", ""),
        sub_state=p.get("SubState", ""),
        n_restarts=int(p["NRestarts"]) if p.get("NRestarts", "").isdigit() and len(p["NRestarts"]) < 10 else None,
        unit_file_state=p.get("UnitFileState", ""), fragment_path=p.get("FragmentPath", ""),
        names=tuple(n for n in p.get("Names", name).split() if is_unit_name(n)) or (name,),
        description=p.get("Description", ""), result=p.get("Result", ""),
        load_error=(load_error[0], load_error[1].strip('"')) if len(load_error) == 2 else ("", ""),
        restart=p.get("Restart", ""), restart_usec=None if restart is None else int(restart * 1e6),
        need_daemon_reload=p.get("NeedDaemonReload") == "yes",
        exec_start_pre=_exec_statuses(p.get("ExecStartPre", ""), zone),
        exec_stop_post=_exec_statuses(p.get("ExecStopPost", ""), zone), seen_in=SEEN_IN)


def _exec_statuses(value: str, zone: Optional[Tuple[str, str]]) -> Tuple[ExecStatus, ...]:
    """`{ path=... ; argv[]=... ; ... ; code=exited ; status=1 }`, once per command (systemd
    prints the commands of one setting as `{ ... } { ... }`)."""
    out = []
    for command in re.findall(r"\{ (.*?) \}(?= \{|$)", value):
        f = dict(_EXEC_FIELD.findall(command + " }"))
        code = EXIT_CODES.get(f.get("code", "").encode(), 0)
        status = status_number(("status=" + f.get("status", "")).encode())
        exited = _shown_time(f.get("stop_time", ""), zone)
        out.append(ExecStatus(
            path=f.get("path", ""), argv=tuple(f.get("argv[]", "").split()), ignore_errors=f.get("ignore_errors") == "yes",
            started=_shown_time(f.get("start_time", ""), zone),
            # a run that ended at a time not read (another zone's abbreviation) still ended
            exited=exited if exited is not None or not code or status is None else 0.0,
            pid=int(f["pid"]) if f.get("pid", "").isdigit() and len(f["pid"]) < 10 else 0,
            code=code if status is not None else 0, status=status or 0))
    return tuple(out)


def _shown_time(value: str, zone: Optional[Tuple[str, str]]) -> Optional[float]:
    """`[Mon 2026-12-07 17:10:17 UTC]`: an instant only in UTC or in the zone timedatectl named."""
    m = _SHOWN_TIME.fullmatch(value)
    if m is None:
        return None
    offsets = {"UTC": "+0000", "GMT": "+0000"}
    if zone is not None:
        offsets.setdefault(zone[0], zone[1])
    if m.group(2) not in offsets:
        return None
    date, clock = m.group(1).split(" ")
    return _local_epoch(date, clock, "0", offsets[m.group(2)])


# -- kernel modules ----------------------------------------------------------------------------------

def _module_answers(probe: SystemProbe) -> Dict[str, Optional[str]]:
    """What the report says of each module: its file, from `modinfo` of every name in /sys/module
    (a file's name is the module's, '-' read as '_'); "(builtin)" for a /sys/module entry without
    `initstate`, which the kernel gives every loaded module and no built-in one."""
    answers: Dict[str, Optional[str]] = {}
    for entry in probe.list_dir("/sys/module"):
        if is_module_name(entry) and "initstate" not in probe.list_dir("/sys/module/" + entry):
            answers[entry] = "(builtin)"
    modinfo = probe.read_text("/sos_commands/kernel/modinfo_ALL_MODULES", limit=16 << 20) or ""
    for path, name in _MODULE_FILE.findall(modinfo):
        answers[name.replace("-", "_")] = path
    return answers


# -- what a diagnosis needs and the report did not collect ----------------------------------------------

def _diagnosis_lacks(probe: SystemProbe, release: Optional[str]) -> List[Tuple[str, str]]:
    lacks = [("modinfo of a module neither loaded nor built in",
              "sos runs modinfo only on the names in /sys/module: a module the kernel does not have loaded, "
              "such as one modprobe cannot find, has no answer")]
    if release and probe.read_text("/lib/modules/%s/modules.dep" % release, limit=1) is None:
        lacks.append(("/lib/modules/%s" % release,
                      "no modules.dep for the running kernel in the report (the machine has none, or the kernel "
                      "plugin did not run): which modules the kernel could load is unknown"))
    if not probe.list_dir("/var/lib/dpkg/info"):
        lacks.append(("package owners", "sos ran no dpkg-query -S and copied no /var/lib/dpkg/info: which "
                                        "package installed a file is unknown (dpkg -l names only the installed)"))
    if not probe.list_dir("/usr/share/dbus-1/system-services"):
        lacks.append(("D-Bus service files", "sos copied no /usr/share/dbus-1/system-services (the dbus plugin "
                                             "copies /etc/dbus-1): which file names a bus name's SystemdService= "
                                             "is unknown"))
    if not probe.list_dir("/usr/src"):
        lacks.append(("dkms sources", "sos copied no /usr/src/*/dkms.conf: which dkms source builds a module "
                                      "is unknown"))
    if probe.read_text(LOG_LISTING, limit=1) is None:
        lacks.append(("log directory modes", "sos copies the log files its plugins name, not /var/log's "
                                             "directories, and no `ls -alRh /var/log/` (logs plugin) shows them"))
    return lacks
