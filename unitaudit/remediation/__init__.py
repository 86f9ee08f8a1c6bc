"""Remediation: recipes (data, remediations/*.toml) -> planner (pure) -> plan -> backend.

`fix --dry-run` runs the plan through the recording backend: the same plan a real run would
execute, declared and shown, nothing changed."""
