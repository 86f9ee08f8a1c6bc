"""Causes read from the evidence around a loop: a failing ExecStartPre, a
logrotate config error, a missing activation unit.  Pure."""
from typing import List, Optional

from unitaudit.analysis.evidence import Evidence, Series
from unitaudit.model import Cause, CauseKind, Kind, UnitState

_PRE_START = ("ExecCondition", "ExecStartPre")


def exec_failure(ev: Evidence, unit: str) -> Optional[Cause]:
    """A control process that fails before the main process ever runs."""
    control = ev.get(unit, Kind.CONTROL_EXITED)
    spawn = ev.get(unit, Kind.SPAWN_FAILED)
    main = ev.get(unit, Kind.MAIN_EXITED)
    program = _program_line(ev.get(unit, Kind.PROGRAM_LINE))
    if spawn is not None and (control is None or spawn.count >= control.count):
        exe = spawn.top("EXECUTABLE")
        return Cause(
            CauseKind.EXECSTARTPRE_FAILED,
            "cannot execute %s: %s" % (exe, spawn.top("ERROR")),
            (("command", None), ("command_source", None), ("executable", exe),
             ("error", spawn.top("ERROR")), ("count", spawn.count), ("program_line", program)),
        )
    if control is None:
        return None
    commands = control.values("COMMAND")
    if commands:
        pre = [(c, n) for c, n in commands if c in _PRE_START]
        if not pre:
            return None  # only ExecStopPost & co failed: not what stops the start
        command, source = pre[0][0], "journal"
    elif main is None:
        # Text logs and systemd < 240 do not name the command.  A control
        # process failing while the main process never ran is the pre-start one.
        command, source = "ExecStartPre", "inferred"
    else:
        return None
    status = control.top("EXIT_STATUS")
    code = control.top("EXIT_CODE")
    name = control.top("EXIT_STATUS_NAME")
    others = [c for c, _ in commands if c not in _PRE_START]
    summary = "%s failed (%s, status=%s%s)" % (command, code, status, "/" + name if name else "")
    if program:
        summary += ": " + program
    return Cause(
        CauseKind.EXECSTARTPRE_FAILED,
        summary,
        (("command", command), ("command_source", source), ("code", code),
         ("status", int(status) if status and status.isdigit() else status),
         ("status_name", name), ("count", control.count), ("program_line", program),
         ("also_failed", others)),
    )


def live_exec_failure(unit: Optional[UnitState]) -> Optional[Cause]:
    """The failing ExecStartPre as PID 1 holds it (the last run of each command): used when the
    journal does not show the cause."""
    if unit is None:
        return None
    for ex in unit.exec_start_pre:
        if ex.failed and not ex.ignore_errors:
            code = {1: "exited", 2: "killed", 3: "dumped"}.get(ex.code, str(ex.code))
            command = " ".join(ex.argv) or ex.path
            return Cause(
                CauseKind.EXECSTARTPRE_FAILED,
                "ExecStartPre failed (%s, status=%d): %s" % (code, ex.status, command),
                (("command", "ExecStartPre"), ("command_source", "live" if unit.trusted else unit.seen_in),
                 ("code", code), ("status", ex.status),
                 ("status_name", None), ("count", None), ("program_line", None), ("also_failed", []),
                 ("argv", list(ex.argv))),
            )
    return None


def _program_line(series: Optional[Series]) -> Optional[str]:
    if series is None:
        return None
    texts = series.values("text")
    return texts[0][0] if texts else None


def logrotate_config(ev: Evidence, unit: str) -> Optional[Cause]:
    series = ev.get(unit, Kind.LOGROTATE_ERROR)
    if series is None:
        return None
    errors: List[dict] = []
    seen = set()
    for m, _n in series.messages:
        key = (m.fact("class"), m.fact("file"), m.fact("line"), m.fact("path"))
        if key in seen:
            continue
        seen.add(key)
        line = m.fact("line")
        errors.append({
            "file": m.fact("config_path") or m.fact("file"),
            "file_as_logged": m.fact("file"),
            "line": int(line) if line else None,
            "class": m.fact("class"),
            "path": m.fact("path"),
            "message": m.text,
        })
    config = [e for e in errors if e["line"] is not None]
    insecure = [e for e in errors if e["class"] == "insecure-parent-directory"]
    parts = ["%s:%s %s" % (e["file_as_logged"], e["line"], e["class"]) for e in config[:2]]
    if insecure:
        parts.append("%d log(s) skipped: insecure parent directory" % len(insecure))
    if not parts:
        parts = [errors[0]["message"]] if errors else ["logrotate reported errors"]
    return Cause(CauseKind.LOGROTATE_CONFIG, "logrotate: " + "; ".join(parts), (("errors", errors),))


def missing_unit(ev: Evidence, unit: str) -> Optional[Cause]:
    failed = ev.get(unit, Kind.ACTIVATION_FAILED)
    if failed is None:
        return None
    asked = ev.get(unit, Kind.ACTIVATION_REQUESTED)
    bus_name = failed.top("bus_name") or (asked.top("bus_name") if asked else None)
    requesters = []
    if asked is not None:
        comms = asked.values("requester_comm")
        uids = dict(asked.values("requester_uid"))
        # dbus-daemon >= 1.12 logs the start of the command line as comm= ("busctl call ...")
        requesters = [{"comm": c, "program": (c.split() or ["?"])[0].rsplit("/", 1)[-1], "count": n}
                      for c, n in comms[:5]]
        if len(uids) == 1:
            for r in requesters:
                r["uid"] = int(next(iter(uids)))
    reason = failed.top("reason")
    if reason not in ("not-found", "masked"):
        return None  # e.g. "Refusing activation, D-Bus is shutting down": not a missing unit
    daemon = failed.top("daemon")
    what = {"not-found": "not found", "masked": "masked"}.get(reason or "", reason or "failed")
    summary = "unit %s %s" % (unit, what)
    if bus_name:
        summary += " (bus name %s)" % bus_name
    if requesters:
        summary += ", requested by %s" % ", ".join(r["program"] for r in requesters[:3])
    return Cause(
        CauseKind.MISSING_UNIT,
        summary,
        (("unit", unit), ("bus_name", bus_name), ("reason", reason), ("daemon", daemon),
         ("requested_by", requesters)),
    )
