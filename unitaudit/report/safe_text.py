"""Text from a log, a bundle or a unit property, made safe for a terminal and a human report.

Any local user can log an escape sequence (`logger`, `systemd-cat`), and it would reach the
table's cause column or a `--verbose` evidence line, where a terminal obeys it.  `safe()` writes
such text the way systemd does when it shows log text it cannot print (its
utf8_escape_non_printable, used by `systemctl status` and `journalctl --all`):

  - a control character (every C0 one, tab and newline included: a report line is one line; DEL;
    every C1 one) becomes `\\x` and two lowercase hex digits per byte of its UTF-8 encoding:
    ESC is the four characters `\\x1b`, CSI (U+009B) is `\\xc2\\x9b`;
  - an invalid byte (a lone surrogate, as Python decodes a byte that is not UTF-8 with
    surrogateescape) becomes U+FFFD, the replacement character;
  - everything else, a backslash included, is kept (as systemd keeps it).

Rich markup is not touched here: the human reports hand log text to rich only inside a
`rich.text.Text`, which rich never parses for markup, so `[bold]` prints as `[bold]`.

The JSON documents keep the original text (JSON escapes control characters itself); `json_text`
only makes invalid bytes valid (see json_out.py).

`error_line` is the one line every failed command ends in, escaped the same way: a path or log
text inside it (a file named with an escape sequence) must not drive the terminal either.
"""
import re
import textwrap
from typing import Optional

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(m) -> str:
    c = m.group()
    return "".join("\\x%02x" % b for b in c.encode("utf-8"))


def safe(text) -> str:
    """`text` (anything; None is "") with control characters escaped and invalid bytes replaced."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    if not _UNSAFE.search(text):
        return text
    return _CONTROL.sub(_escape, valid_text(text))


def valid_text(text: str) -> str:
    """`text` as valid Unicode: bytes that were not UTF-8 (surrogateescape's U+DC80..U+DCFF) are
    read as UTF-8 once more (two escaped bytes may form one character) and what still is not
    becomes U+FFFD, as does any other lone surrogate.  Control characters are kept."""
    if not _SURROGATE.search(text):
        return text
    text = re.sub("[\ud800-\udc7f\udd00-\udfff]", "\ufffd", text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def error_line(message: object, width: Optional[int] = None) -> str:
    """`unitaudit: error: MESSAGE`, escaped; wrapped at `width` (a terminal's, at most 100
    columns) when given, else one line, for a log or a pipe."""
    line = "unitaudit: error: %s" % safe(str(message))
    if width is None:
        return line
    return "\n".join(textwrap.wrap(line, width=min(width, 100), subsequent_indent="  ", break_long_words=False,
                                   break_on_hyphens=False)) or line
