"""Remediation: recipes (data, remediations/*.toml) -> planner (pure) -> plan -> backend.

  recipes.py, schema.py   finding, reading and checking the recipe files
  protected.py            the units a fix leaves alone unless the admin names them
  planner.py              findings + recipes -> a Plan of steps (pure)
  actions.py              each step's concrete operations (`expand`), read from the system, never written
  executor.py             the one loop that hands operations to a backend; a real run's verify and fallback
  system_backend.py       the backend that changes the system; systemd_bus.py its D-Bus calls

`fix --dry-run` runs the plan through the recording backend (executor.py): the same plan a real
run would execute, declared and shown, nothing changed.  Whether a fix worked is checked by
services/verify.py, which reads the journal through the analysis this package may not import."""
