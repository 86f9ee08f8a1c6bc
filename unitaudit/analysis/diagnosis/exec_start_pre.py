"""Why a unit's ExecStartPre fails (the seed's `modprobe vfs_monitor` loop).

The live ExecStartPre array says which command failed and how; for modprobe the
question is whether the module exists for the running kernel at all, and if not,
whether a dkms source that would build it is installed.
"""
from __future__ import annotations
import posixpath
import re
from typing import Dict, List, Optional, TYPE_CHECKING

from unitaudit.analysis.diagnosis.package_owner import FOUND, owning_package, package_words
from unitaudit.errors import ProbeUnavailable
from unitaudit.model import CauseKind, Diagnosis, ExecStatus, Finding, LiveState, UnitState
from unitaudit.util.names import is_module_name, is_safe_component, is_safe_path

if TYPE_CHECKING:  # the probing interface is passed in: analysis reads no system itself
    from unitaudit.sources.probe import SystemProbe

# si_code of the process's end (waitid(2)), as the service manager reports it
_CODES = {1: "exited", 2: "killed", 3: "dumped", 4: "trapped", 5: "stopped", 6: "continued"}
# modprobe options that take the next argument as their value
_OPTIONS_WITH_VALUE = ("-C", "--config", "-d", "--dirname", "-S", "--set-version")
_MODPROBE_NOT_FOUND = re.compile(r"modprobe: FATAL: Module (\S+) not found")
_MODPROBE_NOT_INSERTED = re.compile(r"modprobe: ERROR: could not insert '([^']+)'")


def diagnose_exec_start_pre(finding: Finding, probe: SystemProbe,
                            live: Optional[LiveState]) -> Optional[Diagnosis]:
    cause = dict(finding.cause.facts) if finding.cause else {}
    unit_state = live.by_name().get(finding.unit) if live else None
    out: Dict[str, object] = {"unit": finding.unit}
    command = _live_failure(unit_state)
    if command is not None:
        out.update(command_source="live", path=command.path, argv=list(command.argv),
                   code=_CODES.get(command.code, str(command.code)), status=command.status)
    elif unit_state is not None and _ran_fine(unit_state):
        out.update(command_source="live", path=None, argv=None, code=None, status=None)
        return Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "not-failing-now",
                         "%s: every ExecStartPre command succeeded on its last run; the loop has "
                         "stopped or fails elsewhere" % finding.unit, tuple(out.items()))
    else:
        argv = cause.get("argv")  # a live-only cause carries the argv PID 1 reported
        out.update(command_source=cause.get("command_source") or "journal", path=cause.get("executable"),
                   argv=list(argv) if isinstance(argv, (list, tuple)) else None,
                   code=cause.get("code"), status=cause.get("status"))
    out["program_line"] = cause.get("program_line")
    if unit_state is not None:
        out["restart"] = unit_state.restart or None
        out["restart_sec"] = unit_state.restart_usec / 1e6 if unit_state.restart_usec is not None else None

    module = _modprobe_module(out.get("path"), out.get("argv"), out.get("program_line"))
    if module is None:
        return _not_modprobe(finding, probe, out)
    out["program"] = "modprobe"
    out["module"] = module
    if not is_module_name(module):
        return Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "command-failed",
                         "%s: modprobe fails on %r, which is not a module name" % (finding.unit, module),
                         tuple(out.items()))
    return _modprobe(finding, probe, out, module)


def _live_failure(unit_state: Optional[UnitState]) -> Optional[ExecStatus]:
    if unit_state is None:
        return None
    return next((e for e in unit_state.exec_start_pre if e.failed and not e.ignore_errors), None)


def _ran_fine(unit_state: UnitState) -> bool:
    ran = [e for e in unit_state.exec_start_pre if e.exited is not None]
    return bool(ran) and not any(e.failed for e in ran)


def _modprobe_module(path: object, argv: object, program_line: object) -> Optional[str]:
    """The module a failing modprobe was asked to load, from its argv, else from its own complaint."""
    if isinstance(argv, list) and argv and "modprobe" in (posixpath.basename(str(path or "")),
                                                           posixpath.basename(argv[0])):
        args = argv[1:]
        if any(a in ("-r", "--remove") for a in args):
            return None  # unloading, not loading: an ordinary failed command
        skip_next = False
        for a in args:
            if skip_next:
                skip_next = False
            elif a in _OPTIONS_WITH_VALUE:
                skip_next = True
            elif not a.startswith("-"):
                return a
        return None
    if argv is None and isinstance(program_line, str):
        m = _MODPROBE_NOT_FOUND.search(program_line) or _MODPROBE_NOT_INSERTED.search(program_line)
        if m:
            return m.group(1)
    return None


def _modprobe(finding: Finding, probe: SystemProbe, out: dict, module: str) -> Diagnosis:
    release = probe.kernel_release()
    out["kernel_release"] = release
    try:
        out["modules_dir_exists"] = probe.stat("/lib/modules/" + release, follow=True).exists
    except ProbeUnavailable:  # a sos report copies no /lib/modules: the module's own answer may still say
        out["modules_dir_exists"] = None
    try:
        found = probe.module_file(module, release)
        out["module_file"], out["module_found"] = found, found is not None
    except ProbeUnavailable as e:
        out["module_file"], out["module_found"], out["module_error"] = None, None, str(e)
    providers = _dkms(probe, module, release)
    out["dkms_providers"] = providers
    failing = _command_words(out)
    if out["module_found"]:
        return Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "module-present",
                         "%s fails although module %s exists for kernel %s (%s): loading it fails, "
                         "not finding it" % (failing, module, release, out["module_file"]), tuple(out.items()))
    if out["module_found"] is None:
        return Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "command-failed",
                         "%s; whether module %s exists for kernel %s is unknown (%s)"
                         % (failing, module, release, out["module_error"]), tuple(out.items()))
    if providers:
        p = providers[0]
        state = ("built for %s but not installed" % release if p["built_for_running_kernel"]
                 else "not built for %s" % release)
        return Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "module-missing-dkms-available",
                         "%s: module %s is missing for kernel %s; dkms source %s/%s (%s) provides it, %s: "
                         "run dkms autoinstall -k %s" % (failing, module, release, p["dkms_name"],
                                                         p["dkms_version"],
                                                         package_words(p["package"], p["package_lookup"]),
                                                         state, release), tuple(out.items()))
    no_dir = "" if out["modules_dir_exists"] is not False else " (there is no /lib/modules/%s at all)" % release
    return Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "module-missing",
                     "%s: module %s does not exist for the running kernel %s%s and no dkms source provides it%s"
                     % (failing, module, release, no_dir, _restart_words(out)), tuple(out.items()))


def _dkms(probe: SystemProbe, module: str, release: str) -> List[dict]:
    out = []
    for p in probe.dkms_providers(module):
        built = False
        if is_safe_component(p.dkms_name) and is_safe_component(p.dkms_version):
            # dkms keeps what it built under /var/lib/dkms/NAME/VERSION/KERNEL/ARCH/module
            built = probe.stat("/var/lib/dkms/%s/%s/%s" % (p.dkms_name, p.dkms_version, release), follow=True).exists
        package, lookup = (p.package, FOUND) if p.package else owning_package(probe, p.source_dir + "/dkms.conf")
        out.append({"source_dir": p.source_dir, "package": package, "package_lookup": lookup,
                    "dkms_name": p.dkms_name, "dkms_version": p.dkms_version, "built_for_running_kernel": built})
    return out


def _not_modprobe(finding: Finding, probe: SystemProbe, out: dict) -> Diagnosis:
    path = out.get("path")
    if isinstance(path, str) and is_safe_path(path):
        info = probe.stat(path, follow=True)
        out["executable_exists"] = info.exists
        if not info.exists:
            package, lookup = owning_package(probe, path)
            out["package"], out["package_lookup"] = package, lookup
            return Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "executable-missing",
                             "%s: %s does not exist (%s)" % (_command_words(out), path, package_words(package, lookup)),
                             tuple(out.items()))
    return Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "command-failed",
                     "%s%s" % (_command_words(out), _restart_words(out)), tuple(out.items()))


def _command_words(out: dict) -> str:
    argv, path = out.get("argv"), out.get("path")
    command = "ExecStartPre=" + " ".join(argv) if argv else ("ExecStartPre=" + path if path else "ExecStartPre")
    code, status = out.get("code"), out.get("status")
    how = " (%s, status=%s)" % (code, status) if code is not None else ""
    return "%s: %s failed%s" % (out["unit"], command, how)


def _restart_words(out: dict) -> str:
    restart, sec = out.get("restart"), out.get("restart_sec")
    if restart and restart != "no" and sec is not None:
        return "; Restart=%s repeats it every %g s" % (restart, sec)
    return ""

