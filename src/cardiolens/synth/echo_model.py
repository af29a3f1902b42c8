"""Kinematic model of an apical four-chamber view: anatomy, motion and label maps.

Geometry lives in a left-ventricular frame: ``a`` is the distance (mm) from the mitral annulus
plane towards the apex along the long axis ``u``; ``b`` is the signed lateral distance (mm)
along ``v``, negative towards the septum and right heart, positive towards the lateral wall.
The model is *material*: every image point at time t is mapped back to the position it had at
end-diastole (the reference configuration) by an analytic, piecewise-linear inverse map, and
tissue labels, echogenicity and speckle are looked up there. Masks and speckle therefore move
with the tissue, and the true displacement of any material point is known exactly.

Motion components (all scaled by :func:`cycle.contraction`):
- longitudinal: the base moves towards a stationary apex by ``D`` (mm), distributed over the
  basal, mid and apical thirds by per-segment shortening weights (akinetic apex: weight ~0);
- radial: endocardial borders move inwards by a regional fraction of their half-width; the
  epicardium follows by ``kappa`` of that, so the wall thickens;
- septal flash: a rigid shift of the septum towards the LV cavity during isovolumic
  contraction, tapered from the mid-basal septum to the apex.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens.synth.cycle import CycleTiming, contraction, flash_profile

FloatArray = NDArray[np.float64]

#: Myocardial segments of the A4C view (ASE 17-segment names), in contour order.
SEGMENTS = (
    "basal_inferoseptal", "mid_inferoseptal", "apical_septal",
    "apical_lateral", "mid_anterolateral", "basal_anterolateral",
)
N_CONTOUR = 62


@dataclass(frozen=True)
class Anatomy:
    """End-diastolic anatomy in mm (image frame: x lateral, y depth, transducer at y = 0)."""

    base_x: float          # centre of the mitral annulus
    base_y: float
    tilt_rad: float        # long-axis tilt from vertical (positive: apex to the right)
    length: float          # annulus to endocardial apex, L
    w_sep: float           # endocardial half-width at the base, septal side
    w_lat: float           # endocardial half-width at the base, lateral side
    h_sep: float           # septal wall thickness
    h_lat: float           # lateral wall thickness
    h_apex: float          # apical cap thickness
    rv_width: float        # RV cavity width at the base
    la_length: float       # atrial length below the annulus

    @property
    def u(self) -> FloatArray:  # base -> apex (points up the image, towards the transducer)
        return np.array([np.sin(self.tilt_rad), -np.cos(self.tilt_rad)])

    @property
    def v(self) -> FloatArray:  # septum -> lateral wall (points right)
        return np.array([np.cos(self.tilt_rad), np.sin(self.tilt_rad)])

    def to_lv(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        dx, dy = x - self.base_x, y - self.base_y
        u, v = self.u, self.v
        return dx * u[0] + dy * u[1], dx * v[0] + dy * v[1]

    def to_image(self, a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
        u, v = self.u, self.v
        return self.base_x + a * u[0] + b * v[0], self.base_y + a * u[1] + b * v[1]

    # End-diastolic half-widths as functions of a (mm): ellipsoidal LV, ellipsoidal RV.
    def endo(self, a: FloatArray, side: str) -> FloatArray:
        w = self.w_sep if side == "sep" else self.w_lat
        s = np.clip(a / self.length, 0.0, 1.0)
        return np.where((a >= 0) & (a <= self.length), w * np.sqrt(1.0 - s**2), 0.0)

    def epi(self, a: FloatArray, side: str) -> FloatArray:
        w = (self.w_sep + self.h_sep) if side == "sep" else (self.w_lat + self.h_lat)
        top = self.length + self.h_apex
        s = np.clip(a / top, 0.0, 1.0)
        return np.where((a >= 0) & (a <= top), w * np.sqrt(1.0 - s**2), 0.0)

    def rv(self, a: FloatArray) -> FloatArray:
        top = 0.8 * self.length
        s = np.clip(a / top, 0.0, 1.0)
        return np.where((a >= 0) & (a <= top), self.rv_width * np.sqrt(1.0 - s**2), 0.0)


@dataclass(frozen=True)
class Motion:
    """Regional motion of one recording."""

    timing: CycleTiming
    d_sep: float                     # peak longitudinal displacement of the septal annulus (mm)
    d_lat: float                     # ... of the lateral annulus
    strain_weights: tuple[float, float, float]  # share of shortening in basal, mid, apical thirds
    radial_sep: tuple[float, float, float]      # endocardial inward fraction, basal/mid/apical
    radial_lat: tuple[float, float, float]
    flash_mm: float = 0.0            # peak septal flash shift (0: none)
    kappa: float = 0.4               # epicardial share of endocardial motion
    extra: dict[str, float] = field(default_factory=dict)


def _interp_thirds(s: FloatArray, values: tuple[float, float, float]) -> FloatArray:
    return np.interp(s, [1 / 6, 1 / 2, 5 / 6], values)


def _piecewise_inverse(x: FloatArray, ref: list[FloatArray], cur: list[FloatArray]) -> FloatArray:
    """Invert a monotone piecewise-linear map given per-point knots.

    ``cur[k]`` are the images of ``ref[k]`` (k = 0..K-1, each broadcastable to ``x``); outside
    the knot range the map is the identity shifted to stay continuous.
    """
    out = x + (ref[0] - cur[0])
    for k in range(len(ref) - 1):
        lo, hi = cur[k], cur[k + 1]
        span = np.maximum(hi - lo, 1e-9)
        inside = (x >= lo) & (x < hi)
        val = ref[k] + (x - lo) * (ref[k + 1] - ref[k]) / span
        out = np.where(inside, val, out)
    out = np.where(x >= cur[-1], x + (ref[-1] - cur[-1]), out)
    return out


def _longitudinal_knots(anat: Anatomy, motion: Motion, d: FloatArray) -> tuple[list[FloatArray], list[FloatArray]]:
    """Reference and current long-axis knots (atrial roof, annulus, thirds, apex)."""
    Lg = anat.length
    w = np.asarray(motion.strain_weights, dtype=np.float64)
    w = w / w.sum()
    profile = [1.0, 1.0 - w[0], 1.0 - w[0] - w[1], 0.0]  # fraction of d at annulus, 1/3, 2/3, apex
    ref = [np.full_like(d, -anat.la_length)] + [np.full_like(d, f * Lg) for f in (0.0, 1 / 3, 2 / 3, 1.0)]
    cur = [ref[0]] + [r + d * p for r, p in zip(ref[1:], profile)]
    return ref, cur


def _side_weight(b: FloatArray) -> FloatArray:
    """1 on the septal side, 0 on the lateral side, smooth over ~3 mm around the axis."""
    return 1.0 / (1.0 + np.exp(np.clip(b / 3.0, -50, 50)))


def _taper(b: FloatArray, anat: Anatomy) -> FloatArray:
    """Longitudinal motion fades to 0 beyond the heart's lateral extent (extracardiac tissue)."""
    left = anat.w_sep + anat.h_sep + anat.rv_width + 16.0
    right = anat.w_lat + anat.h_lat + 14.0
    edge = np.where(b < 0, left, right)
    return np.clip(1.0 - (np.abs(b) - edge) / 10.0, 0.0, 1.0)


def _radial_knots(anat: Anatomy, motion: Motion, a_ref: FloatArray, c: FloatArray, flash: FloatArray, side: str):
    s = np.clip(a_ref / anat.length, 0.0, 1.0)
    e = np.maximum(anat.endo(a_ref, side), 0.0)
    p = np.maximum(anat.epi(a_ref, side), e + 1e-3)
    if side == "sep":
        r = _interp_thirds(s, motion.radial_sep) * c
        rvw = anat.rv(a_ref)
        rv_in = p + np.maximum(rvw, 1e-3)
        rv_out = rv_in + 3.5
        outer = rv_out + 12.0
        inward = e * r + flash
        rv_shift = 0.25 * rvw * c
        ref = [np.zeros_like(e), e, p, rv_in, rv_out, outer]
        cur = [np.zeros_like(e), np.maximum(e - inward, 0.0), p - motion.kappa * e * r - flash,
               rv_in - rv_shift, rv_out - rv_shift, outer]
    else:
        r = _interp_thirds(s, motion.radial_lat) * c
        outer = p + 12.0
        ref = [np.zeros_like(e), e, p, outer]
        cur = [np.zeros_like(e), e * (1.0 - r), p - motion.kappa * e * r, outer]
    # Keep knots strictly increasing where widths vanish (apex cap, above the RV).
    for k in range(1, len(cur)):
        cur[k] = np.maximum(cur[k], cur[k - 1] + 1e-6)
        ref[k] = np.maximum(ref[k], ref[k - 1] + 1e-6)
    return ref, cur


def flash_taper(s: FloatArray) -> FloatArray:
    """Spatial weight of the septal flash along the septum: 1 up to 55 % of L, 0 from 80 %."""
    x = np.clip((s - 0.55) / 0.25, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def reference_coords(anat: Anatomy, motion: Motion, phi: float, a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Map current LV-frame coordinates at phase ``phi`` back to their end-diastolic position."""
    c = float(contraction(np.array([phi]), motion.timing)[0])
    fl = float(flash_profile(np.array([phi]), motion.timing)[0]) * motion.flash_mm
    ws = _side_weight(b)
    d = c * (motion.d_sep * ws + motion.d_lat * (1.0 - ws)) * _taper(b, anat)
    ref, cur = _longitudinal_knots(anat, motion, d)
    a_ref = _piecewise_inverse(a, ref, cur)
    s = np.clip(a_ref / anat.length, 0.0, 1.0)
    flash = fl * flash_taper(s) * (a_ref >= 0)
    b_ref = np.empty_like(b)
    for side, mask in (("sep", b < 0), ("lat", b >= 0)):
        ar, bb, ff = a_ref[mask], np.abs(b[mask]), flash[mask]
        rref, rcur = _radial_knots(anat, motion, ar, c, ff if side == "sep" else np.zeros_like(ff), side)
        br = _piecewise_inverse(bb, rref, rcur)
        b_ref[mask] = -br if side == "sep" else br
    return a_ref, b_ref


def forward_point(anat: Anatomy, motion: Motion, phi: FloatArray, a_ref: float, b_ref: float) -> tuple[FloatArray, FloatArray]:
    """Current LV-frame position of the material point (a_ref, b_ref) at phases ``phi`` (T,)."""
    phi = np.atleast_1d(np.asarray(phi, dtype=np.float64))
    c = contraction(phi, motion.timing)
    fl = flash_profile(phi, motion.timing) * motion.flash_mm
    side = "sep" if b_ref < 0 else "lat"
    ar = np.full_like(phi, a_ref)
    s = np.clip(a_ref / anat.length, 0.0, 1.0)
    flash = fl * float(flash_taper(np.array(s))) * (a_ref >= 0) if side == "sep" else np.zeros_like(phi)
    rref, rcur = _radial_knots(anat, motion, ar, c, flash, side)
    bb = np.full_like(phi, abs(b_ref))
    # forward radial map: interpolate current knots at the reference position
    b_now = _piecewise_inverse(bb, rcur, rref)
    b_now = -b_now if side == "sep" else b_now
    ws = _side_weight(b_now)
    d = c * (motion.d_sep * ws + motion.d_lat * (1.0 - ws)) * _taper(b_now, anat)
    lref, lcur = _longitudinal_knots(anat, motion, d)
    a_now = _piecewise_inverse(np.full_like(phi, a_ref), lcur, lref)
    return a_now, b_now


def label_map(anat: Anatomy, a: FloatArray, b: FloatArray) -> NDArray[np.uint8]:
    """Canonical labels (cardiolens.labels) of reference positions (a, b)."""
    out = np.zeros(a.shape, dtype=np.uint8)
    side = np.where(b < 0, "sep", "lat")
    endo = np.where(b < 0, anat.endo(a, "sep"), anat.endo(a, "lat"))
    epi = np.where(b < 0, anat.epi(a, "sep"), anat.epi(a, "lat"))
    del side
    in_epi = (a >= 0) & (np.abs(b) < epi)
    in_endo = (a >= 0) & (a <= anat.length) & (np.abs(b) < endo)
    myo = in_epi & ~in_endo
    out[myo] = L.MYOCARDIUM
    out[myo & (b < 0) & (a <= 0.85 * anat.length)] = L.SEPTUM
    out[in_endo] = L.LV_CAVITY
    p_sep = anat.epi(a, "sep")
    rv = (a >= 0) & (b < -p_sep) & (b > -(p_sep + anat.rv(a))) & (anat.rv(a) > 0)
    out[rv] = L.RV_CAVITY
    la, ra = atria(anat, a, b)
    out[la] = L.LEFT_ATRIUM
    out[ra] = L.RIGHT_ATRIUM
    return out


def atria(anat: Anatomy, a: FloatArray, b: FloatArray) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Left and right atrial cavities (ellipses below the annulus; 2 mm walls excluded)."""
    half = anat.la_length / 2.0
    la = ((a + half + 1.0) / (half - 1.0)) ** 2 + ((b - 0.35 * anat.w_lat) / (0.95 * anat.w_lat)) ** 2 < 1.0
    rc = -(anat.w_sep + anat.h_sep + 0.45 * anat.rv_width)
    rw = 0.5 * anat.rv_width + 0.4 * anat.w_sep
    ra = ((a + 0.85 * half + 1.0) / (0.85 * half - 1.0)) ** 2 + ((b - rc) / rw) ** 2 < 1.0
    return la & (a < -1.0), ra & (a < -1.0) & ~la


def segment_index(anat: Anatomy, a: FloatArray, b: FloatArray) -> NDArray[np.int8]:
    """Index into :data:`SEGMENTS` of reference positions (-1 outside the LV myocardium region)."""
    third = np.clip((a / anat.length * 3).astype(int), 0, 2)
    sep_idx = third                      # 0 basal, 1 mid, 2 apical septal
    lat_idx = 5 - third                  # 5 basal, 4 mid, 3 apical lateral
    idx = np.where(b < 0, sep_idx, lat_idx).astype(np.int8)
    return np.where(a >= 0, idx, -1).astype(np.int8)


def septal_contour(anat: Anatomy, n: int = N_CONTOUR) -> tuple[FloatArray, FloatArray]:
    """The 62-point septal endocardial contour at ED, base (point 0) to near the apex, in LV coords."""
    a = np.linspace(0.02, 0.9, n) * anat.length
    return a, -anat.endo(a, "sep")
