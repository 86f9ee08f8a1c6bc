"""Small shared utilities: times and durations, files and locks, name and path grammars."""
