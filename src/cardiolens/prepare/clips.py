"""2D+t clips for the Takotsubo study: one cardiac cycle resampled to T x H x W, with regions.

The cycle runs from the first R peak to the next (else from ED to the end of the recording);
the (x, y, t) volume is resampled by ITK to T frames over that window and H x W pixels over the
whole field of view (anti-aliased, linear; masks nearest neighbour). The region map labels the
LV (cavity and myocardium) by long-axis thirds from the AV plane to the apex: 1 base, 2 mid,
3 apex (axis from :func:`cardiolens.prepare.landmarks.long_axis` on each frame's mask).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens.prepare.landmarks import LandmarkError, long_axis
from cardiolens.prepare.resample import resample_array

BASE, MID, APEX = 1, 2, 3


def cycle_window(r_peaks: list[int], ed: int | None, n_frames: int) -> tuple[int, int, str]:
    """[first, last) frames of one cycle and how it was found."""
    if len(r_peaks) >= 2:
        return r_peaks[0], r_peaks[1], "r_peak_to_r_peak"
    start = ed if ed is not None else 0
    return start, n_frames, "ed_to_end"


def region_map(mask: NDArray[np.uint8], spacing: tuple[float, float]) -> NDArray[np.uint8]:
    """(H, W) base/mid/apex thirds of the LV (0 elsewhere) from one frame's mask."""
    out = np.zeros(mask.shape, np.uint8)
    try:
        apex, base = long_axis(mask, (spacing[1], spacing[0]))
    except LandmarkError:
        return out
    axis = apex - base
    length2 = float(axis @ axis)
    rows, cols = np.nonzero(np.isin(mask, (L.LV_CAVITY, L.MYOCARDIUM, L.SEPTUM)))
    pts = np.column_stack([cols * spacing[1], rows * spacing[0]])
    f = np.clip((pts - base) @ axis / length2, 0, 0.999)
    out[rows, cols] = (1 + np.floor(f * 3)).astype(np.uint8)
    return out


def clip(volume: NDArray, masks: NDArray | None, spacing: tuple[float, float, float], window: tuple[int, int],
         shape: tuple[int, int, int]) -> tuple[NDArray[np.float32], NDArray[np.uint8] | None, NDArray[np.uint8] | None, tuple]:
    """(T, H, W) clip of frames [first, last), its masks and region maps, and the new spacing."""
    first, last = window
    part = volume[first:last]
    out, new_spacing = resample_array(part, spacing, shape)
    lo, hi = np.percentile(out, (1, 99))
    out = np.clip((out - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)
    if masks is None:
        return out, None, None, new_spacing
    m, _ = resample_array(masks[first:last], spacing, shape, label=True)
    regions = np.stack([region_map(m[t], new_spacing[1:]) for t in range(m.shape[0])])
    return out, m, regions, new_spacing
