"""Anatomical (virtual) M-mode: intensities along a fixed line through a 2D+t sequence, over time.

An anatomical M-mode samples a B-mode sequence along an arbitrary line instead of the beam
direction (Carerj et al., Echocardiography 2003); the septal-flash study samples it through the
mid-basal septum, perpendicular to the septum, from the RV to the LV, over one cardiac cycle.
Here the line and time window define an oblique output grid and ITK's ResampleImageFilter
(identity transform, linear interpolation; nearest neighbour for label maps) samples the
(x, y, t) image on it in one call. Python ITK wraps same-dimension resampling only, so the
output grid is 3-D: n_line x 1 x n_time with direction columns (line, line normal, time).

Output arrays are (n_line, n_time): rows run along the line from its RV end, columns along
time; spacing (mm per row, ms per column).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Line:
    """A segment in the image plane (mm, ITK physical x/y), sampled from ``start`` along ``direction``."""

    start: tuple[float, float]
    direction: tuple[float, float]   # unit vector, RV -> LV
    length_mm: float

    def point(self, s: FloatArray) -> FloatArray:
        """(N, 2) physical points at distances ``s`` (mm) from the start."""
        s = np.asarray(s, dtype=np.float64)[:, None]
        return np.asarray(self.start)[None] + s * np.asarray(self.direction)[None]


def septal_line(contour_xy: FloatArray, lv_point: tuple[float, float], length_mm: float,
                tangent_points: tuple[int, int] = (10, 20), offset: int = 0) -> Line:
    """The M-mode line perpendicular to the septum, centred on the septal contour.

    Args:
        contour_xy: (N, 2) septal contour points (mm, x/y), base first (the 62-point ED contour).
        lv_point: a point inside the LV cavity; the line is oriented towards it (RV -> LV).
        length_mm: physical length of the line, centred on the contour.
        tangent_points: contour points whose chord gives the septal direction (10 and 20).
        offset: contour points to slide the centre by (augmentation), the normal is kept.

    The centre is the contour point midway between the two tangent points, plus ``offset``.
    """
    p = np.asarray(contour_xy, dtype=np.float64)
    i0, i1 = tangent_points
    if not (0 <= i0 < i1 < len(p)):
        raise ValueError(f"tangent points {tangent_points} outside a contour of {len(p)} points")
    centre_idx = (i0 + i1) // 2 + offset
    if not 0 <= centre_idx < len(p):
        raise ValueError(f"offset {offset} moves the centre to point {centre_idx}, outside the contour")
    tangent = p[i1] - p[i0]
    tangent /= np.linalg.norm(tangent)
    normal = np.array([-tangent[1], tangent[0]])
    centre = p[centre_idx]
    if np.dot(np.asarray(lv_point) - centre, normal) < 0:
        normal = -normal
    start = centre - normal * length_mm / 2
    return Line((float(start[0]), float(start[1])), (float(normal[0]), float(normal[1])), float(length_mm))


def _grid(line: Line, t0_ms: float, t1_ms: float, n_line: int, n_time: int):
    ds = line.length_mm / n_line
    dt = (t1_ms - t0_ms) / n_time
    d = np.asarray(line.direction)
    origin = (line.start[0] + 0.5 * ds * d[0], line.start[1] + 0.5 * ds * d[1], t0_ms)
    direction = np.array([[d[0], -d[1], 0.0], [d[1], d[0], 0.0], [0.0, 0.0, 1.0]])
    return ds, dt, origin, direction


def as_float(image):
    """The image as float32 (a no-op when it already is): cast once per recording, not per line."""
    import itk

    if itk.template(image)[1][0] == itk.F:
        return image
    return itk.cast_image_filter(image, ttype=(type(image), itk.Image[itk.F, image.GetImageDimension()]))


def mmode(image, line: Line, t0_ms: float, t1_ms: float, n_line: int, n_time: int, label: bool = False
          ) -> tuple[NDArray, tuple[float, float]]:
    """Sample the ITK (x, y, t) ``image`` along ``line`` from t0 to t1 (ms, t1 excluded).

    Row k is at distance (k + 0.5) * length / n_line from the line start; column j at time
    t0 + j * (t1 - t0) / n_time. ``label=True`` uses nearest-neighbour interpolation (masks).
    Returns the (n_line, n_time) array and its spacing (mm, ms). Points outside the image are 0.
    """
    import itk

    if t1_ms <= t0_ms:
        raise ValueError(f"empty time window [{t0_ms}, {t1_ms}) ms")
    if image.GetImageDimension() != 3:
        raise ValueError(f"an M-mode needs an (x, y, t) image, got {image.GetImageDimension()}-D")
    src = image if label else as_float(image)
    ds, dt, origin, direction = _grid(line, t0_ms, t1_ms, n_line, n_time)
    image_type = type(src)
    interpolator = (itk.NearestNeighborInterpolateImageFunction if label else itk.LinearInterpolateImageFunction)[image_type, itk.D].New()
    resampler = itk.ResampleImageFilter[image_type, image_type].New(
        Input=src, Interpolator=interpolator, Size=[n_line, 1, n_time], OutputSpacing=[ds, 1.0, dt],
        OutputOrigin=list(origin), OutputDirection=itk.matrix_from_array(direction), DefaultPixelValue=0,
    )
    resampler.Update()
    out = itk.array_from_image(resampler.GetOutput())  # (n_time, 1, n_line)
    return np.ascontiguousarray(out[:, 0, :].T), (ds, dt)


def mmode_reference(volume: NDArray, spacing: tuple[float, float, float], line: Line, t0_ms: float, t1_ms: float,
                    n_line: int, n_time: int) -> NDArray[np.float64]:
    """The same M-mode with scipy.ndimage.map_coordinates (order 1) on a NumPy (T, H, W) volume.

    Reference implementation for tests and benchmarks (identity direction, origin 0).
    """
    from scipy import ndimage

    ds, dt, origin, _ = _grid(line, t0_ms, t1_ms, n_line, n_time)
    s = origin[0] - line.start[0], origin[1] - line.start[1]
    dist = np.arange(n_line) * ds + np.hypot(*s)
    pts = line.point(dist)                                   # (n_line, 2) x, y in mm
    times = t0_ms + np.arange(n_time) * dt
    tt, kk = np.meshgrid(times / spacing[2], np.arange(n_line), indexing="xy")
    coords = np.stack([tt, np.broadcast_to(pts[:, 1:2] / spacing[1], tt.shape), np.broadcast_to(pts[:, 0:1] / spacing[0], tt.shape)])
    return ndimage.map_coordinates(volume.astype(np.float64), coords, order=1, mode="constant", cval=0.0)


def resize(array: NDArray, spacing: tuple[float, float], shape: tuple[int, int], label: bool = False
           ) -> tuple[NDArray, tuple[float, float]]:
    """Resample a 2-D M-mode (rows along the line, columns in time) to ``shape`` over the same
    physical extent (anti-aliased when shrinking, see :mod:`cardiolens.prepare.resample`)."""
    from cardiolens.prepare.resample import resample_array

    out, new = resample_array(array, spacing, shape, label)
    return out, (new[0], new[1])
