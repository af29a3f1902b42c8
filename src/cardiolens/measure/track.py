"""Point tracking through an echo sequence with ITK's diffeomorphic demons.

Motion estimation: ITK ``DiffeomorphicDemonsRegistrationFilter`` (Vercauteren et al.,
NeuroImage 2009; the demons of Thirion, Med Image Anal 1998, an optical-flow-style force with
Gaussian regularisation of the displacement field) inside ``MultiResolutionPDEDeformableRegistration``
(image pyramids, coarse to fine).

Tracking is *frame to frame against the ED reference*: every frame k is registered to the first
frame of the window (ED, the fixed image), starting from the field found for frame k - 1 (the
moving image is frame k). Only the first registration (from a zero field) runs through the
pyramid; the warm-started ones run at full resolution, their motion being one frame's.
Updates use the first-order exponential (field o (Id + update)), which the filter offers and
which equals the full exponential for the sub-pixel updates of a warm-started frame. The field is defined on the ED grid and sends each ED point x to its
position x + u_k(x) in frame k, so a point's trajectory is read off the fields directly (no
accumulation of frame-to-frame errors, i.e. no drift), while the warm start keeps each
registration a small-motion problem. A pair of frames (ED/ES only, CAMUS) is one registration
from zero; the pyramid takes the large motion.

Before registration the frames are resampled to the tracking grid when finer than ``pixel_mm``
(anti-aliased, :func:`cardiolens.prepare.resample.resample_array`) and Gaussian-smoothed by
``smoothing_mm`` (ITK recursive Gaussian, physical units) against speckle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TrackingParams:
    """Settings of :func:`track_points` (config ``studies.<name>.motion``)."""

    pixel_mm: float = 0.8          # tracking grid: images with finer pixels are resampled to this
    smoothing_mm: float = 1.0      # Gaussian sigma applied to every frame before registration
    levels: int = 3                # pyramid levels of the first registration (from a zero field)
    iterations: int = 20           # demons iterations per level and frame
    field_sigma_px: float = 1.5    # Gaussian regularisation of the field, tracking-grid pixels (ITK StandardDeviations)
    predict: bool = True           # start frame k from 2 u(k-1) - u(k-2) (constant velocity) instead of u(k-1)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "TrackingParams":
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__ if k in cfg})


def tracking_grid(frames: NDArray, spacing: tuple[float, float], pixel_mm: float
                  ) -> tuple[NDArray[np.float32], tuple[float, float], tuple[float, float]]:
    """Frames (T, H, W) on the tracking grid: (frames, (dx, dy), origin (x, y)) in mm.

    Pixel (i, j) of the result lies at origin + (j dx, i dy) in the canonical image's physical
    frame, so points in mm keep their meaning.
    """
    from cardiolens.prepare.resample import resample_array

    frames = np.asarray(frames, dtype=np.float32)
    dx, dy = spacing
    t, h, w = frames.shape
    shape = (t, max(2, int(round(h * dy / max(dy, pixel_mm)))), max(2, int(round(w * dx / max(dx, pixel_mm)))))
    if shape[1:] == (h, w):
        return frames, (dx, dy), (0.0, 0.0)
    out, new = resample_array(frames, (1.0, dy, dx), shape)
    return out.astype(np.float32), (new[2], new[1]), (0.5 * (new[2] - dx), 0.5 * (new[1] - dy))


def _image(frame: NDArray[np.float32], spacing: tuple[float, float], origin: tuple[float, float], smoothing_mm: float):
    import itk

    img = itk.image_from_array(np.ascontiguousarray(frame, dtype=np.float32))
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(o) for o in origin])
    if smoothing_mm > 0:
        img = itk.smoothing_recursive_gaussian_image_filter(img, sigma=float(smoothing_mm))
    return img


def _vector_image(field: NDArray[np.float32], spacing: tuple[float, float], origin: tuple[float, float]):
    import itk

    img = itk.image_from_array(np.ascontiguousarray(field, dtype=np.float32), ttype=itk.Image[itk.Vector[itk.F, 2], 2])
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(o) for o in origin])
    return img


def sample_field(field: NDArray[np.float32], spacing: tuple[float, float], origin: tuple[float, float],
                 points: FloatArray) -> FloatArray:
    """Displacements (P, 2) mm of the field (H, W, 2; x and y components, mm) at points (P, 2) mm, bilinear."""
    col = (points[:, 0] - origin[0]) / spacing[0]
    row = (points[:, 1] - origin[1]) / spacing[1]
    return np.stack([ndimage.map_coordinates(field[..., c], [row, col], order=1, mode="nearest") for c in (0, 1)], axis=1)


def track_points(frames: NDArray, spacing: tuple[float, float], points: FloatArray, params: TrackingParams = TrackingParams(),
                 progress: Callable[[int, int], None] | None = None) -> FloatArray:
    """Positions (T, P, 2) mm of ED points (P, 2) mm through frames (T, H, W) (frame 0 = ED).

    Args:
        spacing: (dx, dy) mm of columns and rows of ``frames``.
        progress: called with (frame, frames) after each registration.
    """
    import itk

    if frames.ndim != 3 or frames.shape[0] < 2:
        raise ValueError(f"need a (T >= 2, H, W) sequence, got shape {frames.shape}")
    grid, sp, origin = tracking_grid(frames, spacing, params.pixel_mm)
    F = itk.Image[itk.F, 2]
    V = itk.Image[itk.Vector[itk.F, 2], 2]
    fixed = _image(grid[0], sp, origin, params.smoothing_mm)
    points = np.asarray(points, dtype=np.float64)
    out = np.empty((grid.shape[0], len(points), 2))
    out[0] = points
    field = previous = start = None
    for k in range(1, grid.shape[0]):
        demons = itk.DiffeomorphicDemonsRegistrationFilter[F, F, V].New()
        demons.SetStandardDeviations(float(params.field_sigma_px))
        demons.SetUseFirstOrderExp(True)
        moving = _image(grid[k], sp, origin, params.smoothing_mm)
        if field is None:
            reg = itk.MultiResolutionPDEDeformableRegistration[F, F, V, itk.F].New()
            reg.SetRegistrationFilter(demons)
            reg.SetNumberOfLevels(int(params.levels))
            reg.SetNumberOfIterations([int(params.iterations)] * int(params.levels))
        else:
            reg = demons
            reg.SetNumberOfIterations(int(params.iterations))
            reg.SetInitialDisplacementField(_vector_image(start, sp, origin))
        reg.SetFixedImage(fixed)
        reg.SetMovingImage(moving)
        reg.Update()
        field = itk.array_from_image(reg.GetOutput())
        start = 2 * field - previous if (params.predict and previous is not None) else field
        previous = field
        out[k] = points + sample_field(field, sp, origin, points)
        if progress is not None:
            progress(k, grid.shape[0] - 1)
    return out
