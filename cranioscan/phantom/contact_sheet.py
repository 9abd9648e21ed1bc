"""A contact sheet: phantom slices of each hemorrhage subtype beside a real slice.

:func:`make_contact_sheet` draws one slice per subtype (where its mask is
largest), a normal slice at the level of the ventricles and one through the
posterior fossa, all in the brain window with the hemorrhage outlined, next
to a real head CT slice shown in its own window. The picture lives in
``docs/phantom_contact_sheet.png``; regenerate it with::

    python -m cranioscan.phantom --contact-sheet docs/phantom_contact_sheet.png \\
        --real ../shared/realct/rsna_ID_0000ca2f6.dcm
"""

__all__ = ["DEFAULT_REAL", "make_contact_sheet", "read_real_slice"]

import os

import numpy as np
from pydicom.multival import MultiValue

from ..dicom import read_slice_hu
from ..dicom.header import peek
from ..labels import SUBTYPES
from ..windowing import PRESETS, apply_window
from .study import make_study

#: Where the real RSNA slice sits in a checkout next to ``shared/``.
DEFAULT_REAL = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "realct",
                            "rsna_ID_0000ca2f6.dcm")

_COLORS = {"epidural": "#ff4040", "subdural": "#ffb000", "subarachnoid": "#40e0ff",
           "intraparenchymal": "#ff40ff", "intraventricular": "#60ff60"}


def read_real_slice(path):
    """Read a CT slice: ``(hu float32 (rows, cols), (level, width) of its window tags in HU)``.

    HU as the loader reads them (:func:`cranioscan.dicom.read_slice_hu`:
    padding is air); the first window of multi-valued window tags, else the
    brain window (40, 80).
    """
    hu = read_slice_hu(path)
    ds = peek(path, ["WindowCenter", "WindowWidth"])
    level, width = ds.get("WindowCenter", 40), ds.get("WindowWidth", 80)
    first = lambda x: float(x[0]) if isinstance(x, MultiValue) else float(x)  # noqa: E731
    return hu, (first(level), first(width))


def _crop_box(hu, margin=12):
    head = hu > -300
    rows, cols = np.flatnonzero(head.any(axis=1)), np.flatnonzero(head.any(axis=0))
    if rows.size == 0:
        return slice(None), slice(None)
    side = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 2 * margin
    rc, cc = (rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2
    r0 = int(np.clip(rc - side // 2, 0, max(hu.shape[0] - side, 0)))
    c0 = int(np.clip(cc - side // 2, 0, max(hu.shape[1] - side, 0)))
    return slice(r0, r0 + side), slice(c0, c0 + side)


def _panels(seed, matrix):
    """(title, hu, mask or None, color) for each phantom panel."""
    panels = []
    normal = make_study(seed, matrix=matrix, normal=True)
    k_mid = int(round(0.45 * (normal.n_slices - 1)))
    panels.append((f"phantom, normal (slice {k_mid + 1}/{normal.n_slices})", normal.hu[k_mid], None, None))
    for j, subtype in enumerate(SUBTYPES):
        st = make_study(seed + 1 + j, matrix=matrix, subtypes=(subtype,), size=(0.45, 0.85))
        area = st.masks[subtype].sum(axis=(1, 2))
        k = int(np.argmax(area))
        les = next(les for les in st.lesions if les["subtype"] == subtype)
        if subtype == "subdural":
            where = "convexity + falx" if les.get("falx") else "convexity"
        elif subtype == "intraventricular":
            where = " + ".join(x for x, on in (("layering", les.get("level")), ("clot", les.get("clot_center"))) if on)
        else:
            where = les.get("compartment") or les.get("location") or les.get("pattern")
        where = str(where).replace("_", " ")
        panels.append((f"{subtype} ({where})", st.hu[k], st.masks[subtype][k], _COLORS[subtype]))
    k_low = 1
    panels.append((f"phantom, posterior fossa (slice {k_low + 1}/{normal.n_slices})", normal.hu[k_low], None, None))
    return panels


def make_contact_sheet(path, seed=0, real_path=None, matrix=512, dpi=96):
    """Write the contact sheet PNG and return its path.

    Args:
        path: output PNG.
        seed: seed of the first phantom study (others follow).
        real_path: a real head CT slice (DICOM) to show beside the phantoms;
            ``None``: :data:`DEFAULT_REAL` when it exists; ``False``: none.
        matrix: phantom matrix size.
        dpi: resolution of the PNG.
    """
    import matplotlib  # plotting (and scipy below) only for this picture: not on import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import ndimage

    if real_path is None and os.path.exists(DEFAULT_REAL):
        real_path = DEFAULT_REAL
    panels = _panels(seed, matrix)
    level, width = PRESETS["brain"]
    fig, axes = plt.subplots(2, 4, figsize=(16, 8.6), facecolor="black")
    axes = axes.ravel()
    first = 0
    if real_path:
        hu, (rl, rw) = read_real_slice(real_path)
        box = _crop_box(hu)
        axes[0].imshow(apply_window(hu[box], rl, rw), cmap="gray", vmin=0, vmax=1, interpolation="lanczos")
        axes[0].set_title(f"REAL RSNA slice, its window {rl:g}/{rw:g}", color="white", fontsize=10)
        first = 1
    for ax, (title, hu, mask, color) in zip(axes[first:], panels):
        box = _crop_box(hu)
        ax.imshow(apply_window(hu[box], level, width), cmap="gray", vmin=0, vmax=1, interpolation="lanczos")
        if mask is not None:
            ring = ndimage.binary_dilation(mask, iterations=3)[box]
            ax.contour(ring, [0.5], colors=[color], linewidths=0.8)
        ax.set_title(title, color="white", fontsize=10)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"CranioScan synthetic phantoms (brain window {level:g}/{width:g}, hemorrhage outlined), "
                 "SYNTHETIC - NOT PATIENTS", color="white", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor="black")
    plt.close(fig)
    return path
