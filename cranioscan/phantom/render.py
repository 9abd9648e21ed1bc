"""Drawing one axial slice of a phantom study: anatomy, then hemorrhages.

:func:`render_slice` evaluates the fields of :mod:`.anatomy` and
:mod:`.lesions` on a :class:`.grid.SliceGrid` and composes them back to front
with a one-pixel partial-volume ramp, so the picture and the masks are the
same continuous objects seen at the grid's resolution. It returns noiseless
Hounsfield units, an anatomy label map and, per hemorrhage subtype present on
the slice, the fraction of each pixel the blood fills.
"""

__all__ = ["ANATOMY_LABELS", "PARENCHYMA", "CSF_SPACES", "MassEffect", "RenderedSlice",
           "render_slice", "coarse_fields", "COARSE_N"]

import dataclasses

import numpy as np

from . import anatomy
from .anatomy import box_depth, capsule_depth, ellipsoid_depth
from .grid import SliceGrid, coarse_taps, interpolate_coarse

#: Anatomy label codes of :attr:`RenderedSlice.anatomy` (before hemorrhages).
ANATOMY_LABELS = {
    "air": 0, "scalp": 1, "bone": 2, "csf": 3, "extra_axial": 4, "ventricle": 5,
    "gray": 6, "white": 7, "deep_gray": 8, "brainstem": 9, "cerebellum": 10,
    "dura": 11, "fat": 12, "air_cavity": 13, "orbit": 14, "calcification": 15,
}
#: Brain tissue labels (where intraparenchymal blood may lie).
PARENCHYMA = tuple(ANATOMY_LABELS[k] for k in ("gray", "white", "deep_gray", "brainstem", "cerebellum"))
#: Subarachnoid spaces: sulci, fissures and cisterns (where subarachnoid blood lies).
CSF_SPACES = (ANATOMY_LABELS["csf"],)

_PAR_LUT = np.zeros(256, dtype=bool)
_PAR_LUT[list(PARENCHYMA)] = True
_WHITE_LUT = np.zeros(256, dtype=bool)
_WHITE_LUT[[ANATOMY_LABELS["white"], ANATOMY_LABELS["deep_gray"]]] = True

#: Side of the coarse grid (over the field of view) on which the smooth gyral
#: fields are evaluated before bilinear interpolation to the pixels.
COARSE_N = 96
_L = ANATOMY_LABELS
_F = np.float32


@dataclasses.dataclass(frozen=True)
class MassEffect:
    """Displacement of the deep structures by space-occupying hemorrhages.

    ``shift``: midline shift (mm, positive towards the patient's left) centred
    at height ``shift_w``; ``pushes``: ``(center, radius)`` of hematomas that
    push the tissue around them outwards.
    """

    shift: float = 0.0
    shift_w: float = 20.0
    pushes: tuple = ()


@dataclasses.dataclass
class RenderedSlice:
    """One drawn slice: ``hu`` float32 noiseless HU, ``anatomy`` uint8 labels,
    ``lesion_alpha``: subtype -> float32 fraction of each pixel filled with blood."""

    hu: np.ndarray
    anatomy: np.ndarray
    lesion_alpha: dict


def _ramp(d, pix):
    """Partial-volume fraction of a pixel whose centre is ``d`` mm inside an edge."""
    out = d * _F(1.0 / pix)
    out += _F(0.5)
    np.maximum(out, _F(0.0), out=out)
    return np.minimum(out, _F(1.0), out=out)


def _paint(img, lab, roi, alpha, value, code=None):
    view = img[roi]
    view += alpha * (value - view)
    if code is not None:
        np.putmask(lab[roi], alpha > 0.5, code)


def _and(r1, r2):
    """Intersection of two ``(row_slice, col_slice)`` boxes, or None."""
    if r1 is None or r2 is None:
        return None
    rs = slice(max(r1[0].start, r2[0].start), min(r1[0].stop, r2[0].stop))
    cs = slice(max(r1[1].start, r2[1].start), min(r1[1].stop, r2[1].stop))
    if rs.start >= rs.stop or cs.start >= cs.stop:
        return None
    return rs, cs


def _box_roi(grid, center, semi, margin=2):
    lo = [center[k] - semi[k] for k in range(3)]
    hi = [center[k] + semi[k] for k in range(3)]
    return grid.roi(lo, hi, margin)


COARSE_CHANNELS = ("sulcus", "sulcal_depth", "t", "skin", "floor", "t_base")


def coarse_fields(head, u, v, w, step, with_base=True):
    """Smooth fields on coarse grids: ``(..., k, rows, cols)`` float32, ``COARSE_CHANNELS`` order.

    ``u, v, w``: head-frame coordinates ``(..., rows, cols)`` of coarse
    pixel centres ``step`` mm apart (a stack of slices is fine).

    ``sulcus`` is the signed in-plane distance (mm) to the nearest sulcus
    (the zero set of a random gyral pattern ``G`` divided by its in-plane
    gradient), ``sulcal_depth`` the local depth of the sulci (mm); ``G`` is
    a function of the direction from the centre of the brain, bent a little
    with depth, so sulci run roughly perpendicular to the surface and curve.
    ``t`` is the vault thickness, ``skin`` the distance from the inner table
    to the skin (bone, scalp and temporalis), ``floor`` and ``t_base`` the
    skull base (only ``with_base``), from :func:`.anatomy.skull_shape`.
    """
    x = u * _F(1.0 / head.a)
    y = v * _F(1.0 / head.b)
    z = (w + _F(10.0)) * _F(1.0 / head.c_up)
    q = np.sqrt(x * x + y * y + z * z)
    bend = np.clip(_F(1.0) - q, 0, 0.5) * _F(0.9)
    p = head.sulcal_depth[:, 3]
    x, y, z = (x + bend * np.sin(y * _F(2.3) + z * _F(1.7) + _F(p[0])),
               y + bend * np.sin(z * _F(1.9) + x * _F(2.1) + _F(p[1])),
               z + bend * np.sin(x * _F(2.2) + y * _F(1.5) + _F(p[2])))
    inv = _F(1.0) / np.maximum(np.sqrt(x * x + y * y + z * z), _F(1e-3))
    x *= inv
    y *= inv
    z *= inv
    g = np.zeros_like(x)
    for kx, ky, kz, ph in head.gyri:
        g += np.cos(x * _F(kx) + y * _F(ky) + z * _F(kz) + _F(ph))
    g *= _F(np.sqrt(2.0 / len(head.gyri)))
    if min(g.shape[-2:]) >= 2:
        gr, gc = np.gradient(g, step, axis=(-2, -1))
        slope = np.sqrt(gr * gr + gc * gc)
    else:
        slope = np.ones_like(g)
    typical = float(np.mean(np.linalg.norm(head.gyri[:, :3], axis=1))) * 0.8 / 70.0
    dist = g / np.maximum(slope, _F(0.35 * typical))
    np.clip(dist, -30.0, 30.0, out=dist)
    dep = np.zeros_like(x)
    for kx, ky, kz, ph in head.sulcal_depth:
        dep += np.cos(x * _F(kx) + y * _F(ky) + z * _F(kz) + _F(ph))
    dep = _F(12.0) + _F(3.5) * dep * _F(np.sqrt(2.0 / len(head.sulcal_depth)))
    np.clip(dep, 6.0, 20.0, out=dep)
    shape = anatomy.skull_shape(head, u, v, w, with_base=with_base)
    skin = shape["t"] + _F(head.scalp_t) + _F(head.temporalis) * shape["temporal"]
    extra = [shape["floor"], shape["t_base"]] if with_base else []
    return np.stack([dist, dep, shape["t"], skin] + extra, axis=-3)


def head_roi(head, grid):
    """Pixel box of a slice grid holding the head (None when the slice misses it)."""
    ext = head.skull_t * 1.4 + head.scalp_t + head.temporalis + 4.0
    return grid.roi((-head.a * 1.12 - ext, -head.b * 1.1 - ext - 6.0, -head.c_low - 40.0),
                    (head.a * 1.12 + ext, head.b * 1.1 + ext, head.c_up + ext))


def needs_base(head, grid):
    """Whether a slice reaches the skull base (its field of view dips below w = -4 mm)."""
    rt = head.rotation.T[2]
    n, pix = grid.shape[0], grid.pix
    lo_x, lo_y = grid.x[0, 0] - pix / 2, grid.y[0, 0] - pix / 2
    hi_x, hi_y = lo_x + n * pix, lo_y + n * pix
    w = [rt @ (np.array([x, y, grid.z]) - head.center) for x in (lo_x, hi_x) for y in (lo_y, hi_y)]
    return min(w) < -4.0


def _coarse_grid(head, grid):
    n = grid.shape[0]
    step = grid.pix * n / COARSE_N
    x0 = grid.x[0, 0] - grid.pix / 2 + step / 2
    y0 = grid.y[0, 0] - grid.pix / 2 + step / 2
    return SliceGrid(COARSE_N, step, x0, y0, grid.z, head.rotation, head.center)


def coarse_for_slices(head, grids):
    """Coarse fields of each slice, ready for interpolation over its head box.

    (Evaluated slice by slice: small arrays stay in cache.)

    Args:
        head: :class:`.anatomy.Head`.
        grids: full-slice :class:`.grid.SliceGrid` of each slice.

    Returns:
        per slice ``None`` (no head on it) or ``(values, row_taps, col_taps)``
        for :func:`.grid.interpolate_coarse` over the slice's :func:`head_roi`.
    """
    out = []
    for grid in grids:
        roi = head_roi(head, grid)
        if roi is None:
            out.append(None)
            continue
        n = grid.shape[0]
        rs, ri, rt = coarse_taps(n, COARSE_N, roi[0])
        cs, ci, ct = coarse_taps(n, COARSE_N, roi[1])
        cg = _coarse_grid(head, grid).crop((rs, cs))
        values = coarse_fields(head, cg.u, cg.v, cg.w, cg.pix, with_base=needs_base(head, grid))
        out.append((values, (ri, rt), (ci, ct)))
    return out


def _warp(head, effects, u, v, w, dd):
    """Head-frame coordinates the deep anatomy is sampled at (mass effect)."""
    if effects.shift:
        prof = (np.exp(-((w - _F(effects.shift_w)) * _F(1 / 40.0)) ** 2)
                * np.exp(-(v * _F(1 / (0.8 * head.b))) ** 2) * np.clip(dd * _F(1 / 25.0), 0, 1))
        u = u - _F(effects.shift) * prof
    for center, radius in effects.pushes:
        du, dv, dw = u - _F(center[0]), v - _F(center[1]), w - _F(center[2])
        rho3 = (du * du + dv * dv + dw * dw) ** _F(1.5)
        rho0 = np.cbrt(np.maximum(rho3 - _F(radius) ** 3, 0))
        f = rho0 / np.maximum(np.cbrt(rho3), _F(1e-3))
        u, v, w = _F(center[0]) + du * f, _F(center[1]) + dv * f, _F(center[2]) + dw * f
    return u, v, w


def _diploe_texture(head, u, v, w):
    t = None
    for kx, ky, kz, ph in head.diploe_k:
        s = np.sin(u * _F(kx) + v * _F(ky) + w * _F(kz) + _F(ph))
        t = s if t is None else t * s
    return t


def render_slice(head, lesions, grid, effects=MassEffect(), coarse=None):
    """Draw one axial slice.

    Args:
        head: :class:`.anatomy.Head`.
        lesions: sequence of lesion dataclasses (:mod:`.lesions`).
        grid: :class:`.grid.SliceGrid` of the whole slice (square, field of
            view centred on the isocentre).
        effects: :class:`MassEffect` of the study.
        coarse: this slice's entry of :func:`coarse_for_slices` (computed
            here when None).

    Returns:
        :class:`RenderedSlice`.
    """
    img = np.full(grid.shape, head.hu["air"], dtype=np.float32)
    lab = np.zeros(grid.shape, dtype=np.uint8)
    alphas = {}
    if head.headrest:
        _draw_headrest(head, grid, img, lab)
    hroi = head_roi(head, grid)
    if hroi is not None:
        if coarse is None:
            coarse = coarse_for_slices(head, [grid])[0]
        values, rtaps, ctaps = coarse
        fields = dict(zip(COARSE_CHANNELS, interpolate_coarse(values, rtaps, ctaps)))
        crop_alphas = _render_head(head, lesions, grid.crop(hroi), fields, effects, img[hroi], lab[hroi],
                                   len(values) == len(COARSE_CHANNELS))
        for st, a in crop_alphas.items():
            alphas[st] = np.zeros(grid.shape, dtype=np.float32)
            alphas[st][hroi] = a
    return RenderedSlice(hu=img, anatomy=lab, lesion_alpha=alphas)


def _render_head(head, lesions, grid, fields, effects, img, lab, base):
    """Draw the head into ``img``/``lab`` (views of the grid's shape); return lesion alphas."""
    hu_t = head.hu
    pix = grid.pix
    u, v, w = grid.u, grid.v, grid.w
    d_ell, q = anatomy.vault_distance(head, u, v, w)
    sk = {"D_ell": d_ell, "q": q, "D_cav": d_ell, "t": fields["t"]}
    if base:
        sk["D_floor"] = fields["floor"] - w
        sk["D_cav"] = np.maximum(d_ell, sk["D_floor"])
        sk["t_base"] = fields["t_base"]
    full = (slice(None), slice(None))

    # --- scalp, face and neck soft tissue -----------------------------------
    d_skin = d_ell - fields["skin"]
    if base:
        d_skin = np.minimum(d_skin, _lower_head(head, u, v, w))
    sd = -d_skin
    tissue = _F(hu_t["skin"]) + _F(hu_t["fat"] - hu_t["skin"]) * _ramp(sd - _F(1.2), pix)
    tissue += _F(hu_t["muscle"] - hu_t["fat"]) * _ramp(sd - _F(1.2 + head.fat_t), pix)
    _paint(img, lab, full, _ramp(sd, pix), tissue, _L["scalp"])

    # --- bone ---------------------------------------------------------------
    outer = sk["t"] - sk["D_ell"]
    bone_f = np.minimum(sk["D_cav"], outer)
    if base:
        bone_f = np.minimum(bone_f, sk["t_base"] - sk["D_floor"])
    a_bone = _ramp(bone_f, pix)
    dip = np.clip(np.minimum(outer - _F(1.7), sk["D_cav"] - _F(1.4)) * _F(1.5), 0, 1)
    if base:
        dip *= np.clip((_F(-2.0) - sk["D_floor"]) * _F(0.5), 0, 1)
    bone_val = np.full(u.shape, hu_t["cortical_bone"], dtype=np.float32)
    m = dip > 0
    if m.any():
        tex = _diploe_texture(head, u[m], v[m], w[m])
        bone_val[m] += (_F(hu_t["diploe"] - hu_t["cortical_bone"]) + _F(230.0) * tex) * dip[m]
    _paint(img, lab, full, a_bone, bone_val, _L["bone"])
    if base:
        # Face and neck below the skull base: muscle mixed with fat.
        deep_soft = _ramp(sk["D_floor"] - sk["t_base"] - _F(2.0), pix) * _ramp(sd - _F(1.2 + head.fat_t), pix)
        _paint(img, lab, full, deep_soft * _F(0.4), _F(-30.0))
        _draw_skull_base_contents(head, grid, sk, sd, img, lab)

    # --- intracranial -------------------------------------------------------
    alphas = {}
    cav = grid.roi((-head.a * 1.2, -head.b * 1.1, -head.c_low), (head.a * 1.2, head.b * 1.1, head.c_up))
    if cav is not None:
        _draw_intracranial(head, lesions, grid, sk, fields, effects, img, lab, cav, alphas, base)
    return alphas


def _draw_headrest(head, grid, img, lab):
    """A curved carbon head holder under the occiput (scanner frame)."""
    hx, hy = float(head.center[0]), float(head.center[1])
    radius = head.b * 1.06 + head.skull_t + head.scalp_t + 4.0
    r0 = int(max((hy + radius * 0.5 - grid.y[0, 0]) / grid.pix, 0))
    if r0 >= grid.shape[0]:
        return
    ys = grid.y[r0:]
    r = np.sqrt((grid.x - _F(hx)) ** 2 + (ys - _F(hy)) ** 2)
    shell = np.minimum(_F(1.1) - np.abs(r - _F(radius)), (ys - _F(hy + radius * 0.55)) * _F(0.3))
    _paint(img, lab, (slice(r0, None), slice(None)), _ramp(shell, grid.pix) * _F(0.8), _F(140.0))


def _lower_head(head, u, v, w):
    """Outward distance (mm) to the skin of the face and neck below the brow."""
    a, b = head.a, head.b
    bf = np.where(v < 0, _F(b + 5.0), _F(b * 1.05 + head.skull_t + head.scalp_t))
    af = _F(a * 1.06 + head.skull_t + head.scalp_t)
    q = np.sqrt((u / af) ** 2 + (v / bf) ** 2)
    d = (q - _F(1.0)) * np.minimum(af, bf)
    d += np.maximum(w + _F(14.0), 0) * _F(3.0)
    return d


def _draw_skull_base_contents(head, grid, sk, sd, img, lab):
    """Orbits, paranasal sinuses, mastoid air cells and ear canals."""
    pix = grid.pix
    a, b = head.a, head.b
    u, v, w = grid.u, grid.v, grid.w
    below = sk["D_floor"] - sk["t_base"]  # >0 under the skull base
    for s in (1.0, -1.0):
        c_orb = (s * 0.44 * a, -0.74 * b, -36.0)
        roi = _box_roi(grid, c_orb, (18.0, 0.3 * b, 17.0))
        if roi is not None:
            uu, vv, ww = u[roi], v[roi], w[roi]
            sub = _ramp(below[roi], pix)
            wall = ellipsoid_depth(uu, vv, ww, c_orb, (16.5, 0.26 * b, 15.5))
            _paint(img, lab, roi, _ramp(wall, pix) * sub, _F(900.0), _L["bone"])
            fat = ellipsoid_depth(uu, vv, ww, c_orb, (15.0, 0.25 * b, 14.0))
            _paint(img, lab, roi, _ramp(fat, pix) * sub, _F(-85.0), _L["fat"])
            for p0, p1, r in (((s * 0.44 * a, -0.8 * b, -36.0), (s * 10.0, -0.34 * b, -30.0), 2.2),
                              ((s * (0.46 * a - 10.0), -0.86 * b, -36.0), (s * 12.0, -0.4 * b, -33.0), 2.3),
                              ((s * (0.46 * a + 10.0), -0.84 * b, -36.0), (s * 16.0, -0.4 * b, -33.0), 2.3)):
                m = capsule_depth(uu, vv, ww, p0, p1, r, r * 0.8)
                _paint(img, lab, roi, _ramp(m, pix) * sub, _F(42.0), _L["orbit"])
        c_gl = (s * 0.46 * a, -0.885 * b, -36.0)
        roi = _box_roi(grid, c_gl, (13.0, 15.0, 13.0))
        if roi is not None:
            uu, vv, ww = u[roi], v[roi], w[roi]
            gl = ellipsoid_depth(uu, vv, ww, c_gl, (11.5, 11.5, 11.5))
            _paint(img, lab, roi, _ramp(gl, pix), _F(48.0), _L["orbit"])
            _paint(img, lab, roi, _ramp(gl - _F(1.1), pix), _F(head.hu["vitreous"]))
            c_l = (c_gl[0], c_gl[1] - 8.6, c_gl[2])
            lens = ellipsoid_depth(uu, vv, ww, c_l, (4.3, 1.9, 4.3))
            _paint(img, lab, roi, _ramp(lens, pix), _F(head.hu["lens"]))
        c_m = (s * 0.8 * a, 0.24 * b, -47.0)
        roi = _box_roi(grid, c_m, (11.0, 13.0, 11.0))
        if roi is not None:
            uu, vv, ww = u[roi], v[roi], w[roi]
            m = ellipsoid_depth(uu, vv, ww, c_m, (10.0, 12.0, 10.0))
            cells = (np.cos(uu * _F(1.3) + np.sin(vv * _F(0.7))) * np.cos(vv * _F(1.1) + ww * _F(0.4))
                     * np.cos(ww * _F(1.2) + np.sin(uu * _F(0.9) + vv * _F(0.5))))
            a_air = _ramp(m, pix) * np.clip((cells - _F(0.05)) * _F(5.0), 0, 1) * _ramp(sk["D_cav"][roi] - 1.0, pix)
            _paint(img, lab, roi, a_air, _F(-850.0), _L["air_cavity"])
        p0, p1 = (s * 0.72 * a, 0.08 * b, -50.0), (s * (a + 16.0), 0.08 * b, -50.0)
        roi = _box_roi(grid, ((p0[0] + p1[0]) / 2, p0[1], p0[2]), (abs(p1[0] - p0[0]) / 2 + 4, 4.0, 4.0))
        if roi is not None:
            ear = np.minimum(capsule_depth(u[roi], v[roi], w[roi], p0, p1, 3.2, 3.6), sd[roi] - _F(1.5))
            _paint(img, lab, roi, _ramp(ear, pix), _F(-1000.0), _L["air_cavity"])
    # Ethmoid air cells with their thin septa, and the nasal septum.
    lo, hi = (-0.17 * a, -0.98 * b, -56.0), (0.17 * a, -0.44 * b, -24.0)
    roi = grid.roi(lo, hi)
    if roi is not None:
        uu, vv, ww = u[roi], v[roi], w[roi]
        eth = box_depth(uu, vv, ww, lo, hi, 3.0) * _ramp(below[roi] + 1.0, pix)
        septa = np.clip((np.minimum(np.abs(np.sin(vv * _F(0.75) + uu * _F(0.3))),
                                    np.abs(np.sin(uu * _F(0.8) - vv * _F(0.2)))) - _F(0.2)) * _F(6.0), 0, 1)
        septa *= np.clip((np.abs(uu) - _F(0.9)) * _F(2.0), 0, 1)
        _paint(img, lab, roi, _ramp(eth, pix) * septa, _F(-900.0), _L["air_cavity"])
    c_sph = (0.0, -0.2 * b, -43.0)
    roi = _box_roi(grid, c_sph, (15.0, 12.0, 11.0))
    if roi is not None:
        uu, vv, ww = u[roi], v[roi], w[roi]
        sph = ellipsoid_depth(uu, vv, ww, c_sph, (13.0, 10.0, 9.0))
        _paint(img, lab, roi, _ramp(sph + _F(1.5), pix), _F(1100.0), _L["bone"])
        _paint(img, lab, roi, _ramp(sph, pix), _F(-920.0), _L["air_cavity"])


class _Cavity:
    """The intracranial crop of a slice and the arrays drawn into it."""

    def __init__(self, head, grid, sk, effects, cav):
        self.head, self.grid, self.effects, self.cav = head, grid, effects, cav
        self.pix = grid.pix
        self.u, self.v, self.w = grid.u[cav], grid.v[cav], grid.w[cav]
        self.dd = -sk["D_cav"][cav]  # depth below the inner table (mm)
        self.inside = _ramp(self.dd.copy(), self.pix)
        shape = self.u.shape
        self.img = np.full(shape, head.hu["csf"], dtype=np.float32)
        self.lab = np.full(shape, _L["extra_axial"], dtype=np.uint8)
        self.space = np.zeros(shape, dtype=np.float32)  # subarachnoid-space fraction
        self.margin = abs(effects.shift) + max((r for _, r in effects.pushes), default=0.0)
        self._warped = None  # (roi, u, v, w) displaced by the mass effect, computed once
        if effects.shift or effects.pushes:
            a, b = head.a, head.b
            roi = self.box((-1.1 * a, -0.75 * b, -90.0), (1.1 * a, 0.9 * b, 60.0), True)
            if roi is not None:
                self._warped = (roi, *_warp(head, effects, self.u[roi], self.v[roi], self.w[roi],
                                            self.dd[roi]))

    def local(self, roi):
        """Full-grid roi -> roi inside the crop, or None."""
        roi = _and(roi, self.cav)
        if roi is None:
            return None
        r0, c0 = self.cav[0].start, self.cav[1].start
        return (slice(roi[0].start - r0, roi[0].stop - r0), slice(roi[1].start - c0, roi[1].stop - c0))

    def box(self, lo, hi, deep=False):
        """Crop roi covering a head-frame box (widened by the mass effect if ``deep``)."""
        m = self.margin if deep else 0.0
        return self.local(self.grid.roi([x - m for x in lo], [x + m for x in hi]))

    def coords(self, roi, deep=True):
        """Head-frame coordinates of a crop roi; displaced by the mass effect if ``deep``."""
        u, v, w = self.u[roi], self.v[roi], self.w[roi]
        if deep and (self.effects.shift or self.effects.pushes):
            wroi = self._warped[0] if self._warped is not None else None
            inner = _and(roi, wroi)
            if inner == roi:
                r = slice(roi[0].start - wroi[0].start, roi[0].stop - wroi[0].start)
                c = slice(roi[1].start - wroi[1].start, roi[1].stop - wroi[1].start)
                return self._warped[1][r, c], self._warped[2][r, c], self._warped[3][r, c]
            return _warp(self.head, self.effects, u, v, w, self.dd[roi])
        return u, v, w

    def paint(self, roi, alpha, value, code=None, is_space=None):
        """Blend ``value`` in with partial-volume ``alpha`` (kept inside the cavity)."""
        alpha = alpha * self.inside[roi]
        img = self.img[roi]
        img += alpha * (value - img)
        if code is not None:
            np.putmask(self.lab[roi], alpha > 0.5, code)
        if is_space is not None:
            spc = self.space[roi]
            spc *= _F(1.0) - alpha
            if is_space:
                spc += alpha


def _draw_intracranial(head, lesions, grid, sk, fields, effects, img, lab, cav, alphas, base):
    hu_t = head.hu
    pix = grid.pix
    a, b = head.a, head.b
    atro = head.atrophy
    cv = _Cavity(head, grid, sk, effects, cav)
    u, v, w, dd = cv.u, cv.v, cv.w, cv.dd
    shape = u.shape
    q = sk["q"][cav]

    # Lesion fields needed before the brain is drawn.
    active = []
    for les in lesions:
        roi = cv.box(*les.box())
        if roi is not None:
            active.append((les, roi))
    h_ext = None  # extra-axial hematoma thickness: compresses the brain
    thick = {}
    widen = None  # sulcal widening by subarachnoid blood, effacement by mass effect
    for les, roi in active:
        uu, vv, ww = u[roi], v[roi], w[roi]
        if les.subtype in ("epidural", "subdural"):
            h = les.thickness_at(head, uu, vv, ww, q[roi])
            thick[id(les)] = h
            if h_ext is None:
                h_ext = np.zeros(shape, dtype=np.float32)
            np.maximum(h_ext[roi], h, out=h_ext[roi])
        elif les.subtype == "subarachnoid":
            if widen is None:
                widen = np.ones(shape, dtype=np.float32)
            widen[roi] += _F(0.9) * les.region(uu, vv, ww)
        elif les.subtype == "intraparenchymal":
            if widen is None:
                widen = np.ones(shape, dtype=np.float32)
            d = les.depth(uu, vv, ww)
            widen[roi] *= np.clip(-(d + _F(les.edema + 4.0)) * _F(0.25), 0, 1)
    dd0 = dd
    if h_ext is not None:
        big = _F(40.0)
        dd0 = np.where(h_ext > 0, (dd - h_ext) * big / (big - np.minimum(h_ext, _F(30.0))), dd)
        eff = np.clip(_F(1.0) - h_ext * _F(0.35), 0, 1)
        widen = eff if widen is None else widen * eff
    frontal = np.clip(v * _F(-1.0 / head.b), 0, 1)
    db = dd0 - _F(head.csf_t) * (_F(1.0) + _F(0.6) * frontal)

    # Infratentorial compartment (posterior fossa).
    beta = None
    if base:
        w_t = anatomy.tentorium_height(head, u, v)
        v_pet = anatomy.petrous_ridge_v(head, np.abs(u))
        beta = _ramp(w_t - w, pix) * _ramp(v - v_pet - _F(1.0), pix)
        if not float(beta.max()) > 0:
            beta = None

    # Cerebrum: cortex, sulci, white matter.
    ag = np.abs(fields["sulcus"][cav])  # distance to the nearest sulcus (mm)
    depth_s = fields["sulcal_depth"][cav]
    hw = _F(head.sulcal_hw) if widen is None else _F(head.sulcal_hw) * widen
    inv_p = _F(1.0 / pix)
    # Sulci are thin sheets cut obliquely by thick slices: partial volume dims them.
    a_sulc = np.clip((hw - ag) * inv_p + _F(0.5), 0, 1) * _ramp(depth_s - db, pix) * _F(0.8)
    soft = _F(1.0 / max(pix, 1.6))  # gray-white junctions are soft on CT
    lining = np.clip((hw + _F(2.8) - ag) * soft + _F(0.5), 0, 1) * np.clip(
        (depth_s + _F(2.5) - db) * soft + _F(0.5), 0, 1)
    gray_w = np.maximum(np.clip((_F(2.8) - db) * soft + _F(0.5), 0, 1), lining)
    val = _F(hu_t["white"]) + _F(hu_t["gray"] - hu_t["white"]) * gray_w
    val += a_sulc * (_F(hu_t["csf"]) - val)
    a_brain = _ramp(db, pix)
    if beta is not None:
        a_brain *= _F(1.0) - beta
    cv.img += a_brain * (val - cv.img)
    brain_px = a_brain > 0.5
    np.putmask(cv.lab, brain_px, np.where(gray_w > 0.5, _L["gray"], _L["white"]).astype(np.uint8))
    np.putmask(cv.lab, brain_px & (a_sulc > 0.5), _L["csf"])
    cv.space = a_brain * a_sulc

    # Cerebellum under the tentorium, with folia.
    if beta is not None:
        roi = cv.box((-a, -0.1 * b, -90.0), (a, b * 1.1, 0.0))
        if roi is not None:
            uu, vv, ww = u[roi], v[roi], w[roi]
            db_cb = dd0[roi] - _F(0.4 + 0.5 * head.csf_t)
            rho = np.sqrt(uu * uu * _F(0.6) + (vv - _F(0.25 * b)) ** 2 + (ww + _F(30.0)) ** 2)
            lam, ph = head.folia
            fol = np.cos(rho * _F(2 * np.pi / lam) + _F(ph) + _F(1.5) * np.sin(uu * _F(0.12) + vv * _F(0.05))
                         + np.sin(ww * _F(0.09) - uu * _F(0.07)))
            broken = np.clip(np.sin(uu * _F(0.33) + ww * _F(0.21) + vv * _F(0.13)) * _F(2.0) + _F(0.3), 0, 1)
            fis = np.clip((fol - _F(0.9 - 0.1 * atro)) * _F(8.0), 0, 1) * broken * _ramp(db_cb - _F(2.0), pix)
            fis *= _F(0.35 + 0.4 * atro)
            cval = _F(hu_t["cerebellum"]) + fis * _F(hu_t["csf"] - hu_t["cerebellum"])
            a_cb = _ramp(db_cb, pix) * beta[roi]
            cv.paint(roi, a_cb, cval, _L["cerebellum"], False)
            wt = anatomy.tentorium_height(head, uu, vv)
            notch = np.clip(np.clip((np.abs(uu) - _F(14.0)) * _F(0.5), 0, 1)
                            + np.clip((vv - _F(0.3 * b)) * _F(0.5), 0, 1), 0, 1)
            a_t = _ramp(_F(0.5) - np.abs(ww - wt), pix) * notch * _F(0.7)
            a_t *= _ramp(vv - anatomy.petrous_ridge_v(head, np.abs(uu)), pix)
            cv.paint(roi, a_t, _F(hu_t["dura"]))

    vent = _draw_deep(head, cv, pix)
    # Pixels mostly filled by subarachnoid space (folia, partial sulci) are CSF.
    np.putmask(cv.lab, (cv.space > 0.5) & _PAR_LUT[cv.lab], _L["csf"])

    # --- hemorrhages ----------------------------------------------------------
    par = _PAR_LUT[cv.lab]
    for les, roi in active:
        uu, vv, ww = u[roi], v[roi], w[roi]
        st = les.subtype
        if st == "intraparenchymal":
            d = les.depth(uu, vv, ww)
            p = par[roi].astype(np.float32)
            rim = _ramp(d + _F(les.edema), pix) * (_F(1.0) - _ramp(d, pix)) * p
            cv.paint(roi, rim * _F(0.8), _F(min(hu_t["white"] - 10.0, 18.0)))
            alpha = _ramp(d, pix) * p
            value = _F(les.hu) + _F(6.0) * np.clip(d * _F(0.2), 0, 1)
        elif st == "intraventricular":
            if vent is None:
                continue
            vroi, vd = vent
            roi = _and(roi, vroi)
            if roi is None:
                continue
            rr = (slice(roi[0].start - vroi[0].start, roi[0].stop - vroi[0].start),
                  slice(roi[1].start - vroi[1].start, roi[1].stop - vroi[1].start))
            uw, vw, ww2 = cv.coords(roi)
            y = grid.y[cav[0]][roi[0]]
            alpha = _ramp(les.depth(uw, vw, ww2, y, vd[rr]), pix)
            value = _F(les.hu)
        elif st == "subarachnoid":
            alpha = les.region(uu, vv, ww) * cv.space[roi]
            value = _F(les.hu)
        else:
            h = thick[id(les)]
            ddr = dd[roi]
            f = np.minimum(h - ddr, ddr + _F(0.6))
            alpha = _ramp(f, pix) * np.clip(h * _F(2.0 / pix), 0, 1)
            if st == "subdural" and les.falx:
                um = cv.coords(roi)[0]
                alpha = np.maximum(alpha, _ramp(les.falx_depth(head, um, vv, ww), pix))
            value = _F(les.hu)
            if st == "epidural" and les.swirl:
                tex = np.sin(uu * _F(0.5) + vv * _F(0.4)) * np.sin(ww * _F(0.45) - uu * _F(0.3))
                value = value - _F(25.0 * les.swirl) * np.clip(tex, 0, 1)
        alpha = alpha * cv.inside[roi]
        if not float(alpha.max()) > 0:
            continue
        cv.paint(roi, alpha, value)
        full_alpha = alphas.get(st)
        if full_alpha is None:
            full_alpha = alphas[st] = np.zeros(grid.shape, dtype=np.float32)
        r0, c0 = cav[0].start, cav[1].start
        target = full_alpha[roi[0].start + r0:roi[0].stop + r0, roi[1].start + c0:roi[1].stop + c0]
        np.maximum(target, alpha, out=target)

    # Composite the cavity over bone and scalp.
    view = img[cav]
    view += cv.inside * (cv.img - view)
    np.putmask(lab[cav], cv.inside > 0.5, cv.lab)


def _draw_deep(head, cv, pix):
    """Cisterns, brainstem, deep gray nuclei, ventricles, fissures and falx.

    Returns ``(roi, ventricle depth)`` over the ventricles' crop, or None.
    """
    hu_t = head.hu
    a, b = head.a, head.b
    vs, atro = head.vent_scale, head.atrophy
    csf = _F(hu_t["csf"])

    def ell(center, semi, value, code, is_space):
        roi = cv.box([center[k] - semi[k] for k in range(3)], [center[k] + semi[k] for k in range(3)], True)
        if roi is not None:
            uw, vw, ww = cv.coords(roi)
            cv.paint(roi, _ramp(ellipsoid_depth(uw, vw, ww, center, semi), pix), value, code, is_space)

    # Brainstem (midbrain, pons, medulla) inside the perimesencephalic and
    # prepontine cisterns; suprasellar, quadrigeminal cisterns, cisterna magna.
    stem = (((0.0, 0.1 * b, -6.0), (0.0, 0.12 * b, -24.0), 11.0, 11.5),
            ((0.0, 0.12 * b, -26.0), (0.0, 0.19 * b, -44.0), 12.5, 13.0),
            ((0.0, 0.2 * b, -48.0), (0.0, 0.27 * b, -80.0), 9.0, 8.0))
    cist = 2.2 + 2.5 * atro
    r_st = cv.box((-22.0, -0.05 * b - 12.0, -90.0), (22.0, 0.4 * b, 12.0), True)
    d_stem = None
    if r_st is not None:
        uw, vw, ww = cv.coords(r_st)
        for p0, p1, r0, r1 in stem:
            d = capsule_depth(uw, vw, ww, p0, p1, r0, r1, squash=(1.2, 1.0, 1.0))
            d_stem = d if d_stem is None else np.maximum(d_stem, d)
        cv.paint(r_st, _ramp(d_stem + _F(cist), pix), csf, _L["csf"], True)
    ell((0.0, -0.11 * b, -16.0), (12.0 + 3 * atro, 8.0 + 2 * atro, 4.5 + atro), csf, _L["csf"], True)
    ell((0.0, 0.27 * b, -6.0), (6.0 + 2 * atro, 4.5 + atro, 5.0), csf, _L["csf"], True)
    ell((0.0, 0.82 * b, -57.0), (9.0, 0.1 * b + 2.0, 8.0), csf, _L["csf"], True)

    # Sylvian fissures: insular cistern, lateral cleft and the stem to the basal cisterns.
    hw_s = 0.5 + 1.6 * atro
    for s in (1.0, -1.0):
        lo_u, hi_u = (8.0, a * 1.05) if s > 0 else (-a * 1.05, -8.0)
        roi = cv.box((lo_u, -0.42 * b, -22.0), (hi_u, 0.2 * b, 19.0), True)
        if roi is None:
            continue
        uw, vw, ww = cv.coords(roi)
        au = uw * _F(s)
        u_ins = _F(0.5 * a) - _F(0.05 * a) * ((vw + _F(0.09 * b)) * _F(1 / (0.21 * b))) ** 2
        vrange = np.minimum(vw + _F(0.3 * b), _F(0.12 * b) - vw)
        wrange = np.minimum(ww + _F(14.0), _F(17.0) - ww)
        insular = np.minimum(np.minimum(_F(hw_s) - np.abs(au - u_ins), vrange), wrange)
        v_cleft = _F(-0.2 * b) + _F(0.25) * (au - u_ins) + _F(0.15) * ww
        cleft = np.minimum(np.minimum(_F(hw_s) - np.abs(vw - v_cleft) - (au - u_ins) * _F(0.03), au - u_ins + _F(1.0)),
                           np.minimum(ww + _F(14.0), _F(9.0) - ww))
        # Where u_ins is exactly 9 the ratio is +-inf, which the clip turns into 0 or 1.
        with np.errstate(divide="ignore"):
            v_stem = _F(-0.1 * b) - _F(0.1 * b) * np.clip((au - _F(9.0)) / (u_ins - _F(9.0)), 0, 1)
        stem_syl = np.minimum(np.minimum(_F(0.8 + hw_s) - np.abs(vw - v_stem), au - _F(9.0)),
                              np.minimum(np.minimum(u_ins + _F(2.0) - au, ww + _F(20.0)), _F(-9.0) - ww))
        ins = np.minimum(np.minimum(_F(2.2) - np.abs(au - u_ins + _F(2.8 + hw_s)), vrange), wrange)
        cv.paint(roi, _ramp(ins, pix), _F(hu_t["gray"]), _L["gray"], False)
        syl = np.maximum(np.maximum(insular, cleft), stem_syl)
        cv.paint(roi, _ramp(syl, pix), csf, _L["csf"], True)

    # Brainstem itself, the interpeduncular fossa and the aqueduct.
    if d_stem is not None:
        cv.paint(r_st, _ramp(d_stem, pix), _F(hu_t["brainstem"]), _L["brainstem"], False)
    ell((0.0, 0.1 * b - 10.5, -15.0), (3.0, 4.0, 7.0), csf, _L["csf"], True)

    # Deep gray nuclei: caudate heads, lentiform nuclei, thalami.
    half3 = 0.6 + 1.6 * (vs - 0.7)
    for s in (1.0, -1.0):
        ell((s * (1.5 + 3.2 * vs + 5.0), -0.25 * b, 10.0), (4.5, 9.0, 7.5), _F(hu_t["deep_gray"]),
            _L["deep_gray"], False)
        ell((s * 0.33 * a, -0.04 * b, 2.0), (6.0, 0.19 * b, 9.5), _F(hu_t["deep_gray"]),
            _L["deep_gray"], False)
        ell((s * (half3 + 8.5), 0.1 * b, 3.0), (8.0, 0.15 * b, 9.0), _F(hu_t["deep_gray"]),
            _L["deep_gray"], False)

    # Ventricles, with periventricular low density in older heads.
    parts = anatomy.ventricle_parts(head)
    lo = np.min([p[2] for p in parts], axis=0)
    hi = np.max([p[3] for p in parts], axis=0)
    vroi = cv.box(lo, hi, True)
    vent = None
    if vroi is not None:
        vd = np.full(cv.u[vroi].shape, -50.0, dtype=np.float32)
        r0, c0 = vroi[0].start, vroi[1].start
        for part in parts:
            proi = _and(cv.box(part[2], part[3], True), vroi)
            if proi is None:
                continue
            uw, vw, ww = cv.coords(proi)
            d = anatomy.ventricle_depth(head, uw, vw, ww, [part])
            sub = vd[proi[0].start - r0:proi[0].stop - r0, proi[1].start - c0:proi[1].stop - c0]
            np.maximum(sub, d, out=sub)
        if atro > 0.35:
            halo = np.clip((vd + _F(7.0)) * _F(0.2), 0, 1) * (_F(1.0) - _ramp(vd, pix))
            halo *= _WHITE_LUT[cv.lab[vroi]]
            cv.img[vroi] += halo * _F(-6.0 * atro)
        cv.paint(vroi, _ramp(vd, pix), csf, _L["ventricle"], False)
        vent = (vroi, vd)

    # Interhemispheric fissure, falx and superior sagittal sinus.
    fis_hw = 0.9 + 2.2 * atro
    roi = cv.box((-fis_hw - 3, -b * 1.1, -40.0), (fis_hw + 3, b * 1.1, head.c_up), True)
    if roi is not None:
        uw, vw, ww = cv.coords(roi)
        ddr = cv.dd[roi]
        above = cv.w[roi] - anatomy.falx_lower_edge(head, vw)
        anterior = np.clip((_F(-0.42 * b) - vw) * _F(0.3), 0, 1)
        fis = np.minimum(_F(fis_hw) - np.abs(uw), np.maximum(above + _F(3.0), (anterior - _F(0.5)) * _F(10)))
        cv.paint(roi, _ramp(fis, pix), csf, _L["csf"], True)
        falx = np.minimum(_F(0.55) - np.abs(uw), above)
        cv.paint(roi, _ramp(falx, pix) * _F(0.85), _F(hu_t["dura"]), _L["dura"], False)
        sss = np.minimum(_F(6.0) - ddr - np.abs(uw) * _F(1.7), above)
        cv.paint(roi, _ramp(sss, pix) * _F(0.9), _F(hu_t["venous"]), _L["dura"], False)

    # Calcified pineal gland and choroid plexus.
    if head.pineal_calc:
        ell((0.0, 0.22 * b, 1.0), (head.pineal_calc,) * 3, _F(260.0), _L["calcification"], False)
    if head.choroid_calc:
        for s in (1.0, -1.0):
            node = anatomy.lateral_ventricle_nodes(head, s)["atrium"]
            ell(node[:3], (head.choroid_calc,) * 3, _F(160.0), _L["calcification"], False)
    return vent
