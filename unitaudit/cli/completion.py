"""What a TAB offers for an option's value, where the value is not a file name: threshold names
with their defaults, the usual --since words, recipe ids and unit names.  The shells' scripts
(tools/make_completion.py) ask the program at each TAB; these answer through typer's
`autocompletion`.  Each is cheap and never fails: a TAB must not print a traceback or wait."""
import subprocess
from typing import List

WHEN_WORDS = ("-1h", "-24h", "-7d", "today", "yesterday")
UNIT_TYPES = "service,socket,timer"  # the units that loop, and those that start them


def thresholds(incomplete: str) -> List[str]:
    """`restart_burst=5`: a name with its default value, a whole valid word."""
    import dataclasses  # a TAB only
    from unitaudit.model import Thresholds  # a TAB only
    defaults = Thresholds()
    return [w for w in ("%s=%s" % (f.name, _plain(getattr(defaults, f.name))) for f in dataclasses.fields(Thresholds))
            if w.startswith(incomplete)]


def _plain(value) -> str:
    return "%g" % value if isinstance(value, float) else str(value)


def when(incomplete: str) -> List[str]:
    return [w for w in WHEN_WORDS if w.startswith(incomplete)]


def recipes(incomplete: str) -> List[str]:
    """The ids of the recipes found; none when they cannot be read (`unitaudit recipes` says why)."""
    from unitaudit.errors import UnitauditError  # a TAB only
    from unitaudit.remediation.recipes import load_recipes  # a TAB only
    try:
        return [r.id for r in load_recipes() if r.id.startswith(incomplete)]
    except (UnitauditError, OSError):
        return []


def units(incomplete: str) -> List[str]:
    """Unit names systemd knows, loaded or not, of the types that loop: two systemctl calls (no
    shell), at most 2 s each.  Names with \\x escapes (template instances) are left out: a shell
    cannot complete them unquoted."""
    seen: List[str] = []
    for listing in (["list-units", "--all"], ["list-unit-files"]):
        try:
            out = subprocess.run(["systemctl"] + listing + ["--plain", "--no-legend", "--no-pager", "--type=" + UNIT_TYPES],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 universal_newlines=True, timeout=2).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            name = line.split(None, 1)[0] if line.strip() else ""
            if name and "\\" not in name and name.startswith(incomplete) and name not in seen:
                seen.append(name)
    return seen
