"""Placement decisions as pure functions over plain data: no database, no I/O."""
