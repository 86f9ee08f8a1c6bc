"""Prometheus and node_exporter in a lab: Debian's `prometheus` and `prometheus-node-exporter`,
installed on this machine, started in the one lab that tests them.

Every other lab masks both (units.py: this machine enabled them), and so does this one at boot:
started as shipped they would listen on 9090 and 9100 of the machine's own network, which every
lab shares.  `start` unmasks them only after it has pointed them, through the files Debian's
units read (/etc/default/prometheus, /etc/default/prometheus-node-exporter), at free ports on
127.0.0.1 and at a lab-only prometheus.yml: node_exporter scraped every second, rules evaluated
every second.  node_exporter keeps the textfile directory the package reads by default
(/var/lib/prometheus/node-exporter, where unitaudit.service writes unitaudit.prom).

The tests talk to Prometheus over its HTTP API from the host (`Prometheus.query`, `.alerts`):
the lab's ports are the machine's.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import yaml

from unitaudit_lab.machine import Lab, wait_until

UNITS = ("prometheus-node-exporter.service", "prometheus.service")
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"  # node_exporter's default on Debian, and the package's
CONFIG = "/etc/prometheus/unitaudit-lab.yml"
RULES = "/etc/prometheus/unitaudit-lab-rules.yml"
STORAGE = "/var/lib/prometheus/metrics2"  # Debian's default: emptied in the lab, never on the machine
EVERY = "1s"  # scrape and evaluation interval: an alert fires seconds after the textfile changes

CONFIG_TEXT = """\
# Lab only (unitaudit_lab/prometheus.py): node_exporter on this lab's port, scraped every {every}.
global:
  scrape_interval: {every}
  evaluation_interval: {every}
rule_files:
  - {rules}
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["{target}"]
"""


def free_port() -> int:
    """A TCP port nothing on this machine listens on now (the kernel's pick).  Another process
    could take it before the lab's server binds it: `start` then fails with the server's own
    error, not with a wrong answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shortened(rules_text: str, for_: str) -> str:
    """The rules with every alert's `for:` set to `for_`, and nothing else changed (checked on the
    parsed rules): the packaged alerts wait an hour, a lab cannot."""
    text, n = re.subn(r"^(\s+for:\s*)\S+\s*$", lambda m: m.group(1) + for_, rules_text, flags=re.M)
    before, after = yaml.safe_load(rules_text), yaml.safe_load(text)
    with_for = [r for g in before["groups"] for r in g["rules"] if "for" in r]
    assert n == len(with_for) > 0, (n, len(with_for))
    for rule in with_for:
        rule["for"] = for_
    assert after == before, "shortening for: changed more than for:"
    return text


@dataclass
class Prometheus:
    """The lab's Prometheus, as the host reaches it."""

    url: str  # http://127.0.0.1:PORT
    instance: str  # node_exporter's target: the `instance` label of the textfile's series

    def get(self, path: str, **params: str) -> dict:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        with urllib.request.urlopen(self.url + path + query, timeout=10) as r:
            return json.load(r)

    def query(self, expr: str) -> dict:
        """/api/v1/query at the current time: the whole answer (status, data, warnings); a query
        Prometheus refuses (HTTP 400, 422) comes back as its own error document."""
        try:
            return self.get("/api/v1/query", query=expr)
        except urllib.error.HTTPError as e:
            return json.load(e)

    def alerts(self) -> list:
        """Pending and firing alerts (/api/v1/alerts); a resolved alert is no longer listed."""
        doc = self.get("/api/v1/alerts")
        assert doc["status"] == "success", doc
        return doc["data"]["alerts"]

    def firing(self) -> dict:
        """(alertname, unit) -> the firing alert."""
        return {(a["labels"]["alertname"], a["labels"].get("unit")): a for a in self.alerts() if a["state"] == "firing"}

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=5) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def targets_up(self) -> bool:
        doc = self.get("/api/v1/targets")
        return any(t["health"] == "up" for t in doc["data"]["activeTargets"])


def start(lab: Lab, rules_text: str, timeout: float = 90) -> Prometheus:
    """Configure and start node_exporter and Prometheus in `lab` (booted with both masked) with
    `rules_text` as the only rule file; once Prometheus is ready and scraping, return it."""
    prom_port, node_port = free_port(), free_port()
    target = "127.0.0.1:%d" % node_port
    lab.write("/etc/default/prometheus-node-exporter",
              # Only the textfile collector, at its default directory: scraped every second, the
              # others would cost CPU and series nobody reads here.
              'ARGS="--web.listen-address=%s --collector.disable-defaults --collector.textfile"\n' % target)
    lab.write("/etc/default/prometheus",
              'ARGS="--config.file=%s --web.listen-address=127.0.0.1:%d --storage.tsdb.path=%s"\n'
              % (CONFIG, prom_port, STORAGE))
    lab.write(RULES, rules_text)
    lab.write(CONFIG, CONFIG_TEXT.format(every=EVERY, rules=RULES, target=target))
    check = lab.run("promtool", "check", "config", CONFIG, check=False)  # the config and its rules
    assert check.returncode == 0, check.stdout + check.stderr
    # A fresh database: the overlay shows the machine's own (empty if the machine never ran it).
    lab.run("sh", "-c", 'rm -rf "$0" && install -d -o prometheus -g prometheus "$0"', STORAGE)
    # Unmask (units.py masked them at boot: the link is in the overlay's /etc, the machine's untouched)
    for name in UNITS:
        link = lab.root / "etc/systemd/system" / name
        if link.is_symlink() and str(link.resolve()) == "/dev/null":
            link.unlink()
    lab.run("systemctl", "daemon-reload")
    lab.run("systemctl", "restart", *UNITS)  # restart: configured now, whatever ran before
    prom = Prometheus("http://127.0.0.1:%d" % prom_port, target)

    def up() -> bool:
        for name in UNITS:
            if lab.run("systemctl", "is-failed", "--quiet", name, check=False, record=False).returncode == 0:
                log = lab.run("journalctl", "--no-pager", "-n", "30", "-u", name, check=False, record=False).stdout
                raise AssertionError("%s failed in the lab:\n%s" % (name, log))
        return prom.ready() and prom.targets_up()

    lab.wait_for("Prometheus ready and scraping node_exporter at %s" % target, up, timeout=timeout, every=0.5)
    return prom


def wait(what: str, check, timeout: float, every: float = 0.5):
    """Poll `check()` until it returns something true (returned) or `timeout` seconds pass."""
    return wait_until("prometheus", what, check, timeout, every)
