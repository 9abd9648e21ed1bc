"""Hemorrhages of the phantom, drawn by their radiological shape and place.

Each lesion is a small frozen dataclass in the head frame (mm, see
:mod:`.grid`) with the fields a reader would describe (side, location, size,
density) and pure field functions; :mod:`.render` composes them with the
anatomy. Shapes:

* epidural: a biconvex lens against the inner table, inside one suture
  compartment (frontal, temporo-parietal or occipital; never across the
  midline), ends cut short where it meets a suture;
* subdural: a crescent along the convexity over a wide arc (crosses sutures,
  stops at the falx), optionally a layer along the falx;
* subarachnoid: blood filling the sulci, fissures and cisterns inside a
  region (basal cisterns, a convexity patch, or diffuse);
* intraparenchymal: an irregular blob in brain tissue (basal ganglia,
  thalamus, lobar white matter, cerebellum, pons) with a hypodense edema rim
  and mass effect on the deep structures;
* intraventricular: blood layering in the dependent (posterior, for a supine
  patient) parts of the ventricles with a horizontal fluid level, and/or a
  clot filling part of the ventricular system.

``size`` arguments are a relative size in [0, 1] mapped onto the ranges of
:data:`SIZE_RANGES_MM`.
"""

__all__ = [
    "SIZE_RANGES_MM",
    "Epidural",
    "Subdural",
    "Subarachnoid",
    "Intraparenchymal",
    "Intraventricular",
    "LESION_TYPES",
    "sample_lesion",
    "coronal_suture_v",
    "lambdoid_suture_v",
    "surface_point",
]

import dataclasses

import numpy as np

from . import anatomy

#: Physical size ranges (mm) that a relative size in [0, 1] maps onto.
SIZE_RANGES_MM = {
    "epidural": {"thickness": (3.0, 28.0), "radius": (14.0, 48.0)},
    "subdural": {"thickness": (2.5, 19.0), "arc": (50.0, 95.0)},
    "subarachnoid": {"radius": (14.0, 45.0)},
    "intraparenchymal": {"radius": (4.0, 24.0)},
    "intraventricular": {"level": (6.0, 16.0), "clot": (8.0, 26.0)},
}

_F = np.float32


def _lerp(rng_pair, t):
    lo, hi = rng_pair
    return lo + (hi - lo) * float(t)


def coronal_suture_v(head, w):
    """``v`` (mm) of the coronal suture at height ``w``."""
    z = np.clip(w * _F(1.0 / head.c_up), 0, 1)
    return _F(-0.28 * head.b) - _F(0.2 * head.b) * (_F(1.0) - z)


def lambdoid_suture_v(head, w):
    """``v`` (mm) of the lambdoid suture at height ``w``."""
    z = np.clip(w * _F(1.0 / head.c_up), 0, 1)
    return _F(0.5 * head.b) + _F(0.25 * head.b) * z


def surface_point(head, side, azimuth, elevation):
    """Point (mm) of the inner table in a direction.

    ``azimuth`` is the angle from the lateral direction of ``side`` towards
    posterior (negative: anterior), ``elevation`` the angle above the axial
    plane, both in radians, on the normalised ellipsoid.
    """
    nx = side * np.cos(elevation) * np.cos(azimuth)
    ny = np.cos(elevation) * np.sin(azimuth)
    nz = np.sin(elevation)
    a_eff = head.a * (1.0 + head.egg * ny)
    c = head.c_up if nz >= 0 else head.c_low
    return np.array([a_eff * nx, head.b * ny, c * nz])


def _surface_projection(u, v, w, q):
    inv = _F(1.0) / q
    return u * inv, v * inv, w * inv


@dataclasses.dataclass(frozen=True)
class Epidural:
    """Biconvex lens between the inner table and the dura."""

    side: float
    compartment: str  # "frontal", "temporoparietal" or "occipital"
    center: tuple  # point of the inner table under the lens centre (mm)
    radius: float  # arc radius of the lens (mm)
    thickness: float  # maximal thickness (mm)
    hu: float
    swirl: float = 0.0  # 0..1: hyperacute hypodense swirls
    subtype = "epidural"

    def box(self):
        r = self.radius + 2
        return ([c - r for c in self.center], [c + r for c in self.center])

    def suture_room(self, head, u, v, w):
        """Distance (mm) to the compartment's sutures (negative across them)."""
        room = self.side * u
        if self.compartment == "frontal":
            room = np.minimum(room, coronal_suture_v(head, w) - v)
        elif self.compartment == "occipital":
            room = np.minimum(room, v - lambdoid_suture_v(head, w))
        else:
            room = np.minimum(room, np.minimum(v - coronal_suture_v(head, w),
                                               lambdoid_suture_v(head, w) - v))
        return room

    def thickness_at(self, head, u, v, w, q):
        """Local thickness (mm) of the lens under each point (0 outside)."""
        su, sv, sw = _surface_projection(u, v, w, q)
        c = self.center
        r2 = ((su - _F(c[0])) ** 2 + (sv - _F(c[1])) ** 2 + (sw - _F(c[2])) ** 2) * _F(
            1.0 / self.radius ** 2)
        h = _F(self.thickness) * np.sqrt(np.clip(_F(1.0) - r2, 0, 1))
        room = self.suture_room(head, su, sv, sw)
        h *= np.sqrt(np.clip(room * _F(0.4) + _F(0.15), 0, 1))
        return h

    def volume_ml(self):
        return float(np.pi / 2 * self.radius ** 2 * self.thickness * 0.55 / 1000)

    def scaled(self, f):
        return dataclasses.replace(self, radius=self.radius * f, thickness=self.thickness * f)


@dataclasses.dataclass(frozen=True)
class Subdural:
    """Crescent between the dura and the arachnoid over the convexity."""

    side: float
    center: tuple  # inner-table point at the thickest part (mm)
    arc_ap: float  # antero-posterior half-extent (mm)
    arc_si: float  # supero-inferior half-extent (mm)
    thickness: float  # maximal thickness (mm)
    hu: float
    falx: tuple = ()  # (v_lo, v_hi, thickness) of a layer along the falx, or ()
    subtype = "subdural"

    def box(self):
        c = self.center
        lo = [c[0] - self.arc_ap - 2, c[1] - self.arc_ap - 2, c[2] - self.arc_si - 2]
        hi = [c[0] + self.arc_ap + 2, c[1] + self.arc_ap + 2, c[2] + self.arc_si + 2]
        if self.falx:
            lo = [min(lo[0], -12.0), min(lo[1], self.falx[0]), min(lo[2], -30.0)]
            hi = [max(hi[0], 12.0), max(hi[1], self.falx[1]), max(hi[2], 130.0)]
        return lo, hi

    def thickness_at(self, head, u, v, w, q):
        su, sv, sw = _surface_projection(u, v, w, q)
        c = self.center
        r2 = (((su - _F(c[0])) ** 2 + (sv - _F(c[1])) ** 2) * _F(1.0 / self.arc_ap ** 2)
              + (sw - _F(c[2])) ** 2 * _F(1.0 / self.arc_si ** 2))
        h = _F(self.thickness) * np.clip(_F(1.0) - r2, 0, 1) ** _F(1.3)
        h *= np.clip(_F(self.side) * su * _F(0.5), 0, 1)  # stops at the falx
        return h

    def falx_depth(self, head, u_mid, v, w):
        """Depth (mm) inside the layer along the falx (negative outside)."""
        v_lo, v_hi, thick = self.falx
        off = _F(self.side) * u_mid - _F(0.6)
        d = np.minimum(_F(thick) - off, off + _F(0.3))
        d = np.minimum(d, w - anatomy.falx_lower_edge(head, v) - _F(2.0))
        d = np.minimum(d, np.minimum(v - _F(v_lo), _F(v_hi) - v) * _F(0.25))
        return d

    def volume_ml(self):
        return float(np.pi * self.arc_ap * self.arc_si * self.thickness * 0.45 / 1000)

    def scaled(self, f):
        return dataclasses.replace(self, thickness=self.thickness * f, arc_ap=self.arc_ap * min(f, 1.2),
                                   arc_si=self.arc_si * min(f, 1.2))


@dataclasses.dataclass(frozen=True)
class Subarachnoid:
    """Blood in the subarachnoid spaces (sulci, fissures, cisterns) of a region."""

    pattern: str  # "basal", "convexity" or "diffuse"
    side: float
    center: tuple
    radius: float
    hu: float
    subtype = "subarachnoid"

    def box(self):
        r = self.radius + 4
        return ([c - r for c in self.center], [c + r for c in self.center])

    def region(self, u, v, w):
        """Weight in [0, 1] of the region the blood spreads in."""
        c = self.center
        dist = np.sqrt((u - _F(c[0])) ** 2 + (v - _F(c[1])) ** 2 + (w - _F(c[2])) ** 2)
        return np.clip((_F(self.radius) - dist) * _F(0.25), 0, 1)

    def volume_ml(self):
        return float(4 / 3 * np.pi * self.radius ** 3 * 0.03 / 1000)

    def scaled(self, f):
        return dataclasses.replace(self, radius=self.radius * f)


@dataclasses.dataclass(frozen=True)
class Intraparenchymal:
    """Irregular hematoma in brain tissue with a hypodense edema rim."""

    location: str  # "basal_ganglia", "thalamus", "lobar", "cerebellar", "pontine"
    side: float
    center: tuple
    radii: tuple  # semi-axes (mm)
    hu: float
    edema: float  # rim thickness (mm)
    lobes: tuple  # (K, 4) irregularity: direction (3) and amplitude
    subtype = "intraparenchymal"

    @property
    def radius(self):
        return float(np.prod(self.radii) ** (1 / 3))

    def box(self):
        r = max(self.radii) * 1.3 + self.edema + 2
        return ([c - r for c in self.center], [c + r for c in self.center])

    def depth(self, u, v, w):
        """Depth (mm) inside the hematoma (negative outside)."""
        c, s = self.center, self.radii
        x = (u - _F(c[0])) * _F(1 / s[0])
        y = (v - _F(c[1])) * _F(1 / s[1])
        z = (w - _F(c[2])) * _F(1 / s[2])
        q = np.sqrt(x * x + y * y + z * z) + _F(1e-6)
        scale = _F(1.0)
        for k in self.lobes:  # odd powers of the direction: lobulated, asymmetric
            scale = scale + _F(k[3]) * ((x * _F(k[0]) + y * _F(k[1]) + z * _F(k[2])) / q) ** 3
        return (scale - q) * _F(self.radius)

    def volume_ml(self):
        return float(4 / 3 * np.pi * np.prod(self.radii) / 1000)

    def scaled(self, f):
        return dataclasses.replace(self, radii=tuple(r * f for r in self.radii))


@dataclasses.dataclass(frozen=True)
class Intraventricular:
    """Blood in the ventricles: a dependent layer and/or a clot (cast)."""

    center: tuple  # where the blood is (head frame, mm): the clot, else the atria
    sides: tuple  # lateral ventricles holding the layer: (1.0,), (-1.0,) or both
    level: float  # layer height above the most dependent ventricle point (mm), 0: none
    dependent_y: float  # scanner y of that point (mm, +y is dependent when supine)
    clot_center: tuple  # head-frame centre of a clot, () for none
    clot_radius: float
    hu: float
    subtype = "intraventricular"

    def box(self):
        return ([-80.0, -120.0, -80.0], [80.0, 140.0, 60.0])

    def depth(self, u, v, w, y, vent_depth):
        """Depth (mm) inside the blood, given the ventricle depth field."""
        d = None
        if self.level > 0:
            layer = y + _F(self.level - self.dependent_y)
            if len(self.sides) == 1:
                layer = np.minimum(layer, _F(self.sides[0]) * u)
            d = layer
        if self.clot_center:
            c = self.clot_center
            clot = _F(self.clot_radius) - np.sqrt(
                (u - _F(c[0])) ** 2 + (v - _F(c[1])) ** 2 + (w - _F(c[2])) ** 2)
            d = clot if d is None else np.maximum(d, clot)
        return np.minimum(d, vent_depth)

    def volume_ml(self):
        return float(self.level * 0.8 + (self.clot_radius ** 3 * 0.002 if self.clot_center else 0))

    def scaled(self, f):
        return dataclasses.replace(self, level=self.level * f if self.level else 0.0,
                                   clot_radius=self.clot_radius * f)


LESION_TYPES = {
    "epidural": Epidural,
    "subdural": Subdural,
    "subarachnoid": Subarachnoid,
    "intraparenchymal": Intraparenchymal,
    "intraventricular": Intraventricular,
}


def _blood_hu(rng):
    return float(rng.uniform(58.0, 82.0))


def _epidural(rng, head, t):
    side = float(rng.choice([-1.0, 1.0]))
    comp = rng.choice(["temporoparietal", "frontal", "occipital"], p=[0.65, 0.2, 0.15])
    if comp == "frontal":
        az, el = rng.uniform(-1.35, -0.85), rng.uniform(0.05, 0.5)
    elif comp == "occipital":
        az, el = rng.uniform(1.0, 1.4), rng.uniform(0.0, 0.35)
    else:
        az, el = rng.uniform(-0.35, 0.45), rng.uniform(-0.15, 0.75)
    center = surface_point(head, side, az, el)
    rng_mm = SIZE_RANGES_MM["epidural"]
    radius = _lerp(rng_mm["radius"], t) * rng.uniform(0.9, 1.1)
    thickness = max(_lerp(rng_mm["thickness"], t) * rng.uniform(0.85, 1.1), 2.5)
    return Epidural(side=side, compartment=str(comp), center=tuple(float(x) for x in center),
                    radius=float(radius), thickness=float(thickness), hu=_blood_hu(rng),
                    swirl=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.25 else 0.0)


def _subdural(rng, head, t):
    side = float(rng.choice([-1.0, 1.0]))
    az, el = rng.uniform(-0.9, 0.6), rng.uniform(0.05, 0.55)
    center = surface_point(head, side, az, el)
    rng_mm = SIZE_RANGES_MM["subdural"]
    thickness = _lerp(rng_mm["thickness"], t) * rng.uniform(0.85, 1.1)
    arc = _lerp(rng_mm["arc"], rng.uniform(0.3, 1.0) * 0.5 + 0.5 * t)
    falx = ()
    if rng.random() < 0.25 + 0.3 * t:
        v0 = float(center[1]) + rng.uniform(-20, 20)
        half = rng.uniform(0.25, 0.5) * head.b
        falx = (v0 - half, v0 + half, float(rng.uniform(1.5, 2.5 + 3.0 * t)))
    return Subdural(side=side, center=tuple(float(x) for x in center), arc_ap=float(arc),
                    arc_si=float(arc * rng.uniform(0.6, 0.8)), thickness=float(max(thickness, 2.0)),
                    hu=_blood_hu(rng), falx=falx)


def _subarachnoid(rng, head, t):
    pattern = rng.choice(["basal", "convexity", "diffuse"], p=[0.4, 0.4, 0.2])
    radius = _lerp(SIZE_RANGES_MM["subarachnoid"]["radius"], t)
    side = 0.0
    if pattern == "basal":
        center = (rng.uniform(-6, 6), -0.1 * head.b + rng.uniform(-6, 6), -14.0 + rng.uniform(-4, 6))
        radius += 8.0
    elif pattern == "convexity":
        side = float(rng.choice([-1.0, 1.0]))
        p = surface_point(head, side, rng.uniform(-1.2, 1.2), rng.uniform(0.1, 0.8))
        center = tuple(p * (1 - 6.0 / np.linalg.norm(p)))
    else:
        center = (0.0, 0.0, rng.uniform(-5, 20))
        radius = radius + 40.0
    return Subarachnoid(pattern=str(pattern), side=side, center=tuple(float(x) for x in center),
                        radius=float(radius), hu=_blood_hu(rng))


def _intraparenchymal(rng, head, t):
    loc = rng.choice(["basal_ganglia", "thalamus", "lobar", "cerebellar", "pontine"],
                     p=[0.33, 0.14, 0.35, 0.12, 0.06])
    side = float(rng.choice([-1.0, 1.0]))
    b = head.b
    radius = _lerp(SIZE_RANGES_MM["intraparenchymal"]["radius"], t)
    if loc == "basal_ganglia":
        center = (side * rng.uniform(19, 25), -0.05 * b + rng.uniform(-5, 5), rng.uniform(-2, 8))
        radius = min(radius, 20.0)
    elif loc == "thalamus":
        center = (side * (8.0 + 2.0 * head.vent_scale), 0.1 * b + rng.uniform(-3, 3), rng.uniform(0, 8))
        radius = min(radius, 12.0)
    elif loc == "cerebellar":
        center = (side * rng.uniform(16, 28), 0.62 * b + rng.uniform(-5, 5), rng.uniform(-48, -38))
        radius = min(radius, 16.0)
    elif loc == "pontine":
        center, side = (0.0, 0.19 * b, rng.uniform(-40, -32)), 0.0
        radius = min(radius, 8.0)
    else:
        p = surface_point(head, side, rng.uniform(-1.3, 1.3), rng.uniform(0.1, 0.7))
        depth = radius + rng.uniform(10, 18)
        center = tuple(p * (1 - depth / np.linalg.norm(p)))
    radius = max(radius, SIZE_RANGES_MM["intraparenchymal"]["radius"][0])
    aspect = rng.uniform(0.75, 1.3, size=3)
    aspect /= np.prod(aspect) ** (1 / 3)
    lobes = []
    for _ in range(4):
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        lobes.append((*d, rng.uniform(0.1, 0.3)))
    return Intraparenchymal(
        location=str(loc), side=side, center=tuple(float(x) for x in center),
        radii=tuple(float(radius * x) for x in aspect), hu=_blood_hu(rng) + 4.0,
        edema=float(1.5 + 0.22 * radius + rng.uniform(0, 2)), lobes=tuple(lobes))


def _intraventricular(rng, head, t):
    rng_mm = SIZE_RANGES_MM["intraventricular"]
    kind = rng.choice(["layer", "clot", "both"], p=[0.55, 0.2, 0.25])
    sides = (1.0, -1.0) if rng.random() < 0.6 else (float(rng.choice([-1.0, 1.0])),)
    level, dep_y, clot_c, clot_r = 0.0, 0.0, (), 0.0
    if kind in ("layer", "both"):
        level = _lerp(rng_mm["level"], t) * rng.uniform(0.9, 1.1)
        dep_y = max(_dependent_y(head, s) for s in sides)
    if kind in ("clot", "both"):
        s = sides[0]
        nodes = anatomy.lateral_ventricle_nodes(head, s)
        where = rng.choice(["body", "atrium", "monro"])
        clot_c = tuple(float(x) for x in nodes[where][:3])
        clot_r = _lerp(rng_mm["clot"], t)
    atrium = anatomy.lateral_ventricle_nodes(head, sides[0])["atrium"]
    center = clot_c or (0.0, float(atrium[1]), float(atrium[2]))
    return Intraventricular(center=tuple(center), sides=tuple(sides), level=float(level),
                            dependent_y=float(dep_y),
                            clot_center=clot_c, clot_radius=float(clot_r), hu=_blood_hu(rng))


def _dependent_y(head, side):
    """Scanner y (mm) of the most dependent point of a lateral ventricle."""
    nodes = anatomy.lateral_ventricle_nodes(head, side)
    best = -np.inf
    for name in ("atrium", "occipital_tip", "body"):
        p = np.array(nodes[name][:3])
        y = (head.rotation @ p + head.center)[1] + nodes[name][3]
        best = max(best, float(y))
    return best


_SAMPLERS = {
    "epidural": _epidural,
    "subdural": _subdural,
    "subarachnoid": _subarachnoid,
    "intraparenchymal": _intraparenchymal,
    "intraventricular": _intraventricular,
}


def sample_lesion(rng, head, subtype, size=(0.0, 1.0)):
    """Draw one lesion of a subtype for a head.

    Args:
        rng: ``numpy.random.Generator``.
        head: :class:`.anatomy.Head`.
        subtype: one of ``cranioscan.labels.SUBTYPES``.
        size: ``(lo, hi)`` relative size range in [0, 1] (see :data:`SIZE_RANGES_MM`).

    Returns:
        a lesion dataclass.
    """
    if subtype not in _SAMPLERS:
        raise ValueError(f"unknown hemorrhage subtype {subtype!r}; expected one of {tuple(_SAMPLERS)}")
    lo, hi = (float(x) for x in size)
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"size range must satisfy 0 <= lo <= hi <= 1, got {size}")
    return _SAMPLERS[subtype](rng, head, rng.uniform(lo, hi))
