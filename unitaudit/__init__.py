"""unitaudit: find and explain systemd loops that churn cgroups and logs."""

__version__ = "0.1.0"
