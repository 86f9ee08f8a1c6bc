"""--since / --until values, with `now` passed in."""
import calendar

import pytest

from unitaudit.errors import UsageError
from unitaudit.util.times import duration_seconds, parse_time

NOW = calendar.timegm((2024, 1, 16, 12, 0, 0))  # TZ=UTC in tests (conftest)


@pytest.mark.parametrize("value, expected", [
    ("-2h", NOW - 7200),
    ("2h", NOW - 7200),
    ("24h", NOW - 86400),
    ("30m", NOW - 1800),
    ("7d", NOW - 7 * 86400),
    ("1w", NOW - 7 * 86400),
    # the one duration grammar (util.times.duration_seconds), which the configuration reads too
    ("-2 hours", NOW - 7200),
    ("90min", NOW - 5400),
    ("-1 day", NOW - 86400),
    ("3days", NOW - 3 * 86400),
    ("2 weeks", NOW - 14 * 86400),
    ("45sec", NOW - 45),
    ("-.5d", NOW - 43200),
    ("now", NOW),
    ("today", calendar.timegm((2024, 1, 16, 0, 0, 0))),
    ("yesterday", calendar.timegm((2024, 1, 15, 0, 0, 0))),
    ("@1700000000", 1700000000),
    ("2024-01-16", calendar.timegm((2024, 1, 16, 0, 0, 0))),
    ("2024-01-16 05:45", calendar.timegm((2024, 1, 16, 5, 45, 0))),
    ("2024-01-16T05:45:03", calendar.timegm((2024, 1, 16, 5, 45, 3))),
    ("2024-01-16T05:45:03+08:00", calendar.timegm((2024, 1, 15, 21, 45, 3))),
    ("2024-01-16T05:45:03Z", calendar.timegm((2024, 1, 16, 5, 45, 3))),
    # the same on Python 3.7 as on 3.13 (datetime.fromisoformat reads these only from 3.11 on)
    ("2024-01-16T05:45:03+0800", calendar.timegm((2024, 1, 15, 21, 45, 3))),
    ("2024-01-16 05:45:03.5-05", calendar.timegm((2024, 1, 16, 10, 45, 3)) + 0.5),
    ("2024-01-16 05:45:03,123456789", calendar.timegm((2024, 1, 16, 5, 45, 3)) + 0.123456),
])
def test_forms(value, expected):
    assert parse_time(value, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["last tuesday", "2024-13-01", "-2x", "", "@abc", "2024-02-30", "2H", "--2h", "2h ago",
                                   "2024-01-16 24:00", "2024-01-16T05:45+24:00", "20240116", "2024-01-16 5:45"])
def test_bad_values_are_usage_errors(value):
    with pytest.raises(UsageError, match="--until"):
        parse_time(value, NOW, "--until")


@pytest.mark.parametrize("text, seconds", [
    ("24h", 86400.0), (" 1.5 hours ", 5400.0), ("5.m", 300.0), (".5d", 43200.0), ("1 week", 604800.0),
    ("-1h", None), ("1", None), ("1 h 2", None), ("1e3s", None), ("inf h", None), ("", None),
])
def test_the_duration_grammar(text, seconds):
    assert duration_seconds(text) == seconds
