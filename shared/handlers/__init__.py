"""Use cases: one handler per function, taking its ports as parameters."""
