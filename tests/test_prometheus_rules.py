"""The Prometheus rules shipped for the fleet (packaging/prometheus/unitaudit-rules.yml), tested
like code: `promtool check rules`, `promtool test rules` on tests/prometheus/*.test.yml (a firing
and a quiet case for every alert), and the rules held to the textfile unitaudit really writes: every
metric and label they read is in the seed's textfile, and the test's input series for the seed's
machine are that textfile's samples.  promtool is Debian's `prometheus` package (make test
installs it)."""
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from prometheus_client import parser

from builders import ROOT, example

RULES = ROOT / "packaging" / "prometheus" / "unitaudit-rules.yml"
TESTS = sorted((ROOT / "tests" / "prometheus").glob("*.test.yml"))
BUNDLE = str(example("bundle-seed", "unitaudit-bundle-seed.tar.xz"))


def _promtool(*args, cwd=None):
    assert shutil.which("promtool"), "promtool is missing (Debian's prometheus package; make test installs it)"
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def seed_textfile(tmp_path_factory):
    """The textfile of the seed's lab, as unitaudit writes it: {(name, labels): value}."""
    path = tmp_path_factory.mktemp("prom") / "unitaudit.prom"
    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--bundle", BUNDLE, "--prometheus", str(path)],
                       cwd=str(ROOT), capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in parser.text_string_to_metric_families(path.read_text()) for s in family.samples}


def _rules():
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_the_rules_are_valid():
    p = _promtool("check", "rules", str(RULES))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: %d rules found" % len(_rules()) in p.stdout


def test_the_rules_pass_their_tests():
    p = _promtool("test", "rules", *[str(t) for t in TESTS], cwd=str(ROOT / "tests" / "prometheus"))
    assert p.returncode == 0, p.stdout + p.stderr


def test_every_alert_has_a_firing_and_a_quiet_case():
    cases = {}
    for t in TESTS:
        for group in yaml.safe_load(t.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], set()).add(bool(case["exp_alerts"]))
    alerts = {r["alert"] for r in _rules() if "alert" in r}
    assert {a: cases.get(a) for a in alerts} == {a: {True, False} for a in alerts}


def test_the_tests_bite(tmp_path):
    """A rule changed (the churn threshold ten times higher) fails its tests."""
    changed = tmp_path / "packaging" / "prometheus"
    changed.mkdir(parents=True)
    (changed / RULES.name).write_text(RULES.read_text().replace("* 3600 > 600", "* 3600 > 6000"))
    tests = tmp_path / "tests" / "prometheus"
    tests.mkdir(parents=True)
    for t in TESTS:
        (tests / t.name).write_text(t.read_text())
    p = _promtool("test", "rules", *[t.name for t in TESTS], cwd=str(tests))
    assert p.returncode != 0 and "UnitauditLoopChurn" in p.stdout + p.stderr


def _round_textfile_names() -> set:
    """The names an hourly round adds to a scan's textfile: what it says of fixes, here with one
    failed fix of the seed's restart loop."""
    from unitaudit.hourly.outputs import run_summary
    from unitaudit.model import Thresholds
    from unitaudit.report import prometheus
    from unitaudit.services.scan import scan
    from unitaudit.sources.journal import JournalSource

    result = scan([JournalSource(directory=str(example("seed-loops", "journal")))], Thresholds(), now=2e9)
    run = run_summary(result, None, 1.0, None, fix_failures=((result.findings[0].id, 1.0, "fix"),))
    return {s.name for family in parser.text_string_to_metric_families(prometheus.render(result, run))
            for s in family.samples}


def test_the_rules_read_what_the_textfile_holds(seed_textfile):
    names = {name for name, _labels in seed_textfile} | _round_textfile_names()
    used = set()
    for r in _rules():
        used |= set(re.findall(r"\bunitaudit_[a-z_]+\b", r["expr"]))
    assert used and used <= names, used - names
    loop_labels = {k for name, labels in seed_textfile if name == "unitaudit_loop_active" for k, _v in labels}
    for r in _rules():
        for text in r.get("annotations", {}).values():
            assert set(re.findall(r"\$labels\.([a-z_]+)", text)) <= loop_labels | {"instance", "file", "origin"}, text


def test_the_seed_series_of_the_tests_are_the_real_textfile(seed_textfile):
    """pc1's input series are the seed's textfile, name, labels and value, with the scrape's labels."""
    series = yaml.safe_load(TESTS[0].read_text())["tests"][0]["input_series"]
    pc1 = {}
    for s in series:
        m = re.fullmatch(r"(\w+)\{(.*)\}", s["series"])
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if labels.pop("instance") != "pc1:9100" or m.group(1).startswith("node_"):
            continue
        labels.pop("job")
        pc1[(m.group(1), tuple(sorted(labels.items())))] = float(s["values"].split("x")[0].split("+")[0])
    assert pc1
    real = {key: value for key, value in seed_textfile.items() if key in pc1}
    assert real == pc1
