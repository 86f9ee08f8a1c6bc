"""What `unitaudit config check` prints for a valid configuration: the file and its settings in
one line each.  (Its problems are error lines, worded by config.check_config.)"""
from typing import IO

from unitaudit.report.safe_text import safe


def write_text(config, out: IO[str]) -> None:
    """`config`: a config.Config.  Paths and ids are shown escaped, as in every human report."""
    out.write("%s: valid%s\n" % (safe(config.path or "no configuration file"),
                                  "" if config.path else " (all defaults)"))
    out.write("  window %g h, retention %g days, prometheus %s, auto-apply %s, %d protected addition(s)\n" % (
        config.window / 3600, config.retention / 86400, safe(config.prometheus_path or "(off)"),
        safe(" ".join(config.auto_apply) or "(none)"), len(config.protected)))
