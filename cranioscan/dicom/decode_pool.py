"""Compressed slices on disk decoded by GDCM in worker processes: fast and isolated.

Private helper of :mod:`cranioscan.dicom.assemble`. GDCM decodes the JPEG
family about twice as fast as pylibjpeg (see :mod:`.gdcm_decode`), but on
damaged input it throws C++ exceptions that abort the whole interpreter
(fuzzing found two: a header element whose VR contradicts the dictionary,
and a JPEG-LS stream smaller than its header). In the dashboard that would
take the server down with every user's session. So GDCM only ever runs in
worker processes: :func:`predecode` sends a series' compressed files to one
worker per core, which also decodes them in parallel (neither GDCM nor
pylibjpeg releases the GIL: two threads decoded 238 real slices in the time
one did). The loader converts each slice to HU as soon as it arrives, while
the workers decode the next ones. If a worker dies, the batch stops and the
slices not yet handed out are decoded by the crash-safe in-process
decoders, whose errors name the problem.

The workers are plain ``python -P .../gdcm_decode.py`` processes fed over
pipes, not :mod:`multiprocessing` ones: spawn workers import the caller's
``__main__`` again, so a user's script without an
``if __name__ == "__main__":`` guard ran its top level once more in every
worker (and the workers then died); forkserver does the same, whatever
``set_forkserver_preload`` says (checked with Python 3.11). These workers
never import the caller's code, need no guard, and start in about 0.15 s
(they import nothing but ``gdcm``). They stay up between loads (one idle
worker per core at most) and end with this process.

Batches smaller than :data:`MIN_BATCH` stay in process (the round trip
costs more than it saves), as do in-memory files (uploads, zips): GDCM
reads files from disk.
"""

__all__ = ["MIN_BATCH", "Batch", "BatchReport", "last_batch", "predecode", "shutdown"]

import atexit
import collections
import dataclasses
import importlib.util
import logging
import mmap
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ..formats import plural
from .gdcm_decode import GDCM_SYNTAXES, REPLY, REQUEST, complete
from .pixels import (
    _ENCAPSULATED_TAIL,
    PixelError,
    _element_header,
    _encapsulated_value,
    params_from_header,
)

#: Fewest eligible slices worth sending to the workers.
MIN_BATCH = 8

#: After this many batches in a row lost to dead workers, stop using the workers
#: in this process (they cannot start, or every series here crashes GDCM).
MAX_BROKEN = 2

#: The worker script; run as a file, never imported by the worker as a package module.
WORKER_SCRIPT = Path(__file__).with_name("gdcm_decode.py")

#: Pipe buffer asked for each worker's replies (bytes): a 512x512 16-bit slice in one go.
PIPE_BYTES = 1 << 20

#: Longest wait (s) for one slice the loader asks for; past it the batch's workers
#: are taken as hung (GDCM looping on a damaged file), killed, and the rest of the
#: batch is decoded in process. A 512x512 slice takes about 5 ms.
STALL_S = 60.0

#: Requests queued at each worker at once: it decodes on while its replies wait
#: to be read (see :data:`~cranioscan.dicom.gdcm_decode.AHEAD`).
IN_FLIGHT = 8

#: Batches lost to a dead worker since this process started (for reports).
crashes = 0

_broken_in_a_row = 0
_idle = []  # started workers waiting for the next batch
_idle_lock = threading.Lock()
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BatchReport:
    """What the last batch sent to the workers did.

    Attributes:
        slices: slices sent to the workers.
        per_worker: worker process id -> slices it decoded (GDCM declined
            ones included); more than one key means the batch was decoded
            in parallel.
        seconds: wall time of the batch (s), worker start-up included.
        lost: True when a worker died (or hung) and the slices not yet
            handed out were decoded in process.
    """

    slices: int
    per_worker: dict
    seconds: float
    lost: bool


#: :class:`BatchReport` of the most recent batch in this process, or None.
last_batch = None


class WorkerDied(Exception):
    """The worker process ended or its pipes broke (GDCM aborted, or it could not start)."""


class Worker:
    """One GDCM worker process and its two pipes (see :mod:`.gdcm_decode`)."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-P", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            bufsize=0, close_fds=True,
        )
        self.pid = self.process.pid
        self.dead = False  # set once it died: never used again
        _widen_pipe(self.process.stdout.fileno())

    def send(self, path, nbytes):
        """Ask for one file's stored values (``nbytes`` bytes); :meth:`receive` gets them.

        Raises:
            WorkerDied: the worker is gone; do not use it again.
        """
        name = os.fsencode(path)
        try:
            _write_all(self.process.stdin, REQUEST.pack(nbytes, len(name)) + name)
        except OSError as exc:  # a broken pipe: the worker is gone
            raise WorkerDied(str(exc)) from None

    def receive(self, out):
        """The reply to the oldest request not yet received, into ``out``.

        Args:
            out: C-contiguous integer ``(rows, cols)`` array of the slice's
                stored sample type (little-endian), filled in place.

        Returns:
            bool: True when ``out`` holds the stored values, False when
            GDCM declined the file (decode it in process).

        Raises:
            WorkerDied: the worker is gone; do not use it again.
        """
        try:
            (length,) = REPLY.unpack(_read_into(self.process.stdout, bytearray(REPLY.size)))
            if length < 0:
                return False
            if length != out.nbytes:
                raise WorkerDied(f"a reply of {length} bytes for {out.nbytes}")
            _read_into(self.process.stdout, memoryview(out).cast("B"))
        except OSError as exc:
            raise WorkerDied(str(exc)) from None
        return True

    def close(self, wait=True):
        """End the worker (it exits when its stdin closes); kill it if it lingers."""
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if wait:
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _widen_pipe(fd):
    """Ask Linux for a :data:`PIPE_BYTES` pipe buffer (fewer round trips per slice); best effort."""
    try:
        import fcntl  # Unix only: elsewhere the pipe keeps its default size

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):
        pass


def _write_all(stream, data):
    view = memoryview(data)
    while view:
        view = view[stream.write(view):]


def _read_into(stream, buffer):
    """Fill ``buffer`` (writable bytes-like) from ``stream``; return it. WorkerDied at EOF."""
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        got = stream.readinto(view[done:])
        if not got:
            raise WorkerDied(f"the worker ended after {done} of {len(view)} bytes")
        done += got
    return buffer


def _gdcm_installed():
    """True when worker processes can run: python-gdcm installed, the worker script on disk,
    and ``sys.executable`` a Python interpreter (not a frozen application, which would
    start the caller's program again)."""
    # find_spec, not import: the parent process never loads GDCM
    return (importlib.util.find_spec("gdcm") is not None and WORKER_SCRIPT.is_file()
            and bool(sys.executable) and not getattr(sys, "frozen", False))


def _take_workers(n):
    """``n`` workers: idle ones first, new ones for the rest (OSError if one cannot start)."""
    with _idle_lock:
        taken = [_idle.pop() for _ in range(min(n, len(_idle)))]
    for worker in [w for w in taken if w.process.poll() is not None]:  # ended while idle
        taken.remove(worker)
        worker.close()
    try:
        taken += [Worker() for _ in range(n - len(taken))]
    except OSError:
        _give_back(taken)
        raise
    return taken


def _give_back(workers):
    """Keep up to one idle worker per core for the next batch; end the others."""
    extra = []
    with _idle_lock:
        for worker in workers:
            (_idle if len(_idle) < _cores() else extra).append(worker)
    for worker in extra:
        worker.close()


def _cores():
    """CPU cores this process may run on (its affinity mask, e.g. under ``taskset``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def shutdown():
    """End the idle worker processes (new ones start when next needed)."""
    with _idle_lock:
        workers = _idle[:]
        _idle.clear()
    for worker in workers:
        worker.close()


atexit.register(shutdown)


def _complete_codestream(path, offset, params):
    """True when the file's Pixel Data are encapsulated, intact, and end with an end marker.

    Only the item headers and the last bytes are read (the file is mapped).
    """
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return _complete_in(mapped, offset, params)


def _complete_in(mapped, offset, params):
    # separate function: every view of ``mapped`` is gone when it returns, so it can close
    buf = memoryview(mapped)[offset:]
    try:
        skip, length = _element_header(buf, params)
        return length == _ENCAPSULATED_TAIL and complete(_encapsulated_value(buf[skip:]))
    except PixelError:  # decoded in process, where slice_hu names the problem
        return False
    finally:
        buf.release()


def _job(header):
    """``(path, out)`` for a slice GDCM may decode, or None to decode it in process.

    Eligible: a file on disk, compressed with a transfer syntax in
    :data:`~cranioscan.dicom.gdcm_decode.GDCM_SYNTAXES`, 8 or 16 bits
    allocated, an intact encapsulated value whose codestream ends with its
    end marker. ``out`` is an empty integer ``(rows, cols)`` array of the
    stored sample type.
    """
    if (header.file.path is None or not header.compressed or header.offset is None
            or header.transfer_syntax not in GDCM_SYNTAXES):
        return None
    try:
        params = params_from_header(header.f, header.ds, header.transfer_syntax, True)
        if (params.bits_allocated not in (8, 16)
                or not _complete_codestream(header.file.path, header.offset, params)):
            return None
    except Exception:  # noqa: BLE001 - decoded in process, where slice_hu names the problem
        return None
    dtype = np.dtype(f"<{'i' if params.signed else 'u'}{params.bits_allocated // 8}")
    return str(header.file.path), np.empty((params.rows, params.cols), dtype=dtype)


class Batch:
    """A series' slices being decoded by the workers, handed out as they arrive.

    Returned by :func:`predecode`; the loader converts each slice to HU as
    soon as its stored values are here, while the workers decode the next
    ones. One thread per worker feeds it a slice at a time, so a slow slice
    holds up only its own worker.

    If a worker dies, the batch stops: the slices not yet handed out are
    decoded by the caller in process (their stored values are dropped), the
    batch counts as lost (:data:`crashes`, :data:`MAX_BROKEN`) and a warning
    is logged.
    """

    def __init__(self, jobs, workers):
        """Start decoding.

        Args:
            jobs: dict index -> ``(path, out)`` (see :func:`_job`).
            workers: the :class:`Worker` objects to use, one thread each.
        """
        self._todo = queue.SimpleQueue()
        for index, (path, out) in jobs.items():
            self._todo.put((index, path, out))
        self._ready = {index: threading.Event() for index in jobs}
        self._done = {}
        self._left = set(jobs)  # indices not yet asked for
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._running = len(workers)
        self._workers = workers
        self._counts = collections.Counter()
        self._start = time.perf_counter()
        for worker in workers:
            threading.Thread(target=self._drive, args=(worker,), daemon=True,
                             name=f"gdcm-worker-{worker.pid}").start()

    def pop(self, index, default=None):
        """Stored values of slice ``index`` once decoded, else ``default`` (decode it in process).

        Waits for that slice (or the end of the batch); the last slice asked
        for also waits for the batch's bookkeeping (:data:`last_batch`).
        """
        event = self._ready.get(index)
        if event is None:
            return default
        if not event.wait(STALL_S):
            log.warning("GDCM workers gave no slice for %.0f s; ending them", STALL_S)
            self._stop.set()
            for worker in self._workers:
                worker.dead = True  # never given back
                worker.process.kill()  # a thread still reading then sees the end of the pipe
            event.wait()
        with self._lock:
            self._left.discard(index)
            last = not self._left
            stored = self._done.pop(index, default)
        if last:
            self._finished.wait()
        return stored

    def __len__(self):
        """Slices decoded and not yet handed out, once the whole batch has ended."""
        self._finished.wait()
        with self._lock:
            return len(self._done)

    def _drive(self, worker):
        """Feed one worker until the queue is empty or the batch stops (runs in its own thread).

        :data:`IN_FLIGHT` requests are kept queued at the worker, so that it
        never waits for this thread (which may wait for the GIL).
        """
        pending = collections.deque()
        try:
            while True:
                while len(pending) < IN_FLIGHT and not self._stop.is_set():
                    try:
                        job = self._todo.get_nowait()
                    except queue.Empty:
                        break
                    pending.append(job)
                    worker.send(job[1], job[2].nbytes)
                if not pending:
                    return
                index, _, out = pending.popleft()
                decoded = worker.receive(out)
                with self._lock:
                    self._counts[worker.pid] += 1
                    if decoded:
                        self._done[index] = out
                self._ready[index].set()
        except WorkerDied as exc:
            log.debug("GDCM worker %s died: %s", worker.pid, exc)
            worker.dead = True
        except BaseException:  # noqa: BLE001 - anything else: stop, the caller decodes the rest
            worker.dead = True
            log.exception("GDCM worker thread failed")
        finally:
            if worker.dead:
                self._stop.set()
                worker.close(wait=False)
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self._finish()

    def _finish(self):
        """After the last thread: give the workers back, keep the books, release every waiter."""
        global _broken_in_a_row, crashes, last_batch
        _give_back([w for w in self._workers if not w.dead])
        lost = self._stop.is_set()
        with self._lock:
            if lost:
                self._done.clear()
            last_batch = BatchReport(len(self._ready), dict(self._counts),
                                     time.perf_counter() - self._start, lost=lost)
        if lost:
            crashes += 1
            _broken_in_a_row += 1
            left = len(self._left)
            log.warning("a GDCM worker died; %s of its batch %s decoded in process instead",
                        plural(left, "slice"), "is" if left == 1 else "are")
        else:
            _broken_in_a_row = 0
        self._finished.set()
        for event in self._ready.values():
            event.set()


def predecode(headers):
    """Start decoding the eligible slices of a series in the worker processes.

    Eligible: see :func:`_job`; at least :data:`MIN_BATCH` of them, and
    python-gdcm installed. :data:`last_batch` describes the batch once it
    has ended.

    Args:
        headers: the series' :class:`~cranioscan.dicom.header.Header` list.

    Returns:
        a :class:`Batch` (``pop(index, None)`` gives slice ``index``'s
        integer ``(rows, cols)`` stored values once GDCM decoded it, or None:
        decode that slice in process), or an empty dict when nothing was sent.
    """
    global _broken_in_a_row, crashes, last_batch
    if len(headers) < MIN_BATCH or _broken_in_a_row >= MAX_BROKEN or not _gdcm_installed():
        return {}
    jobs = {i: job for i, h in enumerate(headers) if (job := _job(h)) is not None}
    if len(jobs) < MIN_BATCH:
        return {}
    try:
        workers = _take_workers(min(_cores(), len(jobs)))
    except OSError as exc:  # no worker process could start
        crashes += 1
        _broken_in_a_row += 1
        last_batch = BatchReport(len(jobs), {}, 0.0, lost=True)
        log.warning("GDCM worker processes could not start (%s); %s decoded in process", exc,
                    plural(len(jobs), "slice is", "slices are"))
        return {}
    return Batch(jobs, workers)
