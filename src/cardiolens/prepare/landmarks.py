"""Septal landmarks of an apical four-chamber view derived from a label mask.

Used when a recording has masks but no annotated septal contour (CAMUS, EchoNet with tracings
of the LV only cannot give one). Heuristic, documented so it can be judged:

1. LV long axis: from the apex - the LV-cavity pixel nearest the transducer (smallest y) - to
   the base midpoint - the mean of the LV-cavity pixels touching the left atrium when the mask
   has one, else of the LV pixels in the 5 % of the cavity farthest from the apex.
2. Septal side: the side of the long axis on the image's left (smaller x), as in the standard
   A4C display (ASE: LV on the right of the screen); ``side="right"`` for mirrored displays.
3. Contour: at N levels from 2 % to 90 % of the axis (base to apex), the endocardial border
   point on the septal side: the last LV-cavity sample when walking from the axis outwards
   along the axis normal (0.1-pixel steps, nearest-neighbour lookup).
Returned points are physical (mm) coordinates of the canonical image (pixel (i, j) at
(j * dx, i * dy)), base first, like the synthetic generator's 62-point contour.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cardiolens import labels as L


class LandmarkError(ValueError):
    """The mask does not allow the septal landmarks to be placed (says why)."""


def long_axis(mask: NDArray[np.uint8], spacing: tuple[float, float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(apex, base) physical points of the LV long axis from a 2-D label mask (H, W)."""
    rows, cols = np.nonzero(mask == L.LV_CAVITY)
    if len(rows) < 20:
        raise LandmarkError(f"LV cavity has {len(rows)} pixels; need at least 20")
    pts = np.column_stack([cols * spacing[0], rows * spacing[1]])
    apex = pts[np.argmin(pts[:, 1])]
    la = mask == L.LEFT_ATRIUM
    touching = np.zeros_like(la)
    if la.any():
        grown = la.copy()
        grown[1:] |= la[:-1]
        grown[:-1] |= la[1:]
        grown[:, 1:] |= la[:, :-1]
        grown[:, :-1] |= la[:, 1:]
        touching = grown & (mask == L.LV_CAVITY)
    if touching.sum() >= 3:
        r, c = np.nonzero(touching)
        base = np.array([c.mean() * spacing[0], r.mean() * spacing[1]])
    else:
        dist = np.linalg.norm(pts - apex, axis=1)
        far = pts[dist >= np.quantile(dist, 0.95)]
        base = far.mean(axis=0)
    if np.linalg.norm(base - apex) < 10 * max(spacing):
        raise LandmarkError("LV long axis shorter than 10 pixels")
    return apex, base


def septal_contour_from_mask(mask: NDArray[np.uint8], spacing: tuple[float, float], n_points: int = 62,
                             side: str = "left") -> NDArray[np.float64]:
    """(n_points, 2) septal endocardial contour (mm), base first; see the module docstring."""
    apex, base = long_axis(mask, spacing)
    axis = (apex - base) / np.linalg.norm(apex - base)
    normal = np.array([-axis[1], axis[0]])
    if (normal[0] > 0) == (side == "left"):
        normal = -normal  # point towards the septal side
    length = np.linalg.norm(apex - base)
    h, w = mask.shape
    step = 0.1 * min(spacing)
    walk = np.arange(0, 80.0, step)
    out = []
    for f in np.linspace(0.02, 0.9, n_points):
        centre = base + f * length * axis
        p = centre[None] + walk[:, None] * normal[None]
        c = np.round(p[:, 0] / spacing[0]).astype(int)
        r = np.round(p[:, 1] / spacing[1]).astype(int)
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        inside = np.zeros(len(walk), bool)
        inside[ok] = mask[r[ok], c[ok]] == L.LV_CAVITY
        if not inside[0]:
            raise LandmarkError(f"the long axis leaves the LV cavity at {f:.0%} of its length")
        k = int(np.argmin(inside)) - 1 if not inside.all() else len(walk) - 1
        out.append(centre + walk[k] * normal)
    return np.array(out)
