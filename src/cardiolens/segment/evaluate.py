"""Held-out evaluation: Dice and 95th-percentile Hausdorff distance per structure, on the source grid.

Dice (Dice 1945) and HD95 (Huttenlocher et al. 1993; the 95th percentile as in the ACDC and CAMUS
challenges, Bernard et al. IEEE TMI 2018, Leclerc et al. IEEE TMI 2019) are MONAI's
``compute_dice`` and ``compute_hausdorff_distance`` with the frame's pixel spacing, so HD95 is in
mm (pixels when the source has no spacing). A structure absent from both the prediction and the
reference has no Dice (NaN, left out of means); absent from one of them only, Dice 0 and HD95 NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray

from cardiolens import labels as L


def frame_metrics(pred: NDArray, ref: NDArray, codes: list[int], spacing_yx: tuple[float, float] | None) -> list[dict]:
    """One row per structure of a 2-D frame: (structure, dice, hd95_mm, ref_pixels, pred_pixels).

    pred, ref (H, W) canonical label maps (the septum counts as myocardium in both)."""
    from monai.metrics import compute_dice, compute_hausdorff_distance

    from cardiolens.segment.labels import MERGED

    pred, ref = pred.copy(), ref.copy()
    for a, b in MERGED.items():
        pred[pred == a], ref[ref == a] = b, b
    rows = []
    for code in codes:
        p = torch.from_numpy(pred == code)[None, None].float()
        r = torch.from_numpy(ref == code)[None, None].float()
        n_p, n_r = int(p.sum()), int(r.sum())
        if n_p == 0 and n_r == 0:
            dice, hd = float("nan"), float("nan")
        else:
            dice = float(compute_dice(p, r, include_background=True, ignore_empty=False)[0, 0])
            hd = float("nan")
            if n_p and n_r:
                with warnings.catch_warnings():  # MONAI 1.5 deprecates an argument it passes itself
                    warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
                    hd = float(compute_hausdorff_distance(p, r, include_background=True, percentile=95,
                                                          spacing=list(spacing_yx) if spacing_yx else None)[0, 0])
        rows.append({"structure": L.NAMES[code], "dice": dice, "hd95_mm": hd, "ref_pixels": n_r, "pred_pixels": n_p})
    return rows


def volume_dice(metrics: pd.DataFrame) -> pd.DataFrame:
    """Dice of whole frames: the slices of one recording's time point pooled (a stack's 3-D Dice,
    the ACDC challenge's metric; a 2-D frame's own Dice). One row per model, patient, recording,
    frame, phase and structure, with ``dice_volume`` = 2 sum(overlap) / sum(ref + pred) over the
    slices; the overlap of a slice is Dice x (ref + pred) / 2."""
    m = metrics.assign(_overlap=metrics["dice"].fillna(0.0) * (metrics["ref_pixels"] + metrics["pred_pixels"]) / 2,
                       _total=metrics["ref_pixels"] + metrics["pred_pixels"])
    keys = ["model", "patient_key", "recording_id", "frame", "phase", "structure"]
    g = m.groupby(keys, dropna=False)[["_overlap", "_total"]].sum().reset_index()
    g["dice_volume"] = np.where(g["_total"] > 0, 2 * g["_overlap"] / g["_total"].where(g["_total"] > 0, 1), np.nan)
    return g.drop(columns=["_overlap", "_total"])


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per model, phase and structure: patients, frames, mean and median Dice and HD95, and the
    mean volume Dice (:func:`volume_dice`).

    A patient's values are first averaged over its frames (the patient is the unit), then over
    patients; ``dice_mean`` is that patient-level mean of per-slice Dice."""
    per_patient = (metrics.groupby(["model", "phase", "structure", "patient_key"], dropna=False)[["dice", "hd95_mm"]]
                   .mean().reset_index())
    out = per_patient.groupby(["model", "phase", "structure"]).agg(
        patients=("patient_key", "nunique"), dice_mean=("dice", "mean"), dice_median=("dice", "median"),
        hd95_mean_mm=("hd95_mm", "mean"), hd95_median_mm=("hd95_mm", "median")).reset_index()
    vol = volume_dice(metrics).groupby(["model", "phase", "structure", "patient_key"], dropna=False)["dice_volume"].mean()
    vol = vol.groupby(["model", "phase", "structure"]).mean().rename("dice_volume_mean").reset_index()
    frames = metrics.groupby(["model", "phase", "structure"]).size().rename("frames").reset_index()
    return out.merge(frames, on=["model", "phase", "structure"]).merge(vol, on=["model", "phase", "structure"], how="left")


def all_phases(metrics: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` plus the same rows with phase 'all' (for the summary of every annotated frame)."""
    return pd.concat([metrics, metrics.assign(phase="all")], ignore_index=True)
