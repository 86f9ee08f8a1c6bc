"""Every wording unitaudit reads, with the versions that print it: systemd 219 to 257 (a unit
restarts, fails, hits its start limit, succeeds) and logrotate 3.8.0 to 3.22.0 (config and
permission errors, and the cron wrapper that runs it).

Read from the upstream sources at their tags (systemd: src/core/service.c, unit.c, socket.c,
mount.c, execute.c; logrotate: config.c, logrotate.c, examples/logrotate.cron).  `wordings.py`
classifies with these rows and nothing else.  A row's `template` is the upstream format string
(a `%s` that upstream picks from a fixed set of words is written out); its `pattern` is what
unitaudit matches, anchored at the start of the text after the unit (form PREFIXED: "unit: ",
LED: "unit ") or of the whole text (UNITLESS), or after logrotate's "error: " (ERROR).  The named
groups of a pattern become the message's facts; `unit` names the unit.  Within a form the rows are
tried in order: a wording that extends another comes first.

Deliberately not read: "Failed to start %s." (it names the unit's Description, not the unit),
"Job %s/%s timed out.", the stop-phase timeouts ("Stopping timed out", "State '%s' timed out"),
and logrotate 3.22's "warning: ... unknown option" (a warning does not fail the run).
"""
from typing import NamedTuple, Tuple

from unitaudit.model import Kind
from unitaudit.util.names import UNIT_RE

PREFIXED = "prefixed"  # systemd 220+ (and 219's process lines): "unit: <text>"
LED = "led"  # systemd 219: "unit <text>"
UNITLESS = "unitless"  # systemd 219: the unit inside the text, or no unit at all
ERROR = "error"  # logrotate: "error: <text>"
CRON = "cron"  # the cron.daily wrapper around logrotate, and run-parts running it

# A failed logrotate run that cron started: there is no systemd unit to name, so findings name
# the script that ran it.  Not a unit name (is_unit_name is false): nothing acts on it as a unit.
CRON_LOGROTATE = "/etc/cron.daily/logrotate"

_UNIT = "(?P<unit>%s)" % UNIT_RE.pattern
_EXIT = r"code=(?P<EXIT_CODE>\w+), status=(?P<EXIT_STATUS>\d+)(?:/(?P<EXIT_STATUS_NAME>[\w/+-]+))?"
_EXIT_NO_COMMA = r"code=(?P<EXIT_CODE>\w+) status=(?P<EXIT_STATUS>\d+)"
_AT = r"(?P<file>[^\s:]+):(?P<line>\d+),? "  # logrotate's "%s:%d " before a config error


class Wording(NamedTuple):
    id: str
    form: str
    template: str  # as upstream prints it
    pattern: str
    kind: Kind
    first: str  # the first version that prints it
    last: str  # the last one (systemd 257 / logrotate 3.22.0: still printed)
    meaning: str
    facts: Tuple[Tuple[str, str], ...] = ()  # constant facts (logrotate's error class)


def _lr(id: str, template: str, pattern: str, first: str, last: str, cls: str, meaning: str,
        form: str = ERROR) -> Wording:
    return Wording(id, form, template, pattern, Kind.LOGROTATE_ERROR, first, last, meaning, (("class", cls),))


SYSTEMD = (
    # -- restarts -------------------------------------------------------------------------
    Wording("restart-holdoff-219", LED, "%s holdoff time over, scheduling restart.",
            r"holdoff time over, scheduling restart\.", Kind.RESTART_TIMER_EXPIRED, "219", "219",
            "RestartSec= passed, the restart job is queued (the only restart line before 235)"),
    Wording("restart-no-holdoff-219", LED, "%s has no holdoff time, scheduling restart.",
            r"has no holdoff time, scheduling restart\.", Kind.RESTART_TIMER_EXPIRED, "219", "219",
            "RestartSec=0: restart queued at once"),
    Wording("restart-holdoff", PREFIXED, "Service hold-off time over, scheduling restart.",
            r"Service hold-off time over, scheduling restart\.", Kind.RESTART_TIMER_EXPIRED, "220", "238",
            "RestartSec= passed, the restart job is queued"),
    Wording("restart-no-holdoff", PREFIXED, "Service has no hold-off time, scheduling restart.",
            r"Service has no hold-off time, scheduling restart\.", Kind.RESTART_TIMER_EXPIRED, "220", "238",
            "RestartSec=0: restart queued at once"),
    Wording("restart-no-holdoff-restartsec0", PREFIXED,
            "Service has no hold-off time (RestartSec=0), scheduling restart.",
            r"Service has no hold-off time \(RestartSec=0\), scheduling restart\.", Kind.RESTART_TIMER_EXPIRED,
            "239", "257", "RestartSec=0: restart queued at once"),
    Wording("restart-restartsec-expired", PREFIXED, "Service RestartSec=%s expired, scheduling restart.",
            r"Service RestartSec=(?P<RESTART_SEC>\S+) expired, scheduling restart\.", Kind.RESTART_TIMER_EXPIRED,
            "239", "253", "RestartSec= passed, the restart job is queued"),
    Wording("restart-interval-expired", PREFIXED, "Service restart interval %s expired, scheduling restart.",
            r"Service restart interval (?P<RESTART_SEC>\S+) expired, scheduling restart\.",
            Kind.RESTART_TIMER_EXPIRED, "254", "257", "the restart interval passed, the restart job is queued"),
    Wording("restart-scheduled-debug", PREFIXED, "Scheduled restart job.",
            r"Scheduled restart job\.", Kind.RESTART_SCHEDULED, "220", "234",
            "an automatic restart (debug level: seen only with LogLevel=debug)"),
    Wording("restart-counter", PREFIXED, "Scheduled restart job, restart counter is at %u.",
            r"Scheduled restart job, restart counter is at (?P<N_RESTARTS>\d+)\.", Kind.RESTART_SCHEDULED,
            "235", "257", "an automatic restart, and how many since the unit last started by hand"),
    Wording("restart-counter-client-request", PREFIXED,
            "Scheduled restart job immediately on client request, restart counter is at %u.",
            r"Scheduled restart job immediately on client request, restart counter is at (?P<N_RESTARTS>\d+)\.",
            Kind.RESTART_SCHEDULED, "257", "257", "a restart while waiting to restart, asked for by a client"),
    # -- failures -----------------------------------------------------------------------------
    Wording("entered-failed-219", UNITLESS, "Unit %s entered failed state.",
            r"Unit %s entered failed state\." % _UNIT, Kind.UNIT_FAILED, "219", "219",
            "a unit of any type failed (219 names no result)"),
    Wording("failed-219", LED, "%s failed.", r"failed\.$", Kind.UNIT_FAILED_ECHO, "219", "219",
            "a service failed: the failure the line before it told"),
    Wording("entered-failed", PREFIXED, "Unit entered failed state.", r"Unit entered failed state\.",
            Kind.UNIT_FAILED_ECHO, "220", "256",
            "the failure 'Failed with result' tells (notice level until 234, debug from 235)"),
    Wording("failed-with-result", PREFIXED, "Failed with result '%s'.",
            r"Failed with result '(?P<UNIT_RESULT>[\w-]+)'\.", Kind.UNIT_FAILED, "220", "257",
            "the unit failed, and why; 'start-limit-hit' is read as START_LIMIT_HIT"),
    Wording("main-exited-219", PREFIXED, "main process exited, code=%s, status=%i/%s",
            "main process exited, " + _EXIT, Kind.MAIN_EXITED, "219", "219", "ExecStart= failed"),
    Wording("main-exited", PREFIXED, "Main process exited, code=%s, status=%i/%s",
            "Main process exited, " + _EXIT, Kind.MAIN_EXITED, "220", "257", "ExecStart= failed"),
    Wording("control-exited-219", PREFIXED, "control process exited, code=%s status=%i",
            "control process exited, " + _EXIT_NO_COMMA, Kind.CONTROL_EXITED, "219", "219",
            "ExecStartPre=/ExecStop*= ... of a service failed"),
    Wording("control-exited-219-led", LED, "%s control process exited, code=%s status=%i",
            "control process exited, " + _EXIT_NO_COMMA, Kind.CONTROL_EXITED, "219", "219",
            "a socket's control command failed"),
    Wording("control-exited-no-comma", PREFIXED, "Control process exited, code=%s status=%i",
            "Control process exited, " + _EXIT_NO_COMMA, Kind.CONTROL_EXITED, "220", "239",
            "a control command (ExecStartPre=, ExecStopPost=, ...) failed"),
    Wording("control-exited", PREFIXED, "Control process exited, code=%s, status=%i/%s",
            "Control process exited, " + _EXIT, Kind.CONTROL_EXITED, "240", "257",
            "a control command (ExecStartPre=, ExecStopPost=, ...) failed"),
    Wording("mount-exited-219", LED, "%s mount process exited, code=%s status=%i",
            "mount process exited, " + _EXIT_NO_COMMA, Kind.CONTROL_EXITED, "219", "219", "mount(8) failed"),
    Wording("mount-exited", PREFIXED, "Mount process exited, code=%s status=%i",
            "Mount process exited, code=(?P<EXIT_CODE>\\w+),? status=(?P<EXIT_STATUS>\\d+)"
            "(?:/(?P<EXIT_STATUS_NAME>[\\w/+-]+))?", Kind.CONTROL_EXITED, "220", "257",
            "mount(8) failed (with ', ' and '/NAME' from 240)"),
    Wording("spawn-failed-219", UNITLESS, "Failed at step %s spawning %s: %s",
            r"Failed at step (?P<STEP>\w+) spawning (?P<EXECUTABLE>\S+): (?P<ERROR>.*)", Kind.SPAWN_FAILED,
            "219", "219", "a command could not be started (the forked child logs it; no unit named)"),
    Wording("spawn-failed", PREFIXED, "Failed at step %s spawning %s: %m",
            r"Failed at step (?P<STEP>\w+) spawning (?P<EXECUTABLE>\S+): (?P<ERROR>.*)", Kind.SPAWN_FAILED,
            "220", "257", "a command could not be started"),
    Wording("timeout-219", LED, "%s start-pre operation timed out. Terminating.",
            r"(?P<STATE>start-pre|start-post|start) operation timed out\. (?:Terminating|Stopping)\.",
            Kind.OPERATION_TIMED_OUT, "219", "219", "a start step ran past TimeoutStartSec= and is killed"),
    Wording("timeout-capitalized", PREFIXED, "Start-pre operation timed out. Terminating.",
            r"(?P<STATE>Start-pre|Start-post|Start) operation timed out\. (?:Terminating|Stopping)\.",
            Kind.OPERATION_TIMED_OUT, "220", "245", "a start step ran past TimeoutStartSec= and is killed"),
    Wording("timeout-state", PREFIXED, "%s operation timed out. Terminating.",
            r"(?P<STATE>[a-z-]+) operation timed out\. (?:Terminating|Aborting|Killing|Skipping SIGKILL)\.",
            Kind.OPERATION_TIMED_OUT, "246", "257", "a start step ran past TimeoutStartSec= (state named)"),
    # -- start limit ----------------------------------------------------------------------------
    Wording("start-limit-219", UNITLESS, "start request repeated too quickly for %s",
            r"start request repeated too quickly for %s" % _UNIT, Kind.START_LIMIT_HIT, "219", "219",
            "systemd gave up starting the unit", (("via", "message"),)),
    Wording("start-limit", PREFIXED, "Start request repeated too quickly.",
            r"Start request repeated too quickly\.", Kind.START_LIMIT_HIT, "220", "257",
            "systemd gave up starting the unit", (("via", "message"),)),
    # -- success ---------------------------------------------------------------------------------
    Wording("succeeded", PREFIXED, "Succeeded.", r"Succeeded\.$", Kind.UNIT_SUCCEEDED, "240", "247",
            "the unit stopped after a successful run"),
    Wording("deactivated", PREFIXED, "Deactivated successfully.", r"Deactivated successfully\.$",
            Kind.UNIT_SUCCEEDED, "248", "257", "the unit stopped after a successful run"),
)

LOGROTATE = (
    # -- config errors: "%s:%d ..." names the file (a basename inside /etc/logrotate.d, or a path)
    _lr("unexpected-text-after-brace", "%s:%d, unexpected text after }",
        _AT + r"unexpected text after \}", "3.8.0", "3.22.0", "unexpected-text-after-brace",
        "text after a block's closing brace on the same line"),
    _lr("line-not-keyword-or-file", "%s:%d lines must begin with a keyword or a filename (possibly in double quotes)",
        _AT + r"lines must begin with a keyword or a filename", "3.8.0", "3.22.0", "line-not-keyword-or-file",
        "a line that is neither a directive nor a log path"),
    _lr("missing-open-brace", "%s:%d missing '{' after log files definition",
        _AT + r"missing '\{' after log files definition", "3.8.2", "3.22.0", "missing-open-brace",
        "log paths not followed by '{'"),
    _lr("open-brace-expected", "%s:%d { expected after log file name(s)",
        _AT + r"\{ expected after log file name\(s\)", "3.8.0", "3.22.0", "missing-open-brace",
        "log paths not followed by '{'"),
    _lr("unexpected-close-brace-no-open", "%s:%d unexpected } (missing previous '{')",
        _AT + r"unexpected \} \(missing previous '\{'\)", "3.8.2", "3.22.0", "unexpected-close-brace",
        "a '}' with no block open"),
    _lr("unexpected-close-brace", "%s:%d unexpected }", _AT + r"unexpected \}", "3.8.0", "3.22.0",
        "unexpected-close-brace", "a '}' with no block open"),
    _lr("unknown-option", "%s:%d unknown option '%s' -- ignoring line",
        _AT + r"unknown option '(?P<option>[^']*)'", "3.8.0", "3.21.0", "unknown-option",
        "a directive logrotate does not know (3.22 prints it as a warning)"),
    _lr("duplicate-log-entry", "%s:%d duplicate log entry for %s",
        _AT + r"duplicate log entry for (?P<path>\S+)", "3.8.0", "3.22.0", "duplicate-log-entry",
        "a log file named in two blocks"),
    _lr("unknown-user", "%s:%d unknown user '%s'", _AT + r"unknown user '(?P<user>[^']*)'", "3.8.0", "3.22.0",
        "unknown-user", "create/su names a user that does not exist"),
    _lr("unknown-group", "%s:%d unknown group '%s'", _AT + r"unknown group '(?P<group>[^']*)'", "3.8.0", "3.22.0",
        "unknown-group", "create/su names a group that does not exist"),
    _lr("bad-value", "%s:%d bad rotation count '%s'",
        _AT + r"bad (?P<what>size|rotation count|start count|maximum age|minimum age|shred cycles|weekly directive)"
        r" '(?P<value>[^']*)'", "3.8.0", "3.22.0", "bad-value", "a directive's value does not parse"),
    _lr("invalid-mode", "%s:%d invalid mode '%s'", _AT + r"invalid mode '(?P<value>[^']*)'", "3.22.0", "3.22.0",
        "bad-mode", "create's mode does not parse"),
    _lr("olddir-invalid", "%s:%d error verifying olddir path %s: %s",
        _AT + r"error verifying (?:created )?olddir path (?P<path>\S+): (?P<error>.*)", "3.8.0", "3.22.0",
        "olddir-invalid", "olddir is missing or unreadable"),
    _lr("olddir-not-directory", "%s:%d olddir path %s is not a directory",
        _AT + r"olddir path (?P<path>\S+) is not a directory", "3.8.0", "3.8.8", "olddir-invalid",
        "olddir is not a directory"),
    _lr("olddir-other-device", "%s:%d olddir %s and log file %s are on different devices",
        _AT + r"olddir (?P<path>\S+) and log file \S+ are on different devices", "3.8.0", "3.22.0",
        "olddir-other-device", "olddir on another file system without copy/renamecopy"),
    _lr("log-path-invalid", "%s:%d error verifying log file path %s: %s",
        _AT + r"error verifying log file path (?P<path>\S+): (?P<error>.*)", "3.8.0", "3.22.0",
        "log-path-invalid", "a log path's directory is missing or unreadable"),
    _lr("unexpected-log-filename", "%s:%d unexpected log filename", _AT + r"unexpected log filename",
        "3.8.0", "3.22.0", "unexpected-log-filename", "a log path inside a block"),
    _lr("at-line-other", "%s:%d %s", _AT + r"(?P<detail>.+)", "3.8.0", "3.22.0", "config-error",
        "any other error at a line of a config file"),
    # -- a config file logrotate refused whole
    _lr("missing-endscript-3.8.0", "%s:prerotate or postrotate without endscript",
        r"(?P<file>[^\s:]+):prerotate or postrotate without endscript", "3.8.0", "3.8.3", "missing-endscript",
        "a script block never closed: the rest of the file is skipped"),
    _lr("missing-endscript", "%s:prerotate, postrotate or preremove without endscript",
        r"(?P<file>[^\s:]+):prerotate, postrotate or preremove without endscript", "3.8.4", "3.22.0",
        "missing-endscript", "a script block never closed: the rest of the file is skipped"),
    _lr("found-error-file", "found error in file %s, skipping", r"found error in file (?P<file>.+), skipping",
        "3.8.0", "3.22.0", "found-error", "the file had errors: its blocks are skipped"),
    _lr("found-error-in-logs", "found error in %s, skipping",
        r"found error in (?P<path>.*?)\s*(?:, skipping)?$", "3.8.0", "3.22.0", "found-error",
        "a block had errors: its log paths (as written, often with the newline before ', skipping') are skipped"),
    _lr("ignoring-bad-mode", "Ignoring %s because of bad file mode - must be 0644 or 0444.",
        r"Ignoring (?P<file>\S+) because of bad file mode", "3.8.9", "3.13.0", "ignored-config-file",
        "a config file with a mode other than 0644/0444 is not read"),
    _lr("ignoring-writable", "Ignoring %s because it is writable by group or others.",
        r"Ignoring (?P<file>\S+) because it is writable by group or others", "3.14.0", "3.22.0",
        "ignored-config-file", "a config file writable by group or others is not read"),
    _lr("ignoring-no-owner-entry", "Ignoring %s because there's no password entry for the owner.",
        r"Ignoring (?P<file>\S+) because there's no password entry for the owner", "3.14.0", "3.16.0",
        "ignored-config-file", "a config file whose owner has no passwd entry is not read"),
    _lr("ignoring-wrong-owner", "Ignoring %s because the file owner is wrong (should be root or user with uid 0).",
        r"Ignoring (?P<file>\S+) because the file owner is wrong", "3.14.0", "3.22.0", "ignored-config-file",
        "a config file not owned by root is not read"),
    # -- permissions at rotation time
    _lr("insecure-parent-directory", 'skipping "%s" because parent directory has insecure permissions ...',
        r'skipping "(?P<path>[^"]+)" because parent directory has insecure permissions', "3.8.0", "3.22.0",
        "insecure-parent-directory", "a log directory writable by others, and no su directive"),
    _lr("stat-failed", "stat of %s failed: %s", r"stat of (?P<path>\S+) failed: (?P<error>.*)", "3.8.0", "3.22.0",
        "stat-failed", "a log file that cannot be examined (often: Permission denied)"),
    _lr("error-setting-owner", "error setting owner of %s to uid %u and gid %u: %s",
        r"error setting owner of (?P<path>\S+) to uid \d+ and gid \d+: (?P<error>.*)", "3.8.2", "3.22.0",
        "error-setting-owner", "create's owner cannot be applied"),
    _lr("error-creating-output", "error creating output file %s: %s",
        r"error creating output file (?P<path>\S+): (?P<error>.*)", "3.8.0", "3.22.0", "error-creating-output",
        "the new log file cannot be created"),
    _lr("error-renaming", "error renaming %s to %s: %s", r"error renaming (?P<path>\S+) to \S+: (?P<error>.*)",
        "3.8.0", "3.22.0", "error-renaming", "a log cannot be rotated (read-only or permissions)"),
)

CRON_ROWS = (
    Wording("cron-alert", CRON, "ALERT exited abnormally with [$EXITVALUE]",
            r"ALERT exited abnormally with \[(?P<EXIT_STATUS>\d+)\]", Kind.UNIT_FAILED, "3.8.0", "3.22.0",
            "logrotate run by cron failed (examples/logrotate.cron, installed as /etc/cron.daily/logrotate)",
            (("UNIT_RESULT", "exit-code"),)),
    Wording("cron-run-parts", CRON, "%s exited with return code %d",
            r"/etc/cron\.daily/logrotate exited with return code (?P<EXIT_STATUS>\d+)", Kind.UNIT_FAILED, "", "",
            "logrotate run by cron failed, as run-parts (debianutils) mails it", (("UNIT_RESULT", "exit-code"),)),
)

WORDINGS = SYSTEMD + LOGROTATE + CRON_ROWS

