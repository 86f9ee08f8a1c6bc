"""`scan --bundle`, `fix --dry-run --bundle` and `churn --bundle` on bundles recorded in the lab
(examples/bundle-seed: `unitaudit collect` with the seed's loops running, beside `scan --json`
run inside the lab at the same moment; examples/sos-seed: Debian's sos report of the same lab and
minute), through the command line as a support engineer runs it; and bad bundles, each one line
and exit 3, nothing left behind."""
import glob
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from builders import stable_findings
from unitaudit.errors import ExitStatus

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BUNDLE = EXAMPLES / "bundle-seed" / "unitaudit-bundle-seed.tar.xz"
INSIDE = json.loads((EXAMPLES / "bundle-seed" / "scan-inside.json").read_text())
SOS = Path(glob.glob(str(EXAMPLES / "sos-seed" / "sosreport-*.tar.xz"))[0])


def unitaudit(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unitaudit", *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})))


def _private_tmp(tmp_path) -> dict:
    """A temporary directory of the command's own (TMPDIR), to see that it leaves nothing there."""
    private = tmp_path / "tmp"
    private.mkdir(exist_ok=True)
    return {"TMPDIR": str(private)}


def _left(env: dict) -> list:
    return os.listdir(env["TMPDIR"])


@pytest.fixture(scope="module")
def scanned():
    r = unitaudit("scan", "--json", "--bundle", str(BUNDLE))
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    return json.loads(r.stdout)


def _journal_machine_ids() -> set:
    """The _MACHINE_ID values of the bundle's journal, read from its export member directly."""
    with tarfile.open(str(BUNDLE)) as tar:
        member = next(n for n in tar.getnames() if n.endswith("/journal.export"))
        return set(re.findall(rb"^_MACHINE_ID=([0-9a-f]{32})$", tar.extractfile(member).read(), re.M))


def _as_recorded(doc: dict) -> dict:
    """The findings without machine_id, which the recorded scan-inside.json predates."""
    return {i: {k: v for k, v in f.items() if k != "machine_id"} for i, f in stable_findings(doc).items()}


def test_the_bundle_gives_what_scan_gave_inside_the_lab(scanned):
    assert len(INSIDE["findings"]) == 3
    assert _as_recorded(scanned) == stable_findings(INSIDE)
    (machine,) = _journal_machine_ids()
    assert {f["machine_id"] for f in scanned["findings"]} == {machine.decode()}
    for mine, theirs in zip(sorted(scanned["findings"], key=lambda f: f["id"]),
                            sorted(INSIDE["findings"], key=lambda f: f["id"])):
        assert mine["count"] == theirs["count"]  # the same window: the same counts too
        assert mine["diagnosis"] == theirs["diagnosis"]
    assert scanned["kernel"] == INSIDE["kernel"]
    assert scanned["window"]["until"] == INSIDE["window"]["until"]


def test_a_bundle_needs_no_systemd_python_and_no_bus(tmp_path):
    """Another distribution: no systemd-python (the import fails), no system bus to ask."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['systemd'] = None\n")
    env = {"PYTHONPATH": "%s:%s" % (tmp_path, os.environ.get("PYTHONPATH", "")),
           "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent"}
    journal = unitaudit("scan", "--journal-dir", str(EXAMPLES / "seed-loops" / "journal"), env=env)
    assert journal.returncode == ExitStatus.INCOMPLETE and "systemd-python" in journal.stderr  # it is blocked
    r = unitaudit("scan", "--json", "--bundle", str(BUNDLE), env=env)
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    assert _as_recorded(json.loads(r.stdout)) == stable_findings(INSIDE)


def test_fix_dry_run_plans_for_the_machine_the_bundle_came_from():
    r = unitaudit("fix", "--dry-run", "--json", "--bundle", str(BUNDLE))
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    steps = json.loads(r.stdout)["steps"]
    assert any(s["action"] == "reenable" and "avahi-daemon.service" in s["values"].values() for s in steps), steps
    text = unitaudit("fix", "--dry-run", "--bundle", str(BUNDLE))
    assert "clink-agent" in text.stdout
    assert unitaudit("fix", "--bundle", str(BUNDLE)).returncode == ExitStatus.USAGE


def test_churn_uses_the_kernel_figures_of_that_machine():
    r = unitaudit("churn", "--json", "--bundle", str(BUNDLE))
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    assert json.loads(r.stdout)["kernel"]["release"] == INSIDE["kernel"]["release"]


def test_a_sos_report_of_the_same_lab_gives_the_same_loops_and_names_what_it_lacks(tmp_path):
    env = _private_tmp(tmp_path)
    r = unitaudit("scan", "--json", "--bundle", str(SOS), env=env)
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    doc = json.loads(r.stdout)
    got = {(f["unit"], f["cause"]["kind"] if f.get("cause") else None) for f in doc["findings"]}
    want = {(f["unit"], f["cause"]["kind"] if f.get("cause") else None) for f in INSIDE["findings"]}
    assert got == want
    verdicts = {f["unit"]: (f.get("diagnosis") or {}).get("verdict") for f in doc["findings"]}
    assert verdicts["dbus-org.freedesktop.Avahi.service"] == "alias-missing"  # its unit files are in the report
    # what the report holds is diagnosed; what it lacks is said unknown, not guessed
    summaries = {f["unit"]: f["diagnosis"]["summary"] for f in doc["findings"]}
    assert verdicts["logrotate.service"] == "config-error+insecure-directories"  # modes from sos's ls -alRh
    assert "clink-agent:8" in summaries["logrotate.service"]
    assert "/var/log/mirror/printer is world-writable (0777 root:root)" in summaries["logrotate.service"]
    assert verdicts["deepin-anything-monitor.service"] == "command-failed"
    assert "did not record modinfo vfs_monitor" in summaries["deepin-anything-monitor.service"]
    assert any("not in the sos report: package owners" in w for w in doc["warnings"])
    assert _left(env) == []


def _repacked(tmp_path, change) -> Path:
    """The recorded bundle unpacked, changed by `change(top)`, packed again (its manifest unchanged)."""
    work = tmp_path / "unpacked"
    with tarfile.open(str(BUNDLE)) as tar:
        tar.extractall(str(work))
    top = next(work.iterdir())
    change(top)
    out = tmp_path / "changed.tar.xz"
    with tarfile.open(str(out), "w:xz") as tar:
        tar.add(str(top), arcname=top.name)
    return out


def _refused(path, *more) -> str:
    env = _private_tmp(Path(str(path)).parent)
    r = unitaudit("scan", "--bundle", str(path), *more, env=env)
    assert r.returncode == ExitStatus.INCOMPLETE, (r.returncode, r.stderr)
    assert r.stdout == "" and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert _left(env) == []  # the extraction directory is gone
    return r.stderr


def test_bad_bundles_are_one_line_and_exit_3(tmp_path):
    data = BUNDLE.read_bytes()
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(data[:len(data) // 2])
    assert "truncated" in _refused(cut)
    text = tmp_path / "notes.txt"
    text.write_text("not a bundle\n")
    assert "not" in _refused(text)

    def alter(top):
        (top / "units.json").write_text((top / "units.json").read_text().replace("auto-restart", "auto-RESTART"))  # same size
    assert "sha256" in _refused(_repacked(tmp_path / "a", alter))

    def newer(top):
        manifest = json.loads((top / "manifest.json").read_text())
        manifest["schema"] = "unitaudit.bundle/9"
        (top / "manifest.json").write_text(json.dumps(manifest))
    assert "newer unitaudit" in _refused(_repacked(tmp_path / "b", newer))


def test_a_member_escaping_the_extraction_directory_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.xz"
    target = tmp_path / "escaped"
    with tarfile.open(str(BUNDLE)) as src, tarfile.open(str(evil), "w:xz") as out:
        for m in src.getmembers():
            out.addfile(m, src.extractfile(m) if m.isfile() else None)
        info = tarfile.TarInfo("../" * 8 + str(target).lstrip("/"))
        payload = b"written outside\n"
        info.size = len(payload)
        out.addfile(info, io.BytesIO(payload))
    _refused(evil)
    assert not target.exists()


def test_bundle_is_alone_and_the_journal_it_holds_is_streamed_back(tmp_path):
    r = unitaudit("scan", "--bundle", str(BUNDLE), "--since", "1h")
    assert r.returncode == ExitStatus.USAGE and "--bundle" in r.stderr
    # the bundle's journal is entries in export format, time-ordered (xz members are not nested)
    with tarfile.open(str(BUNDLE)) as tar:
        names = tar.getnames()
        journal = tar.extractfile(next(n for n in names if n.endswith("/journal.export"))).read()
    assert journal.startswith(b"__CURSOR=") and b"_PID=1\n" in journal
    assert not any(n.endswith(".xz") for n in names)
    with pytest.raises(lzma.LZMAError):
        lzma.decompress(journal)


def test_an_unpacked_bundle_reads_the_same(tmp_path, scanned):
    with tarfile.open(str(BUNDLE)) as tar:
        tar.extractall(str(tmp_path))
    top = next(tmp_path.iterdir())
    r = unitaudit("scan", "--json", "--bundle", str(top))
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    assert stable_findings(json.loads(r.stdout)) == stable_findings(scanned)
    shutil.rmtree(str(top))
