"""The grammars a name or a path must match before unitaudit looks at it or acts on it.

Names and paths may come from log text or a bundle, which anybody can write: nothing becomes a
path, a D-Bus argument or a command argument unless it matches its grammar here.
"""
import posixpath
import re

# A unit name as systemd prints it before ": " (unit_name_is_valid(): letters, digits, ":-_.\\@",
# then a known suffix).  Nothing that fails this grammar is ever treated as a unit.
UNIT_SUFFIXES = (
    "service|socket|target|device|mount|automount|swap|timer|path|slice|scope"
)
UNIT_RE = re.compile(r"[A-Za-z0-9:_.\\@-]{1,250}\.(?:%s)" % UNIT_SUFFIXES)
MODULE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PACKAGE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")  # Debian policy 5.6.1
KERNEL_RELEASE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}")
_COMPONENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~@-]{0,127}")


def is_unit_name(name: object) -> bool:
    return isinstance(name, str) and UNIT_RE.fullmatch(name) is not None


def is_module_name(name: object) -> bool:
    return isinstance(name, str) and MODULE_NAME_RE.fullmatch(name) is not None


def is_package_name(name: object) -> bool:
    return isinstance(name, str) and PACKAGE_NAME_RE.fullmatch(name) is not None


def is_kernel_release(name: object) -> bool:
    return isinstance(name, str) and KERNEL_RELEASE_RE.fullmatch(name) is not None


def is_safe_component(name: object) -> bool:
    """One path component taken from a file's content (e.g. a dkms package name)."""
    return isinstance(name, str) and _COMPONENT_RE.fullmatch(name) is not None


def is_safe_path(path: object) -> bool:
    """Absolute, normalized, no "..": what a path from log text must be before we look at it."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        return False
    if "\0" in path or len(path) > 4096:
        return False
    return posixpath.normpath(path) == path and ".." not in path.split("/")


def check_path(path: object) -> str:
    """`path` when it is a safe path other than "/" itself, else ValueError: nothing taken from a
    recipe or a D-Bus reply may walk out of the directory it names, or name the root."""
    if not is_safe_path(path) or path == "/":
        raise ValueError("not an absolute, normalized path (no .., //, . or trailing /): %r" % (path,))
    return path  # type: ignore[return-value]
