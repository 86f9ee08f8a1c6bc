"""Why logrotate fails on every run: which config file and line, who installed it, and which
log directories it refuses because of their permissions.

Verdict: the problems still present on the system, joined by "+" in this fixed order:
`config-error` (a config file logrotate complained about is still there),
`insecure-directories` (a directory it skipped is still writable by others), so
`config-error+insecure-directories` when both.  `no-longer-present` when every file
is gone and every directory is secure now; `unexplained` when the errors name
nothing that can be looked at.
"""
from __future__ import annotations
import posixpath
import re
from typing import Dict, List, Optional, TYPE_CHECKING

from unitaudit.analysis.diagnosis.package_owner import owning_package, package_words
from unitaudit.errors import ProbeUnavailable
from unitaudit.model import CauseKind, Diagnosis, Finding, LiveState
from unitaudit.util.names import is_safe_path

if TYPE_CHECKING:  # the probing interface is passed in: analysis reads no system itself
    from unitaudit.sources.probe import SystemProbe

# a config name as logrotate prints it for a file inside /etc/logrotate.d (logrotate_config_path)
_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}")
_LINE_TEXT_MAX = 200


def diagnose_logrotate(finding: Finding, probe: SystemProbe, live: Optional[LiveState]) -> Optional[Diagnosis]:
    cause = dict(finding.cause.facts) if finding.cause else {}
    errors = [e for e in cause.get("errors") or [] if isinstance(e, dict)]
    if not errors:
        return None
    configs: List[dict] = []
    skipped: Dict[str, List[str]] = {}  # directory -> the logs logrotate skipped in it
    unlocated = 0
    for e in errors:
        if e.get("class") == "insecure-parent-directory":
            path = e.get("path")
            if is_safe_path(path) and path != "/":
                skipped.setdefault(posixpath.dirname(path), []).append(path)
            else:
                unlocated += 1
            continue
        config = _config_path(e.get("file_as_logged"), e.get("file"))
        if config is None:
            unlocated += 1
            continue
        key = (config, e.get("line"), e.get("class"))
        if key not in [(c["file"], c["line"], c["class"]) for c in configs]:
            configs.append(_config_facts(probe, config, e))
    directories = [_directory_facts(probe, d, logs) for d, logs in skipped.items()]

    parts = []
    if any(c["exists"] for c in configs):
        parts.append("config-error")
    if any(d["insecure"] for d in directories):
        parts.append("insecure-directories")
    verdict = "+".join(parts) or ("no-longer-present" if (configs or directories) else "unexplained")
    facts = (("unit", finding.unit), ("configs", configs), ("directories", directories),
             ("unlocated_errors", unlocated))
    return Diagnosis(CauseKind.LOGROTATE_CONFIG, verdict, _summary(verdict, configs, directories), facts)


def _config_path(as_logged: object, resolved: object) -> Optional[str]:
    """logrotate names a file in /etc/logrotate.d by its basename, others by their path."""
    name = as_logged if isinstance(as_logged, str) and as_logged else resolved
    if not isinstance(name, str):
        return None
    if "/" in name:
        return name if is_safe_path(name) else None
    if name == "logrotate.conf":
        return "/etc/logrotate.conf"
    return "/etc/logrotate.d/" + name if _CONFIG_NAME.fullmatch(name) else None


def _config_facts(probe: SystemProbe, path: str, error: dict) -> dict:
    text = probe.read_text(path)
    line = error.get("line")
    line_text = None
    if text is not None and isinstance(line, int) and line >= 1:
        lines = text.splitlines()
        if line <= len(lines):
            line_text = lines[line - 1].strip()[:_LINE_TEXT_MAX]
    package, lookup = owning_package(probe, path)
    return {"file": path, "file_as_logged": error.get("file_as_logged"), "exists": text is not None,
            "line": line, "line_text": line_text, "class": error.get("class"),
            "package": package, "package_lookup": lookup}


def _directory_facts(probe: SystemProbe, directory: str, logs: List[str]) -> dict:
    try:
        info = probe.stat(directory, follow=True)  # logrotate stat()s the parent: links are followed
    except ProbeUnavailable as e:  # evidence that did not record it (a sos report): unknown, said why
        return {"path": directory, "exists": None, "insecure": None, "unknown": str(e), "skipped_logs": logs}
    # logrotate's test: writable by others, or by a group that is not root's
    group_writable_by_non_root = info.group_writable and info.gid != 0
    return {"path": directory, "exists": info.exists, "mode": info.mode_octal or None,
            "mode_text": info.mode_text or None, "owner": info.owner, "group": info.group,
            "uid": info.uid, "gid": info.gid, "world_writable": info.world_writable,
            "group_writable_by_non_root": group_writable_by_non_root,
            "insecure": info.exists and (info.world_writable or group_writable_by_non_root),
            "skipped_logs": logs}


def _summary(verdict: str, configs: List[dict], directories: List[dict]) -> str:
    said = []
    for c in [c for c in configs if c["exists"]][:2]:
        at = "%s:%s" % (c["file"], c["line"]) if c["line"] is not None else c["file"]
        quoted = " `%s`" % c["line_text"] if c["line_text"] else ""
        said.append("%s %s%s (%s)" % (at, c["class"], quoted, package_words(c["package"], c["package_lookup"])))
    insecure = [d for d in directories if d["insecure"]]
    for d in insecure[:2]:
        how = "world-writable" if d["world_writable"] else "group-writable by %s" % (d["group"] or d["gid"])
        owner = "%s:%s" % (d["owner"] or d["uid"], d["group"] or d["gid"])
        said.append("%s is %s (%s %s): logrotate skips %d log(s) there"
                    % (d["path"], how, d["mode"], owner, len(d["skipped_logs"])))
    if len(insecure) > 2:
        said.append("%d more insecure directories" % (len(insecure) - 2))
    for d in [d for d in directories if d["insecure"] is None][:2]:
        said.append("whether %s is safe is unknown (%s)" % (d["path"], d["unknown"]))
    if not said:
        return ("logrotate: the files and directories it complained about are fixed or gone"
                if verdict == "no-longer-present" else "logrotate: its errors name no file or directory")
    return "logrotate: " + "; ".join(said)
