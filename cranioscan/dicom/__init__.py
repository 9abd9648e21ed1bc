"""DICOM files -> :class:`Series` (Hounsfield units, geometry, metadata).

The first stage of the data flow; nothing downstream re-reads DICOM.

- :mod:`.sources`: directories, zips, file lists and uploads -> named byte streams;
- :mod:`.header`: the tags of one file;
- :mod:`.pixels`: stored values -> HU (slope/intercept, padding, MONOCHROME1);
- :mod:`.geometry`: slice normal, ordering, gaps and duplicates;
- :mod:`.series`: :class:`Series` and :class:`SeriesInfo`;
- :mod:`.assemble`: a series' files -> ordered, spaced, decoded volume;
- :mod:`.load`: :func:`load_series`, :func:`discover_series`, :func:`read_slice_hu`.
"""

from .load import *  # noqa: F401,F403
from .load import __all__  # noqa: F401
