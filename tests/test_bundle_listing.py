"""sources/bundle/listing.py on the `ls -alRh /var/log/` a sos report of the seed's lab kept
(examples/sos-seed), and on listing lines it must not read."""
import glob
import tarfile

from unitaudit.sources.bundle.listing import LOG_LISTING, directories


def _recorded_listing() -> str:
    tarball = glob.glob("examples/sos-seed/sosreport-*.tar.xz")[0]
    with tarfile.open(tarball) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(LOG_LISTING))
        return tar.extractfile(member).read().decode()


def test_the_directories_of_the_recorded_listing_with_their_modes_and_owners():
    found = directories(_recorded_listing())
    printer = found["/var/log/mirror/printer"]
    assert (printer.mode_octal, printer.mode_text, printer.owner, printer.uid, printer.gid) == \
        ("0777", "drwxrwxrwx", "root", 0, 0)
    assert printer.world_writable
    assert found["/var/log/mirror"].mode_octal == "0755"
    assert found["/var/log"].mode_octal == "0755"  # "/var/log/:" names it with its slash
    assert all(not info.world_writable for path, info in found.items() if path != "/var/log/mirror/printer")


def test_special_bits_names_and_what_is_not_read():
    text = "\n".join([
        "/var/log/a:", "drwxrwsr-t+ 2 root adm 4.0K Dec  7 17:33 .",
        "/var/log/b:", "drwxr-x--- 2 syslog adm 4.0K Dec  7 17:33 .",
        "/var/log/c:", "-rw-r--r-- 1 root root 1 Dec  7 17:33 .",   # not a directory's line
        "../escape:", "drwxrwxrwx 2 root root 4.0K Dec  7 17:33 .",  # not an absolute path
        "/var/log/d/../e:", "drwxrwxrwx 2 root root 4.0K Dec  7 17:33 .",
        "/var/log/f:", "total 0", "drwxrwxrwx 2 root root 4.0K Dec  7 17:33 ..",
    ])
    found = directories(text)
    assert sorted(found) == ["/var/log/a", "/var/log/b"]
    assert found["/var/log/a"].mode_octal == "3775" and found["/var/log/a"].gid is None
    assert (found["/var/log/b"].owner, found["/var/log/b"].uid) == ("syslog", None)
