"""The Grafana dashboard shipped for the fleet (packaging/prometheus/unitaudit-dashboard.json),
checked offline: a dashboard Grafana imports (the classic JSON model: the fields it needs, panels
that fit its 24-column grid without overlapping, a Prometheus data source chosen at import, a
machine variable); every PromQL expression parses (`promtool check rules` on a rules file that
records each one, its template variables substituted); every metric it reads is one unitaudit
writes (the seed's textfile, as test_prometheus_rules makes it), a recording rule of
packaging/prometheus/unitaudit-rules.yml or node_exporter's textfile collector's own; every
per-machine series is filtered by the machine variable.  tests/lab/test_prometheus_live.py runs
every expression against a live Prometheus scraping the seed's loops."""
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from prometheus_client import parser

from builders import ROOT, example

DASHBOARD = ROOT / "packaging" / "prometheus" / "unitaudit-dashboard.json"
RULES = ROOT / "packaging" / "prometheus" / "unitaudit-rules.yml"
BUNDLE = str(example("bundle-seed", "unitaudit-bundle-seed.tar.xz"))
# node_exporter's textfile collector's own series (the staleness panel reads the file's mtime)
TEXTFILE_COLLECTOR = {"node_textfile_mtime_seconds", "node_textfile_scrape_error"}
PANEL_TYPES = {"row", "stat", "bargauge", "timeseries", "table", "gauge"}
GRID_COLUMNS = 24
# PromQL words that look like names: keywords, operators, and what follows `by`/`on` & co.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
            "unless", "inf", "nan", "atan2"}


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(doc: dict) -> list:
    """Every panel with queries (rows hold none)."""
    return [p for p in doc["panels"] if p["type"] != "row"]


def targets(doc: dict) -> list:
    """(panel, target) for every query of the dashboard."""
    return [(p, t) for p in panels(doc) for t in p["targets"]]


def substituted(expr: str, instance: str = ".*") -> str:
    """The expression as Grafana sends it: $instance replaced by the variable's value (".*", its
    allValue, for All).  Any other $variable left is a mistake the parse will catch."""
    return expr.replace("$instance", instance)


def metric_names(expr: str) -> set:
    """The metric (and recording rule) names an expression reads: quoted strings, label matchers,
    ranges and the label lists of by/without/on/ignoring/group_* removed, what is left that is a
    name and not a function call or a keyword."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        if not m.group(2) and m.group(1) not in KEYWORDS:
            names.add(m.group(1))
    return names


def selectors(expr: str) -> list:
    """(name, matchers) of every series selector: `name{...}` or a bare name."""
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    out = []
    for m in re.finditer(r"(?<![\w:.\"])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?", text):
        if not m.group(3) and m.group(1) not in KEYWORDS:
            out.append((m.group(1), m.group(2) or ""))
    return out


def _promtool(*args):
    assert shutil.which("promtool"), "promtool is missing (Debian's prometheus package; make test installs it)"
    return subprocess.run(["promtool", *args], capture_output=True, text=True)


def _check_as_rules(exprs: list, tmp_path) -> subprocess.CompletedProcess:
    """promtool check rules on a file recording each expression (a rule's expr is parsed as PromQL)."""
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": "dashboard:expr_%d" % n, "expr": e}
                                                         for n, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump(rules))
    return _promtool("check", "rules", str(path))


@pytest.fixture(scope="module")
def written_metrics(tmp_path_factory) -> set:
    """The metric names unitaudit writes for the seed's machine (its bundle scanned to a textfile)."""
    path = tmp_path_factory.mktemp("prom") / "unitaudit.prom"
    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--bundle", BUNDLE, "--prometheus", str(path)],
                       cwd=str(ROOT), capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    from test_prometheus_rules import _round_textfile_names  # what only the hourly run adds (fixes)
    return {f.name for f in parser.text_string_to_metric_families(path.read_text())
            for _s in f.samples} | _round_textfile_names()


def recording_rules() -> set:
    return {r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r}


# -- Grafana's format ------------------------------------------------------------------------------


def test_the_dashboard_is_grafana_json_with_what_an_import_needs():
    doc = load()
    assert doc["id"] is None  # an id is the saving Grafana's own: import gives one
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", doc["uid"]), doc["uid"]
    assert doc["title"] and isinstance(doc["schemaVersion"], int) and doc["schemaVersion"] >= 36
    assert doc["time"]["from"].startswith("now-") and doc["time"]["to"] == "now"
    assert isinstance(doc["tags"], list) and "unitaudit" in doc["tags"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), ids
    for p in doc["panels"]:
        assert p["type"] in PANEL_TYPES, p
        assert p["title"], p
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "xywh"), p
        assert g["x"] >= 0 and g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= GRID_COLUMNS, p
    for p in panels(doc):
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        ref_ids = [t["refId"] for t in p["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"] and t["expr"].strip(), (p["title"], t)


def test_no_two_panels_overlap():
    cells = {}
    for p in load()["panels"]:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, (p["title"], cells.get((x, y)))
                cells[(x, y)] = p["title"]


def test_the_variables_a_prometheus_and_its_machines():
    variables = {v["name"]: v for v in load()["templating"]["list"]}
    assert set(variables) == {"datasource", "instance"}
    ds = variables["datasource"]
    assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
    machine = variables["instance"]
    assert machine["type"] == "query" and machine["datasource"]["uid"] == "${datasource}"
    assert machine["includeAll"] and machine["multi"] and machine["allValue"] == ".*"
    m = re.fullmatch(r"label_values\((\w+), instance\)", machine["query"]["query"])
    assert m and machine["definition"] == machine["query"]["query"], machine
    assert m.group(1) == "unitaudit_last_run_success"  # every run of every machine writes it


def test_the_panels_the_issue_asks_for():
    """Fleet view (machines per kind of loop, the top units, churn per machine), kernel memory
    (slab, kernfs_node_cache), the runs (success, staleness) and a per-machine loop table."""
    exprs = {t["expr"] for _p, t in targets(load())}
    names = set().union(*(metric_names(e) for e in exprs))
    assert {"kind:unitaudit_machines_with_loop:count", "unit_kind:unitaudit_machines_with_loop:count",
            "instance:unitaudit_loop_cgroups_created:rate1h", "unitaudit_slab_unreclaimable_bytes",
            "unitaudit_kernfs_node_cache_objects", "unitaudit_last_run_success",
            "node_textfile_mtime_seconds", "unitaudit_loop_active"} <= names, names
    assert any(p["type"] == "table" and any("unitaudit_loop_active" in t["expr"] for t in p["targets"])
               for p in panels(load()))


# -- the expressions --------------------------------------------------------------------------------


def test_every_expression_parses(tmp_path):
    exprs = [substituted(t["expr"]) for _p, t in targets(load())]
    assert not [e for e in exprs if "$" in e], "a template variable the test does not substitute"
    p = _check_as_rules(exprs, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: %d rules found" % len(exprs) in p.stdout, p.stdout


def test_the_parse_check_bites(tmp_path):
    """An expression broken as a typo would break it (a parenthesis lost) fails the same check."""
    exprs = [substituted(t["expr"]) for _p, t in targets(load())]
    broken = next(e for e in exprs if e.count(")"))
    p = _check_as_rules([e for e in exprs if e is not broken] + [broken.replace(")", "", 1)], tmp_path)
    assert p.returncode != 0, p.stdout


def test_every_metric_is_one_unitaudit_writes_or_a_recording_rule(written_metrics):
    allowed = written_metrics | recording_rules() | TEXTFILE_COLLECTOR
    used = set()
    for p, t in targets(load()):
        names = metric_names(t["expr"])
        assert names, (p["title"], t["expr"])
        unknown = names - allowed
        assert not unknown, (p["title"], unknown)
        used |= names
    variable = re.search(r"label_values\((\w+),", load()["templating"]["list"][1]["query"]["query"]).group(1)
    assert variable in written_metrics
    assert used & recording_rules() == recording_rules(), "every recording rule has a panel"


def test_the_name_reading_finds_what_an_expression_reads():
    """metric_names above, on forms the dashboard uses and one it does not: the check is only as
    good as this reading."""
    assert metric_names('topk(10, unit_kind:unitaudit_machines_with_loop:count)') == {
        "unit_kind:unitaudit_machines_with_loop:count"}
    assert metric_names('a{x=~"$i", file=~"(.*/)?u[.]prom"} * on (instance, job) group_left (cause) b{y="z"}') == {"a", "b"}
    assert metric_names('time() - max by (instance) (rate(c_total[5m] offset 1h)) > bool 3 * 3600') == {"c_total"}
    assert metric_names('sum without (kind) (d) unless e') == {"d", "e"}
    assert metric_names('vector(1) or 2.5e3') == set()


def test_every_per_machine_series_follows_the_machine_variable():
    """Only the fleet's recording rules (counted across machines, no instance label) are read
    unfiltered; everything else shows the machines chosen."""
    fleet = {r for r in recording_rules() if not r.startswith("instance:")}
    for p, t in targets(load()):
        for name, matchers in selectors(t["expr"]):
            if name in fleet:
                continue
            assert 'instance=~"$instance"' in matchers, (p["title"], name, t["expr"])


def test_the_variable_check_bites():
    expr = 'unitaudit_slab_bytes{instance=~"$instance"} * unitaudit_slab_bytes'
    assert [m for n, m in selectors(expr) if 'instance=~"$instance"' not in m] == [""]
