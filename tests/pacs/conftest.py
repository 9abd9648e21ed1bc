"""A real Orthanc with DICOMweb for the PACS tests, started once per test session.

Loaded with two phantom CT studies (patient IDs ``PHANTOM-000`` and
``PHANTOM-001``, accession numbers ``ACC0000`` / ``ACC0001``, study dates
2024-01-01 / 2024-01-02) and one study holding an MR series only (patient
``MR-ONLY``) beside a CT study that also holds an MR series. HTTP basic
authentication is on (user ``cranio``, password ``scan``), so a wrong
password gives a real 401. Skipped with the reason only when Orthanc or its
DICOMweb plugin is not installed (``apt-get install orthanc orthanc-dicomweb``;
``.ci/run`` does, and fails on that skip); an installed Orthanc that does not
start or answer on its DICOMweb root fails every test that uses it.
"""

import pytest
from pydicom.uid import MRImageStorage, generate_uid

from cranioscan.testing.factory import make_series, to_bytes
from cranioscan.pacs.config import PacsConfig
from cranioscan.pacs.orthanc_dev import (OrthancServer, OrthancUnavailable, find_dicomweb_plugin,
                                         find_orthanc, phantom_blobs)

USER, PASSWORD = "cranio", "scan"
#: Phantom studies loaded: slices each and matrix (small: the tests stay quick).
N_SLICES, MATRIX = 8, 64


class Pacs:
    """The running server and what was loaded into it."""

    def __init__(self, server):
        self.server = server
        self.url = server.dicomweb_url
        self.config = PacsConfig(url=self.url, username=USER, password=PASSWORD,
                                 connect_timeout=3, read_timeout=20)
        self.phantoms = []  # (study_uid, series_uid, [sop_uid, ...]) per phantom, inferior first
        self.mixed = None  # (study_uid, ct_series_uid, mr_series_uid)
        self.mr_only_study = None
        self.n_slices, self.matrix = N_SLICES, MATRIX


def _uids(blob):
    from io import BytesIO

    from pydicom import dcmread

    ds = dcmread(BytesIO(blob), stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def _series_blobs(n, modality, study_uid, series_uid, patient_id):
    extra = {"sop_class": MRImageStorage} if modality == "MR" else {}
    datasets = make_series(n, rows=16, cols=16, modality=modality, study_uid=study_uid,
                           series_uid=series_uid, PatientID=patient_id,
                           AccessionNumber=f"ACC-{patient_id}", **extra)
    return [to_bytes(ds) for ds in datasets]


@pytest.fixture(scope="session")
def pacs():
    """A running Orthanc loaded as the module docstring says (a :class:`Pacs`)."""
    if find_orthanc() is None or find_dicomweb_plugin() is None:
        pytest.skip("Orthanc with its DICOMweb plugin is not installed "
                    "(apt-get install orthanc orthanc-dicomweb; .ci/run does)")
    try:
        server = OrthancServer(users={USER: PASSWORD}, start_timeout=120).start()
    except OrthancUnavailable as exc:  # installed but broken: a failure, never a skip
        pytest.fail(f"Orthanc is installed but did not start: {exc}", pytrace=False)
    with server:
        found = Pacs(server)
        for index in range(2):
            blobs = phantom_blobs(index, matrix=MATRIX, n_slices=N_SLICES)
            server.upload(blobs)
            uids = [_uids(b) for b in blobs]
            found.phantoms.append((uids[0][0], uids[0][1], [u[2] for u in uids]))
        study, ct, mr = generate_uid(), generate_uid(), generate_uid()
        server.upload(_series_blobs(3, "CT", study, ct, "MIXED-1")
                      + _series_blobs(2, "MR", study, mr, "MIXED-1"))
        found.mixed = (study, ct, mr)
        found.mr_only_study = generate_uid()
        server.upload(_series_blobs(2, "MR", found.mr_only_study, generate_uid(), "MR-ONLY"))
        yield found
