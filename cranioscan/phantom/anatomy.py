"""Anatomy of the phantom head: sampled parameters and the geometric fields.

Everything here is a pure function of head-frame millimetres (``u`` to the
patient's left, ``v`` posterior, ``w`` superior; see :mod:`.grid`). A
:class:`Head` holds one study's anatomy: skull size and shape, skull and
scalp thickness, an age-like atrophy that widens the ventricles, sulci and
extra-axial spaces, a random gyral pattern, tissue densities, and the pose of
the head in the scanner. :func:`sample_head` draws one from a numpy Generator.

Field functions return signed distances in mm (positive inside a structure,
unless named ``D_*``, which are positive *outside*), so that drawing at any
pixel size is a threshold with a one-pixel partial-volume ramp.
"""

__all__ = [
    "Head",
    "sample_head",
    "TISSUE_HU",
    "vault_distance",
    "skull_shape",
    "ellipsoid_depth",
    "capsule_depth",
    "box_depth",
    "ventricle_depth",
    "lateral_ventricle_nodes",
    "falx_lower_edge",
    "tentorium_height",
    "petrous_ridge_v",
]

import dataclasses

import numpy as np

#: Typical densities (HU) of the tissues; each study jitters them a little.
TISSUE_HU = {
    "air": -1000.0,
    "fat": -95.0,
    "skin": 30.0,
    "muscle": 45.0,
    "csf": 7.0,
    "white": 27.0,
    "gray": 38.0,
    "deep_gray": 34.0,
    "brainstem": 30.0,
    "cerebellum": 36.0,
    "dura": 50.0,
    "venous": 48.0,
    "cortical_bone": 1750.0,
    "diploe": 650.0,
    "skull_base": 1500.0,
    "vitreous": 10.0,
    "lens": 95.0,
}


@dataclasses.dataclass(frozen=True)
class Head:
    """One study's anatomy and pose (all lengths in mm, densities in HU).

    ``a``, ``b`` are the left-right and antero-posterior semi-axes of the
    inner table of the skull, ``c_up``/``c_low`` its semi-axes above and below
    the origin; ``egg`` widens the skull posteriorly. ``rotation`` takes
    head-frame vectors to the scanner frame and ``center`` is the scanner
    position of the head-frame origin.
    """

    a: float
    b: float
    c_up: float
    c_low: float
    egg: float
    skull_t: float
    skull_var: tuple
    scalp_t: float
    fat_t: float
    temporalis: float
    rotation: np.ndarray
    center: np.ndarray
    atrophy: float
    vent_scale: float
    csf_t: float
    sulcal_hw: float
    gyri: np.ndarray  # (K, 4): wave vector on the unit sphere (3) and phase
    sulcal_depth: np.ndarray  # (M, 4): same, for the depth of the sulci
    folia: tuple  # cerebellar folia (wavelength mm, phase)
    hu: dict
    pineal_calc: float
    choroid_calc: float
    noise_sd: float
    headrest: bool
    diploe_k: np.ndarray  # (3, 4) texture waves of the diploe

    @property
    def vertex_w(self):
        """Head-frame ``w`` of the top of the scalp (mm)."""
        return self.c_up + self.skull_t * 1.1 + self.scalp_t


def _rotation(yaw, pitch, roll):
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    ry = np.array([[cr, 0.0, sr], [0.0, 1.0, 0.0], [-sr, 0.0, cr]])
    return rz @ rx @ ry


def _unit_waves(rng, count, k_lo, k_hi):
    vec = rng.normal(size=(count, 3))
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    vec *= rng.uniform(k_lo, k_hi, size=(count, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(count, 1))
    return np.concatenate([vec, phase], axis=1)


def sample_head(rng, fov):
    """Draw one study's anatomy and pose.

    Args:
        rng: ``numpy.random.Generator``.
        fov: field of view of the slices (mm); the head is sized and placed to
            fit inside it.

    Returns:
        :class:`Head`.
    """
    atrophy = float(rng.beta(1.3, 3.0))
    size = rng.normal(1.0, 0.045)
    shape = rng.normal(0.0, 0.045)  # >0: long (dolichocephalic), <0: round
    a = 66.0 * size * (1.0 - shape)
    b = 84.0 * size * (1.0 + shape)
    c_up = 78.0 * size * rng.normal(1.0, 0.03)
    skull_t = rng.uniform(4.8, 7.5)
    scalp_t = rng.uniform(3.5, 6.5)
    # Fit the head inside the field of view: AP extent plus a margin.
    outer_b = b * 1.06 + skull_t * 1.3 + scalp_t
    fit = min(1.0, 0.46 * fov / outer_b)
    a, b, c_up = a * fit, b * fit, c_up * fit
    outer_b = b * 1.06 + skull_t * 1.3 + scalp_t
    outer_a = a * 1.08 + skull_t + scalp_t + 4.0
    yaw = np.deg2rad(np.clip(rng.normal(0.0, 5.0), -14, 14))
    pitch = np.deg2rad(np.clip(rng.normal(0.0, 5.0), -12, 12))
    roll = np.deg2rad(np.clip(rng.normal(0.0, 2.0), -5, 5))
    room_x = max(fov / 2 - outer_a * 1.02, 0.0)
    room_y = max(fov / 2 - outer_b * 1.02, 0.0)
    cx = rng.uniform(-1, 1) * min(room_x, 12.0)
    cy = rng.uniform(-0.4, 1.0) * min(room_y, 12.0)
    cz = rng.uniform(60.0, 160.0)
    hu = {k: v for k, v in TISSUE_HU.items()}
    hu["white"] = float(rng.uniform(25.0, 30.0))
    hu["gray"] = float(hu["white"] + rng.uniform(9.0, 14.0))
    hu["deep_gray"] = float(hu["white"] + rng.uniform(3.0, 6.0))
    hu["cerebellum"] = float(hu["gray"] - rng.uniform(0.0, 3.0))
    hu["brainstem"] = float(hu["white"] + rng.uniform(2.0, 5.0))
    hu["csf"] = float(rng.uniform(3.0, 12.0))
    hu["cortical_bone"] = float(rng.uniform(1550.0, 1850.0))
    hu["diploe"] = float(rng.uniform(450.0, 850.0))
    vent_scale = float(0.8 + 1.0 * atrophy + rng.normal(0.0, 0.07))
    return Head(
        a=float(a), b=float(b), c_up=float(c_up), c_low=float(92.0 * size * fit),
        egg=float(rng.uniform(0.02, 0.09)),
        skull_t=float(skull_t),
        skull_var=tuple(float(x) for x in rng.normal(0.0, 0.08, size=6)),
        scalp_t=float(scalp_t), fat_t=float(rng.uniform(1.8, 3.2)),
        temporalis=float(rng.uniform(2.0, 6.0)),
        rotation=_rotation(yaw, pitch, roll), center=np.array([cx, cy, cz]),
        atrophy=atrophy, vent_scale=max(vent_scale, 0.7),
        csf_t=float(0.7 + 2.6 * atrophy + rng.uniform(0.0, 0.6)),
        sulcal_hw=float(0.3 + 1.0 * atrophy + rng.uniform(0.0, 0.2)),
        gyri=_unit_waves(rng, 12, 34.0, 44.0),
        sulcal_depth=_unit_waves(rng, 4, 3.0, 6.0),
        folia=(float(rng.uniform(4.0, 5.5)), float(rng.uniform(0, 2 * np.pi))),
        hu=hu,
        pineal_calc=float(rng.uniform(1.2, 2.5)) if rng.random() < 0.5 else 0.0,
        choroid_calc=float(rng.uniform(1.0, 2.0)) if rng.random() < 0.3 else 0.0,
        noise_sd=float(rng.uniform(4.0, 6.5)),
        headrest=bool(rng.random() < 0.7),
        diploe_k=_unit_waves(rng, 3, 1.2, 2.4),
    )


# ---------------------------------------------------------------------------
# Primitive signed distances (positive inside, mm; first-order accurate).


def ellipsoid_depth(u, v, w, center, semi):
    """Approximate depth (mm) inside an axis-aligned ellipsoid; negative outside."""
    x = (u - np.float32(center[0])) * np.float32(1.0 / semi[0])
    y = (v - np.float32(center[1])) * np.float32(1.0 / semi[1])
    z = (w - np.float32(center[2])) * np.float32(1.0 / semi[2])
    q2 = x * x + y * y + z * z
    g = np.sqrt((x * np.float32(1.0 / semi[0])) ** 2 + (y * np.float32(1.0 / semi[1])) ** 2
                + (z * np.float32(1.0 / semi[2])) ** 2)
    np.maximum(g, np.float32(1e-6), out=g)
    # (1 - q^2) / |grad q^2| is the distance near the surface and stays positive
    # (capped at the smallest semi-axis) towards the centre.
    return np.minimum((np.float32(1.0) - q2) / (np.float32(2.0) * g), np.float32(min(semi)))


def capsule_depth(u, v, w, p0, p1, r0, r1, squash=(1.0, 1.0, 1.0)):
    """Depth (mm) inside a tapered capsule from ``p0`` (radius r0) to ``p1`` (r1).

    ``squash`` scales the distance per axis (an elliptic cross-section).
    """
    d = np.subtract(p1, p0, dtype=np.float64)
    sq = np.asarray(squash, dtype=np.float64)
    dd = d / sq
    length2 = float(dd @ dd) or 1e-9
    x = (u - np.float32(p0[0])) * np.float32(1.0 / sq[0])
    y = (v - np.float32(p0[1])) * np.float32(1.0 / sq[1])
    z = (w - np.float32(p0[2])) * np.float32(1.0 / sq[2])
    t = (x * np.float32(dd[0]) + y * np.float32(dd[1]) + z * np.float32(dd[2])) * np.float32(1.0 / length2)
    np.clip(t, 0.0, 1.0, out=t)
    x -= t * np.float32(dd[0])
    y -= t * np.float32(dd[1])
    z -= t * np.float32(dd[2])
    dist = np.sqrt(x * x + y * y + z * z)
    return np.float32(r0) + t * np.float32(r1 - r0) - dist


def box_depth(u, v, w, lo, hi, round_mm=0.0):
    """Depth (mm) inside an axis-aligned box with edges rounded by ``round_mm``."""
    c = [(lo[k] + hi[k]) / 2 for k in range(3)]
    h = [(hi[k] - lo[k]) / 2 - round_mm for k in range(3)]
    qx = np.abs(u - np.float32(c[0])) - np.float32(h[0])
    qy = np.abs(v - np.float32(c[1])) - np.float32(h[1])
    qz = np.abs(w - np.float32(c[2])) - np.float32(h[2])
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2 + np.maximum(qz, 0) ** 2)
    inside = np.minimum(np.maximum(np.maximum(qx, qy), qz), 0)
    return np.float32(round_mm) - outside - inside


def _sigmoid(x):
    return np.float32(0.5) + np.float32(0.5) * np.tanh(np.float32(0.5) * x)


# ---------------------------------------------------------------------------
# Skull and skull base.


def petrous_ridge_v(head, au):
    """``v`` (mm) of the petrous ridge (middle / posterior fossa border) at ``|u|``."""
    a, b = head.a, head.b
    t = np.clip((au - 10.0) / (0.8 * a - 10.0), 0.0, 1.0)
    return np.float32(-0.05 * b) + np.float32(0.36 * b) * t


def tentorium_height(head, u, v):
    """``w`` (mm) of the tentorium cerebelli above the point ``(u, v)``."""
    a, b = head.a, head.b
    return (np.float32(-8.0) - np.float32(18.0) * (u * np.float32(1 / (0.85 * a))) ** 2
            - np.float32(14.0) * np.clip((v - np.float32(0.35 * b)) * np.float32(1 / (0.65 * b)), 0, 1))


def falx_lower_edge(head, v):
    """``w`` (mm) of the free lower edge of the falx cerebri at ``v``."""
    b = head.b
    t = np.clip((np.abs(v) - np.float32(0.3 * b)) * np.float32(1 / (0.55 * b)), 0, 1)
    return np.float32(27.0) - np.float32(44.0) * t


def vault_distance(head, u, v, w):
    """Outward distance (mm) to the ellipsoidal inner table, and its normalised radius.

    Returns ``(D_ell, q)``: first-order signed distance (positive outside the
    cavity) and ``q`` (1 on the inner table), float32 arrays.
    """
    af = np.float32
    inv_a = af(1.0 / head.a) / (af(1.0) + af(head.egg / head.b) * v)
    inv_c = np.where(w >= 0, af(1.0 / head.c_up), af(1.0 / head.c_low))
    x = u * inv_a
    y = v * af(1.0 / head.b)
    z = w * inv_c
    q = np.sqrt(x * x + y * y + z * z)
    np.maximum(q, af(1e-3), out=q)
    x *= inv_a
    y *= af(1.0 / head.b)
    z *= inv_c
    g = np.sqrt(x * x + y * y + z * z)
    return (q - af(1.0)) * q / g, q


def skull_shape(head, u, v, w, with_base=True):
    """Smooth fields (mm) that shape the skull, scalp and skull base.

    Smooth enough to be evaluated on a coarse grid and interpolated. Returns
    a dict of float32 arrays: ``t`` (vault thickness), ``temporal`` (weight
    of the temporal fossa, where the temporalis muscle thickens the scalp),
    ``frontal`` (weight of the frontal convexity) and, ``with_base``,
    ``floor`` (height ``w`` of the floor of the cranial fossae) and
    ``t_base`` (skull base thickness below the floor).
    """
    a, b = head.a, head.b
    af = np.float32
    c = np.where(w >= 0, af(head.c_up), af(head.c_low))
    x = u / (af(a) * (af(1.0) + af(head.egg) * v * af(1.0 / b)))
    y = v * af(1.0 / b)
    z = w / c
    q = np.maximum(np.sqrt(x * x + y * y + z * z), af(1e-3))
    nx, ny, nz = x / q, y / q, z / q
    k = head.skull_var
    t = af(head.skull_t) * (
        af(1.0) + af(0.22) * ny * ny - af(0.45) * nx * nx * np.exp(-((nz - af(0.05)) * af(1 / 0.35)) ** 2)
        + af(k[0]) * nx + af(k[1]) * ny + af(k[2]) * nz + af(k[3]) * nx * ny + af(k[4]) * ny * nz
        + af(k[5]) * nx * nz)
    np.maximum(t, af(2.2), out=t)
    out = {"t": t, "temporal": nx * nx * np.exp(-((nz - af(0.1)) * af(1 / 0.35)) ** 2),
           "frontal": np.clip(-ny, 0, 1)}
    if not with_base:
        return out
    au = np.abs(u)
    v_sph = af(-0.22 * b) - af(0.25 * b) * np.minimum(au * af(1 / (0.7 * a)), af(1.0))
    v_pet = petrous_ridge_v(head, au)
    f_ant = af(-22.0) - af(5.0) * np.exp(-(u * af(1 / 7.0)) ** 2)
    # Middle and posterior fossae are bowls, so axial cuts show oval temporal
    # lobes and cerebellar hemispheres inside thin bony rims.
    f_mid = (af(-48.0) + af(18.0) * np.exp(-(u * af(1 / 13.0)) ** 2)
             + af(8.0) * ((au - af(0.62 * a)) * af(1 / (0.4 * a))) ** 2
             + af(6.0) * ((v + af(0.12 * b)) * af(1 / (0.3 * b))) ** 2)
    bowl = (af(-68.0) + af(14.0) * (u * af(1 / (0.8 * a))) ** 2
            + af(14.0) * ((v - af(0.55 * b)) * af(1 / (0.5 * b))) ** 2)
    clivus = af(-28.0) - (v + af(0.05 * b)) * af(34.0 / (0.19 * b))
    f_post = bowl + np.maximum(clivus - bowl, 0) * np.exp(-(u * af(1 / 18.0)) ** 2)
    fm = (u * af(1 / 15.0)) ** 2 + ((v - af(0.3 * b)) * af(1 / (0.15 * b))) ** 2
    f_post -= af(120.0) * np.clip((af(1.0) - fm) * af(4.0), 0, 1)
    s_ant = _sigmoid((v_sph - v) * af(0.5))
    s_post = _sigmoid((v - v_pet) * af(0.5))
    lateral = af(1.0) - np.exp(-(u * af(1 / 14.0)) ** 2)
    floor = s_ant * f_ant + (af(1.0) - s_ant) * ((af(1.0) - s_post) * f_mid + s_post * f_post)
    floor += af(12.0) * np.exp(-((v - v_pet) * af(0.25)) ** 2) * lateral
    floor += af(4.0) * np.exp(-((v - v_sph) * af(1 / 3.0)) ** 2)
    petrous = af(14.0) * np.exp(-((v - v_pet - af(5.0)) * af(1 / 6.0)) ** 2) * lateral * (
        au < af(0.85 * a))
    clivus_bone = af(9.0) * np.exp(-(u * af(1 / 12.0)) ** 2) * s_post
    out["floor"] = floor
    out["t_base"] = s_ant * af(2.5) + (af(1.0) - s_ant) * (af(3.5) + petrous + clivus_bone)
    return out


# ---------------------------------------------------------------------------
# Ventricles.


def lateral_ventricle_nodes(head, side):
    """Nodes ``(u, v, w, radius)`` of one lateral ventricle (side +1 left, -1 right).

    Segments: frontal horn, body, atrium, occipital horn, temporal horn.
    """
    s, b, vs = float(side), head.b, head.vent_scale
    rb = 3.2 * vs
    nodes = {
        "frontal_tip": (s * (2.5 + 2.4 * vs), -0.37 * b, 5.0, 2.4 * vs),
        "monro": (s * (1.5 + rb), -0.13 * b, 13.0, rb * 1.1),
        "body": (s * (3.0 + rb), 0.14 * b, 19.0, rb),
        "atrium": (s * (12.0 + 3.0 * vs), 0.36 * b, 9.0, 4.2 * vs),
        "occipital_tip": (s * (12.0 + 1.5 * vs), 0.58 * b, 4.0, 1.3 * vs),
        "temporal": (s * 26.0, 0.16 * b, -11.0, 1.8 * vs),
        "temporal_tip": (s * 28.0, -0.12 * b, -21.0, 1.2 * vs),
    }
    return nodes


_LATERAL_SEGMENTS = (("frontal_tip", "monro"), ("monro", "body"), ("body", "atrium"),
                     ("atrium", "occipital_tip"), ("atrium", "temporal"),
                     ("temporal", "temporal_tip"))


def ventricle_parts(head):
    """Every ventricular primitive as ``(kind, params, head-frame box lo, hi)``."""
    parts = []
    for side in (1.0, -1.0):
        nodes = lateral_ventricle_nodes(head, side)
        for p, q in _LATERAL_SEGMENTS:
            p0, p1 = nodes[p], nodes[q]
            r = max(p0[3], p1[3])
            lo = [min(p0[k], p1[k]) - r for k in range(3)]
            hi = [max(p0[k], p1[k]) + r for k in range(3)]
            squash = (1.0, 1.0, 1.8) if p in ("frontal_tip", "monro") else (1.0, 1.0, 1.0)
            if squash[2] != 1.0:
                lo[2] -= r * 0.8
                hi[2] += r * 0.8
            parts.append(("capsule", (p0[:3], p1[:3], p0[3], p1[3], squash), lo, hi))
    b, vs = head.b, head.vent_scale
    half3 = 0.6 + 1.6 * (vs - 0.7)
    lo3, hi3 = (-half3, -0.11 * b, -14.0), (half3, 0.1 * b, 10.0)
    parts.append(("box", (lo3, hi3, min(half3, 1.5)), lo3, hi3))
    c4, s4 = (0.0, 0.37 * b, -38.0), (6.0 * vs ** 0.5, 3.5 + vs, 7.0)
    parts.append(("ellipsoid", (c4, s4), [c4[k] - s4[k] for k in range(3)],
                  [c4[k] + s4[k] for k in range(3)]))
    pa, pb = (0.0, 0.11 * b, -12.0), (0.0, 0.34 * b, -31.0)
    parts.append(("capsule", (pa, pb, 0.9, 0.9, (1, 1, 1)), [-1, pa[1] - 1, pb[2] - 1],
                  [1, pb[1] + 1, pa[2] + 1]))
    return parts


def ventricle_depth(head, u, v, w, parts=None):
    """Depth (mm) inside the ventricular system (max over its parts)."""
    out = None
    for kind, params, _, _ in parts or ventricle_parts(head):
        if kind == "capsule":
            d = capsule_depth(u, v, w, *params)
        elif kind == "box":
            d = box_depth(u, v, w, *params)
        else:
            d = ellipsoid_depth(u, v, w, *params)
        out = d if out is None else np.maximum(out, d)
    return out
