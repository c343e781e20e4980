"""The ``cnnkit`` command line: thin commands over the Python API."""
