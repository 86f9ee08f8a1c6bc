"""The state directory: the database (database.py), the fix runs and their lock (fixruns.py), the
changes a run records (changes.py) and their undo (undo.py)."""
