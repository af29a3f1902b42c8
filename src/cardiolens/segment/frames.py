"""2-D frames of canonical recordings, the unit a segmentation model sees.

A recording is (T, H, W) for 2D+t or (T, S, H, W) for a stack; a frame is one (time, slice)
image. For training, only fully annotated frames count (no UNLABELLED pixel): ACDC and CAMUS
annotate ED and ES, the synthetic cohort every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cardiolens.segment import grid as G
from cardiolens.segment import labels as SL


@dataclass(frozen=True)
class Volume:
    """A recording read for segmentation: image and mask (T, S, H, W) (S = 1 for 2D+t), the
    frame's (row, column) spacing in mm (None when the source has none) and the row's metadata."""

    image: NDArray
    mask: NDArray | None
    spacing_yx: tuple[float, float] | None
    row: dict[str, Any]


def read_volume(row: dict[str, Any], with_mask: bool = True) -> Volume:
    """Read one recordings-table row's canonical image (and mask) as (T, S, H, W)."""
    import itk

    image = itk.imread(row["image_path"])
    arr = itk.array_from_image(image)
    mask = None
    if with_mask and row.get("mask_path"):
        mask = itk.array_from_image(itk.imread(row["mask_path"]))
    if arr.ndim == 3:
        arr = arr[:, None]
        mask = mask[:, None] if mask is not None else None
    sy, sx = row.get("spacing_y_mm"), row.get("spacing_x_mm")
    spacing = None if sy is None or sx is None or pd.isna(sy) or pd.isna(sx) else (float(sy), float(sx))
    return Volume(arr, mask, spacing, row)


def pick_frames(annotated: NDArray[np.bool_], n: int, keep: tuple[int | None, ...] = ()) -> list[int]:
    """Up to ``n`` of the annotated time points (indices into ``annotated``, (T,)), evenly spaced,
    always including the ``keep`` ones (ED, ES) when annotated; sorted."""
    idx = np.flatnonzero(annotated)
    chosen = {int(k) for k in keep if k is not None and 0 <= k < len(annotated) and annotated[k]}
    if len(idx) <= n:
        return sorted(int(i) for i in idx)
    rest = n - len(chosen)
    if rest > 0:
        chosen |= {int(idx[int(round(j))]) for j in np.linspace(0, len(idx) - 1, rest)}
    return sorted(chosen)


def phase_of(t: int, row: dict[str, Any]) -> str:
    """'ED', 'ES' or 'other' for time point ``t`` of a recording."""
    for name in ("ed_frame", "es_frame"):
        v = row.get(name)
        if v is not None and not pd.isna(v) and int(v) == t:
            return name[:2].upper()
    return "other"


def training_frames(volumes: list[Volume], codes: list[int], size: tuple[int, int], spacing_mm: float | None,
                    per_recording: int) -> tuple[NDArray[np.float32], NDArray[np.uint8], pd.DataFrame]:
    """Fully annotated frames of ``volumes`` on the model grid.

    Returns images (N, *size) float32 in [0, 1], labels (N, *size) uint8 channel indices and a
    table (recording_id, patient_key, source, frame, slice, phase) of the N frames. ``per_recording`` time
    points per recording (all their slices)."""
    images, labels, meta = [], [], []
    for v in volumes:
        t_annotated = np.array([SL.annotated_frames(v.mask[t]).all() for t in range(len(v.mask))])
        times = pick_frames(t_annotated, per_recording, (v.row.get("ed_frame"), v.row.get("es_frame")))
        if not times:
            continue
        p = G.placement(v.image.shape[-2:], v.spacing_yx, size, spacing_mm, G.imaging_area(v.image))
        img = v.image[times].reshape(-1, *v.image.shape[-2:])
        msk = v.mask[times].reshape(-1, *v.mask.shape[-2:])
        images.append(G.to_grid(G.normalise(img), p, size))
        labels.append(G.to_grid(SL.to_channels(msk, codes), p, size, label=True))
        n_s = v.image.shape[1]
        meta += [{"recording_id": v.row["recording_id"], "patient_key": v.row["patient_key"],
                  "source": v.row.get("source"), "frame": t, "slice": s, "phase": phase_of(t, v.row)}
                 for t in times for s in range(n_s)]
    if not images:
        return np.zeros((0, *size), np.float32), np.zeros((0, *size), np.uint8), pd.DataFrame(meta)
    return np.concatenate(images), np.concatenate(labels), pd.DataFrame(meta)
