"""Compressed slices on disk decoded by GDCM in worker processes: fast and isolated.

Private helper of :mod:`cranioscan.dicom.assemble`. GDCM decodes the JPEG
family about twice as fast as pylibjpeg (see :mod:`.gdcm_decode`), but on
damaged input it throws C++ exceptions that abort the whole interpreter
(fuzzing found two: a header element whose VR contradicts the dictionary,
and a JPEG-LS stream smaller than its header). In the dashboard that would
take the server down with every user's session. So GDCM only ever runs in
worker processes: :func:`predecode` sends a series' compressed files to a
pool of one worker per core (which also decodes them in parallel); if a
worker dies, the pool is replaced and the whole batch falls back to the
crash-safe in-process decoders, whose errors name the problem.

Batches smaller than :data:`MIN_BATCH` stay in process (the round trip
costs more than it saves), as do in-memory files (uploads, zips): GDCM
reads files from disk.
"""

__all__ = ["MIN_BATCH", "predecode", "shutdown"]

import dataclasses
import importlib.util
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from ..formats import plural
from .pixels import params_from_header

#: Fewest eligible slices worth sending to the worker pool.
MIN_BATCH = 8

#: After this many batches in a row lost to dead workers, stop using the pool
#: in this process (the workers cannot start, e.g. a __main__ read from stdin).
MAX_BROKEN = 2

#: Batches lost to a dead worker since this process started (for reports).
crashes = 0

_pool = None
_broken_in_a_row = 0
log = logging.getLogger(__name__)


def _gdcm_installed():
    # find_spec, not import: the parent process never loads GDCM
    return importlib.util.find_spec("gdcm") is not None


def _job(header, params):
    """What a worker needs for one slice: the file, where its pixel data start, their layout."""
    return str(header.file.path), int(header.offset), dataclasses.replace(params, modality_lut=None)


def _decode_in_worker(job):
    """Runs in a worker: one slice's stored values through GDCM, or None."""
    from .gdcm_decode import read_stored_gdcm
    from .pixels import _ENCAPSULATED_TAIL, _element_header, _encapsulated_value

    path, offset, params = job
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            buf = fh.read()
        skip, length = _element_header(buf, params)
        if length != _ENCAPSULATED_TAIL:
            return None
        return read_stored_gdcm(path, params, _encapsulated_value(memoryview(buf)[skip:]))
    except Exception:  # noqa: BLE001 - anything odd: the parent decodes and explains
        return None


def _workers():
    global _pool
    if _pool is None:
        # spawn: a fork of a process running TensorFlow's threads could deadlock
        _pool = ProcessPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                    mp_context=multiprocessing.get_context("spawn"))
    return _pool


def shutdown():
    """Stop the worker processes (they start again when next needed)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def predecode(headers):
    """Decode the eligible slices of a series in the worker pool.

    Eligible: a file on disk, compressed with a transfer syntax GDCM decodes
    exactly (:data:`~cranioscan.dicom.gdcm_decode.GDCM_SYNTAXES`), 8 or 16
    bits allocated; at least :data:`MIN_BATCH` of them, and python-gdcm
    installed.

    Args:
        headers: the series' :class:`~cranioscan.dicom.header.Header` list.

    Returns:
        dict: index in ``headers`` -> integer ``(rows, cols)`` stored values,
        for the slices GDCM decoded; empty when nothing was sent or a worker
        died (the caller then decodes every slice itself).
    """
    from .gdcm_decode import GDCM_SYNTAXES

    global _broken_in_a_row
    if len(headers) < MIN_BATCH or _broken_in_a_row >= MAX_BROKEN or not _gdcm_installed():
        return {}
    picks, jobs = [], []
    for i, h in enumerate(headers):
        if (h.file.path is None or not h.compressed or h.offset is None
                or h.transfer_syntax not in GDCM_SYNTAXES):
            continue
        try:
            params = params_from_header(h.f, h.ds, h.transfer_syntax, h.compressed)
        except Exception:  # noqa: BLE001 - decoded in process, where slice_hu names the problem
            continue
        if params.bits_allocated in (8, 16):
            picks.append(i)
            jobs.append(_job(h, params))
    if len(picks) < MIN_BATCH:
        return {}
    workers = max(1, os.cpu_count() or 1)
    try:
        results = list(_workers().map(_decode_in_worker, jobs,
                                      chunksize=max(1, len(jobs) // (4 * workers))))
    except Exception as exc:  # noqa: BLE001 - BrokenProcessPool (a worker aborted), or no processes
        global crashes
        shutdown()
        crashes += 1
        _broken_in_a_row += 1
        log.warning("a GDCM worker died (%s); its batch of %s is decoded in process instead",
                    type(exc).__name__, plural(len(jobs), "slice"))
        return {}
    _broken_in_a_row = 0
    return {i: stored for i, stored in zip(picks, results) if stored is not None}
