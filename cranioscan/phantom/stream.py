"""Phantom studies rendered by worker processes into a growing in-memory pool.

For training on an accelerator: the GPU need not wait for the whole data set.
Worker processes render the studies of a plan (``balanced_plan``) and turn
them into uint8 model inputs; a thread in the parent appends them, in plan
order, to preallocated arrays, so a trainer can draw batches from the slices
ready so far while the rest are still being made. The rows are the same for
the same plan whatever the number of workers.

Workers are started with the ``spawn`` method, so the parent may already hold
an accelerator runtime (JAX, TensorFlow) that must not be forked.
"""

__all__ = ["StudyStream"]

import multiprocessing
import threading
import time

import numpy as np

from ..labels import CLASSES
from ..preprocess import to_model_input, to_uint8
from .study import make_study

#: Most slices a study of the generator has (its default draws 24-40).
MAX_SLICES_PER_STUDY = 40


def _render(job):
    """Worker: ``(seed, kwargs, matrix, size, n_slices)`` -> the study's arrays."""
    seed, kwargs, matrix, size, n_slices = job
    study = make_study(seed, matrix=matrix, n_slices=n_slices, **kwargs)
    return seed, to_uint8(to_model_input(study.hu, size)), study.labels, study.positions


class StudyStream:
    """Render ``plan`` in the background; read the slices ready so far.

    Args:
        plan: list of ``(seed, make_study kwargs)`` (``balanced_plan``).
        size: model input side in pixels.
        matrix: phantom matrix (rows and columns of the rendered slices).
        n_slices: slices per study (default: the generator's 24-40).
        workers: worker processes (default: all cores but one).

    Attributes:
        images: uint8 ``(capacity, size, size, 3)``; rows ``[0, ready)`` are filled.
        labels: uint8 ``(capacity, 6)`` in ``CLASSES`` order.
        ids: one dict per ready slice: ``image_id``, ``patient``, ``study``, ``position``.
        study_rows: ``(first_row, end_row)`` of each ready study, in plan order.
    """

    def __init__(self, plan, size, matrix=256, n_slices=None, workers=None):
        self.plan = list(plan)
        self.size, self.matrix, self.n_slices = int(size), int(matrix), n_slices
        self.workers = max(1, workers or (multiprocessing.cpu_count() - 1))
        capacity = len(self.plan) * int(n_slices or MAX_SLICES_PER_STUDY)
        self.images = np.empty((capacity, self.size, self.size, 3), np.uint8)
        self.labels = np.zeros((capacity, len(CLASSES)), np.uint8)
        self.ids, self.study_rows = [], []
        self.error = None
        self._ready = 0
        self._lock = threading.Lock()
        self._pool = self._thread = None
        self._stopping = threading.Event()

    @property
    def ready(self):
        """Number of slices ready (rows ``[0, ready)`` of ``images`` and ``labels``)."""
        with self._lock:
            return self._ready

    @property
    def studies_ready(self):
        with self._lock:
            return len(self.study_rows)

    @property
    def finished(self):
        """True once every study of the plan is in (or rendering failed)."""
        return self.studies_ready == len(self.plan) or self.error is not None

    def start(self):
        """Start the workers and the collecting thread; returns ``self``."""
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(self.workers)
        jobs = [(seed, kwargs, self.matrix, self.size, self.n_slices) for seed, kwargs in self.plan]
        results = self._pool.imap(_render, jobs, chunksize=1)
        self._thread = threading.Thread(target=self._collect, args=(results,), daemon=True)
        self._thread.start()
        return self

    def _collect(self, results):
        try:
            for seed, images, labels, positions in results:
                name = f"PH{seed:07d}"
                new_ids = [{"image_id": f"{name}_{z:03d}", "patient": name, "study": name,
                            "position": float(p)} for z, p in enumerate(positions)]
                # Under the lock, so nothing is added once close() has returned.
                with self._lock:
                    if self._stopping.is_set():
                        return
                    start, end = self._ready, self._ready + len(images)
                    self.images[start:end] = images
                    self.labels[start:end] = labels
                    self.ids.extend(new_ids)
                    self.study_rows.append((start, end))
                    self._ready = end
        except Exception as exc:  # reported to the reader by wait_for / check
            self.error = exc

    def check(self):
        """Raise the workers' error, if rendering failed."""
        if self.error is not None:
            raise RuntimeError(f"phantom rendering failed: {self.error!r}") from self.error

    def wait_for(self, studies, timeout=None, poll=0.2):
        """Block until ``studies`` studies are ready; returns the slices ready.

        Raises:
            RuntimeError: rendering failed.
            TimeoutError: not ready within ``timeout`` seconds.
        """
        studies = min(int(studies), len(self.plan))
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.studies_ready < studies:
            self.check()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.studies_ready} of {studies} phantom studies ready "
                                   f"after {timeout:.0f} s")
            time.sleep(poll)
        self.check()
        return self.ready

    def close(self):
        """Stop the workers; the pool stays as it is (studies not yet in are dropped)."""
        with self._lock:
            self._stopping.set()
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
