"""Regional motion of one echo recording: the six A4C segments tracked over one cardiac cycle.

Window: from the first R peak to the next, both included (so a periodic heart returns to zero
and the last value measures drift); without two R peaks, from ED to the end of the recording;
a recording of only its ED and ES frames (CAMUS without sequences) gives a two-point
displacement, ED to ES.

ED/ES pairs are one registration over a whole systole, where speckle decorrelates: on the
CAMUS pairs intensity alone missed the mask-derived annulus displacement by up to 11 mm. So a
pair is registered with ``pair_levels`` and ``pair_iterations``, and, when both frames have a
label mask, on mask-guided images: (1 - w) x intensity / 255 + w x the label map as grey
levels (LV cavity 0.15, myocardium 1, left atrium 0.4, Gaussian-smoothed by 2 mm),
w = ``mask_weight``. Sequences are tracked on intensity only; their masks after ED are not read. Points come from the label mask of the window's first frame
(:mod:`cardiolens.measure.wall`), are tracked with :func:`cardiolens.measure.track.track_points`,
smoothed in time (:func:`cardiolens.measure.curves.smooth_positions`) and measured
(:mod:`cardiolens.measure.curves`).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cardiolens import labels as L
from cardiolens.measure import curves as C
from cardiolens.measure.track import TrackingParams, track_points
from cardiolens.measure.wall import SEGMENT_PARTS, SEGMENTS, wall_geometry


class MotionSkip(ValueError):
    """The recording cannot be measured (says why)."""


def motion_window(n_frames: int, r_peaks: list[int], ed: int | None, es: int | None) -> tuple[list[int], str]:
    """Frames to track (the first is the reference, ED) and the window's name."""
    if len(r_peaks) >= 2 and r_peaks[1] > r_peaks[0]:
        return list(range(r_peaks[0], min(r_peaks[1], n_frames - 1) + 1)), "r_peak_to_r_peak"
    if n_frames == 2 and ed is not None and es is not None and ed != es:
        return [ed, es], "ed_es"
    start = ed if ed is not None else (r_peaks[0] if r_peaks else 0)
    if n_frames - start < 2:
        raise MotionSkip(f"only {n_frames - start} frame(s) from ED (frame {start}) to the end")
    return list(range(start, n_frames)), "ed_to_end"


def method_name(params: TrackingParams, window_frames: int) -> str:
    p = asdict(params)
    return ("itk DiffeomorphicDemons, ED-referenced, warm-started; " + ", ".join(f"{k} {v}" for k, v in p.items())
            + f"; savgol {window_frames} frames")


GUIDE_GREY = {L.LV_CAVITY: 0.15, L.MYOCARDIUM: 1.0, L.SEPTUM: 1.0, L.LEFT_ATRIUM: 0.4}


def guided_frames(frames: NDArray, masks: NDArray[np.uint8], spacing: tuple[float, float], weight: float) -> NDArray[np.float32]:
    """(T, H, W) mask-guided registration images of frames and their masks (see the module docstring), 0..255."""
    from scipy import ndimage

    lut = np.zeros(256, np.float32)
    for code, grey in GUIDE_GREY.items():
        lut[code] = grey
    sigma = (2.0 / spacing[1], 2.0 / spacing[0])
    guide = np.stack([ndimage.gaussian_filter(lut[m], sigma) for m in masks])
    return (255.0 * ((1.0 - weight) * np.asarray(frames, np.float32) / 255.0 + weight * guide)).astype(np.float32)


def recording_motion(frames: NDArray, mask_ed: NDArray[np.uint8], spacing: tuple[float, float], frame_time_ms: float | None,
                     params: TrackingParams, temporal_window_ms: float, septum_side: str = "left",
                     mask_es: NDArray[np.uint8] | None = None, pair: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per segment (columns of the ``motion`` table without the recording's identity).

    Args:
        frames: (T, H, W) the window's frames, ED first. mask_ed: (H, W) canonical labels of ED.
        spacing: (dx, dy) mm.
        mask_es: labels of the second frame of an ED/ES pair (mask-guided registration).
        pair: ``pair_levels``, ``pair_iterations``, ``mask_weight`` for ED/ES pairs.
    """
    from cardiolens.prepare.landmarks import LandmarkError

    if not np.isin(mask_ed, (L.MYOCARDIUM, L.SEPTUM)).any():
        raise MotionSkip("the ED frame has no myocardium label")
    try:
        geometry = wall_geometry(mask_ed, spacing, septum_side)
    except LandmarkError as exc:
        raise MotionSkip(f"wall points: {exc}") from None
    points, index = geometry.points()
    if len(frames) == 2 and pair:
        params = replace(params, levels=int(pair["pair_levels"]), iterations=int(pair["pair_iterations"]))
        if mask_es is not None and (mask_es != L.UNLABELLED).any() and pair["mask_weight"] > 0:
            frames = guided_frames(frames, np.stack([mask_ed, mask_es]), spacing, float(pair["mask_weight"]))
    tracked = track_points(frames, spacing, points, params)
    win = C.window_frames(temporal_window_ms, frame_time_ms) if len(frames) > 2 else 0
    tracked = C.smooth_positions(tracked, win)
    d_mm = C.longitudinal(tracked, geometry.u)
    d_px = C.longitudinal_px(tracked, geometry.u, spacing)
    method = method_name(params, win)
    grid_mm = max(max(s, params.pixel_mm) for s in spacing)  # coarsest axis of the tracking grid
    rows = []
    for name in SEGMENTS:
        rows_of = index[name]
        anchor = rows_of.start
        mm, px = d_mm[:, anchor], d_px[:, anchor]
        pk, pk_px = C.peaks(mm), C.peaks(px)
        strain = C.polyline_strain(tracked[:, rows_of.start + 1:rows_of.stop])
        sp = C.strain_peak(strain)
        wall, level = SEGMENT_PARTS[name]
        rows.append({
            "segment": name, "wall": wall, "level": level,
            "anchor_x_mm": float(points[anchor, 0]), "anchor_y_mm": float(points[anchor, 1]),
            "displacement_mm": mm.round(4).tolist(), "displacement_px": px.round(4).tolist(), "strain": strain.round(5).tolist(),
            "peak_systolic_mm": pk["peak"], "peak_systolic_px": pk_px["peak"], "peak_systolic_frame": pk["frame"],
            "peak_systolic_ms": pk["frame"] * frame_time_ms if (pk["frame"] is not None and frame_time_ms) else None,
            "peak_diastolic_mm": pk["diastolic"], "peak_diastolic_px": pk_px["diastolic"], "end_displacement_mm": pk["end"],
            "peak_strain": sp["peak"], "peak_strain_frame": sp["frame"], "tracking_spacing_mm": float(grid_mm), "method": method,
        })
    return pd.DataFrame(rows)


def measure_row(row: dict[str, Any], cfg: dict[str, Any]) -> pd.DataFrame:
    """:func:`recording_motion` of one recordings-table row (reads its image and mask)."""
    import itk

    if not row.get("mask_path"):
        raise MotionSkip("no label mask: the wall points are placed on the ED mask")
    r_peaks = [int(x) for x in (row.get("r_peak_frames") if row.get("r_peak_frames") is not None else [])]
    ed = None if pd.isna(row.get("ed_frame")) else int(row["ed_frame"])
    es = None if pd.isna(row.get("es_frame")) else int(row["es_frame"])
    frames, window = motion_window(int(row["n_frames"]), r_peaks, ed, es)
    image = itk.array_from_image(itk.imread(row["image_path"]))
    mask = itk.array_from_image(itk.imread(row["mask_path"]))
    if image.ndim != 3 or int(row.get("n_slices") or 1) != 1:
        raise MotionSkip(f"need a 2D+t recording, the image has shape {image.shape}")
    sx, sy = row.get("spacing_x_mm"), row.get("spacing_y_mm")
    if pd.isna(sx) or pd.isna(sy):
        raise MotionSkip("the recording has no physical pixel spacing: displacement in mm is undefined")
    ft = None if pd.isna(row.get("frame_time_ms")) else float(row["frame_time_ms"])
    out = recording_motion(image[frames].astype(np.float32), mask[frames[0]].astype(np.uint8), (float(sx), float(sy)), ft,
                           TrackingParams.from_config(cfg), float(cfg["temporal_window_ms"]), cfg["septum_side"],
                           mask_es=mask[frames[1]].astype(np.uint8) if window == "ed_es" else None, pair=cfg)
    out.insert(0, "window", window)
    out.insert(1, "frames", [frames] * len(out))
    out.insert(2, "frame_time_ms", ft)
    return out
