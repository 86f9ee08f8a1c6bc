"""The fleet's monitoring, live: Debian's `prometheus` and `prometheus-node-exporter` (installed on
this machine) started in a lab where the seed's three loops run and this checkout's .deb is
installed.  node_exporter reads the textfile directory the package writes to; one run of the
packaged unitaudit.service (started on demand, as its timer would) makes Prometheus fire the loop
alerts of the packaged rules with the loop's labels and the fix command; `unitaudit fix` stops the
loops and the next run of the service resolves the alerts.  Every expression of the Grafana
dashboard (packaging/prometheus/unitaudit-dashboard.json) is asked of that Prometheus and answers
with the seed's loops.

The rules Prometheus loads are the installed package's file with one change: every alert's `for:`
is 3 s instead of an hour (checked: nothing else differs, unitaudit_lab/prometheus.shortened).
The real durations are covered by promtool's unit tests (tests/test_prometheus_rules.py).

Both servers listen on free ports of 127.0.0.1 picked at run time (the lab shares the machine's
network), set in /etc/default/prometheus and /etc/default/prometheus-node-exporter; every other
lab masks both units, as every unit this machine enabled (unitaudit_lab/units.py), and so did this
one until it configured them.  The wall times (install, run to firing, fix, run to resolved) are
printed for the CI log."""
import json
import os
import re
import shutil
import time
from datetime import datetime, timezone

import pytest
import yaml

from test_dashboard import load as load_dashboard, substituted, targets
from unitaudit_lab import prometheus, scenarios, units
from unitaudit_lab.support import boot_lab

from unitaudit.errors import ExitStatus

PACKAGED_RULES = "/usr/share/unitaudit/prometheus/unitaudit-rules.yml"
TEXTFILE = prometheus.TEXTFILE_DIR + "/unitaudit.prom"
IN_LAB = "/srv/unitaudit-lab/"  # readable by apt's _apt user; not /tmp (nspawn's tmpfs)
FOR = "3s"  # the alerts' `for:` in the lab (an hour as packaged)
MONITOR, AVAHI, LOGROTATE = "deepin-anything-monitor.service", "dbus-org.freedesktop.Avahi.service", "logrotate.service"
# (alert, unit) -> (kind, cause, severity): what the seed's loops must raise
LOOP_ALERTS = {
    ("UnitauditRestartLoop", MONITOR): ("restart-loop", "execstartpre-failed", "warning"),
    ("UnitauditActivationLoop", AVAHI): ("activation-loop", "missing-unit", "warning"),
    ("UnitauditRepeatedFailure", LOGROTATE): ("repeated-failure", "logrotate-config", "info"),
}
# The FAST seed (RestartSec=2, logrotate every 5 s) churns above the rule's 600 cgroups an hour
# for both units that start processes; the Avahi loop starts none (dbus-daemon finds no unit).
CHURN_ALERTS = {("UnitauditLoopChurn", MONITOR), ("UnitauditLoopChurn", LOGROTATE)}
SEED_UNITS = {MONITOR, AVAHI, LOGROTATE}


class Stack:
    """The lab, its Prometheus, and what the module measured."""

    def __init__(self, lab, prom, before: dict, times: dict):
        self.lab, self.prom, self.before, self.times = lab, prom, before, times


@pytest.fixture(scope="module")
def stack(request, deb):
    t0 = time.monotonic()
    lab = boot_lab(request, "ua-prom")
    times = {}
    request.addfinalizer(lambda: _say(request, "[prometheus] module %.1f s: %s" % (
        time.monotonic() - t0, ", ".join("%s %.1f s" % kv for kv in times.items()))))
    # the units as every lab has them: masked when this machine enabled them, and not running
    before = {u: (lab.show(u, "LoadState"), lab.show(u, "ActiveState")) for u in prometheus.UNITS}
    scenarios.setup_seed_loops(lab.lab, {}, [], scenarios.FAST)  # they loop while the package installs
    # As test_package_live: without Docker's policy-rc.d the postinst starts the timer; no state,
    # textfile or timer stamp of another run (the overlay shows the machine's).
    lab.run("rm", "-rf", "/usr/sbin/policy-rc.d", "/var/lib/unitaudit", "/etc/unitaudit",
            "/var/lib/systemd/timers/stamp-unitaudit.timer")
    lab.run("sh", "-c", 'rm -f "$0"/*.prom', prometheus.TEXTFILE_DIR)
    times["install"] = _install(lab, deb)
    rules = lab.run("cat", PACKAGED_RULES).stdout
    t = time.monotonic()
    prom = prometheus.start(lab.lab, prometheus.shortened(rules, FOR))
    times["prometheus up"] = time.monotonic() - t
    return Stack(lab, prom, before, times)


def _install(lab, deb) -> float:
    target = lab.root / IN_LAB.lstrip("/") / deb.name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o755)
    shutil.copyfile(str(deb), str(target))
    os.chmod(target, 0o644)
    t = time.monotonic()
    r = lab.run("apt-get", "install", "-y", "--no-install-recommends", IN_LAB + deb.name, check=False, timeout=600,
                env={"DEBIAN_FRONTEND": "noninteractive"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    return time.monotonic() - t


def _say(request, text: str) -> None:
    """A line for the CI log, past pytest's capture (written at the module's teardown)."""
    print(text)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capman is not None:
        with capman.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(text)


def run_service(s: Stack) -> float:
    """One run of the packaged unitaudit.service, as its timer starts it: the wall time it took."""
    t = time.monotonic()
    r = s.lab.run("systemctl", "start", "unitaudit.service", check=False, timeout=300)
    log = s.lab.run("journalctl", "--no-pager", "-u", "unitaudit.service", "-n", "30", check=False).stdout
    assert r.returncode == 0 and s.lab.show("unitaudit.service", "Result") == "success", r.stderr + log
    return time.monotonic() - t


def textfile_loops(s: Stack) -> set:
    text = s.lab.run("cat", TEXTFILE).stdout
    return {(m["kind"], m["unit"]) for m in (dict(re.findall(r'(\w+)="([^"]*)"', x))
                                             for x in text.splitlines() if x.startswith("unitaudit_loop_active{"))}


def textfile_churn(s: Stack) -> list:
    return [x for x in s.lab.run("cat", TEXTFILE).stdout.splitlines() if x.startswith("unitaudit_loop_cgroups")]


def seed_alerts(s: Stack) -> dict:
    """Every alert (pending or firing) about a seed unit: (alertname, unit) -> state."""
    return {(a["labels"]["alertname"], a["labels"].get("unit")): a["state"] for a in s.prom.alerts()
            if a["labels"].get("unit") in SEED_UNITS}


@pytest.fixture(scope="module")
def fired(stack):
    """The seed's loops looping, one run of the service, then Prometheus' alerts once all fire."""
    scenarios.wait_for_seed_loops(stack.lab.lab)
    started = time.time()
    stack.times["service run"] = run_service(stack)
    t = time.monotonic()
    expected = set(LOOP_ALERTS)

    def all_firing():
        now = stack.prom.firing()
        return now if expected <= set(now) else None

    firing = prometheus.wait("the seed's alerts to fire (%s)" % sorted(expected), all_firing, timeout=90)
    stack.times["run to firing"] = time.monotonic() - t
    return started, firing


# -- the stack, started here only --------------------------------------------------------------------


def test_the_stack_is_masked_in_labs_and_runs_here_on_ports_of_its_own(stack):
    enabled = set(units.enabled_units("/"))
    for unit in prometheus.UNITS:
        load, active = stack.before[unit]
        assert active == "inactive", (unit, stack.before)
        # enabled on this machine: a lab masks it; not enabled: nothing starts it in a lab
        assert load == ("masked" if unit in enabled else "loaded"), (unit, stack.before, sorted(enabled))
        assert stack.lab.show(unit, "ActiveState") == "active", unit
    lab_defaults = {u: stack.lab.run("cat", "/etc/default/" + u.split(".")[0]).stdout for u in prometheus.UNITS}
    assert ":9090" not in stack.prom.url and not stack.prom.instance.endswith(":9100")
    assert "--web.listen-address=" + stack.prom.instance in lab_defaults["prometheus-node-exporter.service"]
    assert stack.prom.url.split("//")[1] in lab_defaults["prometheus.service"]
    # the packaged rules are loaded: every group and rule of the installed file
    groups = stack.prom.get("/api/v1/rules")["data"]["groups"]
    loaded = {(g["name"], r["name"]) for g in groups for r in g["rules"]}
    packaged = yaml.safe_load(stack.lab.run("cat", PACKAGED_RULES).stdout)["groups"]
    assert loaded == {(g["name"], r.get("alert") or r["record"]) for g in packaged for r in g["rules"]}
    assert {r["duration"] for g in groups for r in g["rules"] if r["type"] == "alerting" and r["duration"]} == {3}


# -- the loops fire ----------------------------------------------------------------------------------


def test_the_loop_alerts_fire_with_the_loops_labels_and_the_fix_command(stack, fired):
    started, firing = fired
    assert textfile_loops(stack) == {(kind, unit) for (_a, unit), (kind, _c, _s) in LOOP_ALERTS.items()}
    for (name, unit), (kind, cause, severity) in LOOP_ALERTS.items():
        alert = firing[(name, unit)]
        labels = alert["labels"]
        assert (labels["kind"], labels["cause"], labels["severity"]) == (kind, cause, severity), alert
        assert (labels["instance"], labels["job"]) == (stack.prom.instance, "node"), alert
        assert "unitaudit fix --unit %s --dry-run" % unit in alert["annotations"]["description"], alert
        assert unit in alert["annotations"]["summary"] and stack.prom.instance in alert["annotations"]["summary"]
        # raised by this run's textfile, not by anything older
        assert _epoch(alert["activeAt"]) >= started - 1, (alert["activeAt"], started)


def test_the_churn_alert_fires_for_the_loops_that_start_processes(stack, fired):
    def churn() -> dict:
        return {key: a for key, a in stack.prom.firing().items() if key[0] == "UnitauditLoopChurn"}

    try:  # from the same textfile as the loop alerts: firing by now, or within a few evaluations
        firing = prometheus.wait("the churn alerts", lambda: CHURN_ALERTS <= set(churn()) and churn(), timeout=10)
    except AssertionError:
        firing = churn()
    assert set(firing) == CHURN_ALERTS, (firing, textfile_churn(stack))
    for key in CHURN_ALERTS:
        assert float(firing[key]["value"]) > 600, firing[key]
        assert firing[key]["labels"]["severity"] == "critical"


def test_the_runs_own_alerts_stay_quiet_and_node_exporter_reads_the_packages_directory(stack, fired):
    names = {a["labels"]["alertname"] for a in stack.prom.alerts()}
    assert not names & {"UnitauditRunFailed", "UnitauditTextfileStale"}, names
    r = stack.prom.query('node_textfile_mtime_seconds{file=~"(.*/)?unitaudit[.]prom"}')
    assert [s["metric"]["instance"] for s in r["data"]["result"]] == [stack.prom.instance], r
    assert stack.prom.query("unitaudit_last_run_success")["data"]["result"][0]["value"][1] == "1"


# -- the dashboard, against the live Prometheus ----------------------------------------------------


def test_every_dashboard_expression_answers_with_the_seeds_loops(stack, fired):
    exprs = [t["expr"] for _p, t in targets(load_dashboard())]
    assert exprs
    # "All", and the lab's machine chosen: Grafana sends a chosen value regex-escaped, its
    # backslashes doubled inside PromQL's double quotes
    for value in (".*", re.escape(stack.prom.instance).replace("\\", "\\\\")):
        for expr in exprs:
            doc = stack.prom.query(substituted(expr, value))
            assert doc["status"] == "success", (expr, doc)
            assert doc["data"]["result"], "no data: %s" % substituted(expr, value)
    # the machine variable lists the lab (label_values(unitaudit_last_run_success, instance))
    values = stack.prom.get("/api/v1/label/instance/values", **{"match[]": "unitaudit_last_run_success"})["data"]
    assert values == [stack.prom.instance]


def test_the_dashboards_loop_table_and_fleet_counts_are_the_seeds(stack, fired):
    dashboard = load_dashboard()
    (table,) = [t["expr"] for p, t in targets(dashboard) if p["type"] == "table"]
    rows = stack.prom.query(substituted(table))["data"]["result"]
    assert {(r["metric"]["unit"], r["metric"]["kind"], r["metric"]["cause"]) for r in rows} == {
        (unit, kind, cause) for (_a, unit), (kind, cause, _s) in LOOP_ALERTS.items()}
    assert all(float(r["value"][1]) > 0 for r in rows), rows
    kinds = stack.prom.query("kind:unitaudit_machines_with_loop:count")["data"]["result"]
    assert {r["metric"]["kind"]: r["value"][1] for r in kinds} == {
        kind: "1" for kind, _c, _s in LOOP_ALERTS.values()}


# -- fixed, then resolved ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resolved(stack, fired):
    t = time.monotonic()
    r = stack.lab.run("sh", "-c", "cd / && unitaudit fix --yes --json", check=False, timeout=600)
    stack.times["fix"] = time.monotonic() - t
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr
    outcomes = {o["unit"]: o["status"] for o in json.loads(r.stdout)["outcomes"]}
    assert outcomes == {unit: "fixed" for unit in SEED_UNITS}, outcomes
    before_run = time.time()
    stack.times["next run"] = run_service(stack)
    loops = textfile_loops(stack)
    t = time.monotonic()

    def resolved_after_the_run() -> bool:
        # Prometheus has scraped this run's textfile (not merely lost its target) and no alert is left
        last = stack.prom.query("unitaudit_last_run_timestamp_seconds")["data"]["result"]
        return bool(last) and float(last[0]["value"][1]) >= before_run - 1 and not seed_alerts(stack)

    try:  # the test says what was left, rather than the fixture erroring
        prometheus.wait("the seed's alerts to resolve", resolved_after_the_run, timeout=30)
        stack.times["run to resolved"] = time.monotonic() - t
    except AssertionError:
        pass
    return loops, seed_alerts(stack)


def test_fix_and_the_next_run_resolve_every_loop_alert(stack, resolved):
    loops, left = resolved
    assert loops == set(), "the run after the fix still wrote loops: %s (alerts: %s)" % (loops, left)
    assert left == {}, left
    assert stack.prom.query("up")["data"]["result"][0]["value"][1] == "1"  # still scraping
    names = {a["labels"]["alertname"] for a in stack.prom.alerts()}
    assert not names & {"UnitauditRunFailed", "UnitauditTextfileStale"}, names
    assert stack.prom.query("kind:unitaudit_machines_with_loop:count")["data"]["result"] == []


def _epoch(rfc3339: str) -> float:
    """Prometheus' activeAt (nanoseconds, Z) as seconds since the epoch."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", rfc3339)
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return base.timestamp() + float(m.group(2) or 0)
