"""The recipe schema: one parsed TOML document -> a Recipe, or a RecipeError naming file and key.

A recipe is the only data unitaudit acts on as root, so the schema is closed: every key is known,
every action comes from the Action set with the undo it allows and exactly its parameters, every
template names only keys the planner knows how to fill, and a drop-in may set only restart-limit
keys.  A typo is a load error, never a step that silently does something else or nothing.

Steps are numbered from 1 in messages (`steps[2]` is the second [[steps]] table in the file).
"""
import posixpath
import re
from typing import Any, Dict, List, Mapping, NoReturn, Sequence, Tuple

from unitaudit.errors import RecipeError
from unitaudit.model import CauseKind, Finding, FindingKind
from unitaudit.model import Action, Applies, Check, Recipe, Step, Undo, Verify

KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# How each action's change can be undone.  One entry each today; a tuple so that an action
# that can be undone in more than one way needs no change of shape.
ALLOWED_UNDO: Dict[Action, Tuple[Undo, ...]] = {
    Action.DAEMON_RELOAD: (Undo.NONE,),
    Action.REENABLE: (Undo.RESTORE_FILES,),  # puts back the links exactly as they were
    Action.START: (Undo.NONE,),
    Action.STOP: (Undo.NONE,),
    Action.RESTART: (Undo.NONE,),
    Action.RESET_FAILED: (Undo.IMPOSSIBLE,),  # the NRestarts and result it clears are gone
    Action.WRITE_DROP_IN: (Undo.REMOVE_FILE,),
    Action.MASK: (Undo.UNMASK,),
    Action.APT_REINSTALL: (Undo.IMPOSSIBLE,),  # the old package files are not kept
    Action.DKMS_AUTOINSTALL: (Undo.IMPOSSIBLE,),
    Action.LOGROTATE_ADD_SU: (Undo.RESTORE_FILES,),
    Action.LOGROTATE_QUARANTINE: (Undo.MOVE_BACK,),
}

# The parameters of each action, all required: a step names exactly these, nothing else.
REQUIRED_PARAMS: Dict[Action, Tuple[str, ...]] = {
    Action.DAEMON_RELOAD: (),
    Action.REENABLE: ("unit",),
    Action.START: ("unit",),
    Action.STOP: ("unit",),
    Action.RESTART: ("unit",),
    Action.RESET_FAILED: ("unit",),
    Action.WRITE_DROP_IN: ("unit",),
    Action.MASK: ("unit",),
    Action.APT_REINSTALL: ("package",),
    Action.DKMS_AUTOINSTALL: ("module",),
    Action.LOGROTATE_ADD_SU: ("directory",),
    Action.LOGROTATE_QUARANTINE: ("config_file",),
}

# What a `{key}` in a parameter can name: the values the planner fills from the finding and its
# diagnosis, each checked against its grammar (unit, package, module name, path) before use.
TEMPLATE_KEYS = ("unit", "alias", "declared_by", "package", "module", "dkms_package", "config_file", "directory")

# The keys a write-drop-in may set, and the section of the unit file each belongs to.  Only
# restart limits: a recipe can slow a loop down or let it end in `failed`, never change what runs.
DROP_IN_SETTINGS: Dict[str, str] = {
    "StartLimitIntervalSec": "Unit",
    "StartLimitBurst": "Unit",
    "RestartSec": "Service",
    "RestartSteps": "Service",
    "RestartMaxDelaySec": "Service",
}
# RestartSteps= and RestartMaxDelaySec= arrived in systemd 254; older systemd logs "Unknown key"
# and ignores them, so the planner drops them there rather than write a file that lies.
SETTING_MIN_SYSTEMD: Dict[str, int] = {"RestartSteps": 254, "RestartMaxDelaySec": 254}
COUNT_SETTINGS = ("StartLimitBurst", "RestartSteps")  # counts: a unit suffix would be a mistake
SETTING_VALUE = re.compile(r"[0-9]+(ms|s|min|h)?\Z")  # \Z: "600\n" is not a value ($ allows a final newline)

# The verdicts each diagnosis gives (unitaudit/analysis/diagnosis/*.py), so that a misspelt verdict is a
# load error instead of a recipe that never applies.  logrotate's combined verdict
# `config-error+insecure-directories` is matched by its parts; diagnosis-failed has no fix.
VERDICTS: Dict[CauseKind, Tuple[str, ...]] = {
    CauseKind.MISSING_UNIT: ("alias-missing", "disabled-on-purpose", "no-unit-declares-it", "alias-present",
                             "alias-dangling"),
    CauseKind.EXECSTARTPRE_FAILED: ("module-missing", "module-missing-dkms-available", "module-present",
                                    "executable-missing", "command-failed", "not-failing-now"),
    CauseKind.LOGROTATE_CONFIG: ("config-error", "insecure-directories", "no-longer-present", "unexplained"),
}

_TOP_REQUIRED = ("id", "title", "fixes", "applies", "steps", "verify")
_TOP_OPTIONAL = ("priority", "fallback")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def parse_recipe(data: Mapping[str, Any], source: str) -> Recipe:
    """The recipe a TOML document describes; `source` is its file, named in every error."""
    r = _Reader(source)
    r.keys(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    recipe_id = r.kebab(data["id"], "id")
    stem = posixpath.basename(source.replace("\\", "/"))
    stem = stem[:-len(".toml")] if stem.endswith(".toml") else stem
    if recipe_id != stem:
        r.fail("id", '"%s" must equal the file name without .toml ("%s")' % (recipe_id, stem))
    priority = data.get("priority", 50)
    if not _is_int(priority) or not 0 <= priority <= 100:
        r.fail("priority", "must be an integer from 0 to 100 (lowest wins), not %r" % (priority,))
    return Recipe(
        id=recipe_id,
        title=r.text(data["title"], "title", one_line=True),
        fixes=r.text(data["fixes"], "fixes", one_line=False),
        applies=_applies(r, data["applies"]),
        steps=_steps(r, data["steps"], "steps"),
        verify=_verify(r, data["verify"]),
        fallback=_steps(r, data["fallback"], "fallback") if "fallback" in data else (),
        priority=priority,
        source=source,
    )


def applies_to(recipe: Recipe, finding: Finding) -> bool:
    """Whether the recipe is meant for this finding: its kind, and its cause and verdict when the
    recipe names them.  A recipe that names verdicts never applies to an undiagnosed finding."""
    applies = recipe.applies
    if finding.kind not in applies.findings:
        return False
    if applies.cause is not None and (finding.cause is None or finding.cause.kind is not applies.cause):
        return False
    if not applies.verdicts:
        return True
    if finding.diagnosis is None:
        return False
    # logrotate says every problem still present, joined by "+": each part needs its own fix
    return any(part in applies.verdicts for part in finding.diagnosis.verdict.split("+"))


def placeholders(template: str) -> List[str]:
    """The keys a template names, in order: `{declared_by}.d` -> ["declared_by"]."""
    return _PLACEHOLDER.findall(template)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML true is not 1


def _quote(value: object) -> str:
    return '"%s"' % value if isinstance(value, str) else repr(value)


class _Reader:
    """Reads one document; every complaint names the file and the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> NoReturn:
        raise RecipeError("%s: %s: %s" % (self.source, key or "(top level)", problem))

    def keys(self, table: object, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> None:
        if not isinstance(table, dict):
            self.fail(where, "must be a table")
        allowed = tuple(required) + tuple(optional)
        for key in table:
            if key not in allowed:
                self.fail(_join(where, key), "unknown key (allowed here: %s)" % ", ".join(allowed))
        for key in required:
            if key not in table:
                self.fail(_join(where, key), "required key is missing")

    def text(self, value: object, key: str, one_line: bool) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "must be a non-empty string")
        if one_line and ("\n" in value or "\r" in value):
            self.fail(key, "must be one line")
        return value.strip() if one_line else value

    def kebab(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not KEBAB.match(value):
            self.fail(key, "%s is not kebab-case (lower-case words joined by -)" % _quote(value))
        return value

    def choice(self, value: object, key: str, choices: Sequence[str], what: str) -> str:
        if not isinstance(value, str) or value not in choices:
            self.fail(key, "%s is not %s (one of %s)" % (_quote(value), what, ", ".join(choices)))
        return value

    def words(self, value: object, key: str, choices: Sequence[str], what: str) -> Tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(key, "must be a list of strings")
        out = tuple(self.choice(v, "%s[%d]" % (key, i), choices, what) for i, v in enumerate(value, 1))
        if len(set(out)) != len(out):
            self.fail(key, "lists a value twice")
        return out


def _join(where: str, key: str) -> str:
    return "%s.%s" % (where, key) if where else key


def _applies(r: _Reader, data: object) -> Applies:
    r.keys(data, "applies", ("findings",), ("cause", "verdicts"))
    assert isinstance(data, dict)
    findings = r.words(data["findings"], "applies.findings", [k.value for k in FindingKind], "a finding kind")
    if not findings:
        r.fail("applies.findings", "must name at least one finding kind")
    cause = None
    if data.get("cause") is not None:
        cause = CauseKind(r.choice(data["cause"], "applies.cause", [c.value for c in CauseKind], "a cause kind"))
    known = VERDICTS[cause] if cause else tuple(v for vs in VERDICTS.values() for v in vs)
    verdicts = data.get("verdicts", [])
    for i, v in enumerate(verdicts if isinstance(verdicts, list) else [], 1):
        r.kebab(v, "applies.verdicts[%d]" % i)
    verdicts = r.words(verdicts, "applies.verdicts", known,
                       "a verdict of %s" % (cause.value + " diagnosis" if cause else "any diagnosis"))
    return Applies(findings=tuple(FindingKind(k) for k in findings), cause=cause, verdicts=verdicts)


def _steps(r: _Reader, data: object, where: str) -> Tuple[Step, ...]:
    if not isinstance(data, list) or not data or not all(isinstance(s, dict) for s in data):
        r.fail(where, "must be one or more [[%s]] tables" % where)
    return tuple(_step(r, s, "%s[%d]" % (where, i)) for i, s in enumerate(data, 1))


def _step(r: _Reader, data: Dict[str, Any], where: str) -> Step:
    if "action" not in data:
        r.fail(where + ".action", "required key is missing")
    action = Action(r.choice(data["action"], where + ".action", [a.value for a in Action], "an action"))
    params = REQUIRED_PARAMS[action]
    settings_key = ("settings",) if action is Action.WRITE_DROP_IN else ()
    r.keys(data, where, ("action", "undo") + params + settings_key)
    allowed_undo = [u.value for u in ALLOWED_UNDO[action]]
    undo = r.choice(data["undo"], where + ".undo", [u.value for u in Undo], "an undo")
    if undo not in allowed_undo:
        r.fail(where + ".undo", '"%s" is not allowed for %s (allowed: %s)' % (undo, action.value,
                                                                              ", ".join(allowed_undo)))
    return Step(
        action=action,
        params=tuple((name, _template(r, data[name], "%s.%s" % (where, name))) for name in params),
        undo=Undo(undo),
        settings=_settings(r, data["settings"], where + ".settings") if settings_key else (),
    )


def _template(r: _Reader, value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        r.fail(key, "must be a non-empty string (literal text and {key} placeholders)")
    if any(ord(c) < 0x20 or c == "\x7f" for c in value):
        r.fail(key, "must not contain control characters")
    for name in placeholders(value):
        if name not in TEMPLATE_KEYS:
            r.fail(key, "{%s} is not a template key (one of %s)" % (name, ", ".join(TEMPLATE_KEYS)))
    if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
        r.fail(key, "%s has a brace that is not part of a {key} placeholder" % _quote(value))
    return value


def _settings(r: _Reader, data: object, where: str) -> Tuple[Tuple[str, str], ...]:
    if not isinstance(data, dict) or not data:
        r.fail(where, "must be a table with at least one of %s" % ", ".join(DROP_IN_SETTINGS))
    out = []
    for name, value in data.items():
        key = "%s.%s" % (where, name)
        if name not in DROP_IN_SETTINGS:
            r.fail(key, "not a setting a drop-in may change (one of %s)" % ", ".join(DROP_IN_SETTINGS))
        text = str(value) if _is_int(value) else value
        if not isinstance(text, str) or not SETTING_VALUE.match(text):
            r.fail(key, "%s is not a number with an optional unit (ms, s, min, h)" % _quote(value))
        if name in COUNT_SETTINGS and not text.isdigit():
            r.fail(key, "%s is a count: a plain number, not %s" % (name, _quote(value)))
        out.append((name, text))
    return tuple(out)


def _verify(r: _Reader, data: object) -> Verify:
    r.keys(data, "verify", ("check",), ("seconds",))
    assert isinstance(data, dict)
    check = r.choice(data["check"], "verify.check", [c.value for c in Check], "a check")
    seconds = data.get("seconds", Verify.seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1 <= seconds <= 600:
        r.fail("verify.seconds", "must be a number of seconds from 1 to 600, not %r" % (seconds,))
    return Verify(check=Check(check), seconds=float(seconds))
