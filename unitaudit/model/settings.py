"""The configuration as read (config.py reads and checks the file)."""
from dataclasses import dataclass, field
from typing import Optional, Tuple

from unitaudit.model.scans import Thresholds

DEFAULT_PROMETHEUS_PATH = "/var/lib/prometheus/node-exporter/unitaudit.prom"


@dataclass(frozen=True)
class Config:
    path: Optional[str] = None  # the file read; None when there was none (all defaults)
    window: float = 86400.0  # seconds the first incremental run, or a timer scan without --since, reads
    thresholds: Thresholds = field(default_factory=Thresholds)
    retention: float = 90 * 86400.0  # seconds per-hour history and run records are kept
    prometheus_path: str = DEFAULT_PROMETHEUS_PATH  # "" disables the textfile
    protected: Tuple[Tuple[str, str], ...] = ()  # (unit glob, reason) added to the packaged ones
    auto_apply: Tuple[str, ...] = ()  # recipe ids the timer may apply on its own
