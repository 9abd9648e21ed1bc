"""Test fixtures: real DICOM built in memory, and seeded fuzz cases of it.

Used by ``tests/`` and ``bench/``; not part of the installed product (the
wheel leaves this package out, see ``pyproject.toml``) and never imported by
``cranioscan`` itself.

- :mod:`.factory`: small CT slices and series with chosen geometry, storage
  and rescale, a JPEG Lossless encoder;
- :mod:`.mutate`: seeded mutations of such series for the loader's fuzz test.
"""
