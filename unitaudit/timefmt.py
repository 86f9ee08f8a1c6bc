"""Timestamps as unitaudit prints them: ISO 8601, UTC, 'Z'."""
from datetime import datetime, timezone
from typing import Optional


def iso_utc(t: Optional[float]) -> Optional[str]:
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
