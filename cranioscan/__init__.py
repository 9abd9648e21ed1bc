"""CranioScan: intracranial hemorrhage review on head CT.

The library behind the Streamlit dashboard and ``train.py``. Data flows
DICOM bytes -> :class:`cranioscan.dicom.Series` (Hounsfield units) ->
windows -> model input -> per-slice probabilities -> explanations; each
arrow is one module of this package.
"""

__version__ = "0.1.0"
