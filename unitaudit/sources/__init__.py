"""Sources: the only code that reads files, the journal or the bus.  They emit Events."""
