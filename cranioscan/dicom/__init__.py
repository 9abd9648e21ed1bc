"""DICOM files -> :class:`Series` (Hounsfield units, geometry, metadata).

The first stage of the data flow; nothing downstream re-reads DICOM.

- :mod:`.sources`: directories, zips, file lists and uploads -> named byte streams;
- :mod:`.header`: the tags of one file;
- :mod:`.pixels`: stored values -> HU (slope/intercept, padding, MONOCHROME1);
- :mod:`.geometry`: slice normal, ordering, gaps and duplicates;
- :mod:`.series`: :class:`Series` and :class:`SeriesInfo`;
- :mod:`.assemble`: a series' files -> ordered, spaced, decoded volume;
- :mod:`.load`: :func:`load_series`, :func:`discover_series`, :func:`read_slice_hu`;
- :mod:`.scan`: the series of a worklist (folders, zips, files), each file
  parsed once and its header kept for :func:`load_series`;
- :mod:`.read`: whole files for the few places that keep the DICOM itself
  (de-identified export, research files); headers alone: :func:`.header.peek`;
- :mod:`.write`: the one CT writer (phantoms, CT-ICH demo series, test factory).

No other module of CranioScan reads or writes DICOM files.
"""

from .load import *  # noqa: F401,F403
from .load import __all__  # noqa: F401
