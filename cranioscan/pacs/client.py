"""Search and retrieve head CT from a PACS over DICOMweb (QIDO-RS, WADO-RS, STOW-RS).

Built on ``dicomweb_client.DICOMwebClient`` with a ``requests`` session
carrying the authentication, TLS verification and (connect, read) timeouts
of a :class:`~cranioscan.pacs.config.PacsConfig`; HTTP retries are off, so
nothing waits longer than the timeouts.

* :meth:`PacsClient.search_studies`: studies by patient ID, name, accession
  number and study date range, limited to those holding CT;
* :meth:`PacsClient.series_of`: the CT series of a study;
* :meth:`PacsClient.retrieve_files`: one series into memory as
  ``[(name, bytes)]`` (never to disk), with a progress callback;
* :meth:`PacsClient.load_series`: the same, through
  :func:`cranioscan.dicom.load_series`: the loader path of an upload;
* :meth:`PacsClient.store`: STOW-RS of datasets (results sent back).

Every failure (server unreachable, 401/403, 404 or a missing study, a
timeout, a series that is not CT, an answer that is not DICOMweb) raises
:class:`PacsError` with a message saying what happened and where.
"""

__all__ = [
    "PacsClient",
    "PacsError",
    "SeriesHit",
    "StudyHit",
    "dicom_date",
    "parse_date_range",
]

import contextlib
import datetime as _dt
import logging
import re
from dataclasses import dataclass, replace

import requests

from ..dicom import load_series
from ..dicom.write import unchanged_bytes
from ..uids import dicom_uid
from .config import check_url, from_env

_log = logging.getLogger(__name__)


class PacsError(Exception):
    """The PACS could not be searched, read or written; the message says why."""


def _checked_uid(value, tag):
    """``value`` when it is a DICOM UID, else :class:`PacsError` (before any URL is built).

    Args:
        value: a UID typed by a person or given back by the PACS.
        tag: ``"StudyInstanceUID"`` or ``"SeriesInstanceUID"``, for the message.
    """
    try:
        return dicom_uid(value, tag)
    except ValueError as exc:
        raise PacsError(str(exc)) from None


@dataclass(frozen=True)
class StudyHit:
    """One study found by QIDO-RS (strings as the PACS gave them; '' when absent)."""

    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    accession_number: str = ""
    study_date: str = ""
    description: str = ""
    modalities: tuple = ()
    n_series: int | None = None
    n_instances: int | None = None


@dataclass(frozen=True)
class SeriesHit:
    """One series of a study found by QIDO-RS."""

    study_uid: str
    series_uid: str
    modality: str = ""
    series_number: str = ""
    description: str = ""
    n_instances: int | None = None


# ------------------------------------------------------------------ dates
def dicom_date(value):
    """``date``, ``"2024-01-31"`` or ``"20240131"`` -> ``"20240131"``; None/'' -> ''.

    Raises:
        ValueError: not a date (the message quotes it).
    """
    if value in (None, ""):
        return ""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.strftime("%Y%m%d")
    text = str(value).strip().replace("-", "")
    try:
        _dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise ValueError(f"not a date: {value!r} (use YYYYMMDD or YYYY-MM-DD)") from None
    return text


def parse_date_range(text):
    """``"20240101-20240131"`` (either side may be empty) -> ``("20240101", "20240131")``.

    Also takes ``"2024-01-01..2024-01-31"`` and a single date (that day only).

    Raises:
        ValueError: the message says what form is expected.
    """
    text = str(text).strip()
    if ".." in text:
        start, _, end = text.partition("..")
    elif re.fullmatch(r"\d{8}", text) or re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        start = end = text
    else:
        start, sep, end = text.partition("-")
        if not sep:
            raise ValueError(f"not a date range: {text!r} (use FROM-TO as YYYYMMDD-YYYYMMDD)")
    start, end = dicom_date(start), dicom_date(end)
    if not (start or end):
        raise ValueError(f"empty date range: {text!r}")
    if start and end and start > end:
        raise ValueError(f"date range ends before it starts: {text!r}")
    return start, end


# ------------------------------------------------------------ DICOM JSON
def _value(item, tag):
    """First value of ``tag`` (8 hex digits) in a DICOM JSON dataset, as a string ('' if absent)."""
    values = item.get(tag, {}).get("Value") or [""]
    first = values[0]
    if isinstance(first, dict):  # PN
        return str(first.get("Alphabetic", ""))
    return str(first)


def _values(item, tag):
    return tuple(str(v) for v in item.get(tag, {}).get("Value") or ())


def _int(item, tag):
    text = _value(item, tag)
    try:
        return int(text)
    except ValueError:
        return None


def _study_hit(item):
    return StudyHit(
        study_uid=_value(item, "0020000D"), patient_id=_value(item, "00100020"),
        patient_name=_value(item, "00100010"), accession_number=_value(item, "00080050"),
        study_date=_value(item, "00080020"), description=_value(item, "00081030"),
        modalities=_values(item, "00080061"), n_series=_int(item, "00201206"),
        n_instances=_int(item, "00201208"))


def _series_hit(item, study_uid):
    return SeriesHit(
        study_uid=_value(item, "0020000D") or study_uid, series_uid=_value(item, "0020000E"),
        modality=_value(item, "00080060"), series_number=_value(item, "00200011"),
        description=_value(item, "0008103E"), n_instances=_int(item, "00201209"))


# ----------------------------------------------------------------- client
class PacsClient:
    """A DICOMweb server reached with one configuration (see :mod:`.config`).

    Args:
        config: a :class:`PacsConfig`, or None to read it from the
            environment; a URL given as a string is used with the
            environment's authentication and timeouts.
    """

    def __init__(self, config=None):
        if config is None or isinstance(config, str):
            url = config
            config = from_env()
            config = replace(config, url=str(url).rstrip("/")) if url else config
        if not config.url:
            raise PacsError("No PACS is configured: set CRANIOSCAN_DICOMWEB_URL to the "
                            "DICOMweb root (e.g. http://127.0.0.1:8042/dicom-web).")
        try:
            check_url(config.url, config.allow_http)
        except ValueError as exc:
            raise PacsError(str(exc)) from None
        for line in config.security_warnings:
            _log.warning("cranioscan: warning: %s", line)
        from dicomweb_client import DICOMwebClient  # third-party, 0.5 s: only when a PACS is used

        self.config = config
        self.session = _WildcardSession()
        if config.token:
            self.session.headers["Authorization"] = f"Bearer {config.token}"
        elif config.username:
            self.session.auth = (config.username, config.password or "")
        self.session.verify = config.verify
        self._client = DICOMwebClient(config.url, session=self.session, timeout=config.timeout)
        self._client.set_http_retry_params(retry=False)  # a failure shows at once, never waits

    @property
    def url(self):
        """The DICOMweb root URL."""
        return self.config.url

    def close(self):
        """Close the HTTP connections."""
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------- errors
    @contextlib.contextmanager
    def _errors(self, what, missing=None):
        """Turn what ``requests`` / ``dicomweb_client`` raise into :class:`PacsError`.

        ``what`` says what was being done ("searching studies"); ``missing``
        is the message for a 404 (default: "not found").
        """
        where = f"the PACS at {self.url}"
        try:
            yield
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 401:
                message = (f"{where} refused the credentials (HTTP 401) while {what}: check "
                           "CRANIOSCAN_DICOMWEB_USER / CRANIOSCAN_DICOMWEB_PASSWORD or "
                           "CRANIOSCAN_DICOMWEB_TOKEN")
            elif status == 403:
                message = f"{where} forbids this user {what} (HTTP 403)"
            elif status == 404:
                message = missing or f"{where} found nothing while {what} (HTTP 404)"
            else:
                message = f"{where} answered HTTP {status} while {what}"
            raise PacsError(message) from None
        except requests.exceptions.SSLError as exc:
            raise PacsError(f"TLS certificate of {where} could not be verified while {what} "
                            f"({exc.__class__.__name__}); set CRANIOSCAN_DICOMWEB_CA_BUNDLE "
                            "to the CA bundle file") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
                timeout = self.config.read_timeout if isinstance(
                    exc, requests.ReadTimeout) else min(self.config.timeout)
                message = (f"{where} did not answer in time while {what} (timeout "
                           f"{timeout:g} s; CRANIOSCAN_DICOMWEB_CONNECT_TIMEOUT / _READ_TIMEOUT)")
            else:
                message = (f"cannot reach {where} while {what}: the server is down, the "
                           "address is wrong or a firewall is in the way")
            raise PacsError(message) from None
        except requests.RequestException as exc:
            raise PacsError(f"{where} failed while {what}: {exc}") from None
        except (ValueError, KeyError) as exc:  # not a DICOMweb answer (HTML page, bad JSON...)
            raise PacsError(f"{where} gave an answer that is not DICOMweb while {what} "
                            f"({type(exc).__name__}: {exc}); is the URL the DICOMweb root?") \
                from None

    # ----------------------------------------------------------- search
    def search_studies(self, patient_id="", patient_name="", accession_number="",
                       date_from="", date_to="", limit=200):
        """Studies holding CT that match every given field (QIDO-RS).

        Args:
            patient_id, accession_number: exact values ('' for any).
            patient_name: DICOM name ("DOE^JOHN"); a prefix matches unless it
                holds a wildcard (``*`` / ``?``).
            date_from, date_to: study date range, inclusive (``date``,
                ``"YYYYMMDD"`` or ``"YYYY-MM-DD"``; '' for open).
            limit: most studies returned.

        Returns:
            list of :class:`StudyHit`, as the PACS ordered them.
        """
        filters = {"ModalitiesInStudy": "CT"}
        if patient_id:
            filters["PatientID"] = patient_id.strip()
        if patient_name:
            # "DOE^JOHN" or "doe john" -> "DOE*JOHN*": matches the components however the
            # PACS stores the separators (Orthanc 1.10 matches no literal "^").
            parts = [p for p in re.split(r"[\s^]+", patient_name.strip()) if p]
            name = "*".join(parts)
            filters["PatientName"] = name if name.endswith(("*", "?")) else name + "*"
        if accession_number:
            filters["AccessionNumber"] = accession_number.strip()
        start, end = dicom_date(date_from), dicom_date(date_to)
        if start or end:
            filters["StudyDate"] = start if start == end else f"{start}-{end}"
        fields = ["StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                  "NumberOfStudyRelatedInstances", "AccessionNumber", "PatientName"]
        with self._errors("searching studies"):
            found = self._client.search_for_studies(search_filters=filters, fields=fields,
                                                    limit=limit)
        hits = [_study_hit(item) for item in found]
        # A PACS that ignores ModalitiesInStudy still gives only CT studies here.
        return [h for h in hits if not h.modalities or "CT" in h.modalities]

    def series_of(self, study_uid, ct_only=True):
        """The series of a study (QIDO-RS), CT only by default, by series number.

        Raises:
            PacsError: no such study, or (``ct_only``) a study without CT
                (the message lists its modalities), or ``study_uid`` is not a
                DICOM UID.
        """
        study_uid = _checked_uid(study_uid, "StudyInstanceUID")
        missing = f"No study with StudyInstanceUID {study_uid} on the PACS at {self.url}"
        with self._errors(f"listing the series of study {study_uid}", missing=missing):
            found = self._client.search_for_series(
                study_instance_uid=study_uid,
                fields=["SeriesDescription", "SeriesNumber", "NumberOfSeriesRelatedInstances"])
        hits = [_series_hit(item, study_uid) for item in found]
        if not hits:
            raise PacsError(missing)
        if ct_only:
            ct = [h for h in hits if h.modality == "CT"]
            if not ct:
                kinds = ", ".join(sorted({h.modality or "unknown" for h in hits}))
                raise PacsError(f"Study {study_uid} holds no CT series (modalities: {kinds}); "
                                "CranioScan scores head CT only.")
            hits = ct
        return sorted(hits, key=lambda h: (_sort_number(h.series_number), h.series_uid))

    def series(self, study_uid, series_uid):
        """The :class:`SeriesHit` of one CT series.

        Raises:
            PacsError: no such study or series, the series is not CT, or a
                UID is not a DICOM UID.
        """
        series_uid = _checked_uid(series_uid, "SeriesInstanceUID")
        for hit in self.series_of(study_uid, ct_only=False):
            if hit.series_uid == series_uid:
                if hit.modality != "CT":
                    raise PacsError(f"Series {series_uid} is {hit.modality or 'of no modality'}, "
                                    "not CT: CranioScan scores head CT only.")
                return hit
        raise PacsError(f"Study {study_uid} has no series {series_uid} on the PACS at {self.url}")

    # --------------------------------------------------------- retrieve
    def retrieve_files(self, study_uid, series_uid, progress=None):
        """WADO-RS retrieve of one CT series into memory.

        Args:
            study_uid, series_uid: the series.
            progress: optional ``progress(done, total)`` called after each
                instance (``total`` from QIDO-RS, None when unknown).

        Returns:
            list of ``(name, bytes)``: one DICOM file per instance, named
            ``<SOPInstanceUID>.dcm``, in the order the PACS sent them.

        Raises:
            PacsError: not found, not CT, unreachable, refused, timed out,
                or an empty series.
        """
        hit = self.series(study_uid, series_uid)
        total = hit.n_instances
        files = []
        missing = f"Series {series_uid} of study {study_uid} is not on the PACS at {self.url}"
        with self._errors(f"retrieving series {series_uid}", missing=missing):
            for ds in self._client.iter_series(study_uid, series_uid,
                                               media_types=(("application/dicom", "*"),)):
                files.append((f"{ds.get('SOPInstanceUID', len(files))}.dcm", unchanged_bytes(ds)))
                if progress is not None:
                    progress(len(files), total)
        if not files:
            raise PacsError(missing + " (no instance came back)")
        return files

    def load_series(self, study_uid, series_uid, progress=None):
        """Retrieve a series and load it as an upload is: ``cranioscan.dicom.load_series``.

        Returns:
            :class:`~cranioscan.dicom.Series`.

        Raises:
            PacsError: see :meth:`retrieve_files`;
            DicomLoadError: the files hold no usable CT image.
        """
        files = self.retrieve_files(study_uid, series_uid, progress)
        return load_series(files, series_uid=series_uid)

    # ------------------------------------------------------------ store
    def store(self, datasets):
        """STOW-RS: store pydicom datasets on the PACS (one request).

        Raises:
            PacsError: the PACS refused them (status and reason).
        """
        with self._errors(f"storing {len(datasets)} instance(s)"):
            answer = self._client.store_instances(datasets=list(datasets))
        failed = answer.get("00081198", {}).get("Value") if answer is not None else None
        if failed:
            raise PacsError(f"The PACS at {self.url} refused {len(failed)} of "
                            f"{len(datasets)} instance(s) sent")
        return answer


class _WildcardSession(requests.Session):
    """A session that sends QIDO-RS wildcards ``*`` and ``?`` unescaped in the query.

    ``dicomweb_client`` percent-encodes them (``%2A``, ``%3F``); Orthanc 1.10
    then matches the literal characters and finds nothing. Both are allowed
    as they are in a URL query (RFC 3986).
    """

    def send(self, request, **kwargs):
        if "?" in request.url:
            base, _, query = request.url.partition("?")
            request.url = base + "?" + query.replace("%2A", "*").replace("%3F", "?")
        return super().send(request, **kwargs)


def _sort_number(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return 1 << 30
