"""The hourly timer's service on a real systemd: packaging/debian's unitaudit.service run as
systemd runs it (sandbox included) writes the state database, the Prometheus textfile and one
journal summary; the next run reads only the new entries; `history` shows both; with a config
that allows the alias recipe a run fixes the Avahi loop and the run after finds it gone.
A lab of its own: these tests change it."""
import json
import re
import sys

import pytest

from unitaudit_lab import scenarios
from unitaudit_lab.support import ROOT, boot_lab, install_unitaudit

from unitaudit.errors import ExitStatus
from unitaudit.report.journal_summary import SUMMARY_MESSAGE_ID

PACKAGING = ROOT / "packaging" / "debian"
PROM = "/var/lib/prometheus/node-exporter/unitaudit.prom"
AVAHI = "dbus-org.freedesktop.Avahi.service"
AVAHI_FAILED = "Activation via systemd failed for unit '%s'" % AVAHI
# Inside the lab: the positions and totals the runs recorded, and the journal's own count of
# Avahi activation failures up to a cursor (what the history must add up to).
READ_STATE = """\
import json, sqlite3, sys
from systemd import journal
db = sqlite3.connect("file:/var/lib/unitaudit/state.db?mode=ro", uri=True)
cursor, end = db.execute("SELECT cursor, realtime FROM positions WHERE source='local'").fetchone()
totals = {u + " " + k: n for u, k, n in db.execute("SELECT unit, kind, events FROM totals")}
scans = [dict(zip(("entries", "read_from", "findings"), r)) for r in db.execute("SELECT entries, read_from, findings FROM scans ORDER BY id")]
r = journal.Reader()
r.add_match(_COMM="dbus-daemon")
avahi = 0
for e in r:
    if e["__REALTIME_TIMESTAMP"].timestamp() > end:
        break
    if "%s" in e.get("MESSAGE", ""):
        avahi += 1
print(json.dumps({"cursor": cursor, "totals": totals, "scans": scans, "avahi_in_journal": avahi}))
""" % AVAHI_FAILED


@pytest.fixture(scope="module")
def watch_lab(request):
    lab = boot_lab(request, "ua-watch")
    scenarios.setup_seed_loops(lab.lab, {}, [], scenarios.FAST)
    install_unitaudit(lab.lab)
    for name in ("unitaudit.service", "unitaudit.timer"):
        lab.lab.write("/etc/systemd/system/" + name, (PACKAGING / name).read_text())
    lab.lab.write("/usr/lib/systemd/catalog/unitaudit.catalog", (PACKAGING / "unitaudit.catalog").read_text())
    lab.run("journalctl", "--update-catalog")
    # the package's tmpfiles.d entry makes the textfile directory (the sandbox cannot)
    lab.lab.write("/usr/lib/tmpfiles.d/unitaudit.conf", (PACKAGING / "unitaudit.tmpfiles").read_text())
    lab.run("systemd-tmpfiles", "--create", "unitaudit.conf")
    lab.run("systemctl", "daemon-reload")
    scenarios.wait_for_seed_loops(lab.lab)
    return lab


def start_service(lab) -> None:
    """As the timer would: systemctl start waits for the oneshot to finish."""
    r = lab.run("systemctl", "start", "unitaudit.service", check=False, timeout=300)
    result = lab.show("unitaudit.service", "Result")
    assert r.returncode == 0, "unitaudit.service: %s %s\n%s" % (
        result, r.stderr, lab.run("journalctl", "-u", "unitaudit.service", "-n", "40", "--no-pager", check=False).stdout)
    assert result == "success", "unitaudit.service: %s %s\n%s" % (
        result, r.stderr, lab.run("journalctl", "-u", "unitaudit.service", "-n", "40", "--no-pager", check=False).stdout)


RESTARTED = ("Scheduled restart job", "-u", "deepin-anything-monitor.service")
LOGROTATE_FAILED = ("Failed with result", "-u", "logrotate.service")
AVAHI_FAILING = (AVAHI_FAILED, "_COMM=dbus-daemon")


def more_of(lab, *kinds) -> None:
    """Until each of these (needle, journalctl matches...) has been logged again: a run must have
    new entries of a loop to report it (a loop seen only in the carried hour is old news)."""
    counts = [lab.journal_count(*k) for k in kinds]
    lab.wait_for("more of: %s" % ", ".join(k[0] for k in kinds),
                 lambda: all(lab.journal_count(*k) > n for k, n in zip(kinds, counts)), timeout=60, every=1)


def unit_log(lab) -> str:
    return lab.run("journalctl", "-u", "unitaudit.service", "-n", "30", "--no-pager", check=False).stdout


def state(lab) -> dict:
    return json.loads(lab.run(sys.executable, "-c", READ_STATE).stdout)


def summaries(lab) -> list:
    out = lab.run("journalctl", "-o", "json", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID, "--no-pager").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def prom_loops(lab) -> dict:
    """(kind, unit) -> value of unitaudit_loop_active in the textfile."""
    text = lab.run("cat", PROM).stdout
    out = {}
    for line in text.splitlines():
        if line.startswith("unitaudit_loop_active{"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line))
            out[(labels["kind"], labels["unit"])] = float(line.rsplit(" ", 1)[1])
    return out


SEED_LOOPS = {("restart-loop", "deepin-anything-monitor.service"), ("activation-loop", AVAHI),
              ("repeated-failure", "logrotate.service")}


def test_first_run_writes_state_textfile_and_journal_summary(watch_lab):
    start_service(watch_lab)
    assert watch_lab.run("test", "-s", "/var/lib/unitaudit/state.db", check=False).returncode == 0
    assert set(prom_loops(watch_lab)) == SEED_LOOPS
    prom = watch_lab.run("cat", PROM).stdout
    assert "unitaudit_last_run_success 1" in prom
    assert "unitaudit_kernfs_node_cache_active_objects" in prom
    [entry] = summaries(watch_lab)
    assert entry["SYSLOG_IDENTIFIER"] == "unitaudit"
    assert entry["_SYSTEMD_UNIT"] == "unitaudit.service"
    assert entry["UNITAUDIT_LOOPS"] == "3"
    assert AVAHI in entry["UNITAUDIT_UNITS"]
    explained = watch_lab.run("journalctl", "-x", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID, "--no-pager").stdout
    catalog_subject = re.search(r"^Subject: (.*)$", (PACKAGING / "unitaudit.catalog").read_text(), re.M).group(1)
    assert catalog_subject.split("@")[0].strip() in explained  # the catalog entry is found by its MESSAGE_ID
    s = state(watch_lab)
    assert [x["read_from"] for x in s["scans"]] == ["window"]
    assert s["totals"]["%s activation-loop" % AVAHI] == s["avahi_in_journal"]


def test_second_run_reads_only_the_new_entries_and_history_shows_both(watch_lab):
    before = state(watch_lab)
    more_of(watch_lab, AVAHI_FAILING, RESTARTED, LOGROTATE_FAILED)  # the loops go on
    start_service(watch_lab)
    after = state(watch_lab)
    first, second = after["scans"]
    assert second["read_from"] == "cursor"
    assert 0 < second["entries"] < first["entries"]
    # exactly the activation failures logged between the two runs' cursors were added
    key = "%s activation-loop" % AVAHI
    assert after["totals"][key] - before["totals"][key] == after["avahi_in_journal"] - before["avahi_in_journal"] > 0
    assert after["totals"][key] == after["avahi_in_journal"]
    r = watch_lab.run(sys.executable, "-B", "-m", "unitaudit", "history", "--json", check=False,
                      env={"PYTHONPATH": str(ROOT)})
    assert r.returncode == ExitStatus.OK, r.stderr
    hist = json.loads(r.stdout)
    assert [run["read_from"] for run in hist["runs"]] == ["window", "cursor"]
    assert {(loop["kind"], loop["unit"]) for loop in hist["loops"]} == SEED_LOOPS
    text = watch_lab.run(sys.executable, "-B", "-m", "unitaudit", "history", check=False,
                         env={"PYTHONPATH": str(ROOT)}).stdout
    assert "2 run(s)" in text
    assert "logrotate.service" in text
    assert len(summaries(watch_lab)) == 2


def test_a_config_allowing_the_alias_recipe_lets_the_timer_fix_avahi(watch_lab):
    watch_lab.lab.write("/etc/unitaudit/unitaudit.toml", '[auto_apply]\nrecipes = ["restore-dbus-alias"]\n')
    r = watch_lab.run(sys.executable, "-B", "-m", "unitaudit", "config", "check", check=False,
                      env={"PYTHONPATH": str(ROOT)})
    assert r.returncode == ExitStatus.OK, r.stderr
    more_of(watch_lab, AVAHI_FAILING)  # new failures for this run to see, and fix
    start_service(watch_lab)
    fixed = summaries(watch_lab)[-1]
    assert "%s:fixed" % AVAHI in fixed.get("UNITAUDIT_AUTO_APPLIED", ""), (fixed, unit_log(watch_lab))
    assert watch_lab.run("test", "-L", "/etc/systemd/system/%s" % AVAHI, check=False).returncode == 0
    more_of(watch_lab, RESTARTED, LOGROTATE_FAILED)  # the two loops left go on; Avahi does not
    start_service(watch_lab)
    last = summaries(watch_lab)[-1]
    assert AVAHI not in last["UNITAUDIT_UNITS"].split()
    assert set(prom_loops(watch_lab)) == SEED_LOOPS - {("activation-loop", AVAHI)}
    # the service, in its sandbox, read the fix runs: the fix that worked is no failed fix
    prom = watch_lab.run("cat", PROM).stdout
    assert "\nunitaudit_fixes_failed 0\n" in prom and "unitaudit_loop_fix_failed{" not in prom, prom
    assert watch_lab.journal_count(AVAHI_FAILED, "_COMM=dbus-daemon", "--since", "-5s") == 0
