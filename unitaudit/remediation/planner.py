"""The planner: findings (with their diagnosis) + recipes + protected units -> a Plan.  Pure.

For each finding it picks the recipes that apply (choose), fills their
templates from the finding and its diagnosis, checks every value against its grammar, and
either plans the steps or says why not: untrusted evidence (text logs, forgeable journal fields)
gets a recommendation, never an action; a protected unit is refused with its reason unless the
admin named it with --unit; a missing value (no package known) refuses that recipe.
"""
import fnmatch
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from unitaudit.model import Action, CauseKind, Finding, Plan, PlannedStep, Recipe, Refusal, Step, Verify
from unitaudit.remediation.schema import applies_to, placeholders
from unitaudit.util.names import is_module_name, is_package_name, is_safe_path, is_unit_name

# Which template keys name a unit (checked against the protected list) and the grammar of each.
UNIT_KEYS = ("unit", "alias", "declared_by")
_GRAMMAR = {
    "unit": is_unit_name, "alias": is_unit_name, "declared_by": is_unit_name,
    "package": is_package_name, "dkms_package": is_package_name, "module": is_module_name,
    "config_file": lambda p: is_safe_path(p) and (p == "/etc/logrotate.conf" or p.startswith("/etc/logrotate.d/")),
    "directory": is_safe_path,
}


class MissingValue(Exception):
    """A template names a fact this finding does not have."""


def template_values(finding: Finding) -> Dict[str, List[str]]:
    """What a recipe's `{key}`s can be filled with: every candidate value per key.  Lists: a
    logrotate finding can have several broken files and several insecure directories."""
    facts = dict(finding.diagnosis.facts) if finding.diagnosis else {}
    cause = dict(finding.cause.facts) if finding.cause else {}
    out: Dict[str, List[str]] = {"unit": [finding.unit]}

    def put(key: str, value: object) -> None:
        if isinstance(value, str) and value:
            out.setdefault(key, [])
            if value not in out[key]:
                out[key].append(value)

    put("alias", facts.get("unit") if finding.cause and finding.cause.kind is CauseKind.MISSING_UNIT else None)
    put("declared_by", facts.get("declared_by"))
    put("package", facts.get("package"))
    put("module", facts.get("module"))
    for provider in facts.get("dkms_providers") or ():
        put("dkms_package", provider.get("package"))
    for config in facts.get("configs") or ():
        if config.get("exists", True) and config.get("line") is not None:  # a syntax error, not a skipped log
            put("config_file", config.get("file"))
    for directory in facts.get("directories") or ():
        if directory.get("insecure", True) and directory.get("exists", True):
            put("directory", directory.get("path"))
    if "config_file" not in out:
        for error in cause.get("errors") or ():
            if error.get("line") is not None:
                put("config_file", error.get("file"))
    return out


def fill(template: str, values: Mapping[str, str]) -> str:
    try:
        return template.format_map(values)
    except KeyError as e:
        raise MissingValue(e.args[0]) from None


def _expansions(step: Step, candidates: Mapping[str, List[str]]) -> List[Dict[str, str]]:
    """One value set per candidate of the list-valued key the step uses (one `su` per directory)."""
    used = {k for _n, t in step.params for k in placeholders(t)}
    for key in used:
        if key not in candidates:
            raise MissingValue(key)
    many = [k for k in used if len(candidates[k]) > 1]
    first = {k: v[0] for k, v in candidates.items() if v}
    if not many:
        return [first]
    key = sorted(many)[0]
    return [dict(first, **{key: value}) for value in candidates[key]]


def plan_steps(recipe: Recipe, finding: Finding, steps: Sequence[Step], fallback: bool) -> List[PlannedStep]:
    candidates = template_values(finding)
    out = []
    for step in steps:
        for values in _expansions(step, candidates):
            filled = tuple((name, fill(t, values)) for name, t in step.params)
            for name, value in filled:
                check = _GRAMMAR.get(name)  # is_safe_path also refuses un-normalized paths
                if check is None or not check(value):
                    raise MissingValue("%s=%r is not a valid %s" % (name, value, name.replace("_", " ")))
            out.append(PlannedStep(finding_id=finding.id, recipe_id=recipe.id, action=step.action, values=filled,
                                   undo=step.undo, operations=(), fallback=fallback, settings=step.settings))
    return out


def protected_reason(unit: str, protected: Mapping[str, str]) -> Optional[str]:
    for pattern, reason in protected.items():
        if fnmatch.fnmatchcase(unit, pattern):
            return reason
    return None


def make_plan(findings: Iterable[Finding], recipes: Sequence[Recipe], protected: Mapping[str, str],
              named_units: Sequence[str] = (), finding_ids: Sequence[str] = (), recipe_ids: Sequence[str] = (),
              machine_id: Optional[str] = None) -> Plan:
    """`machine_id`: the machine the plan acts on; a finding whose evidence journald stamped with
    another machine's id (a journal-remote directory, a copied journal) is refused, its steps given
    as a recommendation for that machine.  None when it cannot be read (a bundle's plan)."""
    steps: List[PlannedStep] = []
    refusals: List[Refusal] = []
    verifications: List[Tuple[str, Verify]] = []
    used: List[str] = []
    candidates = [r for r in recipes if not recipe_ids or r.id in recipe_ids]
    for f in findings:
        if finding_ids and f.id not in finding_ids:
            continue
        if named_units and f.unit not in named_units and not _declared_by_named(f, named_units):
            continue
        chosen = choose(candidates, f)
        if machine_id and f.machine_id and f.machine_id != machine_id:  # before any other reason
            refusals.append(Refusal(f.id, f.unit, "the evidence is from another machine (%s, machine id %s): "
                                    "run unitaudit fix there" % (f.host or "unnamed", f.machine_id),
                                    recommendation=_recommend_if_filled(chosen, f)))
            continue
        if not chosen:
            refusals.append(Refusal(f.id, f.unit, "no recipe applies to this %s%s" % (
                f.kind.value, " (%s)" % f.diagnosis.verdict if f.diagnosis else "")))
            continue
        try:
            planned = [s for r in chosen for s in plan_steps(r, f, r.steps, False) + plan_steps_or_none(r, f)]
        except MissingValue as e:
            refusals.append(Refusal(f.id, f.unit, "recipe %s cannot be filled in: %s unknown" % (
                "/".join(r.id for r in chosen), e)))
            continue
        if not f.trusted:
            refusals.append(Refusal(f.id, f.unit, "evidence is untrusted (a text log or journal fields anyone "
                                    "can write): a recommendation, not an action",
                                    recommendation=_recommend(chosen, planned)))
            continue
        blocked = _protected(planned, protected, named_units)
        if blocked:
            refusals.append(Refusal(f.id, f.unit, "protected unit %s: %s (name it with --unit to allow)" % blocked,
                                    recommendation=_recommend(chosen, planned)))
            continue
        steps.extend(planned)
        verifications.extend((f.id, r.verify) for r in chosen)
        used.extend(r.id for r in chosen if r.id not in used)
    return Plan(steps=tuple(steps), refusals=tuple(refusals), verifications=tuple(verifications),
                recipes_used=tuple(used))


def choose(recipes: Sequence[Recipe], finding: Finding) -> List[Recipe]:
    """Every recipe made for this finding's diagnosis (a logrotate run can have a syntax error
    and an insecure directory: both get fixed); a generic recipe (no verdicts) only when none is."""
    matching = [r for r in recipes if applies_to(r, finding)]
    specific = [r for r in matching if r.applies.verdicts]
    return specific or matching[:1]


def plan_steps_or_none(recipe: Recipe, finding: Finding) -> List[PlannedStep]:
    """The fallback, when it can be filled in (a package may be unknown: then no fallback)."""
    try:
        return plan_steps(recipe, finding, recipe.fallback, True)
    except MissingValue:
        return []


def _declared_by_named(f: Finding, named: Sequence[str]) -> bool:
    return any(v in named for v in template_values(f).get("declared_by", []))


def _protected(planned: Sequence[PlannedStep], protected: Mapping[str, str], named: Sequence[str]):
    for s in planned:
        for key, value in s.values:
            if key in UNIT_KEYS and value not in named:
                reason = protected_reason(value, protected)
                if reason:
                    return value, reason
    return None


def _recommend_if_filled(recipes: Sequence[Recipe], finding: Finding) -> str:
    """What the recipes would do, when they can be filled in from the finding alone."""
    try:
        planned = [s for r in recipes for s in plan_steps(r, finding, r.steps, False)]
    except MissingValue:
        return ""
    return _recommend(recipes, planned) if planned else ""


def _recommend(recipes: Sequence[Recipe], planned: Sequence[PlannedStep]) -> str:
    words = []
    for s in planned:
        if s.action is Action.DAEMON_RELOAD:
            words.append("systemctl daemon-reload")
        else:
            words.append("%s %s" % (s.action.value, " ".join(v for _k, v in s.values)))
    return "%s: %s" % (" + ".join(r.title for r in recipes), "; ".join(words))
