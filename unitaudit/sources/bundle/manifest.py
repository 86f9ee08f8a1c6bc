"""A bundle's top directory told apart (unitaudit's or a sos report) and checked against its
manifest: the schema this unitaudit reads, every file listed with its size and sha256, nothing
unlisted.  Files are read without following symbolic links; names from the bundle are shown
escaped (they may hold newlines or terminal escapes)."""
import hashlib
import json
import os
import re
import stat
from typing import Dict, Optional, Tuple

from unitaudit.errors import BundleError
from unitaudit.util.files import file_kind, write_all

SCHEMA_PREFIX = "unitaudit.bundle/"
SCHEMA_VERSION = 1
MAX_MANIFEST_BYTES = 16 << 20
MAX_FILES = 200000  # in an unpacked directory, as extract.MAX_MEMBERS in an archive
MANIFEST = "manifest.json"
SOS_MARK = "sos_commands"
CHUNK = 1 << 20
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
_SHOWN_CHARS = 200
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def shown(text: str) -> str:
    """A name from a bundle, quoted, escaped (it may hold newlines, terminal escapes), cut short."""
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


def said(text: str) -> str:
    """The user's own path, or an exception's text: as it is when printable, else escaped."""
    return text if text.isprintable() else repr(text)


def identify(top: str, where: str) -> Tuple[str, Optional[dict]]:
    """("unitaudit", its manifest) or ("sos", None), told by what the top directory holds."""
    manifest = read_manifest(top, where)
    schema = manifest.get("schema") if manifest is not None else None
    if isinstance(schema, str) and schema.startswith(SCHEMA_PREFIX):
        number = schema[len(SCHEMA_PREFIX):]
        if not re.fullmatch(r"[0-9]{1,6}", number) or int(number) < 1:
            raise BundleError("%s: manifest.json names an unknown bundle schema %s" % (where, shown(schema)))
        if int(number) > SCHEMA_VERSION:
            raise BundleError("%s: made by a newer unitaudit (bundle schema %d); this one reads up to %d: "
                              "upgrade unitaudit" % (where, int(number), SCHEMA_VERSION))
        return "unitaudit", manifest
    if os.path.isdir(os.path.join(top, SOS_MARK)) and not os.path.islink(os.path.join(top, SOS_MARK)):
        return "sos", None
    raise BundleError("%s is neither a unitaudit bundle (%s) nor a sos report (no sos_commands/)" % (
        where, "no manifest.json" if manifest is None else "its manifest.json names schema %s" % shown(str(schema))))


def read_manifest(top: str, where: str) -> Optional[dict]:
    """manifest.json parsed, None when there is none; never read through a symbolic link."""
    try:
        fd = os.open(os.path.join(top, MANIFEST), READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise BundleError("%s: manifest.json cannot be read: %s" % (
            where, "it is a symbolic link" if os.path.islink(os.path.join(top, MANIFEST)) else e.strerror or e)) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise BundleError("%s: manifest.json is not a regular file" % where)
        data = f.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError("%s: manifest.json is larger than %d bytes" % (where, MAX_MANIFEST_BYTES))
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BundleError("%s: manifest.json is not JSON: %s" % (where, said(str(e)))) from None
    if not isinstance(manifest, dict):
        raise BundleError("%s: manifest.json is not a JSON object" % where)
    return manifest


def check_members(where: str, manifest: dict, present: Dict[str, Tuple[int, str]]) -> None:
    """Every file is listed in the manifest, every listed file there with its size and sha256."""
    listed = manifest.get("members")
    if not isinstance(listed, dict):
        raise BundleError("%s: manifest.json has no \"members\" object" % where)
    for name in sorted(set(present) - set(listed) - {MANIFEST}):
        raise BundleError("%s: member %s is not listed in the manifest (the bundle was altered or damaged)"
                          % (where, shown(name)))
    for name, entry in sorted(listed.items()):
        size, digest = (entry.get("size"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if "\0" in name or name == MANIFEST or any(p in ("", ".", "..") for p in name.split("/")) or \
                type(size) is not int or size < 0 or not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            raise BundleError("%s: manifest.json lists member %s malformed (a relative path, with a size "
                              "and a sha256)" % (where, shown(name)))
        damaged = "(the bundle was altered or damaged)"
        if name not in present:
            raise BundleError("%s: member %s listed in the manifest is missing or not a file %s"
                              % (where, shown(name), damaged))
        if present[name][0] != size:
            raise BundleError("%s: member %s is %d bytes, the manifest says %d %s"
                              % (where, shown(name), present[name][0], size, damaged))
        if present[name][1] != digest:
            raise BundleError("%s: member %s does not match the manifest's sha256 %s" % (where, shown(name), damaged))


def hash_tree(top: str, where: str) -> Dict[str, Tuple[int, str]]:
    """(size, sha256) of every file under an unpacked unitaudit bundle, which holds files and
    directories only: a symbolic link or a special file is refused, never followed."""
    found: Dict[str, Tuple[int, str]] = {}
    pending = [""]
    seen = 0
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(os.path.join(top, directory) if directory else top) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError as e:
            raise BundleError("%s: %s cannot be listed: %s" % (where, shown(directory or "."), e.strerror or e)) from None
        for entry in listed:
            rel = directory + "/" + entry.name if directory else entry.name
            seen += 1
            if seen > MAX_FILES:
                raise BundleError("%s: more than %d files" % (where, MAX_FILES))
            if entry.is_dir(follow_symlinks=False):
                pending.append(rel)
            elif entry.is_file(follow_symlinks=False):
                try:  # O_NOFOLLOW: a file swapped for a link meanwhile is not followed
                    with os.fdopen(os.open(entry.path, READ_FLAGS), "rb") as f:
                        found[rel] = digest(f)
                except OSError as e:
                    raise BundleError("%s: member %s cannot be read: %s" % (where, shown(rel), e.strerror or e)) from None
            else:
                raise BundleError("%s: %s is %s: a unitaudit bundle holds only files and directories" % (
                    where, shown(rel), file_kind(entry.stat(follow_symlinks=False).st_mode)))
    return found


def digest(source, fd: Optional[int] = None) -> Tuple[int, str]:
    """(size, sha256) of what `source` holds, read in chunks, and copied to `fd` when given."""
    digest = hashlib.sha256()
    size = 0
    for data in iter(lambda: source.read(CHUNK), b""):
        size += len(data)
        digest.update(data)
        if fd is not None:
            write_all(fd, data)
    return size, digest.hexdigest()
