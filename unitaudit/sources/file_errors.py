"""Files named on the command line: why one cannot be read, worded once for every source."""
from contextlib import contextmanager
from typing import Iterator, Optional

from unitaudit.errors import SourceError


@contextmanager
def worded_file_errors(path: str, denied: str = "permission denied", directory: Optional[str] = None,
                       other: bool = False) -> Iterator[None]:
    """The OSError of opening or reading `path` as a SourceError that says what to do: `denied`
    is said of a permission error, `directory` (when given) of a directory; any other OSError is
    worded "cannot read" when `other`, else left as it is."""
    try:
        yield
    except OSError as e:
        worded = _wording(e, path, denied, directory, other)
        if worded is None:
            raise
        raise SourceError(worded) from None


def _wording(e: OSError, path: str, denied: str, directory: Optional[str], other: bool) -> Optional[str]:
    if isinstance(e, FileNotFoundError):
        return "%s: no such file" % path
    if isinstance(e, IsADirectoryError) and directory is not None:
        return "%s is a directory: %s" % (path, directory)
    if isinstance(e, PermissionError):
        return "%s: %s" % (path, denied)
    if other:
        return "%s: cannot read: %s" % (path, e.strerror or e)
    return None
