"""The bundle round trip on a real systemd with the seed's loops running: `unitaudit collect` inside
the lab, `unitaudit scan --bundle` outside it (this machine: no access to the lab's bus, files or
journal), compared field by field with `unitaudit scan` inside, timing fields aside; the same for
a sos report of that lab (Debian's sosreport, run inside).  And collect is read-only, and
--redact leaves nothing of the lab's names and addresses in any member."""
import json
import lzma
import re
import subprocess
import sys
import tarfile
import time

import pytest

from builders import loop_of, stable_findings
from unitaudit_lab.support import CHECKOUT_PATH, ROOT
from test_readonly import _assert_read_only, _watched  # tests/lab is on the path: the read-only proof of scan, reused

from examples.record_sos import PLUGINS
from unitaudit.collect.redact import word_pattern
from unitaudit.errors import ExitStatus

def _outside(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-B", "-m", "unitaudit", *args], capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT))


def _until(lab) -> str:
    """A moment a second ago, as --until reads it: both reads end there."""
    return "@%d" % (time.time() - 1)


@pytest.fixture(scope="module")
def round_trip(seed_lab, tmp_path_factory):
    until = _until(seed_lab)
    inside = seed_lab.unitaudit("scan", "--json", "--until", until)
    assert inside.returncode == ExitStatus.FINDINGS, inside.stderr
    made = seed_lab.unitaudit("collect", "-o", "/var/tmp/seed.tar.xz", "--until", until, "--json")
    assert made.returncode == 0, made.stderr
    bundle = tmp_path_factory.mktemp("bundle") / "seed.tar.xz"
    bundle.write_bytes((seed_lab.root / "var/tmp/seed.tar.xz").read_bytes())
    outside = _outside("scan", "--json", "--bundle", str(bundle))
    assert outside.returncode == ExitStatus.FINDINGS, outside.stderr
    with tarfile.open(str(bundle)) as tar:  # the scan collect itself ran inside, at its moment
        own = json.loads(tar.extractfile(next(n for n in tar.getnames() if n.endswith("/scan.json"))).read())
    return json.loads(inside.stdout), json.loads(outside.stdout), json.loads(made.stdout), bundle, own


def test_scan_of_the_bundle_outside_gives_the_findings_and_verdicts_of_scan_inside(round_trip):
    """Field by field against the scan collect ran inside (the same moment: unit states read once);
    against a separate `scan` inside a moment earlier, the same loops, causes and verdicts (a live
    unit's state can change between two reads: its ExecStartPre running or just failed)."""
    inside, outside, made, _bundle, own = round_trip
    assert made["findings"] == len(own["findings"]) >= 3
    assert own["findings"] == outside["findings"]
    assert own["kernel"] == outside["kernel"]
    a, b = stable_findings(inside), stable_findings(outside)
    assert sorted(a) == sorted(b)
    for fid in a:
        assert loop_of(b[fid]) == loop_of(a[fid]), fid
    verdicts = {f["unit"]: f["diagnosis"]["verdict"] for f in outside["findings"] if f.get("diagnosis")}
    assert verdicts.get("dbus-org.freedesktop.Avahi.service") == "alias-missing"
    assert verdicts.get("deepin-anything-monitor.service") == "module-missing"
    assert verdicts.get("logrotate.service") == "config-error+insecure-directories"
    assert outside["kernel"]["release"] == inside["kernel"]["release"]


def test_fix_dry_run_and_churn_read_the_bundle_as_that_machine(seed_lab, round_trip):
    _inside, _outside_doc, _made, bundle, _own = round_trip
    here = seed_lab.unitaudit("fix", "--dry-run", "--json")
    there = _outside("fix", "--dry-run", "--json", "--bundle", str(bundle))
    assert there.returncode == ExitStatus.FINDINGS, there.stderr
    steps = lambda doc: sorted((s["action"], tuple(sorted(s["values"].items()))) for s in doc["steps"])  # noqa: E731
    assert steps(json.loads(there.stdout)) == steps(json.loads(here.stdout))
    churn = _outside("churn", "--json", "--bundle", str(bundle))
    assert churn.returncode == ExitStatus.FINDINGS, churn.stderr
    assert json.loads(churn.stdout)["kernel"]["release"]


def test_collect_changes_nothing(seed_lab, tmp_path):
    """The scan's read-only proof (test_readonly.py), with the only writes allowed being the
    bundle and collect's own staging directory beside it (private, removed)."""
    r, mine, writes = _watched(seed_lab, tmp_path, "collect", "-o", "/var/tmp/watched.tar.xz", fd_paths=True)
    assert r.returncode == 0, r.stderr
    # the bundle (and its partial file before the rename) and the staging directory beside it
    own = re.compile(r'(?:"|<)(/var/tmp/watched\.tar\.xz[^">]*|/var/tmp/\.unitaudit-collect-[^">]+)(?:"|>)')
    others = [w for w in writes if not own.search(w)]
    assert len(others) < len(writes)  # it did write the bundle, and the filter saw it
    _assert_read_only(seed_lab, mine, others)
    assert (seed_lab.root / "var/tmp/watched.tar.xz").is_file()
    left = seed_lab.run("find", "/var/tmp", "-maxdepth", "1", "-name", ".unitaudit-collect-*", check=False).stdout
    assert left.strip() == ""  # the staging directory is gone


def _members_text(bundle) -> str:
    """Every member of the bundle as text, compressed ones decompressed."""
    texts = []
    with tarfile.open(str(bundle)) as tar:
        for m in tar.getmembers():
            if m.isfile():
                data = tar.extractfile(m).read()
                if data[:6] == b"\xfd7zXZ\x00":
                    data = lzma.decompress(data)
                texts.append(m.name + "\n" + data.decode("utf-8", "replace"))
    return "\n".join(texts)


def test_redact_leaves_no_host_user_or_address_of_the_lab(seed_lab, tmp_path):
    made = seed_lab.unitaudit("collect", "--redact", "-o", "/var/tmp/redacted.tar.xz")
    assert made.returncode == 0, made.stderr
    bundle = tmp_path / "redacted.tar.xz"
    bundle.write_bytes((seed_lab.root / "var/tmp/redacted.tar.xz").read_bytes())
    text = _members_text(bundle)
    host = seed_lab.run("hostname").stdout.strip()
    users = [line.split(":")[0] for line in seed_lab.run("getent", "passwd").stdout.splitlines()
             if 1000 <= int(line.split(":")[2]) < 60000]
    addresses = [a.split("/")[0] for a in seed_lab.run("hostname", "-I").stdout.split()
                 if not a.startswith("127.") and a != "::1"]
    assert users and host
    assert not word_pattern([host], ignore_case=True).search(text), host
    assert not word_pattern(users).search(text), users
    for a in addresses:
        assert a not in text, a
    mapping = json.loads((seed_lab.root / "var/tmp/redacted.tar.xz.redactions.json").read_text())
    assert host in mapping["hosts"]
    scanned = _outside("scan", "--json", "--bundle", str(bundle))
    assert scanned.returncode == ExitStatus.FINDINGS, scanned.stderr
    units = {f["unit"] for f in json.loads(scanned.stdout)["findings"]}
    assert "deepin-anything-monitor.service" in units  # a unit named like its user is not renamed


def test_a_sos_report_of_the_lab_scans_outside_to_the_loops_scan_finds_inside(seed_lab, tmp_path):
    """Debian's `sos report` run inside (its plugins as examples/record_sos.py chooses them), read
    outside by `scan --bundle`: the same loops with the same causes; the missing alias diagnosed
    from the unit files sos copied; what sos did not collect named."""
    inside = seed_lab.scan_json()
    seed_lab.run("mkdir", "-p", "/var/tmp/sos-test")
    r = seed_lab.run("sos", "report", "--batch", "-o", ",".join(PLUGINS), "--tmp-dir", "/var/tmp/sos-test",
                     "--label", "t", "-z", "xz", check=False, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    tarball = next((seed_lab.root / "var/tmp/sos-test").glob("sosreport-*.tar.xz"))
    outside = _outside("scan", "--json", "--bundle", str(tarball))
    assert outside.returncode == ExitStatus.FINDINGS, outside.stderr
    doc = json.loads(outside.stdout)
    loops = lambda d: {(f["unit"], (f.get("cause") or {}).get("kind")) for f in d["findings"]}  # noqa: E731
    assert loops(doc) == loops(inside)
    verdicts = {f["unit"]: (f.get("diagnosis") or {}).get("verdict") for f in doc["findings"]}
    live = {f["unit"]: (f.get("diagnosis") or {}).get("verdict") for f in inside["findings"]}
    # the verdicts the report's files allow are the live ones; modinfo of a module that is not
    # loaded is what sos lacks, and the diagnosis says so instead of "module-missing"
    for unit in ("dbus-org.freedesktop.Avahi.service", "logrotate.service"):
        assert verdicts[unit] == live[unit], unit
    monitor = next(f for f in doc["findings"] if f["unit"] == "deepin-anything-monitor.service")
    assert (monitor["diagnosis"]["verdict"], live["deepin-anything-monitor.service"]) == ("command-failed", "module-missing")
    assert "did not record modinfo vfs_monitor" in monitor["diagnosis"]["summary"]
    assert any(w.startswith("not in the sos report: package owners") for w in doc["warnings"]), doc["warnings"]


def test_collect_as_an_ordinary_user_says_what_it_could_not_read(seed_lab):
    """Run as the desktop's user (not in group adm): the bundle is written, and what root alone
    may read (the system journal, /proc/slabinfo) is listed as left out, with the remedy."""
    seed_lab.run("install", "-d", "-o", "deepin", "-m", "0755", "/var/tmp/as-user")
    r = seed_lab.run("runuser", "-u", "deepin", "--", "/usr/bin/python3", "-B", "-m", "unitaudit", "collect",
                     "--json", "-o", "/var/tmp/as-user/b.tar.xz", check=False, env={"PYTHONPATH": CHECKOUT_PATH},
                     timeout=300)
    assert r.returncode == 0, r.stderr
    said = json.loads(r.stdout)
    left = " ".join("%s %s" % (x["what"], x["why"]) for x in said["left_out"])
    assert "not readable by this user" in left and "run as root" in left, left
    assert "/proc/slabinfo" in left, left
    text = seed_lab.run("runuser", "-u", "deepin", "--", "/usr/bin/python3", "-B", "-m", "unitaudit", "collect",
                        "-o", "/var/tmp/as-user/c.tar.xz", check=False, env={"PYTHONPATH": CHECKOUT_PATH})
    assert text.returncode == 0 and "left out" in text.stdout, text.stdout + text.stderr
