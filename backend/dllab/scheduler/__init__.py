"""Placement decisions as pure functions over plain data: no database, no I/O.

``placement``: where one request's units go (hosts, GPU indices; pack or spread).
``queue``: one pass over the queue: gangs, quotas, positions and reasons, and the head's
reservation that bounds how long it waits.
"""
