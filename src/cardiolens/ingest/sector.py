"""The ultrasound sector of a recording, found from its pixels.

Used twice: ingest keeps only the sector of an ultrasound recording that declares no (usable)
ultrasound regions (:mod:`cardiolens.ingest.blanking`), and the regional quality statistics
match grey levels inside it (:mod:`cardiolens.stats.quality`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def nonzero_box(frames: NDArray) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1), end exclusive: the bounding box of the pixels of (..., H, W) ``frames``
    that are non-zero in at least one frame (after ingest, the imaging area: everything outside
    the sector is 0); None when every pixel is zero."""
    arr = np.asarray(frames)
    top = arr.reshape(-1, *arr.shape[-2:]).max(axis=0) > 0
    rows, cols = np.flatnonzero(top.any(axis=1)), np.flatnonzero(top.any(axis=0))
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def sector_from_frames(frames: NDArray, background: float = 0) -> NDArray[np.bool_]:
    """Ultrasound sector (H, W) of a recording (T, H, W) or frame (H, W): the convex hull of the
    largest 8-connected component of the pixels above ``background`` (0: the non-zero pixels) of
    the temporal maximum image.

    Why this: inside the sector a pixel is zero only where the echo is below the displayed
    dynamic range (blood in the lumen), and rarely in every frame, so the maximum over time fills
    the sector up to isolated holes and the convex hull (a sector is convex) closes them and any
    dark far-field edge. Burnt-in annotations outside the sector (the synthetic data's marker,
    text) are separate components and stay out. An image without zero pixels is all sector.
    Lossy compression (JPEG echo exports) leaves grey levels 1-2 in black areas, which join text
    and sector into one component; a ``background`` of 2 treats them as black.
    """
    from scipy import ndimage
    from scipy.spatial import ConvexHull, QhullError

    img = np.asarray(frames)
    if img.ndim not in (2, 3):
        raise ValueError(f"sector_from_frames: expected (H, W) or (T, H, W), got shape {img.shape}")
    top = img.max(axis=0) if img.ndim == 3 else img
    nonzero = top > background
    if not nonzero.any():
        raise ValueError(f"sector_from_frames: every pixel of the {top.shape} image is at most {background}; no sector to find")
    lab, n = ndimage.label(nonzero, structure=np.ones((3, 3), bool))
    comp = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1) if n > 1 else nonzero
    edge = comp & ~ndimage.binary_erosion(comp)
    pts = np.argwhere(edge).astype(np.float64)
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):  # fewer than three non-collinear pixels: the component is its own hull
        return comp
    rows, cols = np.indices(top.shape, dtype=np.float64)
    inside = np.ones(top.shape, bool)
    for a, b, c in hull.equations:  # a row + b col + c <= 0 inside every facet
        inside &= a * rows + b * cols + c <= 1e-9
    return inside | comp
