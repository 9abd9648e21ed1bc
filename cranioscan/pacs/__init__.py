"""CranioScan and a PACS, over DICOMweb.

- :mod:`.config`: :class:`PacsConfig` from the ``CRANIOSCAN_DICOMWEB_*`` environment;
- :mod:`.client`: :class:`PacsClient` (QIDO-RS search of CT studies and
  series, WADO-RS retrieve into memory, STOW-RS store) and :class:`PacsError`;
- :mod:`.results`: Secondary Capture key images and a Comprehensive SR of a
  scored series (highdicom), sent only when the user asks;
- :mod:`.worklist`: ``predict --dicomweb`` jobs and ``--send-results``;
- :mod:`.orthanc_dev`: a throwaway local Orthanc for development and tests
  (``python -m cranioscan.pacs.orthanc_dev`` or ``cranioscan orthanc``).

See docs/pacs.md.
"""

from .client import PacsClient, PacsError, SeriesHit, StudyHit
from .config import PacsConfig, from_env

__all__ = ["PacsClient", "PacsConfig", "PacsError", "SeriesHit", "StudyHit", "from_env"]
