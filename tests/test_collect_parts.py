"""collect's pure parts: --max-size read, the log directories a logrotate file names (gather), the
modprobe target of an ExecStartPre= (gather), and the recording probe's probe.json read back by the
bundle's probe (the same answers), on this checkout's recorded lab files."""
import pytest

from unitaudit.collect.gather import _log_dirs, _modprobe_target
from unitaudit.collect.recording import RecordingProbe
from unitaudit.collect.run import parse_size
from unitaudit.errors import ProbeUnavailable, UsageError
from unitaudit.sources.bundle.probe import BundleProbe, answers_from_json

SEED_UNITS = "examples/seed-loops/units"


def test_max_size_takes_suffixes_and_refuses_nonsense():
    assert parse_size("50M") == 50 << 20
    assert parse_size("1g") == 1 << 30
    assert parse_size("2MiB") == 2 << 20
    assert parse_size("1500000") == 1500000
    for bad in ("", "abc", "10K", "-5M", "1.5X"):
        with pytest.raises(UsageError):
            parse_size(bad)


def test_the_log_directories_of_the_seeds_logrotate_files():
    text = open(SEED_UNITS + "/etc/logrotate.d/mirror-printer").read()
    assert _log_dirs(text) == {"/var/log/mirror/printer"}
    assert _log_dirs('"/var/log/a b/x.log" /var/log/c/*.log {\n  rotate 4\n}\n/var/log/../etc/y {\n}\n') >= {"/var/log/c"}


def test_the_module_an_exec_start_pre_loads():
    assert _modprobe_target("/usr/sbin/modprobe", ("/usr/sbin/modprobe", "-q", "vfs_monitor")) == "vfs_monitor"
    assert _modprobe_target("/usr/sbin/modprobe", ("/usr/sbin/modprobe", "../../x")) is None
    assert _modprobe_target("/usr/bin/true", ("/usr/bin/true", "vfs_monitor")) is None


def test_what_the_recording_probe_answered_the_bundle_probe_answers(tmp_path):
    live = RecordingProbe(SEED_UNITS)
    path = "/etc/logrotate.d/clink-agent"
    info = live.stat(path)
    live.stat("/etc/logrotate.d", follow=True)
    live.packages["/etc/logrotate.d/clink-agent"] = None
    answers = live.answers()
    answers["complete_dirs"] = ["/etc/logrotate.d"]
    copy = tmp_path / "root"
    (copy / "etc/logrotate.d").mkdir(parents=True)
    (copy / "etc/logrotate.d/clink-agent").write_bytes(live.read_bytes(path))
    bundle = BundleProbe(str(copy), answers_from_json(answers, "the bundle"))
    assert bundle.stat(path) == info
    assert bundle.read_text(path) == live.read_text(path)
    assert bundle.package_of(path) is None
    assert not bundle.stat("/etc/logrotate.d/absent").exists  # a directory copied whole
    with pytest.raises(ProbeUnavailable, match="did not record"):
        bundle.stat("/var/log/elsewhere")
    with pytest.raises(ProbeUnavailable, match="dpkg-query"):
        bundle.package_of("/etc/passwd")
