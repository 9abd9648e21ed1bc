"""One series' reading: the single place where flags, key slices, the opening
slice and the series verdict are decided.

Every screen and output (viewer, PDF report, CSV, review log, PACS results,
command line) formats a :class:`SeriesResult`; none decides on its own. The
rules, each in one function:

- :func:`flag_matrix`: a slice is flagged for a class when its probability is
  finite and at or above the class's threshold (a NaN or infinite
  probability is never a flag);
- :func:`finding_summary`: per class, the highest finite probability, its
  slice, and the flagged slices;
- :func:`key_slices`: each flagged finding's highest slice, one key slice per
  slice naming every finding it stands for, ordered by the highest
  probability among them; none when nothing is flagged;
- :func:`opening_slice`: the slice with the highest finite "any" probability
  when it is flagged, else the middle slice;
- the verdict: a class's series score at or above its series threshold
  (only for models that give series scores).

Pure numpy: no TensorFlow, no Streamlit.
"""

__all__ = [
    "ModelIdentity",
    "KeySlice",
    "Finding",
    "SeriesResult",
    "flag_matrix",
    "finding_summary",
    "key_slices",
    "opening_slice",
    "verdict_of",
    "MAX_KEY_SLICES",
]

import dataclasses
import math

import numpy as np

from .labels import CLASSES

#: Most key slices a result names (a report page holds six).
MAX_KEY_SLICES = 6


@dataclasses.dataclass(frozen=True)
class ModelIdentity:
    """Which model read the series.

    Attributes:
        name: the model card's name (or the file name).
        sha256: hex SHA-256 of the model file ("" for a model in memory).
        input_size: side of the square model input, pixels.
        validity: one line on what it was trained on and that it is not for
            clinical use.
    """

    name: str
    sha256: str
    input_size: int
    validity: str


@dataclasses.dataclass(frozen=True)
class KeySlice:
    """A slice that stands for one or more flagged findings.

    Attributes:
        index: 0-based slice index in series order.
        findings: the classes it is the highest flagged slice of, in
            ``CLASSES`` order.
        probability: the highest of those classes' probabilities there.
    """

    index: int
    findings: tuple
    probability: float


@dataclasses.dataclass(frozen=True)
class Finding:
    """One class over the series.

    Attributes:
        name: class name.
        max_prob: highest finite slice probability (NaN when none is finite).
        max_slice: its 0-based slice (-1 when none).
        threshold: the slice-flag threshold.
        flagged_slices: 0-based slices flagged for this class.
        series_score: the series model's score (None without one).
        series_threshold: threshold of the verdict (None without one).
        verdict: series score at or above its threshold (None without one).
    """

    name: str
    max_prob: float
    max_slice: int
    threshold: float
    flagged_slices: tuple
    series_score: float = None
    series_threshold: float = None
    verdict: bool = None

    @property
    def flagged(self):
        """True when some slice is flagged for this class."""
        return bool(self.flagged_slices)


def _as_probs(probs, classes):
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"expected probabilities of shape (n, {len(classes)}), got {probs.shape}")
    return probs


def flag_matrix(probs, thresholds, classes=CLASSES):
    """bool ``(n, len(classes))``: slice ``i`` flagged for class ``j``.

    Args:
        probs: ``(n, len(classes))`` probabilities.
        thresholds: dict class -> threshold; a class without one (or None)
            is never flagged.
        classes: class names of the columns.

    Returns:
        True where the probability is finite and ``>= threshold``.
    """
    probs = _as_probs(probs, classes)
    out = np.zeros(probs.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for j, name in enumerate(classes):
            t = (thresholds or {}).get(name)
            if t is not None and math.isfinite(float(t)):
                out[:, j] = np.isfinite(probs[:, j]) & (probs[:, j] >= float(t))
    return out


def _top(column):
    """``(highest finite value, its index)``, or ``(nan, -1)``."""
    finite = np.isfinite(column)
    if not finite.any():
        return float("nan"), -1
    k = int(np.argmax(np.where(finite, column, -np.inf)))
    return float(column[k]), k


def finding_summary(probs, thresholds, classes=CLASSES):
    """dict class -> :class:`Finding` (without series scores)."""
    probs = _as_probs(probs, classes)
    flags = flag_matrix(probs, thresholds, classes)
    out = {}
    for j, name in enumerate(classes):
        best, where = _top(probs[:, j])
        t = (thresholds or {}).get(name)
        out[name] = Finding(name, best, where, float("nan") if t is None else float(t),
                            tuple(int(i) for i in np.flatnonzero(flags[:, j])))
    return out


def key_slices(findings, classes=CLASSES, limit=MAX_KEY_SLICES):
    """Key slices of flagged findings: one per slice, naming every finding it stands for.

    Args:
        findings: dict class -> :class:`Finding`.
        classes: class order of the names on a key slice.
        limit: most key slices returned.

    Returns:
        list of :class:`KeySlice`, highest probability first; empty when no
        finding is flagged.
    """
    by_slice = {}
    for name in classes:
        f = findings[name]
        if f.flagged and f.max_slice >= 0:
            names, p = by_slice.get(f.max_slice, ((), -np.inf))
            by_slice[f.max_slice] = (names + (name,), max(p, f.max_prob))
    ordered = sorted(by_slice.items(), key=lambda item: (-item[1][1], item[0]))
    return [KeySlice(index, names, float(p)) for index, (names, p) in ordered[:limit]]


def opening_slice(probs, thresholds, classes=CLASSES):
    """``(index, passes)``: where a series opens and whether a flag put it there.

    The slice with the highest finite "any" probability when it is flagged,
    else the middle slice (``n // 2``); 0 for an empty series.
    """
    probs = _as_probs(probs, classes)
    n = probs.shape[0]
    if n == 0:
        return 0, False
    j = list(classes).index("any")
    best, where = _top(probs[:, j])
    if where >= 0 and flag_matrix(probs[where:where + 1], thresholds, classes)[0, j]:
        return where, True
    return n // 2, False


def verdict_of(series_scores, series_thresholds, classes=CLASSES):
    """dict class -> bool: the series score is finite and at or above its threshold."""
    out = {}
    for name in classes:
        s, t = series_scores.get(name), series_thresholds.get(name)
        out[name] = bool(s is not None and t is not None and math.isfinite(s) and s >= t)
    return out


@dataclasses.dataclass(frozen=True)
class SeriesResult:
    """What the model says about one series, decided once.

    Attributes:
        probabilities: float32 ``(n, len(classes))`` per-slice probabilities
            (with slice context where the model has it).
        thresholds: dict class -> slice-flag threshold.
        model: :class:`ModelIdentity`.
        classes: class names of the columns.
        series_scores: dict class -> series-level score, or None when the
            model gives none.
        series_thresholds: dict class -> verdict threshold, or None.
        context: how the slices were read: ``"series"`` (each slice saw its
            neighbours), ``"single slice"`` (one slice: no neighbours to
            see) or ``"slice"`` (a model without slice context).
        notes: plain-language notes about the reading (e.g. thin slices
            grouped into slabs).
    """

    probabilities: np.ndarray
    thresholds: dict
    model: ModelIdentity
    classes: tuple = CLASSES
    series_scores: dict = None
    series_thresholds: dict = None
    context: str = "slice"
    notes: tuple = ()

    def __post_init__(self):
        # A copy: freezing the caller's own float32 array would be a side effect.
        probs = np.array(self.probabilities, dtype=np.float32)
        _as_probs(probs, self.classes)
        probs.setflags(write=False)
        object.__setattr__(self, "probabilities", probs)
        object.__setattr__(self, "thresholds", dict(self.thresholds))

    @property
    def n_slices(self):
        return int(self.probabilities.shape[0])

    @property
    def flags(self):
        """bool ``(n, len(classes))``: :func:`flag_matrix`."""
        return flag_matrix(self.probabilities, self.thresholds, self.classes)

    @property
    def verdict(self):
        """dict class -> bool "hemorrhage likely in this series", or None
        without series scores."""
        if self.series_scores is None or self.series_thresholds is None:
            return None
        return verdict_of(self.series_scores, self.series_thresholds, self.classes)

    @property
    def findings(self):
        """dict class -> :class:`Finding`, series scores and verdict included."""
        out = finding_summary(self.probabilities, self.thresholds, self.classes)
        verdict = self.verdict
        if verdict is not None:
            out = {name: dataclasses.replace(
                f, series_score=float(self.series_scores[name]),
                series_threshold=float(self.series_thresholds[name]), verdict=verdict[name])
                for name, f in out.items()}
        return out

    @property
    def flagged_classes(self):
        """Classes with at least one flagged slice, in class order."""
        return [name for name, f in self.findings.items() if f.flagged]

    @property
    def key_slices(self):
        """:func:`key_slices` of this result's findings."""
        return key_slices(self.findings, self.classes)

    @property
    def opening(self):
        """``(index, passes)`` of :func:`opening_slice`."""
        return opening_slice(self.probabilities, self.thresholds, self.classes)

    @property
    def opening_slice(self):
        """0-based slice the viewer opens on."""
        return self.opening[0]

    def slice_flags(self, index):
        """Classes flagged on slice ``index``, in class order."""
        row = self.flags[int(index)]
        return [name for name, flagged in zip(self.classes, row) if flagged]

    def verdict_sentence(self):
        """The series verdict in words, read first; then how the slices were read.

        E.g. ``"Series verdict: hemorrhage likely (any hemorrhage score 0.820,
        threshold 0.410; subdural)."`` or, for a model or input without one,
        why there is none.
        """
        verdict = self.verdict
        if verdict is None:
            if self.context == "single slice":
                return ("No series verdict: a single slice has no neighbours; its "
                        "probabilities come from the slice alone.")
            return "No series verdict: this model reads slices one at a time."
        score, threshold = self.series_scores["any"], self.series_thresholds["any"]
        subtypes = [name for name in self.classes[1:] if verdict[name]]
        if verdict["any"]:
            which = f"; {', '.join(subtypes)}" if subtypes else ""
            return (f"Series verdict: hemorrhage likely (any hemorrhage score {score:.3f}, "
                    f"threshold {threshold:.3f}{which}).")
        return (f"Series verdict: no hemorrhage likely (any hemorrhage score {score:.3f}, "
                f"below the threshold {threshold:.3f}).")

    def summary(self):
        """The per-class dict of ``inference.summarize_series``: ``max_prob``,
        ``max_slice``, ``slices_above``, ``threshold``."""
        return {name: {"max_prob": f.max_prob, "max_slice": f.max_slice,
                       "slices_above": list(f.flagged_slices), "threshold": f.threshold}
                for name, f in self.findings.items()}
