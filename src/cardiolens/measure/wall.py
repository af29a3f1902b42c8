"""Material points of the LV walls of an apical four-chamber view, placed on the ED label mask.

1. Long axis: :func:`cardiolens.prepare.landmarks.long_axis` (apex = the LV-cavity pixel nearest
   the transducer; base = midpoint of the LV cavity along the left atrium, i.e. the mitral annulus
   plane). ``u`` is the unit vector from base to apex.
2. At a fraction ``f`` of the axis (0 base, 1 apex), the mid-wall point on each side: walking from
   the axis point along the axis normal (0.1-pixel steps, nearest-neighbour lookup), the centre of
   the first run of myocardium (``MYOCARDIUM`` or ``SEPTUM``) samples. The septal wall is on the
   image's left (standard A4C display), ``side="right"`` for mirrored displays.
3. Segments (ASE 17-segment names of the A4C walls; Lang et al., JASE 2015) are the long-axis
   thirds of each wall. Each has
   - an *anchor*, the point whose longitudinal displacement is reported: basal segments at the
     mitral annulus (f = 0.02, the AV-plane displacement), mid segments at f = 0.5 and apical
     segments at f = 0.85 - where the synthetic generator's ground-truth curves are taken. When
     a wall has no myocardium at f = 0.02 (the axis normal passes below the annulus on that
     side, as when the base midpoint sits off the annulus line), its basal level moves apically
     in 0.5 % steps to the first level with myocardium, at most f = 0.15;
   - a mid-wall polyline of :data:`SEGMENT_POINTS` points whose length change is the segment
     strain: f over [0.02, 1/3], [1/3, 2/3] and [2/3, 0.95] (the apical cap beyond 0.95 has no
     wall on either side of the axis).
Coordinates are physical (mm) of the canonical image: pixel (i, j) at (j * dx, i * dy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens.prepare.landmarks import LandmarkError, long_axis

FloatArray = NDArray[np.float64]

#: The six A4C segments, septal base to apex then lateral apex to base (the generator's order).
SEGMENTS = (
    "basal_inferoseptal", "mid_inferoseptal", "apical_septal",
    "apical_lateral", "mid_anterolateral", "basal_anterolateral",
)
#: (wall, level) of each segment.
SEGMENT_PARTS = {name: ("septal" if i < 3 else "lateral", ("basal", "mid", "apical")[i if i < 3 else 5 - i])
                 for i, name in enumerate(SEGMENTS)}
ANCHOR_F = {"basal": 0.02, "mid": 0.5, "apical": 0.85}
SPAN_F = {"basal": (0.02, 1 / 3), "mid": (1 / 3, 2 / 3), "apical": (2 / 3, 0.95)}
SEGMENT_POINTS = 7
MYO = (L.MYOCARDIUM, L.SEPTUM)


@dataclass(frozen=True)
class WallGeometry:
    """ED geometry: axis points (2,), unit axis ``u`` (2,), anchors (2,) and polylines (K, 2), mm."""

    apex: FloatArray
    base: FloatArray
    u: FloatArray
    anchors: dict[str, FloatArray]
    polylines: dict[str, FloatArray]

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.apex - self.base))

    def points(self) -> tuple[FloatArray, dict[str, slice]]:
        """All tracked points stacked (P, 2), and each segment's rows: anchor first, then polyline."""
        rows, index, k = [], {}, 0
        for name in SEGMENTS:
            block = np.vstack([self.anchors[name][None], self.polylines[name]])
            rows.append(block)
            index[name] = slice(k, k + len(block))
            k += len(block)
        return np.vstack(rows), index


def midwall_point(mask: NDArray[np.uint8], spacing: tuple[float, float], centre: FloatArray, normal: FloatArray,
                  max_mm: float = 60.0) -> FloatArray:
    """Centre of the first myocardium run along ``centre + s * normal`` (s >= 0), mm.

    Args:
        mask: (H, W) canonical labels. spacing: (dx, dy) mm of columns and rows.
    """
    h, w = mask.shape
    step = 0.1 * min(spacing)
    s = np.arange(0.0, max_mm, step)
    p = centre[None] + s[:, None] * normal[None]
    c = np.round(p[:, 0] / spacing[0]).astype(int)
    r = np.round(p[:, 1] / spacing[1]).astype(int)
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    myo = np.zeros(len(s), bool)
    myo[ok] = np.isin(mask[r[ok], c[ok]], MYO)
    if not myo.any():
        raise LandmarkError(f"no myocardium within {max_mm:.0f} mm of the long axis")
    first = int(np.argmax(myo))
    after = myo[first:]
    last = first + (int(np.argmin(after)) - 1 if not after.all() else len(after) - 1)
    return centre + 0.5 * (s[first] + s[last]) * normal


def annulus_level(at, start: float, stop: float = 0.15, step: float = 0.005) -> float:
    """The first axis fraction from ``start`` (towards the apex) where ``at`` finds myocardium."""
    f = start
    while True:
        try:
            at(f)
            return f
        except LandmarkError:
            if f + step > stop + 1e-9:
                raise
            f += step


def wall_geometry(mask: NDArray[np.uint8], spacing: tuple[float, float], side: str = "left") -> WallGeometry:
    """Anchors and strain polylines of the six segments from one ED mask (H, W); see the module docstring.

    Raises :class:`LandmarkError` (saying which wall and level) when the mask does not allow it.
    """
    if side not in ("left", "right"):
        raise ValueError(f"septum side must be 'left' or 'right', got {side!r}")
    apex, base = long_axis(mask, spacing)
    u = (apex - base) / np.linalg.norm(apex - base)
    normal = np.array([-u[1], u[0]])
    if (normal[0] > 0) == (side == "left"):
        normal = -normal  # towards the septum
    length = float(np.linalg.norm(apex - base))
    anchors, polylines = {}, {}
    for name, (wall, level) in SEGMENT_PARTS.items():
        direction = normal if wall == "septal" else -normal

        def at(f: float) -> FloatArray:
            try:
                return midwall_point(mask, spacing, base + f * length * u, direction)
            except LandmarkError as exc:
                raise LandmarkError(f"{wall} wall at {f:.1%} of the long axis: {exc}") from None

        lo, hi = SPAN_F[level]
        if level == "basal":
            lo = annulus_level(lambda f: at(f), lo)
        anchors[name] = at(lo if level == "basal" else ANCHOR_F[level])
        polylines[name] = np.array([at(f) for f in np.linspace(lo, hi, SEGMENT_POINTS)])
    return WallGeometry(apex, base, u, anchors, polylines)
