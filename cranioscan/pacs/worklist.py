"""A ``predict`` worklist straight from the PACS: jobs for one study, one series or a date range.

``pacs_jobs`` turns ``--study`` / ``--series`` / ``--study-date`` into the
:class:`~cranioscan.dicom.scan.SeriesJob` list that ``predict`` scores, and
into :class:`~cranioscan.dicom.scan.Problem` entries for studies that
cannot be listed. Each job's ``source`` is a :class:`PacsSeries`: called by
the scoring loop, it retrieves that series into memory (WADO-RS), one series
at a time, so a long worklist never holds more than one series.

``result_sender`` gives the ``after_scored`` hook of ``predict
--send-results``: it builds the key images and the SR of each scored series
(:mod:`.results`) and stores them with STOW-RS.
"""

__all__ = ["PacsSeries", "pacs_jobs", "result_sender"]

from ..dicom.scan import Problem, SeriesJob
from .client import PacsError
from .results import build_results, source_headers


class PacsSeries:
    """A series on the PACS as a ``predict`` source: call it to retrieve the files.

    With ``keep_files``, ``files`` holds the ``[(name, bytes)]`` retrieved
    after the call (for sending results) until :meth:`release`.
    """

    def __init__(self, client, study_uid, series_uid, keep_files=False):
        self.client, self.study_uid, self.series_uid = client, study_uid, series_uid
        self.keep_files = keep_files
        self.files = None

    def __call__(self):
        files = self.client.retrieve_files(self.study_uid, self.series_uid)
        if self.keep_files:
            self.files = files
        return files

    def release(self):
        """Forget the retrieved files."""
        self.files = None


def _job(client, hit, keep_files):
    where = f"{client.url}/studies/{hit.study_uid}/series/{hit.series_uid}"
    return SeriesJob(label=f"PACS series {hit.series_uid} of study {hit.study_uid}",
                     source=PacsSeries(client, hit.study_uid, hit.series_uid, keep_files),
                     series_uid=hit.series_uid, display=where, study_uid=hit.study_uid)


def pacs_jobs(client, study_uid=None, series_uid=None, date_from="", date_to="",
              keep_files=False):
    """The CT series to score on the PACS, and the studies that cannot be listed.

    Args:
        client: a :class:`~cranioscan.pacs.client.PacsClient`.
        study_uid: score the CT series of this study (with ``series_uid``:
            that series only).
        date_from, date_to: without ``study_uid``, every CT study of this
            study date range (``YYYYMMDD``, either may be '').
        keep_files: each job's :class:`PacsSeries` keeps its files once
            retrieved (to send results).

    Returns:
        ``(jobs, problems)``.

    Raises:
        PacsError: the PACS cannot be searched at all, or the one study /
            series asked for is missing or not CT (the message says which).
    """
    if study_uid:
        hits = [client.series(study_uid, series_uid)] if series_uid else client.series_of(study_uid)
        return [_job(client, h, keep_files) for h in hits], []
    if series_uid:
        raise PacsError("--series needs --study (the StudyInstanceUID of that series)")
    jobs, problems = [], []
    for study in client.search_studies(date_from=date_from, date_to=date_to, limit=10_000):
        try:
            jobs += [_job(client, h, keep_files) for h in client.series_of(study.study_uid)]
        except PacsError as exc:
            problems.append(Problem("series", f"{client.url}/studies/{study.study_uid}", str(exc),
                                    study_uid=study.study_uid, status="error"))
    return jobs, problems


def result_sender(client, predictor, model_name, say):
    """``after_scored(job, series, result)`` storing the SC key images and the SR of each series.

    ``say(text)`` reports what was sent, or why it could not be; a failure
    to send never stops the worklist.
    """
    def after_scored(job, series, result):
        source = job.source
        try:
            datasets = build_results(predictor, series, source_headers(source.files), result,
                                     model_name)
            client.store(datasets)
        except (PacsError, ValueError) as exc:
            say(f"results of {job.label} not sent: {exc}")
        else:
            say(f"results of {job.label} sent to the PACS: {len(datasets) - 1} key image(s) "
                "and a structured report in two new series of the study")
        finally:
            source.release()

    return after_scored
