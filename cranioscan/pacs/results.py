"""Results back to the PACS: Secondary Capture key images and a Comprehensive SR (highdicom).

What is built for one scored series (all in the source study, in two new series):

* key images: the result's key slices (:attr:`SeriesResult.key_slices
  <cranioscan.series_result.SeriesResult.key_slices>`, the same as the PDF
  report's): one per slice, naming every flagged finding it is the top
  slice of; none when nothing is flagged;
* :func:`secondary_capture`: one RGB Secondary Capture per key image, the
  slice in the brain window with the Grad-CAM++ map of the finding overlaid
  and :data:`DISCLAIMER` burned in (BurnedInAnnotation YES), each naming
  its source image (SourceImageSequence);
* :func:`structured_report`: a Comprehensive SR listing every finding's
  highest probability, the threshold and whether it is flagged, the key
  image of each flagged finding, and the model name and file SHA-256.

:func:`build_results` builds both from a predictor, a series and the
source files' headers (:func:`source_headers`); sending them is one
STOW-RS call, :meth:`cranioscan.pacs.client.PacsClient.store`, made only
when the user asks (a button, ``predict --send-results``).
"""

__all__ = [
    "DISCLAIMER",
    "MAX_KEY_IMAGES",
    "Finding",
    "build_results",
    "key_image",
    "secondary_capture",
    "source_headers",
    "structured_report",
]

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from ..dicom.header import peek
from ..formats import probability
from ..labels import CLASSES
from ..visualize.slice_image import render_slice
from ..visualize.text import CLASS_LABELS

#: Burned into every key image and written in the SR.
DISCLAIMER = "RESEARCH USE - NOT FOR DIAGNOSIS"
#: Most key images sent for one series.
MAX_KEY_IMAGES = 6
#: Series numbers of what CranioScan sends (high, to sort after the scanner's series).
SC_SERIES_NUMBER, SR_SERIES_NUMBER = 9901, 9902
MANUFACTURER = "CranioScan (research software)"
_SCHEME = "99CRANIOSCAN"  # private coding scheme of the per-finding items


@dataclass(frozen=True)
class Finding:
    """What the SR says about one class of a series.

    ``slice_index`` is 0-based, inferior first (as ``load_series`` orders
    the slices); ``sop_uid`` is that slice's SOPInstanceUID.
    """

    class_name: str
    max_prob: float
    threshold: float
    flagged: bool
    slice_index: int
    sop_uid: str


def source_headers(files):
    """``[(name, bytes)]`` DICOM files -> ``{SOPInstanceUID: Dataset}`` headers (no pixel data)."""
    headers = {}
    for _name, blob in files:
        ds = peek(blob)
        if "SOPInstanceUID" in ds:
            headers[str(ds.SOPInstanceUID)] = ds
    return headers


def findings(series, result):
    """One :class:`Finding` per class of a :class:`~cranioscan.series_result.SeriesResult`."""
    out = []
    for name, f in result.findings.items():
        index = int(f.max_slice)
        out.append(Finding(name, float(f.max_prob), float(f.threshold), f.flagged, index,
                           series.sop_uids[index] if 0 <= index < len(series.sop_uids) else ""))
    return out


def key_image(hu_slice, heatmap, caption, level=40.0, width=80.0):
    """One key image: uint8 RGB ``(rows, cols, 3)`` with the map and :data:`DISCLAIMER` burned in.

    Args:
        hu_slice: ``(rows, cols)`` Hounsfield units.
        heatmap: float ``(rows, cols)`` in [0, 1], or None.
        caption: lines drawn at the bottom left (finding, probability).
        level, width: display window in HU (default: brain).
    """
    # the dashboard's overlay defaults (cranioscan.visualize.overlay): only the upper part of the map tints
    return render_slice(hu_slice, level, width, heatmap=heatmap,
                        corners={"top_left": [DISCLAIMER], "top_right": [DISCLAIMER],
                                 "bottom_left": list(caption)})


def _reference(header):
    item = Dataset()
    item.ReferencedSOPClassUID = header.SOPClassUID
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    return item


def secondary_capture(images, series_uid=None, series_number=SC_SERIES_NUMBER):
    """Secondary Capture images in a new series of the source study.

    Args:
        images: list of ``(rgb, header, description)``: uint8
            ``(rows, cols, 3)``, the source slice's header (patient and study
            are copied from it) and a line for ImageComments.
        series_uid: the new series' UID (default: a new one).

    Returns:
        list of ``highdicom.sc.SCImage`` (pydicom Datasets).
    """
    import highdicom as hd  # third-party, 0.6 s: only when results are built

    series_uid = series_uid or generate_uid()
    out = []
    for number, (rgb, header, description) in enumerate(images, start=1):
        spacing = header.get("PixelSpacing")
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=header, pixel_array=np.ascontiguousarray(rgb, dtype=np.uint8),
            photometric_interpretation="RGB", bits_allocated=8, coordinate_system="PATIENT",
            series_instance_uid=series_uid, series_number=series_number,
            sop_instance_uid=generate_uid(), instance_number=number,
            manufacturer=MANUFACTURER, patient_orientation=("L", "P"),
            pixel_spacing=tuple(float(v) for v in spacing) if spacing else None)
        sc.SeriesDescription = "CranioScan key images (RESEARCH USE)"
        sc.BurnedInAnnotation = "YES"
        sc.ImageComments = f"{DISCLAIMER}. {description}"[:10240]
        sc.DerivationDescription = "Slice in the brain window with the model's Grad-CAM++ map"
        sc.SourceImageSequence = Sequence([_reference(header)])
        out.append(sc)
    return out


def _code(value, meaning, scheme=_SCHEME):
    import highdicom as hd  # third-party, 0.6 s: only when results are built

    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def structured_report(found, headers, model_name, model_sha256, series_uid=None,
                      series_number=SR_SERIES_NUMBER, verdict=None):
    """A Comprehensive SR of one scored series.

    Args:
        found: list of :class:`Finding` (one per class).
        headers: ``{SOPInstanceUID: Dataset}`` of the source slices; those of
            the flagged findings' slices are referenced (IMAGE items and the
            evidence), patient and study are copied from them.
        model_name, model_sha256: the model as the viewer names it, and the
            SHA-256 of its file.
        series_uid: the new series' UID (default: a new one).
        verdict: the series verdict in words
            (``SeriesResult.verdict_sentence``), the first finding of the
            report; None leaves it out.

    Returns:
        ``highdicom.sr.ComprehensiveSR`` (a pydicom Dataset).
    """
    import highdicom as hd  # third-party, 0.6 s: only when results are built

    contains = hd.sr.RelationshipTypeValues.CONTAINS
    items = [
        hd.sr.TextContentItem(name=_code("121106", "Comment", "DCM"), value=DISCLAIMER,
                              relationship_type=contains),
        hd.sr.TextContentItem(name=_code("111001", "Algorithm Name", "DCM"),
                              value=str(model_name)[:1024], relationship_type=contains),
        hd.sr.TextContentItem(name=_code("111003", "Algorithm Version", "DCM"),
                              value=f"sha256:{model_sha256}", relationship_type=contains),
    ]
    if verdict:
        items.append(hd.sr.TextContentItem(name=_code("121071", "Finding", "DCM"),
                                           value=str(verdict)[:1024], relationship_type=contains))
    referenced = {}
    for f in found:
        label = CLASS_LABELS.get(f.class_name, f.class_name)
        text = (f"{label}: {'FLAGGED' if f.flagged else 'not flagged'}; highest probability "
                f"{f.max_prob:.3f} on slice {f.slice_index + 1} (threshold {f.threshold:.3f})")
        children = [hd.sr.NumContentItem(
            name=_code(f"P-{f.class_name}", f"Highest slice probability of {label}"),
            value=round(f.max_prob, 6), unit=_code("1", "no units", "UCUM"),
            relationship_type=hd.sr.RelationshipTypeValues.HAS_PROPERTIES)]
        header = headers.get(f.sop_uid)
        if f.flagged and header is not None:
            referenced[f.sop_uid] = header
            children.append(hd.sr.ImageContentItem(
                name=_code("121112", "Source of Measurement", "DCM"),
                referenced_sop_class_uid=header.SOPClassUID,
                referenced_sop_instance_uid=header.SOPInstanceUID,
                relationship_type=hd.sr.RelationshipTypeValues.INFERRED_FROM))
        item = hd.sr.TextContentItem(name=_code("121071", "Finding", "DCM"), value=text,
                                     relationship_type=contains)
        item.ContentSequence = hd.sr.ContentSequence(children)
        items.append(item)
    root = hd.sr.ContainerContentItem(name=_code("CS-REPORT", "CranioScan research result"),
                                      template_id=None)
    root.ContentSequence = hd.sr.ContentSequence(items)
    evidence = list(referenced.values()) or [next(iter(headers.values()))]
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence, content=root, series_instance_uid=series_uid or generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, is_complete=True)
    sr.SeriesDescription = "CranioScan result (RESEARCH USE)"
    return sr


def build_results(predictor, series, headers, result, model_name, heatmap=None):
    """Secondary Capture key images and the SR of a scored series, ready to store.

    Args:
        predictor: the :class:`~cranioscan.inference.Predictor` that scored it.
        series: the :class:`~cranioscan.dicom.Series`.
        headers: :func:`source_headers` of its files.
        result: the series' :class:`~cranioscan.series_result.SeriesResult`
            (``predictor.assess(series)``): its key slices are the key images.
        model_name: the model's name for display.
        heatmap: optional ``heatmap(slice_index, class_name) -> (rows, cols)``
            in [0, 1] (default: Grad-CAM++ at the model's default layer).

    Returns:
        list of pydicom Datasets: the SC images, then the SR.

    Raises:
        ValueError: a key slice's header is missing from ``headers``.
    """
    if heatmap is None:
        from .. import explain  # imports TensorFlow: only when no heatmap is given

        layer = explain.default_layer(predictor)

        def heatmap(index, class_name):
            return explain.gradcam(predictor, series, index, class_name, layer=layer,
                                   method="gradcam++")

    found = findings(series, result)
    by_class = {f.class_name: f for f in found}
    images = []
    for key in result.key_slices:
        index = key.index
        sop_uid = series.sop_uids[index] if index < len(series.sop_uids) else ""
        header = headers.get(sop_uid)
        if header is None:
            raise ValueError(f"no header for slice {index + 1} (SOP {sop_uid})")
        caption = [", ".join(f"{CLASS_LABELS.get(c, c)} p={probability(by_class[c].max_prob)} "
                             f"(thr {probability(by_class[c].threshold)})" for c in key.findings),
                   f"slice {index + 1}/{series.n_slices}"]
        rgb = key_image(series.hu[index], heatmap(index, key.findings[0]), caption)
        images.append((rgb, header, " ".join(caption)))
    return secondary_capture(images) + [
        structured_report(found, headers, model_name, predictor.sha256 or "",
                          verdict=result.verdict_sentence())]
