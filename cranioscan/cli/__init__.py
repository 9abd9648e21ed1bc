"""The ``cranioscan`` command line (``python -m cranioscan``)."""
