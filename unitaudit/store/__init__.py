"""The state directory: the database, the fix runs and their lock, undo."""
