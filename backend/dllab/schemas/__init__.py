"""API shapes, one module per resource: ``XCreate`` in, ``XPublic`` out, ``XsPublic`` pages."""
