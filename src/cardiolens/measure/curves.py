"""Displacement and strain curves of tracked points, and their peaks (pure functions).

Conventions (documented in docs/motion.md):
- Longitudinal displacement: the displacement of a point since the first frame of the window
  (ED), projected on the ED long axis ``u`` (base to apex): positive towards the apex, the
  direction the AV plane moves in systole. In pixels: the displacement vector in pixels of the
  recording, (dx / sx, dy / sy), projected on the long axis drawn in pixel space.
- Peak systolic displacement: the curve's maximum. Its time is the first crossing of 95 % of
  that maximum (linear interpolation between frames): the curve holds its maximum from ES
  through isovolumic relaxation, where the argmax is arbitrary.
- Peak diastolic displacement: the largest return towards the base after the systolic maximum,
  max over t >= t_max of (d_max - d(t)).
- Segment strain (Lagrangian, Mirsky & Parmley 1973; D'hooge et al., Eur J Echocardiogr 2000):
  L(t) / L(ED) - 1 of the tracked mid-wall polyline; the peak is its minimum (shortening).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
PEAK_FRACTION = 0.95


def smooth_positions(positions: FloatArray, window: int) -> FloatArray:
    """Trajectories (T, P, 2) smoothed in time by a quadratic Savitzky-Golay filter of ``window``
    frames (scipy.signal.savgol_filter, ``interp`` ends), then shifted so the ED position is the
    tracked one. ``window`` < 3, or longer than the sequence, leaves them unchanged."""
    from scipy.signal import savgol_filter

    t = positions.shape[0]
    window = min(window, t if t % 2 else t - 1)
    if window < 3:
        return positions.copy()
    s = savgol_filter(positions, window, 2, axis=0, mode="interp")
    return s - s[0] + positions[0]


def window_frames(window_ms: float, frame_time_ms: float | None) -> int:
    """Odd number of frames spanning ``window_ms`` (0 without timing or for windows under 3 frames)."""
    if not frame_time_ms or window_ms <= 0:
        return 0
    n = int(round(window_ms / frame_time_ms))
    n += 1 - n % 2
    return n if n >= 3 else 0


def longitudinal(positions: FloatArray, u: FloatArray) -> FloatArray:
    """(T, P) displacement in mm of trajectories (T, P, 2) along the unit axis ``u`` (2,)."""
    return (positions - positions[:1]) @ u


def longitudinal_px(positions: FloatArray, u: FloatArray, spacing: tuple[float, float]) -> FloatArray:
    """(T, P) displacement in pixels (spacing (dx, dy) mm) along ``u`` drawn in pixel space."""
    sp = np.asarray(spacing, dtype=np.float64)
    u_px = u / sp
    u_px = u_px / np.linalg.norm(u_px)
    return ((positions - positions[:1]) / sp) @ u_px


def crossing(curve: FloatArray, level: float) -> float | None:
    """First (fractional) index at which ``curve`` (T,) reaches ``level`` (linear interpolation)."""
    above = np.nonzero(curve >= level)[0]
    if not len(above):
        return None
    k = int(above[0])
    if k == 0:
        return 0.0
    return float(k - 1 + (level - curve[k - 1]) / (curve[k] - curve[k - 1]))


def peaks(curve: FloatArray) -> dict[str, float | None]:
    """Peak systolic displacement, its time (fractional frame), peak diastolic displacement and
    the displacement at the last frame, of one curve (T,) starting at 0; see the module docstring.
    Two-point curves (ED/ES pairs) give the ES displacement, whatever its sign, and no time and
    no diastole."""
    curve = np.asarray(curve, dtype=np.float64)
    if len(curve) < 3:  # ED -> ES: the displacement at ES, whatever its sign
        return {"peak": float(curve[-1]), "frame": None, "diastolic": None, "end": None}
    k = int(np.argmax(curve))
    peak = float(curve[k])
    return {"peak": peak, "frame": crossing(curve, PEAK_FRACTION * peak) if peak > 0 else None,
            "diastolic": float(peak - curve[k:].min()), "end": float(curve[-1])}


def polyline_strain(positions: FloatArray) -> FloatArray:
    """(T,) Lagrangian strain of a polyline tracked through time, positions (T, K, 2)."""
    length = np.linalg.norm(np.diff(positions, axis=1), axis=-1).sum(axis=1)
    return length / length[0] - 1.0


def strain_peak(strain: FloatArray) -> dict[str, float | None]:
    """Peak (most negative) strain and the fractional frame at which it first reaches 95 % of it."""
    strain = np.asarray(strain, dtype=np.float64)
    if len(strain) < 3:  # ED -> ES
        return {"peak": float(strain[-1]), "frame": None}
    peak = float(strain.min())
    frame = crossing(-strain, -PEAK_FRACTION * peak) if peak < 0 else None
    return {"peak": peak, "frame": frame}
