"""The planner and the actions, on the seed's loops recorded from a real systemd (examples/seed-loops)
with the diagnosis the lab gives them (tests/lab/test_live_scan.py proves those verdicts live).

Pure logic: findings + diagnosis + recipes + protected units -> plan; each action -> the exact
operations, with the diff of every file it would write, read from a root tree in tmp_path."""
import os
from dataclasses import replace

import pytest

from builders import ROOT, example, findings, text_evidence
from unitaudit.model import CauseKind, Diagnosis, FixStatus, OperationKind
from unitaudit.remediation.actions import add_su, drop_in_text, expand
from unitaudit.remediation.executor import RecordingBackend, apply, dry_run
from unitaudit.remediation.planner import make_plan as plan
from unitaudit.remediation.protected import load_protected
from unitaudit.remediation.recipes import load_recipes
from unitaudit.sources.probe import SystemProbe

RECIPES = load_recipes([str(ROOT / "remediations")], euid=os.geteuid())
PROTECTED = load_protected()
MIRROR = example("seed-loops", "units", "etc", "logrotate.d", "mirror-printer").read_text()
CLINK = example("seed-loops", "units", "etc", "logrotate.d", "clink-agent").read_text()

# The facts the diagnosis gave the seed's loops in the lab (keys as unitaudit/analysis/diagnosis writes them).
ALIAS_MISSING = Diagnosis(CauseKind.MISSING_UNIT, "alias-missing", "avahi-daemon.service ... is missing", (
    ("unit", "dbus-org.freedesktop.Avahi.service"), ("declared_by", "avahi-daemon.service"),
    ("declared_by_path", "/lib/systemd/system/avahi-daemon.service"), ("package", "avahi-daemon")))
MODULE_MISSING = Diagnosis(CauseKind.EXECSTARTPRE_FAILED, "module-missing", "module vfs_monitor does not exist ...", (
    ("unit", "deepin-anything-monitor.service"), ("module", "vfs_monitor"), ("dkms_providers", [])))
LOGROTATE = Diagnosis(CauseKind.LOGROTATE_CONFIG, "config-error+insecure-directories", "clink-agent:8 ...", (
    ("configs", [{"file": "/etc/logrotate.d/clink-agent", "exists": True, "line": 8, "class": "unexpected-text-after-brace"}]),
    ("directories", [{"path": "/var/log/mirror/printer", "exists": True, "insecure": True, "mode": "0777",
                      "owner": "root", "group": "root"}])))
DIAGNOSES = {"activation-loop": ALIAS_MISSING, "restart-loop": MODULE_MISSING, "repeated-failure": LOGROTATE}


@pytest.fixture(scope="module")
def seed(seed):
    """The recorded loops' findings (conftest.py's scan), by kind, with the lab's diagnoses."""
    return {f.kind.value: replace(f, diagnosis=DIAGNOSES[f.kind.value]) for f in seed.findings}


@pytest.fixture
def tree(tmp_path):
    """The files the seed's fixes touch, as the lab had them."""
    (tmp_path / "etc/logrotate.d").mkdir(parents=True)
    (tmp_path / "etc/logrotate.conf").write_text("weekly\ninclude /etc/logrotate.d\n")
    (tmp_path / "etc/logrotate.d/clink-agent").write_text(CLINK)
    (tmp_path / "etc/logrotate.d/mirror-printer").write_text(MIRROR)
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "etc/group").write_text("root:x:0:\n")
    d = tmp_path / "var/log/mirror/printer"
    d.mkdir(parents=True)
    os.chmod(d, 0o777)
    return SystemProbe(str(tmp_path))


def steps_of(p, finding):
    return [(s.action.value, dict(s.values), s.fallback) for s in p.steps if s.finding_id == finding.id]


def test_missing_alias_is_reenabled_then_restarted_with_reinstall_as_fallback(seed):
    f = seed["activation-loop"]
    p = plan([f], RECIPES, PROTECTED)
    assert steps_of(p, f) == [("reenable", {"unit": "avahi-daemon.service"}, False),
                              ("restart", {"unit": "avahi-daemon.service"}, False),
                              ("apt-reinstall", {"package": "avahi-daemon"}, True)]
    assert [v.check.value for fid, v in p.verifications] == ["activation-succeeds"]


def test_disabled_on_purpose_gets_no_action(seed):
    f = replace(seed["activation-loop"], diagnosis=replace(ALIAS_MISSING, verdict="disabled-on-purpose"))
    p = plan([f], RECIPES, PROTECTED)
    assert not p.steps
    assert "no recipe applies" in p.refusals[0].reason


def test_modprobe_loop_without_dkms_gets_a_rate_limit_drop_in(seed, tree):
    f = seed["restart-loop"]
    p = expand(plan([f], RECIPES, PROTECTED), tree)
    assert [s[0] for s in steps_of(p, f)] == ["write-drop-in"]
    (write, reload) = p.steps[0].operations
    assert write.path == "/etc/systemd/system/deepin-anything-monitor.service.d/50-unitaudit.conf"
    assert write.before is None
    assert "StartLimitBurst=5" in write.content
    assert "[Unit]" in write.content
    assert reload.argv == ("org.freedesktop.systemd1.Manager.Reload",)


def test_modprobe_loop_with_a_dkms_source_rebuilds_the_module(seed):
    dkms = replace(MODULE_MISSING, verdict="module-missing-dkms-available",
                   facts=MODULE_MISSING.facts + (("dkms_providers", [{"package": "deepin-anything-dkms"}]),))
    f = replace(seed["restart-loop"], diagnosis=dkms)
    assert [s[0] for s in steps_of(plan([f], RECIPES, PROTECTED), f)] == ["dkms-autoinstall", "restart"]


def test_logrotate_gets_both_fixes_with_the_exact_diff(seed, tree):
    f = seed["repeated-failure"]
    p = expand(plan([f], RECIPES, PROTECTED), tree)
    assert sorted(s[0] for s in steps_of(p, f)) == ["logrotate-add-su", "logrotate-quarantine"]
    ops = {op.kind: op for s in p.steps for op in s.operations}
    assert ops[OperationKind.MOVE].path == "/etc/logrotate.d/clink-agent"
    assert ops[OperationKind.MOVE].destination == "/etc/logrotate.d/clink-agent.disabled"
    assert ops[OperationKind.CHECK].argv == ("logrotate", "-d", "/etc/logrotate.d/clink-agent")
    write = ops[OperationKind.WRITE]
    assert write.path == "/etc/logrotate.d/mirror-printer"
    assert write.before == MIRROR
    assert "    su root root\n" in write.content


def test_untrusted_evidence_gets_a_recommendation_never_an_action():
    text = {f.kind.value: f for f in findings(text_evidence(example("seed-loops", "journal.short.txt")))}
    f = replace(text["activation-loop"], diagnosis=ALIAS_MISSING)
    assert not f.trusted
    p = plan([f], RECIPES, PROTECTED)
    assert not p.steps
    assert "untrusted" in p.refusals[0].reason
    assert "reenable avahi-daemon.service" in p.refusals[0].recommendation


def test_a_protected_unit_is_refused_with_its_reason_unless_named(seed):
    f = replace(seed["restart-loop"], unit="NetworkManager.service")
    p = plan([f], RECIPES, PROTECTED)
    assert not p.steps
    assert "protected unit NetworkManager.service: networking" in p.refusals[0].reason
    named = plan([f], RECIPES, PROTECTED, named_units=["NetworkManager.service"])
    assert [s.action.value for s in named.steps] == ["write-drop-in"]


def test_filters_by_finding_and_recipe(seed):
    all_three = list(seed.values())
    only = plan(all_three, RECIPES, PROTECTED, finding_ids=[seed["restart-loop"].id])
    assert {s.finding_id for s in only.steps} == {seed["restart-loop"].id}
    by_recipe = plan(all_three, RECIPES, PROTECTED, recipe_ids=["restore-dbus-alias"])
    assert by_recipe.recipes_used == ("restore-dbus-alias",)


def test_a_value_from_log_text_that_breaks_its_grammar_is_refused(seed):
    bad = replace(ALIAS_MISSING, facts=(("declared_by", "avahi-daemon.service; rm -rf /"), ("package", "avahi-daemon")))
    f = replace(seed["activation-loop"], diagnosis=bad)
    p = plan([f], RECIPES, PROTECTED)
    assert not p.steps
    assert "not a valid" in p.refusals[0].reason


def test_dry_run_records_the_same_operations_and_changes_nothing(seed, tree):
    p = expand(plan(list(seed.values()), RECIPES, PROTECTED), tree)
    before = {path: (tree.read_text(path), tree.stat(path).mode)
              for path in ("/etc/logrotate.d/clink-agent", "/etc/logrotate.d/mirror-printer")}
    backend = dry_run(p)
    assert backend.performed == [op for s in p.steps if not s.fallback for op in s.operations]
    assert before == {path: (tree.read_text(path), tree.stat(path).mode) for path in before}


def test_a_real_run_goes_through_the_same_loop_and_falls_back_when_unverified(seed, tree):
    """`apply` hands its steps to the backend through the loop the dry run uses: verified at
    once, it performs exactly what the dry run recorded; a failed verification adds the fallback."""
    p = expand(plan(list(seed.values()), RECIPES, PROTECTED), tree)
    fixed = RecordingBackend()
    outcomes = apply(p, list(seed.values()), fixed, lambda v, f, t: (True, "stopped"))
    assert fixed.performed == dry_run(p).performed
    assert {o.status for o in outcomes} == {FixStatus.FIXED}
    assert not any(o.fallback_used for o in outcomes)
    avahi = seed["activation-loop"]
    only = expand(plan([avahi], RECIPES, PROTECTED), tree)
    unverified = RecordingBackend()
    (outcome,) = apply(only, [avahi], unverified, lambda v, f, t: (False, "still failing"))
    fallback = [op for s in only.steps if s.fallback for op in s.operations]
    assert fallback
    assert unverified.performed[-len(fallback):] == fallback
    assert (outcome.status, outcome.fallback_used, outcome.detail) == (FixStatus.NOT_FIXED, True, "still failing")


def test_add_su_only_touches_the_stanza_of_that_directory():
    assert add_su(MIRROR, "/var/log/elsewhere", "root", "root") is None
    done = add_su(MIRROR, "/var/log/mirror/printer", "root", "adm")
    assert done.count("su root adm") == 1
    assert (done.replace(
        "    # unitaudit fix: logrotate skipped these (insecure parent directory)\n    su root adm\n", "") == MIRROR)
    assert add_su(done, "/var/log/mirror/printer", "root", "adm") == done  # a stanza with su is left alone


def test_restart_steps_only_where_systemd_has_them():
    settings = (("RestartSec", "30"), ("RestartSteps", "5"), ("StartLimitBurst", "5"))
    assert "RestartSteps" not in drop_in_text("a.service", settings, 252)
    assert "RestartSteps=5" in drop_in_text("a.service", settings, 254)
