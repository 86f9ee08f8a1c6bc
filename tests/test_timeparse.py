"""--since / --until values, with `now` passed in."""
import calendar

import pytest

from unitaudit.errors import UsageError
from unitaudit.timeparse import parse_time

NOW = calendar.timegm((2024, 1, 16, 12, 0, 0))  # TZ=UTC in tests (conftest)


@pytest.mark.parametrize("value, expected", [
    ("-2h", NOW - 7200),
    ("2h", NOW - 7200),
    ("24h", NOW - 86400),
    ("30m", NOW - 1800),
    ("7d", NOW - 7 * 86400),
    ("1w", NOW - 7 * 86400),
    ("now", NOW),
    ("today", calendar.timegm((2024, 1, 16, 0, 0, 0))),
    ("yesterday", calendar.timegm((2024, 1, 15, 0, 0, 0))),
    ("@1700000000", 1700000000),
    ("2024-01-16", calendar.timegm((2024, 1, 16, 0, 0, 0))),
    ("2024-01-16 05:45", calendar.timegm((2024, 1, 16, 5, 45, 0))),
    ("2024-01-16T05:45:03", calendar.timegm((2024, 1, 16, 5, 45, 3))),
    ("2024-01-16T05:45:03+08:00", calendar.timegm((2024, 1, 15, 21, 45, 3))),
    ("2024-01-16T05:45:03Z", calendar.timegm((2024, 1, 16, 5, 45, 3))),
])
def test_forms(value, expected):
    assert parse_time(value, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["last tuesday", "2024-13-01", "-2x", "", "@abc"])
def test_bad_values_are_usage_errors(value):
    with pytest.raises(UsageError, match="--until"):
        parse_time(value, NOW, "--until")
