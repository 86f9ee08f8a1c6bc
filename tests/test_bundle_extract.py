"""Opening a bundle (sources/bundle/extract.py): unitaudit bundles and sos reports, as archives and
as directories, built here with tarfile, good ones and hostile ones.  Every refusal is checked to
leave nothing outside the work directory."""
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile

import pytest

from builders import unitaudit_as_nobody
from unitaudit.errors import BundleError, ExitStatus
from unitaudit.sources.bundle import extract
from unitaudit.sources.bundle.extract import open_bundle
from unitaudit.sources.probe import SystemProbe

TOP = "unitaudit-bundle-web1-20240501T101500Z"
SOS_TOP = "sosreport-web1-2024-05-01-abcdef"
FILES = {
    "journal.export": b"__CURSOR=s=1\nMESSAGE=x.service: Failed with result 'exit-code'.\n\n",
    "units.json": b'{"x.service": {"ActiveState": "failed"}}\n',
    "probe.json": b'{"stat": {}}\n',
    "root/etc/logrotate.d/x": b"/var/log/x/*.log {\n  daily\n}\n",
}


def manifest_of(files, schema="unitaudit.bundle/1"):
    return {"schema": schema, "tool": {"name": "unitaudit", "version": "0.9"}, "created": 1714558500.0,
            "members": {n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()},
            "collected": ["journal", "units"], "left_out": []}


def entry(name, data=b"", kind=tarfile.REGTYPE, link="", mode=0o644, uid=0, uname="root"):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.uid, info.gid, info.uname, info.gname = \
        kind, link, mode, uid, uid, uname, uname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def unitaudit_entries(files=None, manifest=None, top=TOP):
    files = dict(FILES if files is None else files)
    manifest = manifest_of(files) if manifest is None else manifest
    out = [entry(top, kind=tarfile.DIRTYPE, mode=0o755), entry(top + "/manifest.json", json.dumps(manifest).encode())]
    out += [entry(top + "/" + n, d, mode=0o4755 if n.endswith("/x") else 0o644) for n, d in files.items()]
    return out


def sos_entries():
    return [entry(SOS_TOP, kind=tarfile.DIRTYPE),
            entry(SOS_TOP + "/sos_commands/systemd/systemctl_list-units", b"x.service loaded failed failed X\n"),
            entry(SOS_TOP + "/lib/systemd/system/x.service", b"[Service]\nExecStart=/bin/false\n"),
            entry(SOS_TOP + "/etc/systemd/system/multi-user.target.wants/x.service", kind=tarfile.SYMTYPE,
                  link="/lib/systemd/system/x.service", mode=0o777),
            entry(SOS_TOP + "/etc/alias.service", kind=tarfile.SYMTYPE, link="../lib/systemd/system/x.service")]


def write_tar(path, entries, mode="w:xz", fmt=tarfile.PAX_FORMAT):
    with tarfile.open(str(path), mode, format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return str(path)


def listing(root, but):
    """Every path under root, bar the work directory: what an extraction must not change."""
    out = []
    for d, dirs, files in os.walk(str(root)):
        dirs[:] = [x for x in dirs if os.path.join(d, x) != str(but)]
        out += [os.path.relpath(os.path.join(d, x), str(root)) for x in dirs + files]
    return sorted(out)


@pytest.fixture
def work(tmp_path):
    w = tmp_path / "work"
    w.mkdir()
    return w


def refused(path, work, tmp_path):
    """The BundleError's line, after checking nothing appeared outside `work`."""
    before = listing(tmp_path, work)
    with pytest.raises(BundleError) as caught:
        open_bundle(str(path), str(work))
    assert listing(tmp_path, work) == before
    line = str(caught.value)
    assert "\n" not in line and "\x1b" not in line and line.startswith(str(path))
    return line


# -- good bundles ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["w:xz", "w:gz", "w:bz2", "w"])
def test_a_unitaudit_bundle_is_extracted_and_checked_whatever_its_compression(tmp_path, work, mode):
    path = write_tar(tmp_path / "bundle.data", unitaudit_entries(), mode)  # a name that says nothing
    opened = open_bundle(path, str(work))
    assert (opened.kind, opened.source, opened.top) == ("unitaudit", path, str(work / TOP))
    assert opened.manifest["schema"] == "unitaudit.bundle/1"
    for name, data in FILES.items():
        with open(os.path.join(opened.top, name), "rb") as f:
            assert f.read() == data
        assert stat.S_IMODE(os.lstat(os.path.join(opened.top, name)).st_mode) == 0o600
    assert stat.S_IMODE(os.lstat(os.path.join(opened.top, "root/etc")).st_mode) == 0o700
    x = opened.members["root/etc/logrotate.d/x"]
    assert (x.kind, x.mode, x.uid, x.uname, x.size, x.link_target) == ("file", 0o4755, 0, "root", len(FILES[x.path]), "")
    assert opened.members["manifest.json"].kind == "file" and opened.skipped == ()


def test_an_unpacked_unitaudit_bundle_is_checked_in_place(tmp_path, work):
    opened = open_bundle(write_tar(tmp_path / "b.tar.xz", unitaudit_entries()), str(work))
    other = tmp_path / "other"
    other.mkdir()
    again = open_bundle(opened.top, str(other))
    assert (again.kind, again.top, dict(again.members), again.manifest) == ("unitaudit", opened.top, {}, opened.manifest)
    assert os.listdir(str(other)) == []


def test_a_sos_report_keeps_its_symlinks_and_the_probe_resolves_them_inside_it(tmp_path, work):
    opened = open_bundle(write_tar(tmp_path / "sosreport-web1.tar.xz", sos_entries()), str(work))
    assert (opened.kind, opened.manifest) == ("sos", None)
    wants = "etc/systemd/system/multi-user.target.wants/x.service"
    assert os.readlink(os.path.join(opened.top, wants)) == "/lib/systemd/system/x.service"
    assert opened.members[wants][1:] == ("symlink", 0o777, 0, 0, "root", "root", "/lib/systemd/system/x.service", 0)
    probe = SystemProbe(opened.top)
    assert probe.resolve("/" + wants) == "/lib/systemd/system/x.service"
    assert probe.read_text("/" + wants) == "[Service]\nExecStart=/bin/false\n"
    assert probe.read_text("/etc/alias.service") == "[Service]\nExecStart=/bin/false\n"
    assert open_bundle(opened.top, str(tmp_path)).kind == "sos"  # the unpacked directory


def test_a_sos_hard_link_to_an_earlier_file_is_copied_and_special_files_are_skipped(tmp_path, work):
    entries = sos_entries() + [
        entry(SOS_TOP + "/etc/copy.service", kind=tarfile.LNKTYPE, link=SOS_TOP + "/lib/systemd/system/x.service"),
        entry(SOS_TOP + "/dev/null", kind=tarfile.CHRTYPE), entry(SOS_TOP + "/run/initctl", kind=tarfile.FIFOTYPE)]
    opened = open_bundle(write_tar(tmp_path / "s.tar.xz", entries), str(work))
    copy = os.path.join(opened.top, "etc/copy.service")
    assert not os.path.islink(copy) and open(copy, "rb").read() == b"[Service]\nExecStart=/bin/false\n"
    assert os.lstat(copy).st_ino != os.lstat(os.path.join(opened.top, "lib/systemd/system/x.service")).st_ino
    assert opened.skipped == (("dev/null", "a character device"), ("run/initctl", "a FIFO"))
    assert not os.path.exists(os.path.join(opened.top, "dev/null")) and "dev/null" not in opened.members


# -- files that are no bundle ---------------------------------------------------------------------
def test_what_is_not_a_readable_tar_is_one_line_naming_the_path(tmp_path, work):
    assert refused(tmp_path / "missing.tar.xz", work, tmp_path).endswith("no such file or directory")
    os.mkfifo(str(tmp_path / "fifo"))
    assert "is a FIFO (named pipe), not a bundle" in refused(tmp_path / "fifo", work, tmp_path)
    text = tmp_path / "notes.tar.xz"
    text.write_text("Dear support, please find attached the logs you asked for.\n" * 20)
    assert "not a tar archive" in refused(text, work, tmp_path)
    (tmp_path / "zero.tar").write_bytes(b"")
    assert "empty archive" in refused(tmp_path / "zero.tar", work, tmp_path)
    assert "empty archive" in refused(write_tar(tmp_path / "none.tar.xz", []), work, tmp_path)
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"\xfd7zXZ\x00" + b"\x01" * 100)
    assert "damaged xz data" in refused(junk, work, tmp_path)


def test_an_unreadable_bundle_says_permission_denied(tmp_path, work):
    """Root reads a file whatever its mode: as root, the scan runs as nobody."""
    top = tempfile.mkdtemp(prefix="unitaudit-unreadable-", dir="/tmp")  # pytest's tmp_path may be root-only
    try:
        os.chmod(top, 0o755)
        path = write_tar(os.path.join(top, "b.tar.xz"), unitaudit_entries())
        os.chmod(path, 0)
        p = unitaudit_as_nobody("scan", "--bundle", path)
        if p is None:
            pytest.skip("root reads a file whatever its mode, and this Python cannot run as nobody")
        assert p.returncode == ExitStatus.INCOMPLETE, p.stderr
        assert p.stderr.startswith("unitaudit: error: %s" % path) and "permission denied" in p.stderr, p.stderr
        assert len(p.stderr.splitlines()) == 1
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("mode", ["w:xz", "w:gz", "w:bz2", "w"])
def test_an_archive_cut_short_is_truncated(tmp_path, work, mode):
    big = {"journal.export": os.urandom(300000), "units.json": b"{}"}  # random: compression keeps it long
    data = open(write_tar(tmp_path / "whole", unitaudit_entries(big), mode), "rb").read()
    (tmp_path / "cut.tar.xz").write_bytes(data[:len(data) // 2])
    assert refused(tmp_path / "cut.tar.xz", work, tmp_path) == \
        "%s: truncated archive (the download or copy was cut short?)" % (tmp_path / "cut.tar.xz")


def test_a_plain_tar_cut_between_members_or_followed_by_junk_is_not_taken_as_whole(tmp_path, work):
    data = open(write_tar(tmp_path / "whole", unitaudit_entries(), "w"), "rb").read()
    end = data.rstrip(b"\0")
    cut = end[:len(end) + (-len(end)) % 512]  # every member, no end-of-archive blocks
    (tmp_path / "cut.tar").write_bytes(cut)
    assert "truncated archive" in refused(tmp_path / "cut.tar", work, tmp_path)
    (tmp_path / "junk.tar").write_bytes(cut + b"x" * 1024)
    (tmp_path / "work2").mkdir()
    assert "is not a tar header" in refused(tmp_path / "junk.tar", tmp_path / "work2", tmp_path)


# -- member names ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, why", [
    ("/etc/passwd", "has an absolute name"),
    (TOP + "/../../escaped", 'has a ".." component'),
    (TOP + "/root/..", 'has a ".." component'),
    ("other-top/x", "is not under the top directory %r: a bundle has one" % TOP),
    ("units.json", "is not under a top directory"),
])
def test_member_names_that_could_leave_the_top_directory_are_refused(tmp_path, work, name, why):
    hostile = [entry(name, b"owned\n")]
    entries = hostile + unitaudit_entries() if name == "units.json" else unitaudit_entries() + hostile
    path = write_tar(tmp_path / "b.tar.xz", entries)
    line = refused(path, work, tmp_path)
    assert why in line and repr(name) in line
    assert not (tmp_path / "escaped").exists() and not os.path.exists(os.path.join(str(tmp_path), "..", "escaped"))


def test_a_hostile_member_name_is_shown_escaped_on_one_line(tmp_path, work):
    name = "/\x1b[2J\x1b]0;pwned\x07\nunitaudit: all clear\r"
    line = refused(write_tar(tmp_path / "b.tar.xz", [entry(name, b"x")]), work, tmp_path)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\x07" not in line
    assert "\\x1b[2J" in line and "\\n" in line and "has an absolute name" in line


def test_an_empty_member_name_is_refused(tmp_path, work):
    path = write_tar(tmp_path / "c.tar", unitaudit_entries() + [entry("", b"x")], "w", tarfile.GNU_FORMAT)
    assert "has an empty name" in refused(path, work, tmp_path)


def test_a_member_given_twice_is_refused(tmp_path, work):
    entries = unitaudit_entries()
    path = write_tar(tmp_path / "b.tar.xz", entries + [entries[2]])
    assert "appears twice in the archive" in refused(path, work, tmp_path)
    path = write_tar(tmp_path / "c.tar.xz", entries + [entry(TOP + "/root/etc", b"now a file")])
    (tmp_path / "work2").mkdir()
    assert "clashes with an earlier member" in refused(path, tmp_path / "work2", tmp_path)
    path = write_tar(tmp_path / "d.tar.xz", entries + [entry(TOP + "/units.json/x", b"under a file")])
    (tmp_path / "work3").mkdir()
    assert "would be written through the file %r" % (TOP + "/units.json") in refused(path, tmp_path / "work3", tmp_path)


# -- links ----------------------------------------------------------------------------------------
def test_nothing_is_written_through_a_symlink_a_member_left(tmp_path, work):
    outside = tmp_path / "outside"
    outside.mkdir()
    entries = sos_entries() + [entry(SOS_TOP + "/etc/l", kind=tarfile.SYMTYPE, link=str(outside)),
                               entry(SOS_TOP + "/etc/l/evil", b"owned\n")]
    line = refused(write_tar(tmp_path / "s.tar.xz", entries), work, tmp_path)
    assert "would be written through the symbolic link %r" % (SOS_TOP + "/etc/l") in line
    assert os.listdir(str(outside)) == []


@pytest.mark.parametrize("link", ["../../outside", "../../../etc/passwd", "a/../../..", "../.."])
def test_a_relative_symlink_leaving_the_top_directory_is_refused(tmp_path, work, link):
    entries = sos_entries() + [entry(SOS_TOP + "/etc/up", kind=tarfile.SYMTYPE, link=link)]
    line = refused(write_tar(tmp_path / "s.tar.xz", entries), work, tmp_path)
    assert "escapes the top directory" in line and repr(link) in line
    assert not os.path.lexists(str(work / SOS_TOP / "etc" / "up"))


@pytest.mark.parametrize("kind, link, what", [
    (tarfile.SYMTYPE, "/lib/systemd/system/x.service", "a symbolic link"),
    (tarfile.LNKTYPE, TOP + "/units.json", "a hard link"),
    (tarfile.FIFOTYPE, "", "a FIFO"),
])
def test_a_unitaudit_bundle_holds_only_files_and_directories(tmp_path, work, kind, link, what):
    path = write_tar(tmp_path / "b.tar.xz", unitaudit_entries() + [entry(TOP + "/odd", kind=kind, link=link)])
    assert "member %r is %s: a unitaudit bundle holds only files" % (TOP + "/odd", what) in refused(path, work, tmp_path)


def test_a_hard_link_to_no_earlier_file_is_refused(tmp_path):
    for n, target in enumerate([SOS_TOP + "/later", "/etc/shadow", SOS_TOP + "/etc", SOS_TOP + "/../x"]):
        entries = sos_entries() + [entry(SOS_TOP + "/etc/h", kind=tarfile.LNKTYPE, link=target),
                                   entry(SOS_TOP + "/later", b"x")]
        work = tmp_path / ("work%d" % n)
        work.mkdir()
        line = refused(write_tar(tmp_path / ("s%d.tar.xz" % n), entries), work, tmp_path)
        assert "is a hard link to %r, which is not an earlier file" % target in line


# -- bombs ----------------------------------------------------------------------------------------
def test_bounds_on_bytes_members_and_headers(tmp_path, work, monkeypatch):
    path = write_tar(tmp_path / "b.tar.xz", unitaudit_entries())
    monkeypatch.setattr(extract, "MAX_TOTAL_BYTES", sum(map(len, FILES.values())))  # manifest.json is more
    assert "bytes of files (an archive bomb?)" in refused(path, work, tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(extract, "MAX_MEMBERS", 4)
    (tmp_path / "work2").mkdir()
    assert "more than 4 members" in refused(path, tmp_path / "work2", tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(extract, "MAX_HEADER_BYTES", 64 << 10)
    long_name = TOP + "/" + "d/" * 40000 + "x"  # a GNU long name tarfile would hold in memory whole
    path = write_tar(tmp_path / "long.tar.xz", unitaudit_entries() + [entry(long_name, b"x")], fmt=tarfile.GNU_FORMAT)
    (tmp_path / "work3").mkdir()
    assert "tar headers are larger than 65536 bytes" in refused(path, tmp_path / "work3", tmp_path)
    deep = TOP + "/" + "d/" * 100 + "x"  # a tree the caller's shutil.rmtree could not remove on 3.7-3.11
    path = write_tar(tmp_path / "deep.tar.xz", unitaudit_entries() + [entry(deep, b"x")])
    (tmp_path / "work4").mkdir()
    assert "is more than 100 directories deep" in refused(path, tmp_path / "work4", tmp_path)


# -- the manifest ---------------------------------------------------------------------------------
def test_a_bundle_from_a_newer_unitaudit_is_refused(tmp_path, work):
    manifest = manifest_of(FILES, "unitaudit.bundle/2")
    line = refused(write_tar(tmp_path / "b.tar.xz", unitaudit_entries(manifest=manifest)), work, tmp_path)
    assert line == ("%s: made by a newer unitaudit (bundle schema 2); this one reads up to 1: upgrade unitaudit"
                    % (tmp_path / "b.tar.xz"))


@pytest.mark.parametrize("change, why", [
    (lambda f, m: f.update({"units.json": b'{"x.service": {"ActiveState": "active"}}\n'}),
     "member 'units.json' does not match the manifest's sha256 (the bundle was altered or damaged)"),
    (lambda f, m: f.update({"units.json": b"{}"}), "member 'units.json' is 2 bytes, the manifest says"),
    (lambda f, m: f.update({"root/etc/shadow": b"x"}), "member 'root/etc/shadow' is not listed in the manifest"),
    (lambda f, m: f.pop("probe.json"), "member 'probe.json' listed in the manifest is missing"),
    (lambda f, m: m.update(schema="unitaudit.bundle/0"), "unknown bundle schema 'unitaudit.bundle/0'"),
    (lambda f, m: m.update(schema="other/1"), "neither a unitaudit bundle (its manifest.json names schema 'other/1')"),
    (lambda f, m: m["members"].update({"../x": {"size": 1, "sha256": "0" * 64}}), "lists member '../x' malformed"),
    (lambda f, m: m.pop("members"), 'manifest.json has no "members" object'),
])
def test_a_bundle_that_does_not_match_its_manifest_is_refused_as_archive_and_as_directory(tmp_path, work, change, why):
    files = dict(FILES)
    manifest = manifest_of(files)
    change(files, manifest)
    path = write_tar(tmp_path / "b.tar.xz", unitaudit_entries(files, manifest))
    assert why in refused(path, work, tmp_path)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(path) as tar:
        tar.extractall(str(unpacked))  # our own test data, made just above
    assert why in refused(unpacked / TOP, work, tmp_path)


@pytest.mark.parametrize("text, why", [
    (b"", "manifest.json is not JSON"), (b"\xff{}", "manifest.json is not JSON"), (b"[1]", "not a JSON object"),
    (b"[" * 100000, "manifest.json is not JSON"),
])
def test_a_manifest_that_is_no_json_object_is_refused(tmp_path, work, text, why):
    entries = [e for e in unitaudit_entries() if not e[0].name.endswith("manifest.json")]
    path = write_tar(tmp_path / "b.tar.xz", entries + [entry(TOP + "/manifest.json", text)])
    assert why in refused(path, work, tmp_path)


def test_neither_kind_and_an_unpacked_bundle_with_a_symlink_are_refused(tmp_path, work):
    path = write_tar(tmp_path / "b.tar.xz", [entry("top/etc/hostname", b"web1\n")])
    assert refused(path, work, tmp_path) == ("%s is neither a unitaudit bundle (no manifest.json) nor a sos report "
                                             "(no sos_commands/)" % path)
    top = tmp_path / "unpacked"
    top.mkdir()
    (top / "manifest.json").write_bytes(json.dumps(manifest_of(FILES)).encode())
    for name, data in FILES.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_bytes(data)
    assert open_bundle(str(top), str(work)).kind == "unitaudit"
    (top / "root" / "passwd").symlink_to("/etc/passwd")
    assert "'root/passwd' is a symlink: a unitaudit bundle holds only files" in refused(top, work, tmp_path)
    os.unlink(str(top / "root" / "passwd"))
    os.rename(str(top / "manifest.json"), str(top / "real.json"))
    (top / "manifest.json").symlink_to(top / "real.json")
    assert "manifest.json cannot be read: it is a symbolic link" in refused(top, work, tmp_path)
