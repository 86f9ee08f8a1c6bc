"""The bundle on disk: members staged in a private temporary directory, hashed into the manifest,
packed into one .tar.xz written next to its destination and renamed over it (atomic: a reader
never sees half a bundle).  The format is in sources/bundle/manifest.py's terms
("unitaudit.bundle/1"): files and directories only, one top directory, every member listed with
its size and sha256.
"""
import json
import os
import tarfile
import time
from typing import Callable, Dict, Optional

from unitaudit.errors import UnitauditError
from unitaudit.model import Progress
from unitaudit.sources.bundle.manifest import MANIFEST, READ_FLAGS, digest


class Staging:
    """The bundle's top directory being filled.  `redact_text` / `redact_data`: applied to every
    member's content and every path inside the copied tree (collect --redact)."""

    def __init__(self, top: str, redact_data: Optional[Callable[[bytes], bytes]] = None,
                 redact_text: Optional[Callable[[str], str]] = None) -> None:
        self.top = top
        self.redact_data = redact_data
        self.redact_text = redact_text
        os.makedirs(top, mode=0o700)

    def path(self, relative: str) -> str:
        return os.path.join(self.top, relative)

    def add_bytes(self, relative: str, data: bytes) -> None:
        if self.redact_data is not None:
            data = self.redact_data(data)
        target = self.path(relative)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        with open(target, "xb") as f:
            f.write(data)

    def add_json(self, relative: str, value: object) -> None:
        text = json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)
        if self.redact_text is not None:
            text = self.redact_text(text)
        with open(self.path(relative), "x", encoding="utf-8") as f:
            f.write(text + "\n")

    def copy_in(self, machine_path: str, data: bytes) -> None:
        """A file copied off the machine, at its path under root/."""
        shown = self.redact_text(machine_path) if self.redact_text is not None else machine_path
        self.add_bytes("root" + shown, data)

    def members(self) -> Dict[str, Dict[str, object]]:
        """Every file staged but the manifest: its size and sha256."""
        out: Dict[str, Dict[str, object]] = {}
        for directory, _dirs, names in os.walk(self.top):
            for name in names:
                full = os.path.join(directory, name)
                rel = os.path.relpath(full, self.top).replace(os.sep, "/")
                if rel == MANIFEST:
                    continue
                with os.fdopen(os.open(full, READ_FLAGS), "rb") as f:
                    size, sha = digest(f)
                out[rel] = {"size": size, "sha256": sha}
        return dict(sorted(out.items()))

    def size(self) -> int:
        return sum(os.path.getsize(os.path.join(d, n)) for d, _ds, ns in os.walk(self.top) for n in ns)


def pack(staging: Staging, destination: str, created: float, progress: Optional[Progress] = None) -> int:
    """The staged top directory as DESTINATION (.tar.xz), atomically; its size in bytes.
    Owners, modes and times in the archive are fixed (root, 0644/0755, `created`): the machine's
    real ones are in probe.json, and the same content packs to the same archive."""
    total = staging.size()
    name = os.path.basename(staging.top)
    temporary = "%s.%d.partial" % (destination, os.getpid())
    done = 0
    try:
        with tarfile.open(temporary, "w:xz", format=tarfile.PAX_FORMAT) as tar:
            for directory, dirs, files in os.walk(staging.top):
                dirs.sort()
                rel_dir = os.path.relpath(directory, staging.top)
                arc_dir = name if rel_dir == "." else name + "/" + rel_dir.replace(os.sep, "/")
                tar.addfile(_info(arc_dir, tarfile.DIRTYPE, 0, created))
                for f in sorted(files):
                    full = os.path.join(directory, f)
                    size = os.path.getsize(full)
                    with open(full, "rb") as src:
                        tar.addfile(_info(arc_dir + "/" + f, tarfile.REGTYPE, size, created), src)
                    done += size
                    if progress is not None:
                        progress("compressing", done, total)
        os.replace(temporary, destination)
    except OSError as e:
        _remove(temporary)
        raise UnitauditError("cannot write %s: %s" % (destination, e.strerror or e)) from None
    except BaseException:
        _remove(temporary)
        raise
    return os.path.getsize(destination)


def _info(name: str, kind: bytes, size: int, created: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = int(created)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def stamp(created: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created))
