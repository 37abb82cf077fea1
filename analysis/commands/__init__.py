"""One module per CLI command; see :mod:`analysis.cli`."""
