"""Inference: a loaded CranioScan model and per-slice probabilities for a series.

:class:`Predictor` wraps one ``.keras`` model file: ``Predictor.load(path)``
loads it in Keras safe mode (custom layers of :mod:`cranioscan.net.layers`
registered) and turns every way a file can be unusable (missing, not a
``.keras`` archive, corrupt, unknown layer, not six outputs) into a
:class:`ModelLoadError` whose message names the file. It also reads the
``model_card.json`` beside the model, if any, for per-class thresholds.

``Predictor.predict_series(series)`` runs ``cranioscan.preprocess.to_model_input``
(the same path as training) and a ``tf.function``-compiled forward pass in
batches, reporting progress after each batch; ``summarize_series`` reduces
the ``(n, 6)`` probabilities to what a reader of the study wants first: per
class, the highest slice probability, where it is, and which slices pass
the threshold.
"""

__all__ = [
    "CARD_FILE",
    "DEFAULT_THRESHOLD",
    "ModelLoadError",
    "file_sha256",
    "Predictor",
    "summarize_series",
    "resolve_thresholds",
    "SeriesResult",
    "SERIES_FILE",
]

import hashlib
import json
import math
import os
import re
import threading
import zipfile

import numpy as np

from .calibration import apply_calibration
from .card_text import model_name, short_notice
from .labels import CLASSES
from .preprocess import head_box, to_model_input
from .run_folder import CARD_FILE, SERIES_MODEL_FILE
from .series_result import ModelIdentity, SeriesResult
from .slabs import SLAB_MM, make_slabs, needs_slabs, relative_positions

#: The series model's file, beside the slice model, when the card names one.
SERIES_FILE = SERIES_MODEL_FILE

#: Slice spacing assumed (mm) for HU arrays given without slice positions.
ASSUMED_SPACING_MM = 5.0

#: Threshold of a class the card (or the caller) gives none for.
DEFAULT_THRESHOLD = 0.5


class ModelLoadError(Exception):
    """A model file cannot be used; the message names the file and the problem."""


def resolve_thresholds(thresholds=None, classes=CLASSES, default=DEFAULT_THRESHOLD):
    """Return ``{class: float}`` thresholds for every class.

    Args:
        thresholds: ``None`` (``default`` for all), one number for all
            classes, a dict ``class -> number`` (missing classes get
            ``default``) or a sequence with one number per class in
            ``classes`` order.
        classes: class names.
        default: threshold of classes not given.

    Raises:
        ValueError: unknown class name, wrong length, or a value that is not
            a number in [0, 1].
    """
    classes = tuple(classes)
    if thresholds is None:
        out = {c: float(default) for c in classes}
    elif isinstance(thresholds, dict):
        unknown = sorted(set(thresholds) - set(classes))
        if unknown:
            raise ValueError(f"thresholds for unknown classes {unknown}; classes are {classes}")
        out = {c: thresholds.get(c, default) for c in classes}
    elif isinstance(thresholds, (int, float, np.number)):
        out = {c: thresholds for c in classes}
    else:
        values = list(thresholds)
        if len(values) != len(classes):
            raise ValueError(
                f"expected {len(classes)} thresholds (one per class), got {len(values)}")
        out = dict(zip(classes, values))
    for c, value in out.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"threshold of {c!r} is not a number: {value!r}") from None
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold of {c!r} must be in [0, 1], got {value}")
        out[c] = value
    return out


def summarize_series(probs, thresholds=None, classes=CLASSES):
    """Per-class summary of a series' slice probabilities.

    Args:
        probs: ``(n, len(classes))`` probabilities, slices in series order.
        thresholds: as for :func:`resolve_thresholds` (default 0.5); a slice
            passes when its probability is ``>= threshold`` (the convention
            of ``cranioscan.evaluation.metrics``).
        classes: class names of the columns.

    Returns:
        dict ``class -> {"max_prob": float, "max_slice": int,
        "slices_above": list[int], "threshold": float}``; for an empty
        series (or a class without a finite probability) ``max_prob`` is
        NaN and ``max_slice`` is -1. The rules are
        :mod:`cranioscan.series_result`'s.
    """
    classes = tuple(classes)
    thresholds = resolve_thresholds(thresholds, classes)
    return SeriesResult(np.asarray(probs, dtype=np.float32), thresholds,
                        ModelIdentity("", "", 0, ""), classes).summary()


def _read_card(path):
    """The JSON model card beside ``path``, or {}; a broken card is an error."""
    card_path = os.path.join(os.path.dirname(os.path.abspath(path)), CARD_FILE)
    if not os.path.isfile(card_path):
        return {}
    try:
        with open(card_path, encoding="utf-8") as fh:
            card = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"The model card {card_path} cannot be read: {exc}") from None
    if not isinstance(card, dict):
        raise ModelLoadError(f"The model card {card_path} is not a JSON object.")
    return card


def file_sha256(path, chunk=1 << 20):
    """SHA-256 hex digest of a file, read in ``chunk``-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _explain_load_failure(path, exc):
    """A plain-language reason for a ``keras.saving.load_model`` failure."""
    full = str(exc)
    lowered = full.lower()
    unknown = re.search(r"could not locate (?:class|function) '([^']+)'", full, re.IGNORECASE)
    if unknown or "unknown layer" in lowered:
        what = f" ({unknown.group(1)})" if unknown else ""
        return (f"The model {path} uses a layer unknown to this version of CranioScan{what}. "
                "It was probably saved by another program or version.")
    if "safe_mode" in lowered or "lambda" in lowered:
        return (f"The model {path} contains Python code (a Lambda layer), which is refused "
                "for safety. Save the model without Lambda layers.")
    first = full.strip().splitlines()[0] if full.strip() else type(exc).__name__
    if len(first) > 300:
        first = first[:300] + "..."
    return f"The model {path} cannot be loaded: it is damaged or not a CranioScan model ({first})."


def _hu_slices(series):
    """float32 ``(n, rows, cols)`` HU of a ``Series`` or an HU array (one slice allowed)."""
    hu = np.asarray(series.hu if hasattr(series, "hu") else series, dtype=np.float32)
    if hu.ndim == 2:
        hu = hu[None]
    if hu.ndim != 3:
        raise ValueError(f"expected (n, rows, cols) HU slices, got shape {hu.shape}")
    return hu


def _as_read(series, hu):
    """What the series stage reads: ``(hu, positions in mm, index, notes)``.

    Positions are the series' own (an HU array's slices are taken as
    :data:`ASSUMED_SPACING_MM` apart, in the order given); a thin series
    becomes ~5 mm slabs (:mod:`cranioscan.slabs`), and ``index`` maps each
    slice to the row it was read in.
    """
    positions = getattr(series, "positions", None)
    positions = (np.arange(len(hu), dtype=np.float64) * ASSUMED_SPACING_MM if positions is None
                 else np.asarray(positions, dtype=np.float64))
    if not needs_slabs(positions):
        return hu, positions, np.arange(len(hu)), ()
    hu, positions, index = make_slabs(hu, positions)
    return hu, positions, index, (f"Thin slices: the model read {len(hu)} slabs of about "
                                  f"{SLAB_MM:g} mm (as it was trained); each slice shows its "
                                  "slab's probabilities.",)


class Predictor:
    """A CranioScan model ready to score series.

    Attributes:
        model: the ``keras.Model`` (input float32 ``(n, s, s, 3)`` in [0, 1],
            output ``(n, 6)`` probabilities).
        path: the model file (str), or None for a model given in memory.
        classes: tuple of class names, ``cranioscan.labels.CLASSES``.
        input_size: side ``s`` of the square model input, pixels.
        card: the ``model_card.json`` beside the file as a dict ({} if none).
        thresholds: dict class -> float, from the argument, else the card's
            ``thresholds``, else 0.5 (on the calibrated scale when the card
            has a calibration).
        calibration: the card's ``calibration`` (per-class Platt scaling,
            :mod:`cranioscan.calibration`) that every probability this
            predictor returns has been through, or None.
        sha256: hex SHA-256 of the model file (computed on first use; None
            for a model in memory).
        scores_key: what cached probabilities are keyed by (the file and its
            calibration).
        series_thresholds: dict class -> threshold of the series verdict
            (the card's ``series_thresholds``), or None for a model without
            series scores.
    """

    def __init__(self, model, path=None, thresholds=None, card=None, series_model=None):
        """Wrap an in-memory ``keras.Model`` (use :meth:`load` for files).

        Raises:
            ValueError: the model does not map a square 3-channel image to
                ``len(CLASSES)`` outputs.
        """
        from .net.model import model_classes, model_input_size  # Keras: loads with a model

        self.model = model
        self.path = None if path is None else os.fspath(path)
        self.classes = tuple(model_classes(model))
        self.input_size = model_input_size(model)
        if int(model.inputs[0].shape[-1]) != 3:
            raise ValueError(f"expected a 3-channel model input, got {model.inputs[0].shape}")
        self.card = dict(card or {})
        if thresholds is None:
            thresholds = self.card.get("thresholds")
        self.thresholds = resolve_thresholds(thresholds, self.classes)
        series_thresholds = self.card.get("series_thresholds")
        self.series_thresholds = (None if series_thresholds is None else
                                  resolve_thresholds(series_thresholds, self.classes))
        self.calibration = self.card.get("calibration") or None
        if self.calibration is not None:
            apply_calibration(np.full((1, len(self.classes)), 0.5), self.calibration,
                              self.classes)  # a broken entry fails here, not mid-series
        self.series_model = series_model
        self.frame = (self.card.get("preprocessing") or {}).get("frame", "full")
        self.calibration_single = self.card.get("calibration_single") or None
        self._series_sha256 = None
        self._sha256 = None
        self._forward = None
        self._forward_embed = None
        self._series_attention = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ loading
    @classmethod
    def load(cls, path, thresholds=None):
        """Load a ``.keras`` model file in safe mode.

        Args:
            path: the ``.keras`` file.
            thresholds: overrides the card's thresholds (see
                :func:`resolve_thresholds`).

        Raises:
            ModelLoadError: the file is missing, not a ``.keras`` archive,
                damaged, uses unknown layers, or does not have six outputs;
                the message names the file.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise ModelLoadError(f"Model file not found: {path}")
        if os.path.isdir(path):
            raise ModelLoadError(f"{path} is a folder, not a model file (.keras).")
        if not zipfile.is_zipfile(path):
            raise ModelLoadError(
                f"{path} is not a Keras model file: a .keras file is a zip archive "
                "written by model.save(...).")
        card = _read_card(path)
        from .net.model import load_model  # Keras loads here; registers the custom layers

        try:
            model = load_model(path)
        except Exception as exc:  # keras raises many types for bad files
            raise ModelLoadError(_explain_load_failure(path, exc)) from exc
        if isinstance(model.outputs, (list, tuple)) and len(model.outputs) != 1:
            raise ModelLoadError(
                f"The model {path} has {len(model.outputs)} outputs; a CranioScan model has "
                f"one output of {len(CLASSES)} probabilities.")
        series_model = None
        if card.get("series_model"):
            series_path = os.path.join(os.path.dirname(os.path.abspath(path)),
                                       os.path.basename(str(card["series_model"])))
            if not os.path.isfile(series_path):
                raise ModelLoadError(f"The model card beside {path} names a series model, "
                                     f"{series_path}, that is missing.")
            try:
                series_model = load_model(series_path)
            except Exception as exc:  # keras raises many types for bad files
                raise ModelLoadError(_explain_load_failure(series_path, exc)) from exc
        try:
            return cls(model, path=path, thresholds=thresholds, card=card,
                       series_model=series_model)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"The model {path} cannot be used: {exc}.") from None

    @property
    def sha256(self):
        if self._sha256 is None and self.path is not None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    @property
    def scores_key(self):
        """Hex digest naming the probabilities this predictor returns: the model
        file's SHA-256, joined with the card's calibration when there is one
        (the same file under another calibration scores differently). None for
        a model in memory."""
        if self.sha256 is None or not self.calibration:
            return self.sha256
        text = self.sha256 + json.dumps(self.calibration, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def __repr__(self):
        return (f"Predictor(path={self.path!r}, input_size={self.input_size}, "
                f"classes={len(self.classes)})")

    # ------------------------------------------------------------ prediction
    def _forward_fn(self):
        """The compiled forward pass, traced once for any batch size."""
        if self._forward is None:
            with self._lock:
                if self._forward is None:
                    import tensorflow as tf

                    model = self.model
                    spec = tf.TensorSpec((None, self.input_size, self.input_size, 3), tf.float32)

                    @tf.function(input_signature=[spec], reduce_retracing=True)
                    def forward(x):
                        return model(x, training=False)

                    self._forward = forward
        return self._forward

    def predict_inputs(self, x, batch_size=8, progress=None):
        """Probabilities for ready-made model input.

        Args:
            x: float32 ``(n, s, s, 3)`` in [0, 1] (``to_model_input`` output,
                ``s = input_size``).
            batch_size: images per forward pass.
            progress: optional ``progress(done, total)`` called after each
                batch with the number of images done so far.

        Returns:
            float32 ``(n, len(classes))`` probabilities.
        """
        x = np.asarray(x, dtype=np.float32)
        s = self.input_size
        if x.ndim != 4 or x.shape[1:] != (s, s, 3):
            raise ValueError(f"expected model input of shape (n, {s}, {s}, 3), got {x.shape}")
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        n = len(x)
        out = np.empty((n, len(self.classes)), dtype=np.float32)
        forward = self._forward_fn()
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            out[start:stop] = self._calibrated(forward(x[start:stop]).numpy())
            if progress is not None:
                progress(stop, n)
        return out

    def _calibrated(self, probs):
        """The card's calibration applied to raw model probabilities ``(b, 6)``."""
        return self._apply(probs, self.calibration)

    def _apply(self, probs, calibration):
        if calibration is None:
            return probs
        return apply_calibration(probs, calibration, self.classes).astype(np.float32)

    def frame_box(self, hu_slices):
        """The ``(top, left, side)`` frame of a series' slices for this model
        (:func:`cranioscan.preprocess.head_box` when the card's preprocessing
        frames the head), or None (the whole slice)."""
        if self.frame != "head":
            return None
        return head_box(hu_slices)

    def prepare(self, hu_slices, box=None):
        """Model input for HU slices: ``to_model_input(hu, input_size, box)``."""
        return to_model_input(hu_slices, self.input_size, box=box)

    def _embed_fn(self):
        """Compiled pass giving ``(embeddings, probabilities)`` of slices."""
        if self._forward_embed is None:
            with self._lock:
                if self._forward_embed is None:
                    import keras
                    import tensorflow as tf

                    from .net.series import EMBEDDING_LAYER  # Keras, as above

                    model = self.model
                    both = keras.Model(model.inputs[0],
                                       [model.get_layer(EMBEDDING_LAYER).output, model.outputs[0]])
                    spec = tf.TensorSpec((None, self.input_size, self.input_size, 3), tf.float32)

                    @tf.function(input_signature=[spec], reduce_retracing=True)
                    def forward(x):
                        return both(x, training=False)

                    self._forward_embed = forward
        return self._forward_embed

    def _slice_pass(self, hu, box, batch_size, progress, embed):
        """Slice-model outputs of ``(n, rows, cols)`` HU in batches: probabilities
        ``(n, 6)`` (raw) and, with ``embed``, embeddings ``(n, d)``."""
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        n = len(hu)
        probs, embeddings = np.empty((n, len(self.classes)), np.float32), []
        forward = self._embed_fn() if embed else self._forward_fn()
        # Preprocess batch by batch: a large series never holds all of its
        # model input in memory at once, and the cost is the same.
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            out = forward(self.prepare(hu[start:stop], box))
            if embed:
                embeddings.append(out[0].numpy())
                out = out[1]
            probs[start:stop] = out.numpy()
            if progress is not None:
                progress(stop, n)
        return probs, (np.concatenate(embeddings) if embed else None)

    def read(self, series, batch_size=8, progress=None):
        """Score a series: per-slice probabilities and, with a series model,
        series scores.

        Args:
            series: a ``cranioscan.dicom.Series`` (or an ``(n, rows, cols)``
                HU array: slices then taken as 5 mm apart, in the order given).
            batch_size: slices per forward pass.
            progress: optional ``progress(done, total)`` after each batch.

        Returns:
            ``(probabilities, series_scores, context, notes)``: float32 ``(n,
            6)`` calibrated probabilities in slice order; dict class -> series
            score or None; ``"series"``, ``"single slice"`` or ``"slice"``;
            tuple of plain-language notes.
        """
        hu = _hu_slices(series)
        if len(hu) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32), None, "slice", ()
        box = self.frame_box(hu)
        if self.series_model is None:
            probs, _ = self._slice_pass(hu, box, batch_size, progress, embed=False)
            return self._calibrated(probs), None, "slice", ()
        hu, positions, index, notes = _as_read(series, hu)
        own, embeddings = self._slice_pass(hu, box, batch_size, progress, embed=True)
        if len(hu) == 1:
            notes += ("A single slice: the model saw no neighbouring slices and gives no "
                      "series verdict.",)
            probs = self._apply(own, self.calibration_single)
            return probs[index], None, "single slice", notes
        slice_p, series_p = self.series_model(
            [embeddings[None], relative_positions(positions)[None]], training=False)
        probs = self._calibrated(np.asarray(slice_p)[0])
        scores = {c: float(v) for c, v in zip(self.classes, np.asarray(series_p)[0])}
        return probs[index], scores, "series", notes

    def series_attention(self, series, batch_size=8):
        """What the series Transformer attended to across the slices.

        The attention weights of the first member's first series block,
        averaged over its heads: row ``i`` says how much slice ``i``'s
        reading drew on each slice of the series (rows sum to 1).

        Args:
            series: a ``Series`` (or ``(n, rows, cols)`` HU, 5 mm apart).
            batch_size: slices per forward pass.

        Returns:
            ``(weights, index)``: float32 ``(m, m)`` over the ``m`` slices (or
            slabs) the model read, and int ``(n,)`` the row of each slice;
            None for a model without a series stage or a single slice.
        """
        from .net.layers import TransformerBlock  # Keras: only with a series stage

        if self.series_model is None:
            return None
        hu = _hu_slices(series)
        if len(hu) < 2:
            return None
        box = self.frame_box(hu)
        hu, positions, index, _ = _as_read(series, hu)
        _, embeddings = self._slice_pass(hu, box, batch_size, None, embed=True)
        if self._series_attention is None:
            import keras

            block = next(layer for layer in self.series_model.layers
                         if isinstance(layer, TransformerBlock))
            self._series_attention = keras.Model(self.series_model.inputs,
                                                 block(block.input, attention_only=True))
        scores = self._series_attention([embeddings[None],
                                         relative_positions(positions)[None]], training=False)
        return np.asarray(scores)[0].mean(axis=0).astype(np.float32), index

    def predict_series(self, series, batch_size=8, progress=None):
        """Probabilities for every slice of a series (with slice context where
        the model has a series stage): the first item of :meth:`read`.

        Args:
            series: a ``cranioscan.dicom.Series`` (or anything with an
                ``hu`` float32 ``(n, rows, cols)`` HU array).
            batch_size: slices per forward pass.
            progress: optional ``progress(done, total)`` after each batch.

        Returns:
            float32 ``(n, len(classes))`` probabilities, rows in slice order.
        """
        return self.read(series, batch_size=batch_size, progress=progress)[0]

    @property
    def identity(self):
        """:class:`~cranioscan.series_result.ModelIdentity` of this model."""
        return ModelIdentity(model_name(self.card, self.path), self.sha256 or "",
                             self.input_size, short_notice(self.card))

    def result(self, probabilities, series_scores=None, context="slice", notes=()):
        """A :class:`SeriesResult` of given per-slice probabilities (e.g. cached
        ones) under this model's thresholds and identity."""
        verdict_thresholds = self.series_thresholds if series_scores is not None else None
        return SeriesResult(np.asarray(probabilities, dtype=np.float32), self.thresholds,
                            self.identity, self.classes, series_scores=series_scores,
                            series_thresholds=verdict_thresholds, context=context,
                            notes=tuple(notes))

    def assess(self, series, batch_size=8, progress=None):
        """Read a series: the one place its flags, key slices, opening slice
        and (for a series model) verdict are decided.

        Args:
            series: a ``Series`` or ``(n, rows, cols)`` HU array.
            batch_size, progress: as for :meth:`predict_series`.

        Returns:
            :class:`SeriesResult`.
        """
        probs, scores, context, notes = self.read(series, batch_size=batch_size, progress=progress)
        return self.result(probs, series_scores=scores, context=context, notes=notes)

    def summarize(self, probs, thresholds=None):
        """:func:`summarize_series` with this predictor's classes and thresholds."""
        return summarize_series(probs, self.thresholds if thresholds is None else thresholds,
                                self.classes)
