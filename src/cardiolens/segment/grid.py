"""The segmentation model's input grid: every 2-D frame resampled to one shape, and back.

Two ways, chosen per model (``segment.models.<name>.spacing_mm``):

- ``spacing_mm`` null (echo): the recording's imaging area, the bounding box of the pixels that
  are non-zero in any frame (ingest has zeroed everything outside the ultrasound sector:
  :mod:`cardiolens.ingest.blanking`), is resized to ``size`` (aspect not kept). Apical sectors of
  every source then fill the grid the same way, whatever their pixel spacing, depth or the black
  margins an export puts around them (pydicom's echo: the box is 80 % of the rows and 87 % of the
  columns; the sector ingest found includes a text column right of the fan).
- ``spacing_mm`` set (cine-MR): the frame is resampled to that isotropic pixel spacing, then
  centre-cropped or zero-padded to ``size``: a short-axis heart keeps its physical size across
  scanners, and the field of view is ``size x spacing_mm`` around the image centre.

Images are interpolated linearly and label maps by nearest neighbour; class probabilities go
back to the source grid linearly before the arg-max (so predicted borders are not blocky).
Intensities are scaled per frame to [0, 1] between the 1st and 99th percentile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from cardiolens.ingest.sector import nonzero_box as imaging_area  # the recording's imaging area (echo)


@dataclass(frozen=True)
class Placement:
    """Where a source frame (rows, cols) lies on the model grid: its window ``area`` (r0, r1, c0,
    c1; end exclusive) resampled to ``scaled``, then the window ``src`` (r0, r1, c0, c1) of the
    scaled area copied to ``dst`` (r0, r1, c0, c1)."""

    shape: tuple[int, int]
    scaled: tuple[int, int]
    src: tuple[int, int, int, int]
    dst: tuple[int, int, int, int]
    area: tuple[int, int, int, int] | None = None

    @property
    def window(self) -> tuple[int, int, int, int]:
        """``area``, or the whole frame."""
        return self.area if self.area is not None else (0, self.shape[0], 0, self.shape[1])


def _centre(n_from: int, n_to: int) -> tuple[int, int, int, int]:
    """(from0, from1, to0, to1): centre crop (n_from > n_to) or centre pad of one axis."""
    if n_from >= n_to:
        a = (n_from - n_to) // 2
        return a, a + n_to, 0, n_to
    b = (n_to - n_from) // 2
    return 0, n_from, b, b + n_from


def placement(shape: tuple[int, int], spacing_yx: tuple[float, float] | None, size: tuple[int, int],
              spacing_mm: float | None, area: tuple[int, int, int, int] | None = None) -> Placement:
    """Placement of a (rows, cols) frame with row/column spacing ``spacing_yx`` (mm, or None when
    the source has none) on a ``size`` grid; see the module docstring. ``area`` (from
    :func:`imaging_area`) is the part of the frame resized when the frame is resized to the grid
    (``spacing_mm`` None, or a source without spacing); resampling to a spacing keeps the frame."""
    if spacing_mm is None or spacing_yx is None or None in spacing_yx:
        scaled = tuple(size)
        area = None if area is None or tuple(area) == (0, shape[0], 0, shape[1]) else tuple(int(a) for a in area)
    else:
        scaled = tuple(max(1, int(round(n * s / spacing_mm))) for n, s in zip(shape, spacing_yx))
        area = None
    r = _centre(scaled[0], size[0])
    c = _centre(scaled[1], size[1])
    return Placement(tuple(shape), scaled, (r[0], r[1], c[0], c[1]), (r[2], r[3], c[2], c[3]), area)


def normalise(frames: NDArray) -> NDArray[np.float32]:
    """(N, H, W) frames scaled each to [0, 1] between its 1st and 99th percentile."""
    x = frames.astype(np.float32)
    # Percentiles from every other pixel when frames are large: the same levels at a quarter of the cost.
    step = 2 if x.shape[1] * x.shape[2] > 256 * 256 else 1
    lo, hi = np.percentile(x[:, ::step, ::step], (1, 99), axis=(1, 2), keepdims=True)
    return np.clip((x - lo) / np.maximum(hi - lo, 1e-6), 0, 1).astype(np.float32)


def to_grid(frames: NDArray, p: Placement, size: tuple[int, int], label: bool = False) -> NDArray:
    """(N, H, W) frames -> (N, *size) on the model grid (label maps by nearest neighbour)."""
    r0, r1, c0, c1 = p.window
    t = torch.from_numpy(np.ascontiguousarray(frames[:, r0:r1, c0:c1], dtype=np.float32))[:, None]
    t = F.interpolate(t, size=p.scaled, mode="nearest" if label else "bilinear",
                      **({} if label else {"align_corners": False}))[:, 0]
    out = torch.zeros((len(frames), *size), dtype=t.dtype)
    out[:, p.dst[0]:p.dst[1], p.dst[2]:p.dst[3]] = t[:, p.src[0]:p.src[1], p.src[2]:p.src[3]]
    arr = out.numpy()
    return arr.astype(frames.dtype) if label else arr


def from_grid(probs: torch.Tensor, p: Placement) -> torch.Tensor:
    """(N, C, *size) class probabilities on the model grid -> (N, C, H, W) on the source frame.

    Parts of the source frame cropped away, or outside its imaging area, are background
    (probability 1 for class 0)."""
    n, c = probs.shape[:2]
    scaled = torch.zeros((n, c, *p.scaled), dtype=probs.dtype)
    scaled[:, 0] = 1.0
    scaled[:, :, p.src[0]:p.src[1], p.src[2]:p.src[3]] = probs[:, :, p.dst[0]:p.dst[1], p.dst[2]:p.dst[3]]
    if p.area is None:
        return F.interpolate(scaled, size=p.shape, mode="bilinear", align_corners=False)
    r0, r1, c0, c1 = p.area
    out = torch.zeros((n, c, *p.shape), dtype=probs.dtype)
    out[:, 0] = 1.0
    out[:, :, r0:r1, c0:c1] = F.interpolate(scaled, size=(r1 - r0, c1 - c0), mode="bilinear", align_corners=False)
    return out
