"""The package's carried libraries, checked without building it: the lock file pins each one
exactly, by hash, and debian/copyright names each with a licence whose text it holds.  The built
package is checked in tests/lab/test_package_live.py."""
import re

from builders import ROOT

LOCK = ROOT / "packaging" / "vendor" / "requirements.lock"
COPYRIGHT = ROOT / "packaging" / "debian" / "copyright"


def pins():
    out = {}
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9._-]+)==([0-9][^ ]*) --hash=sha256:([0-9a-f]{64})", line.strip())
        assert m, "not an exact, hashed pin: %r" % line
        out[m.group(1)] = m.group(2)
    return out


def paragraphs():
    return [dict(re.findall(r"^([A-Za-z-]+): ?(.*(?:\n .*)*)", p, re.M))
            for p in re.split(r"\n\s*\n", COPYRIGHT.read_text()) if p.strip()]


def test_every_carried_library_is_pinned_exactly_by_hash():
    carried = pins()
    # what the program imports, and what those need on Python 3.7 (click: importlib-metadata)
    assert {"typer", "click", "rich", "dbus-next", "tomli", "importlib-metadata"} <= set(carried)


def test_every_carried_library_has_its_licence_in_debian_copyright():
    paras = paragraphs()
    files = {p["Files"]: p for p in paras if "Files" in p}
    texts = {p["License"].split("\n", 1)[0]: p["License"] for p in paras if "Files" not in p and "License" in p}
    for name in pins():
        wheel = "vendor/wheels/%s-*" % name.replace("-", "_")
        assert wheel in files, "no Files paragraph for %s" % wheel
        licence = files[wheel]["License"].strip()
        assert licence in texts, "licence %s of %s has no text" % (licence, name)
        assert files[wheel]["Copyright"].strip(), name
    for name, text in texts.items():
        # the full text, or (Apache-2.0) where Debian keeps it
        assert len(text.splitlines()) > 5 or "/usr/share/common-licenses/" in text, name
