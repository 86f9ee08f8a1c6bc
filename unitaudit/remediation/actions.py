"""The closed set of actions, each turned into the concrete operations a backend performs, and
`expand`, which fills a plan's steps with them.

Reads the current state of the files it would write (through the SystemProbe, the only thing
here that looks at the system) so that a dry run can show the exact diff.  Never writes: the
backend does, and only a real one (executor.py).
"""
import posixpath
import re
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Tuple

from unitaudit.errors import ProbeUnavailable
from unitaudit.model import Action, Operation, OperationKind, Plan, PlannedStep, Refusal
from unitaudit.remediation.schema import DROP_IN_SETTINGS, SETTING_MIN_SYSTEMD
from unitaudit.sources.probe import SystemProbe

MANAGER = "org.freedesktop.systemd1.Manager"
DROP_IN_NAME = "50-unitaudit.conf"
DISABLED_SUFFIX = ".disabled"  # in logrotate's default tabooext: a file so named is not read
_STANZA_START = re.compile(r"^\s*([^#{}][^{}]*?)\s*\{\s*$")


def _dbus(member: str, target: str, *args: str) -> Operation:
    return Operation(OperationKind.DBUS, target, argv=("%s.%s" % (MANAGER, member),) + args)


def _reload() -> Operation:
    return _dbus("Reload", "systemd")


def daemon_reload(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    return [_reload()]


def reenable(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    unit = step.value("unit")
    # ReenableUnitFiles(files, runtime=false, force=true) recreates every install link, the
    # aliases included (systemctl reenable); it does not reload, so Reload follows.
    return [_dbus("ReenableUnitFiles", unit, unit, "runtime=false", "force=true"), _reload()]


def _job(member: str) -> Callable[[PlannedStep, SystemProbe], List[Operation]]:
    def ops(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
        return [_dbus(member, step.value("unit"), step.value("unit"), "replace")]
    return ops


def reset_failed(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    return [_dbus("ResetFailedUnit", step.value("unit"), step.value("unit"))]


def mask(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    unit = step.value("unit")
    return [_dbus("MaskUnitFiles", unit, unit, "runtime=false", "force=false"), _reload()]


def drop_in_text(unit: str, settings: Tuple[Tuple[str, str], ...], systemd_version: Optional[int]) -> str:
    kept = [(k, v) for k, v in settings if (systemd_version or 0) >= SETTING_MIN_SYSTEMD.get(k, 0)]
    unit_keys = [(k, v) for k, v in kept if DROP_IN_SETTINGS[k] == "Unit"]
    service_keys = [(k, v) for k, v in kept if DROP_IN_SETTINGS[k] == "Service"]
    # short lines: `fix --dry-run` shows them in its diff, which must read at 80 columns
    lines = ["# Written by unitaudit fix: a restart rate limit for", "# %s." % unit,
             "# `unitaudit undo` removes it; so does deleting this file", "# and `systemctl daemon-reload`."]
    if unit_keys:
        lines += ["", "[Unit]"] + ["%s=%s" % kv for kv in unit_keys]
    if service_keys:
        lines += ["", "[Service]"] + ["%s=%s" % kv for kv in service_keys]
    return "\n".join(lines) + "\n"


def write_drop_in(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    unit = step.value("unit")
    path = "/etc/systemd/system/%s.d/%s" % (unit, DROP_IN_NAME)
    content = drop_in_text(unit, step.settings, probe.systemd_version())
    return [Operation(OperationKind.WRITE, unit, path=path, content=content, before=probe.read_text(path)), _reload()]


def apt_reinstall(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    package = step.value("package")
    return [Operation(OperationKind.RUN, package,
                      argv=("apt-get", "install", "--reinstall", "--yes", "--no-install-recommends",
                            "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", package))]


def dkms_autoinstall(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    module = step.value("module")
    return [Operation(OperationKind.RUN, module, argv=("dkms", "autoinstall", "-k", probe.kernel_release()))]


def logrotate_quarantine(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    path = step.value("config_file")
    # `logrotate -d FILE` must report an error in that file before it is moved: the backend checks.
    return [Operation(OperationKind.CHECK, path, argv=("logrotate", "-d", path)),
            Operation(OperationKind.MOVE, path, path=path, destination=path + DISABLED_SUFFIX)]


def logrotate_add_su(step: PlannedStep, probe: SystemProbe) -> List[Operation]:
    directory = step.value("directory")
    info = probe.stat(directory)
    if not info.exists or not info.owner or not info.group:
        raise ValueError("%s: owner and group unknown, cannot choose the su user" % directory)
    for path in logrotate_configs(probe):
        text = probe.read_text(path)
        if text is None:
            continue
        new = add_su(text, directory, info.owner, info.group)
        if new is not None and new != text:
            return [Operation(OperationKind.WRITE, path, path=path, content=new, before=text)]
    raise ValueError("no logrotate stanza rotates logs in %s" % directory)


def logrotate_configs(probe: SystemProbe) -> List[str]:
    names = sorted(n for n in probe.list_dir("/etc/logrotate.d") if not n.startswith(".") and not n.endswith(DISABLED_SUFFIX))
    return ["/etc/logrotate.conf"] + ["/etc/logrotate.d/" + n for n in names]


def add_su(text: str, directory: str, user: str, group: str) -> Optional[str]:
    """`text` with `su USER GROUP` added to each stanza that rotates a log directly in `directory`;
    None when no stanza does.  A stanza that already has a `su` line is left as it is."""
    lines = text.splitlines(keepends=True)
    out, found, i = [], False, 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        m = _STANZA_START.match(line)
        if m and any(posixpath.dirname(p.strip('"')) == directory for p in m.group(1).split()):
            found = True
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("}")), len(lines))
            body = lines[i + 1:end]
            if not any(b.split()[:1] == ["su"] for b in body if b.strip()):
                indent = re.match(r"\s*", body[0]).group(0) if body and body[0].strip() else "    "
                out.append("%s# unitaudit fix: logrotate skipped these (insecure parent directory)\n" % indent)
                out.append("%ssu %s %s\n" % (indent, user, group))
        i += 1
    return "".join(out) if found else None


OPERATIONS: Dict[Action, Callable[[PlannedStep, SystemProbe], List[Operation]]] = {
    Action.DAEMON_RELOAD: daemon_reload,
    Action.REENABLE: reenable,
    Action.START: _job("StartUnit"),
    Action.STOP: _job("StopUnit"),
    Action.RESTART: _job("RestartUnit"),
    Action.RESET_FAILED: reset_failed,
    Action.WRITE_DROP_IN: write_drop_in,
    Action.MASK: mask,
    Action.APT_REINSTALL: apt_reinstall,
    Action.DKMS_AUTOINSTALL: dkms_autoinstall,
    Action.LOGROTATE_ADD_SU: logrotate_add_su,
    Action.LOGROTATE_QUARANTINE: logrotate_quarantine,
}
assert set(OPERATIONS) == set(Action), "every action needs its operations"


def expand(plan: Plan, probe: SystemProbe) -> Plan:
    """The plan with each step's operations.  A finding whose step cannot be worked out (no
    logrotate stanza for a directory, ...) loses all its steps and gets a refusal saying why."""
    failed = {}
    ops = {}
    for i, step in enumerate(plan.steps):
        if step.finding_id in failed:
            continue
        try:
            ops[i] = tuple(OPERATIONS[step.action](step, probe))
        except (ValueError, OSError, ProbeUnavailable) as e:
            failed[step.finding_id] = "%s %s: %s" % (step.action.value, " ".join(v for _k, v in step.values), e)
    steps = tuple(replace(s, operations=ops[i]) for i, s in enumerate(plan.steps) if s.finding_id not in failed)
    units = {s.finding_id: dict(s.values).get("unit", "") for s in plan.steps}
    refusals = plan.refusals + tuple(Refusal(fid, units.get(fid, ""), "cannot plan: " + why)
                                     for fid, why in failed.items())
    verifications = tuple((fid, v) for fid, v in plan.verifications if fid not in failed)
    return replace(plan, steps=steps, refusals=refusals, verifications=verifications)
