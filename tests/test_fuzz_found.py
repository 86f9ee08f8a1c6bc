"""Crashes the fuzz suite (test_fuzz.py) found, each as a plain regression test on its smallest input.

Each was found by the fuzz suite and fixed since; the test keeps it fixed.  A new crash the
fuzz finds gets a test here the same way.

"Crash": an exception other than the documented errors (unitaudit/errors.py) -- the text parser
raises nothing, the time parser UsageError, the config loader ConfigError, the recipe loader
RecipeError, the journal source SourceError.
"""
import os

import pytest

from builders import example
from unitaudit.config import load_config
from unitaudit.errors import ConfigError, RecipeError, SourceError, UsageError
from unitaudit.remediation.recipes import load_recipes
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.textlog.lines import LineParser
from unitaudit.util.times import parse_time

HUGE = "1" * 4301  # one digit over CPython's int <-> str limit (sys.get_int_max_str_digits(), 3.7.14+)
BODY = b" host systemd[1]: foo.service: Failed with result 'exit-code'."


# -- text parser: never raises ---------------------------------------------------------------------
@pytest.mark.parametrize("stamp", ["Jan  4 17:30:14.%s" % HUGE, "2024-01-04T17:30:14.%s+08:00" % HUGE],
                         ids=["short-precise", "rfc3339"])
def test_text_line_with_a_4301_digit_fraction_is_not_a_crash(stamp):
    LineParser(1705383903.0).parse(stamp.encode() + BODY)  # an Event or None: either is fine


# -- time parser: UsageError only (fixed) --------------------------------------------------------------
@pytest.mark.parametrize("value", ["0001-01-01T00:00+08:00", "9999-12-31T23:59-23:59"])
def test_a_date_pushed_out_of_datetime_range_by_its_offset_is_a_usage_error(value):
    """Found by fuzzing: was OverflowError (astimezone) instead of UsageError."""
    with pytest.raises(UsageError):
        parse_time(value, 1705406400.0, "--since")


# -- config loader: ConfigError only -------------------------------------------------------------------
def _config(tmp_path, text: str) -> str:
    path = tmp_path / "unitaudit.toml"
    path.write_text(text)
    return str(path)


def test_config_with_a_4301_digit_integer_is_a_config_error(tmp_path):
    """Found by fuzzing: was ValueError out of tomllib/tomli (int max str digits) through load_config."""
    with pytest.raises(ConfigError):
        load_config(_config(tmp_path, "[thresholds]\nrestart_burst = %s\n" % HUGE))


def test_config_with_a_400_digit_duration_is_a_config_error(tmp_path):
    """Found by fuzzing: was OverflowError (float() of the integer) in parse_duration."""
    with pytest.raises(ConfigError):
        load_config(_config(tmp_path, "[scan]\nwindow = 1%s\n" % ("0" * 400)))


# -- recipe loader: RecipeError only -----------------------------------------------------------------
def test_recipe_with_a_4301_digit_integer_is_a_recipe_error(tmp_path):
    (tmp_path / "x.toml").write_text('id = "x"\npriority = %s\n' % HUGE)
    with pytest.raises(RecipeError):
        load_recipes([str(tmp_path)], euid=1000)


# -- journal source: SourceError (or a warning) only -----------------------------------------------------
JOURNAL = example("seed-loops", "journal", "system.journal").read_bytes()


def _read_damaged(tmp_path, data: bytes, **kw) -> None:
    path = tmp_path / "system.journal"
    path.write_bytes(data)
    try:
        src = JournalSource(files=[str(path)], **kw)
        list(src.events())
        src.stats()
    except SourceError:
        pass


def _patched(needle: bytes, at: int, value: int) -> bytes:
    """The recorded journal with the byte `at` after the first `needle` set to `value`."""
    i = JOURNAL.find(needle)
    assert i >= 0, needle
    b = bytearray(JOURNAL)
    b[i + at] = value
    return bytes(b)


def test_journal_entry_without_its_message_is_not_a_crash(tmp_path):
    # "MESSAGE=" -> "MMSSAGE=" in one of PID 1's restart lines
    _read_damaged(tmp_path, _patched(b"MESSAGE=deepin-anything-monitor.service: ", 1, ord("M")))


def test_journal_exit_entry_without_its_command_is_not_a_crash(tmp_path):
    _read_damaged(tmp_path, _patched(b"COMMAND=", 1, ord("X")))


def test_journal_command_that_is_not_utf8_is_not_a_crash(tmp_path):
    _read_damaged(tmp_path, _patched(b"COMMAND=", len(b"COMMAND=") + 1, 0xFF))


def test_journal_data_object_with_unknown_compression_is_not_a_crash(tmp_path):
    b = bytearray(JOURNAL)
    assert int.from_bytes(JOURNAL[12:16], "little") & 16, "the recorded journal is no longer in compact layout"
    i = JOURNAL.find(b"_PID=")
    while i >= 0:
        if JOURNAL[i - 72] == 1:  # the payload of a DATA object (type 1; compact layout: 72 bytes of header)
            b[i - 71] = 0xFF  # its flags: compressed with an unknown algorithm
        i = JOURNAL.find(b"_PID=", i + 1)
    _read_damaged(tmp_path, bytes(b))


@pytest.mark.parametrize("cursor", ["garbage", "s<45b225683c584493b21dfa286c23f820;i=2ca"])
def test_an_invalid_cursor_from_the_last_run_is_not_a_crash(tmp_path, cursor):
    """Found by fuzzing: was ValueError('Invalid cursor') from seek_cursor in JournalSource._bounds."""
    _read_damaged(tmp_path, JOURNAL, after_cursor=(cursor, 1700000000.0))


def test_the_recorded_journal_reads_cleanly(tmp_path):
    """The control: the undamaged file reads without an error, so the tests above test the damage."""
    path = tmp_path / "system.journal"
    path.write_bytes(JOURNAL)
    src = JournalSource(files=[str(path)])
    assert list(src.events())
    assert os.path.getsize(str(path)) == len(JOURNAL)

